#!/usr/bin/env node
// The browser and mobile pattern that Cognito identity pools exist for, with the AWS SDK for
// JavaScript v3, as a Node.js script: sign in to the user pool, exchange the ID token at the identity
// pool (served by caddy-cognito) for temporary credentials, and call the API with requests signed with
// SigV4. The same code runs in a browser bundle: fromCognitoIdentityPool, SignatureV4 with the pure-JS
// Sha256, and fetch.
//
//   node client.js user    sign in, then call the API with the user's credentials
//   node client.js guest   call the API with guest credentials (no sign-in)
//
// Settings come from the environment (the password never from the command line):
//   API                   the URL to call, e.g. http://localhost:8080/orders/42 (required)
//   IDENTITY_POOL_ID      the identity pool id, <region>:<uuid> (required)
//   IDENTITY_ENDPOINT     the identity pool's URL (default: /identity of the API's origin)
//   COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID, COGNITO_USERNAME, COGNITO_PASSWORD   (user)
//   COGNITO_REGION        the user pool's region (default: us-east-1)
//   COGNITO_IDP_ENDPOINT  the user pool service's URL, for cognito-local (default: Amazon Cognito)
//   METHOD, BODY          the API request's method (default GET) and body
//
// The API's answer goes to stdout; a status other than 2xx, or a refusal by the pools, exits 1.
"use strict";

const { CognitoIdentityProviderClient, InitiateAuthCommand } = require("@aws-sdk/client-cognito-identity-provider");
const { fromCognitoIdentityPool } = require("@aws-sdk/credential-providers");
const { Sha256 } = require("@aws-crypto/sha256-js");
const { HttpRequest } = require("@smithy/protocol-http");
const { SignatureV4 } = require("@smithy/signature-v4");

const timeoutMs = 10000;

function setting(name, fallback) {
  const value = process.env[name] || fallback;
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
}

// signIn signs the user in (USER_PASSWORD_AUTH: the app client must allow it) and returns the logins
// for the identity pool: the ID token under the user pool's provider name. InitiateAuth is a public
// API: no AWS credentials sign it.
async function signIn() {
  const region = setting("COGNITO_REGION", "us-east-1");
  const client = new CognitoIdentityProviderClient({
    region,
    endpoint: process.env.COGNITO_IDP_ENDPOINT || undefined,
    maxAttempts: 1,
  });
  const out = await client.send(
    new InitiateAuthCommand({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: setting("COGNITO_CLIENT_ID"),
      AuthParameters: { USERNAME: setting("COGNITO_USERNAME"), PASSWORD: setting("COGNITO_PASSWORD") },
    }),
    { abortSignal: AbortSignal.timeout(timeoutMs) },
  );
  if (!out.AuthenticationResult) throw new Error(`sign-in challenge ${out.ChallengeName} (not handled here)`);
  const provider = `cognito-idp.${region}.amazonaws.com/${setting("COGNITO_USER_POOL_ID")}`;
  return { [provider]: out.AuthenticationResult.IdToken };
}

// callAPI sends the request signed with SigV4 for the service execute-api, in the identity pool's region.
async function callAPI(credentials, region) {
  const url = new URL(setting("API"));
  const method = setting("METHOD", "GET");
  const body = process.env.BODY || undefined;
  const request = new HttpRequest({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { host: url.host, ...(body ? { "content-type": "application/json" } : {}) },
    body,
  });
  const signer = new SignatureV4({ credentials, region, service: "execute-api", sha256: Sha256 });
  const signed = await signer.sign(request);
  // fetch sets Host itself, to the value that was signed.
  const { host, ...headers } = signed.headers;
  return fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
}

async function main() {
  const flow = process.argv[2];
  if (flow !== "user" && flow !== "guest") throw new Error("usage: node client.js user|guest");
  const api = new URL(setting("API"));
  const identityPoolId = setting("IDENTITY_POOL_ID");
  const region = identityPoolId.split(":")[0];

  // The credentials provider calls GetId, then GetCredentialsForIdentity, and refreshes them before
  // they expire; these calls are not signed either.
  const credentials = fromCognitoIdentityPool({
    identityPoolId,
    logins: flow === "user" ? await signIn() : undefined,
    clientConfig: { region, endpoint: setting("IDENTITY_ENDPOINT", `${api.origin}/identity`), maxAttempts: 1 },
  });

  const response = await callAPI(credentials, region);
  process.stdout.write(await response.text());
  if (!response.ok) throw new Error(`the API answered ${response.status}`);
}

main().catch((err) => {
  process.stderr.write(`client: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
