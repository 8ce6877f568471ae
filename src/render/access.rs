//! The sentences of permissions: who may run a command (`desk/permit.rs`),
//! and `!whoami`.

use crate::command::{CommandSpec, Kind};
use crate::config::Policy;
use crate::domain::party::{Party, Standing as Parties};
use crate::domain::subject::Subject;
use crate::domain::RoleKey;

/// What `!whoami` tells: the parties an actor's roles make them, and the
/// commands those open.
pub struct Standing<'a> {
    pub standing: Parties,
    /// The support tiers among the actor's roles (assignment groups).
    pub groups: &'a [RoleKey],
    /// The services whose owner role the actor holds.
    pub owned: &'a [String],
    pub commands: &'a [&'static CommandSpec],
}

fn names(policy: &Policy, roles: &[RoleKey]) -> Vec<String> {
    roles.iter().map(|r| policy.role_name(r)).collect()
}

fn and(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The kind of record a subject is, as `!help` groups commands.
fn kind_of(subject: Option<&Subject>) -> Option<Kind> {
    match subject? {
        Subject::Incident(_) => Some(Kind::Incidents),
        Subject::Change(_) => Some(Kind::Changes),
        Subject::Outage(_) => Some(Kind::Outages),
        Subject::Service(_) => Some(Kind::Reports),
        Subject::Problem(_) => Some(Kind::Problems),
        _ => None,
    }
}

/// One party, as a refusal or `!help` names it for a record of this kind.
fn party_words(policy: &Policy, party: Party, kind: Option<Kind>) -> String {
    let change = kind == Some(Kind::Changes);
    match party {
        Party::Anyone => "anyone".into(),
        Party::Reporter if change => "its requester".into(),
        Party::Reporter if kind == Some(Kind::Outages) => "whoever declared it".into(),
        Party::Reporter => "its reporter".into(),
        Party::Assignee if change => "its implementer".into(),
        Party::Assignee => "its assignee".into(),
        Party::Group => "its assignment group (the support tier holding it)".into(),
        Party::ServiceOwner if kind == Some(Kind::Reports) => "the service's owner".into(),
        Party::ServiceOwner => "its service's owner".into(),
        Party::Agents => "agents".into(),
        Party::OutageRoles => and(&names(policy, &policy.outage.roles)),
        Party::ChangeRequesters => and(&names(policy, &policy.change.requester_roles)),
        Party::ReportReaders if policy.reports.roles.is_empty() => "report readers (config `reports.roles`)".into(),
        Party::ReportReaders => and(&names(policy, &policy.reports.roles)),
        Party::ProblemRoles => and(&names(policy, &policy.problem.roles)),
        Party::Integrations => "allowed bots (config `discord.allowed_bots`)".into(),
        Party::ChangeAuthority => format!(
            "the change authority ({})",
            and(&names(policy, &policy.change.authority_roles))
        ),
    }
}

/// Someone who may not even see an incident asked to act on it.
pub fn not_yours(id: crate::domain::incident::IncidentId) -> String {
    format!(
        "{id} is not yours: only its reporter, its assignee, its assignment group, its service's owner and agents may see or change it."
    )
}

/// A command refused because the actor holds none of the parties it declares.
pub fn not_permitted(policy: &Policy, command: &str, may: &[Party], subject: Option<&Subject>) -> String {
    let who: Vec<String> = may.iter().map(|p| party_words(policy, *p, kind_of(subject))).collect();
    let on = subject.map(|s| format!(" on {s}")).unwrap_or_default();
    format!("Only {} may run `{}{command}`{on}.", and(&who), policy.prefix)
}

/// Who may run a command, as `!help <command>` says it.
pub fn who_may(policy: &Policy, spec: &CommandSpec) -> String {
    let who: Vec<String> = spec
        .may
        .iter()
        .map(|p| party_words(policy, *p, Some(spec.kind)))
        .collect();
    and(&who)
}

pub fn assignee_cannot_work(
    policy: &Policy,
    id: crate::domain::incident::IncidentId,
    who: &str,
    group: &RoleKey,
) -> String {
    format!(
        "{who} cannot work {id}: assign it to an agent or to a member of {} (the support tier holding it). \
         Roles are learnt when someone uses the desk, so a new colleague should run `{}whoami` first.",
        policy.role_name(group),
        policy.prefix
    )
}

pub fn whoami(policy: &Policy, name: &str, roles: &[RoleKey], s: Standing<'_>) -> String {
    let mut lines = vec![format!("You are {name}.")];
    if roles.is_empty() {
        lines.push(
            "None of your chat roles is an ITIL role here: you may report incidents and follow your own, \
             subscribe to services and read changes and outages."
                .to_owned(),
        );
    } else {
        let held: Vec<String> = roles
            .iter()
            .map(|r| match policy.role(r) {
                Some(def) => format!("`{}` → {}", def.chat_role, def.name),
                None => r.to_string(),
            })
            .collect();
        lines.push(format!("Your chat roles: {}.", held.join(", ")));
    }
    let mut parties = Vec::new();
    if s.standing.agent {
        parties.push("an agent: you may see, take and triage any incident".to_owned());
    }
    if !s.groups.is_empty() {
        parties.push(format!(
            "the assignment group of incidents held by {}: you may see, move, note and resolve them",
            and(&names(policy, s.groups))
        ));
    }
    if !s.owned.is_empty() {
        parties.push(format!(
            "the owner of {}: you may see their incidents, add notes and `{}escalate … up`",
            and(s.owned),
            policy.prefix
        ));
    }
    if s.standing.outage_role {
        parties.push("an outage role: you may declare, update and resolve outages".to_owned());
    }
    if s.standing.change_requester {
        parties.push("a change requester: you may file changes".to_owned());
    }
    if s.standing.change_authority {
        parties.push("the change authority: you may call CAB votes, authorize and reject changes".to_owned());
    }
    parties.push(
        "the reporter of what you report, and the assignee of what you are given (with what those allow)".to_owned(),
    );
    lines.push("What that makes you here:".to_owned());
    lines.extend(parties.iter().map(|p| format!("• {p}")));
    let commands: Vec<String> = s
        .commands
        .iter()
        .map(|c| format!("`{}{}`", policy.prefix, c.name))
        .collect();
    lines.push(format!("Commands you may run: {}.", commands.join(" ")));
    lines.join("\n")
}
