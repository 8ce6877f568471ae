//! Chat text → a typed [`Command`].
//!
//! One table ([`COMMANDS`]) yields the parser, the `!help` text and the slash
//! command definitions, so they never drift. Pure: std and regex only.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::domain::incident::{IncidentId, State};
use crate::domain::priority::{Impact, Priority, Urgency, LEVELS};
use crate::domain::text::nearest;

/// Who may run a command at all (the desk decides per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Anyone,
    /// The incident's reporter, or any agent.
    ReporterOrAgent,
    /// Agents only.
    Agent,
}

/// What kind of value an option takes (slash commands show it as a typed field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// Free text.
    Text,
    /// `INC-n`.
    Incident,
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
    pub access: Access,
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

/// Every command, in the order `!help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "incident",
        aliases: &["inc"],
        usage: "incident <title> [impact=high|medium|low] [urgency=high|medium|low] [service=<name>] [category=<name>]",
        summary: "Report an incident; replies with its INC id, priority and who handles it.",
        access: Access::Anyone,
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
        usage: "show INC-<n>",
        summary: "Show an incident with its history.",
        access: Access::ReporterOrAgent,
        options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
    },
    CommandSpec {
        name: "incidents",
        aliases: &["list"],
        usage: "incidents [open|mine|all|P1..P5|service=<name>] [page=<n>]",
        summary: "List incidents, newest first (non-agents see their own).",
        access: Access::Anyone,
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
        access: Access::Agent,
        options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
    },
    CommandSpec {
        name: "assign",
        aliases: &[],
        usage: "assign INC-<n> @user",
        summary: "Assign an incident to someone.",
        access: Access::Agent,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("user", "Who takes it", OptionKind::User, true),
        ],
    },
    CommandSpec {
        name: "status",
        aliases: &[],
        usage: "status INC-<n> <new|assigned|in_progress|on_hold|resolved|closed> [reason]",
        summary: "Move an incident through its lifecycle.",
        access: Access::Agent,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("state", "The new state", OptionKind::Choice(STATES), true),
            pos("reason", "Why", OptionKind::Text, false),
        ],
    },
    CommandSpec {
        name: "note",
        aliases: &["comment"],
        usage: "note INC-<n> <text>",
        summary: "Add a note to an incident.",
        access: Access::ReporterOrAgent,
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
        access: Access::Agent,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("resolution", "How it was fixed", OptionKind::Text, true),
        ],
    },
    CommandSpec {
        name: "close",
        aliases: &[],
        usage: "close INC-<n>",
        summary: "Close a resolved incident (its reporter or an agent).",
        access: Access::ReporterOrAgent,
        options: &[pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true)],
    },
    CommandSpec {
        name: "reopen",
        aliases: &[],
        usage: "reopen INC-<n> [reason]",
        summary: "Reopen a resolved incident (its reporter or an agent).",
        access: Access::ReporterOrAgent,
        options: &[
            pos("id", "The incident, e.g. INC-12", OptionKind::Incident, true),
            pos("reason", "Why it is not fixed", OptionKind::Text, false),
        ],
    },
    CommandSpec {
        name: "help",
        aliases: &["commands"],
        usage: "help [command]",
        summary: "List the commands you may run, or explain one.",
        access: Access::Anyone,
        options: &[pos("command", "A command name", OptionKind::Text, false)],
    },
    CommandSpec {
        name: "raci",
        aliases: &[],
        usage: "raci [action]",
        summary: "Show who is Responsible, Accountable, Consulted and Informed.",
        access: Access::Anyone,
        options: &[pos("action", "An action, e.g. log_incident", OptionKind::Text, false)],
    },
    CommandSpec {
        name: "whois",
        aliases: &[],
        usage: "whois <itil-role>",
        summary: "Say which chat role and channel hold an ITIL role.",
        access: Access::Anyone,
        options: &[pos(
            "role",
            "An ITIL role, e.g. incident_manager",
            OptionKind::Text,
            true,
        )],
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
    Help {
        command: Option<String>,
    },
    Raci {
        action: Option<String>,
    },
    Whois {
        role: String,
    },
    /// Not a command we know; `suggestion` is the nearest name.
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
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
        "show" => Command::Show { id: id(0)? },
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
            let c = user_re()
                .captures(raw)
                .ok_or_else(|| err(format!("`{}` is not a user (mention them: @name)", shorten(raw))))?;
            let user = match (c.get(1), c.get(2)) {
                (Some(n), _) => UserRef::Id(
                    n.as_str()
                        .parse()
                        .map_err(|_| err(format!("`{}` is not a user id", shorten(raw))))?,
                ),
                (None, Some(name)) => UserRef::Name(name.as_str().to_owned()),
                (None, None) => return Err(err("missing <user>".into())),
            };
            Command::Assign { id: id(0)?, user }
        }
        "status" => {
            let raw = at(1).unwrap_or_default();
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
        "help" => Command::Help { command: text(0) },
        "raci" => Command::Raci { action: text(0) },
        "whois" => Command::Whois {
            role: text(0).unwrap_or_default(),
        },
        other => return Err(err(format!("`{other}` has no parser"))),
    };
    Ok(cmd)
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
            ("!show CHG-1", "show: `CHG-1` is not an incident id like INC-12"),
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
        ];
        for (line, expected) in cases {
            assert_eq!(p(line).unwrap_err(), expected, "{line}");
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
    fn every_table_row_has_a_parser_and_a_usage_starting_with_its_name() {
        for spec in COMMANDS {
            assert!(spec.usage.starts_with(spec.name), "{}", spec.name);
            let args = Args {
                positional: vec!["INC-1".into(), "x".into()],
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
