-- A queued revocation may be sent with the access token as a bearer token
-- (a provider whose revocation endpoint is not RFC 7009, e.g. Dropbox's).
-- SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE revocations_new (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    provider_config_id TEXT NOT NULL,
    token BLOB NOT NULL,
    token_type_hint TEXT NOT NULL,
    revocation_url TEXT,
    -- basic or body (RFC 7009, with client authentication), or bearer
    client_auth TEXT CHECK (client_auth IN ('basic', 'body', 'bearer')),
    client_id TEXT,
    client_secret BLOB,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO revocations_new (id, app_id, connection_id, provider_config_id, token, token_type_hint,
    revocation_url, client_auth, client_id, client_secret, attempts, next_attempt_at, created_at)
SELECT id, app_id, connection_id, provider_config_id, token, token_type_hint,
    revocation_url, client_auth, client_id, client_secret, attempts, next_attempt_at, created_at
FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE INDEX revocations_next_attempt_at ON revocations (next_attempt_at);
CREATE INDEX revocations_app ON revocations (app_id);
CREATE INDEX revocations_provider_config ON revocations (provider_config_id);
