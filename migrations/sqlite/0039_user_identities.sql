-- Sign-in with Google, GitHub and OpenID Connect providers
-- (src/accounts/oauth): which provider account signs in which user, one per
-- provider. `subject` is the provider's stable id for the person (never the
-- email, which can change hands); `email` is what the provider said when
-- the identity was linked, shown on the account page. No provider token is
-- kept.
CREATE TABLE user_identities (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (user_id, provider)
);
