// Drives Debian's Chromium with playwright-core for the pytest e2e tests: one JSON command per
// stdin line, one JSON answer per stdout line ({ok, value} or {ok: false, error}).
// Commands: page, goto, eval, wait, click, screenshot, logs, close. No browser is downloaded.
// A command's optional `tab` names a page of its own (its own context, as a second device
// would be); `page` without one starts over with a single fresh page.
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const reply = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

if (!existsSync(executablePath)) {
  reply({ ok: false, error: `Chromium not found at ${executablePath}: install Debian's chromium package (make install runs infra/system-packages.sh)` });
  process.exit(2);
}

// Playwright gives the browser a fresh, empty --user-data-dir of its own; the cache and
// crash dumps go to this one so nothing is left behind.
const scratch = mkdtempSync(join(tmpdir(), "tokenrelay-e2e-"));
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--disk-cache-dir=${join(scratch, "cache")}`, `--crash-dumps-dir=${join(scratch, "crash")}`],
});
const MAIN = "main";
const tabs = new Map(); // name -> {context, page}
let logs = [];

async function newPage({ width = 1280, height = 860, tab = MAIN } = {}) {
  const names = tab === MAIN ? [...tabs.keys()] : [tab];
  for (const name of names) await tabs.get(name)?.context.close();
  for (const name of names) tabs.delete(name);
  if (tab === MAIN) logs = [];
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  tabs.set(tab, { context, page });
  const label = tab === MAIN ? "" : `[${tab}] `;
  page.on("console", (m) => logs.push(`${label}console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`${label}pageerror: ${e.message}`));
  page.on("requestfailed", (r) => logs.push(`${label}requestfailed: ${r.url()} ${r.failure()?.errorText}`));
}

/** The page a command names (created on first use). */
async function pageOf(c) {
  const tab = c.tab ?? MAIN;
  if (!tabs.has(tab)) await newPage({ tab });
  return tabs.get(tab).page;
}

// page.waitForFunction evaluates with `new Function` inside the page, which the page's CSP
// (no 'unsafe-eval') refuses; polling page.evaluate over CDP is not subject to it.
async function waitFor(page, expr, timeoutMs, pollMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await page.evaluate(expr);
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expr}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const commands = {
  page: (c) => newPage(c),
  goto: async (c) => (await pageOf(c)).goto(c.url, { waitUntil: "load" }).then(() => null),
  eval: async (c) => (await pageOf(c)).evaluate(c.expr),
  wait: async (c) => waitFor(await pageOf(c), c.expr, c.timeout_ms ?? 30000, c.poll_ms ?? 50),
  click: async (c) => (await pageOf(c)).click(c.selector, { timeout: c.timeout_ms ?? 10000 }),
  fill: async (c) => (await pageOf(c)).fill(c.selector, c.value),
  reload: async (c) => (await pageOf(c)).reload({ waitUntil: "load" }).then(() => null),
  screenshot: async (c) => (await pageOf(c)).screenshot({ path: c.path, fullPage: false }),
  logs: () => logs.slice(-200),
  version: () => browser.version(),
  close: async () => {
    await browser.close();
    rmSync(scratch, { recursive: true, force: true });
    reply({ ok: true, value: null });
    process.exit(0);
  },
};

reply({ ok: true, value: { ready: true, version: browser.version() } });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
    const fn = commands[cmd.cmd];
    if (!fn) throw new Error(`unknown command ${cmd.cmd}`);
    const value = await fn(cmd);
    reply({ ok: true, value: value === undefined ? null : value });
  } catch (err) {
    reply({ ok: false, error: String(err?.stack ?? err) });
  }
}
await browser.close().catch(() => {});
rmSync(scratch, { recursive: true, force: true });
