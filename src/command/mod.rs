//! Chat text → a typed [`Command`].
//!
//! One table ([`COMMANDS`]) yields the parser, the `!help` text and the slash
//! command definitions, so they never drift. Pure: std and regex only.
//!
//! The rows and their parsers live in one module per record kind, each row with
//! its `build` arm and tests: `incident` (a row serving two kinds stays with its
//! main form: `!show` also shows changes, `!status` with no arguments lists
//! outages), `outage` (with the service subscriptions), `change` (with the CAB
//! vote) and `info` (`!help`, `!raci`, `!whois`, `!whoami`). This module keeps
//! what they share: the table's types and [`COMMANDS`] itself, the party
//! declarations ([`who`]), the one flat [`Command`] enum, the splitting of a
//! line into [`Args`], and [`build`], which checks the arguments against the row
//! and hands them to the row's kind. Items other modules use are re-exported
//! here, so callers write `command::foo` whichever module holds it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use chrono::TimeDelta;

use crate::domain::change::{ChangeId, ChangeState, ChangeType, Risk};
use crate::domain::incident::{HoldReason, IncidentId, State};
use crate::domain::outage::{OutageId, OutageImpact};
use crate::domain::party::Party;
use crate::domain::priority::{Impact, Urgency};
use crate::domain::search::SearchQuery;
use crate::domain::subject::Subject;
use crate::domain::text::nearest;

mod alert;
mod change;
mod incident;
mod info;
mod outage;
mod problem;
mod report;

pub use change::ChangeFilter;
pub use incident::{ListFilter, ListState, TierFilter};
pub use outage::RESERVED_SERVICE_KEYS;
pub use problem::{ProblemFilter, ProblemStep, PROBLEM_FILTERS};

/// Who may run a command: the parties its row declares (see `domain::party`),
/// which `!help` lists it by. A row that serves several forms (`!show INC-n` /
/// `!show CHG-n`, `!outage` / `!outage show`) declares its main form, and
/// [`Command::may`] gives each form its own declaration beside it.
pub mod who {
    use crate::domain::party::Party::{self, *};

    pub const ANYONE: &[Party] = &[Anyone];
    /// Logging an incident: anyone, and the integrations (alerting bots).
    pub const INCIDENT_LOGGERS: &[Party] = &[Anyone, Integrations];
    /// Correcting an incident (`!edit`) and cancelling it: its reporter
    /// (the desk allows the reporter to edit only while it is new) and those
    /// who work it.
    pub const INCIDENT_EDITORS: &[Party] = &[Reporter, Assignee, Group, Agents];
    /// A plain message in an incident's thread becomes a note when its
    /// author is one of these; anyone else's chat there is left alone.
    pub const THREAD_NOTERS: &[Party] = &[Reporter, Assignee, Group, Agents];
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
    /// Linking an incident to an outage: the outage roles and the agents.
    pub const OUTAGE_LINKERS: &[Party] = &[OutageRoles, Agents];
    /// Updating or resolving an outage: its declarer or the outage roles.
    pub const OUTAGE_EDITORS: &[Party] = &[Reporter, OutageRoles];
    pub const CHANGE_REQUESTERS: &[Party] = &[ChangeRequesters];
    /// The `!change` row, the widest of its forms: filing (the requesters),
    /// cancelling (the requester), working it (the implementer) and moving
    /// it (the change authority). Each form is checked by its own.
    pub const CHANGE_ANY_FORM: &[Party] = &[Reporter, Assignee, ChangeRequesters, ChangeAuthority];
    /// Cancelling a change: its requester or the change authority.
    pub const CHANGE_CANCELLERS: &[Party] = &[Reporter, ChangeAuthority];
    /// Starting work and asking for review: the implementer or the authority.
    pub const CHANGE_IMPLEMENTERS: &[Party] = &[Assignee, ChangeAuthority];
    pub const CHANGE_AUTHORITY: &[Party] = &[ChangeAuthority];
    /// A note on a change: its requester, implementer, service owner and the authority.
    pub const CHANGE_NOTERS: &[Party] = &[Reporter, Assignee, ServiceOwner, ChangeAuthority];
    /// A note on an outage: its declarer, the outage roles, its service owner and the agents.
    pub const OUTAGE_NOTERS: &[Party] = &[Reporter, OutageRoles, ServiceOwner, Agents];
    /// Service reports: agents (the incident manager among them), the
    /// report readers (the service level manager) and, for a report of
    /// their service, its owner.
    pub const REPORT_READERS: &[Party] = &[Agents, ReportReaders, ServiceOwner];
    /// Logging and working problems: the problem roles and the agents.
    pub const PROBLEM_WORKERS: &[Party] = &[ProblemRoles, Agents];
}

/// What kind of value an option takes (slash commands show it as a typed field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// Free text.
    Text,
    /// Free text as a named option: `title=Mail is down` takes the words up
    /// to the next option.
    Phrase,
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

/// The kind of record a command is about: `!help` groups by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Incidents,
    Outages,
    Changes,
    /// Problems and the known-error database.
    Problems,
    /// Service reports.
    Reports,
    /// The desk itself: help, the RACI matrix, roles.
    Info,
}

impl Kind {
    /// In the order `!help` lists them.
    pub const ALL: [Kind; 6] = [
        Kind::Incidents,
        Kind::Outages,
        Kind::Changes,
        Kind::Problems,
        Kind::Reports,
        Kind::Info,
    ];
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
    pub kind: Kind,
    /// One working line, without the prefix (`!help <command>` shows it).
    pub example: &'static str,
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

/// Every command, in the order `!help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    incident::INCIDENT,
    incident::SHOW,
    incident::HISTORY,
    incident::INCIDENTS,
    incident::SEARCH,
    incident::TAKE,
    incident::ASSIGN,
    incident::STATUS,
    incident::NOTE,
    incident::RESOLVE,
    incident::CLOSE,
    incident::REOPEN,
    incident::CANCEL,
    incident::EDIT,
    incident::LINK,
    incident::DUPLICATE,
    incident::PARENT,
    outage::OUTAGE,
    outage::SERVICES,
    outage::SUBSCRIBE,
    outage::UNSUBSCRIBE,
    outage::SUBSCRIPTIONS,
    alert::ALERTS,
    change::CHANGE,
    change::CHANGES,
    change::CAB,
    change::AUTHORIZE,
    change::REJECT,
    problem::PROBLEM,
    problem::PROBLEMS,
    problem::KEDB,
    incident::ACK,
    incident::ESCALATE,
    incident::MAJOR,
    incident::PRIORITY,
    info::HELP,
    info::RACI,
    info::WHOIS,
    info::WHOAMI,
    report::REPORT,
];

/// A user named in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// `<@123>` or `<@!123>`.
    Id(u64),
    /// `@alice` or `alice` (console users).
    Name(String),
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
        /// What happens, in the reporter's words (the report form): the
        /// incident's first note. Chat commands have none.
        description: Option<String>,
    },
    Show {
        id: IncidentId,
    },
    ShowChange {
        id: ChangeId,
    },
    /// `!show PRB-n`: a problem with its linked incidents.
    ShowProblem {
        id: crate::domain::problem::ProblemId,
    },
    /// `!problem <title> [service=] [from=INC-n,…]`.
    ProblemLog {
        title: String,
        service: Option<String>,
        from: Vec<IncidentId>,
    },
    /// `!problem link PRB-n INC-m…`.
    ProblemLink {
        id: crate::domain::problem::ProblemId,
        incidents: Vec<IncidentId>,
    },
    /// `!problem assess|rootcause|workaround|resolve|close|cancel PRB-n [text]`.
    ProblemStep {
        id: crate::domain::problem::ProblemId,
        step: ProblemStep,
        text: Option<String>,
    },
    /// `!problems [open|known|mine|all] [service=]`.
    Problems {
        filter: ProblemFilter,
        service: Option<String>,
    },
    /// `!kedb [service=] [words]`: the known-error database.
    Kedb {
        service: Option<String>,
        query: Option<SearchQuery>,
    },
    /// `!history INC-n|CHG-n|OUT-n [page=<n>]`: a page of a record's trail.
    History {
        record: Subject,
        page: u32,
    },
    /// File a change; the window is checked by the desk against the clock.
    Change {
        title: String,
        service: String,
        risk: Risk,
        change_type: ChangeType,
        window: Option<String>,
        implementer: Option<UserRef>,
        /// `problem=PRB-n`: the problem it is raised to fix.
        problem: Option<crate::domain::problem::ProblemId>,
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
    /// `!change implementer CHG-n @user`: who carries the change out.
    ChangeImplementer {
        id: ChangeId,
        user: UserRef,
    },
    /// `!change review CHG-n <text>`: the post-implementation review note.
    ChangeReview {
        id: ChangeId,
        text: String,
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
    /// `!search <words> [page=n]`: incidents whose title, notes or resolution hold the words.
    Search {
        query: SearchQuery,
        page: u32,
    },
    Take {
        id: IncidentId,
    },
    Assign {
        id: IncidentId,
        user: UserRef,
    },
    /// A lifecycle move; `hold` says what an incident put on hold waits for.
    Status {
        id: IncidentId,
        state: State,
        hold: Option<HoldReason>,
        reason: Option<String>,
    },
    /// `!cancel INC-n <reason>`: ends an open incident without an SLA result.
    Cancel {
        id: IncidentId,
        reason: String,
    },
    /// `!edit INC-n [title=…] [service=…] [category=…]`: at least one is given.
    Edit {
        id: IncidentId,
        title: Option<String>,
        service: Option<String>,
        category: Option<String>,
    },
    /// `!link INC-a INC-b`: related incidents.
    Link {
        id: IncidentId,
        other: IncidentId,
    },
    /// `!duplicate INC-b of INC-a`: `id` ends as a duplicate of `of`.
    Duplicate {
        id: IncidentId,
        of: IncidentId,
    },
    /// `!parent INC-a INC-b…`: the children follow `id`.
    Parent {
        id: IncidentId,
        children: Vec<IncidentId>,
    },
    Note {
        id: IncidentId,
        text: String,
    },
    /// `!note CHG-n <text>`: a note on a change.
    ChangeNote {
        id: ChangeId,
        text: String,
    },
    /// `!note OUT-n <text>`: a note on an outage.
    OutageNote {
        id: OutageId,
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
    /// `!outage link OUT-n INC-m`.
    OutageLink {
        id: OutageId,
        incident: IncidentId,
    },
    Services,
    /// `!alerts`: open incidents raised by monitoring alerts.
    Alerts,
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
    /// `!report [period] [service=…] [priority=…]`: service figures and a chart.
    Report {
        period: crate::domain::report::PeriodSpec,
        service: Option<String>,
        priority: Option<crate::domain::priority::Priority>,
    },
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
                | Command::ShowProblem { .. }
                | Command::Problems { .. }
                | Command::Kedb { .. }
                | Command::History { .. }
                | Command::Changes { .. }
                | Command::Incidents { .. }
                | Command::Search { .. }
                | Command::Help { .. }
                | Command::Raci { .. }
                | Command::Whois { .. }
                | Command::Whoami
                | Command::Alerts
                | Command::Unknown { .. }
        )
    }

    /// Who may run this form of the command: its row's declaration, narrowed
    /// where one row serves several forms.
    pub fn may(&self) -> &'static [Party] {
        match self {
            Command::Show { .. } => who::INCIDENT_READERS,
            // A change's or an outage's trail is as open as `!show CHG-n` and `!outage show`.
            Command::History {
                record: Subject::Incident(_),
                ..
            } => who::INCIDENT_READERS,
            Command::History { .. } => who::ANYONE,
            Command::Status { .. } => who::INCIDENT_WORKERS,
            Command::Escalate { up: false, .. } => who::ESCALATORS,
            Command::OutageUpdate { .. } | Command::OutageResolve { .. } => who::OUTAGE_EDITORS,
            Command::OutageShow { .. } => who::ANYONE,
            Command::ShowProblem { .. } => who::ANYONE,
            Command::OutageLink { .. } => who::OUTAGE_LINKERS,
            Command::Change { .. } => who::CHANGE_REQUESTERS,
            Command::ChangeCancel { .. } | Command::ChangeImplementer { .. } => who::CHANGE_CANCELLERS,
            Command::ChangeReview { .. } => who::CHANGE_IMPLEMENTERS,
            Command::ChangeNote { .. } => who::CHANGE_NOTERS,
            Command::OutageNote { .. } => who::OUTAGE_NOTERS,
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
            | Command::Priority { id, .. }
            | Command::Cancel { id, .. }
            | Command::Edit { id, .. }
            | Command::Link { id, .. }
            | Command::Duplicate { id, .. }
            | Command::Parent { id, .. } => Some(Subject::Incident(*id)),
            Command::ChangeCancel { id, .. }
            | Command::ChangeStatus { id, .. }
            | Command::ChangeImplementer { id, .. }
            | Command::ChangeReview { id, .. }
            | Command::ChangeNote { id, .. }
            | Command::Cab { id, .. }
            | Command::Authorize { id }
            | Command::Reject { id, .. } => Some(Subject::Change(*id)),
            Command::OutageUpdate { id, .. } | Command::OutageResolve { id, .. } | Command::OutageNote { id, .. } => {
                Some(Subject::Outage(*id))
            }
            // A service's owner may read its report.
            Command::Report {
                service: Some(service), ..
            } => Some(Subject::Service(service.clone())),
            Command::History {
                record: record @ Subject::Incident(_),
                ..
            } => Some(record.clone()),
            _ => None,
        }
    }

    /// The row this command was built from.
    pub fn spec(&self) -> Option<&'static CommandSpec> {
        let name = match self {
            Command::Incident { .. } => "incident",
            Command::Show { .. } | Command::ShowChange { .. } | Command::ShowProblem { .. } => "show",
            Command::ProblemLog { .. } | Command::ProblemLink { .. } | Command::ProblemStep { .. } => "problem",
            Command::Problems { .. } => "problems",
            Command::Kedb { .. } => "kedb",
            Command::History { .. } => "history",
            Command::Incidents { .. } => "incidents",
            Command::Search { .. } => "search",
            Command::Take { .. } => "take",
            Command::Assign { .. } => "assign",
            Command::Status { .. } | Command::Outages => "status",
            Command::Note { .. } | Command::ChangeNote { .. } | Command::OutageNote { .. } => "note",
            Command::Resolve { .. } => "resolve",
            Command::Close { .. } => "close",
            Command::Reopen { .. } => "reopen",
            Command::Cancel { .. } => "cancel",
            Command::Edit { .. } => "edit",
            Command::Link { .. } => "link",
            Command::Duplicate { .. } => "duplicate",
            Command::Parent { .. } => "parent",
            Command::OutageDeclare { .. }
            | Command::OutageUpdate { .. }
            | Command::OutageResolve { .. }
            | Command::OutageShow { .. }
            | Command::OutageLink { .. } => "outage",
            Command::Services => "services",
            Command::Alerts => "alerts",
            Command::Subscribe { .. } => "subscribe",
            Command::Unsubscribe { .. } => "unsubscribe",
            Command::Subscriptions => "subscriptions",
            Command::Change { .. }
            | Command::ChangeCancel { .. }
            | Command::ChangeStatus { .. }
            | Command::ChangeImplementer { .. }
            | Command::ChangeReview { .. } => "change",
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
            Command::Report { .. } => "report",
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
    /// The first `key=value` word whose key the command does not take (only
    /// commands with named options refuse these; others keep them as text).
    pub unknown: Option<String>,
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
/// (also written `key = value`, `key= value` or `key =value`) become named
/// options, the rest positional (the last text positional takes everything
/// left, spaces included). A word in `backticks` is always text.
pub fn split_args(spec: &CommandSpec, rest: &str) -> Args {
    let mut args = Args::default();
    let positional: Vec<&OptionSpec> = spec.options.iter().filter(|o| !o.named).collect();
    let takes_named = spec.options.iter().any(|o| o.named);
    let named_opt = |key: &str| {
        spec.options
            .iter()
            .find(|o| o.named && o.name.eq_ignore_ascii_case(key))
    };
    let raw: Vec<&str> = rest.split_whitespace().collect();
    let mut words: Vec<&str> = Vec::new();
    // The phrase option being filled (`title=Mail is down`), if any.
    let mut phrase: Option<&'static str> = None;
    let mut i = 0;
    while i < raw.len() {
        let word = raw[i];
        // `key = value`, `key= value`, `key =value`: joined when key is an option.
        let spaced = match (raw.get(i + 1), raw.get(i + 2)) {
            (Some(&"="), Some(v)) if named_opt(word).is_some() => Some((word, *v, 3)),
            (Some(v), _) if word.ends_with('=') && named_opt(&word[..word.len() - 1]).is_some() => {
                Some((&word[..word.len() - 1], *v, 2))
            }
            (Some(v), _) if v.len() > 1 && v.starts_with('=') && named_opt(word).is_some() => Some((word, &v[1..], 2)),
            _ => None,
        };
        let pair = match spaced {
            Some((k, v, n)) => {
                i += n;
                Some((k.to_owned(), v.to_owned()))
            }
            None => {
                i += 1;
                if word.contains('`') {
                    None
                } else {
                    named_re().captures(word).map(|c| (c[1].to_owned(), c[2].to_owned()))
                }
            }
        };
        match pair {
            Some((key, value)) => match named_opt(&key) {
                Some(opt) => {
                    phrase = (opt.kind == OptionKind::Phrase).then_some(opt.name);
                    args.named.insert(opt.name.to_owned(), value);
                }
                None if takes_named => {
                    args.unknown.get_or_insert(key.to_ascii_lowercase());
                    phrase = None;
                }
                None => {
                    phrase = None;
                    words.push(word);
                }
            },
            None => match phrase {
                Some(name) => {
                    let value = args.named.entry(name.to_owned()).or_default();
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(word);
                }
                None => words.push(word),
            },
        }
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

/// The refusal of an option the command does not take: the nearest one it
/// does, or what to use instead (`priority=` comes from impact and urgency).
fn unknown_option(spec: &CommandSpec, key: &str) -> String {
    let options: Vec<&str> = spec.options.iter().filter(|o| o.named).map(|o| o.name).collect();
    let key: String = key.chars().take(20).collect();
    match key.as_str() {
        "priority" | "prio" if options.contains(&"impact") => {
            "`priority=` is not an option: priority comes from impact × urgency, so use impact= and urgency=".into()
        }
        _ => match nearest(&key, options.iter().copied()) {
            Some(near) => {
                format!("`{key}=` is not an option: did you mean `{near}=`? (text with = goes in `backticks`)")
            }
            None => format!(
                "`{key}=` is not an option of {} (see `help {}`; text with = goes in `backticks`)",
                spec.name, spec.name
            ),
        },
    }
}

/// Types the arguments of one command.
pub fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let positional: Vec<&OptionSpec> = spec.options.iter().filter(|o| !o.named).collect();
    if args.positional.len() > positional.len() {
        let extra = &args.positional[positional.len()..];
        return Err(err(format!("unexpected `{}`", shorten(&extra.join(" ")))));
    }
    if let Some(key) = &args.unknown {
        return Err(err(unknown_option(spec, key)));
    }
    if let Some(missing) = positional.iter().skip(args.positional.len()).find(|o| o.required) {
        return Err(err(format!("missing <{}>", missing.name)));
    }
    match spec.name {
        "incident" | "show" | "history" | "incidents" | "search" | "take" | "assign" | "status" | "note"
        | "resolve" | "close" | "reopen" | "cancel" | "edit" | "link" | "duplicate" | "parent" | "ack" | "escalate"
        | "major" | "priority" => incident::build(spec, args),
        "outage" | "services" | "subscribe" | "unsubscribe" | "subscriptions" => outage::build(spec, args),
        "change" | "changes" | "cab" | "authorize" | "reject" => change::build(spec, args),
        "problem" | "problems" | "kedb" => problem::build(spec, args),
        "help" | "raci" | "whois" | "whoami" => info::build(spec, args),
        "report" => report::build(spec, args),
        "alerts" => alert::build(spec, args),
        other => Err(err(format!("`{other}` has no parser"))),
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

    /// Parses a line with prefix `!`, a usage error as `name: problem`.
    pub(super) fn p(line: &str) -> Result<Command, String> {
        parse("!", line)
            .expect("a command line")
            .map_err(|e| format!("{}: {}", e.command.name, e.problem))
    }

    #[test]
    fn unknown_options_are_refused_naming_the_nearest_and_backticks_keep_text() {
        assert_eq!(
            p("!incident Mail broken priority=P1").unwrap_err(),
            "incident: `priority=` is not an option: priority comes from impact × urgency, so use impact= and urgency="
        );
        assert_eq!(
            p("!change x id=7").unwrap_err(),
            "change: `id=` is not an option of change (see `help change`; text with = goes in `backticks`)"
        );
        assert!(p("!incident Mail broken servce=email")
            .unwrap_err()
            .contains("did you mean `service=`?"));
        let cmd = p("!incident pool `max_conn=100` exhausted").unwrap();
        assert!(matches!(cmd, Command::Incident { title, .. } if title == "pool `max_conn=100` exhausted"));
        // A command without options keeps such words as text.
        assert!(
            matches!(p("!note INC-1 set retries=3").unwrap(), Command::Note { text, .. } if text == "set retries=3")
        );
    }

    #[test]
    fn options_written_with_spaces_around_the_equals_sign_are_understood() {
        for line in [
            "!incident Mail broken service = email",
            "!incident Mail broken service= email",
            "!incident Mail broken service =email",
        ] {
            assert_eq!(
                p(line).unwrap(),
                Command::Incident {
                    title: "Mail broken".into(),
                    impact: None,
                    urgency: None,
                    service: Some("email".into()),
                    category: None,
                    description: None,
                },
                "{line}"
            );
        }
        // A lone `=` next to a word that is no option stays in the text.
        assert!(
            matches!(p("!incident 1 = 2 broken").unwrap(), Command::Incident { title, .. } if title == "1 = 2 broken")
        );
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
    fn every_rows_example_parses_as_that_command() {
        for spec in COMMANDS {
            assert!(spec.example.starts_with(spec.name), "{}: {}", spec.name, spec.example);
            let parsed = parse("!", &format!("!{}", spec.example)).expect("a command line");
            let cmd = parsed.unwrap_or_else(|e| panic!("{}: {}", spec.example, e.problem));
            assert_eq!(cmd.spec().map(|s| s.name), Some(spec.name), "{}", spec.example);
        }
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
                unknown: None,
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
