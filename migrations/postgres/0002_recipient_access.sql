-- Recipient access (PostgreSQL twin of ../sqlite/0002_recipient_access.sql; keep them in step):
-- link ids, verification codes, sessions, failure counts and locks, TOTP enrolment, recovery
-- codes, the per-message open limit and the notification mail outbox.

ALTER TABLE recipients ADD COLUMN access_id TEXT;
ALTER TABLE recipients ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE recipients ADD COLUMN locked_at BIGINT;
CREATE UNIQUE INDEX recipients_access ON recipients(access_id);

ALTER TABLE messages ADD COLUMN max_opens BIGINT;

ALTER TABLE users ADD COLUMN totp_secret BYTEA;
ALTER TABLE users ADD COLUMN totp_pending BYTEA;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
ALTER TABLE users ADD COLUMN totp_enabled_at BIGINT;

CREATE TABLE recovery_codes (
    user_id         TEXT NOT NULL REFERENCES users(id),
    code_hash       BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    used_at         BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE access_codes (
    id              TEXT PRIMARY KEY,
    access_id       TEXT NOT NULL,
    salt            BYTEA NOT NULL,
    code_hash       BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    failures        BIGINT NOT NULL DEFAULT 0,
    used_at         BIGINT
);
CREATE INDEX access_codes_access ON access_codes(access_id, created_at);

CREATE TABLE access_sessions (
    token_hash      BYTEA PRIMARY KEY,
    access_id       TEXT NOT NULL,
    stage           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX access_sessions_expiry ON access_sessions(expires_at);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    not_before      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    sent_at         BIGINT,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(sent_at, not_before);
