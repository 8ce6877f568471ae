//! Escalation: how an incident reaches the people who can fix it.
//!
//! - Functional escalation walks a service's ordered support tiers
//!   ([`next_tier`]): service desk → support group → third line or supplier.
//! - Hierarchical escalation climbs a ladder taken from the RACI row of
//!   `escalate_hierarchical` ([`ladder`], [`next_rung`]): its Responsible role
//!   (the incident manager), then its Accountable role (the service owner).
//! - Automatic escalation follows the SLA clocks, which move with the incident
//!   lifecycle ([`clock_moves`]).
//! - [`Party`] names who in a RACI row (or the incident's assignee) a notice is for,
//!   so configuration can say who is pinged and who is only told.
//!
//! Pure: no I/O, no async, no clock reads.

use std::fmt;

use chrono::{DateTime, Utc};

use super::incident::State;
use super::raci::Route;
use super::sla::ClockKind;
use super::RoleKey;

/// Who a notice is addressed to, relative to a RACI row and the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    /// The person assigned to the incident, in its thread; the Responsible role
    /// when nobody is assigned.
    Assignee,
    Responsible,
    Accountable,
    Consulted,
    Informed,
}

impl Party {
    pub const ALL: [Party; 5] = [
        Party::Assignee,
        Party::Responsible,
        Party::Accountable,
        Party::Consulted,
        Party::Informed,
    ];

    /// The configuration word for this party.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Assignee => "assignee",
            Party::Responsible => "responsible",
            Party::Accountable => "accountable",
            Party::Consulted => "consulted",
            Party::Informed => "informed",
        }
    }

    /// Reads a configuration word (any case).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        Party::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The roles of `route` this party stands for (the assignee stands for none:
    /// the caller decides where a person is told).
    pub fn roles(self, route: &Route) -> Vec<RoleKey> {
        match self {
            Party::Assignee => Vec::new(),
            Party::Responsible => vec![route.responsible.clone()],
            Party::Accountable => vec![route.accountable.clone()],
            Party::Consulted => route.consulted.clone(),
            Party::Informed => route.informed.clone(),
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a notice reaches: roles pinged in their channels, roles told without a
/// ping, and whether the assignee is pinged (or told) in the incident's thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    pub ping_roles: Vec<RoleKey>,
    pub tell_roles: Vec<RoleKey>,
    /// `Some(true)`: ping the assignee in the thread; `Some(false)`: tell them there.
    pub assignee: Option<bool>,
}

/// Resolves `ping` and `tell` parties against a route and the incident's
/// assignee. A party both pinged and told is pinged; a role appears once; the
/// assignee party falls back to the Responsible role when nobody is assigned.
pub fn audience(route: &Route, ping: &[Party], tell: &[Party], assigned: bool) -> Audience {
    let mut out = Audience::default();
    let expand = |parties: &[Party], out_roles: &mut Vec<RoleKey>, assignee: &mut Option<bool>, pinged: bool| {
        for p in parties {
            let roles = match p {
                Party::Assignee if assigned => {
                    *assignee = Some(pinged || assignee.unwrap_or(false));
                    continue;
                }
                Party::Assignee => vec![route.responsible.clone()],
                other => other.roles(route),
            };
            for r in roles {
                if !out_roles.contains(&r) {
                    out_roles.push(r);
                }
            }
        }
    };
    expand(ping, &mut out.ping_roles, &mut out.assignee, true);
    let mut told = Vec::new();
    expand(tell, &mut told, &mut out.assignee, false);
    out.tell_roles = told.into_iter().filter(|r| !out.ping_roles.contains(r)).collect();
    out
}

/// A functional escalation: from one tier of the chain to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierStep {
    /// The new tier index (0 = first line).
    pub tier: i64,
    /// The support role of the new tier (the new assignment group).
    pub role: RoleKey,
}

/// Why a functional escalation cannot go further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    /// The incident already sits with the last tier of the chain.
    #[error("already with the last support tier")]
    LastTier { role: RoleKey },
    /// The chain has no tiers at all (configuration forbids it; kept for safety).
    #[error("no support tiers")]
    NoTiers,
}

/// The next tier after `current` in `chain` (the service's ordered support roles).
///
/// A tier index out of range (the chain was shortened in config) counts as the
/// last tier, so escalation never panics and never skips silently.
pub fn next_tier(chain: &[RoleKey], current: i64) -> Result<TierStep, TierError> {
    let last = chain.last().ok_or(TierError::NoTiers)?;
    let next = current.max(0).saturating_add(1);
    match usize::try_from(next).ok().and_then(|i| chain.get(i)) {
        Some(role) => Ok(TierStep {
            tier: next,
            role: role.clone(),
        }),
        None => Err(TierError::LastTier { role: last.clone() }),
    }
}

/// The hierarchical ladder of an incident: the Responsible role of its
/// `escalate_hierarchical` route (the incident manager), then the Accountable
/// role (the service owner), without repeats.
pub fn ladder(route: &Route) -> Vec<RoleKey> {
    let mut rungs = vec![route.responsible.clone()];
    if route.accountable != route.responsible {
        rungs.push(route.accountable.clone());
    }
    rungs
}

/// The rung above `level` (0 = not escalated, 1 = first rung, …), as the new
/// level, its role and the party of the row it stands for; `None` at the top.
pub fn next_rung(ladder: &[RoleKey], level: i64) -> Option<(i64, RoleKey, Party)> {
    let index = usize::try_from(level.max(0)).ok()?;
    let role = ladder.get(index)?.clone();
    let party = if index == 0 {
        Party::Responsible
    } else {
        Party::Accountable
    };
    Some((level.max(0) + 1, role, party))
}

/// What a lifecycle move does to one SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMove {
    /// Stop counting for good (acknowledged, resolved).
    Stop,
    /// Hold the clock (on hold).
    Pause,
    /// Count again after a hold.
    Resume,
    /// Run again after a resolution was rejected (restart or continue, per config).
    Reopen,
}

/// The clock changes a lifecycle move makes, in order.
///
/// Any move of an incident out of `new` (or any later move) acknowledges it, so the
/// response clock stops. On hold pauses the resolution clock and moving back to
/// in progress resumes it; resolving stops it and reopening runs it again.
/// Closing changes nothing: a resolved incident's clocks are already stopped.
pub fn clock_moves(from: State, to: State) -> Vec<(ClockKind, ClockMove)> {
    let mut moves = Vec::new();
    if to != State::Closed && to != State::New {
        moves.push((ClockKind::Response, ClockMove::Stop));
    }
    match (from, to) {
        (_, State::OnHold) => moves.push((ClockKind::Resolution, ClockMove::Pause)),
        (State::OnHold, State::InProgress) => moves.push((ClockKind::Resolution, ClockMove::Resume)),
        (_, State::Resolved | State::Cancelled) => moves.push((ClockKind::Resolution, ClockMove::Stop)),
        (State::Resolved, State::InProgress) => moves.push((ClockKind::Resolution, ClockMove::Reopen)),
        _ => {}
    }
    moves
}

/// How far an incident has been escalated up the hierarchy, and whether it is major.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Escalation {
    /// 0 = not escalated; 1 = the first rung (incident manager); 2 = the service owner.
    pub level: i64,
    pub major: bool,
    pub major_since: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> RoleKey {
        RoleKey::parse(s).unwrap()
    }

    fn route() -> Route {
        Route {
            responsible: key("systems_support"),
            accountable: key("incident_manager"),
            consulted: vec![key("problem_manager")],
            informed: vec![key("service_desk"), key("incident_manager")],
        }
    }

    #[test]
    fn parties_read_their_config_words_in_any_case() {
        for p in Party::ALL {
            assert_eq!(Party::parse(p.as_str()), Some(p));
            assert_eq!(Party::parse(&p.as_str().to_uppercase()), Some(p));
        }
        assert_eq!(Party::parse("boss"), None);
        assert_eq!(Party::parse(""), None);
    }

    #[test]
    fn a_warning_to_the_assignee_pings_them_or_else_the_responsible_role() {
        let r = route();
        let assigned = audience(&r, &[Party::Assignee], &[Party::Consulted], true);
        assert_eq!(
            assigned,
            Audience {
                ping_roles: vec![],
                tell_roles: vec![key("problem_manager")],
                assignee: Some(true),
            }
        );
        let unassigned = audience(&r, &[Party::Assignee], &[], false);
        assert_eq!(unassigned.ping_roles, vec![key("systems_support")]);
        assert_eq!(unassigned.assignee, None);
    }

    #[test]
    fn a_role_both_pinged_and_told_is_pinged_once() {
        let r = route();
        let a = audience(
            &r,
            &[Party::Responsible, Party::Accountable],
            &[Party::Consulted, Party::Informed, Party::Assignee],
            true,
        );
        assert_eq!(a.ping_roles, vec![key("systems_support"), key("incident_manager")]);
        assert_eq!(a.tell_roles, vec![key("problem_manager"), key("service_desk")]);
        assert_eq!(a.assignee, Some(false));
        let told_only = audience(&r, &[], &Party::ALL, false);
        assert!(told_only.ping_roles.is_empty());
        assert_eq!(
            told_only.tell_roles,
            vec![
                key("systems_support"),
                key("incident_manager"),
                key("problem_manager"),
                key("service_desk")
            ]
        );
    }

    #[test]
    fn functional_escalation_walks_the_tiers_and_stops_at_the_last() {
        let chain = [key("service_desk"), key("systems_support"), key("network_operations")];
        assert_eq!(
            next_tier(&chain, 0),
            Ok(TierStep {
                tier: 1,
                role: key("systems_support")
            })
        );
        assert_eq!(
            next_tier(&chain, 1),
            Ok(TierStep {
                tier: 2,
                role: key("network_operations")
            })
        );
        for at_or_past_the_end in [2, 3, 99, i64::MAX] {
            assert_eq!(
                next_tier(&chain, at_or_past_the_end),
                Err(TierError::LastTier {
                    role: key("network_operations")
                }),
                "{at_or_past_the_end}"
            );
        }
        assert_eq!(next_tier(&chain, -5).map(|s| s.tier), Ok(1));
        assert_eq!(next_tier(&[], 0), Err(TierError::NoTiers));
        assert!(matches!(next_tier(&chain[..1], 0), Err(TierError::LastTier { .. })));
    }

    #[test]
    fn hierarchical_escalation_climbs_responsible_then_accountable() {
        let r = Route {
            responsible: key("incident_manager"),
            accountable: key("email_owner"),
            consulted: vec![],
            informed: vec![],
        };
        let rungs = ladder(&r);
        assert_eq!(rungs, vec![key("incident_manager"), key("email_owner")]);
        assert_eq!(
            next_rung(&rungs, 0),
            Some((1, key("incident_manager"), Party::Responsible))
        );
        assert_eq!(next_rung(&rungs, 1), Some((2, key("email_owner"), Party::Accountable)));
        assert_eq!(next_rung(&rungs, 2), None);
        assert_eq!(next_rung(&rungs, i64::MAX), None);
        // Without a service the owner falls back to the incident manager: one rung.
        let same = Route {
            accountable: key("incident_manager"),
            ..r
        };
        assert_eq!(ladder(&same), vec![key("incident_manager")]);
        assert_eq!(next_rung(&ladder(&same), 1), None);
    }

    #[test]
    fn lifecycle_moves_drive_the_clocks_as_the_issue_says() {
        use ClockKind::{Resolution, Response};
        use ClockMove::*;
        let cases = [
            ("take acknowledges", State::New, State::Assigned, vec![(Response, Stop)]),
            (
                "starting work acknowledges",
                State::Assigned,
                State::InProgress,
                vec![(Response, Stop)],
            ),
            (
                "on hold pauses the resolution clock",
                State::InProgress,
                State::OnHold,
                vec![(Response, Stop), (Resolution, Pause)],
            ),
            (
                "resuming continues it",
                State::OnHold,
                State::InProgress,
                vec![(Response, Stop), (Resolution, Resume)],
            ),
            (
                "resolving stops both",
                State::InProgress,
                State::Resolved,
                vec![(Response, Stop), (Resolution, Stop)],
            ),
            (
                "reopening runs the resolution clock again",
                State::Resolved,
                State::InProgress,
                vec![(Response, Stop), (Resolution, Reopen)],
            ),
            ("closing changes nothing", State::Resolved, State::Closed, vec![]),
        ];
        for (what, from, to, expected) in cases {
            assert_eq!(clock_moves(from, to), expected, "{what}");
        }
    }
}
