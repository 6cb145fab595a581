import { test, expect, Page } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import path from "node:path";
import { attioAndKey, createApp, signUp } from "./helpers";

// The connect popup from the developer's own page: the example app of
// examples/connect-popup runs on another port (another origin), creates
// sessions with its API key and opens the vault's connect.js popup.

const FAKE = process.env.FAKE_ATTIO_URL ?? "http://127.0.0.1:3920";
const EXAMPLE = path.resolve(__dirname, "../../examples/connect-popup/server.mjs");

/** Starts the example app for `key`; resolves with it and its address. */
function startExample(vault: string, key: string): Promise<{ app: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const app = spawn(process.execPath, [EXAMPLE], {
      env: { ...process.env, OAUTH_VAULT_URL: vault, OAUTH_VAULT_API_KEY: key, PORT: "0" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    const timer = setTimeout(() => reject(new Error("the example app did not start")), 10_000);
    app.stdout!.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/Example app is running at (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ app, url: m[1] });
      }
    });
    app.on("exit", () => reject(new Error("the example app exited")));
  });
}

/** A developer with Attio configured, the example app's origin allowed, and
 *  the example app running with the app's key. */
async function exampleApp(page: Page, vault: string) {
  await signUp(page);
  const appPath = await createApp(page, "Popup Example");
  const key = await attioAndKey(page, appPath, "example backend");
  const example = await startExample(vault, key);
  expect(new URL(example.url).origin).not.toBe(new URL(vault).origin);
  await page.goto(`${appPath}/settings`);
  await page.getByLabel("One URL per line").fill(example.url);
  await page.getByRole("button", { name: "Save settings" }).click();
  await expect(page.getByLabel("One URL per line")).toHaveValue(example.url);
  return { ...example, key };
}

/** Clicks the example's button and returns the popup it opened. */
async function openPopup(site: Page): Promise<Page> {
  const opened = site.waitForEvent("popup");
  await site.getByRole("button", { name: "Connect an account" }).click();
  const popup = await opened;
  await popup.waitForLoadState();
  return popup;
}

test.describe("The connect popup on the developer's page", () => {
  let app: ChildProcess | undefined;
  test.afterEach(() => app?.kill());

  test("connects in a popup that tells the page and closes; a closed popup is cancelled", async ({ page, context, baseURL, request }) => {
    const example = await exampleApp(page, baseURL!);
    app = example.app;
    const site = await context.newPage();
    await site.goto(example.url);

    // closing the popup early rejects with `cancelled`
    let popup = await openPopup(site);
    await expect(popup.getByRole("button", { name: "Connect Attio" })).toBeVisible();
    await popup.close();
    await expect(site.getByRole("status")).toHaveText("Not connected: cancelled");

    // a message from another origin (the page's own) is ignored
    popup = await openPopup(site);
    await site.evaluate(() =>
      window.postMessage({ source: "oauth-vault", type: "connect.result", status: "success", connectionId: "conn_forged", provider: "x" }, "*"),
    );
    await popup.getByRole("button", { name: "Connect Attio" }).click();
    await expect(popup).toHaveURL(new RegExp(`^${FAKE}/authorize`));
    const closed = popup.waitForEvent("close");
    await popup.getByRole("link", { name: "Approve" }).click();
    await closed; // the popup closes itself
    await expect(site.getByRole("status")).toHaveText(/^Connected conn_[0-9a-z]+ \(attio\)$/);
    const connectionId = (await site.getByRole("status").textContent())!.split(" ")[1];
    expect(connectionId).not.toBe("conn_forged");

    // the backend sees the connection
    const answer = await request.get(`/v1/connections/${connectionId}`, {
      headers: { authorization: `Bearer ${example.key}` },
    });
    expect(answer.status()).toBe(200);
    expect((await answer.json()).status).toBe("active");
  });

  test("a blocked popup falls back to a redirect and says so", async ({ page, context, baseURL }) => {
    const example = await exampleApp(page, baseURL!);
    app = example.app;
    const site = await context.newPage();
    // the browser blocks popups: window.open gives nothing
    await site.addInitScript(() => {
      window.open = () => null;
    });
    await site.goto(example.url);
    await site.getByRole("button", { name: "Connect an account" }).click();
    // the same tab goes to the vault's connect page, then to Attio
    await expect(site).toHaveURL(new RegExp(`^${baseURL}/connect/ovcs_`));
    await site.getByRole("button", { name: "Connect Attio" }).click();
    await site.getByRole("link", { name: "Approve" }).click();
    // and back to the page, which was told it was redirected
    await expect(site).toHaveURL(/status=success/);
    await expect(site.getByRole("status")).toHaveText(/^Connected conn_[0-9a-z]+ after a redirect$/);
  });

  test("the popup refuses to be framed", async ({ page, baseURL }) => {
    const script = await page.request.get(`${baseURL}/connect.js`);
    expect(script.status()).toBe(200);
    expect(script.headers()["content-type"]).toContain("javascript");
    const popupPage = await page.request.get(`${baseURL}/connect/ovcs_0000000000000000000000?display=popup`);
    expect(popupPage.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(popupPage.headers()["x-frame-options"]).toBe("DENY");
  });
});
