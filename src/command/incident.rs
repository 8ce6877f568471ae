//! The incident rows of the command table and their parsers: reporting
//! (`!incident`), seeing (`!show`, `!incidents` and its combinable filters,
//! `!search`), working (`!take`, `!assign`,
//! `!status`, `!note`, `!resolve`, `!close`, `!reopen`, `!ack`) and raising
//! (`!escalate`, `!major`, `!priority`) an incident.
//!
//! Two rows serve another kind as well and stay here with their main form:
//! `!show CHG-n` shows a change, and `!status` with no arguments lists the
//! current outages.

use crate::domain::change::ChangeId;
use crate::domain::incident::{HoldReason, IncidentId, State};
use crate::domain::priority::{Impact, Priority, Urgency, LEVELS};
use crate::domain::problem::ProblemId;
use crate::domain::search::SearchQuery;
use crate::domain::subject::Subject;

use super::{named, pos, shorten, user_ref, who, Args, Command, CommandSpec, Kind, OptionKind, UsageError};

const STATES: &[&str] = &["new", "assigned", "in_progress", "on_hold", "resolved", "closed"];
const HOLD_REASONS: &str = "awaiting_caller, awaiting_change, awaiting_problem or awaiting_vendor";
/// The words `!incidents` understands; `service=` and `tier=` come beside them.
const FILTER_WORDS: &[&str] = &[
    "open",
    "resolved",
    "closed",
    "cancelled",
    "unassigned",
    "breaching",
    "mine",
    "all",
    "p1",
    "p2",
    "p3",
    "p4",
    "p5",
];

/// Which lifecycle states `!incidents` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListState {
    /// Not yet resolved (the default).
    #[default]
    Open,
    Resolved,
    Closed,
    /// Ended without an SLA result (`!cancel`, duplicates).
    Cancelled,
    /// Every state (`all`).
    Any,
}

impl ListState {
    fn word(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
            Self::Any => "all",
        }
    }
}

/// The support tier `tier=` names: a number from 1 (first line) or a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierFilter {
    /// 1 is the first line.
    Level(u32),
    /// A role key or name, checked by the desk against the configuration.
    Role(String),
}

/// Which incidents `!incidents` lists: every word narrows the list, so
/// `unassigned breaching P1` is the unassigned P1s in breach.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListFilter {
    pub state: ListState,
    /// `all` was asked for: every state, and everyone's (for agents).
    pub all: bool,
    /// Nobody is assigned.
    pub unassigned: bool,
    /// A live SLA clock has passed its target.
    pub breaching: bool,
    /// Only what the caller reported or is assigned.
    pub mine: bool,
    pub priority: Option<Priority>,
    /// A service name or key, checked by the desk.
    pub service: Option<String>,
    pub tier: Option<TierFilter>,
}

impl ListFilter {
    /// Reads the filter words of `!incidents` (any order, any case) and its
    /// `service=`/`tier=` options, refusing unknown words (naming the nearest)
    /// and words that cannot hold together (`open resolved`).
    fn parse(words: &str, service: Option<&String>, tier: Option<&String>) -> Result<Self, String> {
        let mut f = ListFilter::default();
        // The state word given so far: a second, different one contradicts it.
        let mut state: Option<ListState> = None;
        let mut set_state = |f: &mut ListFilter, to: ListState| match state {
            Some(before) if before != to => Err(format!(
                "`{}` and `{}` cannot both hold: give one of open, resolved, closed, cancelled or all",
                before.word(),
                to.word()
            )),
            _ => {
                state = Some(to);
                f.state = to;
                Ok(())
            }
        };
        for raw in words.split_whitespace() {
            let word = raw.to_ascii_lowercase();
            match word.as_str() {
                "open" => set_state(&mut f, ListState::Open)?,
                "resolved" => set_state(&mut f, ListState::Resolved)?,
                "closed" => set_state(&mut f, ListState::Closed)?,
                "cancelled" | "canceled" => set_state(&mut f, ListState::Cancelled)?,
                "all" => {
                    set_state(&mut f, ListState::Any)?;
                    f.all = true;
                }
                "unassigned" => f.unassigned = true,
                "breaching" => f.breaching = true,
                "mine" => f.mine = true,
                other => match Priority::parse(other) {
                    Some(p) => match f.priority {
                        Some(before) if before != p => {
                            return Err(format!("give one priority, not both {before} and {p}"));
                        }
                        _ => f.priority = Some(p),
                    },
                    None => {
                        let hint = crate::domain::text::nearest(other, FILTER_WORDS.iter().copied())
                            .map(|w| {
                                format!(
                                    " (nearest: `{}`)",
                                    if w.starts_with('p') {
                                        w.to_uppercase()
                                    } else {
                                        w.to_owned()
                                    }
                                )
                            })
                            .unwrap_or_default();
                        // The usage line that follows lists every filter.
                        return Err(format!("`{}` is not a filter{hint}", shorten(raw)));
                    }
                },
            }
        }
        // `mine` alone is everything of one's own, resolved and closed too.
        if state.is_none() && f.mine {
            f.state = ListState::Any;
        }
        if f.breaching && matches!(f.state, ListState::Resolved | ListState::Closed | ListState::Cancelled) {
            return Err(format!(
                "`breaching` means an SLA clock is still running past its target, so it cannot be {}",
                f.state.word()
            ));
        }
        f.service = service.cloned().filter(|s| !s.is_empty());
        f.tier = match tier.map(|t| t.trim()).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) if t.chars().all(|c| c.is_ascii_digit()) => match t.parse::<u32>() {
                Ok(n) if (1..=99).contains(&n) => Some(TierFilter::Level(n)),
                _ => {
                    return Err(format!(
                        "tier must be a number from 1 or a support role, not `{}`",
                        shorten(t)
                    ))
                }
            },
            Some(t) => Some(TierFilter::Role(t.to_owned())),
        };
        Ok(f)
    }
}

pub(super) const INCIDENT: CommandSpec = CommandSpec {
    name: "incident",
    aliases: &["inc"],
    usage: "incident <title> [impact=high|medium|low] [urgency=high|medium|low] [service=<name>] [category=<name>]",
    summary: "Report an incident; replies with its INC id, priority and who handles it.",
    may: who::INCIDENT_LOGGERS,
    kind: Kind::Incidents,
    example: "incident Mail is down impact=high urgency=high service=email",
    options: &[
        pos("title", "What is wrong, in one line", OptionKind::Text, true),
        named("impact", "How widely it hurts", OptionKind::Choice(&LEVELS)),
        named("urgency", "How soon it must be fixed", OptionKind::Choice(&LEVELS)),
        named("service", "The affected service", OptionKind::Text),
        named("category", "A category, e.g. security", OptionKind::Text),
    ],
};

/// Also shows a change (`!show CHG-n`): the row stays with its main form, the incident.
pub(super) const SHOW: CommandSpec = CommandSpec {
    name: "show",
    aliases: &[],
    usage: "show INC-<n>|CHG-<n>|PRB-<n>",
    summary: "Show an incident (to those who may see it) or a change, with its history.",
    may: who::ANYONE,
    kind: Kind::Incidents,
    example: "show INC-12",
    options: &[pos(
        "id",
        "The incident or change, e.g. INC-12 or CHG-3",
        OptionKind::Incident,
        true,
    )],
};

/// Also pages a change's or an outage's trail (`!history CHG-n`, `OUT-n`).
pub(super) const HISTORY: CommandSpec = CommandSpec {
    name: "history",
    aliases: &["trail"],
    usage: "history INC-<n>|CHG-<n>|OUT-<n>|PRB-<n> [page=<n>]",
    summary: "Page a record's history. Its whole trail, oldest first, for INC-, CHG- and OUT- ids.",
    may: who::INCIDENT_READERS,
    kind: Kind::Incidents,
    example: "history INC-12 page=2",
    options: &[
        pos(
            "id",
            "The incident, change or outage, e.g. INC-12, CHG-3 or OUT-2",
            OptionKind::Text,
            true,
        ),
        named("page", "Page number", OptionKind::Text),
    ],
};

pub(super) const INCIDENTS: CommandSpec = CommandSpec {
    name: "incidents",
    aliases: &["list"],
    usage: "incidents [open|resolved|closed|cancelled|all] [unassigned] [breaching] [mine] [P1..P5] [service=<name>] [tier=<n|role>] [page=<n>]",
    summary: "List incidents, newest first. Each line shows the assignee, age and next SLA deadline; filter words combine (`unassigned breaching P1`); non-agents see their own.",
    may: who::ANYONE,
    kind: Kind::Incidents,
    example: "incidents unassigned breaching P1",
    options: &[
        pos(
            "filter",
            "Words that narrow the list, e.g. `unassigned breaching P1` or `mine open`",
            OptionKind::Text,
            false,
        ),
        named("service", "Only this service", OptionKind::Text),
        named("tier", "Only this support tier: a number from 1, or its role", OptionKind::Text),
        named("page", "Page number", OptionKind::Text),
    ],
};

pub(super) const SEARCH: CommandSpec = CommandSpec {
    name: "search",
    aliases: &["find"],
    usage: "search <words> [page=<n>]",
    summary: "Find incidents by words. Looks in titles, notes and resolutions, best match first; non-agents search their own.",
    may: who::ANYONE,
    kind: Kind::Incidents,
    example: "search vpn certificate",
    options: &[
        pos("words", "Words to look for, e.g. mail relay restarted", OptionKind::Text, true),
        named("page", "Page number", OptionKind::Text),
    ],
};

pub(super) const TAKE: CommandSpec = CommandSpec {
    name: "take",
    aliases: &["claim"],
    usage: "take INC-<n>",
    summary: "Claim an incident: assign it to yourself.",
    may: who::AGENTS,
    kind: Kind::Incidents,
    example: "take INC-12",
    options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
};

pub(super) const ASSIGN: CommandSpec = CommandSpec {
    name: "assign",
    aliases: &[],
    usage: "assign INC-<n> @user",
    summary: "Assign an incident to someone.",
    may: who::AGENTS,
    kind: Kind::Incidents,
    example: "assign INC-12 @sam",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        pos("user", "Who takes it", OptionKind::User, true),
    ],
};

/// With no arguments it lists the current outages (`Command::Outages`): the row
/// stays with its main form, the incident.
pub(super) const STATUS: CommandSpec = CommandSpec {
    name: "status",
    aliases: &[],
    usage: "status INC-<n> <in_progress|on_hold|resolved|closed> [reason] (on_hold: awaiting_caller|awaiting_change|awaiting_problem|awaiting_vendor <text>)",
    summary: "Move an incident through its lifecycle; with no arguments, show current outages.",
    may: who::ANYONE,
    kind: Kind::Incidents,
    example: "status INC-12 on_hold awaiting_caller waiting for a screenshot",
    options: &[
        pos(
            "id",
            "The incident, e.g. INC-12 (leave out to see outages)",
            OptionKind::Incident,
            false,
        ),
        pos("state", "The new state", OptionKind::Choice(STATES), false),
        pos("reason", "Why", OptionKind::Text, false),
    ],
};

pub(super) const NOTE: CommandSpec = CommandSpec {
    name: "note",
    aliases: &["comment"],
    usage: "note INC-<n>|CHG-<n>|OUT-<n> <text>",
    summary: "Add a note to an incident, a change or an outage.",
    may: who::INCIDENT_READERS,
    kind: Kind::Incidents,
    example: "note INC-12 restarted the MTA, watching the queue",
    options: &[
        pos("id", "The record, e.g. INC-12, CHG-3 or OUT-2", OptionKind::Text, true),
        pos("text", "The note", OptionKind::Text, true),
    ],
};

pub(super) const RESOLVE: CommandSpec = CommandSpec {
    name: "resolve",
    aliases: &[],
    usage: "resolve INC-<n> <resolution>",
    summary: "Resolve an incident, saying how.",
    may: who::INCIDENT_WORKERS,
    kind: Kind::Incidents,
    example: "resolve INC-12 renewed the certificate",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        pos("resolution", "How it was fixed", OptionKind::Text, true),
    ],
};

pub(super) const CLOSE: CommandSpec = CommandSpec {
    name: "close",
    aliases: &[],
    usage: "close INC-<n>",
    summary: "Close a resolved incident.",
    may: who::INCIDENT_CLOSERS,
    kind: Kind::Incidents,
    example: "close INC-12",
    options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
};

pub(super) const REOPEN: CommandSpec = CommandSpec {
    name: "reopen",
    aliases: &[],
    usage: "reopen INC-<n> [reason]",
    summary: "Reopen a resolved incident.",
    may: who::INCIDENT_CLOSERS,
    kind: Kind::Incidents,
    example: "reopen INC-12 still bouncing",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        pos("reason", "Why it is not fixed", OptionKind::Text, false),
    ],
};

pub(super) const CANCEL: CommandSpec = CommandSpec {
    name: "cancel",
    aliases: &["withdraw"],
    usage: "cancel INC-<n> <reason>",
    summary: "Cancel an open incident (logged by mistake, withdrawn): it ends without an SLA result.",
    may: who::INCIDENT_EDITORS,
    kind: Kind::Incidents,
    example: "cancel INC-12 logged twice by mistake",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        pos("reason", "Why it is cancelled", OptionKind::Text, true),
    ],
};

pub(super) const EDIT: CommandSpec = CommandSpec {
    name: "edit",
    aliases: &["correct"],
    usage: "edit INC-<n> [title=<text>] [service=<name>] [category=<name>]",
    summary: "Correct an incident's title, service or category (its reporter while it is new; agents always).",
    may: who::INCIDENT_EDITORS,
    kind: Kind::Incidents,
    example: "edit INC-12 service=vpn title=VPN drops every hour",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        named("title", "The new title", OptionKind::Phrase),
        named("service", "The affected service", OptionKind::Text),
        named("category", "A category, e.g. security", OptionKind::Text),
    ],
};

pub(super) const LINK: CommandSpec = CommandSpec {
    name: "link",
    aliases: &["relate"],
    usage: "link INC-<a> INC-<b>",
    summary: "Link two related incidents: each shows the other.",
    may: who::INCIDENT_WORKERS,
    kind: Kind::Incidents,
    example: "link INC-12 INC-14",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        pos("other", "The related incident", OptionKind::Incident, true),
    ],
};

pub(super) const DUPLICATE: CommandSpec = CommandSpec {
    name: "duplicate",
    aliases: &["dup"],
    usage: "duplicate INC-<b> of INC-<a>",
    summary: "Close INC-b as a duplicate of INC-a; its reporter hears of INC-a's progress.",
    may: who::INCIDENT_WORKERS,
    kind: Kind::Incidents,
    example: "duplicate INC-14 of INC-12",
    options: &[
        pos("id", "The duplicate, e.g. INC-13", OptionKind::Incident, true),
        pos(
            "original",
            "of INC-<a>: the incident that carries the work",
            OptionKind::Text,
            true,
        ),
    ],
};

pub(super) const PARENT: CommandSpec = CommandSpec {
    name: "parent",
    aliases: &[],
    usage: "parent INC-<a> INC-<b> [INC-<c>…]",
    summary: "Make INC-a the parent of the others: resolving it resolves them.",
    may: who::INCIDENT_WORKERS,
    kind: Kind::Incidents,
    example: "parent INC-12 INC-13 INC-14",
    options: &[
        pos("id", "The parent, e.g. INC-12", OptionKind::Incident, true),
        pos("children", "The child incidents", OptionKind::Text, true),
    ],
};

pub(super) const ACK: CommandSpec = CommandSpec {
    name: "ack",
    aliases: &["acknowledge"],
    usage: "ack INC-<n>",
    summary: "Acknowledge an incident: stops its response clock.",
    may: who::AGENTS,
    kind: Kind::Incidents,
    example: "ack INC-12",
    options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
};

pub(super) const ESCALATE: CommandSpec = CommandSpec {
    name: "escalate",
    aliases: &[],
    usage: "escalate INC-<n> [up] [reason]",
    summary: "Escalate to the next support tier, or `up` to the incident manager, then the service owner.",
    may: who::ESCALATORS_UP,
    kind: Kind::Incidents,
    example: "escalate INC-12 needs the network team",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        pos(
            "reason",
            "Why; start with `up` for hierarchical escalation",
            OptionKind::Text,
            false,
        ),
    ],
};

pub(super) const MAJOR: CommandSpec = CommandSpec {
    name: "major",
    aliases: &[],
    usage: "major INC-<n> [off] [reason]",
    summary: "Declare a major incident, or revert one with `off <reason>`.",
    may: who::AGENTS,
    kind: Kind::Incidents,
    example: "major INC-12 whole floor is down",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        pos("reason", "Why; start with `off` to revert", OptionKind::Text, false),
    ],
};

pub(super) const PRIORITY: CommandSpec = CommandSpec {
    name: "priority",
    aliases: &["prio"],
    usage: "priority INC-<n> [impact=high|medium|low] [urgency=high|medium|low] [reason]",
    summary: "Re-prioritise an incident from a new impact or urgency; its SLA clocks follow.",
    may: who::AGENTS,
    kind: Kind::Incidents,
    example: "priority INC-12 impact=high the whole floor now",
    options: &[
        pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
        named("impact", "How widely it hurts now", OptionKind::Choice(&LEVELS)),
        named("urgency", "How soon it must be fixed now", OptionKind::Choice(&LEVELS)),
        pos("reason", "Why the priority changes", OptionKind::Text, false),
    ],
};

/// Types the arguments of one of this module's rows (the table-wide checks,
/// extra and missing positionals, are done by [`super::build`]).
pub(super) fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
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
            description: None,
        },
        "show" => {
            let raw = at(0).unwrap_or_default();
            match (IncidentId::parse(raw), ChangeId::parse(raw)) {
                (Some(id), _) => Command::Show { id },
                (None, Some(id)) => Command::ShowChange { id },
                (None, None) if raw.to_ascii_uppercase().starts_with("PRB-") => match ProblemId::parse(raw) {
                    Some(id) => Command::ShowProblem { id },
                    None => return Err(err(format!("`{}` is not a problem id like PRB-2", shorten(raw)))),
                },
                (None, None) => {
                    return Err(err(format!(
                        "`{}` is not an incident or change id like INC-12 or CHG-3",
                        shorten(raw)
                    )))
                }
            }
        }
        "history" => {
            let raw = at(0).unwrap_or_default();
            let record = match Subject::parse(raw) {
                Some(s @ (Subject::Incident(_) | Subject::Change(_) | Subject::Outage(_) | Subject::Problem(_))) => s,
                _ => {
                    return Err(err(format!(
                        "`{}` is not an incident, change or outage id like INC-12, CHG-3 or OUT-2",
                        shorten(raw)
                    )))
                }
            };
            let page = match args.named.get("page") {
                None => 1,
                Some(p) => p
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| err(format!("page must be a number from 1, not `{}`", shorten(p))))?,
            };
            Command::History { record, page }
        }
        "incidents" => {
            let filter = ListFilter::parse(
                at(0).unwrap_or_default(),
                args.named.get("service"),
                args.named.get("tier"),
            )
            .map_err(err)?;
            Command::Incidents {
                filter,
                page: page(&args).map_err(err)?,
            }
        }
        "search" => {
            let raw = at(0).unwrap_or_default();
            let query = SearchQuery::parse(raw).ok_or_else(|| {
                err(format!(
                    "`{}` has no words to search for: give words of letters or digits",
                    shorten(raw)
                ))
            })?;
            Command::Search {
                query,
                page: page(&args).map_err(err)?,
            }
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
            let id = id(0)?;
            if state == State::Cancelled {
                return Err(err(format!("to cancel it, use !cancel {id} <reason>")));
            }
            let (hold, reason) = match (state, text(2)) {
                (State::OnHold, None) => {
                    return Err(err(format!("say what it waits for: on_hold {HOLD_REASONS}, then why")));
                }
                (State::OnHold, Some(text)) => {
                    let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text.as_str(), ""));
                    let hold = HoldReason::parse(first).ok_or_else(|| {
                        err(format!(
                            "`{}` is not what it waits for ({HOLD_REASONS})",
                            shorten(first)
                        ))
                    })?;
                    let rest = rest.trim();
                    (Some(hold), (!rest.is_empty()).then(|| rest.to_owned()))
                }
                (_, reason) => (None, reason),
            };
            Command::Status {
                id,
                state,
                hold,
                reason,
            }
        }
        "cancel" => Command::Cancel {
            id: id(0)?,
            reason: text(1).unwrap_or_default(),
        },
        "edit" => {
            let field = |key: &str| args.named.get(key).map(|v| v.trim().to_owned());
            let (title, service, category) = (field("title"), field("service"), field("category"));
            if title.is_none() && service.is_none() && category.is_none() {
                return Err(err("give title=, service= or category= (or several)".into()));
            }
            if let Some(empty) = [("title", &title), ("service", &service)]
                .into_iter()
                .find(|(_, v)| v.as_deref() == Some(""))
            {
                return Err(err(format!("{}= needs a value", empty.0)));
            }
            Command::Edit {
                id: id(0)?,
                title,
                service,
                category: category.map(|c| c.to_lowercase()),
            }
        }
        "link" => Command::Link {
            id: id(0)?,
            other: id(1)?,
        },
        "duplicate" => {
            let rest = text(1).unwrap_or_default();
            let words: Vec<&str> = rest.split_whitespace().collect();
            let raw = match words.as_slice() {
                [of, one] if of.eq_ignore_ascii_case("of") => *one,
                [one] => *one,
                _ => {
                    return Err(err(format!(
                        "say which it duplicates: `of INC-<n>`, not `{}`",
                        shorten(&rest)
                    )))
                }
            };
            let of = IncidentId::parse(raw)
                .ok_or_else(|| err(format!("`{}` is not an incident id like INC-12", shorten(raw))))?;
            Command::Duplicate { id: id(0)?, of }
        }
        "parent" => {
            let rest = text(1).unwrap_or_default();
            let mut children = Vec::new();
            for raw in rest
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|w| !w.is_empty())
            {
                let child = IncidentId::parse(raw)
                    .ok_or_else(|| err(format!("`{}` is not an incident id like INC-12", shorten(raw))))?;
                if !children.contains(&child) {
                    children.push(child);
                }
            }
            if children.len() > 25 {
                return Err(err("link at most 25 children at once".into()));
            }
            Command::Parent { id: id(0)?, children }
        }
        // An incident's note reads its id as before; a change or an outage takes one too.
        "note" => {
            let raw = at(0).unwrap_or_default();
            let body = text(1).unwrap_or_default();
            match Subject::parse(raw) {
                Some(Subject::Change(id)) => Command::ChangeNote { id, text: body },
                Some(Subject::Outage(id)) => Command::OutageNote { id, text: body },
                _ => match IncidentId::parse(raw) {
                    Some(id) => Command::Note { id, text: body },
                    None => {
                        return Err(err(format!(
                            "`{}` is not an incident, change or outage id like INC-12, CHG-3 or OUT-2",
                            shorten(raw)
                        )))
                    }
                },
            }
        }
        "resolve" => Command::Resolve {
            id: id(0)?,
            resolution: text(1).unwrap_or_default(),
        },
        "close" => Command::Close { id: id(0)? },
        "reopen" => Command::Reopen {
            id: id(0)?,
            reason: text(1),
        },
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
        other => return Err(err(format!("`{other}` has no parser"))),
    };
    Ok(cmd)
}

/// The `page=` option of a listing: a number from 1 (1 when absent).
fn page(args: &Args) -> Result<u32, String> {
    match args.named.get("page") {
        None => Ok(1),
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| format!("page must be a number from 1, not `{}`", shorten(p))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::tests::p;

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
                description: None,
            }
        );
        assert!(
            matches!(p("!inc printer jam category=Security").unwrap(), Command::Incident { category: Some(c), .. } if c == "security")
        );
    }

    #[test]
    fn corrections_links_holds_and_cancels_parse() {
        let id = |n| IncidentId::parse(n).unwrap();
        assert_eq!(
            p("!edit INC-4 title = Mail down for sales service=email").unwrap(),
            Command::Edit {
                id: id("4"),
                title: Some("Mail down for sales".into()),
                service: Some("email".into()),
                category: None,
            }
        );
        assert_eq!(
            p("!duplicate INC-3 of INC-2").unwrap(),
            Command::Duplicate {
                id: id("3"),
                of: id("2")
            }
        );
        assert_eq!(
            p("!parent INC-1 INC-2, INC-3 INC-2").unwrap(),
            Command::Parent {
                id: id("1"),
                children: vec![id("2"), id("3")]
            }
        );
        assert_eq!(
            p("!status INC-1 on_hold awaiting_caller waiting for a screenshot").unwrap(),
            Command::Status {
                id: id("1"),
                state: State::OnHold,
                hold: Some(HoldReason::AwaitingCaller),
                reason: Some("waiting for a screenshot".into()),
            }
        );
        assert_eq!(
            p("!cancel INC-5 logged twice").unwrap(),
            Command::Cancel {
                id: id("5"),
                reason: "logged twice".into()
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
            (
                "!status INC-1 on_hold",
                "status: say what it waits for: on_hold awaiting_caller, awaiting_change, awaiting_problem or \
                 awaiting_vendor, then why",
            ),
            (
                "!status INC-1 on_hold lunch",
                "status: `lunch` is not what it waits for (awaiting_caller, awaiting_change, awaiting_problem or \
                 awaiting_vendor)",
            ),
            (
                "!status INC-1 cancelled",
                "status: to cancel it, use !cancel INC-1 <reason>",
            ),
            ("!cancel INC-1", "cancel: missing <reason>"),
            ("!edit INC-1", "edit: give title=, service= or category= (or several)"),
            ("!edit INC-1 title=", "edit: title= needs a value"),
            ("!link INC-1", "link: missing <other>"),
            ("!link INC-1 CHG-2", "link: `CHG-2` is not an incident id like INC-12"),
            (
                "!duplicate INC-2 INC-1 INC-3",
                "duplicate: say which it duplicates: `of INC-<n>`, not `INC-1 INC-3`",
            ),
            (
                "!parent INC-1 INC-2 frob",
                "parent: `frob` is not an incident id like INC-12",
            ),
            ("!assign INC-1", "assign: missing <user>"),
            (
                "!assign INC-1 <@&55>",
                "assign: `<@&55>` is not a user (mention them: @name)",
            ),
            ("!note INC-2", "note: missing <text>"),
            ("!status INC-1", "status: missing <state>"),
            (
                "!status frob closed",
                "status: `frob` is not an incident id like INC-12",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(p(line).unwrap_err(), expected, "{line}");
        }
    }

    #[test]
    fn status_without_arguments_shows_outages_and_with_them_moves_an_incident() {
        assert_eq!(p("!status").unwrap(), Command::Outages);
        assert_eq!(
            p("!status INC-4 on_hold awaiting_vendor waiting for parts").unwrap(),
            Command::Status {
                id: IncidentId::parse("4").unwrap(),
                state: State::OnHold,
                hold: Some(HoldReason::AwaitingVendor),
                reason: Some("waiting for parts".into())
            }
        );
    }

    #[test]
    fn filters_combine_in_any_order_and_pages_parse() {
        let open = ListFilter::default();
        let p1 = Priority::parse("P1");
        let cases = [
            ("!incidents", open.clone(), 1),
            (
                "!list p2 page=3",
                ListFilter {
                    priority: Priority::parse("P2"),
                    ..open.clone()
                },
                3,
            ),
            (
                "!incidents service=vpn",
                ListFilter {
                    service: Some("vpn".into()),
                    ..open.clone()
                },
                1,
            ),
            (
                "!incidents unassigned breaching P1",
                ListFilter {
                    unassigned: true,
                    breaching: true,
                    priority: p1,
                    ..open.clone()
                },
                1,
            ),
            (
                "!incidents mine",
                ListFilter {
                    mine: true,
                    state: ListState::Any,
                    ..open.clone()
                },
                1,
            ),
            (
                "!incidents mine open",
                ListFilter {
                    mine: true,
                    ..open.clone()
                },
                1,
            ),
            ("!incidents OPEN open", open.clone(), 1),
            (
                "!incidents p1 P1",
                ListFilter {
                    priority: p1,
                    ..open.clone()
                },
                1,
            ),
            (
                "!incidents all mine",
                ListFilter {
                    state: ListState::Any,
                    all: true,
                    mine: true,
                    ..open.clone()
                },
                1,
            ),
            (
                "!incidents resolved",
                ListFilter {
                    state: ListState::Resolved,
                    ..open.clone()
                },
                1,
            ),
            (
                "!incidents closed page=2",
                ListFilter {
                    state: ListState::Closed,
                    ..open.clone()
                },
                2,
            ),
            (
                "!incidents tier=2 service=email P3",
                ListFilter {
                    tier: Some(TierFilter::Level(2)),
                    service: Some("email".into()),
                    priority: Priority::parse("P3"),
                    ..open.clone()
                },
                1,
            ),
            (
                "!incidents tier=systems_support unassigned",
                ListFilter {
                    tier: Some(TierFilter::Role("systems_support".into())),
                    unassigned: true,
                    ..open.clone()
                },
                1,
            ),
        ];
        for (line, filter, page) in cases {
            assert_eq!(p(line).unwrap(), Command::Incidents { filter, page }, "{line}");
        }
    }

    #[test]
    fn unknown_and_contradictory_filters_are_refused_clearly() {
        let cases = [
            (
                "!incidents opne",
                "incidents: `opne` is not a filter (nearest: `open`)".to_owned(),
            ),
            (
                "!incidents unasigned",
                "incidents: `unasigned` is not a filter (nearest: `unassigned`)".to_owned(),
            ),
            (
                "!incidents P9",
                "incidents: `P9` is not a filter (nearest: `P1`)".to_owned(),
            ),
            (
                "!incidents frobnicate",
                "incidents: `frobnicate` is not a filter".to_owned(),
            ),
            (
                "!incidents open resolved",
                "incidents: `open` and `resolved` cannot both hold: give one of open, resolved, closed, cancelled or all"
                    .to_owned(),
            ),
            (
                "!incidents closed all",
                "incidents: `closed` and `all` cannot both hold: give one of open, resolved, closed, cancelled or all".to_owned(),
            ),
            (
                "!incidents P1 P2",
                "incidents: give one priority, not both P1 and P2".to_owned(),
            ),
            (
                "!incidents breaching resolved",
                "incidents: `breaching` means an SLA clock is still running past its target, so it cannot be resolved"
                    .to_owned(),
            ),
            (
                "!incidents tier=0",
                "incidents: tier must be a number from 1 or a support role, not `0`".to_owned(),
            ),
            (
                "!incidents page=0",
                "incidents: page must be a number from 1, not `0`".to_owned(),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(p(line).unwrap_err(), expected, "{line}");
        }
    }

    #[test]
    fn search_takes_its_words_and_refuses_a_search_without_any() {
        let words = |t: &str| SearchQuery::parse(t).unwrap();
        assert_eq!(
            p("!search mail relay page=2").unwrap(),
            Command::Search {
                query: words("mail relay"),
                page: 2
            }
        );
        assert_eq!(
            p("!find \"DNS\" AND cache*").unwrap(),
            Command::Search {
                query: words("dns and cache"),
                page: 1
            }
        );
        assert_eq!(p("!search").unwrap_err(), "search: missing <words>");
        assert_eq!(
            p("!search *** \"\" ^").unwrap_err(),
            "search: `*** \"\" ^` has no words to search for: give words of letters or digits"
        );
        assert_eq!(
            p("!search vpn page=x").unwrap_err(),
            "search: page must be a number from 1, not `x`"
        );
        assert!(p("!search vpn").unwrap().is_read_only());
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
}
