-- The access log becomes a verifiable RFC 6962 Merkle log (docs/format.md, "Access log").
-- SQLite twin of ../postgres/0003_transparency_log.sql; keep them in step.
--
-- Writers append to log_pending inside the transaction that makes the change; a sequencer
-- (any replica, one at a time: it holds the log_state row) moves pending rows into log_entries
-- with dense indexes, the canonical leaf text and the per-message chain, and stores the hashes
-- of every completed perfect subtree in log_nodes, from which any root and proof is computed.

CREATE TABLE log_pending (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    org_id          TEXT,
    actor           TEXT NOT NULL,
    source          TEXT,
    kind            TEXT NOT NULL,
    message_id      TEXT,
    rid             TEXT,
    detail          TEXT
);

CREATE TABLE log_entries (
    idx             INTEGER PRIMARY KEY,
    pending_id      INTEGER NOT NULL UNIQUE,
    at              INTEGER NOT NULL,
    org_id          TEXT,
    actor           TEXT NOT NULL,
    source          TEXT,
    kind            TEXT NOT NULL,
    message_id      TEXT,
    rid             TEXT,
    detail          TEXT,
    leaf            BLOB NOT NULL
);
CREATE INDEX log_entries_message ON log_entries(message_id, idx);
CREATE INDEX log_entries_org ON log_entries(org_id, idx);

-- id = (level << 56) | index of the perfect subtree; level 0 holds the leaf hashes.
CREATE TABLE log_nodes (
    id              INTEGER PRIMARY KEY,
    hash            BLOB NOT NULL
);

-- The one row every sequencer run locks; frontier = the roots of the perfect subtrees that
-- make up the tree, largest first (32 bytes each).
CREATE TABLE log_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    size            INTEGER NOT NULL,
    frontier        BLOB NOT NULL
);
INSERT INTO log_state (id, size, frontier) VALUES (1, 0, X'');

-- The log's Ed25519 signing key, wrapped under the server key-encryption key, shared by all replicas.
CREATE TABLE log_keys (
    origin          TEXT PRIMARY KEY,
    public_key      BLOB NOT NULL,
    wrapped_seed    BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);

-- Witness cosignatures (c2sp.org/tlog-cosignature) of our checkpoints.
CREATE TABLE log_cosignatures (
    witness         TEXT NOT NULL,
    size            INTEGER NOT NULL,
    line            TEXT NOT NULL,
    cosigned_at     INTEGER NOT NULL,
    PRIMARY KEY (witness, size)
);

-- A delivered notification becomes a log entry of its message and recipient.
ALTER TABLE mail_outbox ADD COLUMN message_id TEXT;
ALTER TABLE mail_outbox ADD COLUMN rid TEXT;

-- Earlier activity enters the log first, in its original order.
INSERT INTO log_pending (at, org_id, actor, source, kind, message_id, rid, detail)
    SELECT at, org_id, actor, NULL, kind, message_id, rid, detail FROM events ORDER BY seq;
DROP TABLE events;
