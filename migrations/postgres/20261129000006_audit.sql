-- The audit log: who did what, when, to which object. Append-only: the code
-- has no path that updates or deletes a row. No foreign keys, so the record
-- outlives the objects it names.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    -- developer, admin, api_key, end_user, system, anonymous
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    actor_label TEXT,
    action TEXT NOT NULL,
    organisation_id TEXT,
    app_id TEXT,
    target_type TEXT,
    target_id TEXT,
    -- what changed (field names, never values of secrets)
    detail TEXT,
    -- required for admin actions
    reason TEXT
);
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_app_at ON audit_events (app_id, at);
CREATE INDEX audit_events_organisation_at ON audit_events (organisation_id, at);
CREATE INDEX audit_events_actor_at ON audit_events (actor_id, at);
