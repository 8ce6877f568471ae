//! The outage rows of the command table and their parsers: `!outage` (declaring,
//! and its `update` / `resolve` / `show` sub-commands, with the service keys they
//! reserve) and the service subscriptions (`!services`, `!subscribe`,
//! `!unsubscribe`, `!subscriptions`). `!status` with no arguments also lists
//! outages, but its row is the incident one (see `incident`).

use crate::domain::outage::{OutageId, OutageImpact, IMPACTS};

use super::{named, pos, shorten, who, Args, Command, CommandSpec, Kind, OptionKind, UsageError};

pub(super) const OUTAGE: CommandSpec = CommandSpec {
    name: "outage",
    aliases: &[],
    usage: "outage <service> <summary> [impact=partial|major] | update OUT-<n> <text> [impact=…] | resolve OUT-<n> [text] | show OUT-<n> | link OUT-<n> INC-<m>",
    summary: "Declare, update or resolve an outage; subscribers and the status channel are told.",
    may: who::OUTAGE_ROLES,
    kind: Kind::Outages,
    example: "outage email Mail delivery delayed impact=major",
    options: &[
        pos("target", "The service, or update / resolve / show", OptionKind::Text, true),
        pos("text", "The summary; after update/resolve/show: OUT-n (and the text)", OptionKind::Text, false),
        named("impact", "How badly the service is hit", OptionKind::Choice(&IMPACTS)),
    ],
};

pub(super) const SERVICES: CommandSpec = CommandSpec {
    name: "services",
    aliases: &[],
    usage: "services",
    summary: "List the services with their owners and whether they are up.",
    may: who::ANYONE,
    kind: Kind::Outages,
    example: "services",
    options: &[],
};

pub(super) const SUBSCRIBE: CommandSpec = CommandSpec {
    name: "subscribe",
    aliases: &["sub"],
    usage: "subscribe <service>",
    summary: "Be told by direct message about outages of a service.",
    may: who::ANYONE,
    kind: Kind::Outages,
    example: "subscribe email",
    options: &[pos("service", "The service, e.g. email", OptionKind::Text, true)],
};

pub(super) const UNSUBSCRIBE: CommandSpec = CommandSpec {
    name: "unsubscribe",
    aliases: &["unsub"],
    usage: "unsubscribe <service>",
    summary: "Stop outage messages about a service.",
    may: who::ANYONE,
    kind: Kind::Outages,
    example: "unsubscribe email",
    options: &[pos("service", "The service, e.g. email", OptionKind::Text, true)],
};

pub(super) const SUBSCRIPTIONS: CommandSpec = CommandSpec {
    name: "subscriptions",
    aliases: &[],
    usage: "subscriptions",
    summary: "List the services you are subscribed to.",
    may: who::ANYONE,
    kind: Kind::Outages,
    example: "subscriptions",
    options: &[],
};

/// Types the arguments of one of this module's rows (the table-wide checks,
/// extra and missing positionals, are done by [`super::build`]).
pub(super) fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let at = |i: usize| args.positional.get(i).map(String::as_str);
    let text = |i: usize| at(i).map(str::to_owned);
    let cmd = match spec.name {
        "outage" => outage(spec, &args)?,
        "services" => Command::Services,
        "subscribe" => Command::Subscribe {
            service: text(0).unwrap_or_default(),
        },
        "unsubscribe" => Command::Unsubscribe {
            service: text(0).unwrap_or_default(),
        },
        "subscriptions" => Command::Subscriptions,
        other => return Err(err(format!("`{other}` has no parser"))),
    };
    Ok(cmd)
}

/// Service keys that `!outage` reads as subcommands.
pub const RESERVED_SERVICE_KEYS: [&str; 4] = ["update", "resolve", "show", "link"];

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
    if sub == "link" {
        let incident = crate::domain::incident::IncidentId::parse(body).ok_or_else(|| {
            err(format!(
                "say which incident: `link {id} INC-<n>`, not `{}`",
                shorten(body)
            ))
        })?;
        return Ok(Command::OutageLink { id, incident });
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::tests::p;

    #[test]
    fn wrong_arguments_say_what_was_wrong() {
        let cases = [
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
            (
                "!outage link OUT-1",
                "outage: say which incident: `link OUT-1 INC-<n>`, not ``",
            ),
            (
                "!outage link OUT-1 INC-2 INC-3",
                "outage: say which incident: `link OUT-1 INC-<n>`, not `INC-2 INC-3`",
            ),
            ("!subscribe", "subscribe: missing <service>"),
            ("!services now", "services: unexpected `now`"),
        ];
        for (line, expected) in cases {
            assert_eq!(p(line).unwrap_err(), expected, "{line}");
        }
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
}
