#!/usr/bin/env node
// Drives the page in headless Chromium (playwright-core, with the Chromium installed on the machine:
// Playwright downloads no browser here) through a list of steps, and prints what the page showed after
// each as JSON. integration/examples_browser_test.go runs it; run by hand, it checks a deployment of the
// page.
//
//   node drive.js < spec.json
//
// spec.json:
//   {
//     "page": "http://127.0.0.1:8081/",           the page
//     "chromium": "/usr/bin/chromium",            optional (default: that one)
//     "timeoutMs": 20000,                         optional: the limit of each step
//     "steps": [
//       {"name": "alice", "do": "signIn", "username": "alice@example.com", "password": "..."},
//       {"name": "report", "do": "click", "button": "admin-button"},
//       {"name": "guest", "do": "click", "button": "guest-button"},
//       {"name": "shot", "do": "screenshot", "path": "/tmp/page.png"}
//     ]
//   }
//
// Output: {"steps": [{"name", "caller", "identityId", "error", "calls": [{"caller", "request",
// "status", "error-type", "message", "identity-id", "role", "authentication-type"}...]}...],
// "pageErrors": [...], "console": [{"type", "text", "url"}...], "failedRequests": [{"method", "url",
// "error", "status", "step"}...], "errorResponses": [{"method", "url", "status"}...]}: every uncaught error, console
// message, request that got no response, and response of status 400 or more, for the caller to judge
// (the page's refusals by the API are expected). The password is read from stdin, never from the command line,
// and is not printed. A step that does not finish in time, or a page that does not start, exits 1.
"use strict";

const fs = require("node:fs");
const { chromium } = require("playwright-core");

// The flags of a headless Chromium that talks to nothing but the page's servers.
const chromiumArgs = [
  "--headless",
  "--no-sandbox", // tests run as root, where Chromium's sandbox cannot start
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

async function main() {
  const spec = JSON.parse(fs.readFileSync(0, "utf8"));
  if (typeof spec.page !== "string" || !Array.isArray(spec.steps)) {
    throw new Error('the spec needs "page" and "steps"');
  }
  const timeout = spec.timeoutMs || 20000;
  // launch gives every run a fresh, temporary profile (user-data dir), removed at close.
  const browser = await chromium.launch({
    executablePath: spec.chromium || "/usr/bin/chromium",
    args: chromiumArgs,
    timeout,
  });
  const report = { steps: [], pageErrors: [], console: [], failedRequests: [], errorResponses: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    page.on("pageerror", (err) => report.pageErrors.push(String(err)));
    page.on("console", (msg) =>
      report.console.push({ type: msg.type(), text: msg.text(), url: msg.location().url || "" }),
    );
    let step = "loading the page";
    page.on("requestfailed", async (req) => {
      const resp = await req.response().catch(() => null);
      report.failedRequests.push({
        method: req.method(),
        url: req.url(),
        target: req.headers()["x-amz-target"] || "",
        error: req.failure()?.errorText || "",
        status: resp ? resp.status() : 0, // 0: no answer at all; else the body was not read to its end
        step,
      });
    });
    page.on("response", (resp) => {
      if (resp.status() >= 400) {
        report.errorResponses.push({ method: resp.request().method(), url: resp.url(), status: resp.status() });
      }
    });

    await page.goto(spec.page);
    await page.waitForSelector("body[data-state=ready], body[data-state=failed]");
    if ((await page.getAttribute("body", "data-state")) !== "ready") {
      throw new Error(`the page did not start: ${await page.textContent("#error")}`);
    }
    for (const s of spec.steps) {
      step = s.name || s.do;
      await runStep(page, s);
      report.steps.push({ name: step, ...(await snapshot(page)) });
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
}

// runStep performs one step and waits until the page has finished the action it started.
async function runStep(page, step) {
  if (step.do === "screenshot") {
    await page.screenshot({ path: step.path, fullPage: true });
    return;
  }
  const before = Number(await page.getAttribute("body", "data-done"));
  switch (step.do) {
    case "signIn":
      await page.fill("#username", step.username);
      await page.fill("#password", step.password);
      await page.click("#sign-in-button");
      break;
    case "click":
      if (!/^[a-z-]+$/.test(step.button || "")) throw new Error(`step ${step.name}: no button id`);
      await page.click(`#${step.button}`);
      break;
    default:
      throw new Error(`step ${step.name}: unknown action ${JSON.stringify(step.do)}`);
  }
  await page.waitForFunction(
    (n) => Number(document.body.dataset.done) > n && document.body.dataset.state === "ready",
    before,
  );
}

// snapshot reads what the page shows: the caller, the credentials' identity id, the error line, and
// every API call of the table.
async function snapshot(page) {
  return page.evaluate(() => {
    const text = (sel) => document.querySelector(sel)?.textContent ?? "";
    const calls = [...document.querySelectorAll("#calls tbody tr")].map((row) => {
      const call = {};
      for (const cell of row.querySelectorAll("[data-field]")) {
        // A cell's own text, without that of a field nested in it.
        const own = [...cell.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent);
        call[cell.dataset.field] = own.join("");
      }
      return call;
    });
    return {
      caller: text("#caller"),
      identityId: text("#identity-id"),
      error: document.querySelector("#error").hidden ? "" : text("#error"),
      calls,
    };
  });
}

main().catch((err) => {
  console.error(`drive.js: ${err.message}`);
  process.exit(1);
});
