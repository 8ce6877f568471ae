-- PostgreSQL version of migrations/0016_alerts.sql.
--
-- Monitoring alerts (issue 18): one row per problem a hook reported (an
-- alert's fingerprint, a group's key, a generic dedup_key), pointing at the
-- incident it raised, so repeats update that incident instead of logging anew.
CREATE TABLE alert_keys (
    hook          TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    incident_id   BIGINT  NOT NULL REFERENCES incidents (id),
    firing        BIGINT  NOT NULL CHECK (firing IN (0, 1)),
    -- Notifications received for this problem (distinct deliveries).
    count         BIGINT  NOT NULL,
    -- The labels shown on the card (JSON object), the alerts' names (JSON list).
    labels        TEXT    NOT NULL,
    alerts        TEXT    NOT NULL,
    generator_url TEXT,
    link          TEXT,
    first_seen    BIGINT  NOT NULL,
    last_seen     BIGINT  NOT NULL,
    PRIMARY KEY (hook, key)
);
CREATE INDEX alert_keys_incident ON alert_keys (incident_id);
