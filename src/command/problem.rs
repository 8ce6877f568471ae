//! The problem-management rows of the command table and their parsers:
//! `!problem` (logging, and its `link` / `assess` / `rootcause` /
//! `workaround` / `resolve` / `close` / `cancel` sub-commands), `!problems`
//! and `!kedb`. `!show PRB-n` is the incident row's (see `incident`).

use crate::domain::incident::IncidentId;
use crate::domain::problem::ProblemId;
use crate::domain::search::SearchQuery;

use super::{named, pos, shorten, who, Args, Command, CommandSpec, Kind, OptionKind, UsageError};

pub(super) const PROBLEM: CommandSpec = CommandSpec {
    name: "problem",
    aliases: &["prb"],
    usage: "problem <title> [service=<name>] [from=INC-n,INC-m] | link PRB-<n> INC-<m>… | assess PRB-<n> [note] | rootcause PRB-<n> <text> | workaround PRB-<n> <text> | resolve PRB-<n> <fix> | close PRB-<n> | cancel PRB-<n> <reason>",
    summary: "Log a problem (the cause of incidents) and work it to a known error and a fix.",
    may: who::PROBLEM_WORKERS,
    kind: Kind::Problems,
    example: "problem Mail relay drops connections service=email from=INC-12,INC-14",
    options: &[
        pos("text", "The title; or link / assess / rootcause / workaround / resolve / close / cancel PRB-n …", OptionKind::Text, true),
        named("service", "The service it affects", OptionKind::Text),
        named("from", "Incidents it causes: INC-n,INC-m", OptionKind::Text),
    ],
};

/// The `!problems` filters.
pub const PROBLEM_FILTERS: &[&str] = &["open", "known", "mine", "all"];

pub(super) const PROBLEMS: CommandSpec = CommandSpec {
    name: "problems",
    aliases: &[],
    usage: "problems [open|known|mine|all] [service=<name>]",
    summary: "List problems: open (the default), known errors, the ones you logged, or all.",
    may: who::ANYONE,
    kind: Kind::Problems,
    example: "problems known",
    options: &[
        pos("filter", "Which problems", OptionKind::Choice(PROBLEM_FILTERS), false),
        named("service", "Only this service", OptionKind::Text),
    ],
};

pub(super) const KEDB: CommandSpec = CommandSpec {
    name: "kedb",
    aliases: &["knownerrors"],
    usage: "kedb [service=<name>] [words]",
    summary: "Search the known-error database: known errors and their workarounds.",
    may: who::ANYONE,
    kind: Kind::Problems,
    example: "kedb service=email relay",
    options: &[
        pos(
            "words",
            "Words to look for, e.g. outlook crash",
            OptionKind::Text,
            false,
        ),
        named("service", "Only this service", OptionKind::Text),
    ],
};

/// A step of a problem's lifecycle, as `!problem <step> PRB-n` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemStep {
    Assess,
    RootCause,
    Workaround,
    Resolve,
    Close,
    Cancel,
}

impl ProblemStep {
    pub const ALL: [ProblemStep; 6] = [
        ProblemStep::Assess,
        ProblemStep::RootCause,
        ProblemStep::Workaround,
        ProblemStep::Resolve,
        ProblemStep::Close,
        ProblemStep::Cancel,
    ];

    /// The sub-command word.
    pub fn word(self) -> &'static str {
        match self {
            ProblemStep::Assess => "assess",
            ProblemStep::RootCause => "rootcause",
            ProblemStep::Workaround => "workaround",
            ProblemStep::Resolve => "resolve",
            ProblemStep::Close => "close",
            ProblemStep::Cancel => "cancel",
        }
    }

    /// What its text is (`workaround`, `reason`).
    pub fn field(self) -> &'static str {
        match self {
            ProblemStep::Assess => "note",
            ProblemStep::RootCause => "root cause",
            ProblemStep::Workaround => "workaround",
            ProblemStep::Resolve => "fix",
            ProblemStep::Close => "text",
            ProblemStep::Cancel => "reason",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        let w = word.to_ascii_lowercase().replace(['_', '-'], "");
        ProblemStep::ALL.into_iter().find(|s| s.word() == w)
    }
}

/// Which problems `!problems` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemFilter {
    Open,
    Known,
    Mine,
    All,
}

impl ProblemFilter {
    /// As the list's heading says it.
    pub fn words(self) -> &'static str {
        match self {
            ProblemFilter::Open => "open",
            ProblemFilter::Known => "known error",
            ProblemFilter::Mine => "your open",
            ProblemFilter::All => "all",
        }
    }
}

/// Types the arguments of one of this module's rows.
pub(super) fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let service = args.named.get("service").cloned();
    match spec.name {
        "problem" => problem(spec, &args),
        "problems" => {
            let filter = match args.positional.first().map(|s| s.to_ascii_lowercase()).as_deref() {
                None | Some("open") => ProblemFilter::Open,
                Some("known") => ProblemFilter::Known,
                Some("mine") => ProblemFilter::Mine,
                Some("all") => ProblemFilter::All,
                Some(other) => {
                    return Err(err(format!(
                        "`{}` is not a filter: use open, known, mine or all",
                        shorten(other)
                    )))
                }
            };
            Ok(Command::Problems { filter, service })
        }
        "kedb" => Ok(Command::Kedb {
            service,
            query: args.positional.first().and_then(|w| SearchQuery::parse(w)),
        }),
        other => Err(err(format!("`{other}` has no parser"))),
    }
}

/// `INC-1,INC-2` or `INC-1 INC-2`.
fn incident_list(raw: &str) -> Result<Vec<IncidentId>, String> {
    let mut out = Vec::new();
    for word in raw.split([',', ' ']).filter(|w| !w.is_empty()) {
        let id =
            IncidentId::parse(word).ok_or_else(|| format!("`{}` is not an incident id like INC-3", shorten(word)))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `!problem`: a sub-command when its first word is one and the second a
/// problem id; otherwise the title of a new problem (so "Close button
/// broken" is a title).
fn problem(spec: &'static CommandSpec, args: &Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let text = args.positional.first().map(String::as_str).unwrap_or_default().trim();
    let mut words = text.splitn(3, char::is_whitespace);
    let first = words.next().unwrap_or_default();
    let second = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default().trim();
    let sub = first.to_ascii_lowercase();
    let step = ProblemStep::parse(first);
    let is_sub = sub == "link" || step.is_some();
    let id = ProblemId::parse(second).filter(|_| second.to_ascii_uppercase().starts_with("PRB-"));
    match (is_sub, id) {
        (true, Some(id)) => {
            if !args.named.is_empty() {
                return Err(err(format!(
                    "service= and from= are for logging a problem, not `{sub}` (text with = goes in `backticks`)"
                )));
            }
            if sub == "link" {
                let incidents = incident_list(rest).map_err(err)?;
                if incidents.is_empty() {
                    return Err(err(format!("say which incidents: `link {id} INC-<n>…`")));
                }
                return Ok(Command::ProblemLink { id, incidents });
            }
            let step = step.expect("a step word");
            let text = (!rest.is_empty()).then(|| rest.to_owned());
            if step == ProblemStep::Close && text.is_some() {
                return Err(err(format!("unexpected `{}`", shorten(rest))));
            }
            Ok(Command::ProblemStep { id, step, text })
        }
        (true, None) if second.is_empty() || second.to_ascii_uppercase().starts_with("PRB") => Err(err(format!(
            "say which problem: `{sub} PRB-<n>`{}",
            if second.is_empty() {
                String::new()
            } else {
                format!(", not `{}`", shorten(second))
            }
        ))),
        _ => {
            let from = match args.named.get("from") {
                Some(raw) => incident_list(raw).map_err(err)?,
                None => Vec::new(),
            };
            Ok(Command::ProblemLog {
                title: text.to_owned(),
                service: args.named.get("service").cloned(),
                from,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::p;
    use super::*;

    fn inc(n: i64) -> IncidentId {
        IncidentId::from_row(n)
    }

    #[test]
    fn a_problem_is_logged_with_its_service_and_the_incidents_it_comes_from() {
        assert_eq!(
            p("!problem Mail queue stalls service=email from=INC-1,inc-3").unwrap(),
            Command::ProblemLog {
                title: "Mail queue stalls".into(),
                service: Some("email".into()),
                from: vec![inc(1), inc(3)],
            }
        );
        assert!(p("!problem x from=INC-1,bogus")
            .unwrap_err()
            .contains("`bogus` is not an incident id"));
    }

    #[test]
    fn sub_commands_need_a_problem_id_and_a_title_may_start_with_their_words() {
        let id = ProblemId::from_row(2);
        assert_eq!(
            p("!problem workaround PRB-2 restart the queue").unwrap(),
            Command::ProblemStep {
                id,
                step: ProblemStep::Workaround,
                text: Some("restart the queue".into())
            }
        );
        assert_eq!(
            p("!problem link PRB-2 INC-4 INC-5").unwrap(),
            Command::ProblemLink {
                id,
                incidents: vec![inc(4), inc(5)]
            }
        );
        assert_eq!(
            p("!problem root-cause prb-2 disk full").unwrap(),
            Command::ProblemStep {
                id,
                step: ProblemStep::RootCause,
                text: Some("disk full".into())
            }
        );
        assert!(
            matches!(p("!problem Close button broken").unwrap(), Command::ProblemLog { title, .. } if title == "Close button broken")
        );
        assert!(p("!problem link PRB-x INC-1")
            .unwrap_err()
            .contains("say which problem"));
        assert!(p("!problem link PRB-2").unwrap_err().contains("say which incidents"));
        assert!(p("!problem close PRB-2 now").unwrap_err().contains("unexpected"));
        assert!(p("!problem assess PRB-2 service=email")
            .unwrap_err()
            .contains("for logging a problem"));
    }

    #[test]
    fn problems_and_kedb_take_their_filters() {
        assert_eq!(
            p("!problems known service=email").unwrap(),
            Command::Problems {
                filter: ProblemFilter::Known,
                service: Some("email".into())
            }
        );
        assert!(p("!problems later").unwrap_err().contains("not a filter"));
        assert!(
            matches!(p("!kedb outlook crash").unwrap(), Command::Kedb { service: None, query: Some(q) } if q.to_string() == "outlook crash")
        );
    }
}
