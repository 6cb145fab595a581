import { expect, Page } from "@playwright/test";

export const PASSWORD = "correct horse battery staple";

/** A new developer account (unique email) signed in on `page`. */
export async function signUp(page: Page): Promise<string> {
  const email = `dev-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  await page.goto("/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/apps$/);
  return email;
}

/** Creates an app and returns its page URL path. */
export async function createApp(page: Page, name: string): Promise<string> {
  await page.goto("/apps");
  await page.getByLabel("App name").fill(name);
  await page.getByRole("button", { name: "Create app" }).click();
  await expect(page).toHaveURL(/\/apps\/app_[0-9a-f]+$/);
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  return new URL(page.url()).pathname;
}

/** Configures the fake Attio on the app at `appPath` and creates an API
 *  key named `keyName`; returns the key. */
export async function attioAndKey(page: Page, appPath: string, keyName: string): Promise<string> {
  await page.goto(`${appPath}/providers/new/attio`);
  await page.getByLabel("Client ID").fill("fake-attio-client");
  await page.getByLabel("Client Secret").fill("fake-attio-secret-0123456789abcdef");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("provider-status")).toHaveText("Active");
  await page.goto(`${appPath}/api-keys`);
  await page.getByLabel("Name").fill(keyName);
  await page.getByRole("button", { name: "Create key" }).click();
  return page.getByTestId("new-key-value").inputValue();
}
