-- Problem management: problem records (`PRB-n`), the incidents they cause,
-- the change that fixes them, and the known-error database search.
--
-- An incident is linked to one problem at most (its primary key says so):
-- a recurring incident has one underlying defect, and two problems would
-- give it two workarounds and two fixes racing to resolve it.

CREATE TABLE problems (
    id          INTEGER PRIMARY KEY,
    title       TEXT    NOT NULL,
    service     TEXT,
    state       TEXT    NOT NULL,
    root_cause  TEXT,
    workaround  TEXT,
    resolution  TEXT,
    owner       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX problems_state ON problems (state, service);

CREATE TABLE problem_incidents (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    problem_id  INTEGER NOT NULL REFERENCES problems (id),
    linked_by   INTEGER NOT NULL,
    linked_at   INTEGER NOT NULL
);
CREATE INDEX problem_incidents_problem ON problem_incidents (problem_id);

-- The RFC raised to fix a problem (`!change … problem=PRB-n`): one problem per change.
CREATE TABLE problem_changes (
    change_id   INTEGER PRIMARY KEY REFERENCES changes (id),
    problem_id  INTEGER NOT NULL REFERENCES problems (id),
    linked_at   INTEGER NOT NULL
);
CREATE INDEX problem_changes_problem ON problem_changes (problem_id);

-- A new incident that looks like a known error: the suggestion its card shows.
CREATE TABLE problem_suggestions (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    problem_id  INTEGER NOT NULL REFERENCES problems (id),
    made_at     INTEGER NOT NULL
);

-- Prompts to the problem manager, asked once per incident and reason
-- (`major`: a major incident resolved; `reopened`: reopened repeatedly).
CREATE TABLE problem_prompts (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    reason      TEXT    NOT NULL CHECK (reason IN ('major', 'reopened')),
    asked_at    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, reason)
);

-- The known-error database search: one FTS5 row per problem (rowid = its id),
-- kept in step by triggers like `incident_search` (migration 0011).
CREATE VIRTUAL TABLE problem_search USING fts5(
    title,
    root_cause,
    workaround,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER problem_search_insert AFTER INSERT ON problems
BEGIN
    INSERT INTO problem_search (rowid, title, root_cause, workaround)
    VALUES (new.id, new.title, COALESCE(new.root_cause, ''), COALESCE(new.workaround, ''));
END;

CREATE TRIGGER problem_search_update AFTER UPDATE OF title, root_cause, workaround ON problems
BEGIN
    UPDATE problem_search
       SET title = new.title, root_cause = COALESCE(new.root_cause, ''), workaround = COALESCE(new.workaround, '')
     WHERE rowid = new.id;
END;

-- How often each incident was reopened (resolved → in progress), so the
-- desk can ask for a problem when incidents keep coming back.
CREATE TABLE incident_reopens (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    reopens     INTEGER NOT NULL
);
