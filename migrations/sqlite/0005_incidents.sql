-- Breach register (issue 8). SQLite twin of ../postgres/0005_incidents.sql; keep them in step.
--
-- incidents: one per reported or sent-in-error message; facts (JSON, sealpost_breach::Facts,
-- with any ENISA override folded in) and the DPO decision (JSON) are what the DPO maintains;
-- exposures and the assessment are recomputed from the message's proof-log events on every read.
-- incident_entries: every change, append-only (phased reporting keeps everything).
-- incident_reminders: durable reminder rows, claimed by the sweeper with a conditional update;
-- `delivered` lists the channels (email, webhook) already done, so a retry repeats only the others.
-- breach_settings: per organisation jurisdiction, controller and DPO contact, reminder targets.

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    message_id      TEXT NOT NULL REFERENCES messages(id),
    trigger         TEXT NOT NULL,
    jurisdiction    TEXT NOT NULL,
    state           TEXT NOT NULL,
    detected_at     INTEGER NOT NULL,
    aware_at        INTEGER NOT NULL,
    aware_by        TEXT NOT NULL,
    aware_reason    TEXT,
    deadline_at     INTEGER NOT NULL,
    facts           TEXT NOT NULL,
    decision        TEXT,
    created_by      TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL
);
CREATE INDEX incidents_org ON incidents(org_id, state, deadline_at);
CREATE INDEX incidents_message ON incidents(message_id);

CREATE TABLE incident_entries (
    incident_id     TEXT NOT NULL REFERENCES incidents(id),
    seq             INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    note            TEXT,
    body            TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE incident_reminders (
    incident_id     TEXT NOT NULL REFERENCES incidents(id),
    hours           INTEGER NOT NULL,
    due_at          INTEGER NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_try_at     INTEGER NOT NULL,
    claimed_until   INTEGER NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    last_error      TEXT,
    delivered       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, hours)
);
CREATE INDEX incident_reminders_due ON incident_reminders(state, next_try_at);

CREATE TABLE breach_settings (
    org_id          TEXT PRIMARY KEY REFERENCES orgs(id),
    settings        TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      TEXT NOT NULL
);
