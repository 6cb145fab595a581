#!/usr/bin/env node
// A vault to test API clients against: starts the fake providers and a fresh
// server, seeds it the way a developer would through the portal, runs one
// command against it and stops everything.
//
//   node clients/testbed/testbed.mjs CMD [ARGS...]
//
// The server is built beforehand (target/debug/oauth-vault and
// target/debug/examples/fake_attio; override with OAUTH_VAULT_BIN and
// FAKE_ATTIO_BIN). Its database is SQLite in a temporary folder, or the
// PostgreSQL database TESTBED_DATABASE_URL names (it must exist and be empty).
//
// Seeded: a developer account, an app with the providers `attio` (the fake
// Attio: long-lived tokens) and `fakeoauth` (a strict OAuth 2.0 server:
// expiring, rotating tokens) configured, an allowed return URL, an API key
// and a webhook endpoint with its signing secret.
//
// CMD runs with OV_TESTBED (a JSON file: baseUrl, apiKey, appId, returnUrl,
// webhookSecret, controlUrl, providers, configs) and the same values as
// OV_BASE_URL, OV_API_KEY, OV_WEBHOOK_SECRET, OV_CONTROL_URL and
// OV_RETURN_URL. The control server at controlUrl offers, for tests:
//   POST /consent   {"connect_url", "provider"}: opens the connect page as an
//                   end user's browser, picks the provider, approves at the
//                   fake and follows the redirects back; answers
//                   {"status", "connection_id", "location"}
//   GET  /webhooks?since=N&wait_ms=M: deliveries received so far, from index
//                   N, waiting up to M ms for one: {"deliveries": [{"index",
//                   "headers", "body"}]}
//   POST /hook      the webhook endpoint itself (answers 204)
//   GET  /return    the allowed return URL (answers 200)

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.OAUTH_VAULT_BIN || path.join(ROOT, "target/debug/oauth-vault");
const FAKE_BIN = process.env.FAKE_ATTIO_BIN || path.join(ROOT, "target/debug/examples/fake_attio");
const DEVELOPER = { email: "developer@testbed.example", password: "testbed password 0123" };

const children = [];
let dir = "";

function fail(message) {
  console.error(`testbed: ${message}`);
  stop();
  process.exit(1);
}

function stop() {
  for (const child of children) child.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Starts a program and resolves with what follows each prefix once printed. */
function start(bin, args, env, prefixes, logName) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    const found = {};
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`${logName} did not start in 30 s:\n${err}`)), 30_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      // complete lines only: a chunk may end mid-line
      for (const line of out.split("\n").slice(0, -1)) {
        for (const p of prefixes) if (line.startsWith(p) && !(p in found)) found[p] = line.slice(p.length).trim();
      }
      if (prefixes.every((p) => p in found)) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
      if (process.env.TESTBED_VERBOSE) process.stderr.write(chunk);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${logName} exited (${code}):\n${err}`));
    });
  });
}

/** A browser of its own: a cookie jar, no automatic redirects. */
class Browser {
  constructor() {
    this.cookies = new Map();
  }
  async request(url, { method = "GET", form, origin } = {}) {
    const headers = {};
    const jar = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (jar) headers.cookie = jar;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers.origin = origin ?? new URL(url).origin;
    }
    const res = await fetch(url, { method, headers, body, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/max-age=0/i.test(c) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
  async csrf(url) {
    const res = await this.request(url);
    const html = await res.text();
    const m = html.match(/name="csrf" value="([^"]+)"/);
    if (!m) throw new Error(`no CSRF field on ${url} (${res.status})`);
    return { html, csrf: m[1] };
  }
  /** Posts a form from `page` to `action` with the page's CSRF token. */
  async submit(page, action, fields) {
    const { csrf } = await this.csrf(page);
    return this.request(action, { method: "POST", form: [...fields, ["csrf", csrf]] });
  }
}

function expectStatus(res, wanted, what) {
  if (!wanted.includes(res.status)) throw new Error(`${what}: answered ${res.status}`);
}

function location(res, base) {
  const to = res.headers.get("location");
  if (!to) throw new Error(`no Location (status ${res.status})`);
  return new URL(to, base).toString();
}

/** Seeds the developer's account, app, providers, key and webhook. */
async function seed(baseUrl, controlUrl) {
  const dev = new Browser();
  const at = (p) => `${baseUrl}${p}`;
  let res = await dev.submit(at("/signup"), at("/signup"), [["email", DEVELOPER.email], ["password", DEVELOPER.password]]);
  expectStatus(res, [303], "sign-up");
  res = await dev.submit(at("/apps"), at("/apps"), [["name", "Testbed"]]);
  expectStatus(res, [303], "new app");
  const appId = new URL(location(res, baseUrl)).pathname.split("/").pop();
  const configs = {};
  const credentials = {
    attio: ["fake-attio-client", "fake-attio-secret-0123456789abcdef"],
    fakeoauth: ["fake-oauth-client", "fake-oauth-secret-0123456789abcdef"],
  };
  for (const [provider, [id, secret]] of Object.entries(credentials)) {
    const page = at(`/apps/${appId}/providers/new/${provider}`);
    const { html } = await dev.csrf(page);
    // the scopes the form ticks by default
    const scopes = [...html.matchAll(/<input[^>]*name="scopes"[^>]*>/g)]
      .map((m) => m[0])
      .filter((tag) => /\schecked/.test(tag))
      .map((tag) => tag.match(/value="([^"]+)"/)[1]);
    res = await dev.submit(page, page, [["client_id", id], ["client_secret", secret], ...scopes.map((s) => ["scopes", s])]);
    expectStatus(res, [303], `${provider} configuration`);
    configs[provider] = new URL(location(res, baseUrl)).pathname.split("/").pop();
  }
  const settings = at(`/apps/${appId}/settings`);
  const returnUrl = `${controlUrl}/return`;
  res = await dev.submit(settings, settings, [["_action", "return_urls"], ["return_urls", returnUrl]]);
  expectStatus(res, [303], "return URL");
  res = await dev.submit(settings, settings, [["_action", "webhook"], ["webhook_url", `${controlUrl}/hook`]]);
  expectStatus(res, [303], "webhook endpoint");
  res = await dev.submit(settings, settings, [["_action", "rotate_secret"]]);
  const webhookSecret = (await res.text()).match(/whsec_[A-Za-z0-9+/=]+/)?.[0];
  if (!webhookSecret) throw new Error("no webhook signing secret shown");
  const keys = at(`/apps/${appId}/api-keys`);
  res = await dev.submit(keys, keys, [["_action", "create"], ["name", "testbed"]]);
  expectStatus(res, [201], "API key");
  const apiKey = (await res.text()).match(/ovk_[A-Za-z0-9_-]+/)?.[0];
  if (!apiKey) throw new Error("no API key shown");
  return { appId, apiKey, returnUrl, webhookSecret, configs };
}

/** An end user's trip through the connect page and the fake's consent. */
async function consent(connectUrl, configId) {
  const user = new Browser();
  let res = await user.submit(connectUrl, connectUrl, [["provider_config", configId]]);
  expectStatus(res, [303], "connect page");
  let url = location(res, connectUrl);
  for (let hop = 0; hop < 10; hop += 1) {
    res = await user.request(url);
    if (res.status === 200 && new URL(url).origin !== new URL(connectUrl).origin) {
      // the fake Attio's consent page: follow its approve link
      const href = (await res.text()).match(/id="approve" href="([^"]+)"/)?.[1];
      if (!href) throw new Error(`no approve link at ${url}`);
      url = new URL(href.replaceAll("&amp;", "&"), url).toString();
      continue;
    }
    if (res.status >= 300 && res.status < 400) {
      const next = location(res, url);
      if (new URL(next).pathname === "/return") {
        const q = new URL(next).searchParams;
        return { status: q.get("status"), connection_id: q.get("connection_id"), error: q.get("error"), location: next };
      }
      url = next;
      continue;
    }
    return { status: "error", error: `unexpected ${res.status} at ${new URL(url).pathname}`, location: url };
  }
  return { status: "error", error: "too many redirects" };
}

/** The control server: webhook receiver, return URL and consent driver. */
function control(state) {
  const deliveries = [];
  const waiters = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url, "http://control");
    const json = (status, value) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    try {
      if (req.method === "POST" && url.pathname === "/hook") {
        deliveries.push({ index: deliveries.length, headers: req.headers, body });
        waiters.splice(0).forEach((w) => w());
        res.writeHead(204).end();
      } else if (req.method === "GET" && url.pathname === "/return") {
        res.writeHead(200, { "content-type": "text/plain" }).end("back at the app");
      } else if (req.method === "GET" && url.pathname === "/webhooks") {
        const since = Number(url.searchParams.get("since") || 0);
        const wait = Math.min(Number(url.searchParams.get("wait_ms") || 0), 30_000);
        const deadline = Date.now() + wait;
        while (deliveries.length <= since && Date.now() < deadline) {
          await new Promise((r) => {
            waiters.push(r);
            setTimeout(r, Math.max(0, deadline - Date.now()));
          });
        }
        json(200, { deliveries: deliveries.slice(since) });
      } else if (req.method === "POST" && url.pathname === "/consent") {
        const ask = JSON.parse(body || "{}");
        const config = state.configs?.[ask.provider || "fakeoauth"];
        if (!ask.connect_url || !config) return json(400, { error: "give connect_url and a provider of the testbed" });
        json(200, await consent(ask.connect_url, config));
      } else {
        json(404, { error: "no such route" });
      }
    } catch (e) {
      json(500, { error: String(e?.stack || e) });
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function main() {
  const command = process.argv.slice(2);
  if (command.length === 0) fail("usage: testbed.mjs CMD [ARGS...]");
  dir = mkdtempSync(path.join(tmpdir(), "ov-testbed-"));
  const state = {};
  const server = await control(state);
  server.unref();
  const controlUrl = `http://127.0.0.1:${server.address().port}`;
  const fake = await start(FAKE_BIN, ["--port", "0", "--catalogue-dir", path.join(dir, "providers"), "--with-fake-oauth"], {},
    ["Fake Attio is running at ", "Fake OAuth is running at "], "the fake providers");
  const hosts = [fake["Fake Attio is running at "], fake["Fake OAuth is running at "], controlUrl].map((u) => new URL(u).host);
  const env = {
    OAUTH_VAULT_DATA_DIR: dir,
    OAUTH_VAULT_BIND: "127.0.0.1:0",
    DATABASE_URL: process.env.TESTBED_DATABASE_URL || `sqlite://${dir}/oauth-vault.db`,
    OAUTH_VAULT_SIGNUP: "open",
    OAUTH_VAULT_PROVIDERS_DIR: path.join(dir, "providers"),
    OAUTH_VAULT_ALLOWED_HOSTS: hosts.join(","),
    OAUTH_VAULT_SITE_ROOT: process.env.OAUTH_VAULT_SITE_ROOT || path.join(ROOT, "target/site"),
    OAUTH_VAULT_API_RATE_LIMIT: process.env.OAUTH_VAULT_API_RATE_LIMIT || "0",
    RUST_LOG: process.env.RUST_LOG || "warn",
  };
  const started = await start(BIN, ["serve"], env, ["OAuth Vault is running at "], "the server");
  const baseUrl = started["OAuth Vault is running at "];
  Object.assign(state, await seed(baseUrl, controlUrl));
  const testbed = { baseUrl, controlUrl, providers: Object.keys(state.configs), ...state };
  const file = path.join(dir, "testbed.json");
  writeFileSync(file, JSON.stringify(testbed, null, 2));
  console.error(`testbed: a vault at ${baseUrl}, control at ${controlUrl}`);
  const child = spawn(command[0], command.slice(1), {
    stdio: "inherit",
    env: {
      ...process.env,
      OV_TESTBED: file,
      OV_BASE_URL: baseUrl,
      OV_API_KEY: state.apiKey,
      OV_WEBHOOK_SECRET: state.webhookSecret,
      OV_CONTROL_URL: controlUrl,
      OV_RETURN_URL: state.returnUrl,
    },
  });
  const code = await new Promise((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  stop();
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => { stop(); process.exit(1); });
main().catch((e) => fail(e?.stack || String(e)));
