-- Sealpost schema v1 (SQLite twin of ../postgres/0001_initial.sql; keep them in step).
-- Times are Unix milliseconds (UTC). Ids are 128-bit random values in base64url.

CREATE TABLE orgs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    quota_bytes     INTEGER NOT NULL,
    quota_messages  INTEGER NOT NULL,
    used_bytes      INTEGER NOT NULL DEFAULT 0,
    used_messages   INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    address         TEXT NOT NULL UNIQUE,
    roles           TEXT NOT NULL,
    quota_bytes     INTEGER NOT NULL,
    quota_messages  INTEGER NOT NULL,
    used_bytes      INTEGER NOT NULL DEFAULT 0,
    used_messages   INTEGER NOT NULL DEFAULT 0,
    x25519_pk       BLOB,
    ed25519_pk      BLOB,
    keyblob         TEXT,
    login_key_hash  BLOB,
    keys_updated_at INTEGER,
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    name            TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    scopes          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    revoked_at      INTEGER,
    last_used_at    INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    sender_id       TEXT NOT NULL REFERENCES users(id),
    state           TEXT NOT NULL,
    policy          BLOB NOT NULL,
    header_size     INTEGER NOT NULL,
    header_sha256   BLOB,
    payload_count   INTEGER NOT NULL,
    reserved_bytes  INTEGER NOT NULL,
    seal            TEXT,
    created_at      INTEGER NOT NULL,
    sealed_at       INTEGER,
    expires_at      INTEGER NOT NULL,
    revoke_at       INTEGER,
    ended_at        INTEGER,
    released_quota  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_sender ON messages(sender_id, created_at);
CREATE INDEX messages_org ON messages(org_id, created_at);
CREATE INDEX messages_state_expiry ON messages(state, expires_at);
CREATE INDEX messages_state_created ON messages(state, created_at);

CREATE TABLE payloads (
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    upload_id       TEXT,
    nonce           BLOB,
    complete        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, idx)
);

CREATE TABLE payload_parts (
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    payload_idx     INTEGER NOT NULL,
    part_idx        INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    sha256          BLOB NOT NULL,
    tag             TEXT NOT NULL,
    PRIMARY KEY (message_id, payload_idx, part_idx)
);

CREATE TABLE recipients (
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    rid             TEXT NOT NULL,
    position        INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users(id),
    phone           TEXT,
    notify_address  TEXT,
    verification    TEXT NOT NULL,
    state           TEXT NOT NULL,
    share_ct        BLOB,
    revoke_at       INTEGER,
    revoked_at      INTEGER,
    releases        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, rid)
);
CREATE INDEX recipients_revoke_at ON recipients(revoke_at);

CREATE TABLE rate_counters (
    bucket          TEXT NOT NULL,
    window_start    INTEGER NOT NULL,
    hits            INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

CREATE TABLE blob_deletions (
    blob_key        TEXT PRIMARY KEY,
    upload_id       TEXT,
    not_before      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    org_id          TEXT,
    actor           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    message_id      TEXT,
    rid             TEXT,
    detail          TEXT
);
CREATE INDEX events_message ON events(message_id, seq);
CREATE INDEX events_org ON events(org_id, seq);
