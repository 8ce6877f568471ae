-- Timers are rows, not sleeping tasks: the scheduler wakes at the next due
-- timer and, after a restart, catches up on what fell due while it was down.
-- `key` identifies a timer within its kind (e.g. `INC-3:resolution:warn75`),
-- so scheduling the same timer again moves it instead of adding another.

CREATE TABLE timers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    payload     TEXT    NOT NULL DEFAULT '{}',
    fired_at    INTEGER,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, key)
);
CREATE INDEX timers_due ON timers (due_at, id) WHERE fired_at IS NULL AND cancelled = 0;
