-- PostgreSQL version of migrations/0005_sla.sql.
--
-- SLA clocks and escalation state of incidents.
--
-- Each incident has two clocks (response, resolution) stored as plain columns;
-- `run` counts restarts (reopen with the `restart` policy), so the thresholds a
-- clock has announced are kept per run and each fires once per run.
-- Times are Unix milliseconds (UTC).

CREATE TABLE incident_clocks (
    incident_id       BIGINT  NOT NULL REFERENCES incidents (id),
    kind              TEXT    NOT NULL CHECK (kind IN ('response', 'resolution')),
    run               BIGINT  NOT NULL DEFAULT 0,
    target_secs       BIGINT  NOT NULL CHECK (target_secs >= 1),
    started_at        BIGINT  NOT NULL,
    accumulated_secs  BIGINT  NOT NULL CHECK (accumulated_secs >= 0),
    running_since     BIGINT,
    stopped_at        BIGINT,
    stopped_by        BIGINT,
    PRIMARY KEY (incident_id, kind),
    CHECK (running_since IS NULL OR stopped_at IS NULL)
);

-- Thresholds (warn50, warn75, breach, …) a clock has announced: the primary key
-- is what makes each notice fire once.
CREATE TABLE clock_thresholds (
    incident_id  BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    run          BIGINT  NOT NULL,
    threshold    TEXT    NOT NULL,
    fired_at     BIGINT  NOT NULL,
    late_ms      BIGINT,
    PRIMARY KEY (incident_id, kind, run, threshold),
    FOREIGN KEY (incident_id, kind) REFERENCES incident_clocks (incident_id, kind)
);

-- Hierarchical escalation level (0 none, 1 the incident manager, 2 the service
-- owner) and the major-incident flag. No row means neither.
CREATE TABLE incident_escalation (
    incident_id  BIGINT  PRIMARY KEY REFERENCES incidents (id),
    level        BIGINT  NOT NULL DEFAULT 0 CHECK (level >= 0),
    major        BIGINT  NOT NULL DEFAULT 0 CHECK (major IN (0, 1)),
    major_since  BIGINT,
    updated_at   BIGINT  NOT NULL
);
