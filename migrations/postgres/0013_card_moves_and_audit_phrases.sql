-- PostgreSQL version of migrations/0013_card_moves_and_audit_phrases.sql.
--
-- Two additions, both by ALTER TABLE (nothing is rebuilt, no row is rewritten).
--
-- 1. Cards follow the work. When an incident is escalated to a tier with
--    another channel, its card is posted anew there and the old post is
--    edited to point at it. The move is two outbox rows (post anew, then edit
--    the old post), so a restart between them must still know which message
--    the old post is: the dispatcher keeps it here, in the same transaction
--    that records the new post. NULL when the card never moved.
ALTER TABLE cards ADD COLUMN previous_channel_id TEXT;
ALTER TABLE cards ADD COLUMN previous_message_id TEXT;
CREATE INDEX cards_previous_message ON cards (previous_message_id) WHERE previous_message_id IS NOT NULL;

-- 2. History in words. From now on an audit row's `details` is a phrase that
--    completes "<actor> …" (`took it`, `moved it from new to in progress`),
--    written by `render::history`; `phrased` = 1 marks those rows. Rows
--    written before (free text such as `assignee=sam state=assigned`) keep
--    0 and are shown as stored, never parsed back. Audit rows stay
--    append-only: adding a column changes no row.
ALTER TABLE audit ADD COLUMN phrased BIGINT  NOT NULL DEFAULT 0 CHECK (phrased IN (0, 1));
