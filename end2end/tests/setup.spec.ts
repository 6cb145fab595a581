import { test, expect } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { PASSWORD } from "./helpers";

// A fresh instance of its own, as an operator starts it the first time:
// default settings (sign-up by invitation), an empty SQLite database.
const BIN = process.env.OAUTH_VAULT_BIN;
const SITE_ROOT = process.env.OAUTH_VAULT_SITE_ROOT;

type Fresh = { server: ChildProcess; url: string; setupLink: string; dir: string };

/** Starts the binary and reads its address and setup link from its output. */
async function startFresh(): Promise<Fresh> {
  const dir = mkdtempSync(join(tmpdir(), "ov-setup-"));
  const server = spawn(BIN!, ["serve"], {
    env: {
      PATH: process.env.PATH,
      OAUTH_VAULT_DATA_DIR: dir,
      OAUTH_VAULT_BIND: "127.0.0.1:0",
      OAUTH_VAULT_SITE_ROOT: SITE_ROOT ?? join(dir, "site"),
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const lines = createInterface({ input: server.stdout! });
  let url = "";
  let setupLink = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server printed no setup link within 30 s")), 30_000);
    lines.on("line", (line) => {
      const running = line.match(/^OAuth Vault is running at (\S+)/);
      if (running) url = running[1];
      const link = line.trim().match(/^(http\S+\/setup\/\S+)$/);
      if (link) {
        setupLink = link[1];
        clearTimeout(timer);
        resolve();
      }
    });
    server.on("exit", (code) => reject(new Error(`the server exited (${code})`)));
  });
  return { server, url, setupLink, dir };
}

test.describe("a fresh instance", () => {
  test.skip(!BIN, "OAUTH_VAULT_BIN names the server binary (scripts/test sets it)");
  let fresh: Fresh;
  test.beforeAll(async () => {
    fresh = await startFresh();
  });
  test.afterAll(async () => {
    fresh?.server.kill("SIGTERM");
    if (fresh) rmSync(fresh.dir, { recursive: true, force: true });
  });

  test("the setup link makes the first administrator; sign-up is by invitation", async ({ browser }) => {
    expect(fresh.setupLink.startsWith(`${fresh.url}/setup/`)).toBeTruthy();
    const operator = await browser.newPage({ baseURL: fresh.url });
    // nobody can sign up on a fresh instance, least of all as administrator
    await operator.goto("/signup");
    await expect(operator.getByTestId("signup-refused")).toContainText("invitation-only");
    await expect(operator.locator("form[action='/signup']")).toHaveCount(0);
    await operator.goto("/login");
    await expect(operator.getByTestId("signup-mode")).toContainText("invitation-only");

    await operator.goto(fresh.setupLink);
    await expect(operator.getByRole("heading", { level: 1, name: "Set up OAuth Vault" })).toBeVisible();
    await operator.getByLabel("Email").fill("root@setup.example");
    await operator.getByLabel("Password").fill(PASSWORD);
    await operator.getByRole("button", { name: "Create administrator" }).click();
    await expect(operator).toHaveURL(/\/apps$/);
    await operator.goto("/admin");
    await expect(operator.getByRole("heading", { level: 1, name: "Admin" })).toBeVisible();

    // the link works once
    const stranger = await browser.newPage({ baseURL: fresh.url });
    await stranger.goto(fresh.setupLink);
    await expect(stranger.getByTestId("link-problem")).toContainText("already has an administrator");

    // the administrator invites someone; the link works once
    await operator.goto("/admin/invitations");
    await operator.getByLabel("Email").fill("ann@setup.example");
    await operator.getByRole("button", { name: "Create invitation link" }).click();
    const link = await operator.getByTestId("invitation-link").inputValue();
    expect(link).toContain("/invite/");
    await operator.goto("/admin/invitations");
    await expect(operator.getByTestId("invitations")).toContainText("ann@setup.example");
    await expect(operator.getByTestId("invitations")).toContainText("Pending");

    const ann = await browser.newPage({ baseURL: fresh.url });
    await ann.goto(link);
    await expect(ann.getByTestId("invited-email")).toHaveText("ann@setup.example");
    await ann.getByLabel("Password").fill(PASSWORD);
    await ann.getByRole("button", { name: "Create account" }).click();
    await expect(ann).toHaveURL(/\/apps$/);
    await expect(ann.getByTestId("account-email")).toHaveText("ann@setup.example");
    await stranger.goto(link);
    await expect(stranger.getByTestId("link-problem")).toContainText("already used");
  });
});
