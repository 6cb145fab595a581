import { defineConfig, devices } from "@playwright/test";

// The server under test is started by scripts/test (once per database) and
// its address passed in BASE_URL. Browsers are the system's Chromium: the
// project never downloads a browser of its own.
const baseURL = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const browser = {
  ...devices["Desktop Chrome"],
  launchOptions: {
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  },
};

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  // Spec files run two at a time (each test makes its own account and app);
  // the tests of one file run in order.
  fullyParallel: false,
  workers: Number(process.env.PW_WORKERS ?? 2),
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"], ["json", { outputFile: process.env.PW_JSON ?? "test-results/results.json" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  // The link crawl runs beside the other specs: they only add to what it
  // walks (each makes its own account and app, and deletes only an app with
  // nothing an administrator's page links to).
  projects: [
    { name: "chromium", use: browser },
  ],
});
