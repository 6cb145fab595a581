-- How the end user's browser shows the connect flow: NULL for a page of its
-- own (the end of the flow redirects to the return URL), 'popup' for a popup
-- window that connect.js opened (the end of the flow tells the opener).
ALTER TABLE oauth_transactions ADD COLUMN display TEXT;
