-- Safe on the internet: instance setup, one-time account links, per-config
-- redirect URIs, the client address in the audit log.

-- When the first administrator was created (by a setup link or the CLI).
-- Setting it is how exactly one of several simultaneous setups wins.
ALTER TABLE instance ADD COLUMN setup_completed_at BIGINT;
UPDATE instance SET setup_completed_at = created_at
    WHERE EXISTS (SELECT 1 FROM users WHERE role = 'admin');

-- Setup links of a fresh instance, hashed; each server process that starts
-- without an administrator prints one. Any of them creates the first
-- administrator, once.
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- One-time links: invitations to sign up, and password resets. The token is
-- stored hashed.
CREATE TABLE account_links (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    email TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX account_links_purpose_created ON account_links (purpose, created_at);

-- 1 for configurations saved before each had its own redirect URI: they
-- keep working on the shared /oauth/callback until the developer switches.
ALTER TABLE provider_configs ADD COLUMN legacy_callback BIGINT NOT NULL DEFAULT 0;
UPDATE provider_configs SET legacy_callback = 1;

-- The client address of the request an entry came from, where there was one.
ALTER TABLE audit_events ADD COLUMN client_address TEXT;
