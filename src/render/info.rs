//! Sentences of the reference commands: `!help`, `!raci` and `!whois`.
//!
//! Shared helpers come from the parent module.

use crate::command::{CommandSpec, Kind};
use crate::config::Policy;
use crate::domain::raci::{Action, RaciRow};

use super::{neutralize, truncate};

fn kind_title(kind: Kind) -> &'static str {
    match kind {
        Kind::Incidents => "Incidents",
        Kind::Outages => "Outages and services",
        Kind::Changes => "Changes and the CAB",
        Kind::Problems => "Problems and known errors",
        Kind::Reports => "Reports",
        Kind::Info => "The desk",
    }
}

/// The commands the caller may run, grouped by kind, one line each (name
/// and the first sentence of its summary) and one example per group;
/// `!help <command>` gives the usage, who may run it and an example.
pub fn help_list(prefix: &str, commands: &[&CommandSpec]) -> String {
    let mut s = format!("Commands you may run (`{prefix}help <command>` explains one):");
    for kind in Kind::ALL {
        let group: Vec<&&CommandSpec> = commands.iter().filter(|c| c.kind == kind).collect();
        let Some(first) = group.first() else {
            continue;
        };
        s.push_str(&format!("\n**{}**", kind_title(kind)));
        for c in &group {
            let line = c.summary.split_inclusive(". ").next().unwrap_or(c.summary).trim_end();
            s.push_str(&format!("\n`{prefix}{}` — {line}", c.name));
        }
        s.push_str(&format!("\n  e.g. `{prefix}{}`", first.example));
    }
    s
}

/// One command: its usage, what it does, who may run it, an example and
/// its other names.
pub fn help_one(policy: &Policy, c: &CommandSpec) -> String {
    let prefix = &policy.prefix;
    let mut s = format!(
        "`{prefix}{}`\n{}\nWho may run it: {}.\nExample: `{prefix}{}`",
        c.usage,
        c.summary,
        super::who_may(policy, c),
        c.example
    );
    if !c.aliases.is_empty() {
        let aliases: Vec<String> = c.aliases.iter().map(|a| format!("`{prefix}{a}`")).collect();
        s.push_str(&format!("\nAlso: {}", aliases.join(", ")));
    }
    s
}

/// A RACI action in words: `cab_vote` → `CAB vote`.
fn action_words(action: Action) -> String {
    let words: Vec<String> = action
        .as_str()
        .split('_')
        .enumerate()
        .map(|(i, w)| match w {
            "cab" | "sla" => w.to_uppercase(),
            _ if i == 0 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => w.to_owned(),
        })
        .collect();
    words.join(" ")
}

fn row_line(policy: &Policy, action: Action, row: &RaciRow) -> String {
    use crate::domain::raci::RoleRef;
    let name = |r: &RoleRef| match r {
        RoleRef::Role(k) => policy.role_name(k),
        RoleRef::ServiceOwner => "the service's owner".to_owned(),
        RoleRef::AssignmentGroup => "the assignment group".to_owned(),
    };
    let list = |v: &[crate::domain::raci::RoleRef]| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.iter().map(name).collect::<Vec<_>>().join(", ")
        }
    };
    format!(
        "{} (`{action}`): R {} · A {} · C {} · I {}",
        action_words(action),
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
        "The service's owner is the owner role of the record's service ({}; {} without a service); \
         the assignment group is the support tier holding the incident.",
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
                let whole = line.starts_with("`!") || line.starts_with("**") || line.starts_with("  e.g. `!");
                assert!(whole || line.trim() == crate::render::MORE.trim(), "{line}");
            }
        }
        let anyone: Vec<&CommandSpec> = crate::command::COMMANDS
            .iter()
            .filter(|c| c.may.contains(&crate::domain::party::Party::Anyone))
            .collect();
        assert!(help_list("!", &anyone).chars().count() < MESSAGE_LIMIT);
    }
}
