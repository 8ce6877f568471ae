//! The sentences of the RACI fan-out (`desk/fanout.rs`): what a consulted
//! role is asked.

use crate::config::Policy;
use crate::domain::change::Change;
use crate::domain::incident::Incident;
use crate::domain::raci::Action;

use super::{neutralize, truncate};

/// A consulted role's question about an incident.
pub fn consulted_incident(policy: &Policy, action: Action, inc: &Incident) -> String {
    format!(
        "Your input is asked ({action}): {} {} — {} (handled by {}). Reply in its thread or with `{}note {} <text>`.",
        inc.id,
        inc.priority,
        neutralize(&truncate(&inc.title, 200)),
        policy.role_name(&inc.handler_role),
        policy.prefix,
        inc.id
    )
}

/// A consulted role's question about a change.
pub fn consulted_change(policy: &Policy, action: Action, ch: &Change) -> String {
    format!(
        "Your input is asked ({action}): {} on {} — {} ({}). `{}show {}` has the details; tell the change manager what you see.",
        ch.id,
        super::service_name(policy, &ch.service),
        neutralize(&truncate(&ch.title, 200)),
        ch.state.as_str(),
        policy.prefix,
        ch.id
    )
}

/// A consulted role's question about anything else: the notice, asked.
pub fn consulted_notice(action: Action, told: &str) -> String {
    format!("Your input is asked ({action}): {told}")
}

/// `!whois <role>`: where a role works and what the matrix gives it, with the
/// placeholders resolved: `@service_owner` rows for the services it owns,
/// `@assignment_group` rows when it is a support tier, so `!whois`, `!raci`
/// and the routing agree.
pub fn whois(policy: &Policy, role: &crate::config::RoleDef) -> String {
    use crate::domain::raci::RoleRef;
    let owned = policy.services_owned_by(std::slice::from_ref(&role.key));
    let is_tier = policy.is_support_tier(&role.key);
    let fallback = policy.incident_manager() == role.key;
    // How this role stands for one reference of a row, if it does.
    let stands = |r: &RoleRef| -> Option<String> {
        match r {
            RoleRef::Role(k) if *k == role.key => Some(String::new()),
            RoleRef::ServiceOwner if !owned.is_empty() || fallback => Some(" (@service_owner)".to_owned()),
            RoleRef::AssignmentGroup if is_tier => Some(" (@assignment_group)".to_owned()),
            _ => None,
        }
    };
    // What the placeholders stand for, said once.
    let mut standing = Vec::new();
    if !owned.is_empty() {
        standing.push(format!("`@service_owner` for {}", owned.join(", ")));
    }
    if fallback {
        standing.push("`@service_owner` for records without a service".to_owned());
    }
    if is_tier {
        standing.push("`@assignment_group` when its tier holds the incident".to_owned());
    }
    let standing = if standing.is_empty() {
        String::new()
    } else {
        format!("\nStands for {}.", standing.join("; "))
    };
    let (mut r_for, mut a_for, mut c_for, mut i_for) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (action, row) in policy.raci.rows() {
        if let Some(how) = stands(&row.responsible) {
            r_for.push(format!("{action}{how}"));
        }
        if let Some(how) = stands(&row.accountable) {
            a_for.push(format!("{action}{how}"));
        }
        if let Some(how) = row.consulted.iter().find_map(&stands) {
            c_for.push(format!("{action}{how}"));
        }
        if let Some(how) = row.informed.iter().find_map(&stands) {
            i_for.push(format!("{action}{how}"));
        }
    }
    let list = |v: &[String]| if v.is_empty() { "—".to_owned() } else { v.join(", ") };
    let agent = if policy.agents.contains(&role.key) {
        " Agents may triage any incident."
    } else {
        ""
    };
    format!(
        "{} (`{}`) is held by chat role `{}` and works in #{}.{agent}{standing}\nResponsible for: {}\nAccountable for: {}\nConsulted on: {}\nInformed of: {}",
        role.name,
        role.key,
        role.chat_role,
        role.channel,
        list(&r_for),
        list(&a_for),
        list(&c_for),
        list(&i_for)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whois_of(key: &str) -> String {
        let policy = Policy::defaults();
        let role = policy.find_role(key).expect("a default role");
        whois(&policy, role)
    }

    #[test]
    fn whois_resolves_the_placeholders_so_it_agrees_with_raci() {
        let owner = whois_of("email_owner");
        assert!(owner.contains("Stands for `@service_owner` for Email"), "{owner}");
        assert!(
            owner.contains("Accountable for: escalate_hierarchical (@service_owner)"),
            "{owner}"
        );
        assert!(
            owner.contains("Consulted on: change_request (@service_owner)"),
            "{owner}"
        );
        let tier = whois_of("systems_support");
        assert!(
            tier.contains("`@assignment_group` when its tier holds the incident"),
            "{tier}"
        );
        assert!(
            tier.contains("Responsible for: update_incident (@assignment_group)"),
            "{tier}"
        );
        // A role named in a row by itself needs no placeholder.
        let im = whois_of("incident_manager");
        assert!(im.contains("Accountable for: log_incident,"), "{im}");
    }
}
