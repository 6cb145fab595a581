-- Keeping tokens alive: refresh leases, failure tracking, health checks,
-- revocation, reconnect sessions. SQLite cannot change a CHECK constraint or
-- a NOT NULL in place: the connections table is rebuilt.

CREATE TABLE connections_new (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    provider_config_id TEXT NOT NULL REFERENCES provider_configs (id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL,
    end_user_name TEXT,
    end_user_email TEXT,
    account_id TEXT NOT NULL,
    account_name TEXT,
    account_slug TEXT,
    account_picture TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'needs_reauthorization', 'error', 'revoked')),
    -- sealed with the keyring, bound to (connections, <column>, id); NULL once revoked
    access_token BLOB,
    refresh_token BLOB,
    token_type TEXT NOT NULL,
    expires_at BIGINT,
    granted_scopes TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_refreshed_at BIGINT,
    last_used_at BIGINT,
    last_checked_at BIGINT,
    -- the refresh lease: at most one refresh per connection across processes
    lease_owner TEXT,
    lease_until BIGINT,
    -- bumped by every token change
    version BIGINT NOT NULL DEFAULT 0,
    -- transient failures in a row, since when, and when to try again
    failure_count BIGINT NOT NULL DEFAULT 0,
    first_failure_at BIGINT,
    next_attempt_at BIGINT,
    last_error TEXT,
    -- when the next health check of a long-lived token is due
    next_check_at BIGINT,
    revoked_at BIGINT,
    UNIQUE (provider_config_id, end_user_id, account_id)
);
INSERT INTO connections_new (id, app_id, provider_config_id, end_user_id, end_user_name, end_user_email,
    account_id, account_name, account_slug, account_picture, status, access_token, refresh_token, token_type,
    expires_at, granted_scopes, created_at, updated_at, last_refreshed_at, last_used_at, last_checked_at)
SELECT id, app_id, provider_config_id, end_user_id, end_user_name, end_user_email,
    account_id, account_name, account_slug, account_picture, status, access_token, refresh_token, token_type,
    expires_at, granted_scopes, created_at, updated_at, last_refreshed_at, last_used_at, last_checked_at
FROM connections;
DROP TABLE connections;
ALTER TABLE connections_new RENAME TO connections;
CREATE INDEX connections_app_created ON connections (app_id, created_at, id);
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
    token BLOB NOT NULL,
    token_type_hint TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX revocations_next_attempt_at ON revocations (next_attempt_at);
