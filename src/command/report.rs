//! The row of `!report` and its parser: a period (`7d`, `30d`, `2026-11`,
//! `2026-11-01..2026-11-15`; the last 7 days when none is given) and the
//! `service=` and `priority=` filters. The period stays a
//! [`PeriodSpec`]: the desk resolves it with the action's clock.

use super::{named, pos, who, Args, Command, CommandSpec, Kind, OptionKind, UsageError};
use crate::domain::priority::Priority;
use crate::domain::report::PeriodSpec;

const PRIORITIES: &[&str] = &["P1", "P2", "P3", "P4", "P5"];

pub(super) const REPORT: CommandSpec = CommandSpec {
    name: "report",
    aliases: &["stats"],
    usage: "report [7d|30d|<YYYY-MM>|<from>..<to>] [service=<name>] [priority=P1..P5]",
    summary: "Service figures: volume, MTTA/MTTR, SLA met, reopens, satisfaction, escalations, changes, outages.",
    may: who::REPORT_READERS,
    kind: Kind::Reports,
    example: "report 30d service=email",
    options: &[
        pos(
            "period",
            "7d, 30d, a month (2026-11) or days (2026-11-01..2026-11-15)",
            OptionKind::Text,
            false,
        ),
        named("service", "Only this service", OptionKind::Text),
        named(
            "priority",
            "Only incidents of this priority",
            OptionKind::Choice(PRIORITIES),
        ),
    ],
};

/// Types the arguments of `!report`.
pub(super) fn build(spec: &'static CommandSpec, args: Args) -> Result<Command, UsageError> {
    let err = |problem: String| UsageError { command: spec, problem };
    let period = match args.positional.first() {
        None => PeriodSpec::LastDays(7),
        Some(t) => PeriodSpec::parse(t).map_err(|e| err(e.to_string()))?,
    };
    let priority = match args.named.get("priority") {
        None => None,
        Some(p) => {
            let echo: String = p.chars().take(20).collect();
            Some(Priority::parse(p).ok_or_else(|| err(format!("`{echo}` is not a priority: P1 to P5")))?)
        }
    };
    let service = args.named.get("service").map(|s| s.to_lowercase());
    Ok(Command::Report {
        period,
        service,
        priority,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use crate::command::{parse, Command};
    use crate::domain::priority::Priority;
    use crate::domain::report::PeriodSpec;

    #[test]
    fn report_reads_a_period_and_filters() {
        assert_eq!(
            parse("!", "!report").unwrap().unwrap(),
            Command::Report {
                period: PeriodSpec::LastDays(7),
                service: None,
                priority: None
            }
        );
        assert_eq!(
            parse("!", "!report 2026-11 service=Mail priority=p1").unwrap().unwrap(),
            Command::Report {
                period: PeriodSpec::Month(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
                service: Some("mail".into()),
                priority: Priority::from_level(1)
            }
        );
    }

    #[test]
    fn report_refuses_a_bad_period_or_priority_with_a_reason() {
        let e = parse("!", "!report fortnight").unwrap().unwrap_err();
        assert!(e.problem.contains("`fortnight` is not a period"), "{}", e.problem);
        let e = parse("!", "!report 30d priority=P9").unwrap().unwrap_err();
        assert!(e.problem.contains("P1 to P5"), "{}", e.problem);
    }
}
