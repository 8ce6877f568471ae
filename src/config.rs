//! Configuration: `config/default.toml` (embedded in the binary), overlaid by a
//! `--config` file and `OPSDESK_…` environment variables, checked once into a
//! [`Policy`] that the rest of the program trusts.
//!
//! A bad edit fails `opsdesk check-config` and start-up with a message naming
//! the key. Secrets (the Discord token) never live here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use chrono::{NaiveDate, TimeDelta, Weekday};

use crate::command::RESERVED_SERVICE_KEYS;
use crate::domain::cab::{Board, Quorum, RulesError, VoteRules};
use crate::domain::change::{parse_existing_window, Freeze};
use crate::domain::escalation::Party;
use crate::domain::outage::OutageImpact;
use crate::domain::priority::{Impact, Priority, PriorityMatrix, Urgency};
use crate::domain::raci::{RaciMatrix, RaciRow, RoleRef};
use crate::domain::sla::{
    parse_duration, BusinessHours, Calendar, ReopenPolicy, SlaError, SlaPolicy, Threshold, ThresholdSchedule,
};
use crate::domain::text::nearest;
use crate::domain::RoleKey;
use crate::store::Durability;

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
    #[serde(default)]
    database_durability: Durability,
    limits: RawLimits,
    incident: RawIncident,
    priority: RawPriority,
    agents: RawAgents,
    roles: BTreeMap<String, RawRole>,
    services: BTreeMap<String, RawService>,
    raci: BTreeMap<String, RawRaciRow>,
    outage: RawOutage,
    change: RawChange,
    escalation: RawEscalation,
    sla: RawSla,
    #[serde(default)]
    discord: RawDiscord,
    #[serde(default)]
    outbox: RawOutbox,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    shutdown: RawShutdown,
    #[serde(default)]
    ha: RawHa,
    #[serde(default)]
    reports: RawReports,
    #[serde(default)]
    problem: RawProblem,
    #[serde(default)]
    alerts: RawAlerts,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReports {
    /// None when absent: agents and service owners only.
    #[serde(default)]
    roles: Vec<RoleKey>,
    /// The scheduled digest; none when absent.
    #[serde(default)]
    digest: Option<RawDigest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigest {
    channel: String,
    #[serde(default = "default_digest_every")]
    every: String,
    #[serde(default = "default_digest_at")]
    at: String,
    #[serde(default = "default_digest_tz")]
    tz: String,
}

fn default_digest_every() -> String {
    "7d".into()
}

fn default_digest_at() -> String {
    "Mon 09:00".into()
}

fn default_digest_tz() -> String {
    "UTC".into()
}

/// Service reports (`[reports]`): who reads them besides the agents and the
/// owners of the services reported on.
#[derive(Debug, Clone)]
pub struct ReportPolicy {
    pub roles: Vec<RoleKey>,
    /// `[reports.digest]`: last period's report posted on a schedule.
    pub digest: Option<DigestSettings>,
}

/// Where and when the scheduled digest is posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSettings {
    /// A channel, by name or id, as the platform knows it.
    pub channel: String,
    pub schedule: crate::domain::digest::DigestSchedule,
}

impl ReportPolicy {
    /// Whether these ITIL roles may read any report.
    pub fn is_reader(&self, roles: &[RoleKey]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProblem {
    roles: Vec<RoleKey>,
    resolve_linked_incidents: bool,
    reopens_suggest: u32,
}

impl Default for RawProblem {
    fn default() -> Self {
        Self {
            roles: vec![RoleKey::parse("problem_manager").expect("constant is a valid key")],
            resolve_linked_incidents: true,
            reopens_suggest: 2,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    give_up_after: Option<String>,
    stuck_after: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    #[serde(default)]
    hooks: Vec<String>,
    #[serde(default)]
    group: bool,
    auto_resolve: Option<bool>,
    reopen_within: Option<String>,
    body_limit_kb: Option<u32>,
    default_service: Option<String>,
    #[serde(default)]
    routes: Vec<RawAlertRoute>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertRoute {
    #[serde(rename = "match")]
    matchers: BTreeMap<String, String>,
    service: Option<String>,
    impact: Impact,
    urgency: Urgency,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShutdown {
    grace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHa {
    takeover_within: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    requester_roles: Vec<RoleKey>,
    authority_roles: Vec<RoleKey>,
    auto_authorize_low_risk: bool,
    notice_lead: String,
    /// Whether a change's requester may also be its implementer (default true).
    #[serde(default)]
    requester_may_implement: Option<bool>,
    cab: RawBoard,
    ecab: RawBoard,
    #[serde(default)]
    standard: BTreeMap<String, RawStandard>,
    #[serde(default)]
    freeze: Vec<RawFreeze>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    default_tiers: Vec<RoleKey>,
    major_ping: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    reopen: String,
    business_hours: RawHours,
    targets: BTreeMap<String, RawTarget>,
    #[serde(default)]
    warnings: Vec<RawWarning>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    days: Vec<String>,
    open: String,
    close: String,
    tz: String,
    #[serde(default)]
    holidays: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    eligible_roles: Vec<RoleKey>,
    quorum: RawQuorum,
    threshold: f64,
    deadline: String,
    expected_members: u32,
    /// The share of the deadline at which members who have not voted are
    /// reminded (default 0.75).
    #[serde(default)]
    remind_at: Option<f64>,
}

/// `quorum = 3` is a count of ballots, `quorum = 0.5` a share of the members.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawQuorum {
    Count(i64),
    Fraction(f64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStandard {
    name: String,
    #[serde(default)]
    services: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    respond: String,
    resolve: String,
    #[serde(default)]
    hours: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    name: String,
    window: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWarning {
    at: f64,
    #[serde(default)]
    ping: Vec<String>,
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
    survey_timeout: String,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutage {
    roles: Vec<RoleKey>,
    default_impact: String,
    status_channel: String,
    summary_max: usize,
    resolve_linked_incidents: bool,
    link_window: String,
    storm_card_every: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    api_base: Option<String>,
    gateway_url: Option<String>,
    #[serde(default)]
    guild_id: Option<RawSnowflake>,
    #[serde(default)]
    leave_other_guilds: bool,
    #[serde(default)]
    allowed_bots: Vec<RawSnowflake>,
    #[serde(default = "default_requests_per_second")]
    requests_per_second: u32,
    #[serde(default = "default_channel_messages_per_5s")]
    channel_messages_per_5s: u32,
}

/// A Discord id, written as a number or as a string of digits.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawSnowflake {
    Number(i64),
    Text(String),
}

impl RawSnowflake {
    fn id(&self, field: &str) -> Result<u64, ConfigError> {
        let id = match self {
            RawSnowflake::Number(n) => u64::try_from(*n).ok(),
            RawSnowflake::Text(t) => t.trim().parse::<u64>().ok(),
        };
        match id {
            Some(id) if id > 0 => Ok(id),
            _ => Err(ConfigError::Invalid(format!(
                "{field}: `{}` is not a Discord id (a positive number, e.g. 1200000000000000001)",
                match self {
                    RawSnowflake::Number(n) => n.to_string(),
                    RawSnowflake::Text(t) => t.clone(),
                }
            ))),
        }
    }
}

impl Default for RawDiscord {
    fn default() -> Self {
        Self {
            api_base: None,
            gateway_url: None,
            guild_id: None,
            leave_other_guilds: false,
            allowed_bots: Vec::new(),
            requests_per_second: default_requests_per_second(),
            channel_messages_per_5s: default_channel_messages_per_5s(),
        }
    }
}

fn default_requests_per_second() -> u32 {
    48
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

/// Outage notices: who may declare them, where they are posted, what resolving does.
#[derive(Debug, Clone)]
pub struct OutagePolicy {
    /// ITIL roles that may declare outages, and update or resolve anyone's.
    pub roles: Vec<RoleKey>,
    /// Used when `!outage` is given no `impact=`.
    pub default_impact: OutageImpact,
    /// The channel (name or id) where notices are posted.
    pub status_channel: String,
    /// Longest summary or update text, in characters.
    pub summary_max: usize,
    /// On resolve, move linked incidents that may move to resolved.
    pub resolve_linked_incidents: bool,
    /// Declaring an outage links the service's open incidents logged within this.
    pub link_window: TimeDelta,
    /// The outage's grouped card in the handler's channel (the reports
    /// linked to it as they are logged) is edited at most once per this.
    pub storm_card_every: TimeDelta,
}

/// One SLA warning: the threshold and who is pinged when a clock reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningRule {
    pub threshold: Threshold,
    pub ping: Vec<Party>,
}

/// The checked SLA rules: targets per priority and for major incidents, the
/// warning thresholds and what reopening does.
#[derive(Debug, Clone)]
pub struct SlaSettings {
    /// Index 0 is P1.
    pub targets: [SlaPolicy; 5],
    /// The targets of major incidents.
    pub major: SlaPolicy,
    /// Every threshold a clock announces: the warnings, then the breach.
    pub schedule: ThresholdSchedule,
    /// The warnings, in ascending order.
    pub warnings: Vec<WarningRule>,
    pub reopen: ReopenPolicy,
}

impl SlaSettings {
    /// The SLA row of an incident: the major row, or its priority's.
    pub fn policy(&self, priority: Priority, major: bool) -> &SlaPolicy {
        if major {
            return &self.major;
        }
        let index = usize::from(priority.level().clamp(1, 5)) - 1;
        &self.targets[index]
    }

    /// Who a warning pings (the responsible role for a warning no longer configured).
    pub fn warning_ping(&self, threshold: Threshold) -> Vec<Party> {
        self.warnings
            .iter()
            .find(|w| w.threshold == threshold)
            .map(|w| w.ping.clone())
            .unwrap_or_else(|| vec![Party::Responsible])
    }
}

/// The checked escalation rules.
#[derive(Debug, Clone)]
pub struct EscalationSettings {
    /// Support tiers of incidents without a service; never empty.
    pub default_tiers: Vec<RoleKey>,
    /// Who a major incident declaration pings.
    pub major_ping: Vec<Party>,
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
    /// The desk's guild; `None` means the one guild the bot is in (it refuses to guess among several).
    pub guild_id: Option<u64>,
    /// Leave every guild that is not the desk's.
    pub leave_other_guilds: bool,
    /// Bot accounts that may log incidents (alerting bots); every other bot is ignored.
    pub allowed_bots: Vec<u64>,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        Self {
            api_base: None,
            gateway_url: None,
            guild_id: None,
            leave_other_guilds: false,
            allowed_bots: Vec::new(),
            requests_per_second: default_requests_per_second(),
            channel_messages_per_5s: default_channel_messages_per_5s(),
        }
    }
}

/// The rules of one board (CAB or ECAB), checked.
#[derive(Debug, Clone)]
pub struct BoardPolicy {
    pub rules: VoteRules,
    /// How many members the board has at least, for a fraction quorum and
    /// early close while fewer members have been seen holding the role.
    pub expected_members: u32,
    /// The share of the deadline (between 0 and 1, exclusive) at which the
    /// members who have not voted are reminded (`change.<board>.remind_at`).
    pub remind_at: f64,
}

/// A pre-approved standard change from the catalogue.
#[derive(Debug, Clone)]
pub struct StandardChange {
    pub key: String,
    pub name: String,
    /// The services it applies to; empty means any.
    pub services: Vec<String>,
}

/// Change enablement and CAB rules, checked.
#[derive(Debug, Clone)]
pub struct ChangePolicy {
    /// ITIL roles whose members may file changes.
    pub requester_roles: Vec<RoleKey>,
    /// The change authority: calls votes, authorizes and rejects.
    pub authority_roles: Vec<RoleKey>,
    /// A passed vote authorizes a low-risk normal change directly.
    pub auto_authorize_low_risk: bool,
    /// How long before its window an authorized change's outage notice goes out.
    pub notice_lead: TimeDelta,
    /// Whether a change's requester may also be its implementer.
    pub requester_may_implement: bool,
    pub cab: BoardPolicy,
    pub ecab: BoardPolicy,
    pub standard: BTreeMap<String, StandardChange>,
    pub freezes: Vec<Freeze>,
}

impl ChangePolicy {
    /// The rules of a board.
    pub fn board(&self, board: Board) -> &BoardPolicy {
        match board {
            Board::Cab => &self.cab,
            Board::Ecab => &self.ecab,
        }
    }

    /// Whether these roles may file a change.
    pub fn may_request(&self, roles: &[RoleKey]) -> bool {
        roles.iter().any(|r| self.requester_roles.contains(r))
    }

    /// Whether these roles make their holder the change authority.
    pub fn is_authority(&self, roles: &[RoleKey]) -> bool {
        roles.iter().any(|r| self.authority_roles.contains(r))
    }

    /// The catalogue entry a standard change names by key or name (any case).
    pub fn catalogue(&self, title: &str) -> Option<&StandardChange> {
        let t = title.trim().to_lowercase();
        let k = t.replace([' ', '-'], "_");
        self.standard
            .values()
            .find(|s| s.key == k || s.name.to_lowercase() == t)
    }
}

/// The checked configuration: every business rule the desk applies.
#[derive(Debug, Clone)]
pub struct Policy {
    pub prefix: String,
    pub database_url: String,
    /// Whether an answered command must survive a power cut (`full`) or only
    /// the process being killed (`normal`).
    pub database_durability: Durability,
    pub limits: Limits,
    pub default_impact: Impact,
    pub default_urgency: Urgency,
    pub page_size: u32,
    pub security_category: String,
    /// How long a resolved incident waits for its reporter's 👍/👎 before it closes.
    pub survey_timeout: TimeDelta,
    pub matrix: PriorityMatrix,
    pub agents: Vec<RoleKey>,
    pub roles: BTreeMap<RoleKey, RoleDef>,
    pub services: BTreeMap<String, ServiceDef>,
    pub raci: RaciMatrix,
    pub outage: OutagePolicy,
    pub change: ChangePolicy,
    pub escalation: EscalationSettings,
    pub sla: SlaSettings,
    pub discord: DiscordSettings,
    pub outbox: OutboxSettings,
    pub ops: OpsSettings,
    pub reports: ReportPolicy,
    pub problem: ProblemPolicy,
    pub alerts: AlertSettings,
}

/// Monitoring alerts (`[alerts]`): which hooks listen and how alerts become incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// The receivers served under `/hooks/`; none by default.
    pub hooks: Vec<crate::domain::alert::Hook>,
    /// One incident per Alertmanager/Grafana group (`groupKey`) instead of per alert.
    pub group: bool,
    /// A recovered alert resolves its incident when nobody has taken it.
    pub auto_resolve: bool,
    /// A re-fire this soon after its incident was resolved reopens it.
    pub reopen_within: TimeDelta,
    /// The largest body a hook accepts (413 beyond).
    pub body_limit: usize,
    /// Where unmatched alerts go (a key of `[services]`), or no service.
    pub default_service: Option<String>,
    /// Label matchers to service, impact and urgency; the first match wins.
    pub routes: Vec<crate::domain::alert::AlertRoute>,
}

/// How long delivery keeps trying (`[outbox]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    /// A row still failing (or blocked) this long after it was queued is
    /// dead-lettered: never tried again, counted and shown as dead.
    pub give_up_after: TimeDelta,
    /// `/readyz` reports the outbox stuck when a row due this long ago is still undelivered.
    pub stuck_after: TimeDelta,
}

/// The operator's surfaces: the HTTP listener (`[http]`) and shutdown (`[shutdown]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsSettings {
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None` (the default) serves nothing.
    pub listen: Option<std::net::SocketAddr>,
    /// How long a signalled shutdown may take before the process exits anyway, non-zero.
    pub shutdown_grace: std::time::Duration,
    /// On PostgreSQL, how soon a standby takes over once the active's session
    /// is gone (`ha.takeover_within`, 2 s to 10 min, default 15 s).
    pub takeover_within: std::time::Duration,
}

/// The role every fallback routes to: the single point of contact.
pub const SERVICE_DESK: &str = "service_desk";
/// The role placeholders fall back to when a record has no service.
pub const INCIDENT_MANAGER: &str = "incident_manager";

impl Policy {
    /// Loads the embedded defaults, overlays `file` and the environment, and checks the result.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        Self::load_noting(file, env).map(|(policy, _)| policy)
    }

    /// Like [`Self::load`], also returning the `OPSDESK_*` variables that name
    /// no configuration key (left out, for the caller to warn about: a process
    /// supervisor may inject its own, as Kubernetes does with `OPSDESK_PORT`).
    /// Keys in a config file stay strict.
    pub fn load_noting(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
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
        let stray = apply_env(&mut value, env);
        Ok((Self::from_table(value)?, stray))
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

    /// Checks every section in turn; the first problem found is the error.
    fn check(raw: RawConfig) -> Result<Self, ConfigError> {
        check_prefix(&raw.prefix)?;
        let limits = check_limits(&raw.limits)?;
        let survey_timeout = check_incident(&raw.incident)?;
        let matrix =
            PriorityMatrix::from_rows(&raw.priority.matrix).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let roles = check_roles(raw.roles, &raw.agents)?;
        let role_known = |k: &RoleKey, at: String| known_role(&roles, k, at);
        let services = check_services(raw.services, &role_known)?;
        let raci = check_raci(raw.raci, &roles)?;
        let outage = check_outage(raw.outage, &role_known)?;
        let change = check_change(raw.change, &role_known, &services)?;
        let escalation = check_escalation(raw.escalation, &role_known)?;
        let sla = check_sla(raw.sla)?;
        let discord = check_discord(raw.discord)?;
        let (outbox, ops) = check_ops(&raw.outbox, &raw.http, &raw.shutdown, &raw.ha)?;
        for (i, r) in raw.reports.roles.iter().enumerate() {
            role_known(r, format!("reports.roles[{i}]"))?;
        }
        let digest = match raw.reports.digest {
            None => None,
            Some(d) => {
                let channel = d.channel.trim().trim_start_matches('#').to_owned();
                if channel.is_empty() {
                    return Err(invalid(
                        "reports.digest.channel: name the channel the digest is posted in".into(),
                    ));
                }
                let schedule = crate::domain::digest::DigestSchedule::parse(&d.every, &d.at, &d.tz)
                    .map_err(|e| invalid(format!("reports.digest.{e}")))?;
                Some(DigestSettings { channel, schedule })
            }
        };
        let reports = ReportPolicy {
            roles: raw.reports.roles,
            digest,
        };
        let problem = check_problem(raw.problem, &role_known)?;
        let alerts = check_alerts(raw.alerts, &services)?;

        Ok(Policy {
            prefix: raw.prefix,
            database_url: raw.database_url,
            database_durability: raw.database_durability,
            limits,
            default_impact: raw.incident.default_impact,
            default_urgency: raw.incident.default_urgency,
            page_size: raw.incident.page_size,
            security_category: raw.incident.security_category.to_lowercase(),
            survey_timeout,
            matrix,
            agents: raw.agents.roles,
            roles,
            services,
            raci,
            outage,
            change,
            escalation,
            sla,
            discord,
            outbox,
            ops,
            reports,
            problem,
            alerts,
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

    /// Whether these ITIL roles may declare outages and change anyone's.
    pub fn may_declare_outages(&self, roles: &[RoleKey]) -> bool {
        roles.iter().any(|r| self.outage.roles.contains(r))
    }

    /// Whether `role` is a support tier of some service (or a default tier):
    /// its holders are the assignment group of the incidents it holds.
    pub fn is_support_tier(&self, role: &RoleKey) -> bool {
        self.services
            .values()
            .flat_map(|s| s.tiers.iter())
            .chain(self.escalation.default_tiers.iter())
            .any(|t| t == role)
    }

    /// The names of the services whose owner is one of `roles`.
    pub fn services_owned_by(&self, roles: &[RoleKey]) -> Vec<String> {
        self.services
            .values()
            .filter(|s| roles.contains(&s.owner))
            .map(|s| s.name.clone())
            .collect()
    }

    /// The ordered support tiers of an incident's service (or the default tiers).
    pub fn tiers_for(&self, service: Option<&str>) -> &[RoleKey] {
        match service.and_then(|s| self.service(s)) {
            Some(def) => &def.tiers,
            None => &self.escalation.default_tiers,
        }
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

/// Checks `prefix`: one to three characters, no spaces.
fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    if prefix.is_empty() || prefix.len() > 3 || prefix.chars().any(char::is_whitespace) {
        return Err(invalid(format!("prefix: `{prefix}` must be 1–3 non-space characters")));
    }
    Ok(())
}

/// Checks `[limits]`: text lengths a Discord message can hold.
fn check_limits(raw: &RawLimits) -> Result<Limits, ConfigError> {
    if !(1..=4000).contains(&raw.title_max) {
        return Err(invalid("limits.title_max: must be between 1 and 4000".into()));
    }
    if !(1..=4000).contains(&raw.note_max) {
        return Err(invalid("limits.note_max: must be between 1 and 4000".into()));
    }
    Ok(Limits {
        title_max: raw.title_max,
        note_max: raw.note_max,
    })
}

/// Checks `[incident]`: the survey timeout (returned, parsed) and the page size.
fn check_incident(raw: &RawIncident) -> Result<TimeDelta, ConfigError> {
    let survey_timeout =
        parse_duration(&raw.survey_timeout).map_err(|e| invalid(format!("incident.survey_timeout: {e}")))?;
    if !(1..=50).contains(&raw.page_size) {
        return Err(invalid("incident.page_size: must be between 1 and 50".into()));
    }
    Ok(survey_timeout)
}

/// Checks `[roles]` (keys, no empty field) and that the service desk, the
/// incident manager and every role of `[agents]` are among them.
fn check_roles(raw: BTreeMap<String, RawRole>, agents: &RawAgents) -> Result<BTreeMap<RoleKey, RoleDef>, ConfigError> {
    let mut roles = BTreeMap::new();
    for (key, r) in raw {
        let k = RoleKey::parse(&key).map_err(|e| invalid(format!("roles.{key}: {e}")))?;
        for (field, v) in [("name", &r.name), ("chat_role", &r.chat_role), ("channel", &r.channel)] {
            if v.trim().is_empty() {
                return Err(invalid(format!("roles.{key}.{field}: must not be empty")));
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
    for required in [SERVICE_DESK, INCIDENT_MANAGER] {
        let k = RoleKey::parse(required).map_err(|e| invalid(e.to_string()))?;
        known_role(&roles, &k, format!("roles.{required}"))?;
    }
    for (i, a) in agents.roles.iter().enumerate() {
        known_role(&roles, a, format!("agents.roles[{i}]"))?;
    }
    Ok(roles)
}

/// Refuses a role that `[roles]` does not define, naming `at` and the nearest key.
fn known_role(roles: &BTreeMap<RoleKey, RoleDef>, k: &RoleKey, at: String) -> Result<(), ConfigError> {
    if roles.contains_key(k) {
        Ok(())
    } else {
        let names: Vec<&str> = roles.keys().map(RoleKey::as_str).collect();
        let hint = nearest(k.as_str(), names.iter().copied())
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        Err(invalid(format!("{at}: unknown role `{k}`{hint}")))
    }
}

/// Checks `[services]`: key syntax, keys `!outage` reads as subcommands,
/// known owner and tier roles, at least one tier.
fn check_services(
    raw: BTreeMap<String, RawService>,
    role_known: &dyn Fn(&RoleKey, String) -> Result<(), ConfigError>,
) -> Result<BTreeMap<String, ServiceDef>, ConfigError> {
    let mut services = BTreeMap::new();
    for (key, s) in raw {
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(invalid(format!(
                "services.{key}: service keys use lowercase letters, digits, `-` and `_`"
            )));
        }
        if RESERVED_SERVICE_KEYS.contains(&key.as_str()) {
            return Err(invalid(format!(
                "services.{key}: `{key}` is reserved (`!outage {key} OUT-<n>` is a subcommand)"
            )));
        }
        if s.subscriber_role.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(invalid(format!(
                "services.{key}.subscriber_role: must not be empty (leave it out for none)"
            )));
        }
        role_known(&s.owner, format!("services.{key}.owner"))?;
        if s.tiers.is_empty() {
            return Err(invalid(format!(
                "services.{key}.tiers: needs at least one support role"
            )));
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
    Ok(services)
}

/// Checks `[raci]`: every party parses and every role is defined (with the
/// nearest key as a hint).
fn check_raci(
    raw: BTreeMap<String, RawRaciRow>,
    roles: &BTreeMap<RoleKey, RoleDef>,
) -> Result<RaciMatrix, ConfigError> {
    let mut rows = BTreeMap::new();
    for (action, r) in raw {
        let parse =
            |field: &str, s: &str| RoleRef::parse(s).map_err(|e| invalid(format!("raci.{action}.{field}: {e}")));
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
    RaciMatrix::new(rows, |k| roles.contains_key(k)).map_err(|e| {
        let hint = match &e {
            crate::domain::raci::RaciError::UnknownRole { role, .. } => {
                nearest(role, roles.keys().map(RoleKey::as_str)).map(|n| format!(" (did you mean `{n}`?)"))
            }
            _ => None,
        };
        invalid(format!("{e}{}", hint.unwrap_or_default()))
    })
}

/// Checks `[outage]`: who may declare, the default impact, the status
/// channel and the summary length.
fn check_outage(
    raw: RawOutage,
    role_known: &dyn Fn(&RoleKey, String) -> Result<(), ConfigError>,
) -> Result<OutagePolicy, ConfigError> {
    if raw.roles.is_empty() {
        return Err(invalid(
            "outage.roles: needs at least one role that may declare outages".into(),
        ));
    }
    for (i, r) in raw.roles.iter().enumerate() {
        role_known(r, format!("outage.roles[{i}]"))?;
    }
    let Some(default_impact) = OutageImpact::parse(&raw.default_impact) else {
        return Err(invalid(format!(
            "outage.default_impact: `{}` must be partial or major",
            raw.default_impact
        )));
    };
    let status_channel = raw.status_channel.trim().trim_start_matches('#').to_owned();
    if status_channel.is_empty() {
        return Err(invalid("outage.status_channel: must not be empty".into()));
    }
    // An embed field holds 1024 characters; leave room for the label.
    if !(1..=1000).contains(&raw.summary_max) {
        return Err(invalid("outage.summary_max: must be between 1 and 1000".into()));
    }
    let link_window = parse_duration(&raw.link_window).map_err(|e| invalid(format!("outage.link_window: {e}")))?;
    if link_window < TimeDelta::zero() || link_window > TimeDelta::days(30) {
        return Err(invalid("outage.link_window: must be between 0s and 30d".into()));
    }
    let storm_card_every =
        parse_duration(&raw.storm_card_every).map_err(|e| invalid(format!("outage.storm_card_every: {e}")))?;
    if storm_card_every < TimeDelta::zero() || storm_card_every > TimeDelta::hours(1) {
        return Err(invalid("outage.storm_card_every: must be between 0s and 1h".into()));
    }
    Ok(OutagePolicy {
        roles: raw.roles,
        default_impact,
        status_channel,
        summary_max: raw.summary_max,
        resolve_linked_incidents: raw.resolve_linked_incidents,
        link_window,
        storm_card_every,
    })
}

/// Problem management (`!problem`, `!kedb`): who works problems, and what a
/// fix through change does to the incidents still open.
#[derive(Debug, Clone)]
pub struct ProblemPolicy {
    /// ITIL roles that may log and work problems (beside the agents).
    pub roles: Vec<RoleKey>,
    /// When the fixing change closes, resolve the linked incidents still open
    /// (false: tell their handlers and leave them).
    pub resolve_linked_incidents: bool,
    /// An incident reopened this many times suggests a problem (0: never).
    pub reopens_suggest: u32,
}

/// Checks `[problem]`: its roles exist.
fn check_problem(
    raw: RawProblem,
    role_known: &dyn Fn(&RoleKey, String) -> Result<(), ConfigError>,
) -> Result<ProblemPolicy, ConfigError> {
    for (i, r) in raw.roles.iter().enumerate() {
        role_known(r, format!("problem.roles[{i}]"))?;
    }
    Ok(ProblemPolicy {
        roles: raw.roles,
        resolve_linked_incidents: raw.resolve_linked_incidents,
        reopens_suggest: raw.reopens_suggest,
    })
}

/// Checks `[escalation]`: the default support tiers and who a major incident pings.
fn check_escalation(
    raw: RawEscalation,
    role_known: &dyn Fn(&RoleKey, String) -> Result<(), ConfigError>,
) -> Result<EscalationSettings, ConfigError> {
    if raw.default_tiers.is_empty() {
        return Err(invalid(
            "escalation.default_tiers: needs at least one support role".into(),
        ));
    }
    for (i, t) in raw.default_tiers.iter().enumerate() {
        role_known(t, format!("escalation.default_tiers[{i}]"))?;
    }
    Ok(EscalationSettings {
        default_tiers: raw.default_tiers,
        major_ping: parties("escalation.major_ping", &raw.major_ping)?,
    })
}

/// Checks `[outbox]`, `[http]`, `[shutdown]` and `[ha]`: positive durations and a socket address.
fn check_ops(
    outbox: &RawOutbox,
    http: &RawHttp,
    shutdown: &RawShutdown,
    ha: &RawHa,
) -> Result<(OutboxSettings, OpsSettings), ConfigError> {
    let positive = |field: &str, text: Option<&str>, default: &str| -> Result<TimeDelta, ConfigError> {
        let text = text.unwrap_or(default);
        match parse_duration(text) {
            Ok(d) if d > TimeDelta::zero() => Ok(d),
            Ok(_) => Err(invalid(format!("{field}: must be longer than zero"))),
            Err(e) => Err(invalid(format!("{field}: {e}"))),
        }
    };
    let give_up_after = positive("outbox.give_up_after", outbox.give_up_after.as_deref(), "24h")?;
    let stuck_after = positive("outbox.stuck_after", outbox.stuck_after.as_deref(), "10m")?;
    let grace = positive("shutdown.grace", shutdown.grace.as_deref(), "10s")?;
    let takeover = positive("ha.takeover_within", ha.takeover_within.as_deref(), "15s")?;
    // Below 2 s the lock session's keepalives would misread a busy network as
    // a dead process; above 10 min a desk is down too long to call it a takeover.
    if takeover < TimeDelta::seconds(2) || takeover > TimeDelta::minutes(10) {
        return Err(invalid("ha.takeover_within: must be between 2s and 10m".to_owned()));
    }
    let listen = match http.listen.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(addr) => Some(addr.parse::<std::net::SocketAddr>().map_err(|_| {
            invalid(format!(
                "http.listen: `{addr}` is not an address and port such as \"127.0.0.1:9187\""
            ))
        })?),
    };
    Ok((
        OutboxSettings {
            give_up_after,
            stuck_after,
        },
        OpsSettings {
            listen,
            shutdown_grace: grace.to_std().unwrap_or(std::time::Duration::from_secs(10)),
            takeover_within: takeover.to_std().unwrap_or(std::time::Duration::from_secs(15)),
        },
    ))
}

/// Checks `[alerts]`: known hooks, a positive `reopen_within`, services that exist.
fn check_alerts(raw: RawAlerts, services: &BTreeMap<String, ServiceDef>) -> Result<AlertSettings, ConfigError> {
    use crate::domain::alert::{AlertRoute, Hook};
    let mut hooks = Vec::new();
    for name in &raw.hooks {
        match Hook::parse(name) {
            Some(h) if !hooks.contains(&h) => hooks.push(h),
            Some(_) => {}
            None => {
                return Err(invalid(format!(
                    "alerts.hooks: `{name}` is not a hook (alertmanager, grafana or alert)"
                )))
            }
        }
    }
    let reopen_within = match parse_duration(raw.reopen_within.as_deref().unwrap_or("1h")) {
        Ok(d) if d >= TimeDelta::zero() => d,
        Ok(_) => return Err(invalid("alerts.reopen_within: must not be negative".to_owned())),
        Err(e) => return Err(invalid(format!("alerts.reopen_within: {e}"))),
    };
    let body_limit = match raw.body_limit_kb.unwrap_or(1024) {
        0 => return Err(invalid("alerts.body_limit_kb: must be at least 1".to_owned())),
        kb => kb as usize * 1024,
    };
    let service = |field: String, name: &str| -> Result<String, ConfigError> {
        let n = name.trim().to_lowercase();
        services
            .values()
            .find(|s| s.key == n || s.name.to_lowercase() == n)
            .map(|s| s.key.clone())
            .ok_or_else(|| invalid(format!("{field}: `{name}` is not a key of [services]")))
    };
    let default_service = match raw.default_service.as_deref() {
        None | Some("") => None,
        Some(name) => Some(service("alerts.default_service".to_owned(), name)?),
    };
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        if r.matchers.is_empty() {
            return Err(invalid(format!("alerts.routes[{i}].match: name at least one label")));
        }
        let service = match r.service.as_deref() {
            None => None,
            Some(name) => Some(service(format!("alerts.routes[{i}].service"), name)?),
        };
        routes.push(AlertRoute {
            matchers: r.matchers,
            service,
            impact: r.impact,
            urgency: r.urgency,
        });
    }
    Ok(AlertSettings {
        hooks,
        group: raw.group,
        auto_resolve: raw.auto_resolve.unwrap_or(true),
        reopen_within,
        body_limit,
        default_service,
        routes,
    })
}

/// Checks `[discord]`: endpoint schemes, rate limits of at least 1, and ids.
fn check_discord(raw: RawDiscord) -> Result<DiscordSettings, ConfigError> {
    for (field, url) in [
        ("discord.api_base", &raw.api_base),
        ("discord.gateway_url", &raw.gateway_url),
    ] {
        if let Some(u) = url {
            let ok = ["http://", "https://", "ws://", "wss://"]
                .iter()
                .any(|p| u.starts_with(p));
            if !ok {
                return Err(invalid(format!(
                    "{field}: `{u}` must start with http(s):// or ws(s)://"
                )));
            }
        }
    }
    for (field, n) in [
        ("discord.requests_per_second", raw.requests_per_second),
        ("discord.channel_messages_per_5s", raw.channel_messages_per_5s),
    ] {
        if n == 0 {
            return Err(invalid(format!("{field}: must be at least 1")));
        }
    }
    let guild_id = match &raw.guild_id {
        Some(g) => Some(g.id("discord.guild_id")?),
        None => None,
    };
    let allowed_bots = raw
        .allowed_bots
        .iter()
        .enumerate()
        .map(|(i, b)| b.id(&format!("discord.allowed_bots[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DiscordSettings {
        api_base: raw.api_base,
        gateway_url: raw.gateway_url,
        requests_per_second: raw.requests_per_second,
        channel_messages_per_5s: raw.channel_messages_per_5s,
        guild_id,
        leave_other_guilds: raw.leave_other_guilds,
        allowed_bots,
    })
}

/// Checks `[change]`: every role known, durations parsed, vote rules in range,
/// catalogue services and freeze windows valid.
fn check_change(
    raw: RawChange,
    role_known: &dyn Fn(&RoleKey, String) -> Result<(), ConfigError>,
    services: &BTreeMap<String, ServiceDef>,
) -> Result<ChangePolicy, ConfigError> {
    let bad = |m: String| ConfigError::Invalid(m);
    for (field, roles) in [
        ("requester_roles", &raw.requester_roles),
        ("authority_roles", &raw.authority_roles),
    ] {
        if roles.is_empty() {
            return Err(bad(format!("change.{field}: name at least one role")));
        }
        for (i, r) in roles.iter().enumerate() {
            role_known(r, format!("change.{field}[{i}]"))?;
        }
    }
    let notice_lead = parse_duration(&raw.notice_lead).map_err(|e| bad(format!("change.notice_lead: {e}")))?;
    let board = |name: &str, b: RawBoard| -> Result<BoardPolicy, ConfigError> {
        let at = format!("change.{name}");
        for (i, r) in b.eligible_roles.iter().enumerate() {
            role_known(r, format!("{at}.eligible_roles[{i}]"))?;
        }
        let quorum = match b.quorum {
            RawQuorum::Count(n) => Quorum::Count(
                u32::try_from(n)
                    .map_err(|_| bad(format!("{at}.quorum: count {n} must be between 1 and {}", u32::MAX)))?,
            ),
            RawQuorum::Fraction(f) => Quorum::Fraction(f),
        };
        let deadline = parse_duration(&b.deadline).map_err(|e| bad(format!("{at}.deadline: {e}")))?;
        let rules = VoteRules {
            eligible_roles: b.eligible_roles,
            quorum,
            threshold: b.threshold,
            deadline,
        };
        rules.validate().map_err(|e| {
            let key = match e {
                RulesError::NoEligibleRoles => "eligible_roles",
                RulesError::ZeroQuorum | RulesError::QuorumFractionOutOfRange(_) => "quorum",
                RulesError::ThresholdOutOfRange(_) => "threshold",
                RulesError::DeadlineNotPositive(_) => "deadline",
            };
            bad(format!("{at}.{key}: {e}"))
        })?;
        if b.expected_members > 10_000 {
            return Err(bad(format!("{at}.expected_members: must be at most 10000")));
        }
        let remind_at = b.remind_at.unwrap_or(0.75);
        if !(remind_at > 0.0 && remind_at < 1.0) {
            return Err(bad(format!(
                "{at}.remind_at: {remind_at} must be a share of the deadline between 0 and 1"
            )));
        }
        Ok(BoardPolicy {
            rules,
            expected_members: b.expected_members,
            remind_at,
        })
    };
    let cab = board("cab", raw.cab)?;
    let ecab = board("ecab", raw.ecab)?;
    let mut standard = BTreeMap::new();
    for (key, s) in raw.standard {
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad(format!(
                "change.standard.{key}: catalogue keys use lowercase letters, digits and `_`"
            )));
        }
        if s.name.trim().is_empty() {
            return Err(bad(format!("change.standard.{key}.name: must not be empty")));
        }
        for (i, svc) in s.services.iter().enumerate() {
            if !services.contains_key(svc) {
                return Err(bad(format!(
                    "change.standard.{key}.services[{i}]: unknown service `{svc}`"
                )));
            }
        }
        standard.insert(
            key.clone(),
            StandardChange {
                key,
                name: s.name,
                services: s.services,
            },
        );
    }
    let mut freezes = Vec::new();
    for (i, f) in raw.freeze.into_iter().enumerate() {
        if f.name.trim().is_empty() {
            return Err(bad(format!("change.freeze[{i}].name: must not be empty")));
        }
        let window = parse_existing_window(&f.window).map_err(|e| bad(format!("change.freeze[{i}].window: {e}")))?;
        freezes.push(Freeze { name: f.name, window });
    }
    Ok(ChangePolicy {
        requester_roles: raw.requester_roles,
        authority_roles: raw.authority_roles,
        auto_authorize_low_risk: raw.auto_authorize_low_risk,
        notice_lead,
        requester_may_implement: raw.requester_may_implement.unwrap_or(true),
        cab,
        ecab,
        standard,
        freezes,
    })
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

/// Reads a list of party words (`responsible`, `assignee`, …) at `at`.
fn parties(at: &str, words: &[String]) -> Result<Vec<Party>, ConfigError> {
    let known: Vec<&str> = Party::ALL.iter().map(|p| p.as_str()).collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let party = Party::parse(w)
            .ok_or_else(|| invalid(format!("{at}[{i}]: `{w}` is not a party (use {})", known.join(", "))))?;
        if !out.contains(&party) {
            out.push(party);
        }
    }
    Ok(out)
}

/// Checks business hours, naming the key of whatever is wrong.
fn check_hours(at: &str, raw: &RawHours) -> Result<BusinessHours, ConfigError> {
    let mut days = Vec::new();
    for (i, d) in raw.days.iter().enumerate() {
        let day: Weekday = d
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{at}.days[{i}]: `{d}` is not a weekday (Mon, Tue, … Sun)")))?;
        days.push(day);
    }
    let hours = BusinessHours::parse(days, &raw.open, &raw.close, &raw.tz).map_err(|e| {
        let field = match &e {
            SlaError::NoWorkingDays => "days",
            SlaError::UnknownTimeZone(_) => "tz",
            SlaError::BadTimeOfDay(text) if raw.open.trim().starts_with(text.trim_end_matches('…')) => "open",
            SlaError::BadTimeOfDay(_) => "close",
            _ => "open",
        };
        invalid(format!("{at}.{field}: {e}"))
    })?;
    let mut holidays = Vec::new();
    for (i, h) in raw.holidays.iter().enumerate() {
        let date = NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d")
            .map_err(|_| invalid(format!("{at}.holidays[{i}]: `{h}` is not a date (YYYY-MM-DD)")))?;
        holidays.push(date);
    }
    Ok(hours.with_holidays(holidays))
}

/// Checks one SLA target row.
fn check_target(at: &str, raw: &RawTarget, business: &BusinessHours) -> Result<SlaPolicy, ConfigError> {
    let respond = parse_duration(&raw.respond).map_err(|e| invalid(format!("{at}.respond: {e}")))?;
    let resolve = parse_duration(&raw.resolve).map_err(|e| invalid(format!("{at}.resolve: {e}")))?;
    if resolve < respond {
        return Err(invalid(format!(
            "{at}.resolve: `{}` is shorter than respond (`{}`)",
            raw.resolve, raw.respond
        )));
    }
    let shape = "must be \"24x7\", \"business\" or a table with days, open, close and tz";
    let calendar = match &raw.hours {
        None => Calendar::AlwaysOpen,
        Some(toml::Value::String(word)) => match word.trim().to_ascii_lowercase().as_str() {
            "24x7" | "24×7" | "always" => Calendar::AlwaysOpen,
            "business" => Calendar::BusinessHours(business.clone()),
            _ => return Err(invalid(format!("{at}.hours: `{word}` {shape}"))),
        },
        Some(table @ toml::Value::Table(_)) => {
            let hours = RawHours::deserialize(table.clone()).map_err(|e| invalid(format!("{at}.hours: {e}")))?;
            Calendar::BusinessHours(check_hours(&format!("{at}.hours"), &hours)?)
        }
        Some(_) => return Err(invalid(format!("{at}.hours: {shape}"))),
    };
    Ok(SlaPolicy {
        respond,
        resolve,
        calendar,
    })
}

/// Checks the `[sla]` section into [`SlaSettings`].
fn check_sla(raw: RawSla) -> Result<SlaSettings, ConfigError> {
    let reopen = match raw.reopen.trim().to_ascii_lowercase().as_str() {
        "restart" => ReopenPolicy::Restart,
        "continue" => ReopenPolicy::Continue,
        _ => {
            return Err(invalid(format!(
                "sla.reopen: `{}` must be \"restart\" or \"continue\"",
                raw.reopen
            )))
        }
    };
    let business = check_hours("sla.business_hours", &raw.business_hours)?;
    let mut targets: [Option<SlaPolicy>; 5] = Default::default();
    let mut major = None;
    for (key, target) in &raw.targets {
        let at = format!("sla.targets.{key}");
        let policy = check_target(&at, target, &business)?;
        match key.as_str() {
            "major" => major = Some(policy),
            k => {
                let level = k
                    .strip_prefix('p')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| (1..=5).contains(n));
                match level {
                    Some(n) => targets[n - 1] = Some(policy),
                    None if Priority::parse(k).is_some() || k.eq_ignore_ascii_case("major") => {
                        return Err(invalid(format!(
                            "{at}: write the key in lowercase (`{}`)",
                            k.to_ascii_lowercase()
                        )))
                    }
                    None => return Err(invalid(format!("{at}: unknown target (use p1 … p5 or major)"))),
                }
            }
        }
    }
    let mut checked = Vec::with_capacity(5);
    for (i, t) in targets.into_iter().enumerate() {
        checked.push(t.ok_or_else(|| invalid(format!("sla.targets.p{} is missing", i + 1)))?);
    }
    let targets: [SlaPolicy; 5] = checked
        .try_into()
        .map_err(|_| invalid("sla.targets: needs p1 … p5".into()))?;
    let major = major.ok_or_else(|| invalid("sla.targets.major is missing".into()))?;

    let mut warnings: Vec<WarningRule> = Vec::new();
    for (i, w) in raw.warnings.iter().enumerate() {
        let at = format!("sla.warnings[{i}]");
        let threshold = Threshold::from_fraction(w.at).map_err(|e| invalid(format!("{at}.at: {e}")))?;
        if threshold == Threshold::Breach {
            return Err(invalid(format!(
                "{at}.at: {} is the breach, which always fires through the sla_breach row; warnings go below 1.0",
                w.at
            )));
        }
        if warnings.iter().any(|x| x.threshold == threshold) {
            return Err(invalid(format!("{at}.at: {} is listed twice", w.at)));
        }
        warnings.push(WarningRule {
            threshold,
            ping: parties(&format!("{at}.ping"), &w.ping)?,
        });
    }
    warnings.sort_by_key(|w| w.threshold);
    let schedule = ThresholdSchedule::new(warnings.iter().map(|w| w.threshold.fraction()))
        .map_err(|e| invalid(format!("sla.warnings: {e}")))?;
    Ok(SlaSettings {
        targets,
        major,
        schedule,
        warnings,
        reopen,
    })
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
/// else a string), and `DISCORD_API_BASE` / `DISCORD_GATEWAY_URL` / `DISCORD_GUILD_ID`.
/// Returns the `OPSDESK_*` names whose first part names no top-level key;
/// they are left out.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    // The sections and keys the defaults hold, and the optional ones they may leave out.
    let known: Vec<String> = table
        .keys()
        .cloned()
        .chain(OPTIONAL_TOP_LEVEL.iter().map(|k| (*k).to_owned()))
        .collect();
    let mut stray = Vec::new();
    for (name, raw) in env {
        let path: Vec<String> = match name.as_str() {
            "DISCORD_API_BASE" => vec!["discord".into(), "api_base".into()],
            "DISCORD_GATEWAY_URL" => vec!["discord".into(), "gateway_url".into()],
            "DISCORD_GUILD_ID" => vec!["discord".into(), "guild_id".into()],
            // A secret, read by the HTTP listener itself (never part of the config).
            "OPSDESK_HOOK_TOKEN" => continue,
            n => match n.strip_prefix("OPSDESK_") {
                Some(rest) if !rest.is_empty() => rest.split("__").map(str::to_lowercase).collect(),
                _ => continue,
            },
        };
        if !known.contains(&path[0]) {
            stray.push(name);
            continue;
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        set_path(table, &path, value);
    }
    stray
}

/// Top-level keys the embedded defaults may leave out.
const OPTIONAL_TOP_LEVEL: [&str; 6] = ["database_durability", "discord", "outbox", "http", "shutdown", "ha"];

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
                "takeover too quick",
                "[ha]\ntakeover_within = \"1s\"",
                "ha.takeover_within: must be between 2s and 10m",
            ),
            (
                "takeover not a duration",
                "[ha]\ntakeover_within = \"soon\"",
                "ha.takeover_within:",
            ),
            (
                "bad survey timeout",
                "[incident]\nsurvey_timeout = \"soon\"",
                "incident.survey_timeout:",
            ),
            (
                "bad priority word",
                "[priority.matrix]\nlow = { high = \"P9\", medium = \"P4\", low = \"P5\" }",
                "P9",
            ),
            (
                "unknown outage role",
                "[outage]\nroles = [\"noc\"]",
                "outage.roles[0]: unknown role `noc`",
            ),
            (
                "no outage roles",
                "[outage]\nroles = []",
                "outage.roles: needs at least one role",
            ),
            (
                "empty status channel",
                "[outage]\nstatus_channel = \" # \"",
                "outage.status_channel: must not be empty",
            ),
            (
                "summary limit beyond an embed field",
                "[outage]\nsummary_max = 5000",
                "outage.summary_max: must be between 1 and 1000",
            ),
            (
                "flag that is not a boolean",
                "[outage]\nresolve_linked_incidents = \"yes\"",
                "resolve_linked_incidents",
            ),
            (
                "bad default outage impact",
                "[outage]\ndefault_impact = \"high\"",
                "outage.default_impact: `high` must be partial or major",
            ),
            (
                "storm card period beyond an hour",
                "[outage]\nstorm_card_every = \"2h\"",
                "outage.storm_card_every: must be between 0s and 1h",
            ),
            (
                "storm card period that is no duration",
                "[outage]\nstorm_card_every = \"often\"",
                "outage.storm_card_every:",
            ),
            ("unknown outage key", "[outage]\nstatus_chanel = \"x\"", "status_chanel"),
            (
                "service named like an outage subcommand",
                "[services.update]\nname = \"Updates\"\nowner = \"email_owner\"\ntiers = [\"service_desk\"]",
                "services.update: `update` is reserved",
            ),
            (
                "empty subscriber role",
                "[services.vpn]\nsubscriber_role = \"\"",
                "services.vpn.subscriber_role: must not be empty",
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
    fn bad_change_and_cab_edits_are_refused_naming_the_key() {
        let cases = [
            (
                "unknown authority role",
                "[change]\nauthority_roles = [\"change_manger\"]",
                "change.authority_roles[0]: unknown role `change_manger` (did you mean `change_manager`?)",
            ),
            (
                "no requester role",
                "[change]\nrequester_roles = []",
                "change.requester_roles: name at least one role",
            ),
            (
                "bad notice lead",
                "[change]\nnotice_lead = \"soon\"",
                "change.notice_lead:",
            ),
            (
                "a reminder at or past the deadline",
                "[change.ecab]\nremind_at = 1.0",
                "change.ecab.remind_at: 1 must be a share of the deadline between 0 and 1",
            ),
            (
                "unknown eligible role",
                "[change.cab]\neligible_roles = [\"cabb\"]",
                "change.cab.eligible_roles[0]: unknown role `cabb` (did you mean `cab`?)",
            ),
            (
                "no eligible role",
                "[change.ecab]\neligible_roles = []",
                "change.ecab.eligible_roles:",
            ),
            (
                "zero quorum",
                "[change.cab]\nquorum = 0",
                "change.cab.quorum: quorum count is 0",
            ),
            (
                "negative quorum",
                "[change.cab]\nquorum = -2",
                "change.cab.quorum: count -2",
            ),
            (
                "quorum fraction above one",
                "[change.ecab]\nquorum = 1.5",
                "change.ecab.quorum: quorum fraction 1.5",
            ),
            (
                "threshold above one",
                "[change.cab]\nthreshold = 1.2",
                "change.cab.threshold: threshold 1.2",
            ),
            (
                "threshold zero",
                "[change.cab]\nthreshold = 0.0",
                "change.cab.threshold:",
            ),
            (
                "deadline without unit",
                "[change.cab]\ndeadline = \"48\"",
                "change.cab.deadline:",
            ),
            ("quorum as text", "[change.cab]\nquorum = \"half\"", "quorum"),
            ("unknown board key", "[change.cab]\nquorom = 2", "quorom"),
            ("unknown change key", "[change]\nfreezes = []", "freezes"),
            (
                "catalogue entry on an unknown service",
                "[change.standard.reboot]\nname = \"Reboot\"\nservices = [\"emial\"]",
                "change.standard.reboot.services[0]: unknown service `emial`",
            ),
            (
                "catalogue key with capitals",
                "[change.standard.Reboot]\nname = \"Reboot\"",
                "change.standard.Reboot: catalogue keys",
            ),
            (
                "freeze ending before it starts",
                "[[change.freeze]]\nname = \"x\"\nwindow = \"2030-01-02T00:00..2030-01-01T00:00\"",
                "change.freeze[0].window: the window must end after it starts",
            ),
            (
                "freeze without a separator",
                "[[change.freeze]]\nname = \"x\"\nwindow = \"2030-01-02T00:00\"",
                "change.freeze[0].window:",
            ),
        ];
        for (what, overlay, expected) in cases {
            let err = load_with(overlay).expect_err(what).to_string();
            assert!(err.contains(expected), "{what}: {err}");
        }
    }

    #[test]
    fn bad_sla_and_escalation_edits_are_refused_naming_the_key() {
        let cases = [
            (
                "a duration that does not parse",
                "[sla.targets.p1]\nrespond = \"15 minutes\"",
                "sla.targets.p1.respond: \"15 minutes\" is not a duration",
            ),
            (
                "a fractional duration",
                "[sla.targets.p2]\nresolve = \"1.5h\"",
                "sla.targets.p2.resolve: \"1.5h\" is not a duration: fractions are not supported",
            ),
            (
                "a zero duration",
                "[sla.targets.major]\nrespond = \"0m\"",
                "sla.targets.major.respond: \"0m\" is not a duration: it is zero",
            ),
            (
                "resolve shorter than respond",
                "[sla.targets.p3]\nrespond = \"4h\"\nresolve = \"1h\"",
                "sla.targets.p3.resolve: `1h` is shorter than respond (`4h`)",
            ),
            (
                "an unknown priority",
                "[sla.targets.p6]\nrespond = \"1h\"\nresolve = \"2h\"",
                "sla.targets.p6: unknown target (use p1 … p5 or major)",
            ),
            (
                "an upper-case priority key",
                "[sla.targets.P1]\nrespond = \"1h\"\nresolve = \"2h\"",
                "sla.targets.P1: write the key in lowercase (`p1`)",
            ),
            (
                "an unknown hours word",
                "[sla.targets.p4]\nhours = \"office\"",
                "sla.targets.p4.hours: `office` must be \"24x7\", \"business\" or a table",
            ),
            (
                "a bad time zone in per-priority hours",
                "[sla.targets.p3]\nhours = { days = [\"Mon\"], open = \"08:00\", close = \"18:00\", tz = \"Mars/Olympus\" }",
                "sla.targets.p3.hours.tz: `Mars/Olympus` is not an IANA time zone",
            ),
            (
                "a bad weekday",
                "[sla.business_hours]\ndays = [\"Mon\", \"Fu\"]",
                "sla.business_hours.days[1]: `Fu` is not a weekday",
            ),
            (
                "a bad opening time",
                "[sla.business_hours]\nopen = \"9am\"",
                "sla.business_hours.open: `9am` is not a time of day",
            ),
            (
                "closing before opening",
                "[sla.business_hours]\nclose = \"08:00\"",
                "sla.business_hours.open: business hours must open before they close",
            ),
            (
                "no working days",
                "[sla.business_hours]\ndays = []",
                "sla.business_hours.days: business hours need at least one working day",
            ),
            (
                "a bad holiday",
                "[sla.business_hours]\nholidays = [\"25/12/2025\"]",
                "sla.business_hours.holidays[0]: `25/12/2025` is not a date (YYYY-MM-DD)",
            ),
            (
                "a bad reopen policy",
                "[sla]\nreopen = \"again\"",
                "sla.reopen: `again` must be \"restart\" or \"continue\"",
            ),
            (
                "a warning that is not a whole percent",
                "[[sla.warnings]]\nat = 0.875\nping = [\"responsible\"]",
                "sla.warnings[0].at: `0.875` is not a threshold",
            ),
            (
                "a warning at the breach",
                "[[sla.warnings]]\nat = 1.0",
                "sla.warnings[0].at: 1 is the breach",
            ),
            (
                "a warning listed twice",
                "[[sla.warnings]]\nat = 0.5\n[[sla.warnings]]\nat = 0.5",
                "sla.warnings[1].at: 0.5 is listed twice",
            ),
            (
                "a warning pinging nobody we know",
                "[[sla.warnings]]\nat = 0.9\nping = [\"boss\"]",
                "sla.warnings[0].ping[0]: `boss` is not a party (use assignee, responsible, accountable, consulted, informed)",
            ),
            ("an unknown sla key", "[sla]\nwarn_at = [0.5]", "warn_at"),
            (
                "an unknown default tier",
                "[escalation]\ndefault_tiers = [\"servce_desk\"]",
                "escalation.default_tiers[0]: unknown role `servce_desk` (did you mean `service_desk`?)",
            ),
            (
                "no default tiers",
                "[escalation]\ndefault_tiers = []",
                "escalation.default_tiers: needs at least one support role",
            ),
            (
                "a bad major ping",
                "[escalation]\nmajor_ping = [\"everyone\"]",
                "escalation.major_ping[0]: `everyone` is not a party",
            ),
        ];
        for (what, overlay, expected) in cases {
            let err = load_with(overlay).expect_err(what).to_string();
            assert!(err.contains(expected), "{what}: {err}");
        }
    }

    #[test]
    fn the_default_change_rules_give_the_cab_and_the_ecab_their_own_rules() {
        let p = Policy::defaults();
        let cab = p.change.board(Board::Cab);
        let ecab = p.change.board(Board::Ecab);
        assert_eq!(cab.rules.eligible_roles, vec![RoleKey::parse("cab").unwrap()]);
        assert_eq!(ecab.rules.eligible_roles, vec![RoleKey::parse("ecab").unwrap()]);
        assert!(ecab.rules.deadline < cab.rules.deadline);
        assert_eq!(cab.rules.quorum, Quorum::Fraction(0.5));
        assert_eq!(ecab.rules.quorum, Quorum::Count(2));
        assert!(p.change.is_authority(&[RoleKey::parse("change_manager").unwrap()]));
        assert!(!p.change.is_authority(&[RoleKey::parse("cab").unwrap()]));
        assert_eq!(
            p.change.catalogue("Restart the mail relay").map(|s| s.key.as_str()),
            Some("restart_mail_relay")
        );
        assert_eq!(
            p.change.catalogue("restart-mail-relay").map(|s| s.key.as_str()),
            Some("restart_mail_relay")
        );
        assert!(p.change.catalogue("rewrite payroll").is_none());
        let freeze =
            load_with("[[change.freeze]]\nname = \"year end\"\nwindow = \"2030-12-20T00:00..2031-01-03T00:00\"")
                .unwrap();
        assert_eq!(freeze.change.freezes.len(), 1);
        assert_eq!(freeze.change.freezes[0].name, "year end");
    }

    #[test]
    fn the_report_digest_is_off_by_default_and_its_schedule_is_checked_naming_the_key() {
        assert!(Policy::defaults().reports.digest.is_none());
        let p = load_with("[reports.digest]\nchannel = \"#service-level\"").unwrap();
        let digest = p.reports.digest.unwrap();
        assert_eq!(digest.channel, "service-level");
        assert_eq!(digest.schedule.describe(), "every 7d, Mon 09:00 UTC");
        for (overlay, want) in [
            (
                "[reports.digest]\nchannel = \" \"",
                "reports.digest.channel: name the channel",
            ),
            (
                "[reports.digest]\nchannel = \"x\"\nevery = \"3d\"",
                "reports.digest.at: a weekday needs",
            ),
            (
                "[reports.digest]\nchannel = \"x\"\nat = \"noon\"",
                "reports.digest.at: `noon` is not a time",
            ),
            (
                "[reports.digest]\nchannel = \"x\"\ntz = \"Moon\"",
                "reports.digest.tz: `Moon`",
            ),
            (
                "[reports.digest]\nchannel = \"x\"\nevery = \"90m\"",
                "reports.digest.every:",
            ),
        ] {
            let err = load_with(overlay).unwrap_err().to_string();
            assert!(err.contains(want), "{overlay}: {err}");
        }
    }

    #[test]
    fn a_missing_target_row_is_named() {
        let mut base: toml::Table = DEFAULT_TOML.parse().unwrap();
        base["sla"].as_table_mut().unwrap()["targets"]
            .as_table_mut()
            .unwrap()
            .remove("p3");
        let err = Policy::from_table(base).unwrap_err().to_string();
        assert_eq!(err, "sla.targets.p3 is missing");
    }

    #[test]
    fn default_sla_targets_match_the_documented_table_and_can_be_overridden() {
        use crate::domain::sla::default_targets;
        let p = Policy::defaults();
        assert_eq!(p.sla.targets, default_targets());
        assert_eq!(p.sla.reopen, ReopenPolicy::Restart);
        assert_eq!(p.sla.schedule, ThresholdSchedule::default());
        assert_eq!(p.sla.warning_ping(Threshold::warning(50).unwrap()), [Party::Assignee]);
        assert_eq!(
            p.sla.warning_ping(Threshold::warning(75).unwrap()),
            [Party::Responsible, Party::Accountable]
        );
        assert_eq!(
            p.sla.warning_ping(Threshold::warning(90).unwrap()),
            [Party::Responsible]
        );
        let p1 = Priority::parse("P1").unwrap();
        assert_eq!(p.sla.policy(p1, false).respond, chrono::TimeDelta::minutes(15));
        assert_eq!(p.sla.policy(p1, true).resolve, chrono::TimeDelta::hours(2));
        assert_eq!(p.tiers_for(Some("vpn")).len(), 2);
        assert_eq!(p.tiers_for(None), p.escalation.default_tiers.as_slice());

        let env = vec![
            ("OPSDESK_SLA__REOPEN".to_string(), "continue".to_string()),
            ("OPSDESK_SLA__TARGETS__P1__RESPOND".to_string(), "5m".to_string()),
        ];
        let p = Policy::load(None, env).unwrap();
        assert_eq!(p.sla.reopen, ReopenPolicy::Continue);
        assert_eq!(p.sla.policy(p1, false).respond, chrono::TimeDelta::minutes(5));
        let berlin = load_with(
            "[sla.targets.p2]\nhours = { days = [\"Mon\", \"Tue\"], open = \"08:00\", close = \"18:00\", tz = \"Europe/Berlin\" }",
        )
        .unwrap();
        let p2 = Priority::parse("P2").unwrap();
        assert_eq!(
            berlin.sla.policy(p2, false).calendar.to_string(),
            "Mon Tue 08:00–18:00 Europe/Berlin"
        );
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
    fn durability_is_full_unless_set_to_normal_and_nothing_else_is_accepted() {
        assert_eq!(Policy::defaults().database_durability, Durability::Full);
        let normal = Policy::load(
            None,
            vec![("OPSDESK_DATABASE_DURABILITY".to_string(), "normal".to_string())],
        )
        .unwrap();
        assert_eq!(normal.database_durability, Durability::Normal);
        let err = load_with("database_durability = \"off\"").unwrap_err().to_string();
        assert!(
            err.contains("unknown variant `off`, expected `full` or `normal`"),
            "{err}"
        );
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
        assert_eq!(p.discord.requests_per_second, 48);
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
    fn the_desk_guild_and_allowed_bots_are_ids_from_config_or_the_environment() {
        let p = Policy::defaults();
        assert_eq!(p.discord.guild_id, None);
        assert!(!p.discord.leave_other_guilds);
        assert!(p.discord.allowed_bots.is_empty());
        let env = vec![("DISCORD_GUILD_ID".to_string(), "1200000000000000001".to_string())];
        assert_eq!(
            Policy::load(None, env).unwrap().discord.guild_id,
            Some(1_200_000_000_000_000_001)
        );
        let p =
            load_with("[discord]\nguild_id = \"77\"\nleave_other_guilds = true\nallowed_bots = [5, \"6\"]").unwrap();
        assert_eq!(p.discord.guild_id, Some(77));
        assert!(p.discord.leave_other_guilds);
        assert_eq!(p.discord.allowed_bots, vec![5, 6]);
        for (raw, key) in [
            ("guild_id = \"desk\"", "discord.guild_id: `desk` is not a Discord id"),
            ("guild_id = -3", "discord.guild_id: `-3` is not a Discord id"),
            (
                "allowed_bots = [1, \"x\"]",
                "discord.allowed_bots[1]: `x` is not a Discord id",
            ),
        ] {
            let err = load_with(&format!("[discord]\n{raw}")).unwrap_err().to_string();
            assert!(err.contains(key), "{raw}: {err}");
        }
    }

    #[test]
    fn outage_settings_are_checked_into_the_policy() {
        let p = Policy::defaults();
        assert_eq!(p.outage.status_channel, "status");
        assert_eq!(p.outage.default_impact, OutageImpact::Partial);
        assert!(p.outage.resolve_linked_incidents);
        assert_eq!(p.outage.storm_card_every, TimeDelta::seconds(10));
        assert!(p.may_declare_outages(&p.itil_roles(["NOC"])));
        assert!(!p.may_declare_outages(&p.itil_roles(["CAB"])));
        let p = load_with("[outage]\nstatus_channel = \"#outages\"\nresolve_linked_incidents = false").unwrap();
        assert_eq!(p.outage.status_channel, "outages");
        assert!(!p.outage.resolve_linked_incidents);
        assert_eq!(
            p.services["email"].subscriber_role.as_deref(),
            Some("Email Subscribers")
        );
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
