-- Full-text search over incidents (`!search`): one FTS5 row per incident,
-- its rowid the incident's id, holding its title, its notes (in the order
-- written, one per line) and its resolution.
--
-- Kept in step by triggers rather than by the store's writes, so that every
-- path that writes a title, a resolution or a note (now and in commands still
-- to come) updates the index in the same transaction, with no call to forget.
-- A migration that rebuilds `incidents` or `incident_notes` (drop and rename)
-- drops their triggers with them and must create these again.
--
-- The porter stemmer over unicode61 lets "restart" find "restarted"; diacritics
-- are folded ("resume" finds "résumé").

CREATE VIRTUAL TABLE incident_search USING fts5(
    title,
    notes,
    resolution,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- Backfill every incident already logged, with its notes in order.
INSERT INTO incident_search (rowid, title, notes, resolution)
SELECT i.id,
       i.title,
       COALESCE((SELECT group_concat(body, char(10))
                   FROM (SELECT n.body FROM incident_notes n WHERE n.incident_id = i.id ORDER BY n.id)), ''),
       COALESCE(i.resolution, '')
  FROM incidents i;

CREATE TRIGGER incident_search_insert AFTER INSERT ON incidents
BEGIN
    INSERT INTO incident_search (rowid, title, notes, resolution)
    VALUES (new.id, new.title, '', COALESCE(new.resolution, ''));
END;

CREATE TRIGGER incident_search_update AFTER UPDATE OF title, resolution ON incidents
WHEN old.title IS NOT new.title OR old.resolution IS NOT new.resolution
BEGIN
    UPDATE incident_search SET title = new.title, resolution = COALESCE(new.resolution, '')
     WHERE rowid = new.id;
END;

CREATE TRIGGER incident_search_note AFTER INSERT ON incident_notes
BEGIN
    UPDATE incident_search
       SET notes = CASE WHEN notes = '' THEN new.body ELSE notes || char(10) || new.body END
     WHERE rowid = new.incident_id;
END;

CREATE TRIGGER incident_search_delete AFTER DELETE ON incidents
BEGIN
    DELETE FROM incident_search WHERE rowid = old.id;
END;
