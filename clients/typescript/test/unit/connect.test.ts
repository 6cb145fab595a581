// The connect entry point loads the vault's browser script: here with just
// enough of a browser for its redirect path (this file runs in a process
// of its own, so the globals stay here).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const script = readFileSync(new URL("../../../dist/connect-global.js", import.meta.url), "utf8");
const skip = script.includes("OAuthVault") ? false : "the package was built without public/connect.js";

test("connect runs the vault's connect script", { skip }, async () => {
  const assigned: string[] = [];
  Object.assign(globalThis, {
    window: globalThis,
    location: { href: "https://app.test/settings", assign: (url: string) => assigned.push(url) },
  });
  const { connect } = await import("@oauth-vault/client/connect");
  await assert.rejects(connect({ sessionToken: "not-a-token", baseUrl: "https://vault.test" }), (error: unknown) => {
    assert.equal((error as { code?: string }).code, "invalid_options");
    return true;
  });
  const token = `ovcs_${"a".repeat(24)}`;
  const result = await connect({ sessionToken: token, baseUrl: "https://vault.test", mode: "redirect" });
  assert.deepEqual(result, { redirected: true });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(assigned, [`https://vault.test/connect/${token}`]);
});
