//! Outages: a service declared down (or degraded), updated while it lasts and
//! resolved with an all-clear. Users subscribe to services to be told.
//!
//! Pure: the identifier, impact and state, who may change an outage, what
//! becomes of the incidents linked to it, and how a duration reads. No I/O;
//! time is a parameter.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use super::incident::State;
use super::UserId;

/// `OUT-<n>`, n ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutageId(i64);

impl OutageId {
    /// Parses `OUT-3`, `out-3` or a bare `3`.
    pub fn parse(s: &str) -> Option<Self> {
        super::ids::parse_numbered(s, "OUT-").map(OutageId)
    }

    /// Wraps a database row id (always positive there).
    pub fn from_row(id: i64) -> Self {
        OutageId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for OutageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OUT-{}", self.0)
    }
}

/// How badly the service is hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutageImpact {
    /// Degraded, or down for some users.
    Partial,
    /// Down for everyone.
    Major,
}

/// The words `impact=` accepts.
pub const IMPACTS: [&str; 2] = ["partial", "major"];

impl OutageImpact {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "partial" => Some(OutageImpact::Partial),
            "major" => Some(OutageImpact::Major),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutageImpact::Partial => "partial",
            OutageImpact::Major => "major",
        }
    }
}

impl fmt::Display for OutageImpact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the outage is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutageState {
    Active,
    Resolved,
}

impl OutageState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(OutageState::Active),
            "resolved" => Some(OutageState::Resolved),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutageState::Active => "active",
            OutageState::Resolved => "resolved",
        }
    }
}

impl fmt::Display for OutageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a notice announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    Declare,
    Update,
    Resolve,
}

impl NoticeKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "declare" => Some(NoticeKind::Declare),
            "update" => Some(NoticeKind::Update),
            "resolve" => Some(NoticeKind::Resolve),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Declare => "declare",
            NoticeKind::Update => "update",
            NoticeKind::Resolve => "resolve",
        }
    }
}

/// The latest notice after the declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestUpdate {
    pub at: DateTime<Utc>,
    pub text: String,
}

/// An outage as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub id: OutageId,
    /// The service key (`services.<key>` in config).
    pub service: String,
    pub impact: OutageImpact,
    pub summary: String,
    pub state: OutageState,
    pub declared_by: UserId,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The text of the latest update or resolution, if any.
    pub latest: Option<LatestUpdate>,
}

/// A declaration, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutage {
    pub service: String,
    pub impact: OutageImpact,
    pub summary: String,
    pub declared_by: UserId,
}

/// Why an outage may not be changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutageError {
    #[error("{id} is already resolved")]
    AlreadyResolved { id: OutageId, at: Option<DateTime<Utc>> },
    #[error("{id} was declared by someone else")]
    NotYours { id: OutageId },
}

impl Outage {
    pub fn is_active(&self) -> bool {
        self.state == OutageState::Active
    }

    /// How long it has lasted (until resolved, or until `now`).
    pub fn duration(&self, now: DateTime<Utc>) -> TimeDelta {
        self.resolved_at.unwrap_or(now) - self.started_at
    }

    /// Refuses a change to a resolved outage.
    pub fn check_active(&self) -> Result<(), OutageError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(OutageError::AlreadyResolved {
                id: self.id,
                at: self.resolved_at,
            })
        }
    }

    /// Posts an update; the impact may change with it.
    pub fn update(&mut self, impact: Option<OutageImpact>, now: DateTime<Utc>) -> Result<(), OutageError> {
        self.check_active()?;
        if let Some(i) = impact {
            self.impact = i;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Ends the outage at `now`.
    pub fn resolve(&mut self, now: DateTime<Utc>) -> Result<(), OutageError> {
        self.check_active()?;
        self.state = OutageState::Resolved;
        self.resolved_at = Some(now);
        self.updated_at = now;
        Ok(())
    }
}

/// What resolving an outage does to one incident linked to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkedOutcome {
    /// Moved to resolved, with the outage as its resolution.
    Resolved,
    /// Still open: its state may not move to resolved (new, assigned, on hold),
    /// or config keeps linked incidents open. Its reporter is told the outage is
    /// over and its handler finishes it.
    LeftOpen,
    /// Already resolved or closed: only its reporter is told.
    AlreadyDone,
}

impl LinkedOutcome {
    /// Decides for an incident in `state`; `auto_resolve` is the config flag
    /// `outage.resolve_linked_incidents`. The lifecycle is respected: only a
    /// state that may move to resolved is moved.
    pub fn decide(state: State, auto_resolve: bool) -> Self {
        if !state.is_open() {
            LinkedOutcome::AlreadyDone
        } else if auto_resolve && state.transition(State::Resolved).is_ok() {
            LinkedOutcome::Resolved
        } else {
            LinkedOutcome::LeftOpen
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkedOutcome::Resolved => "resolved",
            LinkedOutcome::LeftOpen => "left_open",
            LinkedOutcome::AlreadyDone => "already_done",
        }
    }
}

/// A duration as people say it: `under a minute`, `45m`, `2h 5m`, `3d 4h`.
pub fn duration_text(d: TimeDelta) -> String {
    let minutes = d.num_minutes().max(0);
    if minutes == 0 {
        return "under a minute".to_owned();
    }
    let (days, hours, mins) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// One notice of an outage: its declaration, an update or its resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: i64,
    pub kind: NoticeKind,
    pub body: String,
    pub actor: UserId,
    pub at: DateTime<Utc>,
}

/// Where the subscriber messages of an outage stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Messages queued (one per subscriber per notice).
    pub queued: i64,
    pub delivered: i64,
    /// Not yet delivered; still being tried.
    pub pending: i64,
    /// Given up because the subscriber's DMs are closed (not lost: recorded).
    pub unreachable: i64,
    /// Given up for another reason.
    pub lost: i64,
}

/// What subscribing to a service's outage notices did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription.
    New,
    /// Already subscribed and reachable: nothing changed.
    Already,
    /// Was unreachable: will be tried again.
    Reenabled,
}

/// One of a user's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub service: String,
    pub since: DateTime<Utc>,
    /// When their DMs were found closed, if they were.
    pub unreachable_at: Option<DateTime<Utc>>,
}

/// One report counted on a grouped card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedReport {
    pub incident: super::incident::IncidentId,
    pub reporter: UserId,
    /// The reporter's display name, when known.
    pub reporter_name: Option<String>,
    pub service: Option<String>,
}

/// What a grouped card shows: how many reports, the latest few, and the
/// services they were logged against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: i64,
    /// Newest first.
    pub latest: Vec<CountedReport>,
    pub services: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(declared_by: u64) -> Outage {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Outage {
            id: OutageId::from_row(3),
            service: "email".into(),
            impact: OutageImpact::Partial,
            summary: "mail is slow".into(),
            state: OutageState::Active,
            declared_by: UserId::new(declared_by),
            started_at: t0,
            updated_at: t0,
            resolved_at: None,
            latest: None,
        }
    }

    #[test]
    fn outage_ids_parse_with_or_without_their_prefix_and_show_it() {
        assert_eq!(OutageId::parse("OUT-3"), Some(OutageId::from_row(3)));
        assert_eq!(OutageId::parse("out-12").map(|i| i.to_string()), Some("OUT-12".into()));
        assert_eq!(OutageId::parse("7"), Some(OutageId::from_row(7)));
        for bad in [
            "",
            "OUT-",
            "OUT-0",
            "INC-3",
            "OUT-3x",
            "OUT--1",
            "9999999999999999",
            "é",
        ] {
            assert_eq!(OutageId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn impact_and_state_words_round_trip() {
        for word in IMPACTS {
            assert_eq!(OutageImpact::parse(word).unwrap().as_str(), word);
        }
        assert_eq!(OutageImpact::parse(" MAJOR "), Some(OutageImpact::Major));
        assert_eq!(OutageImpact::parse("high"), None);
        for s in [OutageState::Active, OutageState::Resolved] {
            assert_eq!(OutageState::parse(s.as_str()), Some(s));
        }
        for k in [NoticeKind::Declare, NoticeKind::Update, NoticeKind::Resolve] {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn updates_may_change_the_impact_and_a_resolved_outage_takes_no_more_changes() {
        let mut o = outage(1);
        let later = o.started_at + TimeDelta::minutes(135);
        o.update(Some(OutageImpact::Major), later).unwrap();
        assert_eq!((o.impact, o.updated_at), (OutageImpact::Major, later));
        o.update(None, later).unwrap();
        assert_eq!(o.impact, OutageImpact::Major);
        o.resolve(later).unwrap();
        assert_eq!((o.state, o.resolved_at), (OutageState::Resolved, Some(later)));
        assert_eq!(duration_text(o.duration(later + TimeDelta::days(3))), "2h 15m");
        let err = o.resolve(later).unwrap_err();
        assert_eq!(err.to_string(), "OUT-3 is already resolved");
        assert!(o.update(None, later).is_err());
    }

    #[test]
    fn linked_incidents_move_only_when_their_lifecycle_allows_it() {
        let cases = [
            (State::InProgress, true, LinkedOutcome::Resolved),
            (State::InProgress, false, LinkedOutcome::LeftOpen),
            (State::New, true, LinkedOutcome::Resolved),
            (State::Assigned, true, LinkedOutcome::Resolved),
            (State::OnHold, true, LinkedOutcome::Resolved),
            (State::OnHold, false, LinkedOutcome::LeftOpen),
            (State::Resolved, true, LinkedOutcome::AlreadyDone),
            (State::Closed, false, LinkedOutcome::AlreadyDone),
            (State::Cancelled, true, LinkedOutcome::AlreadyDone),
        ];
        for (state, auto, expected) in cases {
            assert_eq!(LinkedOutcome::decide(state, auto), expected, "{state} auto={auto}");
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let cases = [
            (TimeDelta::seconds(-5), "under a minute"),
            (TimeDelta::seconds(59), "under a minute"),
            (TimeDelta::minutes(45), "45m"),
            (TimeDelta::minutes(120), "2h"),
            (TimeDelta::minutes(125), "2h 5m"),
            (TimeDelta::hours(24), "1d"),
            (TimeDelta::hours(76) + TimeDelta::minutes(3), "3d 4h"),
        ];
        for (d, text) in cases {
            assert_eq!(duration_text(d), text, "{d}");
        }
    }
}
