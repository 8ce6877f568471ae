//! Incidents: their identifier and the lifecycle state machine.
//!
//! `new → assigned → in_progress ⇄ on_hold → resolved → closed`, and
//! `resolved → in_progress` on reopen. The lifecycle leads rather than
//! gates: an incident may be resolved from any open state (the desk records
//! the passage through in progress), put on hold once it is assigned, and
//! cancelled while it is open. Anything else is refused with the moves that
//! are allowed ([`InvalidTransition`]); the desk's reply names the command
//! that gets there.

use std::fmt;

/// `INC-<n>`, n ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentId(i64);

impl IncidentId {
    /// Parses `INC-12`, `inc-12` or `#12`-less `12`.
    pub fn parse(s: &str) -> Option<Self> {
        super::ids::parse_numbered(s, "INC-").map(IncidentId)
    }

    /// Wraps a database row id (always positive there).
    pub fn from_row(id: i64) -> Self {
        IncidentId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    New,
    Assigned,
    InProgress,
    OnHold,
    Resolved,
    Closed,
    /// Ended before it was resolved (withdrawn, logged by mistake, a
    /// duplicate): final, and without an SLA result.
    Cancelled,
}

impl State {
    pub const ALL: [State; 7] = [
        State::New,
        State::Assigned,
        State::InProgress,
        State::OnHold,
        State::Resolved,
        State::Closed,
        State::Cancelled,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase().replace(['-', ' '], "_");
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Assigned => "assigned",
            State::InProgress => "in_progress",
            State::OnHold => "on_hold",
            State::Resolved => "resolved",
            State::Closed => "closed",
            State::Cancelled => "cancelled",
        }
    }

    /// The state as people say it: `in progress`, `on hold`.
    pub fn words(self) -> &'static str {
        match self {
            State::InProgress => "in progress",
            State::OnHold => "on hold",
            other => other.as_str(),
        }
    }

    /// The states this one may move to.
    pub fn allowed_next(self) -> &'static [State] {
        match self {
            State::New => &[State::Assigned, State::Resolved, State::Cancelled],
            State::Assigned => &[State::InProgress, State::OnHold, State::Resolved, State::Cancelled],
            State::InProgress => &[State::OnHold, State::Resolved, State::Cancelled],
            State::OnHold => &[State::InProgress, State::Resolved, State::Cancelled],
            State::Resolved => &[State::Closed, State::InProgress],
            State::Closed | State::Cancelled => &[],
        }
    }

    /// Open means somebody still has work to do on it.
    pub fn is_open(self) -> bool {
        !matches!(self, State::Resolved | State::Closed | State::Cancelled)
    }

    /// Final: nothing changes it any more (closed or cancelled).
    pub fn is_final(self) -> bool {
        matches!(self, State::Closed | State::Cancelled)
    }

    /// Checks a move, saying which moves are allowed when it is refused.
    pub fn transition(self, to: State) -> Result<State, InvalidTransition> {
        if self.allowed_next().contains(&to) {
            Ok(to)
        } else {
            Err(InvalidTransition { from: self, to })
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused lifecycle move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: State,
    pub to: State,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed = self.from.allowed_next();
        write!(f, "cannot move from {} to {}; ", self.from, self.to)?;
        if allowed.is_empty() {
            write!(f, "{} is final", self.from)
        } else {
            let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            write!(f, "allowed: {}", names.join(", "))
        }
    }
}

/// Why an incident is on hold: whom or what it waits for. The resolution
/// clock pauses whichever it is; a note by the caller resumes an incident
/// awaiting the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldReason {
    AwaitingCaller,
    AwaitingChange,
    AwaitingProblem,
    AwaitingVendor,
}

impl HoldReason {
    pub const ALL: [HoldReason; 4] = [
        HoldReason::AwaitingCaller,
        HoldReason::AwaitingChange,
        HoldReason::AwaitingProblem,
        HoldReason::AwaitingVendor,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase().replace(['-', ' '], "_");
        HoldReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::AwaitingCaller => "awaiting_caller",
            HoldReason::AwaitingChange => "awaiting_change",
            HoldReason::AwaitingProblem => "awaiting_problem",
            HoldReason::AwaitingVendor => "awaiting_vendor",
        }
    }

    /// As people say it: `awaiting the caller`.
    pub fn words(self) -> &'static str {
        match self {
            HoldReason::AwaitingCaller => "awaiting the caller",
            HoldReason::AwaitingChange => "awaiting a change",
            HoldReason::AwaitingProblem => "awaiting a problem fix",
            HoldReason::AwaitingVendor => "awaiting the vendor",
        }
    }
}

/// How two incidents are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// Related: both show the other.
    Related,
    /// The incident duplicates the other, which carries the work.
    DuplicateOf,
    /// The incident is a child of the other and follows it when it is resolved.
    ChildOf,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Related => "related",
            LinkKind::DuplicateOf => "duplicate_of",
            LinkKind::ChildOf => "child_of",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [LinkKind::Related, LinkKind::DuplicateOf, LinkKind::ChildOf]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(state: State) -> Incident {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Incident {
            id: IncidentId::from_row(1),
            title: "t".into(),
            impact: crate::domain::priority::Impact::Medium,
            urgency: crate::domain::priority::Urgency::Medium,
            priority: crate::domain::priority::Priority::from_level(3).unwrap(),
            service: None,
            category: None,
            state,
            reporter: crate::domain::UserId::new(1),
            assignee: None,
            handler_role: crate::domain::RoleKey::parse("service_desk").unwrap(),
            tier: 0,
            source_link: None,
            hold: None,
            resolution: Some("rebooted".into()),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_move_checks_and_writes_in_one_call_and_a_reopen_forgets_the_resolution() {
        let later = chrono::DateTime::from_timestamp(1_800_000_060, 0).unwrap();
        let mut inc = incident(State::New);
        let before = inc.clone();
        assert!(inc.move_to(State::InProgress, later).is_err());
        assert_eq!(inc, before, "a refused move changes nothing");
        let mut resolved = incident(State::Resolved);
        assert_eq!(resolved.move_to(State::InProgress, later), Ok(State::Resolved));
        assert_eq!(
            (resolved.state, resolved.resolution.as_deref(), resolved.updated_at),
            (State::InProgress, None, later)
        );
    }

    #[test]
    fn assigning_makes_a_new_incident_assigned_and_is_refused_once_it_is_resolved() {
        let later = chrono::DateTime::from_timestamp(1_800_000_060, 0).unwrap();
        let bob = crate::domain::UserId::new(2);
        let mut inc = incident(State::New);
        assert_eq!(inc.assign(bob, later), Ok(State::New));
        assert_eq!((inc.state, inc.assignee), (State::Assigned, Some(bob)));
        let mut working = incident(State::InProgress);
        assert_eq!(working.assign(bob, later), Ok(State::InProgress));
        assert_eq!(working.state, State::InProgress);
        let mut done = incident(State::Closed);
        assert!(done.assign(bob, later).is_err());
        assert_eq!(done.assignee, None);
    }

    #[test]
    fn a_reroute_keeps_the_assignee_only_when_they_can_work_for_the_new_group() {
        let later = chrono::DateTime::from_timestamp(1_800_000_060, 0).unwrap();
        let security = crate::domain::RoleKey::parse("it_security_manager").unwrap();
        let mut inc = incident(State::Assigned);
        inc.assignee = Some(crate::domain::UserId::new(2));
        let mut kept = inc.clone();
        kept.reroute(security.clone(), 0, true, later);
        assert_eq!((kept.state, kept.assignee.is_some()), (State::Assigned, true));
        inc.reroute(security.clone(), 1, false, later);
        assert_eq!((inc.state, inc.assignee, inc.tier), (State::New, None, 1));
        assert_eq!(inc.handler_role, security);
        let mut held = incident(State::OnHold);
        held.hold = Some(HoldReason::AwaitingVendor);
        held.move_to(State::InProgress, later).unwrap();
        assert_eq!(held.hold, None, "leaving hold forgets what it waited for");
    }

    #[test]
    fn every_pair_of_states_is_allowed_exactly_as_the_design_says() {
        let allowed = [
            (State::New, State::Assigned),
            (State::New, State::Resolved),
            (State::New, State::Cancelled),
            (State::Assigned, State::InProgress),
            (State::Assigned, State::OnHold),
            (State::Assigned, State::Resolved),
            (State::Assigned, State::Cancelled),
            (State::InProgress, State::OnHold),
            (State::OnHold, State::InProgress),
            (State::InProgress, State::Resolved),
            (State::InProgress, State::Cancelled),
            (State::OnHold, State::Resolved),
            (State::OnHold, State::Cancelled),
            (State::Resolved, State::Closed),
            (State::Resolved, State::InProgress),
        ];
        for from in State::ALL {
            for to in State::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.transition(to).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_refused_move_lists_the_allowed_ones() {
        let err = State::New.transition(State::InProgress).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move from new to in_progress; allowed: assigned, resolved, cancelled"
        );
        let err = State::Closed.transition(State::InProgress).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move from closed to in_progress; closed is final"
        );
    }

    #[test]
    fn states_parse_from_their_words() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("In-Progress"), Some(State::InProgress));
        assert_eq!(State::parse("done"), None);
    }

    #[test]
    fn incident_ids_parse_with_or_without_prefix() {
        assert_eq!(IncidentId::parse("INC-7").map(IncidentId::get), Some(7));
        assert_eq!(IncidentId::parse("inc-42").map(IncidentId::get), Some(42));
        assert_eq!(IncidentId::parse("9").map(IncidentId::get), Some(9));
        for bad in [
            "INC-",
            "INC-0",
            "INC--1",
            "INC-1a",
            "CHG-1",
            "",
            "INC-99999999999999999999",
        ] {
            assert_eq!(IncidentId::parse(bad), None, "{bad}");
        }
    }
}

/// An incident record as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: IncidentId,
    pub title: String,
    pub impact: super::priority::Impact,
    pub urgency: super::priority::Urgency,
    pub priority: super::priority::Priority,
    pub service: Option<String>,
    pub category: Option<String>,
    pub state: State,
    pub reporter: super::UserId,
    pub assignee: Option<super::UserId>,
    /// The ITIL role currently responsible (its assignment group).
    pub handler_role: super::RoleKey,
    /// Index into the service's support tiers (0 = first line).
    pub tier: i64,
    pub source_link: Option<String>,
    /// Why it waits, while it is on hold.
    pub hold: Option<HoldReason>,
    pub resolution: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Incident {
    /// Moves the incident through its lifecycle at `now`, if the move is
    /// allowed; returns the state it left. A reopened incident forgets its
    /// resolution. (The check and its write are one call.)
    pub fn move_to(&mut self, to: State, now: chrono::DateTime<chrono::Utc>) -> Result<State, InvalidTransition> {
        self.state.transition(to)?;
        let from = std::mem::replace(&mut self.state, to);
        if from == State::Resolved && to == State::InProgress {
            self.resolution = None;
        }
        if to != State::OnHold {
            self.hold = None;
        }
        self.updated_at = now;
        Ok(from)
    }

    /// Puts the incident on hold for `reason` at `now`, if it may be held;
    /// returns the state it left. (On hold again with another reason just
    /// changes what it waits for.)
    pub fn hold_for(
        &mut self,
        reason: HoldReason,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<State, InvalidTransition> {
        let from = if self.state == State::OnHold {
            State::OnHold
        } else {
            self.move_to(State::OnHold, now)?
        };
        self.hold = Some(reason);
        self.updated_at = now;
        Ok(from)
    }

    /// Hands the incident to another group at `tier` (a corrected service).
    /// The assignee stays when they can work for that group; otherwise
    /// nobody holds it, and an assigned incident waits to be taken again.
    pub fn reroute(
        &mut self,
        group: super::RoleKey,
        tier: i64,
        keep_assignee: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        self.handler_role = group;
        self.tier = tier;
        if !keep_assignee {
            self.assignee = None;
            if self.state == State::Assigned {
                self.state = State::New;
            }
        }
        self.updated_at = now;
    }

    /// Ends the incident as resolved or cancelled with `text` as its
    /// resolution; returns the state it left.
    pub fn end(
        &mut self,
        to: State,
        text: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<State, InvalidTransition> {
        debug_assert!(matches!(to, State::Resolved | State::Cancelled));
        let from = self.move_to(to, now)?;
        self.resolution = Some(text.to_owned());
        Ok(from)
    }

    /// Assigns the incident to `user` at `now` (a new one becomes assigned);
    /// refused once it is resolved or closed. Returns the state it left.
    pub fn assign(
        &mut self,
        user: super::UserId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<State, InvalidTransition> {
        if !self.state.is_open() {
            return Err(self.state.transition(State::Assigned).unwrap_err());
        }
        let from = self.state;
        if from == State::New {
            self.state = State::Assigned;
        }
        self.assignee = Some(user);
        self.updated_at = now;
        Ok(from)
    }
}

/// The fields of a new incident, checked by the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    pub impact: super::priority::Impact,
    pub urgency: super::priority::Urgency,
    pub priority: super::priority::Priority,
    pub service: Option<String>,
    pub category: Option<String>,
    pub reporter: super::UserId,
    pub handler_role: super::RoleKey,
    pub source_link: Option<String>,
    /// The chat message this incident was logged from (🎫), if any.
    pub source_message: Option<String>,
}

/// A note on an incident, with its author's name when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub author: super::UserId,
    pub author_name: Option<String>,
    pub body: String,
    pub at: chrono::DateTime<chrono::Utc>,
}
