#!/usr/bin/env node
// Sends one HTTP request signed with AWS Signature Version 4 by a real JavaScript signer, and prints
// what was sent and what came back as JSON. The input is JSON on stdin, so that credentials never
// appear on a command line:
//
//   {"signer": "smithy" | "aws4", "method": "POST", "url": "http://127.0.0.1:8080/orders/42?a=1",
//    "headers": {"content-type": "application/json"}, "body": "{}",
//    "region": "us-east-1", "service": "execute-api",
//    "credentials": {"accessKeyId": "...", "secretAccessKey": "...", "sessionToken": "..."},
//    "presign": false, "expiresIn": 300}
//
// (aws4 ignores expiresIn: it presigns for the url's X-Amz-Expires, or 86400 s.)
//
// Output: {"request": {"method", "path", "headers"}, "response": {"status", "headers", "body"}}.
// A request that cannot be sent exits 1 with the reason on stderr; any HTTP status is a result.
"use strict";

const http = require("node:http");
const { SignatureV4 } = require("@smithy/signature-v4");
const { Hash } = require("@smithy/hash-node");
const { HttpRequest } = require("@smithy/protocol-http");
const aws4 = require("aws4");

// RFC 3986 encoding, as SigV4 canonicalizes the query: what is sent must be what was signed.
const escape = (s) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

function queryString(query) {
  const parts = [];
  for (const [k, v] of Object.entries(query)) {
    for (const value of Array.isArray(v) ? v : [v]) {
      parts.push(value === null ? escape(k) : escape(k) + "=" + escape(value));
    }
  }
  return parts.join("&");
}

async function signWithSmithy(spec, url) {
  const query = {};
  for (const [k, v] of url.searchParams) {
    query[k] = k in query ? [].concat(query[k], v) : v;
  }
  const request = new HttpRequest({
    method: spec.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query,
    headers: { host: url.host, ...spec.headers },
    body: spec.body,
  });
  const signer = new SignatureV4({
    credentials: spec.credentials,
    region: spec.region,
    service: spec.service,
    sha256: Hash.bind(null, "sha256"),
  });
  const signed = spec.presign
    ? await signer.presign(request, { expiresIn: spec.expiresIn || 300 })
    : await signer.sign(request);
  const qs = queryString(signed.query);
  return { path: signed.path + (qs ? "?" + qs : ""), headers: signed.headers };
}

function signWithAWS4(spec, url) {
  const opts = aws4.sign(
    {
      host: url.host,
      method: spec.method,
      path: url.pathname + url.search,
      headers: { ...spec.headers },
      body: spec.body,
      service: spec.service,
      region: spec.region,
      signQuery: !!spec.presign,
    },
    spec.credentials,
  );
  return { path: opts.path, headers: { host: url.host, ...opts.headers } };
}

function send(method, url, signed, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { method, hostname: url.hostname, port: url.port, path: signed.path, headers: signed.headers, timeout: 10000 },
      (res) => {
        const chunks = [];
        let size = 0;
        res.on("data", (c) => {
          size += c.length;
          if (size > 1 << 20) req.destroy(new Error("response larger than 1 MiB"));
          else chunks.push(c);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("no response within 10 s")));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const spec = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  spec.method = spec.method || "GET";
  spec.headers = spec.headers || {};
  spec.service = spec.service || "execute-api";
  const url = new URL(spec.url);
  if (url.protocol !== "http:") throw new Error("only http:// urls (loopback test servers)");

  let signed;
  switch (spec.signer) {
    case "smithy":
      signed = await signWithSmithy(spec, url);
      break;
    case "aws4":
      signed = signWithAWS4(spec, url);
      break;
    default:
      throw new Error(`unknown signer ${JSON.stringify(spec.signer)}: smithy or aws4`);
  }
  const response = await send(spec.method, url, signed, spec.body);
  process.stdout.write(
    JSON.stringify({ request: { method: spec.method, path: signed.path, headers: signed.headers }, response }) + "\n",
  );
}

main().catch((err) => {
  process.stderr.write(`signed-request.js: ${err.message}\n`);
  process.exit(1);
});
