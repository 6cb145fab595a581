// Against a real vault: run inside the testbed, which sets OV_TESTBED,
//   node clients/testbed/testbed.mjs clients/typescript/run-tests
// Without it these tests are skipped here, and `npm run test:integration`
// refuses to run.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, test } from "node:test";
import { OAuthVault, OAuthVaultError, vaultErrorOf, verifyWebhook, WebhookVerificationError } from "@oauth-vault/client";
import type { WebhookEvent } from "@oauth-vault/client";

interface Testbed {
  baseUrl: string;
  apiKey: string;
  appId: string;
  returnUrl: string;
  webhookSecret: string;
  controlUrl: string;
  providers: string[];
}

interface Delivery {
  index: number;
  headers: Record<string, string>;
  body: string;
}

const file = process.env.OV_TESTBED;
const skip = file
  ? false
  : "OV_TESTBED is not set: run inside the testbed, node clients/testbed/testbed.mjs clients/typescript/run-tests";
const testbed: Testbed = file ? JSON.parse(readFileSync(file, "utf8")) : ({} as Testbed);

async function caught(promise: Promise<unknown>): Promise<OAuthVaultError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OAuthVaultError, `not an OAuthVaultError: ${error}`);
    return error;
  }
  assert.fail("it did not reject");
}

/** Has the testbed play the end user: the connect page, then the provider's consent. */
async function consent(connectUrl: string, provider: string): Promise<string> {
  const response = await fetch(`${testbed.controlUrl}/consent`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ connect_url: connectUrl, provider }),
  });
  const outcome = (await response.json()) as { status: string; connection_id?: string; error?: string };
  assert.equal(outcome.status, "success", `the consent failed: ${JSON.stringify(outcome)}`);
  assert.ok(outcome.connection_id);
  return outcome.connection_id;
}

/** The first delivery the testbed's receiver got that `wanted` accepts, waiting for it. */
async function delivery(wanted: (event: WebhookEvent) => boolean, waitMs = 45_000): Promise<Delivery> {
  const deadline = Date.now() + waitMs;
  let since = 0;
  while (Date.now() < deadline) {
    const wait = Math.min(10_000, Math.max(0, deadline - Date.now()));
    const response = await fetch(`${testbed.controlUrl}/webhooks?since=${since}&wait_ms=${wait}`);
    const { deliveries } = (await response.json()) as { deliveries: Delivery[] };
    for (const d of deliveries) {
      since = d.index + 1;
      if (wanted(JSON.parse(d.body) as WebhookEvent)) return d;
    }
  }
  assert.fail("no such webhook delivery arrived in time");
}

describe("the client against the testbed's vault", { skip }, () => {
  let vault: OAuthVault;
  // an end user of this run only
  const endUser = `ts-client-${Date.now().toString(36)}`;
  const connections: string[] = [];

  before(() => {
    vault = new OAuthVault({ apiKey: testbed.apiKey, baseUrl: testbed.baseUrl });
  });

  test("creates a connect session", async () => {
    const session = await vault.createConnectSession({ end_user_id: endUser, providers: ["fakeoauth"] });
    assert.ok(session.token.length > 10);
    assert.ok(session.connect_url.startsWith(testbed.baseUrl), session.connect_url);
    assert.ok(session.connect_url.endsWith(session.token));
    assert.ok(Date.parse(session.expires_at) > Date.now());
  });

  test("connects the end user through the fake providers", async () => {
    // the same end user and provider account would come back as the same
    // connection: two providers make two
    for (const provider of ["fakeoauth", "attio"]) {
      const session = await vault.createConnectSession({
        end_user_id: endUser,
        end_user_name: "Ada Lovelace",
        providers: [provider],
        return_url: testbed.returnUrl,
      });
      connections.push(await consent(session.connect_url, provider));
    }
    assert.notEqual(connections[0], connections[1]);
  });

  test("gets a connection", async () => {
    const connection = await vault.getConnection(connections[0]!);
    assert.equal(connection.id, connections[0]);
    assert.equal(connection.provider, "fakeoauth");
    assert.equal(connection.status, "active");
    assert.equal(connection.end_user.id, endUser);
    assert.equal(connection.end_user.name, "Ada Lovelace");
  });

  test("lists connections across pages", async () => {
    const pages: string[] = [];
    const counting = new OAuthVault({
      apiKey: testbed.apiKey,
      baseUrl: testbed.baseUrl,
      fetch: (input, init) => {
        pages.push(String(input));
        return fetch(input, init);
      },
    });
    const ids: string[] = [];
    for await (const c of counting.listConnections({ end_user_id: endUser, limit: 1 })) ids.push(c.id);
    // newest first
    assert.deepEqual(ids, [...connections].reverse());
    assert.ok(pages.length >= 2, `fetched ${pages.length} page(s)`);
    assert.ok(pages.slice(1).every((url) => new URL(url).searchParams.has("cursor")));
    const first = await vault.listConnectionsPage({ end_user_id: endUser, limit: 1 });
    assert.equal(first.data.length, 1);
    assert.ok(first.next_cursor);
  });

  test("gets an access token, and a new one when forced", async () => {
    const token = await vault.getAccessToken(connections[0]!);
    assert.ok(token.access_token);
    assert.equal(token.token_type.toLowerCase(), "bearer");
    assert.ok(token.expires_at && Date.parse(token.expires_at) > Date.now());
    const refreshed = await vault.getAccessToken(connections[0]!, { forceRefresh: true });
    assert.notEqual(refreshed.access_token, token.access_token);
    const again = await vault.getAccessToken(connections[0]!);
    assert.equal(again.access_token, refreshed.access_token);
  });

  test("calls the provider's API through the proxy", async () => {
    const response = await vault.proxy(connections[0]!, "whatever", { query: { page: 2 } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-fake"), "yes");
    assert.equal(await vaultErrorOf(response), undefined);
    const echo = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(echo, { ok: true, method: "GET", path: "/whatever", query: "page=2", body_len: 0 });
    const posted = await vault.proxy(connections[0]!, "/records", { method: "POST", json: { name: "Ada" } });
    const echoed = (await posted.json()) as Record<string, unknown>;
    assert.equal(echoed.method, "POST");
    assert.equal(echoed.path, "/records");
    assert.equal(echoed.body_len, JSON.stringify({ name: "Ada" }).length);
  });

  test("verifies the connection.created webhook", { timeout: 60_000 }, async () => {
    const d = await delivery((e) => e.type === "connection.created" && e.data.connection_id === connections[0]);
    const event = await verifyWebhook({ payload: d.body, headers: d.headers, secret: testbed.webhookSecret });
    assert.equal(event.type, "connection.created");
    assert.equal(event.data.connection_id, connections[0]);
    assert.equal(event.data.end_user_id, endUser);
    assert.equal(event.data.provider, "fakeoauth");
    const tampered = d.body.replace(endUser, `${endUser}x`);
    assert.notEqual(tampered, d.body);
    await assert.rejects(
      verifyWebhook({ payload: tampered, headers: d.headers, secret: testbed.webhookSecret }),
      (e: unknown) => e instanceof WebhookVerificationError && e.reason === "invalid_signature",
    );
  });

  test("disconnects: the connection then answers 410 connection_revoked, and disconnecting again succeeds", async () => {
    const id = connections[0]!;
    await vault.disconnect(id);
    const gone = await caught(vault.getConnection(id));
    assert.equal(gone.status, 410);
    assert.equal(gone.code, "connection_revoked");
    const token = await caught(vault.getAccessToken(id));
    assert.equal(token.code, "connection_revoked");
    const proxied = await vault.proxy(id, "whatever");
    assert.equal(proxied.status, 410);
    assert.equal((await vaultErrorOf(proxied))?.code, "connection_revoked");
    await vault.disconnect(id);
  });

  test("lists revoked connections only when asked", async () => {
    const listed: string[] = [];
    for await (const c of vault.listConnections({ end_user_id: endUser })) listed.push(c.id);
    assert.deepEqual(listed, [connections[1]]);
    const revoked: string[] = [];
    for await (const c of vault.listConnections({ end_user_id: endUser, status: "revoked" })) revoked.push(c.id);
    assert.deepEqual(revoked, [connections[0]]);
  });

  test("an unknown connection is not_found", async () => {
    const error = await caught(vault.getConnection("conn_does_not_exist"));
    assert.equal(error.status, 404);
    assert.equal(error.code, "not_found");
  });

  test("a bad API key is unauthorized", async () => {
    const stranger = new OAuthVault({ apiKey: "ovk_not_a_key_of_this_vault", baseUrl: testbed.baseUrl });
    const error = await caught(stranger.listConnectionsPage());
    assert.equal(error.status, 401);
    assert.equal(error.code, "unauthorized");
  });

  test("a return URL the app does not allow is a validation error", async () => {
    const error = await caught(
      vault.createConnectSession({ end_user_id: endUser, return_url: "https://not-allowed.test/back" }),
    );
    assert.equal(error.status, 422);
    assert.equal(error.code, "validation_failed");
    assert.equal(error.errors[0]?.field, "return_url");
  });
});
