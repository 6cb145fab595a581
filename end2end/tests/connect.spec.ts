import { test, expect, Page } from "@playwright/test";
import { createApp, signUp } from "./helpers";

// The fake Attio that scripts/test starts beside the server; the server's
// catalogue points Attio at it.
const FAKE = process.env.FAKE_ATTIO_URL ?? "http://127.0.0.1:3920";
const CLIENT_ID = "fake-attio-client";
const CLIENT_SECRET = "fake-attio-secret-0123456789abcdef";

/** A developer with an app, Attio configured, a return URL and an API key. */
async function developerSetup(page: Page, returnUrl: string) {
  await signUp(page);
  const appPath = await createApp(page, "Acme CRM Sync");
  await page.goto(`${appPath}/providers/new/attio`);
  await page.getByLabel("Client ID").fill(CLIENT_ID);
  await page.getByLabel("Client Secret").fill(CLIENT_SECRET);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("provider-status")).toHaveText("Active");
  const providerPath = new URL(page.url()).pathname;

  await page.goto(appPath);
  await page.getByRole("link", { name: "Settings" }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await page.getByLabel("One URL per line").fill(returnUrl);
  await page.getByRole("button", { name: "Save settings" }).click();
  await expect(page.getByLabel("One URL per line")).toHaveValue(returnUrl);

  await page.getByRole("link", { name: "API Keys" }).click();
  await page.getByLabel("Name").fill("e2e backend");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = await page.getByTestId("new-key-value").inputValue();
  expect(key).toMatch(/^ovk_/);
  // shown once: a fresh load of the page lists the prefix only
  await page.goto(`${appPath}/api-keys`);
  await expect(page.getByTestId("keys")).toContainText(key.slice(0, 12));
  expect(await page.content()).not.toContain(key);
  return { appPath, providerPath, key };
}

test.describe("End users connect Attio", () => {
  test("backend session → connect page → consent → return URL → token API → portal", async ({ page, context, request, baseURL }) => {
    // the developer's own site, where end users come back to
    const returnUrl = new URL("/docs/providers/attio", baseURL).toString();
    const { appPath, key } = await developerSetup(page, returnUrl);

    // the developer's backend creates a connect session
    const created = await request.post("/v1/connect/sessions", {
      headers: { authorization: `Bearer ${key}` },
      data: { end_user_id: "user-e2e-1", end_user_email: "ada@example.com", return_url: returnUrl },
    });
    expect(created.status()).toBe(201);
    const session = await created.json();
    expect(session.connect_url).toContain("/connect/ovcs_");

    // the end user, in their own browser
    const endUser = await context.browser()!.newContext();
    const tab = await endUser.newPage();
    await tab.goto(session.connect_url);
    await expect(tab.getByRole("heading", { level: 1 })).toContainText("Acme CRM Sync");
    await expect(tab.getByTestId("requested-scopes")).toContainText("Read access to records (people, companies, etc.)");
    await tab.getByRole("button", { name: "Connect Attio" }).click();

    // at the (fake) provider
    await expect(tab).toHaveURL(new RegExp(`^${FAKE}/authorize`));
    await expect(tab.getByRole("heading", { name: "Authorize access" })).toBeVisible();
    await tab.getByRole("link", { name: "Approve" }).click();

    // back at the developer's return URL
    await expect(tab).toHaveURL(/status=success/);
    const back = new URL(tab.url());
    expect(back.pathname).toBe("/docs/providers/attio");
    const connectionId = back.searchParams.get("connection_id")!;
    expect(connectionId).toMatch(/^conn_/);
    await endUser.close();

    // the backend fetches the token the provider issued
    const issued = (await (await request.get(`${FAKE}/_fake/tokens`)).json()).tokens as string[];
    const token = await request.get(`/v1/connections/${connectionId}/access-token`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(token.status()).toBe(200);
    const body = await token.json();
    expect(issued).toContain(body.access_token);
    expect(body.token_type).toBe("Bearer");
    expect(body.account.name).toBe("Acme Workspace");

    // the portal lists the connection
    await page.goto(`${appPath}/connections`);
    const row = page.getByTestId("connections").locator("tbody tr").first();
    await expect(row).toContainText("ada@example.com");
    await expect(row.getByTestId("account")).toHaveText("Acme Workspace");
    await expect(row.getByTestId("connection-status")).toHaveText("Active");
    expect(await page.content()).not.toContain(body.access_token);

    // the connection page shows its history; disconnect removes it
    await row.getByRole("link").first().click();
    await expect(page.getByTestId("events")).toContainText("Connected by the end user");
    await page.getByLabel("Delete this connection and its tokens.").check();
    await page.getByRole("button", { name: "Disconnect" }).click();
    await expect(page).toHaveURL(new RegExp(`/connections/${connectionId}$`));
    await expect(page.getByTestId("connection-status")).toHaveText("Revoked");
    await expect(page.getByTestId("events")).toContainText("tokens deleted");
    const gone = await request.get(`/v1/connections/${connectionId}/access-token`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(gone.status()).toBe(410);
    expect((await gone.json()).error.code).toBe("connection_revoked");
  });

  test("Test connection from the provider page, and a declined consent", async ({ page }) => {
    const { providerPath } = await developerSetup(page, "https://app.example.com/done");
    await page.goto(providerPath);
    await page.getByTestId("test-connection").click();
    await expect(page.getByRole("button", { name: "Connect Attio" })).toBeVisible();
    await page.getByRole("button", { name: "Connect Attio" }).click();

    // declining shows a clear message back in the portal, nothing connected
    await page.getByRole("link", { name: "Deny" }).click();
    await expect(page).toHaveURL(/\/connections\?status=error&error=access_denied$/);
    await expect(page.getByRole("alert")).toContainText("access_denied");
    await expect(page.getByTestId("no-connections")).toBeVisible();
    await expect(page.getByTestId("failed-attempts")).toContainText("access_denied");

    // the developer tries again and approves
    await page.goto(providerPath);
    await page.getByTestId("test-connection").click();
    await page.getByRole("button", { name: "Connect Attio" }).click();
    await page.getByRole("link", { name: "Approve" }).click();
    await expect(page).toHaveURL(/\/connections\?connection_id=conn_[0-9a-f]+&status=success$/);
    await expect(page.getByRole("status")).toContainText("Connected");
    await expect(page.getByTestId("connections").getByTestId("account")).toHaveText("Acme Workspace");
  });

  test("expired or unknown connect links get a clear page", async ({ page }) => {
    const res = await page.goto("/connect/ovcs_this-is-not-a-session");
    expect(res!.status()).toBe(404);
    await expect(page.getByTestId("session-unknown")).toHaveText("This connect link is not valid");
  });
});

test.describe("Keeping connections", () => {
  test("reconnect link on the connection page keeps the connection id", async ({ page, context, request }) => {
    const { appPath, key } = await developerSetup(page, "https://app.example.com/done");
    const created = await request.post("/v1/connect/sessions", {
      headers: { authorization: `Bearer ${key}` },
      data: { end_user_id: "user-e2e-2" },
    });
    const session = await created.json();
    const endUser = await context.browser()!.newContext();
    const tab = await endUser.newPage();
    await tab.goto(session.connect_url);
    await tab.getByRole("button", { name: "Connect Attio" }).click();
    await tab.getByRole("link", { name: "Approve" }).click();
    await expect(tab.getByTestId("connect-success")).toHaveText("Connected");

    await page.goto(`${appPath}/connections`);
    await page.getByTestId("connections").locator("tbody tr a").first().click();
    const connectionPath = new URL(page.url()).pathname;
    await page.getByRole("button", { name: "Create reconnect link" }).click();
    const link = await page.getByTestId("reconnect-link").inputValue();
    expect(link).toContain("/connect/ovcs_");

    // the end user authorizes again through the link
    await tab.goto(link);
    await tab.getByRole("button", { name: "Connect Attio" }).click();
    await tab.getByRole("link", { name: "Approve" }).click();
    await expect(tab.getByTestId("connect-success")).toHaveText("Connected");
    await endUser.close();

    await page.goto(connectionPath);
    await expect(page.getByTestId("connection-status")).toHaveText("Active");
    await expect(page.getByTestId("events")).toContainText("Re-authorized by the end user");
    await page.goto(`${appPath}/connections`);
    await expect(page.getByTestId("connections").locator("tbody tr")).toHaveCount(1);
  });

  test("webhook endpoint, signing secret shown once, test event and delivery log", async ({ page }) => {
    const { appPath } = await developerSetup(page, "https://app.example.com/done");
    await page.goto(`${appPath}/settings`);
    // a private address the operator did not allow: refused, input kept
    await page.getByLabel("Endpoint URL").fill("https://10.1.2.3/hooks");
    await page.getByRole("button", { name: "Save endpoint" }).click();
    await expect(page.getByRole("alert")).toContainText("private");
    await expect(page.getByLabel("Endpoint URL")).toHaveValue("https://10.1.2.3/hooks");
    // the fake provider's host is allowed in the tests; it has no /hooks, so
    // deliveries answer 404 and show up in the log
    await page.getByLabel("Endpoint URL").fill(`${FAKE}/hooks`);
    await page.getByRole("button", { name: "Save endpoint" }).click();
    await expect(page.getByLabel("Endpoint URL")).toHaveValue(`${FAKE}/hooks`);
    await page.getByRole("button", { name: "Generate signing secret" }).click();
    const secret = await page.getByTestId("webhook-secret-value").inputValue();
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole("button", { name: "Send test event" }).click();
    await expect(page.getByTestId("deliveries")).toContainText("test");
    await expect(page.getByTestId("deliveries")).toContainText("HTTP 404");
    expect(await page.content()).not.toContain(secret);
    await expect(page.getByRole("button", { name: "Rotate signing secret" })).toBeVisible();
  });
});
