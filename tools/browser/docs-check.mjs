// Opens a served docs page in headless Chromium, waits for Redoc to render,
// checks that every operation's summary (read from the same server's
// /openapi.json) is visible and that the page made no request off loopback,
// and saves a screenshot. Usage: node docs-check.mjs BASE_URL SCREENSHOT.png
import { chromium } from 'playwright-core';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node docs-check.mjs BASE_URL SCREENSHOT.png');
  process.exit(2);
}

const loopback = (u) => {
  if (u.startsWith('data:') || u.startsWith('blob:') || u.startsWith('about:')) return true;
  const host = new URL(u).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host.startsWith('127.');
};

const spec = await (await fetch(base + '/openapi.json')).json();
const summaries = [];
for (const item of Object.values(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (op && op.operationId) summaries.push({ id: op.operationId, summary: op.summary, tags: op.tags || [] });
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const failures = [];
const seen = new Set();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const offLoopback = [];
  page.on('request', (r) => { if (!loopback(r.url())) offLoopback.push(r.url()); });
  page.on('response', (r) => { if (r.status() >= 400) console.log(`response ${r.status()} for ${r.url()}`); });
  page.on('console', (m) => { if (m.type() === 'error') console.log('console error:', m.text()); });
  await page.goto(base + '/docs', { waitUntil: 'load' });
  // Redoc lists operations by summary in the sidebar under their tag; open
  // each tag's group, then every summary must be on screen.
  await page.waitForSelector('text=' + spec.info.title, { timeout: 30000 });
  // The sidebar opens one tag's group at a time: open each, check its summaries.
  for (const tag of spec.tags || []) {
    for (const el of await page.getByText(tag.name, { exact: true }).all()) {
      const box = await el.boundingBox();
      if (box && box.x < 300) { // the tag's entry in the sidebar (the word also appears in the text)
        await el.click();
        break;
      }
    }
    for (const { id, summary, tags } of summaries) {
      if (!tags.includes(tag.name)) continue;
      try {
        await page.getByText(summary, { exact: true }).first().waitFor({ state: 'visible', timeout: 10000 });
        seen.add(id);
      } catch (e) {
        failures.push(`${id}: summary "${summary}" is not visible`);
      }
    }
  }
  for (const { id } of summaries) if (!seen.has(id) && !failures.some((f) => f.startsWith(id + ':'))) failures.push(`${id}: not checked (no tag)`);
  // Leave the screenshot showing the first tag's operations.
  if ((spec.tags || []).length > 0) {
    for (const el of await page.getByText(spec.tags[0].name, { exact: true }).all()) {
      const box = await el.boundingBox();
      if (box && box.x < 300) { await el.click(); break; }
    }
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(500);
  await page.screenshot({ path: screenshot });
  await page.waitForTimeout(1000); // late requests (icons, fonts) would show up here
  for (const u of offLoopback) failures.push(`request off loopback: ${u}`);
  console.log(`checked ${summaries.length} operations on ${base}/docs; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
if (failures.length) {
  for (const f of failures) console.error('FAIL', f);
  process.exit(1);
}
