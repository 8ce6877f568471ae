-- PostgreSQL version of migrations/0008_outbox_failure.sql (`strpos` for `instr`).
--
-- Why the dispatcher gave up on an outbox row, as a typed column instead of a
-- substring of its error text. It is set in the same statement as `failed_at`:
-- 'permanent' when the platform can never deliver the message (an unknown
-- channel, a body it refuses), 'unreachable' when the recipient cannot be
-- reached (on Discord, error 50007: the user's DMs are closed to the bot).
-- NULL while the row is pending and once it is delivered. `last_error` keeps
-- the platform's words for people to read; no rule reads them any more.
ALTER TABLE outbox ADD COLUMN failure TEXT CHECK (failure IN ('permanent', 'unreachable'));

-- Rows given up on before this migration said why only in `last_error`, where
-- the Discord transport wrote "dms closed (50007)" for a closed inbox.
UPDATE outbox
   SET failure = CASE WHEN strpos(COALESCE(last_error, ''), '50007') > 0 THEN 'unreachable' ELSE 'permanent' END
 WHERE failed_at IS NOT NULL;

-- The dispatcher now marks a notice's subscriber unreachable itself, in the
-- transaction that records the failure (store::subscriptions::mark_unreachable),
-- so no trigger looks for a Discord error code in the error text. Subscribers
-- the trigger already marked stay marked.
DROP TRIGGER outage_dm_closed ON outbox;
DROP FUNCTION outage_dm_closed();
