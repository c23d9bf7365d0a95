-- Sign-in with Google, GitHub and OpenID Connect providers
-- (src/accounts/oauth): which provider account signs in which user, one per
-- provider. `subject` is the provider's stable id for the person (never the
-- email, which can change hands), unique only at its `issuer` (the OpenID
-- issuer, or GitHub's site): an identity matches only at the issuer it was
-- linked at, so pointing OIDC_ISSUER at another provider can't sign its
-- users into accounts linked at the first. `email` is what the provider
-- said when the identity was linked, shown on the account page. No
-- provider token is kept.
CREATE TABLE user_identities (
    provider   TEXT NOT NULL,
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider, issuer, subject),
    UNIQUE (user_id, provider)
);
