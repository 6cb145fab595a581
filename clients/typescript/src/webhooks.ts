// Verifying the vault's webhooks, signed per the Standard Webhooks
// specification: `webhook-id`, `webhook-timestamp` (Unix seconds) and
// `webhook-signature` (`v1,<base64 HMAC-SHA256>`, several separated by
// spaces) over `{id}.{timestamp}.{body}`, keyed with the base64 part of the
// app's `whsec_…` secret. Uses WebCrypto: Node 20, browsers, edge runtimes.

/** The events of a connection. */
export type ConnectionEventType =
  | "connection.created"
  | "connection.reauthorized"
  | "connection.refresh_failed"
  | "connection.needs_reauthorization"
  | "connection.recovered"
  | "connection.scope_mismatch"
  | "connection.deleted";

/** What a connection event tells. */
export interface ConnectionEventData {
  connection_id: string;
  app_id: string;
  end_user_id: string | null;
  /** The provider id, e.g. `attio`. */
  provider: string | null;
  /** For people: what happened. */
  message: string;
}

/** A webhook's body. */
export type WebhookEvent =
  | { type: ConnectionEventType; /** RFC 3339 */ timestamp: string; data: ConnectionEventData }
  | { type: "test"; timestamp: string; data: { message: string } };

/** Why a webhook was refused. */
export type WebhookVerificationReason =
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent. */
  | "missing_header"
  /** `webhook-timestamp` is not a number of seconds. */
  | "invalid_timestamp"
  /** Older than the tolerance: maybe replayed. */
  | "timestamp_too_old"
  /** Further in the future than the tolerance. */
  | "timestamp_too_new"
  /** No `v1` signature matches: another secret, or a changed body. */
  | "invalid_signature"
  /** Signed, but the body is not a JSON object. */
  | "invalid_payload";

/** A webhook that must not be trusted; answer it with a 4xx. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  readonly reason: WebhookVerificationReason;

  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface VerifyWebhookOptions {
  /** The body exactly as received, before any JSON parsing. */
  payload: string | Uint8Array;
  /** The request's headers: a `Headers` or a record such as Node's `req.headers`. */
  headers: Headers | Record<string, string | readonly string[] | undefined>;
  /** The app's signing secret, `whsec_…`. */
  secret: string;
  /** Seconds the timestamp may be off the clock, either way; 300 by default. */
  tolerance?: number;
}

const PREFIX = "whsec_";
const encoder = new TextEncoder();

/**
 * Checks a webhook's signature and timestamp and returns its parsed body;
 * rejects with a {@link WebhookVerificationError} if it must not be trusted,
 * and with a `TypeError` if the secret is not a signing secret. Signatures
 * are compared by WebCrypto's `verify`, in constant time.
 */
export async function verifyWebhook(options: VerifyWebhookOptions): Promise<WebhookEvent> {
  const { payload, headers, secret, tolerance = 300 } = options;
  const key = await importSecret(secret);
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      "missing_header",
      "The webhook-id, webhook-timestamp and webhook-signature headers are required",
    );
  }
  if (!/^\d{1,15}$/.test(timestamp)) {
    throw new WebhookVerificationError("invalid_timestamp", "webhook-timestamp is not a number of seconds");
  }
  const skew = Math.floor(Date.now() / 1000) - Number(timestamp);
  if (skew > tolerance) {
    throw new WebhookVerificationError("timestamp_too_old", `The webhook is ${skew} s old (tolerance ${tolerance} s)`);
  }
  if (-skew > tolerance) {
    throw new WebhookVerificationError(
      "timestamp_too_new",
      `The webhook is ${-skew} s ahead of this clock (tolerance ${tolerance} s)`,
    );
  }
  const body = typeof payload === "string" ? encoder.encode(payload) : payload;
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix);
  signed.set(body, prefix.length);
  let valid = false;
  // every candidate is checked, valid or not, so that the time taken
  // does not tell which one matched
  for (const candidate of signatures.split(/\s+/)) {
    const [version, value] = candidate.replace(/,$/, "").split(",", 2);
    const signature = version === "v1" && value ? base64(value) : undefined;
    if (signature && (await crypto.subtle.verify("HMAC", key, signature, signed))) valid = true;
  }
  if (!valid) {
    throw new WebhookVerificationError("invalid_signature", "No v1 signature of the webhook matches the secret");
  }
  let event: unknown;
  try {
    event = JSON.parse(typeof payload === "string" ? payload : new TextDecoder().decode(payload));
  } catch {
    event = undefined;
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new WebhookVerificationError("invalid_payload", "The webhook's body is not a JSON object");
  }
  return event as WebhookEvent;
}

async function importSecret(secret: string): Promise<CryptoKey> {
  const bytes = typeof secret === "string" ? base64(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret) : undefined;
  if (!bytes || bytes.length === 0) {
    throw new TypeError("verifyWebhook: the secret must be the app's signing secret, whsec_ and base64");
  }
  return crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
}

/** One header's value, whatever the case of its name; repeated ones joined. */
function header(headers: VerifyWebhookOptions["headers"], name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") {
    return (headers as Headers).get(name)?.trim() || undefined;
  }
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    values.push(...(typeof value === "string" ? [value] : value));
  }
  return values.join(" ").trim() || undefined;
}

function base64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}
