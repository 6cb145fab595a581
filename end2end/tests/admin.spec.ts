import { test, expect } from "@playwright/test";
import { createApp, signUp, attioAndKey } from "./helpers";

// scripts/test creates this administrator with the operator CLI.
const ADMIN_EMAIL = "admin@e2e.example";
const ADMIN_PASSWORD = "e2e admin password 0123";
const FAKE = process.env.FAKE_ATTIO_URL ?? "http://127.0.0.1:3920";

test("an admin finds a connection needing re-authorization and disconnects it with a reason", async ({ page, context, request }) => {
  // a developer with a connected end user
  await signUp(page);
  const appPath = await createApp(page, "Admin E2E App");
  const key = await attioAndKey(page, appPath, "backend");
  const endUserId = `admin-e2e-${Date.now()}`;
  const session = await (
    await request.post("/v1/connect/sessions", {
      headers: { authorization: `Bearer ${key}` },
      data: { end_user_id: endUserId },
    })
  ).json();
  const endUser = await context.browser()!.newContext();
  const tab = await endUser.newPage();
  await tab.goto(session.connect_url);
  await tab.getByRole("button", { name: "Connect Attio" }).click();
  await tab.getByRole("link", { name: "Approve" }).click();
  await expect(tab.getByTestId("connect-success")).toBeVisible();
  await endUser.close();
  const list = await (
    await request.get(`/v1/connections?end_user_id=${endUserId}`, { headers: { authorization: `Bearer ${key}` } })
  ).json();
  const connectionId = list.data[0].id as string;

  // the workspace uninstalls the integration at Attio
  expect((await request.post(`${FAKE}/_fake/deactivate`)).status()).toBe(204);

  // the admin signs in
  const admin = await (await context.browser()!.newContext()).newPage();
  await admin.goto("/login");
  await admin.getByLabel("Email").fill(ADMIN_EMAIL);
  await admin.getByLabel("Password").fill(ADMIN_PASSWORD);
  await admin.getByRole("button", { name: "Sign in" }).click();
  await expect(admin).toHaveURL(/\/apps$/);
  await admin.getByTestId("admin-link").click();
  await expect(admin.getByTestId("overview")).toBeVisible();

  // a health check now finds the dead token
  await admin.goto(`/admin/connections/${connectionId}`);
  await admin.getByLabel("Reason").fill("support ticket 1234: check the token");
  await admin.getByRole("button", { name: "Check health now" }).click();
  await expect(admin.getByTestId("connection-status")).toHaveText("Needs re-authorization");

  // filter by status, open it, disconnect with a reason
  await admin.goto("/admin/connections");
  await admin.locator("select[name=status]").selectOption("needs_reauthorization");
  await admin.getByLabel("Search").fill(endUserId);
  await admin.getByRole("button", { name: "Filter" }).click();
  await expect(admin).toHaveURL(/status=needs_reauthorization/);
  const rows = admin.getByTestId("admin-connections").locator("tbody tr");
  await expect(rows).toHaveCount(1);
  await rows.first().getByRole("link").click();
  await admin.getByLabel("Reason").fill("workspace uninstalled the integration");
  await admin.getByRole("button", { name: "Disconnect" }).click();
  await expect(admin.getByTestId("connection-status")).toHaveText("Revoked");

  // the developer's backend is told the connection is revoked
  const token = await request.get(`/v1/connections/${connectionId}/access-token`, {
    headers: { authorization: `Bearer ${key}` },
  });
  expect(token.status()).toBe(410);
  expect((await token.json()).error.code).toBe("connection_revoked");

  // the audit log shows the action with its reason
  await admin.goto("/admin/audit?action=connection.revoked");
  await expect(admin.getByTestId("audit")).toContainText("workspace uninstalled the integration");
  await expect(admin.getByTestId("audit")).toContainText(ADMIN_EMAIL);
});
