//! The facts a service report counts (`domain::report`), read by SQL over
//! indexed columns: incidents by `created_at` (migration 0015), their audit
//! rows by `(subject, action, at)`, clocks and thresholds by incident, surveys
//! by incident, changes by `created_at`, outages by `started_at`.
//!
//! Audit rows are matched on their typed `action` word
//! (`domain::audit::AuditAction::as_str`), never on their `details` text.

use super::{Flag, Sql};
use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::audit::AuditAction;
use crate::domain::incident::IncidentId;
use crate::domain::priority::Priority;
use crate::domain::raci::Action;
use crate::domain::report::{
    ChangeFacts, Decision, IncidentFacts, OutageFacts, ProblemFigures, Report, ReportQuery, Satisfaction, SlaResult,
};

fn word(a: Action) -> &'static str {
    AuditAction::Raci(a).as_str()
}

/// Every figure of one report: the three reads, counted.
pub async fn report(conn: &mut Conn, q: &ReportQuery) -> Result<Report> {
    let incidents = incidents(conn, q).await?;
    let changes = changes(conn, q).await?;
    let outages = outages(conn, q).await?;
    let mut report = Report::build(q.clone(), &incidents, &changes, &outages);
    report.problems = problems(conn, q).await?;
    Ok(report)
}

/// The problem figures of a report (the service filter applies; problems
/// have no priority).
pub async fn problems(conn: &mut Conn, q: &ReportQuery) -> Result<ProblemFigures> {
    let (logged, open, known, linked): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM problems WHERE created_at >= $1 AND created_at < $2
                   AND ($3 IS NULL OR service = $3)),
                (SELECT COUNT(*) FROM problems WHERE state NOT IN ('resolved', 'closed', 'cancelled')
                   AND ($3 IS NULL OR service = $3)),
                (SELECT COUNT(*) FROM problems WHERE state = 'known_error' AND ($3 IS NULL OR service = $3)),
                (SELECT COUNT(*) FROM problem_incidents p JOIN incidents i ON i.id = p.incident_id
                  WHERE i.created_at >= $1 AND i.created_at < $2 AND ($3 IS NULL OR i.service = $3))",
    )
    .bind(to_ms(q.period.from))
    .bind(to_ms(q.period.to))
    .bind(&q.service)
    .fetch_one(conn)
    .await?;
    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(ProblemFigures {
        logged: n(logged),
        open: n(open),
        known_errors: n(known),
        incidents_linked: n(linked),
    })
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: i64,
    priority: i64,
    service: Option<String>,
    created_at: i64,
    first_response: Option<i64>,
    resolved_at: Option<i64>,
    reopened_at: Option<i64>,
    // EXISTS: an integer on SQLite, a boolean on PostgreSQL; `Flag` reads both.
    cancelled: Flag,
    functional: i64,
    hierarchical: i64,
    major: i64,
    resp_target: Option<i64>,
    resp_elapsed: Option<i64>,
    resp_stopped: Option<i64>,
    resp_breach: Flag,
    res_target: Option<i64>,
    res_elapsed: Option<i64>,
    res_stopped: Option<i64>,
    res_breach: Flag,
    answer: Option<String>,
    asked: Flag,
}

/// The incidents logged in the query's period, with what happened to them before its end.
///
/// A clock's result is as it stands now: stopped clocks compare the time
/// they counted (business time, pauses excluded) with their target; a
/// running or paused clock is breached once its breach was announced.
pub async fn incidents(conn: &mut Conn, q: &ReportQuery) -> Result<Vec<IncidentFacts>> {
    let to = to_ms(q.period.to);
    let audit = |alias: &str, agg: &str, actions: &[&str]| {
        let list = actions.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        format!(
            "(SELECT {agg} FROM audit a WHERE a.subject = 'INC-' || i.id AND a.action IN ({list}) AND a.at < {to}) AS {alias}"
        )
    };
    let first_response = [
        AuditAction::Acknowledge.as_str(),
        word(Action::AssignIncident),
        word(Action::UpdateIncident),
        word(Action::ResolveIncident),
    ];
    let clock = |prefix: &str, kind: &str| {
        format!(
            "(SELECT c.target_secs FROM incident_clocks c WHERE c.incident_id = i.id AND c.kind = '{kind}') AS {prefix}_target,
             (SELECT c.accumulated_secs FROM incident_clocks c WHERE c.incident_id = i.id AND c.kind = '{kind}') AS {prefix}_elapsed,
             (SELECT c.stopped_at FROM incident_clocks c WHERE c.incident_id = i.id AND c.kind = '{kind}') AS {prefix}_stopped,
             EXISTS (SELECT 1 FROM clock_thresholds t WHERE t.incident_id = i.id AND t.kind = '{kind}'
                        AND t.threshold = 'breach') AS {prefix}_breach"
        )
    };
    let sql = format!(
        "SELECT i.id, i.priority, i.service, i.created_at,
                {}, {}, {},
                EXISTS (SELECT 1 FROM audit a WHERE a.subject = 'INC-' || i.id AND a.action = '{}' AND a.at < {to}) AS cancelled,
                {}, {}, {},
                {}, {},
                (SELECT s.answer FROM surveys s WHERE s.incident_id = i.id ORDER BY s.id DESC LIMIT 1) AS answer,
                EXISTS (SELECT 1 FROM surveys s WHERE s.incident_id = i.id) AS asked
           FROM incidents i
          WHERE i.created_at >= ",
        audit("first_response", "MIN(a.at)", &first_response),
        audit("resolved_at", "MAX(a.at)", &[word(Action::ResolveIncident)]),
        audit("reopened_at", "MAX(a.at)", &[word(Action::ReopenIncident)]),
        AuditAction::IncidentCancel.as_str(),
        audit("functional", "COUNT(*)", &[word(Action::EscalateFunctional)]),
        audit("hierarchical", "COUNT(*)", &[word(Action::EscalateHierarchical)]),
        audit("major", "COUNT(*)", &[word(Action::MajorIncident)]),
        clock("resp", "response"),
        clock("res", "resolution"),
    );
    let mut b = Sql::new(sql);
    b.push_bind(to_ms(q.period.from));
    b.push(" AND i.created_at < ").push_bind(to);
    if let Some(s) = &q.service {
        b.push(" AND i.service = ").push_bind(s.clone());
    }
    if let Some(p) = q.priority {
        b.push(" AND i.priority = ").push_bind(i64::from(p.level()));
    }
    b.push(" ORDER BY i.created_at, i.id");
    let rows: Vec<IncidentRow> = b.build_query_as().fetch_all(&mut *conn).await?;
    rows.into_iter().map(IncidentFacts::try_from).collect()
}
fn opt_ms(ms: Option<i64>, table: &'static str) -> Result<Option<DateTime<Utc>>> {
    ms.map(|m| from_ms(table, m)).transpose()
}

impl TryFrom<IncidentRow> for IncidentFacts {
    type Error = StoreError;

    fn try_from(r: IncidentRow) -> Result<Self> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "incidents",
            detail,
        };
        let priority = Priority::from_level(r.priority).ok_or_else(|| corrupt(format!("priority {}", r.priority)))?;
        let result = |target: Option<i64>, elapsed: Option<i64>, stopped: Option<i64>, breach: bool| {
            target.map(|t| SlaResult::of(stopped.is_some(), elapsed.unwrap_or(0), t, breach))
        };
        let satisfaction = match r.answer.as_deref() {
            Some("fixed") => Some(Satisfaction::Fixed),
            Some("not_fixed") => Some(Satisfaction::NotFixed),
            Some("timeout") | None if r.asked.0 => Some(Satisfaction::NoAnswer),
            None => None,
            Some(other) => return Err(corrupt(format!("survey answer {other}"))),
        };
        Ok(IncidentFacts {
            id: IncidentId::from_row(r.id),
            priority,
            service: r.service,
            logged_at: from_ms("incidents", r.created_at)?,
            first_response_at: opt_ms(r.first_response, "audit")?,
            resolved_at: opt_ms(r.resolved_at, "audit")?,
            reopened_at: opt_ms(r.reopened_at, "audit")?,
            cancelled: r.cancelled.0,
            response: result(r.resp_target, r.resp_elapsed, r.resp_stopped, r.resp_breach.0),
            resolution: result(r.res_target, r.res_elapsed, r.res_stopped, r.res_breach.0),
            satisfaction,
            functional_escalations: r.functional.max(0) as u32,
            hierarchical_escalations: r.hierarchical.max(0) as u32,
            major: r.major > 0,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    created_at: i64,
    change_type: String,
    state: String,
    outcome: Option<String>,
    decided_at: Option<i64>,
    decided_by: Option<String>,
}

/// The changes filed in the period (of the service, when the query names one).
pub async fn changes(conn: &mut Conn, q: &ReportQuery) -> Result<Vec<ChangeFacts>> {
    let to = to_ms(q.period.to);
    let decisions = [
        word(Action::ChangeAuthorize),
        word(Action::ChangeReject),
        AuditAction::CabClose.as_str(),
    ]
    .iter()
    .map(|a| format!("'{a}'"))
    .collect::<Vec<_>>()
    .join(", ");
    let first = |col: &str| {
        format!(
            "(SELECT a.{col} FROM audit a WHERE a.subject = 'CHG-' || c.id AND a.action IN ({decisions})
                AND a.at < {to} ORDER BY a.at, a.id LIMIT 1)"
        )
    };
    let mut b = Sql::new(format!(
        "SELECT c.created_at, c.change_type, c.state, v.outcome, {} AS decided_at, {} AS decided_by
           FROM changes c LEFT JOIN cab_votes v ON v.change_id = c.id AND v.status = 'closed'
          WHERE c.created_at >= ",
        first("at"),
        first("action"),
    ));
    b.push_bind(to_ms(q.period.from));
    b.push(" AND c.created_at < ").push_bind(to);
    if let Some(s) = &q.service {
        b.push(" AND c.service = ").push_bind(s.clone());
    }
    b.push(" ORDER BY c.created_at, c.id");
    let rows: Vec<ChangeRow> = b.build_query_as().fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let decision = match (r.decided_by.as_deref(), r.decided_at) {
            (Some(action), Some(at)) => {
                let d = if action == word(Action::ChangeAuthorize) {
                    Some(Decision::Authorized)
                } else if action == word(Action::ChangeReject) {
                    Some(Decision::Rejected)
                } else {
                    match r.outcome.as_deref() {
                        Some("approved") => Some(Decision::Authorized),
                        Some("rejected") => Some(Decision::Rejected),
                        Some("no_quorum") => Some(Decision::NoQuorum),
                        _ => None,
                    }
                };
                d.map(|d| from_ms("audit", at).map(|t| (d, t))).transpose()?
            }
            _ => None,
        };
        out.push(ChangeFacts {
            filed_at: from_ms("changes", r.created_at)?,
            emergency: r.change_type == "emergency",
            cancelled: r.state == "cancelled",
            decision,
        });
    }
    Ok(out)
}

/// The outages that started in the period (of the service, when the query names one).
pub async fn outages(conn: &mut Conn, q: &ReportQuery) -> Result<Vec<OutageFacts>> {
    let mut b = Sql::new("SELECT service, started_at, resolved_at FROM outages WHERE started_at >= ");
    b.push_bind(to_ms(q.period.from));
    b.push(" AND started_at < ").push_bind(to_ms(q.period.to));
    if let Some(s) = &q.service {
        b.push(" AND service = ").push_bind(s.clone());
    }
    b.push(" ORDER BY started_at, id");
    let rows: Vec<(String, i64, Option<i64>)> = b.build_query_as().fetch_all(&mut *conn).await?;
    rows.into_iter()
        .map(|(service, started, resolved)| {
            Ok(OutageFacts {
                service,
                started_at: from_ms("outages", started)?,
                resolved_at: opt_ms(resolved, "outages")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::domain::report::Period;
    use crate::store::testing::{exec, temp_store};
    use crate::store::Store;

    /// Monday 2026-11-02 00:00 UTC; the report covers that day and the next.
    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
    }

    fn ms(offset_secs: i64) -> i64 {
        to_ms(t0() + TimeDelta::seconds(offset_secs))
    }

    const H: i64 = 3600;
    const D: i64 = 86_400;

    async fn incident(store: &Store, id: i64, priority: i64, service: Option<&str>, created: i64) {
        let service = service.map_or("NULL".to_owned(), |s| format!("'{s}'"));
        exec(
            store,
            &format!(
                "INSERT INTO incidents (id, title, impact, urgency, priority, service, state, reporter, handler_role,
                                        created_at, updated_at)
                 VALUES ({id}, 't', 'medium', 'medium', {priority}, {service}, 'new', 1, 'service_desk', {}, {})",
                ms(created),
                ms(created)
            ),
        )
        .await;
    }

    async fn audit(store: &Store, id: i64, action: &str, at: i64) {
        let subject = if action.starts_with("change") || action == "cab_close" {
            format!("CHG-{id}")
        } else {
            format!("INC-{id}")
        };
        exec(
            store,
            &format!(
                "INSERT INTO audit (at, actor, action, subject, details, phrased) VALUES ({}, 1, '{action}', '{subject}', 'did it', 1)",
                ms(at)
            ),
        )
        .await;
    }

    /// A clock: `stopped` (offset) or running; `counted` seconds banked.
    async fn clock(store: &Store, id: i64, kind: &str, target: i64, counted: i64, started: i64, stopped: Option<i64>) {
        let (running, stop) = match stopped {
            Some(s) => ("NULL".to_owned(), ms(s).to_string()),
            None => (ms(started).to_string(), "NULL".to_owned()),
        };
        exec(
            store,
            &format!(
                "INSERT INTO incident_clocks (incident_id, kind, run, target_secs, started_at, accumulated_secs,
                                              running_since, stopped_at)
                 VALUES ({id}, '{kind}', 0, {target}, {}, {counted}, {running}, {stop})",
                ms(started)
            ),
        )
        .await;
    }

    async fn survey(store: &Store, id: i64, answer: &str) {
        exec(
            store,
            "INSERT INTO outbox (created_at, kind, destination, payload, next_attempt_at) VALUES (0, 'post', '{}', '{}', 0)",
        )
        .await;
        exec(
            store,
            &format!(
                "INSERT INTO surveys (incident_id, outbox_id, asked_at, answer)
                 VALUES ({id}, (SELECT MAX(id) FROM outbox), 0, {answer})"
            ),
        )
        .await;
    }

    async fn change(store: &Store, id: i64, kind: &str, state: &str, created: i64) {
        exec(
            store,
            &format!(
                "INSERT INTO changes (id, title, service, risk, change_type, state, requester, created_at, updated_at)
                 VALUES ({id}, 'c', 'mail', 'low', '{kind}', '{state}', 1, {}, {})",
                ms(created),
                ms(created)
            ),
        )
        .await;
    }

    async fn vote(store: &Store, id: i64, outcome: &str, closed: i64) {
        exec(
            store,
            &format!(
                "INSERT INTO cab_votes (change_id, board, eligible_roles, quorum, threshold, expected_members, opened_by,
                                        opened_at, closes_at, status, outcome, closed_at)
                 VALUES ({id}, 'cab', '[]', 'majority', 0.5, 3, 1, 0, 0, 'closed', '{outcome}', {})",
                ms(closed)
            ),
        )
        .await;
        audit(store, id, "cab_close", closed).await;
    }

    async fn outage(store: &Store, service: &str, started: i64, resolved: Option<i64>) {
        let (state, res) = match resolved {
            Some(r) => ("resolved", ms(r).to_string()),
            None => ("active", "NULL".to_owned()),
        };
        exec(
            store,
            &format!(
                "INSERT INTO outages (service, impact, summary, state, declared_by, started_at, updated_at, resolved_at)
                 VALUES ('{service}', 'major', 's', '{state}', 1, {}, {}, {res})",
                ms(started),
                ms(started)
            ),
        )
        .await;
    }

    /// The fixed dataset of the exact-figure tests (see each line's comment).
    async fn dataset() -> (Store, tempfile::TempDir) {
        let (store, dir) = temp_store().await;
        // INC-1 P2 mail: acknowledged after 10 min, resolved after 2 h, both clocks met; 👍.
        incident(&store, 1, 2, Some("mail"), 9 * H).await;
        audit(&store, 1, "acknowledge", 9 * H + 600).await;
        audit(&store, 1, "resolve_incident", 11 * H).await;
        clock(&store, 1, "response", 1800, 600, 9 * H, Some(9 * H + 600)).await;
        clock(&store, 1, "resolution", 8 * H, 2 * H, 9 * H, Some(11 * H)).await;
        survey(&store, 1, "'fixed'").await;
        // INC-2 P2 mail: taken after 30 min (exactly its target), on hold most of the
        // day: resolved 8 h after logging with 1 h counted, 👎, reopened, resolved again at 10 h.
        incident(&store, 2, 2, Some("mail"), 10 * H).await;
        audit(&store, 2, "assign_incident", 10 * H + 1800).await;
        audit(&store, 2, "update_incident", 11 * H).await;
        audit(&store, 2, "resolve_incident", 18 * H).await;
        audit(&store, 2, "reopen_incident", 19 * H).await;
        audit(&store, 2, "resolve_incident", 20 * H).await;
        clock(&store, 2, "response", 1800, 1800, 10 * H, Some(10 * H + 1800)).await;
        clock(&store, 2, "resolution", 4 * H, H, 10 * H, Some(20 * H)).await;
        survey(&store, 2, "'not_fixed'").await;
        // INC-3 P3, no service, business hours: logged 09:00, first moved at 17:00 with
        // 2 h of business time counted against 1 h (breached); still open, its
        // resolution breach announced; escalated twice and declared major.
        incident(&store, 3, 3, None, D + 9 * H).await;
        audit(&store, 3, "update_incident", D + 17 * H).await;
        audit(&store, 3, "escalate_functional", D + 17 * H).await;
        audit(&store, 3, "escalate_functional", D + 18 * H).await;
        audit(&store, 3, "major_incident", D + 19 * H).await;
        clock(&store, 3, "response", H, 2 * H, D + 9 * H, Some(D + 17 * H)).await;
        clock(&store, 3, "resolution", 4 * H, 0, D + 9 * H, None).await;
        exec(
            &store,
            "INSERT INTO clock_thresholds (incident_id, kind, run, threshold, fired_at) VALUES (3, 'resolution', 0, 'breach', 0)",
        )
        .await;
        // INC-4 P3 mail: no response, resolved only after the period's end: open at its end.
        incident(&store, 4, 3, Some("mail"), D + 12 * H).await;
        audit(&store, 4, "resolve_incident", 2 * D + H).await;
        clock(&store, 4, "response", 4 * H, 0, D + 12 * H, None).await;
        clock(&store, 4, "resolution", 16 * H, 0, D + 12 * H, None).await;
        // INC-5 P1 mail: cancelled after an hour; its clocks count for nothing.
        incident(&store, 5, 1, Some("mail"), 2 * H).await;
        audit(&store, 5, "incident_cancel", 3 * H).await;
        clock(&store, 5, "response", 60, 3600, 2 * H, Some(3 * H)).await;
        // INC-6 P4: logged before the period.
        incident(&store, 6, 4, Some("mail"), -H).await;
        audit(&store, 6, "acknowledge", 1).await;
        // INC-7 P2 web: acknowledged after 1 min, resolved after 2; the survey timed out.
        incident(&store, 7, 2, Some("web"), D + H).await;
        audit(&store, 7, "acknowledge", D + H + 60).await;
        audit(&store, 7, "resolve_incident", D + H + 120).await;
        clock(&store, 7, "response", 1800, 60, D + H, Some(D + H + 60)).await;
        clock(&store, 7, "resolution", 8 * H, 120, D + H, Some(D + H + 120)).await;
        survey(&store, 7, "'timeout'").await;
        // Changes: authorized by the CAB after 4 h, an emergency rejected after 1 h,
        // no quorum after 24 h, one cancelled.
        change(&store, 1, "normal", "authorized", H).await;
        vote(&store, 1, "approved", 5 * H).await;
        change(&store, 2, "emergency", "rejected", 2 * H).await;
        audit(&store, 2, "change_reject", 3 * H).await;
        change(&store, 3, "normal", "assessment", 3 * H).await;
        vote(&store, 3, "no_quorum", D + 3 * H).await;
        change(&store, 4, "normal", "cancelled", 4 * H).await;
        // Outages: mail down 2 h, mail down again and still down at the end (4 h
        // counted), web down 30 min.
        outage(&store, "mail", 6 * H, Some(8 * H)).await;
        outage(&store, "mail", D + 20 * H, None).await;
        outage(&store, "web", D, Some(D + 1800)).await;
        (store, dir)
    }

    async fn report(store: &Store, period: Period, service: Option<&str>, priority: Option<i64>) -> Report {
        let q = ReportQuery {
            period,
            service: service.map(str::to_owned),
            priority: priority.and_then(Priority::from_level),
        };
        let mut conn = store.read().await.unwrap();
        let incidents = incidents(&mut conn, &q).await.unwrap();
        let changes = changes(&mut conn, &q).await.unwrap();
        let outages = outages(&mut conn, &q).await.unwrap();
        Report::build(q, &incidents, &changes, &outages)
    }

    fn two_days() -> Period {
        Period {
            from: t0(),
            to: t0() + TimeDelta::days(2),
        }
    }

    #[tokio::test]
    async fn a_fixed_dataset_gives_exact_figures() {
        let (store, _dir) = dataset().await;
        let r = report(&store, two_days(), None, None).await;
        assert_eq!((r.logged, r.resolved, r.open, r.cancelled), (6, 3, 2, 1));
        let mtta = r.mtta.unwrap();
        assert_eq!((mtta.count, mtta.median_secs, mtta.p90_secs), (4, 600, 28_800));
        let mttr = r.mttr.unwrap();
        // INC-2 counts to its last resolution (10 h), paused time included: MTTR is wall time.
        assert_eq!((mttr.count, mttr.median_secs, mttr.p90_secs), (3, 7200, 36_000));
        assert_eq!((r.response.met, r.response.breached, r.response.running), (3, 1, 1));
        assert_eq!(r.response.percent_met(), Some(75));
        assert_eq!(
            (r.resolution.met, r.resolution.breached, r.resolution.running),
            (3, 1, 1)
        );
        let breaches: Vec<_> = r.breaches.iter().map(|b| (b.incident.as_str(), b.clock)).collect();
        assert_eq!(breaches, [("INC-3", "response"), ("INC-3", "resolution")]);
        assert_eq!((r.reopened, r.ever_resolved, r.reopen_percent()), (1, 3, Some(33)));
        assert_eq!(
            (r.fixed, r.not_fixed, r.no_answer, r.satisfied_percent()),
            (1, 1, 1, Some(50))
        );
        assert_eq!(
            (r.functional_escalations, r.hierarchical_escalations, r.major_incidents),
            (2, 0, 1)
        );
        let p: Vec<_> = r
            .by_priority
            .iter()
            .map(|(l, f)| (*l, f.logged, f.resolved, f.open))
            .collect();
        assert_eq!(p, [(1, 1, 0, 0), (2, 3, 3, 0), (3, 2, 0, 2)]);
        let p2 = &r.by_priority[&2];
        assert_eq!(p2.mtta.unwrap().median_secs, 600);
        assert_eq!(p2.mttr.unwrap().p90_secs, 36_000);
        assert_eq!(p2.resolution.percent_met(), Some(100));
        let s: Vec<_> = r.by_service.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(s, [("(none)", 1), ("mail", 4), ("web", 1)]);
        let days: Vec<_> = r.days.iter().map(|d| (d.by_priority, d.sla_met_percent)).collect();
        assert_eq!(days, [([1, 2, 0, 0, 0], Some(100)), ([0, 1, 2, 0, 0], Some(50))]);
        let c = r.changes;
        assert_eq!(
            (c.filed, c.authorized, c.rejected, c.no_quorum, c.cancelled, c.emergency),
            (4, 1, 1, 1, 1, 1)
        );
        assert_eq!((c.median_decision_secs, c.emergency_percent()), (Some(4 * H), Some(25)));
        let o: Vec<_> = r
            .outages
            .iter()
            .map(|(k, f)| (k.as_str(), f.count, f.total_secs, f.longest_secs))
            .collect();
        assert_eq!(o, [("mail", 2, 6 * H, 4 * H), ("web", 1, 1800, 1800)]);
    }

    #[tokio::test]
    async fn filters_narrow_incidents_and_the_service_narrows_changes_and_outages() {
        let (store, _dir) = dataset().await;
        let mail = report(&store, two_days(), Some("mail"), None).await;
        assert_eq!((mail.logged, mail.resolved, mail.open, mail.cancelled), (4, 2, 1, 1));
        assert_eq!(mail.changes.filed, 4);
        assert_eq!(mail.outages.keys().collect::<Vec<_>>(), ["mail"]);
        let p3 = report(&store, two_days(), None, Some(3)).await;
        assert_eq!((p3.logged, p3.open, p3.response.breached), (2, 2, 1));
        // Changes and outages have no priority: the filter leaves them whole.
        assert_eq!(p3.changes.filed, 4);
    }

    #[tokio::test]
    async fn a_period_with_no_data_has_no_figures() {
        let (store, _dir) = dataset().await;
        let now = t0();
        let r = report(&store, Period::parse("2026-10", now).unwrap(), None, None).await;
        assert_eq!((r.logged, r.resolved, r.open, r.changes.filed), (0, 0, 0, 0));
        assert_eq!(
            (r.mtta, r.mttr, r.response.percent_met(), r.satisfied_percent()),
            (None, None, None, None)
        );
        assert!(r.outages.is_empty() && r.breaches.is_empty());
        assert_eq!(r.days.len(), 31);
        assert!(r
            .days
            .iter()
            .all(|d| d.by_priority == [0; 5] && d.sla_met_percent.is_none()));
    }
}
