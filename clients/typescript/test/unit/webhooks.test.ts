import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, test } from "node:test";
import { verifyWebhook, WebhookVerificationError } from "@oauth-vault/client";
import type { WebhookVerificationReason } from "@oauth-vault/client";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET = "whsec_" + Buffer.from("another key, another app").toString("base64");

/** Signs like the vault, with Node's own HMAC. */
function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return "v1," + createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
}

function delivery(body: string, options: { secret?: string; timestamp?: number; id?: string } = {}) {
  const id = options.id ?? "msg_2b1c";
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    payload: body,
    headers: {
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": sign(options.secret ?? SECRET, id, timestamp, body),
    } as Record<string, string>,
    secret: SECRET,
  };
}

const event = JSON.stringify({
  type: "connection.created",
  timestamp: "2025-01-02T03:04:05Z",
  data: { connection_id: "conn_1", app_id: "app_1", end_user_id: "user_42", provider: "fakeoauth", message: "Connected" },
});

async function refused(promise: Promise<unknown>, reason: WebhookVerificationReason): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof WebhookVerificationError, `not a WebhookVerificationError: ${error}`);
    assert.equal(error.reason, reason);
    return true;
  });
}

describe("verifyWebhook", () => {
  test("accepts the Standard Webhooks specification's example", async () => {
    const body = '{"test": 2432232314}';
    const parsed = await verifyWebhook({
      payload: body,
      headers: {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
      },
      secret: SECRET,
      tolerance: Infinity,
    });
    assert.deepEqual(parsed, { test: 2432232314 });
  });

  test("returns the parsed event of a valid signature", async () => {
    const parsed = await verifyWebhook(delivery(event));
    assert.equal(parsed.type, "connection.created");
    assert.equal(parsed.data.message, "Connected");
    assert.equal(parsed.data.connection_id, "conn_1");
  });

  test("takes the body as bytes and the headers as a Headers", async () => {
    const d = delivery(event);
    const parsed = await verifyWebhook({
      payload: new TextEncoder().encode(event),
      headers: new Headers(d.headers),
      secret: SECRET,
    });
    assert.equal(parsed.type, "connection.created");
  });

  test("finds headers whatever the case of their names, and takes the secret without its prefix", async () => {
    const d = delivery(event);
    const headers = Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k.toUpperCase(), v]));
    const parsed = await verifyWebhook({ payload: event, headers, secret: SECRET.slice("whsec_".length) });
    assert.equal(parsed.type, "connection.created");
  });

  test("refuses a tampered body", async () => {
    const d = delivery(event);
    await refused(verifyWebhook({ ...d, payload: event.replace("user_42", "user_43") }), "invalid_signature");
  });

  test("refuses a tampered id or timestamp", async () => {
    const d = delivery(event);
    await refused(verifyWebhook({ ...d, headers: { ...d.headers, "webhook-id": "msg_other" } }), "invalid_signature");
    const later = String(Number(d.headers["webhook-timestamp"]) + 1);
    await refused(verifyWebhook({ ...d, headers: { ...d.headers, "webhook-timestamp": later } }), "invalid_signature");
  });

  test("refuses a signature made with another secret", async () => {
    await refused(verifyWebhook(delivery(event, { secret: OTHER_SECRET })), "invalid_signature");
  });

  test("refuses an old timestamp, and one from the future", async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(verifyWebhook(delivery(event, { timestamp: now - 301 })), "timestamp_too_old");
    await refused(verifyWebhook(delivery(event, { timestamp: now + 301 })), "timestamp_too_new");
    // within the tolerance, either way
    await verifyWebhook(delivery(event, { timestamp: now - 290 }));
    await verifyWebhook(delivery(event, { timestamp: now + 290 }));
  });

  test("takes a tolerance of its own", async () => {
    const now = Math.floor(Date.now() / 1000);
    const d = delivery(event, { timestamp: now - 30 });
    await refused(verifyWebhook({ ...d, tolerance: 10 }), "timestamp_too_old");
    await verifyWebhook({ ...d, tolerance: 60 });
  });

  test("accepts a list of signatures of which one is valid", async () => {
    const d = delivery(event);
    const valid = d.headers["webhook-signature"]!;
    const wrong = sign(OTHER_SECRET, "msg_2b1c", Number(d.headers["webhook-timestamp"]), event);
    const signatures = `v1a,ignored ${wrong} v2,${valid.slice(3)} v1,not-base64!! ${valid}`;
    const parsed = await verifyWebhook({ ...d, headers: { ...d.headers, "webhook-signature": signatures } });
    assert.equal(parsed.type, "connection.created");
    // the same list without the valid one
    const invalid = signatures.replace(` ${valid}`, "");
    await refused(verifyWebhook({ ...d, headers: { ...d.headers, "webhook-signature": invalid } }), "invalid_signature");
  });

  test("accepts repeated signature headers, as Headers joins them", async () => {
    const d = delivery(event);
    const wrong = sign(OTHER_SECRET, "msg_2b1c", Number(d.headers["webhook-timestamp"]), event);
    const headers = new Headers(d.headers);
    headers.set("webhook-signature", wrong);
    headers.append("webhook-signature", d.headers["webhook-signature"]!);
    const parsed = await verifyWebhook({ ...d, headers });
    assert.equal(parsed.type, "connection.created");
  });

  test("refuses missing headers and a timestamp that is not a number", async () => {
    const d = delivery(event);
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const headers = { ...d.headers };
      delete headers[name];
      await refused(verifyWebhook({ ...d, headers }), "missing_header");
    }
    const headers = { ...d.headers, "webhook-timestamp": "2025-01-01T00:00:00Z" };
    await refused(verifyWebhook({ ...d, headers }), "invalid_timestamp");
  });

  test("refuses a signed body that is not a JSON object", async () => {
    await refused(verifyWebhook(delivery("not json")), "invalid_payload");
  });

  test("rejects a secret that is not a signing secret with a TypeError", async () => {
    const d = delivery(event);
    await assert.rejects(verifyWebhook({ ...d, secret: "whsec_%%%" }), TypeError);
    await assert.rejects(verifyWebhook({ ...d, secret: "" }), TypeError);
  });
});
