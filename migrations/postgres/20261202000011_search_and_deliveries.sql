-- The Connections page's search looks for a piece of text in the end user's
-- id, name and email and in the account's name and id. Those five, lowered
-- and joined by line breaks (which a search never holds), are one computed
-- column. Where the pg_trgm extension can be installed (it ships with
-- PostgreSQL and is trusted: a database owner may create it), a trigram
-- index finds the matching rows of a `LIKE '%…%'`; without it the search
-- still works, by scanning the app's connections.
ALTER TABLE connections ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    lower(end_user_id || E'\n' || coalesce(end_user_name, '') || E'\n' || coalesce(end_user_email, '')
        || E'\n' || coalesce(account_name, '') || E'\n' || coalesce(account_id, ''))
) STORED;
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): the connections search scans instead of using an index', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX connections_search_trgm ON connections USING gin (search_text gin_trgm_ops);
    END IF;
END $$;

-- A webhook delivery names the connection it is about, so that the admin
-- area pages through one connection's deliveries by an index instead of
-- searching every payload of the app.
ALTER TABLE webhook_deliveries ADD COLUMN connection_id TEXT;
UPDATE webhook_deliveries SET connection_id = payload::jsonb -> 'data' ->> 'connection_id';
CREATE INDEX webhook_deliveries_connection ON webhook_deliveries (connection_id, created_at, id);
