-- Monitoring alerts (issue 18): one row per problem a hook reported (an
-- alert's fingerprint, a group's key, a generic dedup_key), pointing at the
-- incident it raised, so repeats update that incident instead of logging anew.
CREATE TABLE alert_keys (
    hook          TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    incident_id   INTEGER NOT NULL REFERENCES incidents (id),
    firing        INTEGER NOT NULL CHECK (firing IN (0, 1)),
    -- Notifications received for this problem (distinct deliveries).
    count         INTEGER NOT NULL,
    -- The labels shown on the card (JSON object), the alerts' names (JSON list).
    labels        TEXT    NOT NULL,
    alerts        TEXT    NOT NULL,
    generator_url TEXT,
    link          TEXT,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    PRIMARY KEY (hook, key)
);
CREATE INDEX alert_keys_incident ON alert_keys (incident_id);
