-- Foundation: users, incidents, notes, the append-only audit log, the outbox,
-- delivered cards (platform message ids) and inbound event identities.
-- Times are Unix milliseconds (UTC).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT    NOT NULL,
    impact        TEXT    NOT NULL CHECK (impact IN ('high', 'medium', 'low')),
    urgency       TEXT    NOT NULL CHECK (urgency IN ('high', 'medium', 'low')),
    priority      INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
    service       TEXT,
    category      TEXT,
    state         TEXT    NOT NULL CHECK (state IN ('new', 'assigned', 'in_progress', 'on_hold', 'resolved', 'closed')),
    reporter      INTEGER NOT NULL,
    assignee      INTEGER,
    handler_role  TEXT    NOT NULL,
    tier          INTEGER NOT NULL DEFAULT 0,
    source_link   TEXT,
    source_message TEXT UNIQUE,
    resolution    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX incidents_state ON incidents (state, id);
CREATE INDEX incidents_reporter ON incidents (reporter, id);
CREATE INDEX incidents_service ON incidents (service, id);

CREATE TABLE incident_notes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    author       INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX incident_notes_incident ON incident_notes (incident_id, id);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    INTEGER,
    action   TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    details  TEXT    NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;

CREATE TABLE outbox (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at           INTEGER NOT NULL,
    kind                 TEXT    NOT NULL CHECK (kind IN ('post', 'card')),
    subject              TEXT,
    destination          TEXT    NOT NULL,
    payload              TEXT    NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER NOT NULL,
    delivered_at         INTEGER,
    failed_at            INTEGER,
    platform_message_id  TEXT,
    last_error           TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE cards (
    subject     TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    thread_id   TEXT
);
CREATE INDEX cards_message ON cards (message_id);

CREATE TABLE inbound_events (
    key          TEXT PRIMARY KEY,
    received_at  INTEGER NOT NULL
);
