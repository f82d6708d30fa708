// The console and the citizen's rating page, driven through their real pages in Debian's
// headless Chromium (playwright-core, no browser download). Started by the Rust test
// tests/e2e/browser.rs, which loads a generated half-year and passes where everything is in the
// environment; it fails on the first broken expectation and keeps a screenshot of every page.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const REPORTING = env("REPORTING_URL");
const EVALUATION = env("EVALUATION_URL");
const OFFICE_KEY = env("OFFICE_KEY");
const UNIT_KEY = env("UNIT_KEY");
const UNIT = env("UNIT");
const OTHER_UNIT = env("OTHER_UNIT");
const OPEN_CASE = env("OPEN_CASE");
const RATE_PATH = env("RATE_PATH");
const RATED_CASE = env("RATED_CASE");
const EVALUATOR_KEY = env("EVALUATOR_KEY");
const ARTIFACTS = env("ARTIFACTS");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
mkdirSync(ARTIFACTS, { recursive: true });

// The half-year the pages show, as the picker holds it, and as the API reads it.
const PERIOD = "from=2020-01-01&to=2020-07-01&as_of=2020-07-20T00%3A00";
const API_PERIOD =
  "from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00&as_of=2020-07-20T00:00:00%2B08:00";

async function api(base, path, key) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res;
}

const shot = async (page, name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
const step = (what) => console.log(`· ${what}`);
const percent = (v, digits) => (v === null || v === undefined ? "—" : `${v.toFixed(digits)}%`);

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
try {
  // An office screen.
  const office = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
  const page = await office.newPage();

  step("a page without a session goes to sign-in; a wrong key is told so");
  await page.goto(`${REPORTING}/console?${PERIOD}`);
  assert.match(new URL(page.url()).pathname, /^\/console\/login/);
  await page.fill("#key", "not-a-key");
  await page.click("button[type=submit]");
  assert.match(await page.textContent(".errors"), /密钥不正确/);
  await shot(page, "01-sign-in-refused");

  step("the office signs in and is sent back to the page it asked for");
  await page.fill("#key", OFFICE_KEY);
  await page.click("button[type=submit]");
  assert.equal(new URL(page.url()).pathname, "/console");
  const cookies = await office.cookies();
  const session = cookies.find((c) => c.name === "caseflow_console");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.ok(session.expires > Date.now() / 1000, "the cookie expires");

  step("the pages' Chinese font is served by the console itself");
  for (const url of [`${REPORTING}/console/wqy-microhei.woff2`, `${EVALUATION}/rate/wqy-microhei.woff2`]) {
    const font = await page.request.get(url);
    assert.equal(font.status(), 200, url);
    assert.equal(font.headers()["content-type"], "font/woff2");
    assert.ok((await font.body()).length > 100_000, "a whole GB 2312 cut");
  }

  step("the overview's figures equal the reports API's");
  const hotline = await (await api(REPORTING, `/v1/reports/summary?source=hotline&${API_PERIOD}`, OFFICE_KEY)).json();
  const petition = await (await api(REPORTING, `/v1/reports/summary?source=petition&${API_PERIOD}`, OFFICE_KEY)).json();
  const headline = async (label) =>
    (await page.textContent(`.headline[data-figure="${label}"] .value`)).trim();
  assert.equal(await headline("12345热线群众满意率"), percent(hotline.evaluation.overall_satisfaction, 2));
  assert.equal(await headline("信访事项参评率（承办单位）"), percent(petition.evaluation.units.participation, 1));
  assert.equal(await headline("信访事项满意率（承办单位）"), percent(petition.evaluation.units.satisfaction, 1));
  assert.equal(await headline("12345热线按期办结率"), percent(hotline.on_time_rate, 1));
  assert.equal(await headline("信访事项按期办结率"), percent(petition.on_time_rate, 1));
  assert.equal((await page.textContent('[data-total="12345热线"]')).trim(), String(hotline.total.count));
  assert.equal((await page.textContent('[data-total="信访"]')).trim(), String(petition.total.count));
  // Green against its target, red below it.
  const satisfaction = hotline.evaluation.overall_satisfaction;
  const cls = await page.getAttribute('.headline[data-figure="12345热线群众满意率"]', "class");
  assert.ok(cls.includes(satisfaction >= 98 ? "met" : "missed"), cls);
  // Every week of both lines is a point linked to its cases.
  const points = await page.locator("svg circle").count();
  assert.ok(points >= 2 * 2 * 26, `weekly points: ${points}`);
  await shot(page, "02-overview");

  step("a week's point opens as many cases as it counts");
  const weeks = await page.locator("svg circle.now").evaluateAll((cs) =>
    cs.map((c) => ({ value: Number(c.getAttribute("data-value")), href: c.parentElement.getAttribute("href") })),
  );
  const busy = weeks.find((w) => w.value > 0);
  assert.ok(busy, "a week with cases");
  await page.goto(REPORTING + busy.href);
  assert.equal(Number(await page.getAttribute("h2[data-count]", "data-count")), busy.value);
  assert.equal(await page.locator("tr.fact").count(), Math.min(busy.value, 50));

  step("a cell of attachment 2 opens exactly as many dispatches as it says");
  await page.goto(`${REPORTING}/console/attachments/2?${PERIOD}`);
  await shot(page, "03-attachment-2");
  const a2 = await (await api(REPORTING, `/v1/reports/attachment-2?${API_PERIOD}`, OFFICE_KEY)).json();
  // The satisfaction rates under the 98 % target are red, and only those.
  const below = [...a2.departments, ...a2.sub_districts].filter((r) => r.satisfaction !== null && r.satisfaction < 98);
  assert.equal(await page.locator("tbody .flag").count(), below.length);
  const busiest = [...a2.departments, ...a2.sub_districts].sort((a, b) => b.received - a.received)[0];
  const cell = page.locator(`a[href*="column=received"][href*="unit=${busiest.unit}&"], a[href*="column=received"][href$="unit=${busiest.unit}"]`).first();
  assert.equal((await cell.textContent()).trim(), String(busiest.received));
  await cell.click();
  assert.equal(Number(await page.getAttribute("h2[data-count]", "data-count")), busiest.received);
  assert.equal(await page.locator("tr.fact").count(), Math.min(busiest.received, 50));
  await shot(page, "04-cell-facts");
  // On paper the navigation, the picker and the downloads give way to the table.
  await page.emulateMedia({ media: "print" });
  assert.equal(await page.locator("nav").isVisible(), false, "no navigation in print");
  assert.equal(await page.locator("form.picker").isVisible(), false, "no picker in print");
  assert.equal(await page.locator("table").first().isVisible(), true);
  await shot(page, "04b-cell-facts-print");
  await page.emulateMedia({ media: "screen" });
  // Sorting is a link: by 受理件数, descending, the busiest unit leads its section.
  await page.goto(`${REPORTING}/console/attachments/2?${PERIOD}&sort=1&dir=desc`);
  const firstDept = (await page.locator("tbody tr:not(.section)").first().locator("td").first().textContent()).trim();
  const topDept = [...a2.departments].sort((a, b) => b.received - a.received)[0];
  assert.equal(firstDept, topDept.name);

  step("a unit's page lists its overdue dispatches first");
  await page.goto(`${REPORTING}/console/units/${UNIT}?from=2020-01-01&to=2020-07-01&as_of=2020-09-01T00%3A00`);
  const overdue = Number(await page.getAttribute("[data-overdue]", "data-overdue"));
  assert.ok(overdue >= 1, "the open dispatch left past its deadline is overdue");
  const rows = await page.locator("table.open tbody tr").evaluateAll((trs) => trs.map((tr) => tr.className));
  assert.deepEqual(rows.slice(0, overdue), Array(overdue).fill("overdue"));
  assert.ok(rows.slice(overdue).every((c) => c === "open"), "the rest are in progress");
  assert.ok((await page.textContent("table.open")).includes(OPEN_CASE), "the open case is listed");
  await shot(page, "05-unit");
  // Its returns and resolutions open the facts behind them.
  const resolvedLink = page.locator('a[href*="report=bounce"][href*="column=resolved&"]').first();
  const resolvedCount = Number((await resolvedLink.textContent()).trim());
  await resolvedLink.click();
  assert.equal(Number(await page.getAttribute("h2[data-count]", "data-count")), resolvedCount);
  assert.equal(await page.locator("tr.fact").count(), Math.min(resolvedCount, 50));

  step("an uploaded table that contradicts itself comes back with the cell marked");
  const csv = await (await api(REPORTING, `/v1/reports/attachment-2?format=csv&${API_PERIOD}`, OFFICE_KEY)).text();
  const lines = csv.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = lines.findIndex((l) => l.includes("受理件数"));
  const received = lines[header].split(",").indexOf("受理件数");
  const row = header + 1 + lines.slice(header + 1).findIndex((l) => l.split(",").length > received && /^\d+$/.test(l.split(",")[received]));
  const cells = lines[row].split(",");
  const printed = String(Number(cells[received]) + 7);
  cells[received] = printed;
  lines[row] = cells.join(",");
  await page.goto(`${REPORTING}/console/reconciliation?${PERIOD}`);
  await page.setInputFiles("input[type=file]", {
    name: "附件2.csv",
    mimeType: "text/csv",
    buffer: Buffer.from("\uFEFF" + lines.join("\r\n"), "utf8"),
  });
  await page.click("form.card button[type=submit]");
  const flagged = Number(await page.getAttribute("[data-flagged]", "data-flagged"));
  assert.ok(flagged >= 1, "the changed cell is flagged");
  const marked = await page.locator("td.finding").evaluateAll((tds) => tds.map((td) => td.textContent));
  assert.ok(marked.some((t) => t.startsWith(printed)), `the cell holding ${printed} is marked: ${marked}`);
  await shot(page, "06-reconciliation");

  step("the bounce page, the bulletin preview and its downloads");
  await page.goto(`${REPORTING}/console/bounces?${PERIOD}`);
  await shot(page, "07-bounces");
  // A band of the flow chart opens the matters that moved along it.
  const bands = await page.locator("svg path.band").evaluateAll((ps) =>
    ps.map((p) => ({ value: Number(p.getAttribute("data-value")), href: p.parentElement.getAttribute("href") })),
  );
  assert.ok(bands.length > 0, "the half-year has matters that moved");
  await page.goto(REPORTING + bands[0].href);
  assert.equal(Number(await page.getAttribute("h2[data-count]", "data-count")), bands[0].value);
  assert.equal(await page.locator("tr.fact").count(), Math.min(bands[0].value, 50));
  await page.goto(`${REPORTING}/console/bulletin?${PERIOD}`);
  assert.match(await page.textContent(".bulletin h1"), /信访动态/);
  await shot(page, "08-bulletin");
  for (const href of await page.locator(".downloads a").evaluateAll((as) => as.map((a) => a.getAttribute("href")))) {
    const res = await page.request.get(REPORTING + href);
    assert.equal(res.status(), 200, href);
    assert.match(res.headers()["content-disposition"] ?? "", /attachment/, href);
  }

  step("signing out ends the session");
  await page.click("header form button");
  assert.match(new URL(page.url()).pathname, /^\/console\/login/);
  await page.goto(`${REPORTING}/console?${PERIOD}`);
  assert.match(new URL(page.url()).pathname, /^\/console\/login/, "the old session opens nothing");

  step("a unit handler sees its own unit and no other");
  await page.fill("#key", UNIT_KEY);
  await page.click("button[type=submit]");
  assert.equal(new URL(page.url()).pathname, `/console/units/${UNIT}`);
  let res = await page.goto(`${REPORTING}/console/units/${OTHER_UNIT}?${PERIOD}`);
  assert.equal(res.status(), 403);
  await shot(page, "09-other-unit-refused");
  res = await page.goto(`${REPORTING}/console/attachments/2?${PERIOD}`);
  assert.equal(res.status(), 403);
  res = await page.goto(`${REPORTING}/console/cells?${PERIOD}&report=attachment-2&column=received&unit=${OTHER_UNIT}`);
  assert.equal(res.status(), 403);
  await page.goto(`${REPORTING}/console/units/${UNIT}?${PERIOD}`);
  await page.click("header form button");
  assert.match(new URL(page.url()).pathname, /^\/console\/login/);
  await office.close();

  step("the citizen rates on a phone, once");
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: "zh-CN",
  });
  const mobile = await phone.newPage();
  await mobile.goto(EVALUATION + RATE_PATH);
  await shot(mobile, "10-rating-page");
  for (const fieldset of await mobile.locator("fieldset:has(input[type=radio])").all()) {
    await fieldset.locator("input[type=radio]").first().check();
  }
  await mobile.fill("textarea[name=comment]", "处理及时，谢谢。");
  await mobile.click("button[type=submit]");
  assert.match(await mobile.textContent("h1"), /感谢您的评价/);
  await shot(mobile, "11-rating-thanks");
  const evaluation = await (await api(EVALUATION, `/v1/evaluations/${RATED_CASE}`, EVALUATOR_KEY)).json();
  assert.equal(evaluation.status, "rated", "the rating is counted");
  await mobile.goto(EVALUATION + RATE_PATH);
  assert.match(await mobile.textContent("body"), /已使用/);
  await shot(mobile, "12-rating-link-used");
  await phone.close();
} finally {
  await browser.close();
}
console.log("browser tests passed; screenshots in", ARTIFACTS);
