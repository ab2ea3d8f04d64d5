-- Sealpost schema v1 (PostgreSQL twin of ../sqlite/0001_initial.sql; keep them in step).
-- Times are Unix milliseconds (UTC). Ids are 128-bit random values in base64url.

CREATE TABLE orgs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    quota_bytes     BIGINT NOT NULL,
    quota_messages  BIGINT NOT NULL,
    used_bytes      BIGINT NOT NULL DEFAULT 0,
    used_messages   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    address         TEXT NOT NULL UNIQUE,
    roles           TEXT NOT NULL,
    quota_bytes     BIGINT NOT NULL,
    quota_messages  BIGINT NOT NULL,
    used_bytes      BIGINT NOT NULL DEFAULT 0,
    used_messages   BIGINT NOT NULL DEFAULT 0,
    x25519_pk       BYTEA,
    ed25519_pk      BYTEA,
    keyblob         TEXT,
    login_key_hash  BYTEA,
    keys_updated_at BIGINT,
    disabled        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    name            TEXT NOT NULL,
    token_hash      BYTEA NOT NULL UNIQUE,
    scopes          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    revoked_at      BIGINT,
    last_used_at    BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    sender_id       TEXT NOT NULL REFERENCES users(id),
    state           TEXT NOT NULL,
    policy          BYTEA NOT NULL,
    header_size     BIGINT NOT NULL,
    header_sha256   BYTEA,
    payload_count   BIGINT NOT NULL,
    reserved_bytes  BIGINT NOT NULL,
    seal            TEXT,
    created_at      BIGINT NOT NULL,
    sealed_at       BIGINT,
    expires_at      BIGINT NOT NULL,
    revoke_at       BIGINT,
    ended_at        BIGINT,
    released_quota  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_sender ON messages(sender_id, created_at);
CREATE INDEX messages_org ON messages(org_id, created_at);
CREATE INDEX messages_state_expiry ON messages(state, expires_at);
CREATE INDEX messages_state_created ON messages(state, created_at);

CREATE TABLE payloads (
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx             BIGINT NOT NULL,
    size            BIGINT NOT NULL,
    upload_id       TEXT,
    nonce           BYTEA,
    complete        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, idx)
);

CREATE TABLE payload_parts (
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    payload_idx     BIGINT NOT NULL,
    part_idx        BIGINT NOT NULL,
    size            BIGINT NOT NULL,
    sha256          BYTEA NOT NULL,
    tag             TEXT NOT NULL,
    PRIMARY KEY (message_id, payload_idx, part_idx)
);

CREATE TABLE recipients (
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    rid             TEXT NOT NULL,
    position        BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users(id),
    phone           TEXT,
    notify_address  TEXT,
    verification    TEXT NOT NULL,
    state           TEXT NOT NULL,
    share_ct        BYTEA,
    revoke_at       BIGINT,
    revoked_at      BIGINT,
    releases        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, rid)
);
CREATE INDEX recipients_revoke_at ON recipients(revoke_at);

CREATE TABLE rate_counters (
    bucket          TEXT NOT NULL,
    window_start    BIGINT NOT NULL,
    hits            BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

CREATE TABLE blob_deletions (
    blob_key        TEXT PRIMARY KEY,
    upload_id       TEXT,
    not_before      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_until     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE events (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              BIGINT NOT NULL,
    org_id          TEXT,
    actor           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    message_id      TEXT,
    rid             TEXT,
    detail          TEXT
);
CREATE INDEX events_message ON events(message_id, seq);
CREATE INDEX events_org ON events(org_id, seq);
