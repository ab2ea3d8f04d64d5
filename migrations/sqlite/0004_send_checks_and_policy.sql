-- Pre-send checks (issue 7). SQLite twin of ../postgres/0004_send_checks_and_policy.sql; keep them in step.
--
-- messages.send_checks: what the sender's client found before sending, as JSON (decision, most
-- serious level, counts per category, the sender's reason for going past a warning). Never a
-- value: the server never sees content. NULL when the client ran no checks.
-- org_policies: the organisation's check policy (JSON, validated by sealpost-guard), served to
-- its senders' clients, which apply it.

ALTER TABLE messages ADD COLUMN send_checks TEXT;

CREATE TABLE org_policies (
    org_id          TEXT PRIMARY KEY REFERENCES orgs(id),
    policy          TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      TEXT NOT NULL
);
