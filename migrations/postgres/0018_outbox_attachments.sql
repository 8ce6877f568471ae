-- PostgreSQL version of migrations/0018_outbox_attachments.sql.
--
-- A file sent with an outbox message (the service report's chart, a PNG).
-- The message's JSON (`payload`) names the file; its bytes are kept here,
-- beside the JSON rather than inside it, and only until the message is
-- delivered: `store::outbox::mark_delivered` clears them in the statement that
-- marks the row, so the delivered history does not keep every chart. A row
-- that failed or was dead-lettered keeps its file, as it keeps its payload.
ALTER TABLE outbox ADD COLUMN attachment BYTEA;
