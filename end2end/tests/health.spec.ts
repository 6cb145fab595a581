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
