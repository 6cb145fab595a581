-- The Connections page's search looks for a piece of text in the end user's
-- id, name and email and in the account's name and id. Those five, lowered
-- and joined by line breaks (which a search never holds), are one computed
-- column; the index below carries it beside the page order, so a search
-- walks the app's index entries newest first and reads a connection's row
-- only when its text matches.
ALTER TABLE connections ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    lower(end_user_id || char(10) || coalesce(end_user_name, '') || char(10) || coalesce(end_user_email, '')
        || char(10) || coalesce(account_name, '') || char(10) || coalesce(account_id, ''))
) VIRTUAL;
CREATE INDEX connections_app_created_search ON connections (app_id, created_at, id, search_text);
-- it serves everything the index without the text served, and the planner
-- must not pick that one for a search (it would read every row)
DROP INDEX connections_app_created;

-- A webhook delivery names the connection it is about, so that the admin
-- area pages through one connection's deliveries by an index instead of
-- searching every payload of the app.
ALTER TABLE webhook_deliveries ADD COLUMN connection_id TEXT;
UPDATE webhook_deliveries SET connection_id = json_extract(payload, '$.data.connection_id')
    WHERE json_valid(payload);
CREATE INDEX webhook_deliveries_connection ON webhook_deliveries (connection_id, created_at, id);
