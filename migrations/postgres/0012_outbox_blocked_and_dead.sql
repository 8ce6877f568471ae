-- PostgreSQL version of migrations/0012_outbox_blocked_and_dead.sql.
--
-- Delivery that gives up honestly.
--
-- `blocked_at`: set on a pending row that cannot be delivered until something
-- changes on the platform (on Discord: the bot may not post in the channel, or
-- the channel does not exist). A blocked row is not tried again on a timer; it
-- is unblocked when the guild's channels, roles or permissions change and at
-- every start, and it still holds back the cards of its subject, so a card's
-- edits never overtake the card. `last_error` says why, in the platform's
-- words.
--
-- `dead_at`: set when the dispatcher gave up on a row that kept failing (or
-- stayed blocked) for `outbox.give_up_after`; `failed_at` is set with it, so
-- the row is out of delivery like any failed row, and `failure` stays NULL:
-- the reason is the one the row last failed with, kept in `last_error`.
ALTER TABLE outbox ADD COLUMN blocked_at BIGINT;
ALTER TABLE outbox ADD COLUMN dead_at BIGINT;

-- Blocked rows, for `opsdesk status` and the unblocking after a change.
CREATE INDEX outbox_blocked ON outbox (blocked_at) WHERE blocked_at IS NOT NULL AND delivered_at IS NULL AND failed_at IS NULL;
