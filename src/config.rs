//! Configuration: `config/default.toml` (embedded in the binary), overlaid by a
//! `--config` file and `OPSDESK_…` environment variables, checked once into a
//! [`Policy`] that the rest of the program trusts.
//!
//! A bad edit fails `opsdesk check-config` and start-up with a message naming
//! the key. Secrets (the Discord token) never live here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::domain::priority::{Impact, Priority, PriorityMatrix, Urgency};
use crate::domain::raci::{RaciMatrix, RaciRow, RoleRef};
use crate::domain::text::nearest;
use crate::domain::RoleKey;

/// The embedded defaults, so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    prefix: String,
    database_url: String,
    limits: RawLimits,
    incident: RawIncident,
    priority: RawPriority,
    agents: RawAgents,
    roles: BTreeMap<String, RawRole>,
    services: BTreeMap<String, RawService>,
    raci: BTreeMap<String, RawRaciRow>,
    #[serde(default)]
    discord: RawDiscord,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    title_max: usize,
    note_max: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncident {
    default_impact: Impact,
    default_urgency: Urgency,
    page_size: u32,
    security_category: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriority {
    matrix: BTreeMap<Impact, BTreeMap<Urgency, Priority>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgents {
    roles: Vec<RoleKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: String,
    chat_role: String,
    channel: String,
    #[serde(default)]
    #[allow(dead_code)]
    seed: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    owner: RoleKey,
    tiers: Vec<RoleKey>,
    #[serde(default)]
    subscriber_role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRaciRow {
    responsible: String,
    accountable: String,
    #[serde(default)]
    consulted: Vec<String>,
    #[serde(default)]
    informed: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    api_base: Option<String>,
    gateway_url: Option<String>,
    #[serde(default = "default_requests_per_second")]
    requests_per_second: u32,
    #[serde(default = "default_channel_messages_per_5s")]
    channel_messages_per_5s: u32,
}

impl Default for RawDiscord {
    fn default() -> Self {
        Self {
            api_base: None,
            gateway_url: None,
            requests_per_second: default_requests_per_second(),
            channel_messages_per_5s: default_channel_messages_per_5s(),
        }
    }
}

fn default_requests_per_second() -> u32 {
    45
}

fn default_channel_messages_per_5s() -> u32 {
    5
}

/// An ITIL role as the desk routes to it.
#[derive(Debug, Clone)]
pub struct RoleDef {
    pub key: RoleKey,
    /// Readable name ("Service Desk").
    pub name: String,
    /// The chat role (name or id) whose members hold this ITIL role.
    pub chat_role: String,
    /// The channel (name or id) where this role is told about its work.
    pub channel: String,
}

/// A service users report against.
#[derive(Debug, Clone)]
pub struct ServiceDef {
    pub key: String,
    pub name: String,
    pub owner: RoleKey,
    /// Ordered support tiers for functional escalation; never empty.
    pub tiers: Vec<RoleKey>,
    pub subscriber_role: Option<String>,
}

/// Text limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub title_max: usize,
    pub note_max: usize,
}

/// Where to find Discord (or a Discord-compatible server), and how fast to talk to it.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    pub api_base: Option<String>,
    pub gateway_url: Option<String>,
    /// The outbox's pace: REST requests per second in all (Discord allows 50).
    pub requests_per_second: u32,
    /// The outbox's pace: messages per 5 seconds in one channel (Discord allows 5).
    pub channel_messages_per_5s: u32,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        Self {
            api_base: None,
            gateway_url: None,
            requests_per_second: default_requests_per_second(),
            channel_messages_per_5s: default_channel_messages_per_5s(),
        }
    }
}

/// The checked configuration: every business rule the desk applies.
#[derive(Debug, Clone)]
pub struct Policy {
    pub prefix: String,
    pub database_url: String,
    pub limits: Limits,
    pub default_impact: Impact,
    pub default_urgency: Urgency,
    pub page_size: u32,
    pub security_category: String,
    pub matrix: PriorityMatrix,
    pub agents: Vec<RoleKey>,
    pub roles: BTreeMap<RoleKey, RoleDef>,
    pub services: BTreeMap<String, ServiceDef>,
    pub raci: RaciMatrix,
    pub discord: DiscordSettings,
}

/// The role every fallback routes to: the single point of contact.
pub const SERVICE_DESK: &str = "service_desk";
/// The role placeholders fall back to when a record has no service.
pub const INCIDENT_MANAGER: &str = "incident_manager";

impl Policy {
    /// Loads the embedded defaults, overlays `file` and the environment, and checks the result.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut value: toml::Table = DEFAULT_TOML.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
            origin: "config/default.toml".into(),
            message: e.to_string(),
        })?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let overlay: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
            merge(&mut value, overlay);
        }
        apply_env(&mut value, env);
        Self::from_table(value)
    }

    /// The defaults alone (tests, benchmarks).
    pub fn defaults() -> Self {
        Self::load(None, std::iter::empty()).expect("the embedded default config is valid")
    }

    /// Checks a merged table.
    pub fn from_table(value: toml::Table) -> Result<Self, ConfigError> {
        let raw: RawConfig = RawConfig::deserialize(toml::Value::Table(value)).map_err(|e| ConfigError::Parse {
            origin: "config".into(),
            message: e.to_string(),
        })?;
        Self::check(raw)
    }

    fn check(raw: RawConfig) -> Result<Self, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if raw.prefix.is_empty() || raw.prefix.len() > 3 || raw.prefix.chars().any(char::is_whitespace) {
            return bad(format!("prefix: `{}` must be 1–3 non-space characters", raw.prefix));
        }
        if !(1..=4000).contains(&raw.limits.title_max) {
            return bad("limits.title_max: must be between 1 and 4000".into());
        }
        if !(1..=4000).contains(&raw.limits.note_max) {
            return bad("limits.note_max: must be between 1 and 4000".into());
        }
        if !(1..=50).contains(&raw.incident.page_size) {
            return bad("incident.page_size: must be between 1 and 50".into());
        }
        let matrix =
            PriorityMatrix::from_rows(&raw.priority.matrix).map_err(|e| ConfigError::Invalid(e.to_string()))?;

        let mut roles = BTreeMap::new();
        for (key, r) in raw.roles {
            let k = RoleKey::parse(&key).map_err(|e| ConfigError::Invalid(format!("roles.{key}: {e}")))?;
            for (field, v) in [("name", &r.name), ("chat_role", &r.chat_role), ("channel", &r.channel)] {
                if v.trim().is_empty() {
                    return bad(format!("roles.{key}.{field}: must not be empty"));
                }
            }
            let channel = r.channel.trim_start_matches('#').to_owned();
            roles.insert(
                k.clone(),
                RoleDef {
                    key: k,
                    name: r.name,
                    chat_role: r.chat_role,
                    channel,
                },
            );
        }
        let role_known = |k: &RoleKey, at: String| -> Result<(), ConfigError> {
            if roles.contains_key(k) {
                Ok(())
            } else {
                let names: Vec<&str> = roles.keys().map(RoleKey::as_str).collect();
                let hint = nearest(k.as_str(), names.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                Err(ConfigError::Invalid(format!("{at}: unknown role `{k}`{hint}")))
            }
        };
        for required in [SERVICE_DESK, INCIDENT_MANAGER] {
            let k = RoleKey::parse(required).map_err(|e| ConfigError::Invalid(e.to_string()))?;
            role_known(&k, format!("roles.{required}"))?;
        }
        for (i, a) in raw.agents.roles.iter().enumerate() {
            role_known(a, format!("agents.roles[{i}]"))?;
        }

        let mut services = BTreeMap::new();
        for (key, s) in raw.services {
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return bad(format!(
                    "services.{key}: service keys use lowercase letters, digits, `-` and `_`"
                ));
            }
            role_known(&s.owner, format!("services.{key}.owner"))?;
            if s.tiers.is_empty() {
                return bad(format!("services.{key}.tiers: needs at least one support role"));
            }
            for (i, t) in s.tiers.iter().enumerate() {
                role_known(t, format!("services.{key}.tiers[{i}]"))?;
            }
            services.insert(
                key.clone(),
                ServiceDef {
                    key,
                    name: s.name,
                    owner: s.owner,
                    tiers: s.tiers,
                    subscriber_role: s.subscriber_role,
                },
            );
        }

        let mut rows = BTreeMap::new();
        for (action, r) in raw.raci {
            let parse = |field: &str, s: &str| {
                RoleRef::parse(s).map_err(|e| ConfigError::Invalid(format!("raci.{action}.{field}: {e}")))
            };
            let row = RaciRow {
                responsible: parse("responsible", &r.responsible)?,
                accountable: parse("accountable", &r.accountable)?,
                consulted: r
                    .consulted
                    .iter()
                    .map(|s| parse("consulted", s))
                    .collect::<Result<_, _>>()?,
                informed: r
                    .informed
                    .iter()
                    .map(|s| parse("informed", s))
                    .collect::<Result<_, _>>()?,
            };
            rows.insert(action, row);
        }
        let raci = RaciMatrix::new(rows, |k| roles.contains_key(k)).map_err(|e| {
            let hint = match &e {
                crate::domain::raci::RaciError::UnknownRole { role, .. } => {
                    nearest(role, roles.keys().map(RoleKey::as_str)).map(|n| format!(" (did you mean `{n}`?)"))
                }
                _ => None,
            };
            ConfigError::Invalid(format!("{e}{}", hint.unwrap_or_default()))
        })?;

        for (field, url) in [
            ("discord.api_base", &raw.discord.api_base),
            ("discord.gateway_url", &raw.discord.gateway_url),
        ] {
            if let Some(u) = url {
                let ok = ["http://", "https://", "ws://", "wss://"]
                    .iter()
                    .any(|p| u.starts_with(p));
                if !ok {
                    return bad(format!("{field}: `{u}` must start with http(s):// or ws(s)://"));
                }
            }
        }

        for (field, n) in [
            ("discord.requests_per_second", raw.discord.requests_per_second),
            ("discord.channel_messages_per_5s", raw.discord.channel_messages_per_5s),
        ] {
            if n == 0 {
                return bad(format!("{field}: must be at least 1"));
            }
        }

        Ok(Policy {
            prefix: raw.prefix,
            database_url: raw.database_url,
            limits: Limits {
                title_max: raw.limits.title_max,
                note_max: raw.limits.note_max,
            },
            default_impact: raw.incident.default_impact,
            default_urgency: raw.incident.default_urgency,
            page_size: raw.incident.page_size,
            security_category: raw.incident.security_category.to_lowercase(),
            matrix,
            agents: raw.agents.roles,
            roles,
            services,
            raci,
            discord: DiscordSettings {
                api_base: raw.discord.api_base,
                gateway_url: raw.discord.gateway_url,
                requests_per_second: raw.discord.requests_per_second,
                channel_messages_per_5s: raw.discord.channel_messages_per_5s,
            },
        })
    }

    /// The role definition for a key the config is known to hold.
    pub fn role(&self, key: &RoleKey) -> Option<&RoleDef> {
        self.roles.get(key)
    }

    /// The ITIL role key for the service desk (always configured).
    pub fn service_desk(&self) -> RoleKey {
        RoleKey::parse(SERVICE_DESK).expect("constant is a valid key")
    }

    /// The ITIL role key for the incident manager (always configured).
    pub fn incident_manager(&self) -> RoleKey {
        RoleKey::parse(INCIDENT_MANAGER).expect("constant is a valid key")
    }

    /// Readable name of a role, or its key.
    pub fn role_name(&self, key: &RoleKey) -> String {
        self.roles
            .get(key)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| key.to_string())
    }

    /// The ITIL roles held by someone with these chat roles (names or ids,
    /// compared without case).
    pub fn itil_roles<'a>(&self, chat_roles: impl IntoIterator<Item = &'a str>) -> Vec<RoleKey> {
        let chat: Vec<String> = chat_roles.into_iter().map(|s| s.trim().to_lowercase()).collect();
        self.roles
            .values()
            .filter(|r| chat.contains(&r.chat_role.to_lowercase()) || chat.contains(&r.key.as_str().to_owned()))
            .map(|r| r.key.clone())
            .collect()
    }

    /// Whether these ITIL roles make their holder an agent.
    pub fn is_agent(&self, roles: &[RoleKey]) -> bool {
        roles.iter().any(|r| self.agents.contains(r))
    }

    /// Finds a service by key or display name (any case).
    pub fn service(&self, name: &str) -> Option<&ServiceDef> {
        let n = name.trim().to_lowercase();
        self.services
            .values()
            .find(|s| s.key == n || s.name.to_lowercase() == n)
    }

    /// The configured service nearest to a mistyped name.
    pub fn nearest_service(&self, name: &str) -> Option<&str> {
        nearest(name, self.services.keys().map(String::as_str))
    }

    /// Finds an ITIL role by key or readable name (any case).
    pub fn find_role(&self, name: &str) -> Option<&RoleDef> {
        let n = name.trim().trim_start_matches('@').to_lowercase();
        let k = n.replace([' ', '-'], "_");
        self.roles
            .values()
            .find(|r| r.key.as_str() == k || r.name.to_lowercase() == n)
    }
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Applies `OPSDESK_A__B=value` as `a.b = value` (TOML literal if it parses,
/// else a string), and `DISCORD_API_BASE` / `DISCORD_GATEWAY_URL`.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) {
    for (name, raw) in env {
        let path: Vec<String> = match name.as_str() {
            "DISCORD_API_BASE" => vec!["discord".into(), "api_base".into()],
            "DISCORD_GATEWAY_URL" => vec!["discord".into(), "gateway_url".into()],
            n => match n.strip_prefix("OPSDESK_") {
                Some(rest) if !rest.is_empty() => rest.split("__").map(str::to_lowercase).collect(),
                _ => continue,
            },
        };
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        set_path(table, &path, value);
    }
}

/// Sets `path` in `table`, creating tables on the way; a non-table in the way
/// is replaced, so the check that follows names the key.
fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(overlay: &str) -> Result<Policy, ConfigError> {
        let mut base: toml::Table = DEFAULT_TOML.parse().unwrap();
        merge(&mut base, overlay.parse().unwrap());
        Policy::from_table(base)
    }

    #[test]
    fn the_embedded_defaults_are_valid_and_route_security_to_the_security_manager() {
        let p = Policy::defaults();
        let route = p.raci.route(
            crate::domain::raci::Action::SecurityIncident,
            crate::domain::raci::RouteContext {
                service_owner: None,
                assignment_group: None,
                fallback: &p.incident_manager(),
            },
        );
        assert_eq!(route.responsible.as_str(), "it_security_manager");
        assert_eq!(p.role(&route.responsible).unwrap().channel, "security");
    }

    #[test]
    fn bad_edits_are_refused_naming_the_key() {
        let cases = [
            (
                "unknown role in a raci row",
                "[raci.cab_vote]\nresponsible = \"chnage_manager\"\naccountable = \"change_manager\"",
                "raci.cab_vote.responsible: unknown role `chnage_manager`",
            ),
            (
                "unknown agent role",
                "[agents]\nroles = [\"servce_desk\"]",
                "agents.roles[0]: unknown role `servce_desk` (did you mean `service_desk`?)",
            ),
            (
                "service with unknown owner",
                "[services.wiki]\nname = \"Wiki\"\nowner = \"nobody\"\ntiers = [\"service_desk\"]",
                "services.wiki.owner: unknown role `nobody`",
            ),
            (
                "service without tiers",
                "[services.wiki]\nname = \"Wiki\"\nowner = \"email_owner\"\ntiers = []",
                "services.wiki.tiers: needs at least one support role",
            ),
            ("unknown key", "[limits]\ntitle_maxx = 3", "title_maxx"),
            (
                "bad priority word",
                "[priority.matrix]\nlow = { high = \"P9\", medium = \"P4\", low = \"P5\" }",
                "P9",
            ),
            (
                "bad discord url",
                "[discord]\napi_base = \"127.0.0.1:1\"",
                "discord.api_base",
            ),
            (
                "no requests at all",
                "[discord]\nrequests_per_second = 0",
                "discord.requests_per_second: must be at least 1",
            ),
            (
                "no channel messages at all",
                "[discord]\nchannel_messages_per_5s = 0",
                "discord.channel_messages_per_5s: must be at least 1",
            ),
            (
                "a negative pace",
                "[discord]\nrequests_per_second = -5",
                "requests_per_second",
            ),
            (
                "a misspelt pace",
                "[discord]\nchannel_messages_per_5 = 9",
                "channel_messages_per_5",
            ),
        ];
        for (what, overlay, expected) in cases {
            let err = load_with(overlay).expect_err(what).to_string();
            assert!(err.contains(expected), "{what}: {err}");
        }
    }

    #[test]
    fn a_missing_matrix_cell_is_named() {
        let mut base: toml::Table = DEFAULT_TOML.parse().unwrap();
        let low = base["priority"]["matrix"]["low"].as_table().unwrap().clone();
        let mut low = low;
        low.remove("low");
        base.get_mut("priority").unwrap().as_table_mut().unwrap()["matrix"]
            .as_table_mut()
            .unwrap()
            .insert("low".into(), toml::Value::Table(low));
        let err = Policy::from_table(base).unwrap_err().to_string();
        assert_eq!(err, "priority.matrix.low.low is missing");
    }

    #[test]
    fn environment_variables_override_nested_keys() {
        let env = vec![
            ("OPSDESK_PREFIX".to_string(), "?".to_string()),
            ("OPSDESK_INCIDENT__PAGE_SIZE".to_string(), "5".to_string()),
            ("DISCORD_API_BASE".to_string(), "http://127.0.0.1:9".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let p = Policy::load(None, env).unwrap();
        assert_eq!(p.prefix, "?");
        assert_eq!(p.page_size, 5);
        assert_eq!(p.discord.api_base.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(p.discord.requests_per_second, 45);
        let fast = Policy::load(
            None,
            vec![(
                "OPSDESK_DISCORD__CHANNEL_MESSAGES_PER_5S".to_string(),
                "500".to_string(),
            )],
        )
        .unwrap();
        assert_eq!(fast.discord.channel_messages_per_5s, 500);
    }

    #[test]
    fn chat_roles_map_to_itil_roles_without_case() {
        let p = Policy::defaults();
        let roles = p.itil_roles(["service desk", "CAB", "Gamers"]);
        let keys: Vec<&str> = roles.iter().map(RoleKey::as_str).collect();
        assert_eq!(keys, vec!["cab", "service_desk"]);
        assert!(p.is_agent(&roles));
        assert!(!p.is_agent(&p.itil_roles(["CAB"])));
    }
}
