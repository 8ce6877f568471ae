-- PostgreSQL version of migrations/0007_outbox_subject_order.sql.
--
-- The dispatcher delivers a subject's messages in order: a row waits while an
-- earlier undelivered row of its subject exists. This index makes that check
-- a lookup instead of a scan of every pending row.
CREATE INDEX outbox_pending_subject ON outbox (subject, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
-- Pending rows in delivery order, so finding what is due never walks the
-- delivered history.
CREATE INDEX outbox_pending_order ON outbox (id) WHERE delivered_at IS NULL AND failed_at IS NULL;
