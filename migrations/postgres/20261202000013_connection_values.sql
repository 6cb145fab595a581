-- Provider definitions whose URLs hold values: the developer's parameters
-- (per configuration), the end user's (per authorization, then connection),
-- and what the provider returns with the token or on the callback. JSON
-- objects of name → value; none of them is a secret.
ALTER TABLE provider_configs ADD COLUMN parameters TEXT;
ALTER TABLE oauth_transactions ADD COLUMN parameters TEXT;
ALTER TABLE connections ADD COLUMN parameters TEXT;
