-- Outages: a service declared down or degraded, its notices (declare, updates,
-- resolve), who subscribed to which service, which subscriber each notice was
-- queued for (one outbox row each), and the incidents linked to an outage.
-- Times are Unix milliseconds (UTC).

CREATE TABLE outages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    service      TEXT    NOT NULL,
    impact       TEXT    NOT NULL CHECK (impact IN ('partial', 'major')),
    summary      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('active', 'resolved')),
    declared_by  INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    resolved_at  INTEGER
);
-- At most one active outage per service: a second declaration is an update.
CREATE UNIQUE INDEX outages_one_active ON outages (service) WHERE state = 'active';

-- Every notice an outage produced, in order: its declaration, updates, resolution.
CREATE TABLE outage_notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    outage_id   INTEGER NOT NULL REFERENCES outages (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('declare', 'update', 'resolve')),
    body        TEXT    NOT NULL,
    actor       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX outage_notices_outage ON outage_notices (outage_id, id);

-- Users who asked to be told about a service. `unreachable_at` is set when a
-- direct message to them failed for good because their DMs are closed; they are
-- skipped until they subscribe again.
CREATE TABLE outage_subscriptions (
    service             TEXT    NOT NULL,
    user_id             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    unreachable_at      INTEGER,
    unreachable_reason  TEXT,
    PRIMARY KEY (service, user_id)
);
CREATE INDEX outage_subscriptions_user ON outage_subscriptions (user_id);

-- One row per subscriber per notice, pointing at the outbox row that carries
-- it: the primary key makes "each subscriber once per notice" a database fact,
-- and the outbox row says whether it was delivered, is pending or failed.
CREATE TABLE outage_deliveries (
    notice_id  INTEGER NOT NULL REFERENCES outage_notices (id),
    user_id    INTEGER NOT NULL,
    outbox_id  INTEGER NOT NULL UNIQUE REFERENCES outbox (id),
    PRIMARY KEY (notice_id, user_id)
);

-- Incidents logged against a service while it had an active outage.
-- `outcome` is set when the outage is resolved: resolved (moved to resolved
-- with the outage as resolution), left_open (its state may not move to
-- resolved, or config keeps linked incidents open), already_done.
CREATE TABLE outage_incidents (
    incident_id  INTEGER PRIMARY KEY REFERENCES incidents (id),
    outage_id    INTEGER NOT NULL REFERENCES outages (id),
    linked_at    INTEGER NOT NULL,
    outcome      TEXT CHECK (outcome IN ('resolved', 'left_open', 'already_done'))
);
CREATE INDEX outage_incidents_outage ON outage_incidents (outage_id, incident_id);

-- The consumer of permanently failed outage DMs. The dispatcher marks an
-- outbox row failed (never retried) when the platform says it can never be
-- delivered; Discord's error 50007 means the user's DMs are closed. In the
-- same statement as that mark, the subscriber is recorded as unreachable on all
-- their subscriptions (DMs are closed for the bot, not for one service), so the
-- next notice skips them and the failure is not counted as lost. A trigger
-- keeps the two facts atomic whichever process delivers, with no polling.
CREATE TRIGGER outage_dm_closed AFTER UPDATE OF failed_at ON outbox
WHEN NEW.failed_at IS NOT NULL AND OLD.failed_at IS NULL
 AND instr(COALESCE(NEW.last_error, ''), '50007') > 0
BEGIN
    UPDATE outage_subscriptions
       SET unreachable_at = NEW.failed_at, unreachable_reason = NEW.last_error
     WHERE unreachable_at IS NULL
       AND user_id IN (SELECT user_id FROM outage_deliveries WHERE outbox_id = NEW.id);
END;
