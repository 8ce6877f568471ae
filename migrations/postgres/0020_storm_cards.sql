-- PostgreSQL version of migrations/0020_storm_cards.sql.
--
-- One card per storm (issue 22): a report linked to an active outage when it
-- is logged gets no card of its own in its handler's channel; the outage's
-- grouped card there counts it instead, and the report gets its card (and
-- thread) only when someone works it or its reporter adds a note.
--
-- `grouped` marks the links made at intake that the grouped card counts;
-- `carded_at` is when such a report was given its own card (NULL while it
-- has none). Links made any other way (`!outage link`, the link window, a
-- corrected service) keep the card the incident already has.
ALTER TABLE outage_incidents ADD COLUMN grouped BIGINT  NOT NULL DEFAULT 0;
ALTER TABLE outage_incidents ADD COLUMN carded_at BIGINT;

-- The grouped card of an outage: the role whose channel shows it, and when
-- its last version was queued with how many reports it counted, so edits
-- are coalesced to one per `outage.storm_card_every` through a stored timer
-- (kind `storm_card`) that survives a restart.
CREATE TABLE storm_cards (
    outage_id  BIGINT  PRIMARY KEY REFERENCES outages (id),
    role       TEXT    NOT NULL,
    edited_at  BIGINT  NOT NULL,
    shown      BIGINT  NOT NULL
);
