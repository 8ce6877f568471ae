//! Permissions, checked once: the spine asks [`authorize`] before any
//! command runs, against the parties the command declares
//! ([`Command::may`], from its table row) and the parties the actor holds
//! towards the command's record. Handlers do not check again; they read the
//! parties held (`Act::holds`) only where a party changes what the command
//! does (a reporter's `!escalate` asks for escalation). `!help` and `!whoami`
//! read the same declarations.

use super::act::Act;
use super::emoji::Emoji;
use super::{Actor, Desk, DeskError, DeskResult, Reply};
use crate::command::{who, Command, CommandSpec, Kind, COMMANDS};
use crate::domain::outage::OutageError;
use crate::domain::party::{self, Party, RecordParties, Standing};
use crate::domain::subject::Subject;
use crate::domain::{RoleKey, UserId};
use crate::render;
use crate::store;

/// The facts of a record that decide its per-record parties, owned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub reporter: Option<UserId>,
    pub assignee: Option<UserId>,
    pub group: Option<RoleKey>,
    pub owner: Option<RoleKey>,
}

impl Facts {
    fn parties(&self) -> RecordParties<'_> {
        RecordParties {
            reporter: self.reporter,
            assignee: self.assignee,
            group: self.group.as_ref(),
            owner: self.owner.as_ref(),
        }
    }
}

/// Who may use a reaction: the declaration of the command it stands for
/// (🎫 `!incident`, ✋ `!take`, ⬆️ functional escalation); answers and
/// ballots are for people.
pub(crate) fn reaction_may(emoji: Emoji) -> &'static [Party] {
    let row = |name: &str| crate::command::spec(name).map_or(who::ANYONE, |s| s.may);
    match emoji {
        Emoji::Ticket => row("incident"),
        Emoji::Claim => row("take"),
        Emoji::Escalate => who::ESCALATE_REACTION,
        Emoji::Fixed | Emoji::NotFixed | Emoji::Ballot(_) => who::ANYONE,
    }
}

/// What the configuration makes holders of `roles`.
pub(crate) fn standing(desk: &Desk, roles: &[RoleKey]) -> Standing {
    let policy = desk.policy();
    Standing {
        agent: policy.is_agent(roles),
        outage_role: policy.may_declare_outages(roles),
        change_requester: policy.change.may_request(roles),
        change_authority: policy.change.is_authority(roles),
        report_reader: policy.reports.is_reader(roles),
        problem_role: roles.iter().any(|r| policy.problem.roles.contains(r)),
        integration: false,
    }
}

/// What the configuration makes `actor`: an integration (an allowed bot)
/// holds that party alone.
pub(crate) fn standing_of(desk: &Desk, actor: &Actor) -> Standing {
    Standing {
        integration: desk.policy().discord.allowed_bots.contains(&actor.user.get()),
        ..standing(desk, &actor.roles)
    }
}

/// Whether an integration may run `may`: what it may not do is not
/// answered at all (a bot gets no refusals to read).
pub(crate) fn integration_may(desk: &Desk, actor: &Actor, may: &[Party]) -> bool {
    !standing_of(desk, actor).integration || may.contains(&Party::Integrations)
}

/// The parties of a record; a refusal when it does not exist.
pub(crate) async fn facts(desk: &Desk, tx: &mut Act<'_>, subject: &Subject) -> DeskResult<Facts> {
    let policy = desk.policy();
    let owner = |service: Option<&str>| service.and_then(|s| policy.service(s)).map(|s| s.owner.clone());
    match subject {
        Subject::Incident(id) => match store::incidents::get(tx, *id).await? {
            Some(inc) => Ok(Facts {
                reporter: Some(inc.reporter),
                assignee: inc.assignee,
                group: Some(inc.handler_role.clone()),
                owner: owner(inc.service.as_deref()),
            }),
            None => super::rejected(render::unknown_incident(*id)),
        },
        Subject::Change(id) => match store::changes::get(tx, *id).await? {
            Some(ch) => Ok(Facts {
                reporter: Some(ch.requester),
                assignee: ch.implementer,
                group: None,
                owner: owner(Some(&ch.service)),
            }),
            None => super::rejected(render::unknown_change(*id)),
        },
        Subject::Outage(id) => match store::outages::get(tx, *id).await? {
            Some(o) => Ok(Facts {
                reporter: Some(o.declared_by),
                assignee: None,
                group: None,
                owner: owner(Some(&o.service)),
            }),
            None => super::rejected(render::unknown_outage(policy, *id)),
        },
        // Problems are worked by role (`problem.roles`, agents), not by record.
        Subject::Problem(id) => match store::problems::get(tx, *id).await? {
            Some(p) => Ok(Facts {
                owner: owner(p.service.as_deref()),
                ..Facts::default()
            }),
            None => super::rejected(render::unknown_problem(*id)),
        },
        Subject::Service(key) => Ok(Facts {
            owner: owner(Some(key)),
            ..Facts::default()
        }),
        // No command acts on one subscriber's messages; their recipient stands
        // as their reporter.
        Subject::Dm(_, user) => Ok(Facts {
            reporter: Some(*user),
            ..Facts::default()
        }),
        // No command names a grouped card; it stands for nobody in particular.
        Subject::Reports(_) => Ok(Facts::default()),
    }
}

/// The parties `actor` holds, towards `subject` when there is one.
pub(crate) async fn parties(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    subject: Option<&Subject>,
) -> DeskResult<Vec<Party>> {
    let facts = match subject {
        Some(s) => Some(facts(desk, tx, s).await?),
        None => None,
    };
    Ok(party::held(
        actor.user,
        &actor.roles,
        standing_of(desk, actor),
        facts.as_ref().map(Facts::parties).as_ref(),
    ))
}

/// Lets `cmd` run when the actor holds one of the parties it declares, and
/// leaves the parties held on the action; otherwise the refusal that says who may.
pub(crate) async fn authorize(desk: &Desk, tx: &mut Act<'_>, actor: &Actor, cmd: &Command) -> DeskResult<()> {
    let subject = cmd.record();
    let held = parties(desk, tx, actor, subject.as_ref()).await?;
    let may = cmd.may();
    if party::permits(may, &held) {
        tx.parties = held;
        return Ok(());
    }
    let name = cmd.spec().map_or("", |s| s.name);
    Err(DeskError::Rejected(refusal(
        desk,
        cmd,
        subject.as_ref(),
        may,
        &held,
        name,
    )))
}

/// Lets a reaction that stands for a command (✋ for `!take`, ⬆️ for
/// `!escalate`) run under `may`; `refused` says why not.
pub(crate) async fn authorize_reaction(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    subject: &Subject,
    may: &[Party],
    refused: impl FnOnce() -> String,
) -> DeskResult<()> {
    let held = parties(desk, tx, actor, Some(subject)).await?;
    if party::permits(may, &held) {
        tx.parties = held;
        Ok(())
    } else {
        Err(DeskError::RejectedReaction(refused()))
    }
}

pub(crate) fn refusal(
    desk: &Desk,
    cmd: &Command,
    subject: Option<&Subject>,
    may: &[Party],
    held: &[Party],
    name: &str,
) -> String {
    let policy = desk.policy();
    let prefix = &policy.prefix;
    match (subject, cmd) {
        // A command for those involved in an incident, refused to someone
        // who may not even see it: they are told only that.
        (Some(Subject::Incident(id)), _)
            if may.iter().any(|p| p.is_per_record()) && !party::permits(who::INCIDENT_READERS, held) =>
        {
            render::not_yours(*id)
        }
        (Some(Subject::Outage(id)), _) if may == who::OUTAGE_EDITORS => {
            render::outage_refused(policy, &OutageError::NotYours { id: *id })
        }
        (Some(Subject::Change(id)), _) if may == who::CHANGE_CANCELLERS => {
            render::change_cancel_not_allowed(policy, *id)
        }
        (Some(Subject::Change(id)), Command::ChangeStatus { state, .. }) => {
            render::change_move_not_allowed(policy, *id, *state)
        }
        _ if may == who::AGENTS => render::not_agent(prefix, name),
        _ if may == who::OUTAGE_ROLES => render::not_outage_role(policy),
        _ if may == who::CHANGE_REQUESTERS => render::not_requester(policy),
        _ if may == who::CHANGE_AUTHORITY => render::not_authority(policy, name),
        _ => render::not_permitted(policy, name, may, subject),
    }
}

/// Whether the holder of `roles` may ever run the command `spec` (on some
/// record): what `!help` lists. Being a record's reporter takes what
/// creating one of that kind takes: anyone reports an incident, only the
/// change requesters file a change and the outage roles declare an outage.
pub(crate) fn may_ever(desk: &Desk, roles: &[RoleKey], spec: &CommandSpec) -> bool {
    let policy = desk.policy();
    let standing = standing(desk, roles);
    let in_some_group = roles.iter().any(|r| policy.is_support_tier(r));
    let owns_a_service = !policy.services_owned_by(roles).is_empty();
    spec.may.iter().any(|p| match p {
        Party::Anyone => true,
        Party::Reporter => match spec.kind {
            Kind::Changes => standing.change_requester,
            Kind::Outages => standing.outage_role,
            Kind::Incidents | Kind::Problems | Kind::Reports | Kind::Info => true,
        },
        Party::Assignee | Party::Group => in_some_group || standing.agent,
        Party::ServiceOwner => owns_a_service,
        Party::Agents => standing.agent,
        Party::OutageRoles => standing.outage_role,
        Party::ChangeRequesters => standing.change_requester,
        Party::ChangeAuthority => standing.change_authority,
        Party::ReportReaders => standing.report_reader,
        Party::ProblemRoles => standing.problem_role,
        Party::Integrations => standing.integration,
    })
}

/// The rows the holder of `roles` may run on some record.
pub(crate) fn commands_for(desk: &Desk, roles: &[RoleKey]) -> Vec<&'static CommandSpec> {
    COMMANDS.iter().filter(|c| may_ever(desk, roles, c)).collect()
}

/// `!whoami`: the actor's chat roles, the ITIL roles they map to, the
/// parties those make them and what that lets them run.
pub(crate) fn whoami(desk: &Desk, actor: &Actor) -> DeskResult<Reply> {
    let policy = desk.policy();
    let standing = standing(desk, &actor.roles);
    let groups: Vec<RoleKey> = actor
        .roles
        .iter()
        .filter(|r| policy.is_support_tier(r))
        .cloned()
        .collect();
    let owned = policy.services_owned_by(&actor.roles);
    let commands = commands_for(desk, &actor.roles);
    Ok(Reply::public(render::whoami(
        policy,
        &actor.name,
        &actor.roles,
        render::Standing {
            standing,
            groups: &groups,
            owned: &owned,
            commands: &commands,
        },
    )))
}

/// Whether `user` could work an incident held by `group`: an agent, or a
/// holder of the group's role (by the roles last seen on them).
pub(crate) async fn could_work(desk: &Desk, tx: &mut Act<'_>, user: UserId, group: &RoleKey) -> DeskResult<bool> {
    let roles = store::roster::roles_of(tx, user).await?;
    Ok(desk.policy().is_agent(&roles) || roles.contains(group))
}
