-- Teams: a user belongs to organisations with a role in each, and is invited
-- into one by a link. `users.organisation_id` now names the organisation the
-- user last worked in (the header's switcher), which is always one of theirs.

CREATE TABLE memberships (
    organisation_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Every account so far is the owner of its own organisation.
INSERT INTO memberships (organisation_id, user_id, role, created_at)
    SELECT organisation_id, id, 'owner', created_at FROM users;

-- An invitation into an organisation names it and the role it gives; an
-- invitation without one (from the admin area) makes an account with its own
-- organisation, as before.
ALTER TABLE account_links ADD COLUMN organisation_id TEXT REFERENCES organisations (id) ON DELETE CASCADE;
ALTER TABLE account_links ADD COLUMN role TEXT;
CREATE INDEX account_links_organisation ON account_links (organisation_id, created_at);
