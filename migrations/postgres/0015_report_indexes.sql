-- PostgreSQL version of migrations/0015_report_indexes.sql.
--
-- Service reports (`!report`) read incidents, changes and outages by the
-- time they began, and each record's audit rows by action: these indexes
-- keep a month's report over a million incidents to index range scans.
CREATE INDEX incidents_created ON incidents (created_at);
CREATE INDEX changes_created ON changes (created_at);
CREATE INDEX outages_started ON outages (started_at);
CREATE INDEX audit_subject_action ON audit (subject, action, at);
