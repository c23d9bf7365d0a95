-- Per-account rate limits (sign-in failures, signups, password resets, …),
-- kept here so they hold across every app instance. Global, not
-- tenant-owned. One fixed window per (bucket, subject): the subject is a
-- SHA-256 digest of the account key (an email, an invitation), never the
-- key itself. Rows whose window has passed are purged periodically.
CREATE TABLE rate_limit_counters (
    bucket            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    window_started_at BIGINT NOT NULL,
    hits              BIGINT NOT NULL,
    PRIMARY KEY (bucket, subject)
);

CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_started_at);
