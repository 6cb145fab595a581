-- API keys, connect sessions, authorization transactions, connections and
-- their events.

-- Where an app's end users may be sent back to after connecting, one URL per line.
ALTER TABLE apps ADD COLUMN return_urls TEXT NOT NULL DEFAULT '';

-- API keys are stored as SHA-256 hashes; `prefix` is the recognisable start
-- shown in the portal.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_app_id ON api_keys (app_id);

-- Short-lived links that let one end user connect; the token is stored hashed.
CREATE TABLE connect_sessions (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    end_user_id TEXT NOT NULL,
    end_user_name TEXT,
    end_user_email TEXT,
    -- provider config slugs the session is restricted to, space-separated; '' for all
    providers TEXT NOT NULL,
    return_url TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    connection_id TEXT
);
CREATE INDEX connect_sessions_expires_at ON connect_sessions (expires_at);

-- One authorization request in flight: state (hashed), PKCE verifier
-- (sealed), bound to the browser by a cookie (hashed), single use.
CREATE TABLE oauth_transactions (
    id TEXT PRIMARY KEY,
    state_hash TEXT NOT NULL UNIQUE,
    browser_hash TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES connect_sessions (id) ON DELETE CASCADE,
    provider_config_id TEXT NOT NULL REFERENCES provider_configs (id) ON DELETE CASCADE,
    code_verifier BLOB,
    issuer TEXT,
    redirect_uri TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX oauth_transactions_expires_at ON oauth_transactions (expires_at);

CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    provider_config_id TEXT NOT NULL REFERENCES provider_configs (id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL,
    end_user_name TEXT,
    end_user_email TEXT,
    -- the provider account (Attio: the workspace); '' when the provider names none
    account_id TEXT NOT NULL,
    account_name TEXT,
    account_slug TEXT,
    account_picture TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'needs_reauthorization')),
    -- sealed with the keyring, bound to (connections, <column>, id)
    access_token BLOB NOT NULL,
    refresh_token BLOB,
    token_type TEXT NOT NULL,
    expires_at BIGINT,
    -- space-separated; NULL when the provider does not say
    granted_scopes TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_refreshed_at BIGINT,
    last_used_at BIGINT,
    last_checked_at BIGINT,
    UNIQUE (provider_config_id, end_user_id, account_id)
);
CREATE INDEX connections_app_created ON connections (app_id, created_at, id);

-- What happened to connections and connection attempts, for the developer.
-- Not tied to the connection row: the history outlives a disconnect.
CREATE TABLE connection_events (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    connection_id TEXT,
    provider_config_id TEXT,
    end_user_id TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX connection_events_connection ON connection_events (connection_id, at);
CREATE INDEX connection_events_app ON connection_events (app_id, at);
