//! The desk's guild as config sees it: which guild is the desk's, and the role
//! and channel names of config resolved to ids when that guild arrives.
//!
//! Trust is by identity. Only one guild is the desk's (`discord.guild_id`, or
//! the one guild the bot is in); every other guild is foreign, and nothing
//! here ever holds its roles or channels. A role name in config binds to
//! exactly one role id when the guild arrives (two roles with that name
//! refuse start-up, naming both ids, unless config gives the id); from then on
//! membership is checked by that id. A role created, renamed or deleted later
//! can only take trust away at once (a bound role deleted or renamed away, a
//! name made ambiguous); it never grants anything until the desk re-resolves
//! the guild (the next GUILD_CREATE: a restart or a new session) with the same
//! uniqueness rule. Every change is logged: an impostor role with a borrowed
//! name never grants anything.
//!
//! No serenity here: the adapter feeds plain ids and names.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::RwLock;

use crate::config::Policy;
use crate::domain::RoleKey;

/// What a guild is to the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The desk's own guild.
    Desk,
    /// Another guild: ignored. `first` is true the first time it is asked about.
    Foreign { first: bool },
    /// The desk's guild is not known yet (before READY).
    Unknown,
}

#[derive(Debug, Default)]
struct Inner {
    /// `discord.guild_id`, when set.
    configured: Option<u64>,
    /// The desk's guild, once known.
    desk: Option<u64>,
    /// The guilds the last READY listed (none before the first).
    ready: Option<Vec<u64>>,
    /// Whether the desk's guild was loaded once (start-up rules apply before).
    loaded: bool,
    /// The desk guild's roles: id → name.
    roles: HashMap<u64, String>,
    /// Each role reference in config (as written, lowercased) → the one role id it means.
    bindings: BTreeMap<String, u64>,
    /// Lowercased channel name → id, in the desk's guild.
    channels: HashMap<String, u64>,
    /// Names already reported missing (each is logged once).
    reported: HashSet<String>,
    /// Foreign guilds already reported (each is logged once).
    foreign: HashSet<u64>,
}

/// Shared, cheap to read; written when a guild or role event arrives.
#[derive(Debug, Default)]
pub struct Directory {
    inner: RwLock<Inner>,
}

/// How a config role reference resolves against the guild's roles.
#[derive(Debug, PartialEq, Eq)]
enum Resolution {
    One(u64),
    Missing,
    Ambiguous(Vec<u64>),
}

impl Directory {
    /// A directory for the guild config names (`discord.guild_id`), if any.
    pub fn new(configured: Option<u64>) -> Self {
        Self {
            inner: RwLock::new(Inner {
                configured,
                desk: configured,
                ..Inner::default()
            }),
        }
    }

    /// Records the guilds a READY lists and decides which is the desk's.
    /// `Err` names why the bot refuses to serve (it will not guess).
    pub fn ready(&self, guilds: &[u64]) -> Result<Option<u64>, String> {
        let Ok(mut inner) = self.inner.write() else {
            return Ok(None);
        };
        inner.ready = Some(guilds.to_vec());
        if let Some(desk) = inner.configured {
            if !guilds.contains(&desk) {
                tracing::warn!(
                    guild = desk,
                    "opsdesk is not in the guild discord.guild_id names; it serves nobody until it is added there"
                );
            }
            return Ok(Some(desk));
        }
        match guilds {
            [] => {
                tracing::warn!(
                    "opsdesk is in no guild yet; the first guild it joins becomes the desk (set discord.guild_id to choose)"
                );
                Ok(inner.desk)
            }
            [one] => {
                if inner.desk.is_some_and(|d| d != *one) {
                    return Err(format!(
                        "the desk's guild {} is gone and opsdesk is now in guild {one}; set discord.guild_id (DISCORD_GUILD_ID) to choose",
                        inner.desk.unwrap_or_default()
                    ));
                }
                if inner.desk.is_none() {
                    tracing::info!(
                        guild = *one,
                        "discord.guild_id is not set and opsdesk is in exactly one guild: that guild is the desk"
                    );
                }
                inner.desk = Some(*one);
                Ok(Some(*one))
            }
            many => {
                let ids: Vec<String> = many.iter().map(u64::to_string).collect();
                Err(format!(
                    "opsdesk is in {} guilds ({}) and discord.guild_id is not set: refusing to guess which is the desk; set discord.guild_id (DISCORD_GUILD_ID)",
                    many.len(),
                    ids.join(", ")
                ))
            }
        }
    }

    /// Whether a READY has been seen (so the desk's guild is decided, if it can be).
    pub fn has_ready(&self) -> bool {
        self.inner.read().map(|i| i.ready.is_some()).unwrap_or(false)
    }

    /// What `guild` is to the desk. A guild joined while the bot was in none
    /// (and none is configured) becomes the desk.
    pub fn standing(&self, guild: u64) -> Standing {
        {
            let Ok(inner) = self.inner.read() else {
                return Standing::Unknown;
            };
            match inner.desk {
                Some(d) if d == guild => return Standing::Desk,
                Some(_) if inner.foreign.contains(&guild) => return Standing::Foreign { first: false },
                None if inner.ready.is_none() => return Standing::Unknown,
                _ => {}
            }
        }
        let Ok(mut inner) = self.inner.write() else {
            return Standing::Unknown;
        };
        if inner.desk.is_none() && inner.ready.as_ref().is_some_and(Vec::is_empty) {
            tracing::info!(guild, "opsdesk joined its first guild: that guild is the desk");
            inner.desk = Some(guild);
            return Standing::Desk;
        }
        if inner.desk == Some(guild) {
            return Standing::Desk;
        }
        Standing::Foreign {
            first: inner.foreign.insert(guild),
        }
    }

    /// Whether an event from `guild` is the desk's business.
    pub fn is_desk(&self, guild: u64) -> bool {
        self.inner.read().map(|i| i.desk == Some(guild)).unwrap_or(false)
    }

    /// Records the desk guild's roles and text channels, binds config role
    /// names to role ids, and logs config names that do not exist there (once
    /// each). The first load refuses a role name two roles share (`Err` names
    /// both ids); later loads keep the binding they had and log it.
    pub fn load(
        &self,
        policy: &Policy,
        guild: u64,
        roles: impl IntoIterator<Item = (u64, String)>,
        channels: impl IntoIterator<Item = (u64, String)>,
    ) -> Result<(), String> {
        let Ok(mut inner) = self.inner.write() else {
            return Ok(());
        };
        if inner.desk != Some(guild) {
            return Ok(());
        }
        inner.roles = roles.into_iter().collect();
        inner.channels = channels.into_iter().map(|(id, n)| (n.to_lowercase(), id)).collect();
        if !inner.loaded {
            let mut clashes = Vec::new();
            for (reference, field) in role_references(policy) {
                if let Resolution::Ambiguous(ids) = resolve_role(&inner, &reference) {
                    clashes.push(ambiguity(&reference, &field, &ids));
                }
            }
            if !clashes.is_empty() {
                return Err(format!(
                    "{}; give the role's id in config instead of its name",
                    clashes.join("; ")
                ));
            }
        }
        rebind(&mut inner, policy, guild, true);
        inner.loaded = true;
        let mut missing = Vec::new();
        for def in policy.roles.values() {
            if !inner.bindings.contains_key(&def.chat_role.to_lowercase()) {
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
                if !inner.bindings.contains_key(&r.to_lowercase()) {
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
        Ok(())
    }

    /// A role of the desk's guild was created or changed: re-resolves every
    /// config role name with the uniqueness rule (logged).
    pub fn role_changed(&self, policy: &Policy, guild: u64, id: u64, name: &str) {
        let Ok(mut inner) = self.inner.write() else { return };
        if inner.desk != Some(guild) || !inner.loaded {
            return;
        }
        inner.roles.insert(id, name.to_owned());
        rebind(&mut inner, policy, guild, false);
    }

    /// A channel of the desk's guild was created or renamed: it can be routed to by name.
    pub fn channel_changed(&self, guild: u64, id: u64, name: &str) {
        let Ok(mut inner) = self.inner.write() else { return };
        if inner.desk != Some(guild) || !inner.loaded {
            return;
        }
        inner.channels.retain(|_, c| *c != id);
        inner.channels.insert(name.to_lowercase(), id);
    }

    /// A role of the desk's guild was deleted: re-resolves (logged).
    pub fn role_deleted(&self, policy: &Policy, guild: u64, id: u64) {
        let Ok(mut inner) = self.inner.write() else { return };
        if inner.desk != Some(guild) || !inner.loaded {
            return;
        }
        inner.roles.remove(&id);
        rebind(&mut inner, policy, guild, false);
    }

    pub fn is_ready(&self) -> bool {
        self.inner.read().map(|i| i.loaded).unwrap_or(false)
    }

    /// The desk's guild, once known.
    pub fn guild(&self) -> Option<u64> {
        self.inner.read().ok().and_then(|i| i.desk)
    }

    /// The ITIL roles of a member holding these Discord role ids: only the
    /// role ids config names are bound to count.
    pub fn itil_roles(&self, policy: &Policy, role_ids: &[u64]) -> Vec<RoleKey> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let held: Vec<&str> = policy
            .roles
            .values()
            .filter(|d| {
                inner
                    .bindings
                    .get(&d.chat_role.to_lowercase())
                    .is_some_and(|id| role_ids.contains(id))
            })
            .map(|d| d.chat_role.as_str())
            .collect();
        policy.itil_roles(held)
    }

    /// The Discord role holding an ITIL role, for a deliberate ping.
    pub fn role_id(&self, policy: &Policy, role: &RoleKey) -> Option<u64> {
        let def = policy.role(role)?;
        self.chat_role_id(&def.chat_role)
    }

    /// A Discord role config names (a service's subscriber role), for a deliberate ping.
    pub fn chat_role_id(&self, name_or_id: &str) -> Option<u64> {
        let inner = self.inner.read().ok()?;
        inner.bindings.get(&name_or_id.trim().to_lowercase()).copied()
    }

    /// A channel of the desk's guild by id or name; `None` when it has no such channel.
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

/// Every role reference in config with the key that holds it.
fn role_references(policy: &Policy) -> Vec<(String, String)> {
    let mut refs: Vec<(String, String)> = policy
        .roles
        .values()
        .map(|d| (d.chat_role.clone(), format!("roles.{}.chat_role", d.key)))
        .collect();
    for s in policy.services.values() {
        if let Some(r) = &s.subscriber_role {
            refs.push((r.clone(), format!("services.{}.subscriber_role", s.key)));
        }
    }
    refs
}

fn ambiguity(reference: &str, field: &str, ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!(
        "role `{reference}` ({field}) names {} roles: {}",
        ids.len(),
        ids.join(" and ")
    )
}

/// Binds each config role reference with the uniqueness rule: one role of
/// that name (or the id itself) binds; none unbinds; several keep the binding
/// only if it is one of them. Without `widen` (a role event between loads) a
/// binding can only be kept or dropped, never made. Every change is logged.
fn rebind(inner: &mut Inner, policy: &Policy, guild: u64, widen: bool) {
    for (reference, field) in role_references(policy) {
        let key = reference.trim().to_lowercase();
        let old = inner.bindings.get(&key).copied();
        match resolve_role(inner, &reference) {
            Resolution::One(id) if !widen && old != Some(id) => {
                if let Some(old) = old {
                    inner.bindings.remove(&key);
                    tracing::warn!(
                        guild,
                        role = old,
                        "role `{reference}` ({field}) no longer names role {old}; it grants nothing until the desk re-resolves its roles"
                    );
                }
                if inner.reported.insert(format!("{key} is now {id}")) {
                    tracing::warn!(
                        guild,
                        role = id,
                        "role {id} now carries the name `{reference}` ({field}); it grants nothing until the desk re-resolves its roles (the next start or new session)"
                    );
                }
            }
            Resolution::One(id) => {
                if old != Some(id) {
                    if inner.loaded {
                        tracing::info!(
                            guild,
                            role = id,
                            "role `{reference}` ({field}) now resolves to role {id}"
                        );
                    }
                    inner.bindings.insert(key, id);
                }
            }
            Resolution::Missing => {
                if let Some(old) = old {
                    tracing::warn!(
                        guild,
                        role = old,
                        "role `{reference}` ({field}) no longer exists; it grants nothing until a role of that name exists again"
                    );
                    inner.bindings.remove(&key);
                }
            }
            Resolution::Ambiguous(ids) => {
                let clash = ambiguity(&reference, &field, &ids);
                match old {
                    Some(old) if ids.contains(&old) => {
                        if inner.reported.insert(format!("{clash} keeps {old}")) {
                            tracing::warn!(guild, "{clash}; it stays bound to role {old}, the others grant nothing");
                        }
                    }
                    _ => {
                        inner.bindings.remove(&key);
                        tracing::warn!(
                            guild,
                            "{clash}; none of them grants anything until the name is unique or config gives the id"
                        );
                    }
                }
            }
        }
    }
}

fn resolve_role(inner: &Inner, name_or_id: &str) -> Resolution {
    let name_or_id = name_or_id.trim();
    if let Ok(id) = name_or_id.parse::<u64>() {
        return if inner.roles.contains_key(&id) {
            Resolution::One(id)
        } else {
            Resolution::Missing
        };
    }
    let mut ids: Vec<u64> = inner
        .roles
        .iter()
        .filter(|(_, n)| n.eq_ignore_ascii_case(name_or_id))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    match ids.as_slice() {
        [] => Resolution::Missing,
        [one] => Resolution::One(*one),
        _ => Resolution::Ambiguous(ids),
    }
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

    fn loaded(roles: &[(u64, &str)]) -> (Policy, Directory, Result<(), String>) {
        let policy = Policy::defaults();
        let dir = Directory::new(Some(1));
        let result = dir.load(
            &policy,
            1,
            roles.iter().map(|(id, n)| (*id, (*n).to_owned())),
            [(20, "service-desk".to_owned())],
        );
        (policy, dir, result)
    }

    #[test]
    fn names_resolve_to_ids_and_missing_channels_fall_back_to_the_service_desk() {
        let policy = Policy::defaults();
        let dir = Directory::new(None);
        assert!(!dir.is_ready());
        assert_eq!(dir.ready(&[1]), Ok(Some(1)));
        assert_eq!(dir.standing(1), Standing::Desk);
        dir.load(
            &policy,
            1,
            [(10, "Service Desk".to_owned()), (11, "cab".to_owned())],
            [(20, "service-desk".to_owned()), (21, "CAB".to_owned())],
        )
        .unwrap();
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
        )
        .unwrap();
        assert_eq!(dir.status_channel(&policy), Some(22));
    }

    #[test]
    fn only_the_configured_or_only_guild_is_the_desk_and_several_refuse_to_guess() {
        let configured = Directory::new(Some(7));
        assert_eq!(configured.standing(7), Standing::Desk);
        assert_eq!(configured.ready(&[5, 7]), Ok(Some(7)));
        assert_eq!(configured.standing(5), Standing::Foreign { first: true });
        assert_eq!(configured.standing(5), Standing::Foreign { first: false });
        assert!(!configured.is_desk(5));

        let guessing = Directory::new(None);
        assert_eq!(
            guessing.standing(5),
            Standing::Unknown,
            "before READY nothing is trusted"
        );
        let err = guessing.ready(&[5, 7]).unwrap_err();
        assert!(err.contains("5, 7") && err.contains("discord.guild_id"), "{err}");
        assert!(!guessing.is_desk(5) && !guessing.is_desk(7));

        let empty = Directory::new(None);
        assert_eq!(empty.ready(&[]), Ok(None));
        assert_eq!(empty.standing(9), Standing::Desk, "the first guild joined");
        assert_eq!(empty.standing(10), Standing::Foreign { first: true });

        // Roles and channels of a foreign guild are never loaded.
        let policy = Policy::defaults();
        configured
            .load(
                &policy,
                5,
                [(10, "Service Desk".to_owned())],
                [(20, "service-desk".to_owned())],
            )
            .unwrap();
        assert!(!configured.is_ready());
        assert_eq!(configured.channel("service-desk"), None);
    }

    #[test]
    fn two_roles_with_one_name_refuse_start_up_naming_both_ids() {
        let (_, _, result) = loaded(&[(10, "Service Desk"), (12, "service desk"), (11, "CAB")]);
        let err = result.unwrap_err();
        assert!(
            err.contains("role `Service Desk` (roles.service_desk.chat_role) names 2 roles: 10 and 12"),
            "{err}"
        );
        assert!(err.contains("give the role's id"), "{err}");
    }

    #[test]
    fn a_role_given_by_id_binds_that_role_whatever_its_namesakes() {
        let policy = crate::config::Policy::load(
            None,
            vec![("OPSDESK_ROLES__SERVICE_DESK__CHAT_ROLE".to_owned(), "\"12\"".to_owned())],
        )
        .unwrap();
        let dir = Directory::new(Some(1));
        dir.load(
            &policy,
            1,
            [(10, "Service Desk".to_owned()), (12, "Service Desk".to_owned())],
            [],
        )
        .unwrap();
        let sd = policy.service_desk();
        assert_eq!(dir.itil_roles(&policy, &[12]), vec![sd.clone()]);
        assert!(dir.itil_roles(&policy, &[10]).is_empty());
    }

    #[test]
    fn roles_made_or_renamed_later_grant_nothing_until_the_name_is_unique() {
        let (policy, dir, result) = loaded(&[(10, "Service Desk"), (11, "CAB")]);
        result.unwrap();
        let sd = vec![policy.service_desk()];
        assert_eq!(dir.itil_roles(&policy, &[10]), sd);
        // An impostor role with the same name: the bound one still grants, it does not.
        dir.role_changed(&policy, 1, 66, "Service Desk");
        assert!(dir.itil_roles(&policy, &[66]).is_empty());
        assert_eq!(dir.itil_roles(&policy, &[10]), sd);
        // A role renamed to a desk role's name: the same.
        dir.role_changed(&policy, 1, 67, "service desk");
        assert!(dir.itil_roles(&policy, &[67]).is_empty());
        // Events of another guild change nothing.
        dir.role_deleted(&policy, 2, 10);
        assert_eq!(dir.itil_roles(&policy, &[10]), sd);
        // The real role deleted while namesakes remain: nobody is trusted.
        dir.role_deleted(&policy, 1, 10);
        assert!(dir.itil_roles(&policy, &[66]).is_empty());
        assert!(dir.itil_roles(&policy, &[67]).is_empty());
        assert_eq!(dir.role_id(&policy, &policy.service_desk()), None);
        // One namesake left: the name is unique again, but trust waits for the
        // next load, which re-resolves with the same rule (logged).
        dir.role_deleted(&policy, 1, 67);
        assert!(dir.itil_roles(&policy, &[66]).is_empty());
        dir.load(
            &policy,
            1,
            [(66, "Service Desk".to_owned()), (11, "CAB".to_owned())],
            [],
        )
        .unwrap();
        assert_eq!(dir.itil_roles(&policy, &[66]), sd);
        // A role renamed away unbinds at once.
        dir.role_changed(&policy, 1, 66, "Gamers");
        assert!(dir.itil_roles(&policy, &[66]).is_empty());
        // A role created for a name config has but the guild lacked grants nothing yet.
        let im = vec![policy.incident_manager()];
        dir.role_changed(&policy, 1, 70, "Incident Manager");
        assert!(dir.itil_roles(&policy, &[70]).is_empty());
        dir.load(
            &policy,
            1,
            [(66, "Gamers".to_owned()), (70, "Incident Manager".to_owned())],
            [],
        )
        .unwrap();
        assert_eq!(dir.itil_roles(&policy, &[70]), im);
    }
}
