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
