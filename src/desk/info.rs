//! Read-only answers from config: help, the RACI matrix, who holds a role.

use super::{rejected, Actor, Desk, DeskResult, Reply};
use crate::command::{spec, COMMANDS};
use crate::domain::raci::Action;
use crate::domain::text::nearest;
use crate::render;

pub(crate) fn help(desk: &Desk, actor: &Actor, command: Option<&str>) -> DeskResult<Reply> {
    let prefix = &desk.policy().prefix;
    match command {
        None => {
            let list = super::permit::commands_for(desk, &actor.roles);
            Ok(Reply::public(render::help_list(prefix, &list)))
        }
        Some(name) => {
            let name = name.trim_start_matches(prefix.as_str());
            match spec(name) {
                Some(c) => Ok(Reply::public(render::help_one(desk.policy(), c))),
                None => {
                    let names = COMMANDS
                        .iter()
                        .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()));
                    let suggestion = nearest(name, names).and_then(spec).map(|c| c.name);
                    rejected(render::unknown_command(prefix, name, suggestion))
                }
            }
        }
    }
}

pub(crate) fn raci(desk: &Desk, action: Option<&str>) -> DeskResult<Reply> {
    let policy = desk.policy();
    match action {
        None => Ok(Reply::public(render::raci_all(policy))),
        Some(a) => match Action::parse(a) {
            Some(action) => Ok(Reply::public(render::raci_one(policy, action))),
            None => rejected(render::unknown_action(
                a,
                nearest(a, Action::ALL.iter().map(|x| x.as_str())),
            )),
        },
    }
}

pub(crate) fn whois(desk: &Desk, role: &str) -> DeskResult<Reply> {
    let policy = desk.policy();
    match policy.find_role(role) {
        Some(def) => Ok(Reply::public(render::whois(policy, def))),
        None => {
            let keys = policy.roles.keys().map(|k| k.as_str());
            let guess = role.trim().to_lowercase().replace([' ', '-'], "_");
            rejected(render::unknown_role(role, nearest(&guess, keys)))
        }
    }
}
