import { test, expect, Browser, Page } from "@playwright/test";
import { PASSWORD, createApp, signUp } from "./helpers";

/** Invites `email` with `role` from the members page; returns the link shown. */
async function invite(page: Page, email: string, role: string): Promise<string> {
  await page.getByTestId("invite-form").getByLabel("Email").fill(email);
  await page.getByTestId("invite-form").getByLabel("Role").selectOption(role);
  await page.getByRole("button", { name: "Invite" }).click();
  const link = page.getByTestId("invitation-link-value");
  await expect(link).toBeVisible();
  return link.inputValue();
}

/** Someone new opens `link` in their own browser and creates their account. */
async function accept(browser: Browser, link: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(link);
  await expect(page.getByTestId("invitation-intro")).toBeVisible();
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account and join" }).click();
  await expect(page).toHaveURL(/\/apps$/);
  return page;
}

test("an owner invites a developer and a viewer, who see what their role allows", async ({ page, browser }) => {
  await signUp(page);
  const appPath = await createApp(page, "Team app");
  await page.getByRole("link", { name: "Members" }).click();
  await expect(page.getByTestId("my-role")).toHaveText("Owner");

  const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const devLink = await invite(page, `dev-${stamp}@example.com`, "developer");
  await page.getByRole("link", { name: "Members" }).click();
  const viewerLink = await invite(page, `viewer-${stamp}@example.com`, "viewer");
  await page.getByRole("link", { name: "Members" }).click();
  await expect(page.getByTestId("invitation")).toHaveCount(2);

  // the developer: joins, works on the app, cannot manage members
  const dev = await accept(browser, devLink);
  await expect(dev.getByTestId("org-role")).toHaveText("Developer");
  await dev.getByRole("link", { name: "Team app" }).click();
  await expect(dev).toHaveURL(new RegExp(`${appPath}$`));
  await expect(dev.getByRole("link", { name: "Add Provider" })).toBeVisible();
  await dev.goto(`${appPath}/api-keys`);
  await dev.getByLabel("Name", { exact: true }).fill("from the developer");
  await dev.getByRole("button", { name: "Create key" }).click();
  await expect(dev.getByTestId("new-key")).toBeVisible();
  await dev.getByRole("link", { name: "Members" }).click();
  await expect(dev.getByTestId("invite-form")).toHaveCount(0);

  // the viewer: reads, changes nothing
  const viewer = await accept(browser, viewerLink);
  await expect(viewer.getByTestId("org-role")).toHaveText("Viewer");
  await viewer.goto(appPath);
  await expect(viewer.getByRole("heading", { level: 1, name: "Team app" })).toBeVisible();
  await expect(viewer.getByRole("link", { name: "Add Provider" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Delete app" })).toHaveCount(0);
  await viewer.goto(`${appPath}/api-keys`);
  await expect(viewer.getByTestId("keys")).toContainText("from the developer");
  await expect(viewer.getByRole("button", { name: "Create key" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Revoke" })).toHaveCount(0);
  await viewer.goto(`${appPath}/providers/new`);
  await expect(viewer.getByTestId("forbidden")).toContainText("This needs the developer role");

  // the owner sees both members, and the activity tells who joined
  await page.reload();
  await expect(page.getByTestId("member")).toHaveCount(3);
  await page.getByRole("link", { name: "Activity" }).first().click();
  await expect(page.getByTestId("activity")).toContainText("user.joined_by_invitation");

  // the owner changes the viewer into a developer
  await page.getByRole("link", { name: "Members" }).click();
  const row = page.locator(`tr[data-email="viewer-${stamp}@example.com"]`);
  await row.getByLabel("Role").selectOption("developer");
  await row.getByRole("button", { name: "Change" }).click();
  await viewer.goto(`${appPath}/api-keys`);
  await expect(viewer.getByRole("button", { name: "Create key" })).toBeVisible();
});

test("the organisation switcher moves between organisations", async ({ page }) => {
  await signUp(page);
  await createApp(page, "First org app");
  const first = await page.getByTestId("org-select").inputValue();

  await page.getByTestId("org-select").selectOption("new");
  await page.getByRole("button", { name: "Switch" }).click();
  await expect(page).toHaveURL(/\/orgs\/new$/);
  await page.getByLabel("Name").fill("Side project");
  await page.getByRole("button", { name: "Create organisation" }).click();
  await expect(page).toHaveURL(/\/apps$/);
  await expect(page.getByTestId("org-name")).toContainText("Side project");
  await expect(page.getByTestId("no-apps")).toBeVisible();

  await page.getByTestId("org-select").selectOption(first);
  await page.getByRole("button", { name: "Switch" }).click();
  await expect(page.getByRole("link", { name: "First org app" })).toBeVisible();
});

test("sign in with the company's identity provider", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByRole("link", { name: "Sign in with Corp ID" }).click();
  await expect(page).toHaveURL(/\/apps$/);
  await expect(page.getByTestId("account-email")).toHaveText("alice@corp.example");
  await context.close();
});
