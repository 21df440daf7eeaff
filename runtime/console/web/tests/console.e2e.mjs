// Browser test of the supervisor console against a running node (docs/design/console.md).
//
//   CONSOLE_URL            the console, e.g. http://127.0.0.1:9545/
//   CONSOLE_CREDENTIAL     the node operator's credential (its department's view)
//   CONSOLE_SUPERVISOR_KEY a supervisor's own PEM key (an operator of the auditor department)
//   CONSOLE_KEY_FILE       a department's PEM key   CONSOLE_KEY_DEPT  its department id
//   CONSOLE_KEY_PASSPHRASE (optional) the key's passphrase
//   CONSOLE_NATIONAL_ID    a citizen with audit records
//   SCREENSHOT_DIR         where the 1366×768 screenshots go
//
// Uses the system Chromium (/usr/bin/chromium) through playwright-core; never downloads
// a browser. Prints one line per step and exits non-zero on the first failure.

import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const VIEWPORT = { width: 1366, height: 768 };
const TIMEOUT = Number(process.env.CONSOLE_TIMEOUT_MS ?? 20000);

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`console e2e: set ${name} (see the head of tests/console.e2e.mjs)`);
    process.exit(2);
  }
  return v;
}

const URL_ = need("CONSOLE_URL");
const CREDENTIAL = need("CONSOLE_CREDENTIAL");
const SUPERVISOR_KEY = need("CONSOLE_SUPERVISOR_KEY");
const KEY_FILE = need("CONSOLE_KEY_FILE");
const KEY_DEPT = need("CONSOLE_KEY_DEPT");
const NATIONAL_ID = need("CONSOLE_NATIONAL_ID");
const SHOTS = need("SCREENSHOT_DIR");
const KEY_PASS = process.env.CONSOLE_KEY_PASSPHRASE ?? "";
mkdirSync(SHOTS, { recursive: true });

class StepError extends Error {}

function expect(cond, message) {
  if (!cond) throw new StepError(message);
}

const dirs = [];
const contexts = [];
let current = null; // the page of the running step, for a screenshot on failure
const pageErrors = [];
let n = 0;

async function step(name, fn) {
  n += 1;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${String(n).padStart(2)} ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    console.log(`FAIL ${String(n).padStart(2)} ${name}: ${e instanceof StepError ? e.message : (e?.stack ?? e)}`);
    if (pageErrors.length) console.log(`     page errors:\n       ${pageErrors.join("\n       ")}`);
    if (current) {
      const file = join(SHOTS, `FAILED-${String(n).padStart(2, "0")}.png`);
      await current.screenshot({ path: file }).catch(() => {});
      console.log(`     screenshot: ${file}`);
    }
    await cleanup();
    process.exit(1);
  }
}

async function cleanup() {
  for (const c of contexts) await c.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function newPage() {
  const dir = mkdtempSync(join(tmpdir(), "govchain-console-e2e-"));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: VIEWPORT,
    acceptDownloads: true,
    locale: "zh-CN",
    timezoneId: "Asia/Shanghai",
  });
  contexts.push(context);
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && pageErrors.push(`console: ${m.text()}`));
  current = page;
  return page;
}

/** Waits for a locator to match at least one element; fails with `what` otherwise. */
async function waitFor(locator, what) {
  try {
    await locator.first().waitFor({ state: "visible", timeout: TIMEOUT });
  } catch {
    throw new StepError(`${what}: not shown within ${TIMEOUT} ms`);
  }
}

async function activeTestid(page) {
  return page.evaluate(() => document.activeElement?.getAttribute("data-testid") ?? document.activeElement?.tagName ?? "");
}

async function noHorizontalScroll(page, where) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(over <= 1, `${where}: the page scrolls horizontally by ${over}px at 1366×768`);
}

const flip = (hex) => {
  const c = parseInt(hex[0], 16) ^ 1;
  return c.toString(16) + hex.slice(1);
};

async function searchNationalId(page) {
  await page.getByTestId("nav-audit").click();
  await waitFor(page.getByTestId("audit-form"), "audit search form");
  await page.getByTestId("audit-national-id").fill(NATIONAL_ID);
  // The view shows every record before the search: wait for the search's own request,
  // not for rows that may be the unfiltered ones.
  const sent = page.waitForRequest((r) => r.url().includes("/api/v1/audit?") && r.url().includes("subject_id="), { timeout: 10_000 });
  await page.getByTestId("audit-search").click();
  await sent;
  await waitFor(page.getByTestId("subject-hash"), "the subject hash that is sent");
  const hash = (await page.getByTestId("subject-hash").locator("code").textContent())?.trim() ?? "";
  expect(/^[0-9a-f]{64}$/.test(hash), `subject hash should be 64 hex digits, got '${hash}'`);
  await waitFor(page.getByTestId("audit-row"), `audit rows for national ID ${NATIONAL_ID}`);
  return hash;
}

// ---------------------------------------------------------------------------------------

const page = await newPage();
let rowSeq = 0;
let tamperSeq = 0;

await step("sign-in screen is shown when not signed in", async () => {
  await page.goto(URL_);
  await waitFor(page.getByTestId("signin-credential"), "the credential field of the sign-in screen");
  await waitFor(page.getByTestId("signin-keyfile"), "the key-file field of the sign-in screen");
  await waitFor(page.getByTestId("trust-indicator"), "the genesis trust indicator");
  await shot(page, "01-signin");
});

await step("a wrong credential is refused with the API's message", async () => {
  await page.getByTestId("signin-credential").fill(`wrong-${Date.now()}`);
  await page.getByTestId("signin-credential-submit").click();
  await waitFor(page.getByTestId("signin-error"), "a sign-in error");
  const text = (await page.getByTestId("signin-error").first().textContent()) ?? "";
  expect(text.length > 10, `sign-in error should carry the API's message, got '${text}'`);
  expect(await page.getByTestId("signin-credential").isVisible(), "still on the sign-in screen after a refused credential");
  await shot(page, "02-signin-refused");
});

await step("a supervisor signs in with their own key file", async () => {
  if (KEY_PASS) await page.getByTestId("signin-passphrase").fill(KEY_PASS);
  await page.getByTestId("signin-keyfile").setInputFiles(SUPERVISOR_KEY);
  await waitFor(page.getByTestId("signin-detected"), "the supervisor the key belongs to");
  const detected = (await page.getByTestId("signin-detected").textContent()) ?? "";
  expect(detected.includes("supervision"), `the key should be detected as a supervisor's of 'supervision', page says '${detected}'`);
  await page.getByTestId("signin-key-submit").click();
  await waitFor(page.getByTestId("signed-in"), "who is signed in, in the header");
  const me = await page.evaluate(() => fetch("api/v1/session", { credentials: "same-origin" }).then((r) => r.json()));
  expect(me.auditor === true && me.operator !== "", `a supervisor's own account audits, the session is ${JSON.stringify(me)}`);
  await waitFor(page.getByTestId("view-alerts"), "the alerts view after sign-in");
  const trust = await page.getByTestId("trust-indicator").getAttribute("data-trust");
  expect(trust === "first" || trust === "ok", `genesis trust should be 'first' or 'ok' in a fresh browser, is '${trust}'`);
});

await step("alerts view shows denied reads", async () => {
  await waitFor(page.getByTestId("denied-row"), "denied reads in the alerts view");
  const rows = await page.getByTestId("denied-row").count();
  const badges = await page.getByTestId("denied-row").first().getByTestId("badge").allTextContents();
  expect(badges.some((b) => /拒绝|DENY/.test(b)), `a denied row should carry a DENY badge, has ${JSON.stringify(badges)}`);
  await noHorizontalScroll(page, "alerts");
  // The demo's single validator never signs twice: the misbehaviour section says none.
  const caught = (await page.getByTestId("equivocation-count").textContent()) ?? "";
  expect(caught.trim() === "0", `no validator misbehaviour in the demo, the count reads '${caught}'`);
  console.log(`     ${rows} denied reads, ${await page.getByTestId("finding").count()} findings`);
  await shot(page, "03-alerts");
});

await step("audit search by national ID (hashed in the browser) returns rows", async () => {
  const requests = [];
  const onReq = (r) => r.url().includes("/api/v1/audit") && requests.push(r.url());
  page.on("request", onReq);
  const hash = await searchNationalId(page);
  page.off("request", onReq);
  expect(!requests.some((u) => u.includes(NATIONAL_ID)), "the national ID must never be sent in clear");
  expect(requests.some((u) => u.includes(`subject_id=${hash}`)), `the search should send subject_id=${hash}`);
  const rows = await page.getByTestId("audit-row").count();
  await noHorizontalScroll(page, "audit log");
  console.log(`     ${rows} rows for subject ${hash.slice(0, 12)}…`);
  await shot(page, "04-audit");
});

await step("keyboard: Tab to a row, Enter opens the drawer, Escape closes it", async () => {
  await page.getByTestId("audit-search").focus();
  let id = "";
  for (let i = 0; i < 40 && id !== "audit-row"; i++) {
    await page.keyboard.press("Tab");
    id = await activeTestid(page);
  }
  expect(id === "audit-row", "Tab never reached an audit row");
  rowSeq = Number(await page.evaluate(() => document.activeElement.getAttribute("data-seq")));
  await page.keyboard.press("Enter");
  await waitFor(page.getByTestId("drawer"), "the record drawer after Enter");
  await waitFor(page.getByTestId("verify"), "the Verify button in the drawer");
  await page.keyboard.press("Escape");
  await page.getByTestId("drawer").waitFor({ state: "detached" }).catch(() => {
    throw new StepError("Escape did not close the drawer");
  });
  await page.waitForTimeout(100);
  const back = await page.evaluate(() => document.activeElement?.getAttribute("data-seq"));
  expect(Number(back) === rowSeq, `focus should return to row #${rowSeq}, is on ${back}`);
});

await step("Verify checks the record in the browser: success", async () => {
  await page.keyboard.press("Enter");
  await waitFor(page.getByTestId("verify"), "the Verify button");
  await page.getByTestId("verify").click();
  await waitFor(page.getByTestId("verify-result"), "a verification result");
  const ok = await page.getByTestId("verify-result").getAttribute("data-ok");
  const text = (await page.getByTestId("verify-result").textContent()) ?? "";
  expect(ok === "true", `record #${rowSeq} should verify, got: ${text}`);
  expect(/已验证|Verified/.test(text), `success text should say verified, got: ${text}`);
  console.log(`     ${text.trim()}`);
  await shot(page, "05-drawer-verified");
  await page.keyboard.press("Escape");
  await page.getByTestId("drawer").waitFor({ state: "detached" });
});

await step("tampered proof (one hex digit of a path hash flipped) fails to verify", async () => {
  // Find a record of the result whose proof has a path (a block with more than one record).
  const seqs = await page.getByTestId("audit-row").evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-seq"))));
  const found = await page.evaluate(async (list) => {
    for (const s of list.slice(0, 30)) {
      const r = await fetch(`api/v1/audit/${s}`, { credentials: "same-origin" });
      if (!r.ok) continue;
      const d = await r.json();
      if (d.proof?.records?.[0]?.proof?.path?.length) return s;
    }
    return 0;
  }, seqs);
  tamperSeq = found || seqs[0];
  let what = "";
  await page.route(new RegExp(`/api/v1/audit/${tamperSeq}(\\?.*)?$`), async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    const rec = body.proof.records[0];
    if (rec.proof.path.length) {
      rec.proof.path[0] = flip(rec.proof.path[0]);
      what = "path[0]";
    } else {
      body.proof.headers[0].signature = flip(body.proof.headers[0].signature);
      what = "header signature (its block has one record: no path)";
    }
    await route.fulfill({ response, json: body });
  });
  const row = page.locator(`[data-testid="audit-row"][data-seq="${tamperSeq}"]`);
  await row.focus();
  await page.keyboard.press("Enter");
  await waitFor(page.getByTestId("verify"), "the Verify button");
  await page.getByTestId("verify").click();
  await waitFor(page.getByTestId("verify-result"), "a verification result");
  const ok = await page.getByTestId("verify-result").getAttribute("data-ok");
  const text = (await page.getByTestId("verify-result").textContent()) ?? "";
  expect(what !== "", "the tampering route was not used: the drawer did not fetch the record again");
  expect(ok === "false", `tampered record #${tamperSeq} (${what}) must not verify, got: ${text}`);
  expect(/验证失败|FAILED/.test(text), `failure text should say so, got: ${text}`);
  console.log(`     record #${tamperSeq}, flipped ${what}: ${text.trim()}`);
  await shot(page, "06-drawer-tampered");
  await page.keyboard.press("Escape");
  await page.unroute(new RegExp(`/api/v1/audit/${tamperSeq}(\\?.*)?$`));
});

await step("flows view shows the SVG diagram with at least one band", async () => {
  await page.getByTestId("nav-flows").click();
  await waitFor(page.getByTestId("flows-svg"), "the flows diagram");
  const bands = await page.getByTestId("flow-band").count();
  expect(bands >= 1, "the flows diagram has no band");
  const rows = await page.getByTestId("flow-row").count();
  expect(rows >= 1, "the flows table has no row");
  await page.getByTestId("flow-band").first().focus();
  const tip = (await page.getByTestId("flow-tip").textContent())?.trim() ?? "";
  expect(tip.includes("→"), `focusing a band should show its counts, shows '${tip}'`);
  await noHorizontalScroll(page, "flows");
  console.log(`     ${bands} bands, ${rows} pairs`);
  await shot(page, "07-flows");
});

await step("points view shows a balance chart", async () => {
  await page.getByTestId("nav-points").click();
  await waitFor(page.getByTestId("balances-table"), "the balances table");
  await waitFor(page.getByTestId("points-chart"), "the balance chart");
  const lines = await page.getByTestId("points-line").count();
  expect(lines >= 1, "the balance chart has no line");
  await noHorizontalScroll(page, "points");
  console.log(`     ${lines} lines`);
  await shot(page, "08-points");
});

await step("export CSV and JSON with proofs for the current filters", async () => {
  await searchNationalId(page);
  const [csv] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-csv").click()]);
  const csvText = readFileSync(await csv.path(), "utf8");
  expect(csv.suggestedFilename().endsWith(".csv"), `CSV file name '${csv.suggestedFilename()}'`);
  expect(csvText.split(/\r?\n/)[0].startsWith("seq,height,time_ms"), `CSV header line: '${csvText.split(/\r?\n/)[0]}'`);
  const [json] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-json").click()]);
  const jsonText = readFileSync(await json.path(), "utf8");
  expect(json.suggestedFilename().endsWith(".json"), `JSON file name '${json.suggestedFilename()}'`);
  expect(/"format"\s*:\s*"govchain-audit-export\/v2"/.test(jsonText), `JSON export should have "format": "govchain-audit-export/v2", starts '${jsonText.slice(0, 80)}'`);
  const records = JSON.parse(jsonText).records.length;
  console.log(`     ${csv.suggestedFilename()} (${csvText.trim().split(/\r?\n/).length - 1} rows), ${json.suggestedFilename()} (${records} records)`);
  await shot(page, "09-exported");
});

await step("language: English, remembered across a reload, and back to Chinese", async () => {
  expect(((await page.getByTestId("nav-audit").textContent()) ?? "").includes("审计日志"), "default language should be Chinese (审计日志)");
  await page.getByTestId("lang-toggle").click();
  const en = (await page.getByTestId("nav-audit").textContent()) ?? "";
  expect(en.includes("Audit log"), `after the toggle the audit tab should read 'Audit log', reads '${en}'`);
  await page.reload();
  await waitFor(page.getByTestId("nav-alerts"), "the views after a reload");
  const again = (await page.getByTestId("nav-alerts").textContent()) ?? "";
  expect(again.includes("Alerts"), `English should be remembered after a reload, alerts tab reads '${again}'`);
  await page.getByTestId("nav-alerts").click();
  await waitFor(page.getByTestId("view-alerts"), "the alerts view");
  await page.waitForTimeout(300);
  await shot(page, "10-alerts-english");
  await page.getByTestId("lang-toggle").click();
  const zh = (await page.getByTestId("nav-alerts").textContent()) ?? "";
  expect(zh.includes("告警"), `back in Chinese the alerts tab should read '告警', reads '${zh}'`);
  expect(await page.evaluate(() => document.documentElement.lang) === "zh-CN", "html lang should be zh-CN in Chinese");
});

await step("sign out returns to the sign-in screen", async () => {
  await page.getByTestId("sign-out").click();
  await waitFor(page.getByTestId("signin-credential"), "the sign-in screen after signing out");
});

await step("the node operator's credential signs in with its department's view, not the auditor's", async () => {
  await page.getByTestId("signin-credential").fill(CREDENTIAL);
  await page.getByTestId("signin-credential-submit").click();
  await waitFor(page.getByTestId("signed-in"), "who is signed in after the credential sign-in");
  const me = await page.evaluate(() => fetch("api/v1/session", { credentials: "same-origin" }).then((r) => r.json()));
  expect(me.auditor === false && me.department !== "supervision", `the node credential must not audit, the session is ${JSON.stringify(me)}`);
  console.log(`     signed in as ${me.department} (auditor: ${me.auditor})`);
});

const page2 = await newPage();

await step(`key-file sign-in (${KEY_DEPT}) in a second browser`, async () => {
  await page2.goto(URL_);
  await waitFor(page2.getByTestId("signin-keyfile"), "the key-file field");
  if (KEY_PASS) await page2.getByTestId("signin-passphrase").fill(KEY_PASS);
  await page2.getByTestId("signin-keyfile").setInputFiles(KEY_FILE);
  await waitFor(page2.getByTestId("signin-detected"), "the department the key belongs to");
  const detected = (await page2.getByTestId("signin-detected").textContent()) ?? "";
  expect(detected.includes(KEY_DEPT), `the key should be detected as ${KEY_DEPT}'s, page says '${detected}'`);
  await shot(page2, "11-signin-key");
  await page2.getByTestId("signin-key-submit").click();
  await waitFor(page2.getByTestId("signed-in"), "who is signed in after the key sign-in");
  const who = (await page2.getByTestId("signed-in").textContent()) ?? "";
  expect(who.includes(KEY_DEPT), `signed in as ${KEY_DEPT}, header says '${who}'`);
});

await step(`${KEY_DEPT} sees only its own records`, async () => {
  await page2.getByTestId("nav-audit").click();
  await waitFor(page2.getByTestId("audit-row"), `audit rows for ${KEY_DEPT}`);
  const rows = await page2
    .getByTestId("audit-row")
    .evaluateAll((els) => els.map((e) => [e.getAttribute("data-seq"), e.getAttribute("data-requester"), e.getAttribute("data-owner")]));
  const foreign = rows.filter(([, r, o]) => r !== KEY_DEPT && o !== KEY_DEPT);
  expect(foreign.length === 0, `records not of ${KEY_DEPT}: ${foreign.slice(0, 5).map(([s, r, o]) => `#${s} ${r}→${o}`).join(", ")}`);
  console.log(`     ${rows.length} rows, each with ${KEY_DEPT} as requester or owner`);
  await shot(page2, "12-audit-key-dept");
});

await cleanup();
console.log(`console e2e: ${n} steps passed; screenshots in ${SHOTS}`);
