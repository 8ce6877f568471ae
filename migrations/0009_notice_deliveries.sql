-- One delivery record for every notice a subscriber is sent by direct
-- message, whatever the notice is about. Until now only outage notices had
-- one (`outage_deliveries`, migration 0003); the planned outage notice of a
-- change was queued with no record, so "each subscriber once per notice" and
-- "a closed inbox marks the subscriber unreachable" (the dispatcher finds the
-- subscriber through this record) did not hold for it.
--
-- Chosen shape: the planned outage notice of a change gets a row of its own,
-- as an outage's notices have in `outage_notices`, and one table records the
-- deliveries of both kinds, each pointing at its notice by a real foreign key.
-- The old table's rows move into it, and its name stays as a view.

-- The planned outage notice of a change: what was said, and when. A change
-- has at most one of each kind, so a notice sent again (a retried action)
-- finds the same row, and the subscribers already queued are skipped.
CREATE TABLE change_notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id   INTEGER NOT NULL REFERENCES changes (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('planned_outage')),
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (change_id, kind)
);

-- One row per subscriber per notice, pointing at the outbox row that carries
-- it (which says whether it was delivered, is pending or failed, and why).
-- A notice is an outage's or a change's: exactly one of the two columns is
-- set. The unique indexes make "each subscriber once per notice" a database
-- fact for both kinds.
CREATE TABLE notice_deliveries (
    outage_notice_id  INTEGER REFERENCES outage_notices (id),
    change_notice_id  INTEGER REFERENCES change_notices (id),
    user_id           INTEGER NOT NULL,
    outbox_id         INTEGER NOT NULL UNIQUE REFERENCES outbox (id),
    CHECK ((outage_notice_id IS NULL) <> (change_notice_id IS NULL))
);
CREATE UNIQUE INDEX notice_deliveries_outage ON notice_deliveries (outage_notice_id, user_id)
    WHERE outage_notice_id IS NOT NULL;
CREATE UNIQUE INDEX notice_deliveries_change ON notice_deliveries (change_notice_id, user_id)
    WHERE change_notice_id IS NOT NULL;

INSERT INTO notice_deliveries (outage_notice_id, user_id, outbox_id)
SELECT notice_id, user_id, outbox_id FROM outage_deliveries ORDER BY rowid;
DROP TABLE outage_deliveries;

-- The outage deliveries under their old name and columns, read-only, for the
-- queries (reports, tests) written against migration 0003.
CREATE VIEW outage_deliveries AS
SELECT outage_notice_id AS notice_id, user_id, outbox_id
  FROM notice_deliveries
 WHERE outage_notice_id IS NOT NULL;
