-- The satisfaction question asked of a reporter when their incident is
-- resolved (👍 closes, 👎 reopens, no answer closes after a timeout). The
-- question is an outbox message; reactions find it by its platform id.

CREATE TABLE surveys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    outbox_id    INTEGER NOT NULL REFERENCES outbox (id),
    asked_at     INTEGER NOT NULL,
    answer       TEXT CHECK (answer IN ('fixed', 'not_fixed', 'timeout')),
    answered_at  INTEGER
);
CREATE INDEX surveys_incident ON surveys (incident_id, id);
CREATE INDEX surveys_outbox ON surveys (outbox_id);
