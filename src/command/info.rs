//! The rows that explain the desk rather than act on a record, and their
//! parsers: `!help`, `!raci`, `!whois` and `!whoami`.

use super::{pos, who, Args, Command, CommandSpec, Kind, OptionKind, UsageError};

pub(super) const HELP: CommandSpec = CommandSpec {
    name: "help",
    aliases: &["commands"],
    usage: "help [command]",
    summary: "List the commands you may run, or explain one.",
    may: who::ANYONE,
    kind: Kind::Info,
    example: "help take",
    options: &[pos("command", "A command name", OptionKind::Text, false)],
};

pub(super) const RACI: CommandSpec = CommandSpec {
    name: "raci",
    aliases: &[],
    usage: "raci [action]",
    summary: "Show who is Responsible, Accountable, Consulted and Informed.",
    may: who::ANYONE,
    kind: Kind::Info,
    example: "raci log_incident",
    options: &[pos("action", "An action, e.g. log_incident", OptionKind::Text, false)],
};

pub(super) const WHOIS: CommandSpec = CommandSpec {
    name: "whois",
    aliases: &[],
    usage: "whois <itil-role>",
    summary: "Say which chat role and channel hold an ITIL role.",
    may: who::ANYONE,
    kind: Kind::Info,
    example: "whois incident_manager",
    options: &[pos(
        "role",
        "An ITIL role, e.g. incident_manager",
        OptionKind::Text,
        true,
    )],
};

pub(super) const WHOAMI: CommandSpec = CommandSpec {
    name: "whoami",
    aliases: &[],
    usage: "whoami",
    summary: "Your roles here and what they let you do.",
    may: who::ANYONE,
    kind: Kind::Info,
    example: "whoami",
    options: &[],
};

/// Types the arguments of one of this module's rows (the table-wide checks,
/// extra and missing positionals, are done by [`super::build`]).
pub(super) fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let at = |i: usize| args.positional.get(i).map(String::as_str);
    let text = |i: usize| at(i).map(str::to_owned);
    let cmd = match spec.name {
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
