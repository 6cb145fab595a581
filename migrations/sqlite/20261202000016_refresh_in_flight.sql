-- When the lease holder started calling the provider for a refresh (ms);
-- NULL when no call is in flight. A lease taken over while it is set
-- belonged to a process that died mid-refresh: the provider may already
-- have rotated the refresh token.
ALTER TABLE connections ADD COLUMN refresh_started_at BIGINT;
