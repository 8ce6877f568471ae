//! Sentences of the reference commands: `!help`, `!raci` and `!whois`.
//!
//! Shared helpers come from the parent module.

use crate::command::CommandSpec;
use crate::config::Policy;
use crate::domain::raci::{Action, RaciRow};

use super::{neutralize, truncate};

/// The command list: one line each (name and the first sentence of its
/// summary), so it fits one Discord message; `!help <command>` gives the usage.
pub fn help_list(prefix: &str, commands: &[&CommandSpec]) -> String {
    let mut s = String::from("Commands you may run:");
    for c in commands {
        let first = c.summary.split_inclusive(". ").next().unwrap_or(c.summary).trim_end();
        s.push_str(&format!("\n`{prefix}{}` — {first}", c.name));
    }
    s.push_str(&format!("\n`{prefix}help <command>` shows how to use one."));
    s
}

pub fn help_one(prefix: &str, c: &CommandSpec) -> String {
    let mut s = format!("`{prefix}{}`\n{}", c.usage, c.summary);
    if !c.aliases.is_empty() {
        let aliases: Vec<String> = c.aliases.iter().map(|a| format!("`{prefix}{a}`")).collect();
        s.push_str(&format!("\nAlso: {}", aliases.join(", ")));
    }
    s
}

fn row_line(policy: &Policy, action: Action, row: &RaciRow) -> String {
    let name = |r: &crate::domain::raci::RoleRef| match r {
        crate::domain::raci::RoleRef::Role(k) => policy.role_name(k),
        other => other.to_string(),
    };
    let list = |v: &[crate::domain::raci::RoleRef]| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.iter().map(name).collect::<Vec<_>>().join(", ")
        }
    };
    format!(
        "{action}: R {} · A {} · C {} · I {}",
        name(&row.responsible),
        name(&row.accountable),
        list(&row.consulted),
        list(&row.informed)
    )
}

pub fn raci_all(policy: &Policy) -> String {
    let mut s = String::from("RACI matrix (Responsible · Accountable · Consulted · Informed):");
    for (a, row) in policy.raci.rows() {
        s.push('\n');
        s.push_str(&row_line(policy, a, row));
    }
    s.push('\n');
    s.push_str(&placeholders(policy));
    s
}

pub fn raci_one(policy: &Policy, action: Action) -> String {
    format!(
        "{}\n{}",
        row_line(policy, action, policy.raci.row(action)),
        placeholders(policy)
    )
}

/// What the row placeholders stand for, per service: the routing resolves
/// them the same way (`desk/fanout.rs`).
fn placeholders(policy: &Policy) -> String {
    let owners: Vec<String> = policy
        .services
        .values()
        .map(|s| format!("{} → {}", s.name, policy.role_name(&s.owner)))
        .collect();
    format!(
        "`@service_owner` is the owner of the record's service ({}; {} without a service); \
         `@assignment_group` is the support tier holding the incident.",
        owners.join(", "),
        policy.role_name(&policy.incident_manager())
    )
}

pub fn unknown_action(name: &str, suggestion: Option<&str>) -> String {
    let hint = suggestion.map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default();
    format!(
        "`{}` is not an action in the RACI matrix.{hint}",
        neutralize(&truncate(name, 40))
    )
}

pub fn unknown_role(name: &str, suggestion: Option<&str>) -> String {
    let hint = suggestion.map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default();
    format!(
        "`{}` is not an ITIL role here.{hint} `!raci` lists the roles in use.",
        neutralize(&truncate(name, 40))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::MESSAGE_LIMIT;

    #[test]
    fn the_full_command_list_splits_between_commands_and_anyones_list_fits_one_message() {
        let all: Vec<&CommandSpec> = crate::command::COMMANDS.iter().collect();
        let text = help_list("!", &all);
        let parts = crate::render::split(&text, MESSAGE_LIMIT);
        assert!(parts.len() <= 2, "{} parts", parts.len());
        for part in &parts {
            assert!(part.chars().count() <= MESSAGE_LIMIT);
            // Parts break between commands' lines, never inside one.
            for line in part
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with("Commands"))
            {
                assert!(
                    line.starts_with("`!") || line.trim() == crate::render::MORE.trim(),
                    "{line}"
                );
            }
        }
        let anyone: Vec<&CommandSpec> = crate::command::COMMANDS
            .iter()
            .filter(|c| c.may.contains(&crate::domain::party::Party::Anyone))
            .collect();
        assert!(help_list("!", &anyone).chars().count() < MESSAGE_LIMIT);
    }
}
