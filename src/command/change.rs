//! The change rows of the command table and their parsers: `!change` (filing a
//! change, and its `cancel` / `status` sub-commands), `!changes`, and the
//! authority's `!cab`, `!authorize` and `!reject`. `!show CHG-n` shares the
//! incident row (see `incident`).

use crate::domain::change::{ChangeId, ChangeState, ChangeType, Risk};
use crate::domain::sla::parse_duration;

use super::{named, pos, shorten, user_ref, who, Args, Command, CommandSpec, Kind, OptionKind, UsageError};

const RISKS: &[&str] = &["low", "medium", "high"];
const CHANGE_TYPES: &[&str] = &["standard", "normal", "emergency"];
const CHANGE_FILTERS: &[&str] = &["open", "upcoming", "mine", "all"];
const CHANGE_STATES: &str = "assessment, scheduled, implementing, review, closed";

/// Which changes `!changes` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeFilter {
    Open,
    Upcoming,
    Mine,
    All,
    Service(String),
}

pub(super) const CHANGE: CommandSpec = CommandSpec {
    name: "change",
    aliases: &["rfc"],
    usage: "change <title> service=<name> risk=low|medium|high type=standard|normal|emergency \
            [window=<start>..<end>] [implementer=@user] [problem=PRB-<n>]",
    summary: "File a change (RFC); replies with its CHG id. Also `change cancel CHG-<n> [reason]`, \
              `change status CHG-<n> <state> [reason] [window=…]`, `change implementer CHG-<n> @user` and \
              `change review CHG-<n> <text>` (the post-implementation review).",
    may: who::CHANGE_ANY_FORM,
    kind: Kind::Changes,
    example: "change Upgrade the MTA service=email risk=medium type=normal window=2026-12-10T22:00..2026-12-11T00:00",
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
        named("problem", "The problem it fixes: PRB-n", OptionKind::Text),
    ],
};

pub(super) const CHANGES: CommandSpec = CommandSpec {
    name: "changes",
    aliases: &[],
    usage: "changes [open|upcoming|mine|all|service=<name>]",
    summary: "List changes: open (default, newest first), upcoming (by window), yours, or one service's.",
    may: who::ANYONE,
    kind: Kind::Changes,
    example: "changes upcoming",
    options: &[
        pos("filter", "Which changes", OptionKind::Choice(CHANGE_FILTERS), false),
        named("service", "Only this service", OptionKind::Text),
    ],
};

pub(super) const CAB: CommandSpec = CommandSpec {
    name: "cab",
    aliases: &[],
    usage: "cab CHG-<n> [deadline=<duration>]",
    summary: "Call the CAB (or ECAB) vote on a change: members vote ✅ ❌ ➖ by reaction.",
    may: who::CHANGE_AUTHORITY,
    kind: Kind::Changes,
    example: "cab CHG-3 deadline=2d",
    options: &[
        pos("id", "The change, e.g. CHG-3", OptionKind::Change, true),
        named("deadline", "How long the vote stays open, e.g. 24h", OptionKind::Text),
    ],
};

pub(super) const AUTHORIZE: CommandSpec = CommandSpec {
    name: "authorize",
    aliases: &["authorise"],
    usage: "authorize CHG-<n>",
    summary: "Authorize a change after its vote (not your own).",
    may: who::CHANGE_AUTHORITY,
    kind: Kind::Changes,
    example: "authorize CHG-3",
    options: &[pos("id", "The change, e.g. CHG-3", OptionKind::Change, true)],
};

pub(super) const REJECT: CommandSpec = CommandSpec {
    name: "reject",
    aliases: &[],
    usage: "reject CHG-<n> <reason>",
    summary: "Reject a change after its vote, saying why.",
    may: who::CHANGE_AUTHORITY,
    kind: Kind::Changes,
    example: "reject CHG-3 no rollback plan",
    options: &[
        pos("id", "The change, e.g. CHG-3", OptionKind::Change, true),
        pos("reason", "Why", OptionKind::Text, true),
    ],
};

/// Types the arguments of one of this module's rows (the table-wide checks,
/// extra and missing positionals, are done by [`super::build`]).
pub(super) fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let at = |i: usize| args.positional.get(i).map(String::as_str);
    let text = |i: usize| at(i).map(str::to_owned);
    let cmd = match spec.name {
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
        other => return Err(err(format!("`{other}` has no parser"))),
    };
    Ok(cmd)
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
    if !filing && (verb == "implementer" || verb == "review") {
        let id = change_id(words.next()).map_err(err)?;
        let rest: Vec<&str> = words.collect();
        if verb == "implementer" {
            let raw = match rest.as_slice() {
                [] => return Err(err("missing <user> (mention them: @name)".into())),
                [one] => *one,
                _ => return Err(err("name one implementer: @name".into())),
            };
            let user = user_ref(raw).map_err(|e| err(format!("implementer: {e}")))?;
            return Ok(Command::ChangeImplementer { id, user });
        }
        if rest.is_empty() {
            return Err(err("missing <text> of the post-implementation review".into()));
        }
        return Ok(Command::ChangeReview {
            id,
            text: rest.join(" "),
        });
    }
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
    let problem = match named("problem") {
        None => None,
        Some(raw) => Some(
            crate::domain::problem::ProblemId::parse(&raw)
                .ok_or_else(|| err(format!("problem: `{}` is not a problem id like PRB-2", shorten(&raw))))?,
        ),
    };
    Ok(Command::Change {
        title,
        service,
        risk,
        change_type,
        window: named("window"),
        implementer,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::command::tests::p;
    use crate::command::UserRef;

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
                problem: None,
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
            p("!change implementer CHG-4 @nina").unwrap(),
            Command::ChangeImplementer {
                id,
                user: UserRef::Name("nina".into())
            }
        );
        assert_eq!(
            p("!change implementer CHG-4 <@77>").unwrap(),
            Command::ChangeImplementer {
                id,
                user: UserRef::Id(77)
            }
        );
        assert_eq!(
            p("!change review CHG-4 patched gw-1, no side effects").unwrap(),
            Command::ChangeReview {
                id,
                text: "patched gw-1, no side effects".into()
            }
        );
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
            (
                "!change implementer CHG-3",
                "change: missing <user> (mention them: @name)",
            ),
            ("!change implementer CHG-3 @a @b", "change: name one implementer: @name"),
            (
                "!change review CHG-3",
                "change: missing <text> of the post-implementation review",
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
}
