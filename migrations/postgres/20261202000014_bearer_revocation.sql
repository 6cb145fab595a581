-- A queued revocation may be sent with the access token as a bearer token
-- (a provider whose revocation endpoint is not RFC 7009, e.g. Dropbox's).
ALTER TABLE revocations DROP CONSTRAINT IF EXISTS revocations_client_auth_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_client_auth_check
    CHECK (client_auth IN ('basic', 'body', 'bearer'));
