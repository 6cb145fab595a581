import { test, expect, Page } from "@playwright/test";
import { createApp, signUp } from "./helpers";

const SECRET = "attio-client-secret-e2e-9876-LAST";

async function addAttio(page: Page) {
  await signUp(page);
  await createApp(page, "Acme Sync");
  await page.getByRole("link", { name: "Add Provider" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Add Provider" })).toBeVisible();
  const card = page.getByTestId("catalogue").locator("[data-provider=attio]");
  await expect(card).toContainText("Attio");
  await expect(card).toContainText("CRM");
  await card.click();
  await expect(page.getByRole("heading", { level: 1, name: "Attio" })).toBeVisible();

  const props = page.getByTestId("property-table");
  await expect(props).toContainText("attio");
  await expect(props).toContainText("CRM");
  await expect(props).toContainText("Supported");
  await expect(props).toContainText("Automatic");
  // the configuration's own redirect URI, shown before the first save
  const redirect = await page.getByTestId("redirect-uri").inputValue();
  expect(redirect).toMatch(new RegExp(`^${new URL(page.url()).origin}/oauth/callback/pc_[0-9a-f]{32}$`));
  await expect(page.getByTestId("setup-steps")).toContainText(redirect);

  // submitting without credentials: errors next to the fields, input kept
  await page.getByLabel("Client ID").fill("attio-e2e-client");
  // skip the browser's own required-field check to reach the server's
  await page.getByTestId("provider-form").evaluate((f) => f.setAttribute("novalidate", ""));
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Enter the Client Secret from the provider's developer settings")).toBeVisible();
  await expect(page.getByLabel("Client ID")).toHaveValue("attio-e2e-client");

  await page.getByLabel("Client Secret").fill(SECRET);
  for (const scope of ["note:read", "task:read", "object_configuration:read"]) {
    await page.locator(`input[name=scopes][value="${scope}"]`).check();
  }
  await page.getByRole("button", { name: "Save" }).click();
  // saved under the id its redirect URI was shown with
  await expect(page).toHaveURL(new RegExp(`/providers/${redirect.split("/").pop()}$`));
  return redirect;
}

async function expectSavedAttio(page: Page, redirect: string) {
  await expect(page.getByTestId("provider-status")).toHaveText("Active");
  await expect(page.getByTestId("redirect-uri")).toHaveValue(redirect);
  await expect(page.getByTestId("client-id")).toHaveText("attio-e2e-client");
  await expect(page.getByTestId("client-secret")).toHaveText("••••LAST");
  for (const scope of ["record_permission:read", "list_entry:read", "note:read", "task:read", "object_configuration:read"]) {
    await expect(page.locator(`input[name=scopes][value="${scope}"]`)).toBeChecked();
  }
  await expect(page.locator(`input[name=scopes][value="note:read-write"]`)).not.toBeChecked();
  const source = await (await page.request.get(page.url())).text();
  expect(source).not.toContain(SECRET);
  expect(await page.content()).not.toContain(SECRET);
}

test.describe("Add Provider › Attio", () => {
  test("with JavaScript: save, Active, copy the redirect URI", async ({ page, context }) => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const redirect = await addAttio(page);
    await expectSavedAttio(page, redirect);

    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(page.url()).origin });
    await page.locator(".copy-field").first().getByRole("button", { name: "Copy" }).click();
    await expect(page.locator(".copy-field").first().getByRole("button")).toHaveText("Copied");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(redirect);

    // read-write includes read: ticking it ticks and locks read
    const rw = page.locator(`input[name=scopes][value="list_entry:read-write"]`);
    const read = page.locator(`input[name=scopes][value="list_entry:read"]`);
    await rw.check();
    await expect(read).toBeChecked();
    await expect(read).toBeDisabled();
    await rw.uncheck();
    await expect(read).toBeEnabled();

    // the app lists it as Active
    await page.getByRole("link", { name: /Acme Sync/ }).click();
    await expect(page.getByTestId("providers")).toContainText("Attio");
    await expect(page.getByTestId("providers")).toContainText("Active");
    expect(errors).toEqual([]);
  });

  test.describe("without JavaScript", () => {
    test.use({ javaScriptEnabled: false });

    test("the same flow works", async ({ page }) => {
      const redirect = await addAttio(page);
      await expectSavedAttio(page, redirect);
      // disable and enable again
      await page.getByRole("button", { name: "Disable provider" }).click();
      await expect(page.getByTestId("provider-status")).toHaveText("Disabled");
      await page.getByRole("button", { name: "Enable provider" }).click();
      await expect(page.getByTestId("provider-status")).toHaveText("Active");
    });
  });
});

test("Custom OAuth 2.0 provider", async ({ page }) => {
  await signUp(page);
  await createApp(page, "Custom App");
  await page.getByRole("link", { name: "Add Provider" }).click();
  await page.getByTestId("catalogue").locator("[data-provider=custom]").click();
  await page.getByLabel("Name", { exact: true }).fill("Acme Identity");
  await page.getByLabel("Provider ID").fill("acme-idp");
  await page.getByLabel("Authorization URL").fill("https://idp.acme.example/oauth/authorize");
  await page.getByLabel("Token URL").fill("http://idp.acme.example/oauth/token");
  await page.getByLabel("Scopes").fill("openid profile");
  await page.getByLabel("Client ID").fill("acme-client");
  await page.getByLabel("Client Secret").fill("acme-secret-value");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Use an https:// URL (plain http is refused)")).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue("Acme Identity");
  await page.getByLabel("Token URL").fill("https://idp.acme.example/oauth/token");
  await page.getByLabel("Client Secret").fill("acme-secret-value");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("provider-status")).toHaveText("Active");
  await expect(page.getByTestId("selected-scopes")).toHaveText("openid profile");
});

test("Custom OAuth 2.0 provider filled in by Discover", async ({ page }) => {
  const issuer = process.env.FAKE_OAUTH_URL;
  test.skip(!issuer, "FAKE_OAUTH_URL names a server with RFC 8414 metadata (scripts/test sets it)");
  await signUp(page);
  await createApp(page, "Discover App");
  await page.getByRole("link", { name: "Add Provider" }).click();
  await page.getByTestId("catalogue").locator("[data-provider=custom]").click();
  await page.getByLabel("Name", { exact: true }).fill("Fake IdP");
  // an issuer without metadata: the reason, next to the field, input kept
  await page.getByLabel("Issuer", { exact: true }).fill(`${issuer}/no-such-tenant`);
  await page.getByTestId("discover").click();
  await expect(page.getByText("publishes no metadata")).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue("Fake IdP");
  await page.getByLabel("Issuer", { exact: true }).fill(issuer!);
  await page.getByTestId("discover").click();
  await expect(page.getByTestId("discovered")).toContainText("Filled in from the issuer");
  await expect(page.getByLabel("Authorization URL")).toHaveValue(`${issuer}/authorize`);
  await expect(page.getByLabel("Token URL")).toHaveValue(`${issuer}/token`);
  await expect(page.getByLabel("Revocation URL (optional)")).toHaveValue(`${issuer}/revoke`);
  await expect(page.locator("input[name=authorization_response_iss]")).toBeChecked();
  await expect(page.locator("input[name=pkce]")).toBeChecked();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue("Fake IdP");
  await page.getByLabel("Provider ID").fill("fake-idp");
  await page.getByLabel("Scopes").fill("read");
  await page.getByLabel("Client ID").fill("fake-oauth-client");
  await page.getByLabel("Client Secret").fill("fake-oauth-secret-0123456789abcdef");
  const redirect = await page.getByTestId("redirect-uri").inputValue();
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("provider-status")).toHaveText("Active");
  await expect(page.getByTestId("redirect-uri")).toHaveValue(redirect);

  // the end of the flow: the redirect URI shown is where the answer is accepted
  await page.getByTestId("test-connection").click();
  await page.getByRole("button", { name: /Connect Fake IdP/ }).click();
  await expect(page).toHaveURL(/\/connections/);
  await expect(page.getByText("Connected.")).toBeVisible();
});

test("the Attio docs page is public", async ({ page }) => {
  await page.goto("/docs/providers/attio");
  await expect(page.getByRole("heading", { level: 1, name: "Attio" })).toBeVisible();
  await expect(page.getByText("record_permission:read").first()).toBeVisible();
  await expect(page.getByTestId("setup-steps")).toContainText("/oauth/callback");
});

test("Add Provider is searched and filtered, without JavaScript too", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signUp(page);
  const appPath = await createApp(page, "Catalogue search");
  await page.goto(`${appPath}/providers/new`);
  await expect(page.locator("[data-provider]")).not.toHaveCount(0);
  await page.getByTestId("catalogue-search").fill("zen");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.locator('[data-provider="zendesk"]')).toBeVisible();
  await expect(page.locator('[data-provider="google"]')).toHaveCount(0);
  await page.getByRole("link", { name: "Show all" }).click();
  await page.getByTestId("catalogue-category").selectOption("Accounting");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.locator('[data-provider="xero"]')).toBeVisible();
  await expect(page.locator('[data-provider="quickbooks"]')).toBeVisible();
  await expect(page.locator('[data-provider="slack"]')).toHaveCount(0);
  await page.locator('[data-provider="xero"]').click();
  await expect(page.getByRole("heading", { level: 1, name: "Xero" })).toBeVisible();
  await context.close();
});
