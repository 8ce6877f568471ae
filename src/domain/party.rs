//! Who may act: the parties a command declares, and the parties an actor
//! holds, in general or towards one record.
//!
//! Each command-table row declares the parties that may run it
//! (`command::CommandSpec::may`); the desk computes the parties the actor
//! holds ([`held`]) and lets the command run when the two meet ([`permits`]).
//! `!help` and `!whoami` read the same declaration, so what the desk allows,
//! what help lists and what whoami says cannot drift apart. Pure.

use super::{RoleKey, UserId};

/// One party a command may be declared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    /// Everyone who can reach the desk.
    Anyone,
    /// The record's reporter (an incident's reporter, a change's requester,
    /// an outage's declarer).
    Reporter,
    /// The user the incident is assigned to (a change's implementer).
    Assignee,
    /// The assignment group: holders of the support tier that holds the incident.
    Group,
    /// Holders of the role that owns the record's service.
    ServiceOwner,
    /// Agents: the roles configured in `agents`.
    Agents,
    /// The roles configured in `outage.roles`.
    OutageRoles,
    /// The roles configured in `change.requester_roles`.
    ChangeRequesters,
    /// The change authority: `change.authority_roles`.
    ChangeAuthority,
    /// Readers of service reports: the roles configured in `reports.roles`
    /// (the service level manager by default).
    ReportReaders,
    /// The roles configured in `problem.roles` (the problem manager).
    ProblemRoles,
    /// An integration: a bot allowed to act (config `discord.allowed_bots`).
    /// It holds this party and no other, whatever roles it carries.
    Integrations,
}

impl Party {
    /// Whether this party is held towards one record (reporter, assignee,
    /// group, owner) rather than by role alone.
    pub fn is_per_record(self) -> bool {
        matches!(
            self,
            Party::Reporter | Party::Assignee | Party::Group | Party::ServiceOwner
        )
    }
}

/// What the configuration says an actor's roles make them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub agent: bool,
    pub outage_role: bool,
    pub change_requester: bool,
    pub change_authority: bool,
    /// Holds a role of `reports.roles`.
    pub report_reader: bool,
    /// Holds a role of `problem.roles`.
    pub problem_role: bool,
    /// An allowed bot: it holds [`Party::Integrations`] only.
    pub integration: bool,
}

/// The facts of one record that decide its per-record parties.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordParties<'a> {
    pub reporter: Option<UserId>,
    pub assignee: Option<UserId>,
    /// The support tier holding it.
    pub group: Option<&'a RoleKey>,
    /// The role owning its service.
    pub owner: Option<&'a RoleKey>,
}

/// The parties `user` holding `roles` holds, towards `record` if given.
pub fn held(user: UserId, roles: &[RoleKey], standing: Standing, record: Option<&RecordParties<'_>>) -> Vec<Party> {
    if standing.integration {
        return vec![Party::Integrations];
    }
    let holds = |role: Option<&RoleKey>| role.is_some_and(|r| roles.contains(r));
    let mut parties = vec![Party::Anyone];
    if let Some(r) = record {
        if r.reporter == Some(user) {
            parties.push(Party::Reporter);
        }
        if r.assignee == Some(user) {
            parties.push(Party::Assignee);
        }
        if holds(r.group) {
            parties.push(Party::Group);
        }
        if holds(r.owner) {
            parties.push(Party::ServiceOwner);
        }
    }
    for (yes, party) in [
        (standing.agent, Party::Agents),
        (standing.outage_role, Party::OutageRoles),
        (standing.change_requester, Party::ChangeRequesters),
        (standing.change_authority, Party::ChangeAuthority),
        (standing.report_reader, Party::ReportReaders),
        (standing.problem_role, Party::ProblemRoles),
    ] {
        if yes {
            parties.push(party);
        }
    }
    parties
}

/// Whether a command declared for `may` is open to someone holding `held`.
pub fn permits(may: &[Party], held: &[Party]) -> bool {
    may.iter().any(|p| held.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> RoleKey {
        RoleKey::parse(k).unwrap()
    }

    #[test]
    fn per_record_parties_follow_the_record_and_roles_follow_the_config() {
        let (tier, owner) = (key("tier2"), key("email_owner"));
        let record = RecordParties {
            reporter: Some(UserId::new(1)),
            assignee: Some(UserId::new(2)),
            group: Some(&tier),
            owner: Some(&owner),
        };
        let reporter = held(UserId::new(1), &[], Standing::default(), Some(&record));
        assert_eq!(reporter, [Party::Anyone, Party::Reporter]);
        let assignee = held(UserId::new(2), &[], Standing::default(), Some(&record));
        assert_eq!(assignee, [Party::Anyone, Party::Assignee]);
        let group = held(
            UserId::new(3),
            std::slice::from_ref(&tier),
            Standing::default(),
            Some(&record),
        );
        assert_eq!(group, [Party::Anyone, Party::Group]);
        let owner_holder = held(
            UserId::new(4),
            std::slice::from_ref(&owner),
            Standing::default(),
            Some(&record),
        );
        assert_eq!(owner_holder, [Party::Anyone, Party::ServiceOwner]);
        // Without a record, only the parties of roles are held.
        let agent = Standing {
            agent: true,
            ..Standing::default()
        };
        assert_eq!(
            held(UserId::new(1), &[tier], agent, None),
            [Party::Anyone, Party::Agents]
        );
    }

    #[test]
    fn an_integration_holds_only_its_own_party_whatever_its_roles_and_record() {
        let tier = key("service_desk");
        let record = RecordParties {
            reporter: Some(UserId::new(1)),
            ..RecordParties::default()
        };
        let bot = Standing {
            agent: true,
            integration: true,
            ..Standing::default()
        };
        assert_eq!(held(UserId::new(1), &[tier], bot, Some(&record)), [Party::Integrations]);
    }

    #[test]
    fn a_declaration_permits_whoever_holds_one_of_its_parties() {
        assert!(permits(&[Party::Anyone], &[Party::Anyone]));
        assert!(permits(
            &[Party::Assignee, Party::Agents],
            &[Party::Anyone, Party::Agents]
        ));
        assert!(!permits(
            &[Party::Assignee, Party::Agents],
            &[Party::Anyone, Party::Reporter]
        ));
        assert!(!permits(&[], &[Party::Anyone]));
    }
}
