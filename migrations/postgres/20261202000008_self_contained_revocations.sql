-- Queued revocations outlive the app and the provider configuration they
-- came from: deleting either queues its connections' revocations, and the
-- worker must still be able to send them. A row carries what the call needs
-- (endpoint, client authentication, client id, the client secret and the
-- token, both sealed and bound to the revocation's row). Rows queued before
-- this migration have no endpoint yet: they are completed from their
-- configuration when it is deleted, and until then use it.

-- references, not foreign keys: the app, configuration and connection may
-- be gone
DO $$
DECLARE fk RECORD;
BEGIN
    FOR fk IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'revocations'::regclass AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE revocations DROP CONSTRAINT %I', fk.conname);
    END LOOP;
END
$$;

-- the RFC 7009 endpoint; NULL: look it up in the configuration
ALTER TABLE revocations ADD COLUMN revocation_url TEXT;
-- basic or body
ALTER TABLE revocations ADD COLUMN client_auth TEXT CHECK (client_auth IN ('basic', 'body'));
ALTER TABLE revocations ADD COLUMN client_id TEXT;
-- sealed, bound to (revocations, client_secret, id)
ALTER TABLE revocations ADD COLUMN client_secret BYTEA;
CREATE INDEX revocations_app ON revocations (app_id);
CREATE INDEX revocations_provider_config ON revocations (provider_config_id);

-- When a reconnect link stopped working because its connection was
-- disconnected: it stays withdrawn even if the connection comes back.
ALTER TABLE connect_sessions ADD COLUMN withdrawn_at BIGINT;
