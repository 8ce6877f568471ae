//! Chat text → a typed [`Command`].
//!
//! One table ([`COMMANDS`]) yields the parser, the `!help` text and the slash
//! command definitions, so they never drift. Pure: std and regex only.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use chrono::TimeDelta;

use crate::domain::change::{ChangeId, ChangeState, ChangeType, Risk};
use crate::domain::incident::{IncidentId, State};
use crate::domain::outage::{OutageId, OutageImpact, IMPACTS};
use crate::domain::party::Party;
use crate::domain::priority::{Impact, Priority, Urgency, LEVELS};
use crate::domain::sla::parse_duration;
use crate::domain::subject::Subject;
use crate::domain::text::nearest;

/// Who may run a command: the parties its row declares (see `domain::party`),
/// which `!help` lists it by. A row that serves several forms (`!show INC-n` /
/// `!show CHG-n`, `!outage` / `!outage show`) declares its main form, and
/// [`Command::may`] gives each form its own declaration beside it.
pub mod who {
    use crate::domain::party::Party::{self, *};

    pub const ANYONE: &[Party] = &[Anyone];
    /// Those who may see an incident: show, note.
    pub const INCIDENT_READERS: &[Party] = &[Reporter, Assignee, Group, ServiceOwner, Agents];
    /// Lifecycle moves and resolving: those who work the incident.
    pub const INCIDENT_WORKERS: &[Party] = &[Assignee, Group, Agents];
    /// Closing and reopening a resolved incident: its workers and its reporter.
    pub const INCIDENT_CLOSERS: &[Party] = &[Reporter, Assignee, Group, Agents];
    /// Functional escalation: its workers; the reporter may ask for one.
    pub const ESCALATORS: &[Party] = &[Reporter, Assignee, Group, Agents];
    /// Hierarchical escalation (`up`): also the service's owner.
    pub const ESCALATORS_UP: &[Party] = &[Reporter, Assignee, Group, ServiceOwner, Agents];
    /// ⬆️ on a card: functional escalation by those who work the incident.
    pub const ESCALATE_REACTION: &[Party] = &[Assignee, Group, Agents];
    pub const AGENTS: &[Party] = &[Agents];
    pub const OUTAGE_ROLES: &[Party] = &[OutageRoles];
    /// Updating or resolving an outage: its declarer or the outage roles.
    pub const OUTAGE_EDITORS: &[Party] = &[Reporter, OutageRoles];
    pub const CHANGE_REQUESTERS: &[Party] = &[ChangeRequesters];
    /// Cancelling a change: its requester or the change authority.
    pub const CHANGE_CANCELLERS: &[Party] = &[Reporter, ChangeAuthority];
    /// Starting work and asking for review: the implementer or the authority.
    pub const CHANGE_IMPLEMENTERS: &[Party] = &[Assignee, ChangeAuthority];
    pub const CHANGE_AUTHORITY: &[Party] = &[ChangeAuthority];
}

/// What kind of value an option takes (slash commands show it as a typed field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// Free text.
    Text,
    /// `INC-n`.
    Incident,
    /// `CHG-n`.
    Change,
    /// A user mention.
    User,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// One argument of a command, positional or `key=value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: OptionKind,
    pub required: bool,
    /// Named options are written `name=value` in chat; positional ones in order,
    /// the last positional taking the rest of the line when it is text.
    pub named: bool,
}

/// One row of the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub summary: &'static str,
    /// Who may run it (the widest of its forms).
    pub may: &'static [Party],
    pub options: &'static [OptionSpec],
}

const fn pos(name: &'static str, description: &'static str, kind: OptionKind, required: bool) -> OptionSpec {
    OptionSpec {
        name,
        description,
        kind,
        required,
        named: false,
    }
}

const fn named(name: &'static str, description: &'static str, kind: OptionKind) -> OptionSpec {
    OptionSpec {
        name,
        description,
        kind,
        required: false,
        named: true,
    }
}

const STATES: &[&str] = &["new", "assigned", "in_progress", "on_hold", "resolved", "closed"];
const FILTERS: &[&str] = &["open", "mine", "all", "P1", "P2", "P3", "P4", "P5"];
const RISKS: &[&str] = &["low", "medium", "high"];
const CHANGE_TYPES: &[&str] = &["standard", "normal", "emergency"];
const CHANGE_FILTERS: &[&str] = &["open", "upcoming", "mine", "all"];
const CHANGE_STATES: &str = "assessment, scheduled, implementing, review, closed";

/// Every command, in the order `!help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "incident",
        aliases: &["inc"],
        usage: "incident <title> [impact=high|medium|low] [urgency=high|medium|low] [service=<name>] [category=<name>]",
        summary: "Report an incident; replies with its INC id, priority and who handles it.",
        may: who::ANYONE,
        options: &[
            pos("title", "What is wrong, in one line", OptionKind::Text, true),
            named("impact", "How widely it hurts", OptionKind::Choice(&LEVELS)),
            named("urgency", "How soon it must be fixed", OptionKind::Choice(&LEVELS)),
            named("service", "The affected service", OptionKind::Text),
            named("category", "A category, e.g. security", OptionKind::Text),
        ],
    },
    CommandSpec {
        name: "show",
        aliases: &[],
        usage: "show INC-<n>|CHG-<n>",
        summary: "Show an incident (to those who may see it) or a change, with its history.",
        may: who::ANYONE,
        options: &[pos(
            "id",
            "The incident or change, e.g. INC-12 or CHG-3",
            OptionKind::Incident,
            true,
        )],
    },
    CommandSpec {
        name: "incidents",
        aliases: &["list"],
        usage: "incidents [open|mine|all|P1..P5|service=<name>] [page=<n>]",
        summary: "List incidents, newest first (non-agents see their own).",
        may: who::ANYONE,
        options: &[
            pos("filter", "Which incidents", OptionKind::Choice(FILTERS), false),
            named("service", "Only this service", OptionKind::Text),
            named("page", "Page number", OptionKind::Text),
        ],
    },
    CommandSpec {
        name: "take",
        aliases: &["claim"],
        usage: "take INC-<n>",
        summary: "Claim an incident: assign it to yourself.",
        may: who::AGENTS,
        options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
    },
    CommandSpec {
        name: "assign",
        aliases: &[],
        usage: "assign INC-<n> @user",
        summary: "Assign an incident to someone.",
        may: who::AGENTS,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("user", "Who takes it", OptionKind::User, true),
        ],
    },
    CommandSpec {
        name: "status",
        aliases: &[],
        usage: "status INC-<n> <new|assigned|in_progress|on_hold|resolved|closed> [reason]",
        summary: "Move an incident through its lifecycle; with no arguments, show current outages.",
        may: who::ANYONE,
        options: &[
            pos("id", "The incident, e.g. INC-12 (leave out to see outages)", OptionKind::Incident, false),
            pos("state", "The new state", OptionKind::Choice(STATES), false),
            pos("reason", "Why", OptionKind::Text, false),
        ],
    },
    CommandSpec {
        name: "note",
        aliases: &["comment"],
        usage: "note INC-<n> <text>",
        summary: "Add a note to an incident.",
        may: who::INCIDENT_READERS,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("text", "The note", OptionKind::Text, true),
        ],
    },
    CommandSpec {
        name: "resolve",
        aliases: &[],
        usage: "resolve INC-<n> <resolution>",
        summary: "Resolve an incident, saying how.",
        may: who::INCIDENT_WORKERS,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("resolution", "How it was fixed", OptionKind::Text, true),
        ],
    },
    CommandSpec {
        name: "close",
        aliases: &[],
        usage: "close INC-<n>",
        summary: "Close a resolved incident.",
        may: who::INCIDENT_CLOSERS,
        options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
    },
    CommandSpec {
        name: "reopen",
        aliases: &[],
        usage: "reopen INC-<n> [reason]",
        summary: "Reopen a resolved incident.",
        may: who::INCIDENT_CLOSERS,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("reason", "Why it is not fixed", OptionKind::Text, false),
        ],
    },
    CommandSpec {
        name: "outage",
        aliases: &[],
        usage: "outage <service> <summary> [impact=partial|major] | update OUT-<n> <text> [impact=…] | resolve OUT-<n> [text] | show OUT-<n>",
        summary: "Declare, update or resolve an outage; subscribers and the status channel are told.",
        may: who::OUTAGE_ROLES,
        options: &[
            pos("target", "The service, or update / resolve / show", OptionKind::Text, true),
            pos("text", "The summary; after update/resolve/show: OUT-n (and the text)", OptionKind::Text, false),
            named("impact", "How badly the service is hit", OptionKind::Choice(&IMPACTS)),
        ],
    },
    CommandSpec {
        name: "services",
        aliases: &[],
        usage: "services",
        summary: "List the services with their owners and whether they are up.",
        may: who::ANYONE,
        options: &[],
    },
    CommandSpec {
        name: "subscribe",
        aliases: &["sub"],
        usage: "subscribe <service>",
        summary: "Be told by direct message about outages of a service.",
        may: who::ANYONE,
        options: &[pos("service", "The service, e.g. email", OptionKind::Text, true)],
    },
    CommandSpec {
        name: "unsubscribe",
        aliases: &["unsub"],
        usage: "unsubscribe <service>",
        summary: "Stop outage messages about a service.",
        may: who::ANYONE,
        options: &[pos("service", "The service, e.g. email", OptionKind::Text, true)],
    },
    CommandSpec {
        name: "subscriptions",
        aliases: &[],
        usage: "subscriptions",
        summary: "List the services you are subscribed to.",
        may: who::ANYONE,
        options: &[],
    },
    CommandSpec {
        name: "change",
        aliases: &["rfc"],
        usage: "change <title> service=<name> risk=low|medium|high type=standard|normal|emergency \
                [window=<start>..<end>] [implementer=@user]",
        summary: "File a change (RFC); replies with its CHG id. Also `change cancel CHG-<n> [reason]` and \
                  `change status CHG-<n> <state> [reason] [window=…]`.",
        may: who::ANYONE,
        options: &[
            pos("title", "What will change, in one line", OptionKind::Text, true),
            named("service", "The service it changes", OptionKind::Text),
            named("risk", "How risky it is", OptionKind::Choice(RISKS)),
            named(
                "type",
                "standard (catalogue), normal (CAB) or emergency (ECAB)",
                OptionKind::Choice(CHANGE_TYPES),
            ),
            named(
                "window",
                "When, in UTC: 2030-06-01T22:00..2030-06-02T01:00",
                OptionKind::Text,
            ),
            named("implementer", "Who carries it out", OptionKind::User),
        ],
    },
    CommandSpec {
        name: "changes",
        aliases: &[],
        usage: "changes [open|upcoming|mine|all|service=<name>]",
        summary: "List changes: open (default, newest first), upcoming (by window), yours, or one service's.",
        may: who::ANYONE,
        options: &[
            pos("filter", "Which changes", OptionKind::Choice(CHANGE_FILTERS), false),
            named("service", "Only this service", OptionKind::Text),
        ],
    },
    CommandSpec {
        name: "cab",
        aliases: &[],
        usage: "cab CHG-<n> [deadline=<duration>]",
        summary: "Call the CAB (or ECAB) vote on a change: members vote ✅ ❌ ➖ by reaction.",
        may: who::CHANGE_AUTHORITY,
        options: &[
            pos("id", "The change, e.g. CHG-3", OptionKind::Change, true),
            named("deadline", "How long the vote stays open, e.g. 24h", OptionKind::Text),
        ],
    },
    CommandSpec {
        name: "authorize",
        aliases: &["authorise"],
        usage: "authorize CHG-<n>",
        summary: "Authorize a change after its vote (not your own).",
        may: who::CHANGE_AUTHORITY,
        options: &[pos("id", "The change, e.g. CHG-3", OptionKind::Change, true)],
    },
    CommandSpec {
        name: "reject",
        aliases: &[],
        usage: "reject CHG-<n> <reason>",
        summary: "Reject a change after its vote, saying why.",
        may: who::CHANGE_AUTHORITY,
        options: &[
            pos("id", "The change, e.g. CHG-3", OptionKind::Change, true),
            pos("reason", "Why", OptionKind::Text, true),
        ],
    },
    CommandSpec {
        name: "ack",
        aliases: &["acknowledge"],
        usage: "ack INC-<n>",
        summary: "Acknowledge an incident: stops its response clock.",
        may: who::AGENTS,
        options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
    },
    CommandSpec {
        name: "escalate",
        aliases: &[],
        usage: "escalate INC-<n> [up] [reason]",
        summary: "Escalate to the next support tier, or `up` to the incident manager, then the service owner.",
        may: who::ESCALATORS_UP,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos(
                "reason",
                "Why; start with `up` for hierarchical escalation",
                OptionKind::Text,
                false,
            ),
        ],
    },
    CommandSpec {
        name: "major",
        aliases: &[],
        usage: "major INC-<n> [off] [reason]",
        summary: "Declare a major incident, or revert one with `off <reason>`.",
        may: who::AGENTS,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("reason", "Why; start with `off` to revert", OptionKind::Text, false),
        ],
    },
    CommandSpec {
        name: "priority",
        aliases: &["prio"],
        usage: "priority INC-<n> [impact=high|medium|low] [urgency=high|medium|low] [reason]",
        summary: "Re-prioritise an incident from a new impact or urgency; its SLA clocks follow.",
        may: who::AGENTS,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            named("impact", "How widely it hurts now", OptionKind::Choice(&LEVELS)),
            named("urgency", "How soon it must be fixed now", OptionKind::Choice(&LEVELS)),
            pos("reason", "Why the priority changes", OptionKind::Text, false),
        ],
    },
    CommandSpec {
        name: "help",
        aliases: &["commands"],
        usage: "help [command]",
        summary: "List the commands you may run, or explain one.",
        may: who::ANYONE,
        options: &[pos("command", "A command name", OptionKind::Text, false)],
    },
    CommandSpec {
        name: "raci",
        aliases: &[],
        usage: "raci [action]",
        summary: "Show who is Responsible, Accountable, Consulted and Informed.",
        may: who::ANYONE,
        options: &[pos("action", "An action, e.g. log_incident", OptionKind::Text, false)],
    },
    CommandSpec {
        name: "whois",
        aliases: &[],
        usage: "whois <itil-role>",
        summary: "Say which chat role and channel hold an ITIL role.",
        may: who::ANYONE,
        options: &[pos(
            "role",
            "An ITIL role, e.g. incident_manager",
            OptionKind::Text,
            true,
        )],
    },
    CommandSpec {
        name: "whoami",
        aliases: &[],
        usage: "whoami",
        summary: "Your roles here and what they let you do.",
        may: who::ANYONE,
        options: &[],
    },
];

/// A user named in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// `<@123>` or `<@!123>`.
    Id(u64),
    /// `@alice` or `alice` (console users).
    Name(String),
}

/// Which incidents `!incidents` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFilter {
    Open,
    Mine,
    All,
    Priority(Priority),
    Service(String),
}

/// Which changes `!changes` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeFilter {
    Open,
    Upcoming,
    Mine,
    All,
    Service(String),
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Incident {
        title: String,
        impact: Option<Impact>,
        urgency: Option<Urgency>,
        service: Option<String>,
        category: Option<String>,
    },
    Show {
        id: IncidentId,
    },
    ShowChange {
        id: ChangeId,
    },
    /// File a change; the window is checked by the desk against the clock.
    Change {
        title: String,
        service: String,
        risk: Risk,
        change_type: ChangeType,
        window: Option<String>,
        implementer: Option<UserRef>,
    },
    ChangeCancel {
        id: ChangeId,
        reason: Option<String>,
    },
    ChangeStatus {
        id: ChangeId,
        state: ChangeState,
        reason: Option<String>,
        window: Option<String>,
    },
    Changes {
        filter: ChangeFilter,
    },
    Cab {
        id: ChangeId,
        deadline: Option<TimeDelta>,
    },
    Authorize {
        id: ChangeId,
    },
    Reject {
        id: ChangeId,
        reason: String,
    },
    Incidents {
        filter: ListFilter,
        page: u32,
    },
    Take {
        id: IncidentId,
    },
    Assign {
        id: IncidentId,
        user: UserRef,
    },
    Status {
        id: IncidentId,
        state: State,
        reason: Option<String>,
    },
    Note {
        id: IncidentId,
        text: String,
    },
    Resolve {
        id: IncidentId,
        resolution: String,
    },
    Close {
        id: IncidentId,
    },
    Reopen {
        id: IncidentId,
        reason: Option<String>,
    },
    /// `!status` with no arguments: the current outages.
    Outages,
    OutageDeclare {
        service: String,
        summary: String,
        impact: Option<OutageImpact>,
    },
    OutageUpdate {
        id: OutageId,
        text: String,
        impact: Option<OutageImpact>,
    },
    OutageResolve {
        id: OutageId,
        text: Option<String>,
    },
    /// An outage's notices, linked incidents and delivery counts.
    OutageShow {
        id: OutageId,
    },
    Services,
    Subscribe {
        service: String,
    },
    Unsubscribe {
        service: String,
    },
    Subscriptions,
    /// `!ack INC-n`: stops the response clock.
    Ack {
        id: IncidentId,
    },
    /// `!escalate INC-n [up] [reason]`: functional, or hierarchical with `up`.
    Escalate {
        id: IncidentId,
        up: bool,
        reason: Option<String>,
    },
    /// `!major INC-n [off] [reason]`: declares (or with `off` reverts) a major incident.
    Major {
        id: IncidentId,
        off: bool,
        reason: Option<String>,
    },
    /// `!priority INC-n [impact=…] [urgency=…] [reason]`: at least one of the two is given.
    Priority {
        id: IncidentId,
        impact: Option<Impact>,
        urgency: Option<Urgency>,
        reason: Option<String>,
    },
    Help {
        command: Option<String>,
    },
    Raci {
        action: Option<String>,
    },
    Whois {
        role: String,
    },
    Whoami,
    /// Not a command we know; `suggestion` is the nearest name.
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
}

impl Command {
    /// Commands that only read: the desk answers them from the read pool,
    /// leaving the single writer to commands that change something.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Command::Show { .. }
                | Command::ShowChange { .. }
                | Command::Changes { .. }
                | Command::Incidents { .. }
                | Command::Help { .. }
                | Command::Raci { .. }
                | Command::Whois { .. }
                | Command::Whoami
                | Command::Unknown { .. }
        )
    }

    /// Who may run this form of the command: its row's declaration, narrowed
    /// where one row serves several forms.
    pub fn may(&self) -> &'static [Party] {
        match self {
            Command::Show { .. } => who::INCIDENT_READERS,
            Command::Status { .. } => who::INCIDENT_WORKERS,
            Command::Escalate { up: false, .. } => who::ESCALATORS,
            Command::OutageUpdate { .. } | Command::OutageResolve { .. } => who::OUTAGE_EDITORS,
            Command::OutageShow { .. } => who::ANYONE,
            Command::Change { .. } => who::CHANGE_REQUESTERS,
            Command::ChangeCancel { .. } => who::CHANGE_CANCELLERS,
            Command::ChangeStatus { state, .. } => match state {
                ChangeState::Implementing | ChangeState::Review => who::CHANGE_IMPLEMENTERS,
                ChangeState::Assessment | ChangeState::Scheduled | ChangeState::Closed => who::CHANGE_AUTHORITY,
                // Not a move `!change status` makes: the desk says which command does.
                _ => who::ANYONE,
            },
            other => other.spec().map_or(who::ANYONE, |s| s.may),
        }
    }

    /// The record this command acts on, whose parties decide who may run it.
    pub fn record(&self) -> Option<Subject> {
        match self {
            Command::Show { id }
            | Command::Take { id }
            | Command::Assign { id, .. }
            | Command::Status { id, .. }
            | Command::Note { id, .. }
            | Command::Resolve { id, .. }
            | Command::Close { id }
            | Command::Reopen { id, .. }
            | Command::Ack { id }
            | Command::Escalate { id, .. }
            | Command::Major { id, .. }
            | Command::Priority { id, .. } => Some(Subject::Incident(*id)),
            Command::ChangeCancel { id, .. }
            | Command::ChangeStatus { id, .. }
            | Command::Cab { id, .. }
            | Command::Authorize { id }
            | Command::Reject { id, .. } => Some(Subject::Change(*id)),
            Command::OutageUpdate { id, .. } | Command::OutageResolve { id, .. } => Some(Subject::Outage(*id)),
            _ => None,
        }
    }

    /// The row this command was built from.
    pub fn spec(&self) -> Option<&'static CommandSpec> {
        let name = match self {
            Command::Incident { .. } => "incident",
            Command::Show { .. } | Command::ShowChange { .. } => "show",
            Command::Incidents { .. } => "incidents",
            Command::Take { .. } => "take",
            Command::Assign { .. } => "assign",
            Command::Status { .. } | Command::Outages => "status",
            Command::Note { .. } => "note",
            Command::Resolve { .. } => "resolve",
            Command::Close { .. } => "close",
            Command::Reopen { .. } => "reopen",
            Command::OutageDeclare { .. }
            | Command::OutageUpdate { .. }
            | Command::OutageResolve { .. }
            | Command::OutageShow { .. } => "outage",
            Command::Services => "services",
            Command::Subscribe { .. } => "subscribe",
            Command::Unsubscribe { .. } => "unsubscribe",
            Command::Subscriptions => "subscriptions",
            Command::Change { .. } | Command::ChangeCancel { .. } | Command::ChangeStatus { .. } => "change",
            Command::Changes { .. } => "changes",
            Command::Cab { .. } => "cab",
            Command::Authorize { .. } => "authorize",
            Command::Reject { .. } => "reject",
            Command::Ack { .. } => "ack",
            Command::Escalate { .. } => "escalate",
            Command::Major { .. } => "major",
            Command::Priority { .. } => "priority",
            Command::Help { .. } => "help",
            Command::Raci { .. } => "raci",
            Command::Whois { .. } => "whois",
            Command::Whoami => "whoami",
            Command::Unknown { .. } => return None,
        };
        spec(name)
    }
}

/// A command we know, used wrongly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub command: &'static CommandSpec,
    pub problem: String,
}

/// Arguments before they are typed: positional text and `key=value` pairs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    pub positional: Vec<String>,
    pub named: BTreeMap<String, String>,
}

/// Finds a command by name or alias (any case).
pub fn spec(name: &str) -> Option<&'static CommandSpec> {
    let n = name.to_ascii_lowercase();
    COMMANDS.iter().find(|c| c.name == n || c.aliases.contains(&n.as_str()))
}

fn head_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?s)^\s*(\S+)(?:\s+(.*?))?\s*$").expect("valid regex"))
}

fn named_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([A-Za-z_]+)=(\S*)$").expect("valid regex"))
}

fn user_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(?:<@!?(\d{1,20})>|@?([A-Za-z0-9_.\-]{1,32}))$").expect("valid regex"))
}

/// Parses a chat line. `None` when the line does not start with `prefix`
/// (it is ordinary chat, not for the bot).
pub fn parse(prefix: &str, line: &str) -> Option<Result<Command, UsageError>> {
    let body = line.trim_start().strip_prefix(prefix)?;
    if body.is_empty() || body.starts_with(char::is_whitespace) {
        return None;
    }
    let caps = head_re().captures(body)?;
    let name = caps.get(1).map_or("", |m| m.as_str());
    let rest = caps.get(2).map_or("", |m| m.as_str());
    let Some(spec) = spec(name) else {
        let names = COMMANDS
            .iter()
            .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()));
        // Only what is echoed is compared: a wall of text is near no command, and
        // measuring its distance to every name would cost time for nothing.
        let name: String = name.chars().take(40).collect();
        let suggestion = nearest(&name, names).and_then(spec).map(|s| s.name);
        return Some(Ok(Command::Unknown { name, suggestion }));
    };
    Some(build(spec, split_args(spec, rest)))
}

/// Splits the text after a command name by the spec: known `key=value` words
/// become named options, the rest positional (the last text positional takes
/// everything left, spaces included).
pub fn split_args(spec: &CommandSpec, rest: &str) -> Args {
    let mut args = Args::default();
    let positional: Vec<&OptionSpec> = spec.options.iter().filter(|o| !o.named).collect();
    let mut words: Vec<&str> = Vec::new();
    for word in rest.split_whitespace() {
        if let Some(c) = named_re().captures(word) {
            let key = c[1].to_ascii_lowercase();
            if spec.options.iter().any(|o| o.named && o.name == key) {
                args.named.insert(key, c[2].to_owned());
                continue;
            }
        }
        words.push(word);
    }
    // Re-join positionally: every positional but the last takes one word; a
    // last text positional takes the rest with its original spacing collapsed.
    let mut it = words.into_iter();
    for (i, p) in positional.iter().enumerate() {
        let last = i + 1 == positional.len();
        if last && p.kind == OptionKind::Text {
            let rest: Vec<&str> = it.by_ref().collect();
            if !rest.is_empty() {
                args.positional.push(rest.join(" "));
            }
        } else if let Some(w) = it.next() {
            args.positional.push(w.to_owned());
        }
    }
    // Extra words are kept so the builder can say they were not expected.
    args.positional.extend(it.map(str::to_owned));
    args
}

/// Types the arguments of one command.
pub fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let positional: Vec<&OptionSpec> = spec.options.iter().filter(|o| !o.named).collect();
    if args.positional.len() > positional.len() {
        let extra = &args.positional[positional.len()..];
        return Err(err(format!("unexpected `{}`", shorten(&extra.join(" ")))));
    }
    if let Some(missing) = positional.iter().skip(args.positional.len()).find(|o| o.required) {
        return Err(err(format!("missing <{}>", missing.name)));
    }
    let at = |i: usize| args.positional.get(i).map(String::as_str);
    let id = |i: usize| -> Result<IncidentId, UsageError> {
        let raw = at(i).unwrap_or_default();
        IncidentId::parse(raw).ok_or_else(|| err(format!("`{}` is not an incident id like INC-12", shorten(raw))))
    };
    let text = |i: usize| at(i).map(str::to_owned);
    let level = |key: &str| -> Result<Option<String>, UsageError> {
        match args.named.get(key) {
            None => Ok(None),
            Some(v) if LEVELS.contains(&v.to_ascii_lowercase().as_str()) || Impact::parse(v).is_some() => {
                Ok(Some(v.clone()))
            }
            Some(v) => Err(err(format!("{key} must be high, medium or low, not `{}`", shorten(v)))),
        }
    };
    let cmd = match spec.name {
        "incident" => Command::Incident {
            title: text(0).unwrap_or_default(),
            impact: level("impact")?.and_then(|v| Impact::parse(&v)),
            urgency: level("urgency")?.and_then(|v| Urgency::parse(&v)),
            service: args.named.get("service").cloned().filter(|s| !s.is_empty()),
            category: args
                .named
                .get("category")
                .map(|s| s.to_lowercase())
                .filter(|s| !s.is_empty()),
        },
        "show" => {
            let raw = at(0).unwrap_or_default();
            match (IncidentId::parse(raw), ChangeId::parse(raw)) {
                (Some(id), _) => Command::Show { id },
                (None, Some(id)) => Command::ShowChange { id },
                (None, None) => {
                    return Err(err(format!(
                        "`{}` is not an incident or change id like INC-12 or CHG-3",
                        shorten(raw)
                    )))
                }
            }
        }
        "change" => change(spec, &args)?,
        "changes" => {
            let filter = match (at(0), args.named.get("service")) {
                (Some(_), Some(_)) => return Err(err("give a filter or service=, not both".into())),
                (None, Some(s)) if !s.is_empty() => ChangeFilter::Service(s.clone()),
                (None, _) => ChangeFilter::Open,
                (Some(f), None) => match f.to_ascii_lowercase().as_str() {
                    "open" => ChangeFilter::Open,
                    "upcoming" => ChangeFilter::Upcoming,
                    "mine" => ChangeFilter::Mine,
                    "all" => ChangeFilter::All,
                    _ => {
                        return Err(err(format!(
                            "`{}` is not a filter (open, upcoming, mine, all, service=<name>)",
                            shorten(f)
                        )))
                    }
                },
            };
            Command::Changes { filter }
        }
        "cab" => {
            let deadline = match args.named.get("deadline") {
                None => None,
                Some(d) => Some(parse_duration(d).map_err(|e| err(format!("deadline {e}")))?),
            };
            Command::Cab {
                id: change_id(at(0)).map_err(err)?,
                deadline,
            }
        }
        "authorize" => Command::Authorize {
            id: change_id(at(0)).map_err(err)?,
        },
        "reject" => Command::Reject {
            id: change_id(at(0)).map_err(err)?,
            reason: text(1).unwrap_or_default(),
        },
        "incidents" => {
            let filter = match (at(0), args.named.get("service")) {
                (Some(_), Some(_)) => return Err(err("give a filter or service=, not both".into())),
                (None, Some(s)) => ListFilter::Service(s.clone()),
                (None, None) => ListFilter::Open,
                (Some(f), None) => match f.to_ascii_lowercase().as_str() {
                    "open" => ListFilter::Open,
                    "mine" => ListFilter::Mine,
                    "all" => ListFilter::All,
                    other => ListFilter::Priority(Priority::parse(other).ok_or_else(|| {
                        err(format!(
                            "`{}` is not a filter (open, mine, all, P1..P5, service=<name>)",
                            shorten(f)
                        ))
                    })?),
                },
            };
            let page = match args.named.get("page") {
                None => 1,
                Some(p) => p
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| err(format!("page must be a number from 1, not `{}`", shorten(p))))?,
            };
            Command::Incidents { filter, page }
        }
        "take" => Command::Take { id: id(0)? },
        "assign" => {
            let raw = at(1).unwrap_or_default();
            let user = user_ref(raw).map_err(err)?;
            Command::Assign { id: id(0)?, user }
        }
        // With no arguments `!status` shows the outages; with some, it is the
        // incident form and needs both the incident and the state.
        "status" if args.positional.is_empty() => Command::Outages,
        "status" => {
            let Some(raw) = at(1) else {
                return Err(err("missing <state>".into()));
            };
            let state = State::parse(raw)
                .ok_or_else(|| err(format!("`{}` is not a state ({})", shorten(raw), STATES.join(", "))))?;
            Command::Status {
                id: id(0)?,
                state,
                reason: text(2),
            }
        }
        "note" => Command::Note {
            id: id(0)?,
            text: text(1).unwrap_or_default(),
        },
        "resolve" => Command::Resolve {
            id: id(0)?,
            resolution: text(1).unwrap_or_default(),
        },
        "close" => Command::Close { id: id(0)? },
        "reopen" => Command::Reopen {
            id: id(0)?,
            reason: text(1),
        },
        "outage" => outage(spec, &args)?,
        "services" => Command::Services,
        "subscribe" => Command::Subscribe {
            service: text(0).unwrap_or_default(),
        },
        "unsubscribe" => Command::Unsubscribe {
            service: text(0).unwrap_or_default(),
        },
        "subscriptions" => Command::Subscriptions,
        "ack" => Command::Ack { id: id(0)? },
        "escalate" => {
            let (up, reason) = keyword("up", text(1));
            Command::Escalate { id: id(0)?, up, reason }
        }
        "major" => {
            let (off, reason) = keyword("off", text(1));
            Command::Major {
                id: id(0)?,
                off,
                reason,
            }
        }
        "priority" => {
            let impact = level("impact")?.and_then(|v| Impact::parse(&v));
            let urgency = level("urgency")?.and_then(|v| Urgency::parse(&v));
            if impact.is_none() && urgency.is_none() {
                return Err(err("give impact= or urgency= (or both)".into()));
            }
            Command::Priority {
                id: id(0)?,
                impact,
                urgency,
                reason: text(1),
            }
        }
        "help" => Command::Help { command: text(0) },
        "raci" => Command::Raci { action: text(0) },
        "whois" => Command::Whois {
            role: text(0).unwrap_or_default(),
        },
        "whoami" => Command::Whoami,
        other => return Err(err(format!("`{other}` has no parser"))),
    };
    Ok(cmd)
}

/// Service keys that `!outage` reads as subcommands.
pub const RESERVED_SERVICE_KEYS: [&str; 3] = ["update", "resolve", "show"];

/// `!outage`: a declaration, or the `update` / `resolve` / `show` subcommands
/// (the first word decides; config refuses services with those keys).
fn outage(spec: &'static CommandSpec, args: &Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let impact = match args.named.get("impact") {
        None => None,
        Some(v) => Some(
            OutageImpact::parse(v)
                .ok_or_else(|| err(format!("impact must be partial or major, not `{}`", shorten(v))))?,
        ),
    };
    let first = args.positional.first().map(String::as_str).unwrap_or_default();
    let rest = args.positional.get(1).map(String::as_str).unwrap_or_default().trim();
    let sub = first.to_ascii_lowercase();
    if !RESERVED_SERVICE_KEYS.contains(&sub.as_str()) {
        if rest.is_empty() {
            return Err(err("missing <summary>".into()));
        }
        return Ok(Command::OutageDeclare {
            service: first.to_owned(),
            summary: rest.to_owned(),
            impact,
        });
    }
    let (raw_id, body) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if raw_id.is_empty() {
        return Err(err(format!("missing the outage: `{sub} OUT-<n>`")));
    }
    let id =
        OutageId::parse(raw_id).ok_or_else(|| err(format!("`{}` is not an outage id like OUT-3", shorten(raw_id))))?;
    let body = body.trim();
    if sub == "show" {
        if !body.is_empty() || impact.is_some() {
            return Err(err(format!("unexpected `{}`", shorten(body))));
        }
        return Ok(Command::OutageShow { id });
    }
    if sub == "update" {
        if body.is_empty() {
            return Err(err("missing the update <text>".into()));
        }
        Ok(Command::OutageUpdate {
            id,
            text: body.to_owned(),
            impact,
        })
    } else {
        if impact.is_some() {
            return Err(err("impact= is for declaring or updating, not resolving".into()));
        }
        Ok(Command::OutageResolve {
            id,
            text: (!body.is_empty()).then(|| body.to_owned()),
        })
    }
}

/// Reads a user mention (`<@123>`) or name (`@alice`).
fn user_ref(raw: &str) -> Result<UserRef, String> {
    let c = user_re()
        .captures(raw)
        .ok_or_else(|| format!("`{}` is not a user (mention them: @name)", shorten(raw)))?;
    match (c.get(1), c.get(2)) {
        (Some(n), _) => n
            .as_str()
            .parse()
            .map(UserRef::Id)
            .map_err(|_| format!("`{}` is not a user id", shorten(raw))),
        (None, Some(name)) => Ok(UserRef::Name(name.as_str().to_owned())),
        (None, None) => Err("missing <user>".into()),
    }
}

/// Reads a change id like `CHG-3`.
fn change_id(raw: Option<&str>) -> Result<ChangeId, String> {
    let raw = raw.unwrap_or_default();
    ChangeId::parse(raw).ok_or_else(|| format!("`{}` is not a change id like CHG-3", shorten(raw)))
}

/// Types `!change`: filing a change, or `cancel` / `status` of one.
///
/// `cancel` and `status` are read as sub-commands only when no filing option
/// (service=, risk=, type=) is given, so a change may still be titled
/// "status page redesign".
fn change(spec: &'static CommandSpec, args: &Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let named = |key: &str| args.named.get(key).filter(|v| !v.is_empty()).cloned();
    let title = args.positional.first().cloned().unwrap_or_default();
    let filing = ["service", "risk", "type"].iter().any(|k| named(k).is_some());
    let mut words = title.split_whitespace();
    let verb = words.next().unwrap_or_default().to_ascii_lowercase();
    if !filing && (verb == "cancel" || verb == "status") {
        let id = change_id(words.next()).map_err(err)?;
        if verb == "cancel" {
            let reason: Vec<&str> = words.collect();
            return Ok(Command::ChangeCancel {
                id,
                reason: (!reason.is_empty()).then(|| reason.join(" ")),
            });
        }
        let raw = words.next().unwrap_or_default();
        if raw.is_empty() {
            return Err(err(format!("missing <state> ({CHANGE_STATES})")));
        }
        let state = ChangeState::parse(raw).map_err(|e| err(e.to_string()))?;
        let reason: Vec<&str> = words.collect();
        return Ok(Command::ChangeStatus {
            id,
            state,
            reason: (!reason.is_empty()).then(|| reason.join(" ")),
            window: named("window"),
        });
    }
    let service = named("service").ok_or_else(|| err("missing service=<name>".into()))?;
    let risk = named("risk").ok_or_else(|| err("missing risk=low|medium|high".into()))?;
    let risk = Risk::parse(&risk).map_err(|e| err(e.to_string()))?;
    let kind = named("type").ok_or_else(|| err("missing type=standard|normal|emergency".into()))?;
    let change_type = ChangeType::parse(&kind).map_err(|e| err(e.to_string()))?;
    let implementer = match named("implementer") {
        None => None,
        Some(raw) => Some(user_ref(&raw).map_err(|e| err(format!("implementer: {e}")))?),
    };
    Ok(Command::Change {
        title,
        service,
        risk,
        change_type,
        window: named("window"),
        implementer,
    })
}

/// Splits a leading keyword (`up`, `off`, any case) from the rest of a text
/// argument: `("up", Some("up disk full"))` → `(true, Some("disk full"))`.
fn keyword(word: &str, text: Option<String>) -> (bool, Option<String>) {
    let Some(text) = text else {
        return (false, None);
    };
    let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text.as_str(), ""));
    if first.eq_ignore_ascii_case(word) {
        let rest = rest.trim();
        (true, (!rest.is_empty()).then(|| rest.to_owned()))
    } else {
        (false, Some(text))
    }
}

/// Cuts an echoed value so a reply never repeats a wall of text.
fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut out: String = s.chars().take(40).collect();
        out.push('…');
        out
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Command, String> {
        parse("!", line)
            .expect("a command line")
            .map_err(|e| format!("{}: {}", e.command.name, e.problem))
    }

    #[test]
    fn an_incident_takes_its_title_and_options_in_any_order() {
        let cmd = p("!incident Mail is down impact=high service=email urgency=LOW").unwrap();
        assert_eq!(
            cmd,
            Command::Incident {
                title: "Mail is down".into(),
                impact: Some(Impact::High),
                urgency: Some(Urgency::Low),
                service: Some("email".into()),
                category: None,
            }
        );
        assert!(
            matches!(p("!inc printer jam category=Security").unwrap(), Command::Incident { category: Some(c), .. } if c == "security")
        );
    }

    #[test]
    fn unknown_option_like_words_stay_in_the_title() {
        let cmd = p("!incident x=1 broke").unwrap();
        assert!(matches!(cmd, Command::Incident { title, .. } if title == "x=1 broke"));
    }

    #[test]
    fn lines_without_the_prefix_are_not_commands() {
        assert!(parse("!", "hello there").is_none());
        assert!(parse("!", "! spaced").is_none());
        assert!(parse("!", "!").is_none());
    }

    #[test]
    fn an_unknown_command_suggests_the_nearest() {
        assert_eq!(
            p("!incidnet x").unwrap(),
            Command::Unknown {
                name: "incidnet".into(),
                suggestion: Some("incident")
            }
        );
        assert_eq!(
            p("!frobnicate").unwrap(),
            Command::Unknown {
                name: "frobnicate".into(),
                suggestion: None
            }
        );
    }

    #[test]
    fn wrong_arguments_say_what_was_wrong() {
        let cases = [
            ("!incident", "incident: missing <title>"),
            (
                "!incident x impact=huge",
                "incident: impact must be high, medium or low, not `huge`",
            ),
            ("!show", "show: missing <id>"),
            (
                "!show XYZ-1",
                "show: `XYZ-1` is not an incident or change id like INC-12 or CHG-3",
            ),
            ("!show INC-1 extra", "show: unexpected `extra`"),
            (
                "!status INC-1 done",
                "status: `done` is not a state (new, assigned, in_progress, on_hold, resolved, closed)",
            ),
            ("!assign INC-1", "assign: missing <user>"),
            (
                "!assign INC-1 <@&55>",
                "assign: `<@&55>` is not a user (mention them: @name)",
            ),
            (
                "!incidents P9",
                "incidents: `P9` is not a filter (open, mine, all, P1..P5, service=<name>)",
            ),
            ("!incidents page=0", "incidents: page must be a number from 1, not `0`"),
            ("!note INC-2", "note: missing <text>"),
            ("!status INC-1", "status: missing <state>"),
            (
                "!status frob closed",
                "status: `frob` is not an incident id like INC-12",
            ),
            ("!outage", "outage: missing <target>"),
            ("!outage email", "outage: missing <summary>"),
            ("!outage email impact=major", "outage: missing <summary>"),
            (
                "!outage email down impact=total",
                "outage: impact must be partial or major, not `total`",
            ),
            ("!outage update", "outage: missing the outage: `update OUT-<n>`"),
            ("!outage update OUT-1", "outage: missing the update <text>"),
            (
                "!outage update INC-1 x",
                "outage: `INC-1` is not an outage id like OUT-3",
            ),
            (
                "!outage resolve OUT-1 impact=major",
                "outage: impact= is for declaring or updating, not resolving",
            ),
            ("!outage show OUT-1 now", "outage: unexpected `now`"),
            ("!outage show", "outage: missing the outage: `show OUT-<n>`"),
            ("!subscribe", "subscribe: missing <service>"),
            ("!services now", "services: unexpected `now`"),
        ];
        for (line, expected) in cases {
            assert_eq!(p(line).unwrap_err(), expected, "{line}");
        }
    }

    #[test]
    fn status_without_arguments_shows_outages_and_with_them_moves_an_incident() {
        assert_eq!(p("!status").unwrap(), Command::Outages);
        assert_eq!(
            p("!status INC-4 on_hold waiting for parts").unwrap(),
            Command::Status {
                id: IncidentId::parse("4").unwrap(),
                state: State::OnHold,
                reason: Some("waiting for parts".into())
            }
        );
    }

    #[test]
    fn outage_lines_parse_into_declare_update_and_resolve() {
        assert_eq!(
            p("!outage email Mail   is delayed impact=MAJOR").unwrap(),
            Command::OutageDeclare {
                service: "email".into(),
                summary: "Mail is delayed".into(),
                impact: Some(OutageImpact::Major),
            }
        );
        assert_eq!(
            p("!outage Update out-2 queue draining impact=partial").unwrap(),
            Command::OutageUpdate {
                id: OutageId::parse("2").unwrap(),
                text: "queue draining".into(),
                impact: Some(OutageImpact::Partial),
            }
        );
        assert_eq!(
            p("!outage resolve OUT-2").unwrap(),
            Command::OutageResolve {
                id: OutageId::parse("2").unwrap(),
                text: None
            }
        );
        assert_eq!(
            p("!outage resolve OUT-2 all mail delivered").unwrap(),
            Command::OutageResolve {
                id: OutageId::parse("2").unwrap(),
                text: Some("all mail delivered".into())
            }
        );
        assert_eq!(p("!sub VPN").unwrap(), Command::Subscribe { service: "VPN".into() });
        assert_eq!(p("!subscriptions").unwrap(), Command::Subscriptions);
        assert_eq!(p("!services").unwrap(), Command::Services);
    }

    #[test]
    fn a_change_is_filed_with_its_options_in_any_order() {
        let cmd = p("!change Upgrade the MTA type=normal service=email risk=HIGH window=2030-06-01T22:00..2030-06-02T01:00 implementer=@bob").unwrap();
        assert_eq!(
            cmd,
            Command::Change {
                title: "Upgrade the MTA".into(),
                service: "email".into(),
                risk: Risk::High,
                change_type: ChangeType::Normal,
                window: Some("2030-06-01T22:00..2030-06-02T01:00".into()),
                implementer: Some(UserRef::Name("bob".into())),
            }
        );
        // A title that starts like a sub-command is still a title when filing options are given.
        assert!(matches!(
            p("!rfc status page redesign service=email risk=low type=normal").unwrap(),
            Command::Change { title, .. } if title == "status page redesign"
        ));
    }

    #[test]
    fn change_sub_commands_and_change_ids_parse() {
        let id = ChangeId::parse("CHG-4").unwrap();
        assert_eq!(
            p("!change cancel chg-4 not needed any more").unwrap(),
            Command::ChangeCancel {
                id,
                reason: Some("not needed any more".into())
            }
        );
        assert_eq!(
            p("!change cancel CHG-4").unwrap(),
            Command::ChangeCancel { id, reason: None }
        );
        assert_eq!(
            p("!change status CHG-4 scheduled window=2030-06-01T22:00..2030-06-01T23:00").unwrap(),
            Command::ChangeStatus {
                id,
                state: ChangeState::Scheduled,
                reason: None,
                window: Some("2030-06-01T22:00..2030-06-01T23:00".into())
            }
        );
        assert_eq!(p("!show CHG-4").unwrap(), Command::ShowChange { id });
        assert_eq!(
            p("!cab CHG-4 deadline=90m").unwrap(),
            Command::Cab {
                id,
                deadline: Some(TimeDelta::minutes(90))
            }
        );
        assert_eq!(p("!cab CHG-4").unwrap(), Command::Cab { id, deadline: None });
        assert_eq!(p("!authorise CHG-4").unwrap(), Command::Authorize { id });
        assert_eq!(
            p("!reject CHG-4 too risky before the audit").unwrap(),
            Command::Reject {
                id,
                reason: "too risky before the audit".into()
            }
        );
        assert_eq!(
            p("!changes").unwrap(),
            Command::Changes {
                filter: ChangeFilter::Open
            }
        );
        assert_eq!(
            p("!changes upcoming").unwrap(),
            Command::Changes {
                filter: ChangeFilter::Upcoming
            }
        );
        assert_eq!(
            p("!changes service=vpn").unwrap(),
            Command::Changes {
                filter: ChangeFilter::Service("vpn".into())
            }
        );
    }

    #[test]
    fn wrong_change_arguments_say_what_was_wrong() {
        let cases = [
            ("!change Upgrade risk=low type=normal", "change: missing service=<name>"),
            (
                "!change Upgrade service=email type=normal",
                "change: missing risk=low|medium|high",
            ),
            (
                "!change Upgrade service=email risk=low",
                "change: missing type=standard|normal|emergency",
            ),
            (
                "!change Upgrade service=email risk=severe type=normal",
                "change: `severe` is not a risk; use one of: low, medium, high",
            ),
            (
                "!change Upgrade service=email risk=low type=urgent",
                "change: `urgent` is not a change type; use one of: standard, normal, emergency",
            ),
            (
                "!change Upgrade service=email risk=low type=normal implementer=<@&5>",
                "change: implementer: `<@&5>` is not a user (mention them: @name)",
            ),
            ("!change cancel INC-3", "change: `INC-3` is not a change id like CHG-3"),
            (
                "!change status CHG-3",
                "change: missing <state> (assessment, scheduled, implementing, review, closed)",
            ),
            (
                "!change status CHG-3 done",
                "change: `done` is not a change state; use one of",
            ),
            ("!cab", "cab: missing <id>"),
            ("!cab INC-2", "cab: `INC-2` is not a change id like CHG-3"),
            ("!cab CHG-2 deadline=soon", "cab: deadline \"soon\" is not a duration"),
            (
                "!cab CHG-2 deadline=-1h",
                "cab: deadline \"-1h\" is not a duration: it is negative",
            ),
            ("!reject CHG-2", "reject: missing <reason>"),
            (
                "!changes later",
                "changes: `later` is not a filter (open, upcoming, mine, all, service=<name>)",
            ),
        ];
        for (line, expected) in cases {
            let got = p(line).unwrap_err();
            assert!(got.starts_with(expected), "{line}: {got}");
        }
    }

    #[test]
    fn users_parse_from_mentions_and_names() {
        assert_eq!(
            p("!assign INC-3 <@!42>").unwrap(),
            Command::Assign {
                id: IncidentId::parse("3").unwrap(),
                user: UserRef::Id(42)
            }
        );
        assert_eq!(
            p("!assign inc-3 @bob").unwrap(),
            Command::Assign {
                id: IncidentId::parse("3").unwrap(),
                user: UserRef::Name("bob".into())
            }
        );
    }

    #[test]
    fn filters_and_pages_parse() {
        assert_eq!(
            p("!incidents").unwrap(),
            Command::Incidents {
                filter: ListFilter::Open,
                page: 1
            }
        );
        assert_eq!(
            p("!list p2 page=3").unwrap(),
            Command::Incidents {
                filter: ListFilter::Priority(Priority::parse("P2").unwrap()),
                page: 3
            }
        );
        assert_eq!(
            p("!incidents service=vpn").unwrap(),
            Command::Incidents {
                filter: ListFilter::Service("vpn".into()),
                page: 1
            }
        );
    }

    #[test]
    fn escalate_and_major_read_their_keyword_and_reason() {
        let id = IncidentId::parse("4").unwrap();
        let cases = [
            (
                "!escalate INC-4",
                Command::Escalate {
                    id,
                    up: false,
                    reason: None,
                },
            ),
            (
                "!escalate INC-4 needs a DBA",
                Command::Escalate {
                    id,
                    up: false,
                    reason: Some("needs a DBA".into()),
                },
            ),
            (
                "!escalate inc-4 UP  still down after 2h",
                Command::Escalate {
                    id,
                    up: true,
                    reason: Some("still down after 2h".into()),
                },
            ),
            (
                "!escalate INC-4 up",
                Command::Escalate {
                    id,
                    up: true,
                    reason: None,
                },
            ),
            (
                "!escalate INC-4 upstream router dead",
                Command::Escalate {
                    id,
                    up: false,
                    reason: Some("upstream router dead".into()),
                },
            ),
            (
                "!major INC-4 whole floor offline",
                Command::Major {
                    id,
                    off: false,
                    reason: Some("whole floor offline".into()),
                },
            ),
            (
                "!major INC-4 off contained to one team",
                Command::Major {
                    id,
                    off: true,
                    reason: Some("contained to one team".into()),
                },
            ),
            (
                "!major INC-4 off",
                Command::Major {
                    id,
                    off: true,
                    reason: None,
                },
            ),
            ("!ack INC-4", Command::Ack { id }),
            ("!acknowledge 4", Command::Ack { id }),
        ];
        for (line, expected) in cases {
            assert_eq!(p(line).unwrap(), expected, "{line}");
        }
        assert_eq!(p("!ack").unwrap_err(), "ack: missing <id>");
        assert_eq!(p("!ack INC-4 now").unwrap_err(), "ack: unexpected `now`");
        assert_eq!(
            p("!escalate up").unwrap_err(),
            "escalate: `up` is not an incident id like INC-12"
        );
        assert_eq!(p("!major").unwrap_err(), "major: missing <id>");
    }

    #[test]
    fn priority_needs_an_id_and_impact_or_urgency_and_keeps_a_reason() {
        let id = IncidentId::parse("7").unwrap();
        assert_eq!(
            p("!priority INC-7 impact=high whole floor now").unwrap(),
            Command::Priority {
                id,
                impact: Some(Impact::High),
                urgency: None,
                reason: Some("whole floor now".into()),
            }
        );
        assert_eq!(
            p("!prio 7 urgency=LOW impact=medium").unwrap(),
            Command::Priority {
                id,
                impact: Some(Impact::Medium),
                urgency: Some(Urgency::Low),
                reason: None,
            }
        );
        assert_eq!(
            p("!priority INC-7").unwrap_err(),
            "priority: give impact= or urgency= (or both)"
        );
        assert_eq!(
            p("!priority INC-7 impact=huge").unwrap_err(),
            "priority: impact must be high, medium or low, not `huge`"
        );
        assert_eq!(p("!priority impact=high").unwrap_err(), "priority: missing <id>");
        assert_eq!(
            p("!priority urgent impact=high").unwrap_err(),
            "priority: `urgent` is not an incident id like INC-12"
        );
    }

    #[test]
    fn every_table_row_has_a_parser_and_a_usage_starting_with_its_name() {
        for spec in COMMANDS {
            assert!(spec.usage.starts_with(spec.name), "{}", spec.name);
            let args = Args {
                positional: vec![
                    if spec.options.first().map(|o| o.kind) == Some(OptionKind::Change) {
                        "CHG-1".into()
                    } else {
                        "INC-1".into()
                    },
                    "x".into(),
                ],
                named: BTreeMap::new(),
            };
            if let Err(e) = build(spec, args) {
                assert!(!e.problem.contains("has no parser"), "{}", spec.name);
            }
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet: Vec<char> = "!incdetshowP1=@<>&# \n\u{200b}é🎫-_0123456789abcINC".chars().collect();
        for _ in 0..20_000 {
            let len = (seed % 40) as usize;
            let mut s = String::from("!");
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = parse("!", &s);
        }
    }
}
