import type { ErrorCode, FieldError } from "./types.js";

/**
 * What `OAuthVaultError.code` can be: one of the API's error codes, or
 * `unexpected_response` for an answer that is not the vault's (a gateway's
 * HTML error page, a body that is not JSON).
 */
export type OAuthVaultErrorCode = ErrorCode | "unexpected_response";

/** What an `OAuthVaultError` is made of. */
export interface OAuthVaultErrorInit {
  status: number;
  code: OAuthVaultErrorCode;
  message: string;
  errors?: FieldError[];
  reconnectUrl?: string;
  retryAfter?: number;
  requestId?: string;
}

/**
 * An error answer of the vault's API. Branch on `code`, which is stable;
 * `message` is for people.
 */
export class OAuthVaultError extends Error {
  override readonly name = "OAuthVaultError";
  /** The HTTP status, e.g. 404. */
  readonly status: number;
  /** The stable error code, e.g. `not_found`. */
  readonly code: OAuthVaultErrorCode;
  /** With `validation_failed`: each field at fault (empty otherwise). */
  readonly errors: FieldError[];
  /** With `needs_reauthorization`: a link that lets the end user connect again, valid 30 minutes. */
  readonly reconnectUrl: string | undefined;
  /** Seconds to wait before retrying, from `Retry-After` (`rate_limited`, `provider_unavailable`, ...). */
  readonly retryAfter: number | undefined;
  /** The answer's `X-Request-Id`, when it has one. */
  readonly requestId: string | undefined;

  constructor(init: OAuthVaultErrorInit) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.errors = init.errors ?? [];
    this.reconnectUrl = init.reconnectUrl;
    this.retryAfter = init.retryAfter;
    this.requestId = init.requestId;
  }

  /**
   * The error an error answer of the API stands for. Reads the body: pass a
   * `response.clone()` if the body is still needed.
   */
  static async fromResponse(response: Response): Promise<OAuthVaultError> {
    const text = await response.text().catch(() => "");
    const detail = vaultErrorDetail(parseJson(text));
    const common = {
      status: response.status,
      retryAfter: retryAfterSeconds(response.headers.get("retry-after")),
      requestId: response.headers.get("x-request-id") ?? undefined,
    };
    if (!detail) {
      const snippet = text.trim().slice(0, 200);
      return new OAuthVaultError({
        ...common,
        code: "unexpected_response",
        message: `The server answered ${response.status}${snippet ? `: ${snippet}` : " without a body"}`,
      });
    }
    return new OAuthVaultError({
      ...common,
      code: detail.code as ErrorCode,
      message: detail.message,
      errors: Array.isArray(detail.errors) ? detail.errors : [],
      ...(typeof detail.reconnect_url === "string" && { reconnectUrl: detail.reconnect_url }),
    });
  }
}

interface Detail {
  code: string;
  message: string;
  errors?: FieldError[];
  reconnect_url?: string;
}

/** The `error` object of a body shaped like the vault's error bodies. */
export function vaultErrorDetail(body: unknown): Detail | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== "string" || typeof message !== "string") return undefined;
  return error as Detail;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
