import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OAuthVault, OAuthVaultError, vaultErrorOf } from "@oauth-vault/client";
import type { Connection } from "@oauth-vault/client";

interface Seen {
  url: URL;
  method: string;
  headers: Headers;
  body: string | undefined;
}

/** A fetch that answers from a list and remembers what it was asked. */
function fakeFetch(...answers: Array<Response | ((seen: Seen) => Response)>) {
  const seen: Seen[] = [];
  const fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = { url: new URL(String(input)), method: init.method ?? "GET", headers: new Headers(init.headers), body: init.body == null ? undefined : String(init.body) };
    seen.push(request);
    const answer = answers.shift();
    if (!answer) throw new Error(`no answer left for ${request.method} ${request.url}`);
    return typeof answer === "function" ? answer(request) : answer;
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function apiError(status: number, code: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return json(status, { error: { code, message, ...extra } }, { "oauth-vault-error": code, ...headers });
}

function vault(fetch: typeof globalThis.fetch) {
  return new OAuthVault({ apiKey: "ovk_test", baseUrl: "https://vault.test/", fetch });
}

async function caught(promise: Promise<unknown>): Promise<OAuthVaultError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OAuthVaultError, `not an OAuthVaultError: ${error}`);
    return error;
  }
  assert.fail("it did not reject");
}

function connection(id: string): Connection {
  return {
    id,
    provider: "fakeoauth",
    provider_config_id: "pc_1",
    status: "active",
    end_user: { id: "user_42", name: null, email: null },
    account: { id: "acct", name: null, slug: null, picture_url: null },
    scopes: { granted: ["read"], configured: ["read"], missing: [] },
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
    last_refreshed_at: null,
    last_used_at: null,
    last_health_check_at: null,
  };
}

describe("requests", () => {
  test("carry the API key and go below the base URL", async () => {
    const { fetch, seen } = fakeFetch(json(201, { token: "t", connect_url: "https://vault.test/connect/t", expires_at: "2025-01-01T00:30:00Z" }));
    const session = await vault(fetch).createConnectSession({ end_user_id: "user_42", providers: ["attio"] });
    assert.equal(session.connect_url, "https://vault.test/connect/t");
    const [request] = seen;
    assert.equal(request?.method, "POST");
    assert.equal(request?.url.href, "https://vault.test/v1/connect/sessions");
    assert.equal(request?.headers.get("authorization"), "Bearer ovk_test");
    assert.equal(request?.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(request?.body ?? ""), { end_user_id: "user_42", providers: ["attio"] });
  });

  test("encode ids and ask for a forced refresh", async () => {
    const token = { access_token: "a", token_type: "Bearer", expires_at: null, scopes: [], account: connection("c").account };
    const { fetch, seen } = fakeFetch(json(200, token), json(200, token), json(200, connection("c/1")));
    const client = vault(fetch);
    await client.getAccessToken("conn_1");
    await client.getAccessToken("conn_1", { forceRefresh: true });
    await client.getConnection("c/1");
    assert.equal(seen[0]?.url.href, "https://vault.test/v1/connections/conn_1/access-token");
    assert.equal(seen[1]?.url.href, "https://vault.test/v1/connections/conn_1/access-token?force_refresh=true");
    assert.equal(seen[2]?.url.pathname, "/v1/connections/c%2F1");
  });

  test("the constructor wants an API key and a URL", () => {
    assert.throws(() => new OAuthVault({ apiKey: "", baseUrl: "https://vault.test" }), TypeError);
    assert.throws(() => new OAuthVault({ apiKey: "ovk_x", baseUrl: "vault.test" }), TypeError);
  });
});

describe("listConnections", () => {
  test("follows next_cursor across pages", async () => {
    const { fetch, seen } = fakeFetch(
      json(200, { data: [connection("c1"), connection("c2")], next_cursor: "page2" }),
      json(200, { data: [connection("c3")], next_cursor: null }),
    );
    const ids: string[] = [];
    for await (const c of vault(fetch).listConnections({ end_user_id: "user_42", limit: 2 })) ids.push(c.id);
    assert.deepEqual(ids, ["c1", "c2", "c3"]);
    assert.equal(seen[0]?.url.search, "?end_user_id=user_42&limit=2");
    assert.equal(seen[1]?.url.search, "?end_user_id=user_42&limit=2&cursor=page2");
  });

  test("stops fetching when the loop stops", async () => {
    const { fetch, seen } = fakeFetch(json(200, { data: [connection("c1"), connection("c2")], next_cursor: "page2" }));
    for await (const c of vault(fetch).listConnections()) {
      assert.equal(c.id, "c1");
      break;
    }
    assert.equal(seen.length, 1);
  });

  test("listConnectionsPage answers one page", async () => {
    const { fetch, seen } = fakeFetch(json(200, { data: [connection("c1")], next_cursor: "next" }));
    const page = await vault(fetch).listConnectionsPage({ cursor: "abc", provider: "attio" });
    assert.equal(page.next_cursor, "next");
    assert.equal(seen[0]?.url.search, "?cursor=abc&provider=attio");
  });
});

describe("errors", () => {
  test("a bad API key is unauthorized", async () => {
    const { fetch } = fakeFetch(apiError(401, "unauthorized", "Send a valid API key", {}, { "www-authenticate": "Bearer" }));
    const error = await caught(vault(fetch).getConnection("conn_1"));
    assert.equal(error.status, 401);
    assert.equal(error.code, "unauthorized");
    assert.equal(error.message, "Send a valid API key");
    assert.equal(error.name, "OAuthVaultError");
    assert.ok(error instanceof Error);
  });

  test("field errors, the request id", async () => {
    const { fetch } = fakeFetch(
      apiError(422, "validation_failed", "return_url: not allowed", { errors: [{ field: "return_url", message: "not allowed" }] }, { "x-request-id": "req_9" }),
    );
    const error = await caught(vault(fetch).createConnectSession({ end_user_id: "u", return_url: "https://evil.test" }));
    assert.equal(error.code, "validation_failed");
    assert.deepEqual(error.errors, [{ field: "return_url", message: "not allowed" }]);
    assert.equal(error.requestId, "req_9");
    assert.equal(error.retryAfter, undefined);
  });

  test("a reconnect link", async () => {
    const { fetch } = fakeFetch(apiError(409, "needs_reauthorization", "Reconnect", { reconnect_url: "https://vault.test/connect/r" }));
    const error = await caught(vault(fetch).getAccessToken("conn_1"));
    assert.equal(error.code, "needs_reauthorization");
    assert.equal(error.reconnectUrl, "https://vault.test/connect/r");
  });

  test("Retry-After in seconds or as a date", async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    const { fetch } = fakeFetch(
      apiError(429, "rate_limited", "Slow down", {}, { "retry-after": "7" }),
      apiError(503, "provider_unavailable", "Later", {}, { "retry-after": at }),
    );
    const client = vault(fetch);
    const limited = await caught(client.getConnection("c"));
    assert.equal(limited.code, "rate_limited");
    assert.equal(limited.retryAfter, 7);
    const unavailable = await caught(client.getAccessToken("c"));
    assert.ok(unavailable.retryAfter !== undefined && unavailable.retryAfter >= 28 && unavailable.retryAfter <= 31);
  });

  test("an answer that is not the vault's", async () => {
    const { fetch } = fakeFetch(new Response("<html>Bad gateway</html>", { status: 502, headers: { "content-type": "text/html" } }));
    const error = await caught(vault(fetch).getConnection("c"));
    assert.equal(error.status, 502);
    assert.equal(error.code, "unexpected_response");
    assert.match(error.message, /Bad gateway/);
  });

  test("network failures come as fetch threw them", async () => {
    const failure = new TypeError("fetch failed");
    const fetch = (async () => {
      throw failure;
    }) as typeof globalThis.fetch;
    await assert.rejects(vault(fetch).getConnection("c"), (error) => error === failure);
  });
});

describe("disconnect", () => {
  test("succeeds, and succeeds again on a connection already revoked", async () => {
    const { fetch, seen } = fakeFetch(new Response(null, { status: 204 }), apiError(410, "connection_revoked", "Disconnected"));
    const client = vault(fetch);
    await client.disconnect("conn_1");
    await client.disconnect("conn_1");
    assert.equal(seen[0]?.method, "DELETE");
    assert.equal(seen[0]?.url.pathname, "/v1/connections/conn_1");
  });

  test("an unknown connection is an error", async () => {
    const { fetch } = fakeFetch(apiError(404, "not_found", "No connection"));
    const error = await caught(vault(fetch).disconnect("nope"));
    assert.equal(error.code, "not_found");
  });
});

describe("proxy", () => {
  test("sends method, path, query, headers and JSON; answers the provider's response as it is", async () => {
    const { fetch, seen } = fakeFetch(json(404, { error: "no such record" }, { "x-provider": "yes" }));
    const response = await vault(fetch).proxy("conn_1", "/objects/people?a=1%20b&d=x/y", {
      method: "post",
      headers: { "x-custom": "1" },
      json: { name: "Ada" },
      query: { b: 2, c: ["x", "y"], skipped: undefined },
    });
    assert.equal(response.status, 404);
    assert.equal(response.headers.get("x-provider"), "yes");
    assert.deepEqual(await response.json(), { error: "no such record" });
    const [request] = seen;
    assert.equal(request?.method, "POST");
    assert.equal(request?.url.href, "https://vault.test/v1/proxy/conn_1/objects/people?a=1%20b&d=x/y&b=2&c=x&c=y");
    assert.equal(request?.headers.get("authorization"), "Bearer ovk_test");
    assert.equal(request?.headers.get("x-custom"), "1");
    assert.equal(request?.headers.get("content-type"), "application/json");
    assert.equal(request?.body, '{"name":"Ada"}');
  });

  test("vaultErrorOf tells the vault's errors from the provider's answers by their header, leaving the body unread", async () => {
    const { fetch } = fakeFetch(
      apiError(410, "connection_revoked", "Disconnected"),
      json(404, { error: "not_found" }),
      // a provider's error of the vault's very shape, without the vault's mark
      json(404, { error: { code: "not_found", message: "Record not found" } }),
      json(200, { error: { code: "not_found", message: "a provider's 200" } }),
    );
    const client = vault(fetch);
    const revoked = await client.proxy("c", "x");
    const error = await vaultErrorOf(revoked);
    assert.equal(error?.code, "connection_revoked");
    assert.equal(error?.status, 410);
    assert.equal((await revoked.json()).error.code, "connection_revoked");
    for (let i = 0; i < 3; i += 1) assert.equal(await vaultErrorOf(await client.proxy("c", "x")), undefined);
  });
});
