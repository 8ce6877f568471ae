-- Keep `!search`'s index (0010) alive across a rebuild of `incidents`.
--
-- A migration that rebuilds `incidents` by SQLite's procedure (create, copy,
-- drop, rename: 0011 does, to allow the `cancelled` state) drops the triggers
-- that keep `incident_search` in step, silently: new titles and resolutions
-- would no longer be found. This recreates them where they are missing and
-- re-indexes every incident from its rows, whichever order the migrations of
-- parallel branches landed in. It must stay numbered after every migration
-- that rebuilds `incidents` or `incident_notes`; a later rebuild needs the
-- same again.

CREATE TRIGGER IF NOT EXISTS incident_search_insert AFTER INSERT ON incidents
BEGIN
    INSERT INTO incident_search (rowid, title, notes, resolution)
    VALUES (new.id, new.title, '', COALESCE(new.resolution, ''));
END;

CREATE TRIGGER IF NOT EXISTS incident_search_update AFTER UPDATE OF title, resolution ON incidents
WHEN old.title IS NOT new.title OR old.resolution IS NOT new.resolution
BEGIN
    UPDATE incident_search SET title = new.title, resolution = COALESCE(new.resolution, '')
     WHERE rowid = new.id;
END;

CREATE TRIGGER IF NOT EXISTS incident_search_note AFTER INSERT ON incident_notes
BEGIN
    UPDATE incident_search
       SET notes = CASE WHEN notes = '' THEN new.body ELSE notes || char(10) || new.body END
     WHERE rowid = new.incident_id;
END;

CREATE TRIGGER IF NOT EXISTS incident_search_delete AFTER DELETE ON incidents
BEGIN
    DELETE FROM incident_search WHERE rowid = old.id;
END;

DELETE FROM incident_search;
INSERT INTO incident_search (rowid, title, notes, resolution)
SELECT i.id,
       i.title,
       COALESCE((SELECT group_concat(body, char(10))
                   FROM (SELECT n.body FROM incident_notes n WHERE n.incident_id = i.id ORDER BY n.id)), ''),
       COALESCE(i.resolution, '')
  FROM incidents i;
