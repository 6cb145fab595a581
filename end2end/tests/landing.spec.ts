import { test, expect } from "@playwright/test";

test.describe("landing page", () => {
  test("renders on the server and hydrates in the browser", async ({ page }) => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });

    await page.goto("/");
    await expect(page.getByRole("heading", { level: 1, name: "OAuth Vault" })).toBeVisible();
    await expect(page.getByRole("link", { name: "Sign in" }).first()).toHaveAttribute("href", "/login");
    await expect(page.getByRole("link", { name: "Sign up" })).toHaveAttribute("href", "/signup");

    // The badge flips only once the wasm client has hydrated the page.
    const status = page.getByTestId("hydration-status");
    await expect(status).toHaveAttribute("data-ready", "true");
    await expect(status).toHaveText("Interactive");

    // ...and the tabs respond.
    const sample = page.getByTestId("code-sample");
    await expect(sample).toContainText("curl");
    await page.getByRole("tab", { name: "Node.js" }).click();
    await expect(sample).toContainText("await fetch(");
    await expect(page.getByRole("tab", { name: "Node.js" })).toHaveAttribute("aria-selected", "true");
    await page.getByRole("tab", { name: "curl" }).click();
    await expect(sample).toContainText("curl");

    // No CSP violation or script error on the way.
    expect(errors).toEqual([]);
  });

  test.describe("without JavaScript", () => {
    test.use({ javaScriptEnabled: false });

    test("is complete and readable", async ({ page }) => {
      await page.goto("/");
      await expect(page.getByRole("heading", { level: 1, name: "OAuth Vault" })).toBeVisible();
      await expect(page.getByTestId("code-sample")).toContainText("curl");
      await expect(page.getByTestId("hydration-status")).toHaveText("Static page");
      // plain links still navigate
      await page.getByRole("link", { name: "Sign up" }).click();
      await expect(page).toHaveURL(/\/signup$/);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    });
  });

  test("unknown pages answer 404 with a way back", async ({ page }) => {
    const res = await page.goto("/no/such/page");
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
    await page.getByRole("link", { name: "Go to the start page" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "OAuth Vault" })).toBeVisible();
  });
});
