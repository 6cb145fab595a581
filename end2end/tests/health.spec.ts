import { test, expect } from "@playwright/test";

test("healthz and readyz answer", async ({ request }) => {
  const health = await request.get("/healthz");
  expect(health.status()).toBe(200);
  expect(await health.json()).toEqual({ status: "ok" });

  const ready = await request.get("/readyz");
  expect(ready.status()).toBe(200);
  const body = await ready.json();
  expect(body.status).toBe("ready");
  expect(["sqlite", "postgres"]).toContain(body.database);
  if (process.env.EXPECT_DATABASE) expect(body.database).toBe(process.env.EXPECT_DATABASE);
});

test("security headers are present", async ({ request }) => {
  for (const path of ["/", "/healthz", "/pkg/oauth_vault.js", "/missing"]) {
    const res = await request.get(path);
    const h = res.headers();
    const csp = h["content-security-policy"];
    expect(csp, path).toContain("script-src 'self' 'nonce-");
    expect(csp, path).toContain("'wasm-unsafe-eval'");
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(h["x-content-type-options"], path).toBe("nosniff");
    expect(h["referrer-policy"], path).toBe("no-referrer");
  }
});

test("the client bundle is served", async ({ request }) => {
  const js = await request.get("/pkg/oauth_vault.js");
  expect(js.status()).toBe(200);
  expect(js.headers()["content-type"]).toContain("javascript");
  const wasm = await request.get("/pkg/oauth_vault_bg.wasm");
  expect(wasm.status()).toBe(200);
  expect(wasm.headers()["content-type"]).toBe("application/wasm");
});

test("the bundle is content-hashed, compressed when asked and cached", async ({ page, request, context }) => {
  // the page names the hashed bundle
  const html = await (await request.get("/")).text();
  const names = [...html.matchAll(/\/pkg\/oauth_vault\.[0-9a-f]{16}(?:_bg\.wasm|\.js|\.css)/g)].map((m) => m[0]);
  expect(new Set(names).size).toBe(3);
  for (const name of names) {
    for (const [accept, encoding] of [["br, gzip", "br"], ["gzip", "gzip"]]) {
      const res = await request.get(name, { headers: { "accept-encoding": accept } });
      expect(res.status(), name).toBe(200);
      expect(res.headers()["content-encoding"], `${name} (${accept})`).toBe(encoding);
      expect(res.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
    }
  }
  // a public page is compressed too
  const landing = await request.get("/", { headers: { "accept-encoding": "gzip" } });
  expect(landing.headers()["content-encoding"]).toBe("gzip");

  // a second load takes the bundle from the browser's cache
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const fromCache = new Set<string>();
  cdp.on("Network.requestServedFromCache", (e) => fromCache.add(e.requestId));
  cdp.on("Network.responseReceived", (e) => {
    if (e.response.fromDiskCache || e.response.fromPrefetchCache) fromCache.add(e.requestId);
  });
  const bundleIds = new Map<string, string>();
  cdp.on("Network.requestWillBeSent", (e) => {
    if (/\/pkg\/oauth_vault\.[0-9a-f]{16}/.test(e.request.url)) bundleIds.set(e.requestId, e.request.url);
  });
  await page.goto("/");
  await expect(page.getByTestId("hydration-status")).toHaveText("Interactive");
  bundleIds.clear();
  await page.goto("/login");
  await page.waitForLoadState("load");
  await page.waitForTimeout(500);
  // every request for the bundle was answered by the cache (a memory-cache
  // hit shows no request at all)
  for (const [id, url] of bundleIds) expect(fromCache.has(id), `${url} from cache`).toBeTruthy();
});
