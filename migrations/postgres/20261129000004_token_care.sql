-- Keeping tokens alive: refresh leases, failure tracking, health checks,
-- revocation, reconnect sessions.

ALTER TABLE connections DROP CONSTRAINT connections_status_check;
ALTER TABLE connections ADD CONSTRAINT connections_status_check
    CHECK (status IN ('active', 'needs_reauthorization', 'error', 'revoked'));
-- a revoked connection keeps its row and history, not its tokens
ALTER TABLE connections ALTER COLUMN access_token DROP NOT NULL;
-- the refresh lease: at most one refresh per connection across processes
ALTER TABLE connections ADD COLUMN lease_owner TEXT;
ALTER TABLE connections ADD COLUMN lease_until BIGINT;
-- bumped by every token change
ALTER TABLE connections ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- transient failures in a row, since when, and when to try again
ALTER TABLE connections ADD COLUMN failure_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN first_failure_at BIGINT;
ALTER TABLE connections ADD COLUMN next_attempt_at BIGINT;
ALTER TABLE connections ADD COLUMN last_error TEXT;
-- when the next health check of a long-lived token is due
ALTER TABLE connections ADD COLUMN next_check_at BIGINT;
ALTER TABLE connections ADD COLUMN revoked_at BIGINT;
CREATE INDEX connections_expires_at ON connections (expires_at);
CREATE INDEX connections_next_check_at ON connections (next_check_at);

-- a session that re-authorizes an existing connection
ALTER TABLE connect_sessions ADD COLUMN reconnect_id TEXT;

-- tokens to revoke at the provider, kept (sealed) until the provider confirms
CREATE TABLE revocations (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    provider_config_id TEXT NOT NULL REFERENCES provider_configs (id) ON DELETE CASCADE,
    token BYTEA NOT NULL,
    token_type_hint TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX revocations_next_attempt_at ON revocations (next_attempt_at);
