import { test, expect } from "@playwright/test";
import { PASSWORD, createApp, signUp } from "./helpers";

test("sign up, sign out, sign in again, manage an app", async ({ page }) => {
  const email = await signUp(page);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  const appPath = await createApp(page, "First app");

  await page.getByLabel("App name").fill("Renamed app");
  await page.getByRole("button", { name: "Save name" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Renamed app" })).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto(appPath);
  await expect(page).toHaveURL(/\/login$/);

  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("The email or password is not correct");
  await expect(page.getByLabel("Email")).toHaveValue(email);

  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/apps$/);

  await page.goto(appPath);
  await page.getByLabel("Type the app's name to confirm").fill("Renamed app");
  await page.getByRole("button", { name: "Delete app" }).click();
  await expect(page).toHaveURL(/\/apps$/);
  await expect(page.getByTestId("no-apps")).toBeVisible();
});

test("sign-up errors are shown next to the fields", async ({ page }) => {
  await page.goto("/signup");
  await page.getByLabel("Email").fill("someone@example.com");
  await page.getByLabel("Password").fill("short");
  // bypass the browser's own length check to reach the server's
  await page.locator("form").evaluate((f) => f.setAttribute("novalidate", ""));
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByText("Use at least 12 characters")).toBeVisible();
  await expect(page.getByLabel("Email")).toHaveValue("someone@example.com");
});
