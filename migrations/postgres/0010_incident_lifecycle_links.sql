-- PostgreSQL version of migrations/0010_incident_lifecycle_links.sql.
--
-- Incidents may be cancelled and say what they wait for while on hold, and
-- incidents are linked to one another (related, duplicate of, child of).
--
-- SQLite rebuilds `incidents` to change its CHECK constraint; PostgreSQL
-- alters it in place (the constraint is named by PostgreSQL's rule,
-- <table>_<column>_check). `hold_reason` is added as the last column, where
-- the rebuilt SQLite table has it too.
ALTER TABLE incidents DROP CONSTRAINT incidents_state_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_state_check
    CHECK (state IN ('new', 'assigned', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled'));
-- What an incident on hold waits for (incidents held before reasons
-- existed have none; the desk gives every new hold one).
ALTER TABLE incidents ADD COLUMN hold_reason TEXT
    CHECK (hold_reason IN ('awaiting_caller', 'awaiting_change', 'awaiting_problem', 'awaiting_vendor'));
ALTER TABLE incidents ADD CONSTRAINT incidents_hold_reason_on_hold CHECK (hold_reason IS NULL OR state = 'on_hold');

-- `incident_id` is linked to `other_id` as `kind`: related (stored once per
-- pair, lower id first), duplicate_of (the duplicate points at the original),
-- child_of (the child points at its parent). An incident duplicates or is
-- the child of one other at most.
CREATE TABLE incident_links (
    incident_id  BIGINT  NOT NULL REFERENCES incidents (id),
    other_id     BIGINT  NOT NULL REFERENCES incidents (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('related', 'duplicate_of', 'child_of')),
    linked_by    BIGINT  NOT NULL,
    linked_at    BIGINT  NOT NULL,
    PRIMARY KEY (incident_id, other_id),
    CHECK (incident_id <> other_id)
);
CREATE INDEX incident_links_other ON incident_links (other_id, kind);
CREATE UNIQUE INDEX incident_links_one_parent ON incident_links (incident_id) WHERE kind <> 'related';

-- A plain message in an incident's thread becomes a note: the desk looks the
-- thread up for every line that is not a command.
CREATE INDEX cards_thread ON cards (thread_id) WHERE thread_id IS NOT NULL;
