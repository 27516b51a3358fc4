// The page's script: the web and mobile pattern that Cognito identity pools exist for, with the AWS SDK
// for JavaScript v3, in the browser. build.js bundles it with the SDK (esbuild); Caddy serves the bundle
// and the page's settings (/config.json, see the Caddyfile).
//
//   sign in   InitiateAuth USER_PASSWORD_AUTH at the user pool, then the ID token goes to the identity
//             pool (GetId, GetCredentialsForIdentity) as Logins["cognito-idp.<region>.amazonaws.com/<pool>"]
//   guest     the identity pool without Logins: credentials of the guest role
//   call      a request to the API signed with SigV4 (service execute-api, the identity pool's region)
//
// Tokens and credentials live in this script's memory only, never in storage the page's other scripts
// or a later visitor could read: reloading the page signs out. (The SDK keeps a guest's identity id,
// which is no secret, in IndexedDB, so a returning guest keeps its identity, as with Amazon Cognito.)
import { CognitoIdentityProviderClient, InitiateAuthCommand } from "@aws-sdk/client-cognito-identity-provider";
import { fromCognitoIdentityPool } from "@aws-sdk/credential-provider-cognito-identity";
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

// timeoutMs bounds every call the page makes.
const timeoutMs = 10000;
// renewBeforeMs: credentials this close to their expiry are renewed before signing with them.
const renewBeforeMs = 5 * 60 * 1000;
// maxAnswerBytes bounds what the page reads of an API answer.
const maxAnswerBytes = 64 * 1024;

const settingNames = [
  "userPoolRegion", "userPoolId", "userPoolClientId", "userPoolEndpoint",
  "identityPoolId", "identityPoolEndpoint", "api",
];

let config = null; // the page's settings, from /config.json
// session is the caller: { caller, provider, credentials }. null before sign-in or guest access.
let session = null;

const $ = (id) => document.getElementById(id);

// StageError names the step that failed (signing in, getting credentials...) before the cause.
class StageError extends Error {
  constructor(stage, cause) {
    super(`${stage}: ${describe(cause)}`, { cause });
    this.name = "StageError";
  }
}

async function stage(name, work) {
  try {
    return await work();
  } catch (err) {
    throw new StageError(name, err);
  }
}

// describe turns an error into a line for the user. SDK errors are named after the service's error
// type (NotAuthorizedException...); none of them carries a password, token or key.
function describe(err) {
  if (err instanceof StageError) return err.message;
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  if (err instanceof TypeError && /fetch/i.test(err.message)) {
    return `the server could not be reached, or it refused this page's origin (CORS): ${err.message}`;
  }
  return `${err?.name || "Error"}: ${err?.message || String(err)}`;
}

async function loadConfig() {
  const resp = await fetch("/config.json", { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
  if (!resp.ok) throw new Error(`status ${resp.status}`);
  const c = await resp.json();
  for (const name of settingNames) {
    if (typeof c[name] !== "string" || c[name] === "") throw new Error(`${name} is missing`);
  }
  const region = c.identityPoolId.split(":")[0];
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new Error(`identityPoolId ${c.identityPoolId} is not <region>:<uuid>`);
  return { ...c, identityPoolRegion: region };
}

// signIn signs the user in to the user pool and returns the logins for the identity pool: the ID token
// under the user pool's provider name. InitiateAuth is a public API: no AWS credentials sign it.
async function signIn(username, password) {
  const client = new CognitoIdentityProviderClient({
    region: config.userPoolRegion,
    endpoint: config.userPoolEndpoint,
    maxAttempts: 1,
  });
  const out = await client.send(
    new InitiateAuthCommand({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: config.userPoolClientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
    { abortSignal: AbortSignal.timeout(timeoutMs) },
  );
  if (!out.AuthenticationResult?.IdToken) {
    throw new Error(`the user pool asks for ${out.ChallengeName || "a challenge"}, which this page does not handle`);
  }
  const provider = `cognito-idp.${config.userPoolRegion}.amazonaws.com/${config.userPoolId}`;
  return { [provider]: out.AuthenticationResult.IdToken };
}

// identityPool returns the credential provider of the identity pool for logins (none: a guest).
function identityPool(logins) {
  return fromCognitoIdentityPool({
    identityPoolId: config.identityPoolId,
    logins,
    clientConfig: {
      region: config.identityPoolRegion,
      endpoint: config.identityPoolEndpoint,
      maxAttempts: 1,
      requestHandler: { requestTimeout: timeoutMs },
    },
  });
}

// credentials returns the session's credentials, fetched or renewed when they are missing or about to
// expire.
async function credentials() {
  const c = session.credentials;
  if (!c || (c.expiration && c.expiration.getTime() - Date.now() < renewBeforeMs)) {
    session.credentials = await stage("getting credentials from the identity pool", () => session.provider());
    render();
  }
  return session.credentials;
}

// sign returns the request method path to the API, signed with SigV4 with the session's credentials.
async function sign(method, path) {
  const url = new URL(path, config.api);
  const request = new HttpRequest({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { host: url.host },
  });
  const signer = new SignatureV4({
    credentials: await credentials(),
    region: config.identityPoolRegion,
    service: "execute-api",
    sha256: Sha256,
  });
  const signed = await signer.sign(request);
  // The browser sets Host itself, to the value that was signed.
  const { host, ...headers } = signed.headers;
  return { method, headers };
}

// send sends a signed request to path and adds the answer to the table.
async function send(label, signed, path) {
  const resp = await stage(`calling ${path}`, () =>
    fetch(new URL(path, config.api), {
      method: signed.method,
      headers: signed.headers,
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      signal: AbortSignal.timeout(timeoutMs),
    }),
  );
  const text = await stage(`reading the answer of ${path}`, () => readText(resp, maxAnswerBytes));
  let body = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { message: `not JSON: ${text.slice(0, 200)}` };
  }
  addCall({
    caller: session.caller,
    request: label,
    status: String(resp.status),
    // The gateway's reason for a refusal, readable cross-origin because its CORS answer exposes it.
    errorType: resp.headers.get("x-amzn-errortype") || "",
    message: resp.ok ? "" : String(body.message ?? ""),
    identityId: resp.ok ? String(body.identity_id ?? "") : "",
    role: resp.ok ? String(body.role ?? "") : "",
    authenticationType: resp.ok ? String(body.authentication_type ?? "") : "",
    allowed: resp.ok,
  });
}

// readText reads at most limit bytes of the response body.
async function readText(resp, limit) {
  const reader = resp.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`the answer is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

function addCall(call) {
  const row = document.createElement("tr");
  row.className = call.allowed ? "allowed" : "refused";
  const cells = [
    ["caller", call.caller],
    ["request", call.request],
    ["status", call.status],
    ["error-type", call.errorType, ["message", call.message]],
    ["identity-id", call.identityId],
    ["role", call.role],
    ["authentication-type", call.authenticationType],
  ];
  for (const [field, value, extra] of cells) {
    const cell = document.createElement("td");
    cell.dataset.field = field;
    cell.textContent = value; // never innerHTML: every value here came from a server
    if (extra) {
      const span = document.createElement("div");
      span.dataset.field = extra[0];
      span.textContent = extra[1];
      cell.append(span);
    }
    row.append(cell);
  }
  $("calls").tBodies[0].append(row);
}

function render() {
  $("caller").textContent = session ? session.caller : "nobody yet";
  $("identity-id").textContent = session?.credentials?.identityId || "none";
  $("expiration").textContent = session?.credentials?.expiration?.toISOString() || "none";
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = message === "";
}

function setState(state) {
  document.body.dataset.state = state;
  const idle = state === "ready";
  for (const id of ["sign-in-button", "guest-button"]) $(id).disabled = !idle;
  for (const id of ["whoami-button", "admin-button", "tamper-button"]) $(id).disabled = !idle || !session;
}

// action runs one user action at a time, shows its error, and counts it in body[data-done] (which tells
// a test driver that the action is over).
function action(work) {
  return async (event) => {
    event?.preventDefault();
    if (document.body.dataset.state !== "ready") return;
    setState("busy");
    showError("");
    try {
      await work();
    } catch (err) {
      showError(describe(err));
    } finally {
      render();
      setState("ready");
      document.body.dataset.done = String(Number(document.body.dataset.done) + 1);
    }
  };
}

const signInAction = action(async () => {
  const username = $("username").value.trim();
  const password = $("password").value;
  $("password").value = ""; // the password stays in the page no longer than needed
  session = null;
  render();
  const logins = await stage("signing in to the user pool", () => signIn(username, password));
  session = { caller: username, provider: identityPool(logins), credentials: null };
  await credentials();
  await send("GET /whoami", await sign("GET", "/whoami"), "/whoami");
});

const guestAction = action(async () => {
  session = { caller: "guest", provider: identityPool(undefined), credentials: null };
  await credentials();
  await send("GET /whoami", await sign("GET", "/whoami"), "/whoami");
});

const callAction = (path) => action(async () => send(`GET ${path}`, await sign("GET", path), path));

// The attack a gateway must refuse: a request signed for one resource, replayed on another.
const tamperAction = action(async () => {
  const signed = await sign("GET", "/whoami");
  await send("GET /whoami, signed, sent to /admin/report", signed, "/admin/report");
});

async function start() {
  $("sign-in").addEventListener("submit", signInAction);
  $("guest-button").addEventListener("click", guestAction);
  $("whoami-button").addEventListener("click", callAction("/whoami"));
  $("admin-button").addEventListener("click", callAction("/admin/report"));
  $("tamper-button").addEventListener("click", tamperAction);
  try {
    config = await loadConfig();
  } catch (err) {
    showError(`loading the page's settings (/config.json): ${describe(err)}`);
    setState("failed");
    return;
  }
  setState("ready");
}

start();
