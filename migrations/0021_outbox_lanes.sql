-- Delivery by urgency and by destination (issue 22): the dispatcher keeps a
-- queue per destination (`queue`: a role's channel, a named channel, a
-- record's thread, or all direct messages) and delivers each queue on its
-- own, so a channel held to Discord's 5 messages per 5 s never holds up
-- another; within a queue, rows go by `lane`, then by id:
--   0 urgent: what P1/P2 and major incidents send to channels and threads
--             (cards, role pings, FYIs, thread posts);
--   1 normal: other cards, edits, posts and thread posts;
--   2 bulk:   direct messages to subscribers and reporters.
-- A record's rows keep their order whatever their lanes (a row waits while
-- an earlier row of its subject is undelivered, as before).
--
-- Rows queued before this migration keep the queue '' (delivered in id
-- order by a queue of their own) and the normal lane.
ALTER TABLE outbox ADD COLUMN lane INTEGER NOT NULL DEFAULT 1 CHECK (lane BETWEEN 0 AND 2);
ALTER TABLE outbox ADD COLUMN queue TEXT NOT NULL DEFAULT '';

CREATE INDEX outbox_pending_queue ON outbox (queue, lane, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
