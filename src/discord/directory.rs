//! The guild as config sees it: role and channel names resolved to ids when the
//! guild arrives, and role ids turned back into names for every event.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::config::Policy;
use crate::domain::RoleKey;

#[derive(Debug, Default)]
struct Inner {
    guild: Option<u64>,
    /// Role id → name.
    roles: HashMap<u64, String>,
    /// Lowercased channel name → id.
    channels: HashMap<String, u64>,
    /// Names already reported missing (each is logged once).
    reported: HashSet<String>,
}

/// Shared, cheap to read; written when a guild arrives.
#[derive(Debug, Default)]
pub struct Directory {
    inner: RwLock<Inner>,
}

impl Directory {
    /// Records a guild's roles and text channels, and logs config names that
    /// do not exist there (once each).
    pub fn load(
        &self,
        policy: &Policy,
        guild: u64,
        roles: impl IntoIterator<Item = (u64, String)>,
        channels: impl IntoIterator<Item = (u64, String)>,
    ) {
        let Ok(mut inner) = self.inner.write() else { return };
        inner.guild = Some(guild);
        inner.roles = roles.into_iter().collect();
        inner.channels = channels.into_iter().map(|(id, n)| (n.to_lowercase(), id)).collect();
        let mut missing = Vec::new();
        for def in policy.roles.values() {
            if resolve_role(&inner, &def.chat_role).is_none() {
                missing.push(format!("role `{}` (roles.{}.chat_role)", def.chat_role, def.key));
            }
            if resolve_channel(&inner, &def.channel).is_none() {
                missing.push(format!("channel `#{}` (roles.{}.channel)", def.channel, def.key));
            }
        }
        let status = &policy.outage.status_channel;
        if resolve_channel(&inner, status).is_none() {
            missing.push(format!("channel `#{status}` (outage.status_channel)"));
        }
        for s in policy.services.values() {
            if let Some(r) = &s.subscriber_role {
                if resolve_role(&inner, r).is_none() {
                    missing.push(format!(
                        "role `{r}` (services.{}.subscriber_role; shown as text, not pinged)",
                        s.key
                    ));
                }
            }
        }
        for m in missing {
            if inner.reported.insert(m.clone()) {
                tracing::warn!(
                    guild,
                    "{m} does not exist in the guild; routing there falls back to the service desk channel"
                );
            }
        }
    }

    pub fn is_ready(&self) -> bool {
        self.inner.read().map(|i| i.guild.is_some()).unwrap_or(false)
    }

    pub fn guild(&self) -> Option<u64> {
        self.inner.read().ok().and_then(|i| i.guild)
    }

    /// The ITIL roles of a member holding these Discord role ids.
    pub fn itil_roles(&self, policy: &Policy, role_ids: &[u64]) -> Vec<RoleKey> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let mut names: Vec<String> = role_ids.iter().filter_map(|id| inner.roles.get(id).cloned()).collect();
        names.extend(role_ids.iter().map(u64::to_string));
        policy.itil_roles(names.iter().map(String::as_str))
    }

    /// The Discord role holding an ITIL role, for a deliberate ping.
    pub fn role_id(&self, policy: &Policy, role: &RoleKey) -> Option<u64> {
        let def = policy.role(role)?;
        let inner = self.inner.read().ok()?;
        resolve_role(&inner, &def.chat_role)
    }

    /// A Discord role by name or id (a service's subscriber role), for a deliberate ping.
    pub fn chat_role_id(&self, name_or_id: &str) -> Option<u64> {
        let inner = self.inner.read().ok()?;
        resolve_role(&inner, name_or_id)
    }

    /// A channel by id or name; `None` when the guild has no such channel.
    pub fn channel(&self, name_or_id: &str) -> Option<u64> {
        let inner = self.inner.read().ok()?;
        resolve_channel(&inner, name_or_id)
    }

    /// The outage status channel, falling back to the service desk's channel
    /// so notices are never lost to a missing `#status`.
    pub fn status_channel(&self, policy: &Policy) -> Option<u64> {
        self.channel(&policy.outage.status_channel)
            .or_else(|| self.role_channel(policy, &policy.service_desk()))
    }

    /// The working channel of an ITIL role, falling back to the service desk's.
    pub fn role_channel(&self, policy: &Policy, role: &RoleKey) -> Option<u64> {
        policy.role(role).and_then(|d| self.channel(&d.channel)).or_else(|| {
            policy
                .role(&policy.service_desk())
                .and_then(|d| self.channel(&d.channel))
        })
    }
}

fn resolve_role(inner: &Inner, name_or_id: &str) -> Option<u64> {
    if let Ok(id) = name_or_id.parse::<u64>() {
        if inner.roles.contains_key(&id) {
            return Some(id);
        }
    }
    inner
        .roles
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name_or_id))
        .map(|(id, _)| *id)
}

fn resolve_channel(inner: &Inner, name_or_id: &str) -> Option<u64> {
    let name = name_or_id.trim_start_matches('#');
    if let Ok(id) = name.parse::<u64>() {
        if inner.channels.values().any(|c| *c == id) {
            return Some(id);
        }
    }
    inner.channels.get(&name.to_lowercase()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_ids_and_missing_channels_fall_back_to_the_service_desk() {
        let policy = Policy::defaults();
        let dir = Directory::default();
        assert!(!dir.is_ready());
        dir.load(
            &policy,
            1,
            [(10, "Service Desk".to_owned()), (11, "cab".to_owned())],
            [(20, "service-desk".to_owned()), (21, "CAB".to_owned())],
        );
        assert!(dir.is_ready());
        let sd = policy.service_desk();
        assert_eq!(dir.role_id(&policy, &sd), Some(10));
        assert_eq!(dir.role_channel(&policy, &sd), Some(20));
        let cab = RoleKey::parse("cab").unwrap();
        assert_eq!(dir.role_channel(&policy, &cab), Some(21));
        let im = policy.incident_manager();
        assert_eq!(
            dir.role_channel(&policy, &im),
            Some(20),
            "#incident-management is missing"
        );
        assert_eq!(dir.role_id(&policy, &im), None);
        assert_eq!(dir.chat_role_id("CAB"), Some(11));
        assert_eq!(dir.chat_role_id("10"), Some(10));
        assert_eq!(dir.chat_role_id("Email Subscribers"), None);
        let roles = dir.itil_roles(&policy, &[10, 11, 99]);
        assert_eq!(
            roles.iter().map(RoleKey::as_str).collect::<Vec<_>>(),
            ["cab", "service_desk"]
        );
        assert_eq!(dir.channel("#cab"), Some(21));
        assert_eq!(dir.channel("20"), Some(20));
        assert_eq!(dir.channel("nowhere"), None);
        assert_eq!(dir.status_channel(&policy), Some(20), "#status is missing");
        dir.load(
            &policy,
            1,
            [],
            [(20, "service-desk".to_owned()), (22, "Status".to_owned())],
        );
        assert_eq!(dir.status_channel(&policy), Some(22));
    }
}
