-- PostgreSQL version of migrations/0011_incident_search.sql.
--
-- Full-text search over incidents (`!search`). SQLite has an FTS5 virtual
-- table; PostgreSQL has no FTS5, so this is a plain table of the same name and
-- text columns (title, notes in the order written one per line, resolution),
-- keyed by `rowid` = the incident's id as FTS5's rowid is, so the store's
-- joins (`incident_search.rowid = i.id`) read the same on both. `document` is
-- the searchable form: an English tsvector (Snowball stemming, so "restart"
-- finds "restarted", as SQLite's porter tokenizer does), kept by PostgreSQL
-- itself as a generated column and indexed with GIN.
--
-- What the PostgreSQL store will query in place of FTS5's MATCH, bm25() and
-- snippet() (src/store/search.rs, dialect-specific):
--   WHERE incident_search.document @@ plainto_tsquery('english', $1)
--   ORDER BY ts_rank(incident_search.document, plainto_tsquery('english', $1)) DESC, i.id DESC
--   ts_headline('english', title, plainto_tsquery('english', $1),
--               'StartSel=U+E000, StopSel=U+E001, MaxWords=12, MinWords=3')
-- with $1 the user's words joined by spaces: plainto_tsquery requires every
-- word and reads no query syntax, as the quoted FTS5 expression does.
-- Not matched yet: FTS5's remove_diacritics ("resume" finding "résumé") would
-- need the `unaccent` extension behind an IMMUTABLE wrapper.
--
-- Kept in step by triggers, as on SQLite, so every path that writes a title,
-- a resolution or a note updates the index in the same transaction.

CREATE TABLE incident_search (
    rowid       BIGINT PRIMARY KEY,
    title       TEXT   NOT NULL,
    notes       TEXT   NOT NULL,
    resolution  TEXT   NOT NULL,
    document    tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, title || ' ' || notes || ' ' || resolution)
    ) STORED
);
CREATE INDEX incident_search_document ON incident_search USING GIN (document);

-- Backfill every incident already logged, with its notes in order.
INSERT INTO incident_search (rowid, title, notes, resolution)
SELECT i.id,
       i.title,
       COALESCE((SELECT string_agg(n.body, E'\n' ORDER BY n.id)
                   FROM incident_notes n WHERE n.incident_id = i.id), ''),
       COALESCE(i.resolution, '')
  FROM incidents i;

CREATE FUNCTION incident_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_search (rowid, title, notes, resolution)
    VALUES (NEW.id, NEW.title, '', COALESCE(NEW.resolution, ''));
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_search_insert AFTER INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION incident_search_insert();

CREATE FUNCTION incident_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE incident_search SET title = NEW.title, resolution = COALESCE(NEW.resolution, '')
     WHERE rowid = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_search_update AFTER UPDATE OF title, resolution ON incidents
    FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.resolution IS DISTINCT FROM NEW.resolution)
    EXECUTE FUNCTION incident_search_update();

CREATE FUNCTION incident_search_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE incident_search
       SET notes = CASE WHEN notes = '' THEN NEW.body ELSE notes || E'\n' || NEW.body END
     WHERE rowid = NEW.incident_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_search_note AFTER INSERT ON incident_notes
    FOR EACH ROW EXECUTE FUNCTION incident_search_note();

CREATE FUNCTION incident_search_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM incident_search WHERE rowid = OLD.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_search_delete AFTER DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incident_search_delete();
