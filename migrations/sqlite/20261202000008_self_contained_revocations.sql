-- Queued revocations outlive the app and the provider configuration they
-- came from: deleting either queues its connections' revocations, and the
-- worker must still be able to send them. A row carries what the call needs
-- (endpoint, client authentication, client id, the client secret and the
-- token, both sealed and bound to the revocation's row). Rows queued before
-- this migration have no endpoint yet: they are completed from their
-- configuration when it is deleted, and until then use it.
-- SQLite cannot drop a foreign key in place: the table is rebuilt.

CREATE TABLE revocations_new (
    id TEXT PRIMARY KEY,
    -- references, not foreign keys: the app, configuration and connection
    -- may be gone
    app_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    provider_config_id TEXT NOT NULL,
    -- sealed, bound to (revocations, token, id)
    token BLOB NOT NULL,
    token_type_hint TEXT NOT NULL,
    -- the RFC 7009 endpoint; NULL: look it up in the configuration
    revocation_url TEXT,
    -- basic or body
    client_auth TEXT CHECK (client_auth IN ('basic', 'body')),
    client_id TEXT,
    -- sealed, bound to (revocations, client_secret, id)
    client_secret BLOB,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO revocations_new (id, app_id, connection_id, provider_config_id, token, token_type_hint,
    attempts, next_attempt_at, created_at)
SELECT id, app_id, connection_id, provider_config_id, token, token_type_hint,
    attempts, next_attempt_at, created_at
FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE INDEX revocations_next_attempt_at ON revocations (next_attempt_at);
CREATE INDEX revocations_app ON revocations (app_id);
CREATE INDEX revocations_provider_config ON revocations (provider_config_id);

-- When a reconnect link stopped working because its connection was
-- disconnected: it stays withdrawn even if the connection comes back.
ALTER TABLE connect_sessions ADD COLUMN withdrawn_at BIGINT;
