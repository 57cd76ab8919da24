// Drives dmon's dashboard in headless Chromium for test_dashboard.py, one command at a time:
// each stdin line is a JSON command, each stdout line the JSON answer ({ok: true, ...} or
// {ok: false, error}). The test sends events between commands and makes the assertions.
//
// usage: node drive.mjs <folder holding node_modules/playwright-core> [chromium path]
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";

const [modules, chromium = "/usr/bin/chromium"] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "package.json"));
const { chromium: launcher } = require("playwright-core");

const profile = mkdtempSync(path.join(tmpdir(), "dmon-chromium-"));
// Debian's Chromium as root in a sandbox-less container, with nothing reaching out to the
// network: without the background-networking flags it retries Google's hosts at every start.
const context = await launcher.launchPersistentContext(profile, {
  executablePath: chromium,
  headless: true,
  viewport: { width: 1100, height: 640 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
const problems = [];
page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
page.on("console", (msg) => {
  if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
});

// Every event row as the user sees it, with the state cell's computed background colour.
async function rows() {
  return page.$$eval("#rows tr.event", (trs) => trs.map((tr) => {
    const state = tr.querySelector("td.state");
    return {
      host: tr.dataset.host, service: tr.dataset.service, state: state.textContent,
      color: getComputedStyle(state).backgroundColor,
      metric: tr.querySelector("td.metric").textContent,
      age: tr.querySelector("td.age").textContent,
      ttl: tr.querySelector("td.ttl").textContent,
      description: tr.querySelector("td.desc").textContent,
      selected: tr.classList.contains("selected"),
    };
  }));
}

// Polls `probe` until it returns something truthy; fails with `what` after `timeout` ms.
async function until(probe, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const got = await probe();
    if (got) return got;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; rows: ` +
                      JSON.stringify(await rows()));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const match = (c) => (r) => r.host === c.host && r.service === c.service &&
                            (c.state === undefined || r.state === c.state);
// A row counts as shown once its state cell has a computed colour. On a loaded CI machine
// Chromium once answered getComputedStyle with "" for a row it had just inserted, which is
// no colour the user ever sees; polling on keeps the colour assertions strict.
const styled = (r) => r.color !== "";

const commands = {
  async open(c) {
    await page.goto(c.url, { waitUntil: "load" });
    return { title: await page.title() };
  },
  async rows() {
    return { rows: await rows() };
  },
  async waitRow(c) {
    const row = await until(async () => (await rows()).find((r) => match(c)(r) && styled(r)),
                            `row ${JSON.stringify(c)}`, c.timeout);
    return { row };
  },
  async waitGone(c) {
    await until(async () => !(await rows()).some(match(c)), `no row ${JSON.stringify(c)}`,
                c.timeout);
    return {};
  },
  async waitCount(c) {
    const all = await until(async () => {
      const r = await rows();
      return r.length === c.count && r.every(styled) ? r : null;
    }, `${c.count} rows`, c.timeout);
    return { rows: all };
  },
  async setQuery(c) {
    await page.fill("#query", c.query);
    await page.press("#query", "Enter");
    return {};
  },
  async waitStatus(c) {
    const text = await until(async () => {
      const t = await page.textContent("#status");
      return t === c.status ? t : null;
    }, `status '${c.status}'`, c.timeout);
    return { status: text };
  },
  async waitError(c) {
    const text = await until(async () => {
      const visible = await page.isVisible("#error");
      return visible ? page.textContent("#error") : null;
    }, "the error line", c.timeout);
    return { error: text };
  },
  async errorVisible() {
    return { visible: await page.isVisible("#error") };
  },
  async click(c) {
    await page.click(`#rows tr.event[data-host="${c.host}"][data-service="${c.service}"]`);
    await until(() => page.isVisible("#chart-panel"), "the chart panel");
    // Whether the chart drew anything: any non-transparent pixel on the canvas.
    const drawn = await page.$eval("#chart", (canvas) => {
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
      return n;
    });
    return { title: await page.textContent("#chart-title"), drawnPixels: drawn };
  },
  async groupBy(c) {
    await page.check(`#group-by input[value="${c.by}"]`);
    const groups = await until(async () => {
      const g = await page.$$eval("#rows tr.group th", (ths) => ths.map((th) => th.textContent));
      return g.length && g.every((t) => t.startsWith(`${c.by}:`)) ? g : null;
    }, `groups by ${c.by}`);
    return { groups };
  },
  async screenshot(c) {
    await page.screenshot({ path: c.path, fullPage: false });
    return {};
  },
  async problems() {
    return { problems };
  },
};

const lines = readline.createInterface({ input: process.stdin });
console.log(JSON.stringify({ ok: true, ready: true }));
for await (const line of lines) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  if (c.cmd === "quit") break;
  try {
    const fn = commands[c.cmd];
    if (!fn) throw new Error(`unknown command ${c.cmd}`);
    console.log(JSON.stringify({ ok: true, ...(await fn(c)) }));
  } catch (err) {
    console.log(JSON.stringify({ ok: false, error: String(err.message ?? err) }));
  }
}
await context.close();
rmSync(profile, { recursive: true, force: true });
