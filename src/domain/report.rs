//! Service reports (`!report`, `opsdesk report`): the period and filters a
//! report covers, the per-record facts the store reads for it, and the
//! figures made from them (volume, MTTA/MTTR, SLA compliance, reopen rate,
//! satisfaction, escalations, CAB decisions, outages).
//!
//! Pure: std, chrono and serde only. The store turns audit rows, clocks,
//! surveys, votes and outages into [`IncidentFacts`], [`ChangeFacts`] and
//! [`OutageFacts`] by SQL; [`Report::build`] only counts and ranks them, so
//! every figure is defined once, here (and in the README's words).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::Serialize;

use super::incident::IncidentId;
use super::priority::Priority;

/// The half-open span `[from, to)` a report covers, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Why a period or filter was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("`{0}` is not a period: write 7d, 30d, 2026-11 or 2026-11-01..2026-11-15")]
    Unknown(String),
    #[error("the span `{0}` ends before it starts")]
    Backwards(String),
}

impl Period {
    /// The last `days` days up to `now`.
    pub fn last_days(days: i64, now: DateTime<Utc>) -> Self {
        Self {
            from: now - TimeDelta::days(days),
            to: now,
        }
    }

    /// The calendar week (Monday 00:00 UTC to Monday 00:00) before the one holding `now`.
    pub fn last_week(now: DateTime<Utc>) -> Self {
        let today = now.date_naive();
        let monday = today - TimeDelta::days(i64::from(today.weekday().num_days_from_monday()));
        let to = Utc.from_utc_datetime(&monday.and_hms_opt(0, 0, 0).expect("midnight exists"));
        Self {
            from: to - TimeDelta::days(7),
            to,
        }
    }

    /// The UTC days the period touches, in order (at most 400).
    pub fn days(&self) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut d = self.from.date_naive();
        let last = (self.to - TimeDelta::milliseconds(1)).date_naive();
        while d <= last && out.len() < 400 {
            out.push(d);
            d = match d.succ_opt() {
                Some(n) => n,
                None => break,
            };
        }
        out
    }
}

/// A period as written (`7d`, `2026-11`, `2026-11-01..2026-11-15`), before
/// the clock makes it a [`Period`]: the parser has no clock, the desk has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodSpec {
    /// The last `n` days (1 to 366) up to now.
    LastDays(i64),
    /// A calendar month, UTC.
    Month(NaiveDate),
    /// From the first day's start to the last day's end, UTC.
    Span(NaiveDate, NaiveDate),
}

impl PeriodSpec {
    /// Reads `7d`, `30d` (any `<n>d` from 1 to 366), `YYYY-MM` (that calendar
    /// month) or `YYYY-MM-DD..YYYY-MM-DD` (both days included).
    pub fn parse(text: &str) -> Result<Self, PeriodError> {
        // What is echoed back is cut short: a wall of text is not repeated.
        let echo: String = text.trim().chars().take(30).collect();
        let unknown = || PeriodError::Unknown(echo.clone());
        let t = text.trim();
        if let Some(n) = t.strip_suffix(['d', 'D']) {
            let days: i64 = n.parse().map_err(|_| unknown())?;
            if !(1..=366).contains(&days) {
                return Err(unknown());
            }
            return Ok(PeriodSpec::LastDays(days));
        }
        if let Some((a, b)) = t.split_once("..") {
            let day = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| unknown());
            let (a, b) = (day(a)?, day(b)?);
            if b < a {
                return Err(PeriodError::Backwards(echo.clone()));
            }
            b.succ_opt().ok_or_else(unknown)?;
            return Ok(PeriodSpec::Span(a, b));
        }
        if t.len() != 7 {
            return Err(unknown());
        }
        let first = NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d").map_err(|_| unknown())?;
        first.checked_add_months(Months::new(1)).ok_or_else(unknown)?;
        Ok(PeriodSpec::Month(first))
    }

    /// The span this names at `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> Period {
        let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"));
        match self {
            PeriodSpec::LastDays(n) => Period::last_days(n, now),
            PeriodSpec::Month(first) => Period {
                from: midnight(first),
                to: midnight(first.checked_add_months(Months::new(1)).unwrap_or(first)),
            },
            PeriodSpec::Span(a, b) => Period {
                from: midnight(a),
                to: midnight(b.succ_opt().unwrap_or(b)),
            },
        }
    }
}

impl Period {
    /// Reads a period as [`PeriodSpec::parse`] does and resolves it at `now`.
    pub fn parse(text: &str, now: DateTime<Utc>) -> Result<Self, PeriodError> {
        Ok(PeriodSpec::parse(text)?.resolve(now))
    }
}

/// What one report covers: a period and optional service and priority filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportQuery {
    pub period: Period,
    /// A service key; `None` is every service (and incidents with none).
    pub service: Option<String>,
    /// Incidents of this priority only (changes and outages have none: the
    /// filter leaves them whole).
    #[serde(serialize_with = "priority_level")]
    pub priority: Option<Priority>,
}

fn priority_level<S: serde::Serializer>(p: &Option<Priority>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_some(&p.map(Priority::level))
}

/// How an SLA clock of an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaResult {
    /// Stopped within its target.
    Met,
    /// Stopped past its target, or announced its breach while running.
    Breached,
    /// Running or paused, not yet past its target.
    Running,
}

impl SlaResult {
    /// The result of a clock from its stored columns: `elapsed_secs` counted
    /// (business time, pauses excluded) against `target_secs`, whether it is
    /// stopped, and whether its breach was announced.
    pub fn of(stopped: bool, elapsed_secs: i64, target_secs: i64, breach_fired: bool) -> Self {
        if breach_fired || (stopped && elapsed_secs > target_secs) {
            SlaResult::Breached
        } else if stopped {
            SlaResult::Met
        } else {
            SlaResult::Running
        }
    }
}

/// The reporter's answer to the satisfaction question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Fixed,
    NotFixed,
    /// Asked and not answered (timed out or still waiting).
    NoAnswer,
}

/// What the store found about one incident logged in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFacts {
    pub id: IncidentId,
    pub priority: Priority,
    pub service: Option<String>,
    pub logged_at: DateTime<Utc>,
    /// The first response before the period's end: ack, take, assign or a lifecycle move.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The last resolution before the period's end.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The last reopening before the period's end.
    pub reopened_at: Option<DateTime<Utc>>,
    /// Cancelled before the period's end: no SLA result.
    pub cancelled: bool,
    pub response: Option<SlaResult>,
    pub resolution: Option<SlaResult>,
    pub satisfaction: Option<Satisfaction>,
    pub functional_escalations: u32,
    pub hierarchical_escalations: u32,
    pub major: bool,
}

impl IncidentFacts {
    /// Resolved at the period's end: resolved, and not reopened since.
    pub fn is_resolved(&self) -> bool {
        match (self.resolved_at, self.reopened_at) {
            (Some(r), Some(o)) => o < r,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Still open at the period's end: neither resolved (since the last reopening) nor cancelled.
    pub fn is_open(&self) -> bool {
        !self.cancelled && !self.is_resolved()
    }
}

/// How a change's authorization ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Authorized,
    Rejected,
    NoQuorum,
}

/// What the store found about one change filed in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFacts {
    pub filed_at: DateTime<Utc>,
    pub emergency: bool,
    pub cancelled: bool,
    /// The first decision before the period's end, and when.
    pub decision: Option<(Decision, DateTime<Utc>)>,
}

/// What the store found about one outage that started in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageFacts {
    pub service: String,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Median and 90th percentile (nearest rank) of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub count: usize,
    pub median_secs: i64,
    pub p90_secs: i64,
}

impl Spread {
    /// `None` for no samples. Nearest rank: the value at rank ⌈p·n⌉.
    pub fn of(mut secs: Vec<i64>) -> Option<Self> {
        if secs.is_empty() {
            return None;
        }
        secs.sort_unstable();
        let rank = |p: f64| {
            let r = (p * secs.len() as f64).ceil() as usize;
            secs[r.clamp(1, secs.len()) - 1]
        };
        Some(Self {
            count: secs.len(),
            median_secs: rank(0.5),
            p90_secs: rank(0.9),
        })
    }
}

/// Met, breached and still running clocks of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SlaTally {
    pub met: u32,
    pub breached: u32,
    pub running: u32,
}

impl SlaTally {
    fn add(&mut self, result: Option<SlaResult>) {
        match result {
            Some(SlaResult::Met) => self.met += 1,
            Some(SlaResult::Breached) => self.breached += 1,
            Some(SlaResult::Running) => self.running += 1,
            None => {}
        }
    }

    /// Met as a whole percentage of the decided (met + breached); `None` when none is decided.
    pub fn percent_met(&self) -> Option<u32> {
        percent(self.met, self.met + self.breached)
    }
}

fn percent(part: u32, whole: u32) -> Option<u32> {
    (whole > 0).then(|| ((f64::from(part) * 100.0) / f64::from(whole)).round() as u32)
}

/// The figures of one priority.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PriorityFigures {
    pub logged: u32,
    pub resolved: u32,
    pub open: u32,
    pub mtta: Option<Spread>,
    pub mttr: Option<Spread>,
    pub response: SlaTally,
    pub resolution: SlaTally,
}

/// One breached clock, for the list of breaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    pub incident: String,
    pub priority: u8,
    /// `response` or `resolution`.
    pub clock: &'static str,
}

/// Volume, total and longest duration of a service's outages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutageFigures {
    pub count: u32,
    pub total_secs: i64,
    pub longest_secs: i64,
}

/// Problem management: problems logged in the period, those still open and
/// the known errors among them as the report is made, and the incidents of
/// the period linked to a problem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProblemFigures {
    pub logged: u32,
    pub open: u32,
    pub known_errors: u32,
    pub incidents_linked: u32,
}

/// Change decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChangeFigures {
    pub filed: u32,
    pub authorized: u32,
    pub rejected: u32,
    pub no_quorum: u32,
    pub cancelled: u32,
    pub emergency: u32,
    /// Median time from filing to the decision, over decided changes.
    pub median_decision_secs: Option<i64>,
}

impl ChangeFigures {
    /// Emergency changes as a whole percentage of those filed.
    pub fn emergency_percent(&self) -> Option<u32> {
        percent(self.emergency, self.filed)
    }
}

/// One day of the chart: incidents logged per priority and the SLA-met % of
/// the resolution clocks decided among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub date: NaiveDate,
    /// Logged that day, P1 first.
    pub by_priority: [u32; 5],
    pub sla_met_percent: Option<u32>,
}

/// Every figure of one report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub query: ReportQuery,
    pub logged: u32,
    pub resolved: u32,
    pub open: u32,
    pub cancelled: u32,
    pub mtta: Option<Spread>,
    pub mttr: Option<Spread>,
    /// Keyed by priority level, 1 to 5, only those with incidents.
    pub by_priority: BTreeMap<u8, PriorityFigures>,
    /// Logged per service (`(none)` for incidents with no service).
    pub by_service: BTreeMap<String, u32>,
    pub response: SlaTally,
    pub resolution: SlaTally,
    pub breaches: Vec<Breach>,
    /// Incidents reopened at least once, of those ever resolved.
    pub reopened: u32,
    pub ever_resolved: u32,
    pub fixed: u32,
    pub not_fixed: u32,
    pub no_answer: u32,
    pub functional_escalations: u32,
    pub hierarchical_escalations: u32,
    pub major_incidents: u32,
    pub changes: ChangeFigures,
    pub problems: ProblemFigures,
    pub outages: BTreeMap<String, OutageFigures>,
    pub days: Vec<Day>,
}

/// The name incidents with no service are counted under.
pub const NO_SERVICE: &str = "(none)";

impl Report {
    /// Counts the facts into figures.
    pub fn build(
        query: ReportQuery,
        incidents: &[IncidentFacts],
        changes: &[ChangeFacts],
        outages: &[OutageFacts],
    ) -> Self {
        let secs = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_seconds().max(0);
        let mut by_priority: BTreeMap<u8, PriorityFigures> = BTreeMap::new();
        let mut by_service: BTreeMap<String, u32> = BTreeMap::new();
        let (mut mtta_all, mut mttr_all) = (Vec::new(), Vec::new());
        let mut mtta_p: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
        let mut mttr_p: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
        let (mut response, mut resolution) = (SlaTally::default(), SlaTally::default());
        let mut breaches = Vec::new();
        let days_list = query.period.days();
        let mut days: Vec<Day> = days_list
            .iter()
            .map(|d| Day {
                date: *d,
                by_priority: [0; 5],
                sla_met_percent: None,
            })
            .collect();
        let mut day_sla: Vec<SlaTally> = vec![SlaTally::default(); days.len()];
        let mut r = Report {
            query: query.clone(),
            logged: 0,
            resolved: 0,
            open: 0,
            cancelled: 0,
            mtta: None,
            mttr: None,
            by_priority: BTreeMap::new(),
            by_service: BTreeMap::new(),
            response: SlaTally::default(),
            resolution: SlaTally::default(),
            breaches: Vec::new(),
            reopened: 0,
            ever_resolved: 0,
            fixed: 0,
            not_fixed: 0,
            no_answer: 0,
            functional_escalations: 0,
            hierarchical_escalations: 0,
            major_incidents: 0,
            changes: ChangeFigures::default(),
            problems: ProblemFigures::default(),
            outages: BTreeMap::new(),
            days: Vec::new(),
        };
        for inc in incidents {
            let level = inc.priority.level();
            let p = by_priority.entry(level).or_default();
            r.logged += 1;
            p.logged += 1;
            *by_service
                .entry(inc.service.clone().unwrap_or_else(|| NO_SERVICE.to_owned()))
                .or_default() += 1;
            if inc.cancelled {
                r.cancelled += 1;
            } else if inc.is_resolved() {
                r.resolved += 1;
                p.resolved += 1;
            } else {
                r.open += 1;
                p.open += 1;
            }
            if let Some(at) = inc.first_response_at {
                mtta_all.push(secs(inc.logged_at, at));
                mtta_p.entry(level).or_default().push(secs(inc.logged_at, at));
            }
            if inc.is_resolved() && !inc.cancelled {
                if let Some(at) = inc.resolved_at {
                    mttr_all.push(secs(inc.logged_at, at));
                    mttr_p.entry(level).or_default().push(secs(inc.logged_at, at));
                }
            }
            if !inc.cancelled {
                response.add(inc.response);
                resolution.add(inc.resolution);
                p.response.add(inc.response);
                p.resolution.add(inc.resolution);
                for (clock, result) in [("response", inc.response), ("resolution", inc.resolution)] {
                    if result == Some(SlaResult::Breached) {
                        breaches.push(Breach {
                            incident: inc.id.to_string(),
                            priority: level,
                            clock,
                        });
                    }
                }
            }
            if inc.resolved_at.is_some() {
                r.ever_resolved += 1;
                if inc.reopened_at.is_some() {
                    r.reopened += 1;
                }
            }
            match inc.satisfaction {
                Some(Satisfaction::Fixed) => r.fixed += 1,
                Some(Satisfaction::NotFixed) => r.not_fixed += 1,
                Some(Satisfaction::NoAnswer) => r.no_answer += 1,
                None => {}
            }
            r.functional_escalations += inc.functional_escalations;
            r.hierarchical_escalations += inc.hierarchical_escalations;
            r.major_incidents += u32::from(inc.major);
            if let Some(i) = days_list.iter().position(|d| *d == inc.logged_at.date_naive()) {
                days[i].by_priority[usize::from(level - 1)] += 1;
                if !inc.cancelled {
                    day_sla[i].add(inc.resolution);
                }
            }
        }
        for (level, samples) in mtta_p {
            by_priority.entry(level).or_default().mtta = Spread::of(samples);
        }
        for (level, samples) in mttr_p {
            by_priority.entry(level).or_default().mttr = Spread::of(samples);
        }
        for (day, tally) in days.iter_mut().zip(&day_sla) {
            day.sla_met_percent = tally.percent_met();
        }

        let mut decision_secs = Vec::new();
        for ch in changes {
            r.changes.filed += 1;
            r.changes.emergency += u32::from(ch.emergency);
            r.changes.cancelled += u32::from(ch.cancelled);
            if let Some((d, at)) = ch.decision {
                match d {
                    Decision::Authorized => r.changes.authorized += 1,
                    Decision::Rejected => r.changes.rejected += 1,
                    Decision::NoQuorum => r.changes.no_quorum += 1,
                }
                decision_secs.push(secs(ch.filed_at, at));
            }
        }
        r.changes.median_decision_secs = Spread::of(decision_secs).map(|s| s.median_secs);

        for o in outages {
            let end = o.resolved_at.unwrap_or(query.period.to).min(query.period.to);
            let d = secs(o.started_at, end);
            let f = r.outages.entry(o.service.clone()).or_default();
            f.count += 1;
            f.total_secs += d;
            f.longest_secs = f.longest_secs.max(d);
        }

        r.mtta = Spread::of(mtta_all);
        r.mttr = Spread::of(mttr_all);
        r.by_priority = by_priority;
        r.by_service = by_service;
        r.response = response;
        r.resolution = resolution;
        r.breaches = breaches;
        r.days = days;
        r
    }

    /// Reopened incidents as a whole percentage of those ever resolved.
    pub fn reopen_percent(&self) -> Option<u32> {
        percent(self.reopened, self.ever_resolved)
    }

    /// 👍 as a whole percentage of the answers given (👍 + 👎).
    pub fn satisfied_percent(&self) -> Option<u32> {
        percent(self.fixed, self.fixed + self.not_fixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn periods_read_days_months_and_spans() {
        let now = at("2026-12-02T10:00:00Z");
        assert_eq!(Period::parse("7d", now).unwrap().from, at("2026-11-25T10:00:00Z"));
        let m = Period::parse("2026-11", now).unwrap();
        assert_eq!((m.from, m.to), (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")));
        let s = Period::parse("2026-11-03..2026-11-04", now).unwrap();
        assert_eq!((s.from, s.to), (at("2026-11-03T00:00:00Z"), at("2026-11-05T00:00:00Z")));
        assert_eq!(s.days().len(), 2);
        assert!(matches!(
            Period::parse("2026-11-04..2026-11-03", now),
            Err(PeriodError::Backwards(_))
        ));
        for bad in ["0d", "400d", "2026-13", "week", "2026-11-1", ""] {
            assert!(Period::parse(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn last_week_is_monday_to_monday_before_this_week() {
        let p = Period::last_week(at("2026-12-02T09:00:00Z")); // a Wednesday
        assert_eq!((p.from, p.to), (at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z")));
    }

    #[test]
    fn spread_takes_the_nearest_rank() {
        assert_eq!(Spread::of(vec![]), None);
        let s = Spread::of(vec![50, 10, 40, 20, 30, 60, 70, 80, 90, 100]).unwrap();
        assert_eq!((s.count, s.median_secs, s.p90_secs), (10, 50, 90));
        let one = Spread::of(vec![7]).unwrap();
        assert_eq!((one.median_secs, one.p90_secs), (7, 7));
    }

    #[test]
    fn a_clock_past_its_target_or_announced_is_breached() {
        assert_eq!(SlaResult::of(true, 100, 100, false), SlaResult::Met);
        assert_eq!(SlaResult::of(true, 101, 100, false), SlaResult::Breached);
        assert_eq!(SlaResult::of(false, 50, 100, true), SlaResult::Breached);
        assert_eq!(SlaResult::of(false, 50, 100, false), SlaResult::Running);
    }
}
