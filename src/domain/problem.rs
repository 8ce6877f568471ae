//! Problems: the unknown cause of one or more incidents, worked until its
//! root cause and workaround are known (a known error) and a change fixes it.
//!
//! `new → assessed → root_cause_known → known_error → resolved → closed`, and
//! `cancelled` from any open state. A problem is assessed before anything is
//! recorded against it; a root cause may be found before or after the
//! workaround, and a workaround makes it a known error whichever came first.
//! Resolving takes a fix (by hand, or the linked change closing); closing
//! takes a resolved problem with no linked incident still open. Every refused
//! move says which moves are allowed ([`InvalidProblemMove`]); the desk's
//! reply names the command for each.
//!
//! Pure: std and chrono only.

use std::fmt;

use chrono::{DateTime, Utc};

use super::UserId;

/// `PRB-<n>`, n ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProblemId(i64);

impl ProblemId {
    /// Parses `PRB-3`, `prb-3` or a bare `3`.
    pub fn parse(s: &str) -> Option<Self> {
        super::ids::parse_numbered(s, "PRB-").map(ProblemId)
    }

    /// Wraps a database row id (always positive there).
    pub fn from_row(id: i64) -> Self {
        ProblemId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ProblemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PRB-{}", self.0)
    }
}

/// Where a problem is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemState {
    New,
    /// Categorised and prioritised: investigation may start.
    Assessed,
    RootCauseKnown,
    /// A workaround is recorded: it is in the known-error database.
    KnownError,
    /// Fixed (by hand or by its change); linked incidents may still be open.
    Resolved,
    Closed,
    Cancelled,
}

impl ProblemState {
    pub const ALL: [ProblemState; 7] = [
        ProblemState::New,
        ProblemState::Assessed,
        ProblemState::RootCauseKnown,
        ProblemState::KnownError,
        ProblemState::Resolved,
        ProblemState::Closed,
        ProblemState::Cancelled,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase().replace(['-', ' '], "_");
        ProblemState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProblemState::New => "new",
            ProblemState::Assessed => "assessed",
            ProblemState::RootCauseKnown => "root_cause_known",
            ProblemState::KnownError => "known_error",
            ProblemState::Resolved => "resolved",
            ProblemState::Closed => "closed",
            ProblemState::Cancelled => "cancelled",
        }
    }

    /// The state as people say it: `root cause known`, `known error`.
    pub fn words(self) -> &'static str {
        match self {
            ProblemState::RootCauseKnown => "root cause known",
            ProblemState::KnownError => "known error",
            other => other.as_str(),
        }
    }

    /// The states this one may move to.
    pub fn allowed_next(self) -> &'static [ProblemState] {
        use ProblemState::*;
        match self {
            New => &[Assessed, Cancelled],
            Assessed => &[RootCauseKnown, KnownError, Resolved, Cancelled],
            RootCauseKnown => &[RootCauseKnown, KnownError, Resolved, Cancelled],
            KnownError => &[KnownError, Resolved, Cancelled],
            Resolved => &[Closed],
            Closed | Cancelled => &[],
        }
    }

    /// Open: somebody still works it (new up to known error).
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            ProblemState::Resolved | ProblemState::Closed | ProblemState::Cancelled
        )
    }
}

impl fmt::Display for ProblemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused move of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidProblemMove {
    /// The lifecycle does not go from `from` to `to`.
    Lifecycle { from: ProblemState, to: ProblemState },
    /// Closing while linked incidents are still open.
    OpenIncidents { open: usize },
}

impl fmt::Display for InvalidProblemMove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidProblemMove::Lifecycle { from, to } => {
                let allowed = from.allowed_next();
                write!(f, "cannot move from {from} to {to}; ")?;
                if allowed.is_empty() {
                    write!(f, "{from} is final")
                } else {
                    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                    write!(f, "allowed: {}", names.join(", "))
                }
            }
            InvalidProblemMove::OpenIncidents { open } => write!(f, "{open} linked incidents are still open"),
        }
    }
}

/// A problem record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub id: ProblemId,
    pub title: String,
    pub service: Option<String>,
    pub state: ProblemState,
    pub root_cause: Option<String>,
    pub workaround: Option<String>,
    /// How it was fixed (a resolution by hand, or the closing change).
    pub resolution: Option<String>,
    /// Who logged it.
    pub owner: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a new problem starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProblem {
    pub title: String,
    pub service: Option<String>,
    pub owner: UserId,
}

impl Problem {
    fn step(&mut self, to: ProblemState, now: DateTime<Utc>) -> Result<ProblemState, InvalidProblemMove> {
        let from = self.state;
        if !from.allowed_next().contains(&to) {
            return Err(InvalidProblemMove::Lifecycle { from, to });
        }
        self.state = to;
        self.updated_at = now;
        Ok(from)
    }

    /// `!problem assess`: investigation may start.
    pub fn assess(&mut self, now: DateTime<Utc>) -> Result<ProblemState, InvalidProblemMove> {
        self.step(ProblemState::Assessed, now)
    }

    /// Records (or corrects) the root cause: root cause known, or still a
    /// known error when the workaround came first. Returns the state before.
    pub fn set_root_cause(&mut self, text: &str, now: DateTime<Utc>) -> Result<ProblemState, InvalidProblemMove> {
        let to = if self.state == ProblemState::KnownError {
            ProblemState::KnownError
        } else {
            ProblemState::RootCauseKnown
        };
        let from = self.step(to, now)?;
        self.root_cause = Some(text.to_owned());
        Ok(from)
    }

    /// Records (or replaces) the workaround: a known error from then on.
    pub fn set_workaround(&mut self, text: &str, now: DateTime<Utc>) -> Result<ProblemState, InvalidProblemMove> {
        let from = self.step(ProblemState::KnownError, now)?;
        self.workaround = Some(text.to_owned());
        Ok(from)
    }

    /// Fixed, with how.
    pub fn resolve(&mut self, how: &str, now: DateTime<Utc>) -> Result<ProblemState, InvalidProblemMove> {
        let from = self.step(ProblemState::Resolved, now)?;
        self.resolution = Some(how.to_owned());
        Ok(from)
    }

    /// Closes a resolved problem once none of its linked incidents is open.
    pub fn close(&mut self, open_incidents: usize, now: DateTime<Utc>) -> Result<ProblemState, InvalidProblemMove> {
        if !self.state.allowed_next().contains(&ProblemState::Closed) {
            return Err(InvalidProblemMove::Lifecycle {
                from: self.state,
                to: ProblemState::Closed,
            });
        }
        if open_incidents > 0 {
            return Err(InvalidProblemMove::OpenIncidents { open: open_incidents });
        }
        self.step(ProblemState::Closed, now)
    }

    /// Withdrawn (not a problem after all, or a duplicate), with why.
    pub fn cancel(&mut self, reason: &str, now: DateTime<Utc>) -> Result<ProblemState, InvalidProblemMove> {
        let from = self.step(ProblemState::Cancelled, now)?;
        self.resolution = Some(reason.to_owned());
        Ok(from)
    }

    /// Whether incidents may still be linked to it.
    pub fn takes_links(&self) -> bool {
        self.state.is_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProblemState::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn problem(state: ProblemState) -> Problem {
        Problem {
            id: ProblemId::from_row(1),
            title: "Mail queue stalls".into(),
            service: Some("email".into()),
            state,
            root_cause: None,
            workaround: None,
            resolution: None,
            owner: UserId::new(9),
            created_at: at(0),
            updated_at: at(0),
        }
    }

    #[test]
    fn a_problem_walks_the_whole_lifecycle_and_each_step_keeps_its_text() {
        let mut p = problem(New);
        assert_eq!(p.assess(at(1)), Ok(New));
        assert_eq!(p.set_root_cause("disk full on mta-2", at(2)), Ok(Assessed));
        assert_eq!(p.state, RootCauseKnown);
        assert_eq!(p.set_workaround("restart the queue", at(3)), Ok(RootCauseKnown));
        assert_eq!(p.state, KnownError);
        assert_eq!(p.resolve("fixed by CHG-1", at(4)), Ok(KnownError));
        assert_eq!(p.close(0, at(5)), Ok(Resolved));
        assert_eq!(p.state, Closed);
        assert_eq!(p.root_cause.as_deref(), Some("disk full on mta-2"));
        assert_eq!(p.workaround.as_deref(), Some("restart the queue"));
        assert_eq!(p.resolution.as_deref(), Some("fixed by CHG-1"));
        assert_eq!(p.updated_at, at(5));
    }

    #[test]
    fn a_workaround_first_makes_a_known_error_that_a_later_root_cause_keeps() {
        let mut p = problem(Assessed);
        p.set_workaround("use webmail", at(1)).unwrap();
        assert_eq!(p.state, KnownError);
        p.set_root_cause("bad certificate", at(2)).unwrap();
        assert_eq!(p.state, KnownError, "a root cause does not undo the known error");
        p.set_workaround("use webmail or IMAP", at(3)).unwrap();
        assert_eq!(p.workaround.as_deref(), Some("use webmail or IMAP"));
    }

    #[test]
    fn a_new_problem_takes_no_workaround_root_cause_or_fix_and_is_left_unchanged() {
        type Step = fn(&mut Problem) -> Result<ProblemState, InvalidProblemMove>;
        let cases: [(&str, Step, ProblemState); 4] = [
            ("workaround", |p| p.set_workaround("x", at(1)), KnownError),
            ("root cause", |p| p.set_root_cause("x", at(1)), RootCauseKnown),
            ("resolve", |p| p.resolve("x", at(1)), Resolved),
            ("close", |p| p.close(0, at(1)), Closed),
        ];
        for (what, act, to) in cases {
            let mut p = problem(New);
            assert_eq!(
                act(&mut p),
                Err(InvalidProblemMove::Lifecycle { from: New, to }),
                "{what}"
            );
            assert_eq!(p, problem(New), "{what} changed nothing");
        }
    }

    #[test]
    fn closing_needs_a_resolved_problem_with_no_open_incident() {
        let mut p = problem(KnownError);
        assert_eq!(
            p.close(0, at(1)),
            Err(InvalidProblemMove::Lifecycle {
                from: KnownError,
                to: Closed
            })
        );
        let mut p = problem(Resolved);
        assert_eq!(p.close(2, at(1)), Err(InvalidProblemMove::OpenIncidents { open: 2 }));
        assert_eq!(p.state, Resolved);
        assert_eq!(p.close(0, at(1)), Ok(Resolved));
    }

    #[test]
    fn final_states_go_nowhere_and_open_states_may_be_cancelled() {
        for s in ProblemState::ALL {
            let mut p = problem(s);
            let cancelled = p.cancel("not a defect", at(1));
            assert_eq!(cancelled.is_ok(), s.is_open(), "{s}");
        }
        assert!(Closed.allowed_next().is_empty() && Cancelled.allowed_next().is_empty());
        let e = InvalidProblemMove::Lifecycle {
            from: Closed,
            to: Assessed,
        };
        assert_eq!(e.to_string(), "cannot move from closed to assessed; closed is final");
    }

    #[test]
    fn ids_and_states_read_back_as_written() {
        assert_eq!(ProblemId::parse("PRB-3"), Some(ProblemId::from_row(3)));
        assert_eq!(ProblemId::parse("prb-3").map(|p| p.to_string()), Some("PRB-3".into()));
        assert_eq!(ProblemId::parse("INC-3"), None);
        assert_eq!(ProblemId::parse("PRB-0"), None);
        for s in ProblemState::ALL {
            assert_eq!(ProblemState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ProblemState::parse("known error"), Some(KnownError));
    }
}
