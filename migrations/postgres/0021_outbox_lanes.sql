-- PostgreSQL version of migrations/0021_outbox_lanes.sql.
--
-- Delivery by urgency and by destination: `queue` is the row's delivery
-- queue (`Destination::queue`), `lane` its urgency (0 urgent, 1 normal,
-- 2 bulk); the dispatcher delivers each queue on its own, by lane then id.
-- Rows queued before this migration keep the queue '' and the normal lane.
ALTER TABLE outbox ADD COLUMN lane BIGINT NOT NULL DEFAULT 1 CHECK (lane BETWEEN 0 AND 2);
ALTER TABLE outbox ADD COLUMN queue TEXT NOT NULL DEFAULT '';

CREATE INDEX outbox_pending_queue ON outbox (queue, lane, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
