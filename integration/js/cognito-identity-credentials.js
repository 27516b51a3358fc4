#!/usr/bin/env node
// Gets temporary credentials from an identity pool with @aws-sdk/credential-providers'
// fromCognitoIdentityPool, as a browser or Node.js app does (GetId, then GetCredentialsForIdentity),
// with the Cognito Identity client pointed at a custom endpoint. The input is JSON on stdin, so that
// tokens never appear on a command line:
//
//   {"endpoint": "http://127.0.0.1:8080/identity", "region": "us-east-1",
//    "identityPoolId": "us-east-1:...", "logins": {"cognito-idp.us-east-1.amazonaws.com/<pool>": "<id token>"}}
//
// ("logins" may be left out: a guest.)
//
// Output: {"identityId", "accessKeyId", "secretAccessKey", "sessionToken", "expiration"} as JSON, the
// expiration in epoch seconds. A refusal exits 1 with the error's name and message on stderr.
"use strict";

const { fromCognitoIdentityPool } = require("@aws-sdk/credential-providers");

async function main() {
  const spec = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
  const provider = fromCognitoIdentityPool({
    identityPoolId: spec.identityPoolId,
    logins: spec.logins,
    clientConfig: { region: spec.region, endpoint: spec.endpoint, maxAttempts: 1 },
  });
  const c = await provider();
  process.stdout.write(
    JSON.stringify({
      identityId: c.identityId,
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      sessionToken: c.sessionToken,
      expiration: c.expiration ? Math.floor(c.expiration.getTime() / 1000) : null,
    }) + "\n",
  );
}

main().catch((err) => {
  process.stderr.write(`${err.name}: ${err.message}\n`);
  process.exit(1);
});
