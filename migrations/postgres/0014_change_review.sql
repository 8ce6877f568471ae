-- PostgreSQL version of migrations/0014_change_review.sql.
--
-- Changes from filing to review (issue 16): the post-implementation review
-- note (`!change review CHG-n <text>`), which an emergency change must have
-- before it may close. Added by ALTER TABLE: no row is rewritten.

ALTER TABLE changes ADD COLUMN review TEXT;
