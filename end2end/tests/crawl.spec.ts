import { test, expect, Page } from "@playwright/test";
import { createApp } from "./helpers";

// Follows every internal link of the portal as an administrator, by clicking
// it (client-side navigation through the hydrated app) and by loading it
// cold, and fails on anything broken on the way: a same-origin answer of 400
// or more (documents, server functions under /api/, assets), a console
// error, an uncaught exception, or a "not found" page behind a link. Every
// failure is collected, so one run lists every broken link.

// scripts/test creates this administrator with the operator CLI.
const ADMIN_EMAIL = "admin@e2e.example";
const ADMIN_PASSWORD = "e2e admin password 0123";
// The fake Attio that scripts/test starts beside the server.
const FAKE = process.env.FAKE_ATTIO_URL ?? "http://127.0.0.1:3920";
const CLIENT_ID = "fake-attio-client";
const CLIENT_SECRET = "fake-attio-secret-0123456789abcdef";

/** The crawl stops after this many distinct addresses, whatever it finds. */
const MAX_URLS = 150;
/** Where the crawl starts: the developer portal and the admin area. */
const START = ["/apps", "/admin"];
/** Never followed: the API, the OAuth callback and end users' connect pages;
 * of the catalogue's 21 provider forms and docs pages, Attio's and the custom
 * provider's stand for the others (the integration tests load every one):
 * dozens more cold loads of the client exhaust the browser's memory. */
const SKIP_PATHS = [
  /^\/v1(\/|$)/,
  /^\/oauth\//,
  /^\/connect\//,
  /^\/logout$/,
  /^\/apps\/[^/]+\/providers\/new\/(?!attio$|custom$)[^/?]+$/,
  /^\/docs\/providers\/(?!attio$)[^/?]+$/,
];
/** Links whose words say they change something are not followed. */
const DESTRUCTIVE = /sign ?out|log ?out|delete|disconnect|revoke|remove|disable/i;
/** Downloads are only fetched, never clicked. */
const DOWNLOAD = /\.csv$/;
/** Pages with a filter form: each is also visited filtered, once. */
const FILTERS: Record<string, (page: Page) => Promise<void>> = {
  "/admin/connections": async (page) => {
    await page.locator("select[name=status]").selectOption("active", { timeout: 5_000 });
    await page.getByRole("button", { name: "Filter" }).click({ timeout: 5_000 });
  },
  "/admin/audit": async (page) => {
    await page.locator("input[name=action]").fill("app.created", { timeout: 5_000 });
    await page.getByRole("button", { name: "Filter" }).click({ timeout: 5_000 });
  },
};

type Link = { key: string; raw: string; text: string; download: boolean };
type Failure = { from: string; link: string; how: string; reason: string };

/** Pathname and search of `url`: what the crawl dedupes on. */
function keyOf(url: string, base: string): string {
  const u = new URL(url, base);
  return u.pathname + u.search;
}

test("every internal link of the portal works, clicked and loaded cold", async ({ page, context, request, baseURL }) => {
  test.setTimeout(180_000);
  const origin = new URL(baseURL!).origin;

  // ---- populate the instance, as the administrator -----------------------
  await page.goto("/login");
  await page.getByLabel("Email").fill(ADMIN_EMAIL);
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/apps$/);

  const appPath = await createApp(page, `Crawl App ${Date.now()}`);
  await page.getByRole("link", { name: "Add Provider" }).click();
  await page.getByTestId("catalogue").locator("[data-provider=attio]").click();
  await page.getByLabel("Client ID").fill(CLIENT_ID);
  await page.getByLabel("Client Secret").fill(CLIENT_SECRET);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("provider-status")).toHaveText("Active");

  // settings: a return URL and a webhook endpoint (the fake has no /hooks, so
  // deliveries fail and show up in the admin overview and connection pages)
  await page.goto(`${appPath}/settings`);
  await page.getByLabel("One URL per line").fill("https://app.example.com/done");
  await page.getByRole("button", { name: "Save settings" }).click();
  await expect(page.getByLabel("One URL per line")).toHaveValue("https://app.example.com/done");
  await page.getByLabel("Endpoint URL").fill(`${FAKE}/hooks`);
  await page.getByRole("button", { name: "Save endpoint" }).click();
  await expect(page.getByLabel("Endpoint URL")).toHaveValue(`${FAKE}/hooks`);

  await page.goto(`${appPath}/api-keys`);
  await page.getByLabel("Name").fill("crawl backend");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = await page.getByTestId("new-key-value").inputValue();

  // one end user connects through the connect flow
  const created = await request.post("/v1/connect/sessions", {
    headers: { authorization: `Bearer ${key}` },
    data: { end_user_id: `crawl-${Date.now()}`, end_user_email: "crawl@example.com" },
  });
  expect(created.status()).toBe(201);
  const endUser = await context.browser()!.newContext();
  const tab = await endUser.newPage();
  await tab.goto((await created.json()).connect_url);
  await tab.getByRole("button", { name: "Connect Attio" }).click();
  await tab.getByRole("link", { name: "Approve" }).click();
  await expect(tab.getByTestId("connect-success")).toBeVisible();
  await endUser.close();
  await page.goto(`${appPath}/connections`);
  await expect(page.getByTestId("connections").locator("tbody tr")).toHaveCount(1);

  // ---- watch everything the crawl does ------------------------------------
  const failures: Failure[] = [];
  const at = { from: "(start)", link: "", how: "" };
  const fail = (reason: string) => {
    const f = { ...at, reason };
    if (!failures.some((g) => JSON.stringify(g) === JSON.stringify(f))) failures.push(f);
  };
  const inflight = new Set<object>();
  page.on("request", (r) => {
    if (r.url().startsWith(origin)) inflight.add(r);
  });
  page.on("requestfinished", (r) => inflight.delete(r));
  page.on("requestfailed", (r) => {
    inflight.delete(r);
    // a navigation that replaces another aborts the first one's loads
    if (r.url().startsWith(origin) && !/ERR_ABORTED/.test(r.failure()?.errorText ?? "")) {
      fail(`${r.method()} ${keyOf(r.url(), origin)} failed: ${r.failure()?.errorText}`);
    }
  });
  page.on("response", (r) => {
    if (r.url().startsWith(origin) && r.status() >= 400) {
      fail(`${r.request().method()} ${keyOf(r.url(), origin)} answered ${r.status()}`);
    }
  });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const source = m.location().url;
    // The browser asks for /favicon.ico by itself when it shows a document
    // that is not one of the app's pages (/healthz's JSON); pages name /favicon.svg.
    if (source === `${origin}/favicon.ico`) return;
    fail(`console error: ${m.text()}${source && m.text().startsWith("Failed to load") ? ` (${keyOf(source, origin)})` : ""}`);
  });
  page.on("pageerror", (e) => fail(`page error: ${e.message}`));
  // Tells when the wasm client is instantiated: the page's hydration script
  // calls hydrate() in the same turn, so a link clicked after this is handled
  // by the client-side router, not by the browser.
  await page.addInitScript(() => {
    const w = window as unknown as { __crawlWasmReady: boolean };
    w.__crawlWasmReady = false;
    for (const name of ["instantiateStreaming", "instantiate"] as const) {
      const original = WebAssembly[name] as (...args: unknown[]) => Promise<unknown>;
      if (typeof original !== "function") continue;
      (WebAssembly as unknown as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
        const result = original.apply(this, args);
        result.then(() => (w.__crawlWasmReady = true), () => {});
        return result;
      };
    }
  });

  /** Waits until the page is hydrated, its requests are done and nothing says "Loading…". */
  async function settle() {
    await page.waitForLoadState("load");
    const isHtml = await page.evaluate(() => document.contentType === "text/html");
    if (isHtml && (await page.locator("script[type=module], script[nonce]").count()) > 0) {
      await page
        .waitForFunction(() => (window as unknown as { __crawlWasmReady: boolean }).__crawlWasmReady, null, { timeout: 10_000 })
        .catch(() => fail("the wasm client did not start within 10 s"));
    }
    let quietSince = Date.now();
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      if (inflight.size > 0) quietSince = Date.now();
      else if (Date.now() - quietSince >= 100) break;
      await page.waitForTimeout(25);
    }
    await page
      .waitForFunction(() => !document.body || !document.body.innerText.includes("Loading…"), null, { timeout: 10_000 })
      .catch(() => fail("still Loading… after 10 s"));
  }

  /**
   * Fails when the page shown is one of the app's "not found" pages: the
   * public NotFound (<h1>Page not found</h1>), the portal's NotFoundInPortal
   * (<h1>Not found</h1>, what portal_page shows for any server-function
   * error but "unauthorized") or the provider docs' (<h1>Provider not
   * found</h1>); all are titled "Not found · OAuth Vault".
   */
  async function checkFound(): Promise<boolean> {
    const title = await page.title();
    const h1 = (await page.locator("h1").allInnerTexts()).map((t) => t.trim());
    if (/^not found\b/i.test(title) || h1.some((t) => /^(page |provider )?not found$/i.test(t))) {
      fail(`shows "${h1[0] ?? title}" (title "${title}") at ${keyOf(page.url(), origin)}`);
      return false;
    }
    return true;
  }

  /** The same-origin links of the page shown, as the crawl should treat them. */
  async function linksOnPage(): Promise<Link[]> {
    const found = await page.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLAnchorElement>("a[href]")).map((a) => ({
        raw: a.getAttribute("href")!,
        href: a.href,
        text: (a.textContent ?? "").trim().replace(/\s+/g, " "),
        download: a.hasAttribute("download"),
      })),
    );
    const here = new URL(page.url());
    const links: Link[] = [];
    for (const a of found) {
      const u = new URL(a.href);
      if (u.origin !== origin) continue;
      if (a.raw.startsWith("#") || (u.hash && u.pathname === here.pathname && u.search === here.search)) continue;
      if (SKIP_PATHS.some((p) => p.test(u.pathname)) || DESTRUCTIVE.test(a.text)) continue;
      links.push({ key: u.pathname + u.search, raw: a.raw, text: a.text, download: a.download || DOWNLOAD.test(u.pathname) });
    }
    return links;
  }

  // ---- breadth-first over the links, each clicked and loaded cold ---------
  type Item = { key: string; from: string; raw: string; text: string };
  const seen = new Set<string>();
  const queue: Item[] = [];
  const downloads = new Map<string, string>();
  let clicked = 0;
  let clientSide = 0;
  let loaded = 0;
  const enqueue = (from: string, links: Link[]) => {
    for (const l of links) {
      if (l.download) {
        if (!downloads.has(l.key)) downloads.set(l.key, from);
      } else if (!seen.has(l.key) && seen.size < MAX_URLS) {
        seen.add(l.key);
        queue.push({ key: l.key, from, raw: l.raw, text: l.text });
      }
    }
  };
  /** Loads `key` fresh, checks it, and queues its links; true if it is a page that was found. */
  const coldLoad = async (key: string): Promise<boolean> => {
    loaded += 1;
    try {
      await page.goto(key);
    } catch (e) {
      fail(`loading failed: ${(e as Error).message.split("\n")[0]}`);
      return false;
    }
    await settle();
    if (!(await checkFound())) return false;
    enqueue(key, await linksOnPage());
    return true;
  };
  const filtered = new Set<string>();

  for (const start of START) seen.add(start);
  for (const start of START) {
    Object.assign(at, { from: "(start)", link: start, how: "load" });
    await coldLoad(start);
  }
  while (queue.length > 0) {
    // the links found on one page, in the order found
    const from = queue[0].from;
    const group = queue.filter((i) => i.from === from);
    queue.splice(0, queue.length, ...queue.filter((i) => i.from !== from));

    // (a) click each on the page where it was found; the browser's Back
    // button returns there (client-side) for the next one
    for (const item of group) {
      // A page link carries a cursor into a list the crawl itself adds to
      // (the audit log, activity): by the time the crawl is back on the page
      // to click it, the newest rows, and so the cursor, may have moved on.
      // Such links are loaded cold below, not clicked.
      if (/[?&](older|newer)=/.test(item.key)) continue;
      Object.assign(at, { from, link: `${item.text || "(no text)"} → ${item.key}`, how: "click" });
      if (keyOf(page.url(), origin) !== from) {
        await page.goto(from);
        await settle();
      }
      const link = page.locator(`a[href=${JSON.stringify(item.raw)}]`).filter({ visible: true }).first();
      if ((await link.count()) === 0) {
        fail("link not found on the page");
        continue;
      }
      await page.evaluate(() => ((window as unknown as { __crawlMark: boolean }).__crawlMark = true));
      clicked += 1;
      await link.click({ timeout: 5_000 }).catch((e: Error) => fail(`click failed: ${e.message.split("\n")[0]}`));
      await page.waitForURL((u) => u.pathname + u.search !== from || item.key === from, { timeout: 10_000 }).catch(() => {});
      await settle();
      if (keyOf(page.url(), origin) !== item.key) fail(`landed on ${keyOf(page.url(), origin)}`);
      if (await page.evaluate(() => (window as unknown as { __crawlMark?: boolean }).__crawlMark === true)) clientSide += 1;
      // the links of a "not found" page are not the links of the page asked for
      if (await checkFound()) enqueue(item.key, await linksOnPage());
      if (item.key !== from) {
        await page.goBack().catch(() => {});
        await settle();
      }
    }

    // (b) load each cold
    for (const item of group) {
      Object.assign(at, { from, link: `${item.text || "(no text)"} → ${item.key}`, how: "load" });
      const found = await coldLoad(item.key);

      // pages with filters are also visited filtered, by submitting their form
      const path = new URL(item.key, origin).pathname;
      if (found && FILTERS[path] && !filtered.has(path)) {
        filtered.add(path);
        Object.assign(at, { from: item.key, link: `filter form of ${path}`, how: "submit" });
        await FILTERS[path](page).catch((e: Error) => fail(`filtering failed: ${e.message.split("\n")[0]}`));
        await page.waitForURL((u) => u.pathname === path && u.search !== "", { timeout: 10_000 }).catch(() => fail("the filter form did not navigate"));
        await settle();
        const key = keyOf(page.url(), origin);
        if (await checkFound()) enqueue(key, await linksOnPage());
        if (!seen.has(key)) {
          seen.add(key);
          Object.assign(at, { from: item.key, link: key, how: "load" });
          await coldLoad(key);
        }
      }
    }
  }

  // downloads (CSV exports): fetched with the session, never clicked
  for (const [key, from] of downloads) {
    Object.assign(at, { from, link: key, how: "download" });
    const res = await page.request.get(key);
    if (res.status() !== 200) fail(`download answered ${res.status()}`);
  }

  test.info().annotations.push({
    type: "crawl",
    description: `${clicked} links clicked (${clientSide} navigated client-side), ${loaded} addresses loaded cold, ${downloads.size} downloads fetched`,
  });
  // the crawl reached the pages the data above gives rows and links to
  const reached = [...seen].join("\n");
  for (const pattern of [
    /^\/apps\/app_\w+\/providers\/pc_\w+$/m,
    /^\/apps\/app_\w+\/connections\/conn_\w+$/m,
    /^\/apps\/app_\w+\/activity$/m,
    /^\/admin\/connections\/conn_\w+$/m,
    /^\/admin\/connections\?.*status=active/m,
    /^\/admin\/audit$/m,
    /^\/admin\/audit\?.*action=app\.created/m,
  ]) {
    expect(reached, "pages the crawl reached").toMatch(pattern);
  }
  expect(downloads.size, "CSV exports fetched").toBeGreaterThanOrEqual(2);

  // every page reached also works with JavaScript off: the server renders
  // it whole (only the islands — Copy, scope checkboxes — wait for the client)
  const noJs = await context.browser()!.newContext({
    baseURL: origin,
    javaScriptEnabled: false,
    storageState: await context.storageState(),
  });
  const plain = await noJs.newPage();
  let withoutJs = 0;
  for (const key of seen) {
    Object.assign(at, { from: "(JavaScript off)", link: key, how: "load" });
    const res = await plain.goto(key).catch(() => null);
    withoutJs += 1;
    if (!res || res.status() >= 400) {
      fail(`answered ${res?.status() ?? "nothing"} with JavaScript off`);
      continue;
    }
    if ((await plain.locator("body").innerText()).includes("Loading…")) fail("still Loading… with JavaScript off");
    if (/^not found\b/i.test(await plain.title())) fail("not found with JavaScript off");
  }
  await noJs.close();
  test.info().annotations.push({ type: "crawl", description: `${withoutJs} addresses loaded with JavaScript off` });
  expect(failures).toEqual([]);
});
