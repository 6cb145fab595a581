-- The portal's lists read keyset pages newest first by (time, id) within an
-- app, optionally narrowed by a filter: one index range per page.
CREATE INDEX connections_app_status_created ON connections (app_id, status, created_at, id);
CREATE INDEX connections_app_config_created ON connections (app_id, provider_config_id, created_at, id);
CREATE INDEX connections_app_end_user_created ON connections (app_id, end_user_id, created_at, id);
-- the Connections page's recent failed attempts: one kind among every event
CREATE INDEX connection_events_app_kind ON connection_events (app_id, kind, at);
DROP INDEX audit_events_app_at;
CREATE INDEX audit_events_app_at ON audit_events (app_id, at, id);
DROP INDEX api_keys_app_id;
CREATE INDEX api_keys_app_created ON api_keys (app_id, created_at, id);
DROP INDEX webhook_attempts_app;
CREATE INDEX webhook_attempts_app ON webhook_attempts (app_id, at, id);
DROP INDEX webhook_deliveries_app;
CREATE INDEX webhook_deliveries_app ON webhook_deliveries (app_id, created_at, id);
