-- Incidents may be cancelled and say what they wait for while on hold, and
-- incidents are linked to one another (related, duplicate of, child of).
--
-- SQLite cannot alter a CHECK constraint, so `incidents` is rebuilt by its
-- documented procedure: create the new table, copy, drop the old, rename the
-- new (the store runs migrations with foreign keys off, as that needs).
-- Every index on `incidents` is recreated below; no trigger or view names it.
CREATE TABLE incidents_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT    NOT NULL,
    impact        TEXT    NOT NULL CHECK (impact IN ('high', 'medium', 'low')),
    urgency       TEXT    NOT NULL CHECK (urgency IN ('high', 'medium', 'low')),
    priority      INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
    service       TEXT,
    category      TEXT,
    state         TEXT    NOT NULL CHECK (state IN ('new', 'assigned', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled')),
    reporter      INTEGER NOT NULL,
    assignee      INTEGER,
    handler_role  TEXT    NOT NULL,
    tier          INTEGER NOT NULL DEFAULT 0,
    source_link   TEXT,
    source_message TEXT UNIQUE,
    resolution    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- What an incident on hold waits for (incidents held before reasons
    -- existed have none; the desk gives every new hold one).
    hold_reason   TEXT CHECK (hold_reason IN ('awaiting_caller', 'awaiting_change', 'awaiting_problem', 'awaiting_vendor')),
    CHECK (hold_reason IS NULL OR state = 'on_hold')
);

INSERT INTO incidents_new (id, title, impact, urgency, priority, service, category, state, reporter, assignee,
                           handler_role, tier, source_link, source_message, resolution, created_at, updated_at)
SELECT id, title, impact, urgency, priority, service, category, state, reporter, assignee,
       handler_role, tier, source_link, source_message, resolution, created_at, updated_at
  FROM incidents;

DROP TABLE incidents;
ALTER TABLE incidents_new RENAME TO incidents;

CREATE INDEX incidents_state ON incidents (state, id);
CREATE INDEX incidents_reporter ON incidents (reporter, id);
CREATE INDEX incidents_service ON incidents (service, id);

-- `incident_id` is linked to `other_id` as `kind`: related (stored once per
-- pair, lower id first), duplicate_of (the duplicate points at the original),
-- child_of (the child points at its parent). An incident duplicates or is
-- the child of one other at most.
CREATE TABLE incident_links (
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    other_id     INTEGER NOT NULL REFERENCES incidents (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('related', 'duplicate_of', 'child_of')),
    linked_by    INTEGER NOT NULL,
    linked_at    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, other_id),
    CHECK (incident_id <> other_id)
);
CREATE INDEX incident_links_other ON incident_links (other_id, kind);
CREATE UNIQUE INDEX incident_links_one_parent ON incident_links (incident_id) WHERE kind <> 'related';

-- A plain message in an incident's thread becomes a note: the desk looks the
-- thread up for every line that is not a command.
CREATE INDEX cards_thread ON cards (thread_id) WHERE thread_id IS NOT NULL;
