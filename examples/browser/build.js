#!/usr/bin/env node
// Builds the page into a directory that Caddy serves (PAGE_ROOT in the Caddyfile): index.html,
// style.css and favicon.svg as they are, and app.js bundled with the AWS SDK for JavaScript v3 for the browser by
// esbuild (minified, one script, no source map).
//
//   node build.js <output directory>      (npm run build: into dist/)
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const esbuild = require("esbuild");

async function main() {
  const out = process.argv[2];
  if (!out || process.argv.length > 3) {
    console.error("usage: node build.js <output directory>");
    process.exit(2);
  }
  const page = path.join(__dirname, "page");
  fs.mkdirSync(out, { recursive: true });
  for (const file of ["index.html", "style.css", "favicon.svg"]) {
    fs.copyFileSync(path.join(page, file), path.join(out, file));
  }
  await esbuild.build({
    entryPoints: [path.join(page, "app.js")],
    outfile: path.join(out, "app.js"),
    bundle: true,
    platform: "browser", // the SDK's browser builds: fetch, Web Crypto, no Node.js modules
    format: "iife",
    target: ["chrome109", "edge109", "firefox115", "safari16"],
    minify: true,
    legalComments: "eof", // the bundled packages' license notices stay in the bundle
    logLevel: "warning",
  });
}

main().catch((err) => {
  console.error(`build.js: ${err.message}`);
  process.exit(1);
});
