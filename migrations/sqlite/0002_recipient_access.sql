-- Recipient access (SQLite twin of ../postgres/0002_recipient_access.sql; keep them in step):
-- link ids, verification codes, sessions, failure counts and locks, TOTP enrolment, recovery
-- codes, the per-message open limit and the notification mail outbox.

ALTER TABLE recipients ADD COLUMN access_id TEXT;
ALTER TABLE recipients ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recipients ADD COLUMN locked_at INTEGER;
CREATE UNIQUE INDEX recipients_access ON recipients(access_id);

ALTER TABLE messages ADD COLUMN max_opens INTEGER;

ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
ALTER TABLE users ADD COLUMN totp_enabled_at INTEGER;

CREATE TABLE recovery_codes (
    user_id         TEXT NOT NULL REFERENCES users(id),
    code_hash       BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    used_at         INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE access_codes (
    id              TEXT PRIMARY KEY,
    access_id       TEXT NOT NULL,
    salt            BLOB NOT NULL,
    code_hash       BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    used_at         INTEGER
);
CREATE INDEX access_codes_access ON access_codes(access_id, created_at);

CREATE TABLE access_sessions (
    token_hash      BLOB PRIMARY KEY,
    access_id       TEXT NOT NULL,
    stage           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX access_sessions_expiry ON access_sessions(expires_at);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    not_before      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(sent_at, not_before);
