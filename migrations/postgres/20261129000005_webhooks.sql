-- Webhooks to the developer: an endpoint and signing secret per app, an
-- outbox of deliveries written with the events, and each attempt's outcome.

ALTER TABLE apps ADD COLUMN webhook_url TEXT;
-- sealed with the keyring, bound to (apps, webhook_secret, id)
ALTER TABLE apps ADD COLUMN webhook_secret BYTEA;

CREATE TABLE webhook_deliveries (
    -- the Standard Webhooks message id (webhook-id)
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status_code BIGINT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_app ON webhook_deliveries (app_id, created_at);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT
);
CREATE INDEX webhook_attempts_app ON webhook_attempts (app_id, at);
