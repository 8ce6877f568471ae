//! RACI routing: for each action, which ITIL role is Responsible, Accountable,
//! Consulted and Informed.
//!
//! Rows are data (config); this module defines the actions, checks a matrix once
//! at start-up and resolves a row for a concrete record (its service owner, its
//! current assignment group).

use std::collections::BTreeMap;
use std::fmt;

use super::RoleKey;

/// Every action the desk routes. Config rows are keyed by [`Action::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    LogIncident,
    /// An incident raised by a monitoring alert (`/hooks/*`).
    AlertIncident,
    SecurityIncident,
    AssignIncident,
    UpdateIncident,
    ResolveIncident,
    CloseIncident,
    ReopenIncident,
    EscalateFunctional,
    EscalateHierarchical,
    MajorIncident,
    SlaWarning,
    SlaBreach,
    OutageDeclare,
    OutageUpdate,
    OutageResolve,
    ChangeRequest,
    CabVote,
    ChangeAuthorize,
    ChangeReject,
    ProblemLog,
    ProblemUpdate,
    ProblemResolve,
}

impl Action {
    pub const ALL: [Action; 23] = [
        Action::LogIncident,
        Action::AlertIncident,
        Action::SecurityIncident,
        Action::AssignIncident,
        Action::UpdateIncident,
        Action::ResolveIncident,
        Action::CloseIncident,
        Action::ReopenIncident,
        Action::EscalateFunctional,
        Action::EscalateHierarchical,
        Action::MajorIncident,
        Action::SlaWarning,
        Action::SlaBreach,
        Action::OutageDeclare,
        Action::OutageUpdate,
        Action::OutageResolve,
        Action::ChangeRequest,
        Action::CabVote,
        Action::ChangeAuthorize,
        Action::ChangeReject,
        Action::ProblemLog,
        Action::ProblemUpdate,
        Action::ProblemResolve,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LogIncident => "log_incident",
            Action::AlertIncident => "alert_incident",
            Action::SecurityIncident => "security_incident",
            Action::AssignIncident => "assign_incident",
            Action::UpdateIncident => "update_incident",
            Action::ResolveIncident => "resolve_incident",
            Action::CloseIncident => "close_incident",
            Action::ReopenIncident => "reopen_incident",
            Action::EscalateFunctional => "escalate_functional",
            Action::EscalateHierarchical => "escalate_hierarchical",
            Action::MajorIncident => "major_incident",
            Action::SlaWarning => "sla_warning",
            Action::SlaBreach => "sla_breach",
            Action::OutageDeclare => "outage_declare",
            Action::OutageUpdate => "outage_update",
            Action::OutageResolve => "outage_resolve",
            Action::ChangeRequest => "change_request",
            Action::CabVote => "cab_vote",
            Action::ChangeAuthorize => "change_authorize",
            Action::ChangeReject => "change_reject",
            Action::ProblemLog => "problem_log",
            Action::ProblemUpdate => "problem_update",
            Action::ProblemResolve => "problem_resolve",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase().replace('-', "_");
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role as written in a RACI row: a fixed ITIL role, or a placeholder that
/// depends on the record (`@service_owner`, `@assignment_group`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoleRef {
    Role(RoleKey),
    /// The owner role of the record's service (the seeds: "point of escalation
    /// for major incidents"); falls back to the incident manager when the record
    /// has no service.
    ServiceOwner,
    /// The support role currently holding the incident (its tier).
    AssignmentGroup,
}

impl RoleRef {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "@service_owner" => Ok(RoleRef::ServiceOwner),
            "@assignment_group" => Ok(RoleRef::AssignmentGroup),
            other => RoleKey::parse(other).map(RoleRef::Role).map_err(|e| e.to_string()),
        }
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleRef::Role(r) => write!(f, "{r}"),
            RoleRef::ServiceOwner => f.write_str("@service_owner"),
            RoleRef::AssignmentGroup => f.write_str("@assignment_group"),
        }
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaciRow {
    pub responsible: RoleRef,
    pub accountable: RoleRef,
    pub consulted: Vec<RoleRef>,
    pub informed: Vec<RoleRef>,
}

/// What a row means for one record: concrete roles only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub responsible: RoleKey,
    pub accountable: RoleKey,
    pub consulted: Vec<RoleKey>,
    pub informed: Vec<RoleKey>,
}

impl Route {
    /// Roles to tell besides the responsible one, without repeats.
    pub fn also_notify(&self) -> Vec<RoleKey> {
        let mut out: Vec<RoleKey> = Vec::new();
        for r in self.consulted.iter().chain(&self.informed) {
            if *r != self.responsible && !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }
}

/// The record a row is resolved for.
#[derive(Debug, Clone, Copy)]
pub struct RouteContext<'a> {
    pub service_owner: Option<&'a RoleKey>,
    pub assignment_group: Option<&'a RoleKey>,
    /// Used when a placeholder has nothing to stand for.
    pub fallback: &'a RoleKey,
}

/// A matrix problem found at start-up, naming the config key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaciError {
    #[error("raci.{0}: unknown action (known: {1})")]
    UnknownAction(String, String),
    #[error("raci.{action}.{field}: unknown role `{role}`")]
    UnknownRole {
        action: String,
        field: &'static str,
        role: String,
    },
    #[error("raci.{0}: row missing (every action needs a row)")]
    MissingRow(String),
}

/// The whole matrix, one row per [`Action`].
#[derive(Debug, Clone)]
pub struct RaciMatrix {
    rows: BTreeMap<Action, RaciRow>,
}

impl RaciMatrix {
    /// Checks every row names known actions and roles, and that no action lacks a row.
    pub fn new(rows: BTreeMap<String, RaciRow>, role_exists: impl Fn(&RoleKey) -> bool) -> Result<Self, RaciError> {
        let mut out = BTreeMap::new();
        for (key, row) in rows {
            let action = Action::parse(&key).ok_or_else(|| {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                RaciError::UnknownAction(key.clone(), known.join(", "))
            })?;
            let fields = [
                ("responsible", std::slice::from_ref(&row.responsible)),
                ("accountable", std::slice::from_ref(&row.accountable)),
                ("consulted", row.consulted.as_slice()),
                ("informed", row.informed.as_slice()),
            ];
            for (field, refs) in fields {
                for r in refs {
                    if let RoleRef::Role(role) = r {
                        if !role_exists(role) {
                            return Err(RaciError::UnknownRole {
                                action: key.clone(),
                                field,
                                role: role.to_string(),
                            });
                        }
                    }
                }
            }
            out.insert(action, row);
        }
        if let Some(missing) = Action::ALL.into_iter().find(|a| !out.contains_key(a)) {
            return Err(RaciError::MissingRow(missing.as_str().to_owned()));
        }
        Ok(Self { rows: out })
    }

    pub fn row(&self, action: Action) -> &RaciRow {
        // `new` guarantees a row per action.
        &self.rows[&action]
    }

    pub fn rows(&self) -> impl Iterator<Item = (Action, &RaciRow)> {
        self.rows.iter().map(|(a, r)| (*a, r))
    }

    /// Resolves the row of `action` for one record.
    pub fn route(&self, action: Action, ctx: RouteContext<'_>) -> Route {
        let row = self.row(action);
        let resolve = |r: &RoleRef| -> RoleKey {
            match r {
                RoleRef::Role(k) => k.clone(),
                RoleRef::ServiceOwner => ctx.service_owner.unwrap_or(ctx.fallback).clone(),
                RoleRef::AssignmentGroup => ctx.assignment_group.unwrap_or(ctx.fallback).clone(),
            }
        };
        Route {
            responsible: resolve(&row.responsible),
            accountable: resolve(&row.accountable),
            consulted: row.consulted.iter().map(resolve).collect(),
            informed: row.informed.iter().map(resolve).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> RoleKey {
        RoleKey::parse(s).unwrap()
    }

    fn full_rows() -> BTreeMap<String, RaciRow> {
        Action::ALL
            .iter()
            .map(|a| {
                let row = RaciRow {
                    responsible: RoleRef::Role(key("service_desk")),
                    accountable: RoleRef::ServiceOwner,
                    consulted: vec![RoleRef::AssignmentGroup],
                    informed: vec![RoleRef::Role(key("service_desk")), RoleRef::Role(key("slm"))],
                };
                (a.as_str().to_owned(), row)
            })
            .collect()
    }

    #[test]
    fn every_action_round_trips_through_its_config_key() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
    }

    #[test]
    fn a_complete_matrix_resolves_placeholders_for_the_record() {
        let m = RaciMatrix::new(full_rows(), |_| true).unwrap();
        let owner = key("email_owner");
        let group = key("systems_support");
        let fallback = key("incident_manager");
        for action in Action::ALL {
            let route = m.route(
                action,
                RouteContext {
                    service_owner: Some(&owner),
                    assignment_group: Some(&group),
                    fallback: &fallback,
                },
            );
            assert_eq!(route.responsible, key("service_desk"));
            assert_eq!(route.accountable, owner);
            assert_eq!(route.consulted, vec![group.clone()]);
            assert_eq!(route.also_notify(), vec![group.clone(), key("slm")], "{action}");
        }
        let route = m.route(
            Action::LogIncident,
            RouteContext {
                service_owner: None,
                assignment_group: None,
                fallback: &fallback,
            },
        );
        assert_eq!(route.accountable, fallback);
    }

    #[test]
    fn unknown_roles_actions_and_missing_rows_are_named() {
        let mut rows = full_rows();
        rows.get_mut("cab_vote")
            .unwrap()
            .informed
            .push(RoleRef::Role(key("ghost")));
        let err = RaciMatrix::new(rows, |r| r.as_str() != "ghost").unwrap_err();
        assert_eq!(err.to_string(), "raci.cab_vote.informed: unknown role `ghost`");

        let mut rows = full_rows();
        rows.remove("sla_breach");
        let err = RaciMatrix::new(rows, |_| true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "raci.sla_breach: row missing (every action needs a row)"
        );

        let mut rows = full_rows();
        let row = rows["cab_vote"].clone();
        rows.insert("make_coffee".into(), row);
        let err = RaciMatrix::new(rows, |_| true).unwrap_err();
        assert!(err.to_string().starts_with("raci.make_coffee: unknown action"), "{err}");
    }

    #[test]
    fn placeholders_parse_and_bad_role_keys_do_not() {
        assert_eq!(RoleRef::parse("@service_owner"), Ok(RoleRef::ServiceOwner));
        assert_eq!(RoleRef::parse("@assignment_group"), Ok(RoleRef::AssignmentGroup));
        assert!(RoleRef::parse("Service Desk").is_err());
        assert!(RoleRef::parse("@owner").is_err());
    }
}
