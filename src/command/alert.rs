//! The alert row of the command table: `!alerts`, the open incidents that
//! monitoring alerts raised, with their fingerprints and counts.

use super::{who, Args, Command, CommandSpec, Kind, UsageError};

pub(super) const ALERTS: CommandSpec = CommandSpec {
    name: "alerts",
    aliases: &[],
    usage: "alerts",
    summary: "List the open incidents raised by monitoring alerts, with their fingerprints and counts.",
    may: who::AGENTS,
    kind: Kind::Incidents,
    example: "alerts",
    options: &[],
};

/// Types the arguments of this module's row.
pub(super) fn build(spec: &'static CommandSpec, _args: Args) -> Result<Command, UsageError> {
    match spec.name {
        "alerts" => Ok(Command::Alerts),
        other => Err(UsageError {
            command: spec,
            problem: format!("`{other}` has no parser"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::command::{parse, Command};

    #[test]
    fn alerts_takes_no_arguments() {
        assert_eq!(parse("!", "!alerts").unwrap().unwrap(), Command::Alerts);
        assert!(parse("!", "!alerts now").unwrap().is_err());
    }
}
