-- Token reads are recorded as one `token.read` entry per API key, connection
-- and time window, with how many reads it stands for and when the last one
-- was; `at` is the first. The entry's id is derived from the key, the
-- connection and the window, so the usage writer adds reads with an upsert on
-- the primary key: no further index to maintain. Every other entry leaves
-- both NULL (one occurrence at `at`).
ALTER TABLE audit_events ADD COLUMN occurrences BIGINT;
ALTER TABLE audit_events ADD COLUMN last_at BIGINT;
