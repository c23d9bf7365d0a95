-- Sign-in links (src/accounts/sign_in_links.rs) work only in the browser
-- that asked for them: the digest of a secret kept in that browser's
-- session. NULL for the other links, which work anywhere.
ALTER TABLE account_tokens ADD COLUMN browser_digest TEXT;
