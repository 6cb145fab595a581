import { OAuthVaultError } from "./errors.js";
import type {
  AccessToken,
  Connection,
  ConnectionList,
  ConnectSession,
  CreateSessionRequest,
  ListConnectionsQuery,
} from "./types.js";

export interface OAuthVaultOptions {
  /** An API key of the app, `ovk_…`. Keep it on your server. */
  apiKey: string;
  /** The vault's public URL, e.g. `https://vault.example.com`. */
  baseUrl: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
}

/** Options every call takes. */
export interface RequestOptions {
  /** Aborts the call (its promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface AccessTokenOptions extends RequestOptions {
  /** Refresh the token now, even if it is still fresh. */
  forceRefresh?: boolean;
}

type QueryValue = string | number | boolean | null | undefined;

/** A request to the provider's API through the vault. */
export interface ProxyInit extends RequestOptions {
  /** `GET` by default. */
  method?: string;
  /** Sent on to the provider, except hop-by-hop headers, cookies and `Authorization`. */
  headers?: HeadersInit;
  /** The body, as `fetch` takes it. */
  body?: BodyInit | null;
  /** A value to send as JSON (sets `Content-Type: application/json`); instead of `body`. */
  json?: unknown;
  /** Query parameters, added to any the path has. */
  query?: URLSearchParams | Record<string, QueryValue | readonly QueryValue[]>;
}

/**
 * A client of the vault's API for your backend.
 *
 * ```ts
 * const vault = new OAuthVault({ apiKey: process.env.OV_API_KEY!, baseUrl: "https://vault.example.com" });
 * const { access_token } = await vault.getAccessToken(connectionId);
 * ```
 *
 * Every method rejects with an {@link OAuthVaultError} when the API answers
 * with an error; network failures reject with what `fetch` threw.
 */
export class OAuthVault {
  readonly #apiKey: string;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;

  constructor(options: OAuthVaultOptions) {
    if (typeof options?.apiKey !== "string" || options.apiKey === "") {
      throw new TypeError("OAuthVault: give apiKey, an API key of the app (ovk_…)");
    }
    if (typeof options.baseUrl !== "string" || !/^https?:\/\//i.test(options.baseUrl)) {
      throw new TypeError("OAuthVault: give baseUrl, the vault's URL (https://…)");
    }
    this.#apiKey = options.apiKey;
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    // called unbound, as browsers want their global fetch
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Creates a connect session: a link that lets one end user connect (`POST /v1/connect/sessions`). */
  async createConnectSession(body: CreateSessionRequest, options?: RequestOptions): Promise<ConnectSession> {
    const response = await this.#call("POST", "/v1/connect/sessions", { ...options, json: body });
    return json<ConnectSession>(response);
  }

  /** One page of the app's connections, newest first (`GET /v1/connections`). */
  async listConnectionsPage(query: ListConnectionsQuery = {}, options?: RequestOptions): Promise<ConnectionList> {
    const response = await this.#call("GET", "/v1/connections", { ...options, query });
    return json<ConnectionList>(response);
  }

  /**
   * Every connection that matches, newest first, fetching page after page
   * as the loop goes on (`limit` sets the page size):
   *
   * ```ts
   * for await (const connection of vault.listConnections({ end_user_id: "user_42" })) { ... }
   * ```
   */
  async *listConnections(
    query: ListConnectionsQuery = {},
    options?: RequestOptions,
  ): AsyncGenerator<Connection, void, undefined> {
    let cursor = query.cursor ?? undefined;
    do {
      const page = await this.listConnectionsPage({ ...query, cursor }, options);
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** A connection, without tokens (`GET /v1/connections/{id}`). */
  async getConnection(id: string, options?: RequestOptions): Promise<Connection> {
    const response = await this.#call("GET", `/v1/connections/${segment(id)}`, options);
    return json<Connection>(response);
  }

  /**
   * A working access token of the connection, refreshed by the vault when
   * needed (`GET /v1/connections/{id}/access-token`). Fetch it when you need
   * it rather than storing it.
   */
  async getAccessToken(id: string, options: AccessTokenOptions = {}): Promise<AccessToken> {
    const { forceRefresh, ...rest } = options;
    const query = forceRefresh ? { force_refresh: "true" } : {};
    const response = await this.#call("GET", `/v1/connections/${segment(id)}/access-token`, { ...rest, query });
    return json<AccessToken>(response);
  }

  /**
   * Disconnects the connection: the vault revokes the grant at the
   * provider and deletes the tokens (`DELETE /v1/connections/{id}`).
   * Disconnecting a connection that already is disconnected succeeds too.
   */
  async disconnect(id: string, options?: RequestOptions): Promise<void> {
    try {
      const response = await this.#call("DELETE", `/v1/connections/${segment(id)}`, options);
      await response.body?.cancel();
    } catch (error) {
      if (error instanceof OAuthVaultError && error.code === "connection_revoked") return;
      throw error;
    }
  }

  /**
   * Calls the provider's API with the connection's token
   * (`/v1/proxy/{id}/{path}`): `path` is below the provider's API base, e.g.
   * `objects/people/records/query`. Resolves with the answer as it is, of
   * any status (redirects are not followed); see {@link vaultErrorOf} to
   * tell the vault's own refusals from the provider's answers.
   */
  async proxy(id: string, path: string, init: ProxyInit = {}): Promise<Response> {
    const { method = "GET", headers, body, json: value, query, signal } = init;
    // the path's own query goes as written; `query` is added to it
    const [rawPath, rawQuery = ""] = path.replace(/^\/+/, "").split(/\?(.*)/s, 2) as [string, string?];
    const search = new URLSearchParams();
    appendQuery(search, query);
    const qs = [rawQuery, search.toString()].filter(Boolean).join("&");
    const request: RequestInit & { duplex?: "half" } = {
      method: method.toUpperCase(),
      headers: new Headers(headers),
      // the provider's redirects come back as they are, not followed
      redirect: "manual",
      ...(signal && { signal }),
    };
    if (value !== undefined) {
      request.body = JSON.stringify(value);
      (request.headers as Headers).set("content-type", "application/json");
    } else if (body !== undefined && body !== null) {
      request.body = body;
      // Node's fetch wants this for streamed bodies
      if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) request.duplex = "half";
    }
    return this.#send(`/v1/proxy/${segment(id)}/${rawPath}${qs ? `?${qs}` : ""}`, request);
  }

  /** Sends a call and rejects with an `OAuthVaultError` unless the answer is a success. */
  async #call(
    method: string,
    path: string,
    options: RequestOptions & { query?: ProxyInit["query"]; json?: unknown } = {},
  ): Promise<Response> {
    const search = new URLSearchParams();
    appendQuery(search, options.query);
    const headers = new Headers({ accept: "application/json" });
    const init: RequestInit = { method, headers, ...(options.signal && { signal: options.signal }) };
    if (options.json !== undefined) {
      headers.set("content-type", "application/json");
      init.body = JSON.stringify(options.json);
    }
    const qs = search.toString();
    const response = await this.#send(`${path}${qs ? `?${qs}` : ""}`, init);
    if (!response.ok) throw await OAuthVaultError.fromResponse(response);
    return response;
  }

  #send(pathAndQuery: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.#apiKey}`);
    return this.#fetch(`${this.#baseUrl}${pathAndQuery}`, { ...init, headers });
  }
}

/**
 * The vault's own error in a proxied answer, if it is one: the vault marks
 * its errors with the `OAuth-Vault-Error` header (and never passes a
 * provider's header of that name on), so a provider's own answers, whatever
 * their status or body, are never taken for the vault's. Reads a clone: the
 * response's body stays unread.
 */
export async function vaultErrorOf(response: Response): Promise<OAuthVaultError | undefined> {
  if (response.ok || !response.headers.has("oauth-vault-error")) return undefined;
  return OAuthVaultError.fromResponse(response.clone());
}

/** A path segment: ids are encoded so they cannot change the route. */
function segment(id: string): string {
  if (typeof id !== "string" || id === "") throw new TypeError("OAuthVault: give a connection id");
  return encodeURIComponent(id);
}

function appendQuery(search: URLSearchParams, query: ProxyInit["query"]): void {
  if (!query) return;
  if (query instanceof URLSearchParams) {
    for (const [key, value] of query) search.append(key, value);
    return;
  }
  for (const [key, value] of Object.entries(query)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values as QueryValue[]) {
      if (v !== undefined && v !== null) search.append(key, String(v));
    }
  }
}

async function json<T>(response: Response): Promise<T> {
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new OAuthVaultError({
      status: response.status,
      code: "unexpected_response",
      message: `The server answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
      ...(response.headers.get("x-request-id") && { requestId: response.headers.get("x-request-id")! }),
    });
  }
}
