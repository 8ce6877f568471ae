//! A fake Discord (REST API v10 + JSON gateway) for opsdesk's end-to-end tests.
//!
//! [`FakeDiscord::start`] binds two servers on `127.0.0.1`, on ports the OS picks:
//!
//! * a REST server (axum) that answers the paths serenity sends to `/api/v10/...` when its
//!   [`Http`](serenity::http::Http) is built with `HttpBuilder::new(token).proxy(fake.api_base())`;
//! * a gateway (tokio-tungstenite, JSON text frames, no compression) that serves HELLO,
//!   IDENTIFY → READY + GUILD_CREATE, HEARTBEAT → ACK and RESUME → replay + RESUMED.
//!
//! Nothing here ever talks to anything but loopback.
//!
//! Everything the bot does is kept in memory and can be inspected: every REST call
//! ([`FakeDiscord::calls`], [`FakeDiscord::wait_for`]), messages per channel with their edit
//! history, reactions and files (multipart creates and edits: `payload_json` + `files[n]`,
//! byte-exact in [`StoredMessage::files`]) ([`FakeDiscord::messages`]), threads, DM channels, registered commands and
//! interaction responses with their latency ([`FakeDiscord::interactions`]).
//!
//! Tests drive the bot by injecting gateway events ([`FakeDiscord::inject_message`],
//! [`FakeDiscord::inject_reaction_add`], [`FakeDiscord::inject_interaction`], ...), by injecting
//! faults into REST answers ([`FakeDiscord::fail_next`], [`FakeDiscord::fail_randomly`],
//! [`FakeDiscord::enforce_budgets`]) and by breaking the gateway connection
//! ([`FakeDiscord::drop_connection`], [`FakeDiscord::invalidate_session`]).
//!
//! # Connecting serenity 0.12.5
//!
//! ```ignore
//! let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
//! let http = HttpBuilder::new(&fake.spec().token)
//!     .proxy(fake.api_base())
//!     .ratelimiter_disabled(true)
//!     .build();
//! let mut client = ClientBuilder::new_with_http(http, intents).event_handler(h).await?;
//! // `ClientBuilder`'s future already called GET /gateway, which the fake answers with its
//! // gateway URL; setting it explicitly guards against serenity's silent fallback to
//! // wss://gateway.discord.gg when that call fails.
//! *client.ws_url.lock().await = fake.gateway_url();
//! client.start().await?;
//! ```
//!
//! # Behaviour worth knowing
//!
//! * The bot's own actions are echoed on the gateway, as Discord does (`echo_bot_actions`,
//!   on by default): MESSAGE_CREATE/UPDATE/DELETE for its messages, MESSAGE_REACTION_ADD/REMOVE
//!   for its reactions, THREAD_CREATE for its threads. A bot must ignore its own events.
//! * Intents are honoured (`enforce_intents`, on by default): guild message events need
//!   GUILD_MESSAGES, reaction events GUILD_MESSAGE_REACTIONS, DM events DIRECT_MESSAGES /
//!   DIRECT_MESSAGE_REACTIONS, and without MESSAGE_CONTENT other users' guild messages arrive
//!   with empty content (unless they mention the bot), exactly like Discord.
//! * Unlike Discord, GUILD_CREATE always carries every configured member (so a cache-less bot
//!   can read roles from it), and events injected while no session exists (before the first
//!   IDENTIFY, or after [`FakeDiscord::invalidate_session`]) are held back and delivered right
//!   after the next READY + GUILD_CREATE. Events injected while a session exists but its socket
//!   is down are kept in the session log and replayed on RESUME, as on Discord.
//! * Interaction callbacks must arrive within `interaction_deadline` (3 s by default) or get
//!   404 `10062 Unknown interaction`; a second callback gets 400 `40060`.
//! * Components and modals are checked against Discord's limits ([`components`]): at most 5
//!   action rows of at most 5 buttons, custom_id 1–100 chars, label ≤ 80; a modal's title ≤ 45
//!   and 1–5 text inputs (label ≤ 45, lengths within 4000). A message create/edit, interaction
//!   message (type 4/7) or modal (type 9) breaking one gets 400 `50035 Invalid Form Body` with
//!   the error nested at the field. Components are kept on stored messages (`json["components"]`);
//!   [`FakeDiscord::inject_component_interaction`] (type 3) and
//!   [`FakeDiscord::inject_modal_submit`] (type 5) drive them, and
//!   [`InteractionRecord::callback_type`] / [`InteractionRecord::modal`] read the answer. An
//!   interaction in a DM channel carries `user`, no `member` or `guild_id`, as on Discord.
//! * Unknown routes answer 404 and are recorded ([`FakeDiscord::unknown_routes`]).
//! * Realistic refusals: unknown channel 404/10003, unknown message 404/10008, empty message
//!   400/50006, content over 2000 chars 400/50035, an emoji given as ASCII text (`thumbsup`)
//!   400/10014, a second thread on one message 400/160004, REST with a wrong token 401.
//!
//! # Serenity 0.12.5 facts this relies on
//!
//! * Start-up makes exactly one REST call, `GET /gateway` (inside `ClientBuilder`'s future, not
//!   in `start()`); `GET /gateway/bot` only for `start_autosharded`, `/users/@me` only with the
//!   voice feature, `/oauth2/applications/@me` never. The application id comes from READY, so
//!   command registration and interaction webhooks (edit/followup) only work after READY.
//! * RESUME is sent right after the socket opens, before HELLO; the fake replays the missed
//!   dispatches and then sends RESUMED. A restart after INVALID_SESSION waits 5 s
//!   (serenity's pause between shard boots).
//! * Serenity runs each `EventHandler` call in its own task: handlers may observe events out
//!   of gateway order.
//! * A dispatch serenity cannot deserialize becomes `Event::Unknown` and is only logged at
//!   DEBUG (`serenity::client::dispatch`: "An unknown event was received").
//! * `CreateMessage::nonce(Nonce::String(..)).enforce_nonce(true)` sends `nonce` and
//!   `enforce_nonce: true`; with the ratelimiter disabled a 429 surfaces as
//!   `HttpError::UnsuccessfulRequest` with status 429 (headers are not exposed).

// The fake is a library for many tests; each test uses only part of its API.
#![allow(dead_code)]

pub mod components;
mod gateway;
mod payloads;
mod rest;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

pub use payloads::opt;

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds; snowflakes count from it.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Gateway intent bits the fake knows about (same values as serenity's `GatewayIntents`).
pub mod intents {
    /// `GUILDS`
    pub const GUILDS: u64 = 1 << 0;
    /// `GUILD_MEMBERS` (privileged)
    pub const GUILD_MEMBERS: u64 = 1 << 1;
    /// `GUILD_MESSAGES`
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    /// `GUILD_MESSAGE_REACTIONS`
    pub const GUILD_MESSAGE_REACTIONS: u64 = 1 << 10;
    /// `DIRECT_MESSAGES`
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// `DIRECT_MESSAGE_REACTIONS`
    pub const DIRECT_MESSAGE_REACTIONS: u64 = 1 << 13;
    /// `MESSAGE_CONTENT` (privileged)
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
}

// ---------------------------------------------------------------------------------------------
// Guild description
// ---------------------------------------------------------------------------------------------

/// A role of the fake guild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSpec {
    /// Role snowflake.
    pub id: u64,
    /// Role name, e.g. `"Service Desk"`.
    pub name: String,
}

/// A text channel of the fake guild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Channel snowflake.
    pub id: u64,
    /// Channel name, e.g. `"service-desk"`.
    pub name: String,
}

/// A member (a human user) of the fake guild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// User snowflake.
    pub user_id: u64,
    /// Unique username, e.g. `"alice"`.
    pub username: String,
    /// Role snowflakes the member has (the `@everyone` role is implicit).
    pub role_ids: Vec<u64>,
    /// When true, messages the bot sends to this user's DM channel fail with 403 / 50007.
    pub dms_closed: bool,
}

/// Everything the fake needs to know about "its" guild, bot and application.
#[derive(Clone, Debug)]
pub struct GuildSpec {
    /// Guild snowflake (also the id of the `@everyone` role).
    pub guild_id: u64,
    /// Guild name.
    pub guild_name: String,
    /// Guild owner (a user id; need not be a member).
    pub owner_id: u64,
    /// The bot's user id.
    pub bot_user_id: u64,
    /// The bot's username.
    pub bot_username: String,
    /// The application id (distinct from the bot user id by default, to catch mix-ups).
    pub application_id: u64,
    /// The only token accepted, without the `Bot ` prefix (which is accepted too).
    pub token: String,
    /// Roles (besides `@everyone` and the bot's managed role, which the fake adds).
    pub roles: Vec<RoleSpec>,
    /// Text channels.
    pub channels: Vec<ChannelSpec>,
    /// Human members (the bot is added as a member by the fake).
    pub members: Vec<MemberSpec>,
    /// HELLO heartbeat interval in milliseconds (Discord: 41250).
    pub heartbeat_interval_ms: u64,
    /// Interaction callbacks arriving later than this after injection get 404 `10062`.
    /// `None` disables the check.
    pub interaction_deadline: Option<Duration>,
    /// Echo the bot's own messages, edits, deletions, reactions and threads on the gateway.
    pub echo_bot_actions: bool,
    /// Filter/blank gateway events according to the intents sent in IDENTIFY.
    pub enforce_intents: bool,
    /// Other guilds the bot is in (same bot, their own roles, channels and members): GUILD_CREATE
    /// for each after (or, with `other_guilds_first`, before) this guild's.
    pub other_guilds: Vec<GuildSpec>,
    /// Send the other guilds' GUILD_CREATE before this guild's.
    pub other_guilds_first: bool,
    /// Members that are bot accounts (`user.bot = true`).
    pub bot_members: Vec<u64>,
    /// Drop events injected while no session exists (after [`FakeDiscord::invalidate_session`]),
    /// as Discord does, instead of holding them back for the next READY.
    pub drop_events_without_session: bool,
}

impl GuildSpec {
    /// A bare guild with no roles, channels or members, for tests that build their own.
    pub fn new(guild_id: u64, guild_name: impl Into<String>) -> Self {
        Self {
            guild_id,
            guild_name: guild_name.into(),
            owner_id: guild_id + 1,
            bot_user_id: 1_200_000_000_000_000_100,
            bot_username: "opsdesk".to_string(),
            application_id: 1_200_000_000_000_000_050,
            token: "MTIwMDAwMDAwMDAwMDAwMDEwMA.GfAkE0.opsdesk-e2e-fake-token".to_string(),
            roles: Vec::new(),
            channels: Vec::new(),
            members: Vec::new(),
            heartbeat_interval_ms: 41_250,
            interaction_deadline: Some(Duration::from_secs(3)),
            echo_bot_actions: true,
            enforce_intents: true,
            other_guilds: Vec::new(),
            other_guilds_first: false,
            bot_members: Vec::new(),
            drop_events_without_session: false,
        }
    }

    /// A copy of the service-desk guild under other ids (guild, roles, channels and members
    /// shifted by `shift`; usernames prefixed `x-`), for a second guild that names everything
    /// as the desk's does.
    pub fn look_alike(shift: u64) -> Self {
        let mut spec = Self::service_desk_default();
        spec.guild_id += shift;
        spec.guild_name = format!("Look-alike {shift}");
        for r in &mut spec.roles {
            r.id += shift;
        }
        for c in &mut spec.channels {
            c.id += shift;
        }
        for m in &mut spec.members {
            m.user_id += shift;
            m.username = format!("x-{}", m.username);
            for r in &mut m.role_ids {
                *r += shift;
            }
        }
        spec.owner_id += shift;
        spec
    }

    /// This guild and the other guilds, this one first.
    pub fn all_guilds(&self) -> Vec<&GuildSpec> {
        std::iter::once(self).chain(self.other_guilds.iter()).collect()
    }

    /// The guild holding `channel_id` (this one when no guild does, e.g. threads and DMs).
    pub fn guild_of_channel(&self, channel_id: u64) -> &GuildSpec {
        self.other_guilds
            .iter()
            .find(|g| g.channels.iter().any(|c| c.id == channel_id))
            .unwrap_or(self)
    }

    /// A member of any of the guilds.
    pub fn any_member(&self, user_id: u64) -> Option<&MemberSpec> {
        self.all_guilds()
            .into_iter()
            .flat_map(|g| g.members.iter())
            .find(|m| m.user_id == user_id)
    }

    /// Whether `user_id` is a bot account (opsdesk or a listed bot member of any guild).
    pub fn is_bot(&self, user_id: u64) -> bool {
        user_id == self.bot_user_id || self.all_guilds().iter().any(|g| g.bot_members.contains(&user_id))
    }

    /// The opsdesk service-desk guild.
    ///
    /// Roles: Service Desk, Systems Support, Incident Manager, Problem Manager, Change Manager,
    /// CAB, ECAB, Service Level Manager, IT Security Manager, Email Service Owner.
    /// Channels: service-desk, incident-management, systems-support, problem-management, cab,
    /// status, security, general.
    /// Members (username → roles): `alice` → Service Desk; `bob` → none (plain user);
    /// `irene` → Incident Manager; `carlos` → Change Manager; `dana`, `eli` → CAB;
    /// `fay` → CAB + ECAB; `gus` → none, with DMs closed.
    pub fn service_desk_default() -> Self {
        let mut spec = Self::new(1_200_000_000_000_000_001, "Opsdesk Test Guild");
        let role_names = [
            "Service Desk",
            "Systems Support",
            "Incident Manager",
            "Problem Manager",
            "Change Manager",
            "CAB",
            "ECAB",
            "Service Level Manager",
            "IT Security Manager",
            "Email Service Owner",
        ];
        spec.roles = role_names
            .iter()
            .zip(1_200_000_000_000_000_201u64..)
            .map(|(name, id)| RoleSpec {
                id,
                name: (*name).to_string(),
            })
            .collect();
        let channel_names = [
            "service-desk",
            "incident-management",
            "systems-support",
            "problem-management",
            "cab",
            "status",
            "security",
            "general",
        ];
        spec.channels = channel_names
            .iter()
            .zip(1_200_000_000_000_000_301u64..)
            .map(|(name, id)| ChannelSpec {
                id,
                name: (*name).to_string(),
            })
            .collect();
        let members: [(&str, &[&str], bool); 8] = [
            ("alice", &["Service Desk"], false),
            ("bob", &[], false),
            ("irene", &["Incident Manager"], false),
            ("carlos", &["Change Manager"], false),
            ("dana", &["CAB"], false),
            ("eli", &["CAB"], false),
            ("fay", &["CAB", "ECAB"], false),
            ("gus", &[], true),
        ];
        spec.members = members
            .iter()
            .zip(1_200_000_000_000_000_401u64..)
            .map(|((username, roles, dms_closed), user_id)| MemberSpec {
                user_id,
                username: (*username).to_string(),
                role_ids: roles.iter().map(|r| spec.role_id(r)).collect(),
                dms_closed: *dms_closed,
            })
            .collect();
        spec.owner_id = spec.user_id("irene");
        spec
    }

    /// The id of the role called `name`. Panics (with the known names) if there is none.
    pub fn role_id(&self, name: &str) -> u64 {
        self.roles
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.id)
            .unwrap_or_else(|| {
                let known: Vec<_> = self.roles.iter().map(|r| r.name.as_str()).collect();
                panic!("fake_discord: no role named {name:?}; known roles: {known:?}")
            })
    }

    /// The id of the channel called `name`. Panics (with the known names) if there is none.
    pub fn channel_id(&self, name: &str) -> u64 {
        self.channels
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id)
            .unwrap_or_else(|| {
                let known: Vec<_> = self.channels.iter().map(|c| c.name.as_str()).collect();
                panic!("fake_discord: no channel named {name:?}; known channels: {known:?}")
            })
    }

    /// The user id of the member called `username`. Panics (with the known names) if none.
    pub fn user_id(&self, username: &str) -> u64 {
        self.member(username).user_id
    }

    /// The member called `username`. Panics (with the known names) if there is none.
    pub fn member(&self, username: &str) -> &MemberSpec {
        self.members.iter().find(|m| m.username == username).unwrap_or_else(|| {
            let known: Vec<_> = self.members.iter().map(|m| m.username.as_str()).collect();
            panic!("fake_discord: no member named {username:?}; known members: {known:?}")
        })
    }

    /// Adds members (name, id suffix after the default members' base) who
    /// hold the role called `role_name`.
    pub fn add_members_with_role(&mut self, role_name: &str, members: &[(&str, u64)]) {
        let role = self.role_id(role_name);
        for (name, id) in members {
            self.members.push(MemberSpec {
                user_id: 1_200_000_000_000_000_000 + id,
                username: (*name).to_owned(),
                role_ids: vec![role],
                dms_closed: false,
            });
        }
    }

    /// User ids of the members holding the role called `role_name`.
    pub fn members_with_role(&self, role_name: &str) -> Vec<u64> {
        let role = self.role_id(role_name);
        self.members
            .iter()
            .filter(|m| m.role_ids.contains(&role))
            .map(|m| m.user_id)
            .collect()
    }

    /// The id of the managed role the fake gives the bot (`guild_id + 99`).
    pub fn bot_role_id(&self) -> u64 {
        self.guild_id + 99
    }
}

// ---------------------------------------------------------------------------------------------
// Recorded REST calls, matchers and faults
// ---------------------------------------------------------------------------------------------

/// One REST request the bot made, as the fake saw and answered it.
#[derive(Clone, Debug)]
pub struct Call {
    /// 0-based arrival order.
    pub index: usize,
    /// HTTP method, upper case (`"POST"`).
    pub method: String,
    /// Path below `/api/v10`, percent-decoded, e.g. `/channels/1/messages/2/reactions/✅/@me`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The JSON body (for multipart requests: the `payload_json` part).
    pub body: Option<Value>,
    /// The `X-Audit-Log-Reason` header, percent-decoded.
    pub audit_log_reason: Option<String>,
    /// Arrival time, relative to [`FakeDiscord::start`].
    pub at: Duration,
    /// HTTP status the fake answered.
    pub status: u16,
    /// The JSON the fake answered with, if any.
    pub response: Option<Value>,
    /// The fault served instead of the normal answer, if any.
    pub fault: Option<FaultKind>,
    /// True when no route matched (answered 404).
    pub unknown_route: bool,
}

impl Call {
    /// Whether this call matches a `"METHOD /path/{param}/..."` pattern (see [`CallMatcher`]).
    pub fn is(&self, pattern: &str) -> bool {
        CallMatcher::from(pattern).matches(&self.method, &self.path)
    }

    /// The `i`-th path segment (0-based, after `/api/v10`), e.g. the channel id of
    /// `/channels/{id}/messages` is `segment(1)`.
    pub fn segment(&self, i: usize) -> Option<&str> {
        self.path.trim_start_matches('/').split('/').nth(i)
    }

    /// The `i`-th path segment parsed as a snowflake.
    pub fn id_at(&self, i: usize) -> Option<u64> {
        self.segment(i).and_then(|s| s.parse().ok())
    }

    /// True when the answer was a 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} +{:?} {} {} -> {}",
            self.index, self.at, self.method, self.path, self.status
        )?;
        if let Some(fault) = &self.fault {
            write!(f, " [fault {fault:?}]")?;
        }
        if self.unknown_route {
            write!(f, " [unknown route]")?;
        }
        if let Some(body) = &self.body {
            let mut text = body.to_string();
            if text.len() > 160 {
                let mut cut = 160;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

/// A predicate over a call's (method, path), as used by [`CallMatcher::Custom`].
pub type CallPredicate = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Picks REST calls by method and path.
///
/// From a string `"METHOD /seg/{any}/seg"`: the method may be `*`; a `{name}` segment matches
/// any one segment; a trailing `/**` matches any rest; other segments match literally (paths are
/// compared percent-decoded and without the `/api/v10` prefix). Or any closure via
/// [`CallMatcher::custom`].
#[derive(Clone)]
pub enum CallMatcher {
    /// A `"METHOD /path/{param}"` pattern.
    Pattern {
        /// Method, or `*`.
        method: String,
        /// Segments; `{..}` = any one, trailing `**` = any rest.
        segments: Vec<String>,
    },
    /// A predicate over (method, path).
    Custom(CallPredicate),
}

impl CallMatcher {
    /// Matches calls for which `f(method, path)` is true.
    pub fn custom(f: impl Fn(&str, &str) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// Matches every call.
    pub fn any() -> Self {
        Self::custom(|_, _| true)
    }

    /// Whether a call with this method and path (below `/api/v10`) matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        match self {
            Self::Custom(f) => f(method, path),
            Self::Pattern { method: m, segments } => {
                if m != "*" && !m.eq_ignore_ascii_case(method) {
                    return false;
                }
                let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
                for (i, want) in segments.iter().enumerate() {
                    if want == "**" {
                        return true;
                    }
                    let Some(got) = actual.get(i) else { return false };
                    let wildcard = want.starts_with('{') && want.ends_with('}');
                    if !wildcard && want != got {
                        return false;
                    }
                }
                actual.len() == segments.len()
            }
        }
    }
}

impl From<&str> for CallMatcher {
    fn from(pattern: &str) -> Self {
        let pattern = pattern.trim();
        let (method, path) = pattern.split_once(' ').unwrap_or(("*", pattern));
        let path = path.trim();
        let path = path.strip_prefix("/api/v10").unwrap_or(path);
        Self::Pattern {
            method: method.trim().to_ascii_uppercase(),
            segments: path.trim_matches('/').split('/').map(str::to_string).collect(),
        }
    }
}

impl From<String> for CallMatcher {
    fn from(pattern: String) -> Self {
        Self::from(pattern.as_str())
    }
}

impl fmt::Debug for CallMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pattern { method, segments } => write!(f, "{method} /{}", segments.join("/")),
            Self::Custom(_) => f.write_str("<custom matcher>"),
        }
    }
}

/// A failure the fake serves instead of the normal answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// HTTP 429 with `{message, retry_after, global, code: 0}` and `retry-after` /
    /// `x-ratelimit-*` headers.
    RateLimited {
        /// Seconds (float) the client must wait.
        retry_after_secs: f64,
        /// Whether this is the global limit (`x-ratelimit-global: true`, scope `global`).
        global: bool,
    },
    /// HTTP 500 `{"message": "500: Internal Server Error", "code": 0}`.
    ServerError,
    /// HTTP 403 `{"code": 50007, "message": "Cannot send messages to this user"}`.
    DmClosed,
    /// Any status with any JSON body.
    Custom {
        /// HTTP status.
        status: u16,
        /// JSON body.
        body: Value,
    },
    /// Wait this long, then answer normally (for client time-out tests).
    Delay(Duration),
}

/// What kind of fault a call was answered with (see [`Call::fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// An injected or random 429.
    RateLimited,
    /// An injected or random 500.
    ServerError,
    /// An injected 403 / 50007.
    DmClosed,
    /// An injected [`Fault::Custom`].
    Custom,
    /// An injected [`Fault::Delay`] (the call was then answered normally).
    Delay,
    /// Budget enforcement: more than 50 requests in one second.
    BudgetGlobal,
    /// Budget enforcement: more than 5 message creates in one channel in five seconds.
    BudgetChannel,
}

/// Counts of faults served so far, by kind (budget 429s are in [`FakeDiscord::budget_violations`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// 429s served by `fail_next` / `fail_randomly`.
    pub rate_limited: usize,
    /// 500s served by `fail_next` / `fail_randomly`.
    pub server_errors: usize,
    /// 403 / 50007 served by `fail_next`.
    pub dm_closed: usize,
    /// [`Fault::Custom`] answers served.
    pub custom: usize,
    /// [`Fault::Delay`]s applied.
    pub delays: usize,
}

impl FaultCounts {
    /// All faults served, delays excluded.
    pub fn total(&self) -> usize {
        self.rate_limited + self.server_errors + self.dm_closed + self.custom
    }
}

// ---------------------------------------------------------------------------------------------
// Stored objects
// ---------------------------------------------------------------------------------------------

/// A message the fake knows: sent by the bot over REST / as an interaction response, or
/// injected as a user message.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// Message snowflake.
    pub id: u64,
    /// Channel (text channel, thread or DM channel).
    pub channel_id: u64,
    /// Author user id (the bot for REST-created messages).
    pub author_id: u64,
    /// Current message object, as `GET /channels/{c}/messages/{m}` serves it.
    pub json: Value,
    /// The JSON body of the create request (`None` for injected messages).
    pub create_body: Option<Value>,
    /// Bodies of every PATCH applied, oldest first.
    pub edit_bodies: Vec<Value>,
    /// Message objects before each edit, oldest first.
    pub history: Vec<Value>,
    /// Current reactions as (emoji, user id); emoji as decoded text (`"✅"`, `"name:id"`).
    pub reactions: Vec<(String, u64)>,
    /// Set when the message was deleted.
    pub deleted: bool,
    /// The interaction this message answers, if any.
    pub interaction_id: Option<u64>,
    /// The files the message has now (multipart `files[n]` of its create or edits).
    pub files: Vec<FakeFile>,
}

/// A file attached to a bot message, as uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeFile {
    /// The attachment's snowflake.
    pub id: u64,
    pub filename: String,
    /// The part's `Content-Type`, as sent.
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl StoredMessage {
    /// Current content.
    pub fn content(&self) -> &str {
        self.json["content"].as_str().unwrap_or_default()
    }

    /// Current embeds.
    pub fn embeds(&self) -> Vec<Value> {
        self.json["embeds"].as_array().cloned().unwrap_or_default()
    }

    /// Users who reacted with `emoji`.
    pub fn reactors(&self, emoji: &str) -> Vec<u64> {
        self.reactions
            .iter()
            .filter(|(e, _)| e == emoji)
            .map(|(_, u)| *u)
            .collect()
    }
}

/// A thread the bot created.
#[derive(Clone, Debug)]
pub struct ThreadInfo {
    /// Thread channel id (equal to the starter message id for threads from a message).
    pub id: u64,
    /// Parent text channel.
    pub parent_id: u64,
    /// Thread name.
    pub name: String,
    /// Starter message, for threads created from a message.
    pub message_id: Option<u64>,
    /// The create request body.
    pub create_body: Value,
    /// User ids added with `PUT /channels/{thread}/thread-members/{user}`.
    pub added_members: Vec<u64>,
}

/// An injected interaction and what the bot answered.
#[derive(Clone, Debug)]
pub struct InteractionRecord {
    /// Interaction snowflake.
    pub id: u64,
    /// Interaction token.
    pub token: String,
    /// Command name (slash commands) or custom id (components).
    pub name: String,
    /// Channel it was invoked in.
    pub channel_id: u64,
    /// Invoking user.
    pub user_id: u64,
    /// Time of injection, relative to [`FakeDiscord::start`].
    pub injected_at: Duration,
    /// Body of the accepted `POST /interactions/{id}/{token}/callback`.
    pub callback: Option<Value>,
    /// Time from injection to the accepted callback.
    pub callback_latency: Option<Duration>,
    /// Callback attempts rejected (late or duplicate), with the status served.
    pub rejected_callbacks: Vec<(Duration, u16)>,
    /// The original response message (created by a type 4/5 callback).
    pub original_message_id: Option<u64>,
    /// Bodies of `PATCH /webhooks/{app}/{token}/messages/@original`.
    pub original_edits: Vec<Value>,
    /// Ids of followup messages.
    pub followup_message_ids: Vec<u64>,
    /// The message a component interaction was on.
    pub component_message_id: Option<u64>,
    /// Interaction type: 2 application command, 3 message component, 5 modal submit.
    pub kind: u8,
}

impl InteractionRecord {
    /// The callback's type (4 message, 5 deferred message, 6 deferred update,
    /// 7 update message, 9 modal), once answered.
    pub fn callback_type(&self) -> Option<u64> {
        self.callback.as_ref().and_then(|c| c["type"].as_u64())
    }

    /// The modal the bot answered with (type 9), if it did.
    pub fn modal(&self) -> Option<Value> {
        (self.callback_type() == Some(9)).then(|| self.callback.as_ref().map(|c| c["data"].clone()))?
    }
}

// ---------------------------------------------------------------------------------------------
// Injection specs
// ---------------------------------------------------------------------------------------------

/// A slash command invocation to inject with [`FakeDiscord::inject_interaction`].
///
/// ```ignore
/// let spec = InteractionSpec::slash("incident", alice, channel)
///     .sub_command("open", vec![opt::string("summary", "VPN down"), opt::integer("priority", 2)]);
/// ```
#[derive(Clone, Debug)]
pub struct InteractionSpec {
    /// Command name (its id is taken from the registered commands when present).
    pub command_name: String,
    /// Invoking member.
    pub user_id: u64,
    /// Channel it is invoked in.
    pub channel_id: u64,
    /// Top-level options, built with [`opt`].
    pub options: Vec<Value>,
    /// User locale (`"en-US"` by default).
    pub locale: String,
}

impl InteractionSpec {
    /// A guild slash command (`type 1` CHAT_INPUT) without options.
    pub fn slash(command_name: impl Into<String>, user_id: u64, channel_id: u64) -> Self {
        Self {
            command_name: command_name.into(),
            user_id,
            channel_id,
            options: Vec::new(),
            locale: "en-US".to_string(),
        }
    }

    /// Adds an option built with [`opt`].
    pub fn option(mut self, option: Value) -> Self {
        self.options.push(option);
        self
    }

    /// Adds a string option.
    pub fn string(self, name: &str, value: impl Into<String>) -> Self {
        self.option(opt::string(name, value))
    }

    /// Adds an integer option.
    pub fn integer(self, name: &str, value: i64) -> Self {
        self.option(opt::integer(name, value))
    }

    /// Adds a boolean option.
    pub fn boolean(self, name: &str, value: bool) -> Self {
        self.option(opt::boolean(name, value))
    }

    /// Adds a user option (resolved data is filled in by the fake).
    pub fn user(self, name: &str, user_id: u64) -> Self {
        self.option(opt::user(name, user_id))
    }

    /// Adds a sub-command with its options.
    pub fn sub_command(self, name: &str, options: Vec<Value>) -> Self {
        self.option(opt::sub_command(name, options))
    }
}

/// A message-component (button / select) click to inject with
/// [`FakeDiscord::inject_component_interaction`].
#[derive(Clone, Debug)]
pub struct ComponentSpec {
    /// The component's `custom_id`.
    pub custom_id: String,
    /// Clicking member.
    pub user_id: u64,
    /// Channel of the message.
    pub channel_id: u64,
    /// The (bot) message carrying the component; must be stored in the fake.
    pub message_id: u64,
    /// Component type: 2 button (default), 3 string select.
    pub component_type: u8,
    /// Selected values for select menus.
    pub values: Vec<String>,
}

impl ComponentSpec {
    /// A button click.
    pub fn button(custom_id: impl Into<String>, user_id: u64, channel_id: u64, message_id: u64) -> Self {
        Self {
            custom_id: custom_id.into(),
            user_id,
            channel_id,
            message_id,
            component_type: 2,
            values: Vec::new(),
        }
    }
}

/// A modal submit to inject with [`FakeDiscord::inject_modal_submit`].
#[derive(Clone, Debug)]
pub struct ModalSpec {
    /// The modal's `custom_id`.
    pub custom_id: String,
    /// Submitting member.
    pub user_id: u64,
    /// Channel the modal was opened in.
    pub channel_id: u64,
    /// Text input values by custom id (one row each, as Discord sends them).
    pub values: Vec<(String, String)>,
}

impl ModalSpec {
    /// A submit of the modal `custom_id` with no values yet.
    pub fn new(custom_id: impl Into<String>, user_id: u64, channel_id: u64) -> Self {
        Self {
            custom_id: custom_id.into(),
            user_id,
            channel_id,
            values: Vec::new(),
        }
    }

    /// Fills in one text input.
    pub fn value(mut self, custom_id: &str, value: impl Into<String>) -> Self {
        self.values.push((custom_id.to_owned(), value.into()));
        self
    }

    /// The submit of the modal a callback opened, filled in with `values`.
    pub fn of(modal: &Value, user_id: u64, channel_id: u64, values: &[(&str, &str)]) -> Self {
        let custom_id = modal["custom_id"].as_str().expect("a modal has a custom_id");
        let mut spec = Self::new(custom_id, user_id, channel_id);
        for (k, v) in values {
            spec = spec.value(k, *v);
        }
        spec
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway statistics
// ---------------------------------------------------------------------------------------------

/// Gateway counters and state.
#[derive(Clone, Debug, Default)]
pub struct GatewayStats {
    /// WebSocket connections accepted.
    pub connections: usize,
    /// Successful IDENTIFYs (each starts a new session).
    pub identifies: usize,
    /// Successful RESUMEs.
    pub resumes: usize,
    /// RESUMEs refused with op 9 (unknown session).
    pub failed_resumes: usize,
    /// IDENTIFY/RESUME attempts with a wrong token (closed with 4004).
    pub auth_failures: usize,
    /// HEARTBEATs received.
    pub heartbeats: usize,
    /// Dispatch frames written to a socket (replays included).
    pub dispatches_sent: usize,
    /// Events dropped because the session's intents exclude them.
    pub filtered_by_intents: usize,
    /// True while a connection is identified/resumed and receiving dispatches.
    pub connected: bool,
    /// Current session id.
    pub session_id: Option<String>,
    /// Last sequence number assigned in the current session.
    pub last_seq: u64,
    /// Intents of the last IDENTIFY.
    pub intents: Option<u64>,
    /// Request URIs of the WebSocket upgrades (e.g. `/?v=10`).
    pub connect_uris: Vec<String>,
    /// Every client frame received (IDENTIFY/RESUME tokens redacted).
    pub client_frames: Vec<Value>,
}

// ---------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------

struct Inner {
    spec: GuildSpec,
    started: Instant,
    api_base: String,
    gateway_url: String,
    state: Mutex<State>,
    /// Woken on every recorded call and every gateway state change.
    changed: Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A channel the REST side knows.
#[derive(Clone, Debug)]
struct ChannelEntry {
    json: Value,
    /// 0 text, 1 DM, 11 public thread.
    kind: u8,
    /// DM recipient.
    recipient: Option<u64>,
}

impl ChannelEntry {
    fn is_guild(&self) -> bool {
        self.kind != 1
    }
}

struct RandomFaults {
    matcher: CallMatcher,
    fraction: f64,
    rng: XorShift64,
    retry_after_secs: f64,
}

#[derive(Default)]
struct Budgets {
    enabled: bool,
    recent: VecDeque<Instant>,
    creates: HashMap<u64, VecDeque<Instant>>,
    violations: usize,
}

struct State {
    id_counter: u64,
    last_id: u64,
    calls: Vec<Call>,
    channels: BTreeMap<u64, ChannelEntry>,
    messages: BTreeMap<u64, StoredMessage>,
    threads: BTreeMap<u64, ThreadInfo>,
    dm_by_user: HashMap<u64, u64>,
    /// Member user id → role ids (mutable via the role endpoints).
    member_roles: BTreeMap<u64, Vec<u64>>,
    nonces: HashMap<(u64, String), u64>,
    guild_commands: Vec<Value>,
    global_commands: Vec<Value>,
    interactions: Vec<InteractionRecord>,
    interaction_started: HashMap<u64, Instant>,
    faults: VecDeque<(CallMatcher, Fault)>,
    random_faults: Option<RandomFaults>,
    fault_counts: FaultCounts,
    budgets: Budgets,
    nonce_dedups: usize,
    gw: gateway::GatewayState,
    /// Roles created in the desk's guild after start ([`FakeDiscord::create_role`]).
    added_roles: Vec<(u64, RoleSpec)>,
    /// Guilds the bot left (`DELETE /users/@me/guilds/{id}`).
    left_guilds: Vec<u64>,
}

impl State {
    fn new(spec: &GuildSpec) -> Self {
        let mut channels = BTreeMap::new();
        for guild in spec.all_guilds() {
            for (position, ch) in guild.channels.iter().enumerate() {
                channels.insert(
                    ch.id,
                    ChannelEntry {
                        json: payloads::text_channel(guild, ch, position),
                        kind: 0,
                        recipient: None,
                    },
                );
            }
        }
        Self {
            id_counter: 0,
            last_id: 0,
            calls: Vec::new(),
            channels,
            messages: BTreeMap::new(),
            threads: BTreeMap::new(),
            dm_by_user: HashMap::new(),
            member_roles: spec
                .all_guilds()
                .into_iter()
                .flat_map(|g| g.members.iter())
                .map(|m| (m.user_id, m.role_ids.clone()))
                .collect(),
            added_roles: Vec::new(),
            left_guilds: Vec::new(),
            nonces: HashMap::new(),
            guild_commands: Vec::new(),
            global_commands: Vec::new(),
            interactions: Vec::new(),
            interaction_started: HashMap::new(),
            faults: VecDeque::new(),
            random_faults: None,
            fault_counts: FaultCounts::default(),
            budgets: Budgets::default(),
            nonce_dedups: 0,
            gw: gateway::GatewayState::default(),
        }
    }

    /// A fresh snowflake: current time since the Discord epoch, strictly increasing.
    fn next_id(&mut self) -> u64 {
        let ms = payloads::unix_millis().saturating_sub(DISCORD_EPOCH_MS);
        self.id_counter = (self.id_counter + 1) & 0xFFF;
        let candidate = (ms << 22) | (1 << 17) | self.id_counter;
        let id = candidate.max(self.last_id + 1);
        self.last_id = id;
        id
    }

    fn roles_of(&self, user_id: u64) -> Vec<u64> {
        self.member_roles.get(&user_id).cloned().unwrap_or_default()
    }

    fn interaction_mut(&mut self, id: u64) -> Option<&mut InteractionRecord> {
        self.interactions.iter_mut().find(|i| i.id == id)
    }
}

/// Tiny deterministic PRNG for probabilistic faults (xorshift64*).
#[derive(Clone, Debug)]
struct XorShift64(u64);

impl XorShift64 {
    fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------------

struct Tasks(Mutex<Vec<AbortHandle>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self.0.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}

/// A running fake Discord. Cheap to clone; the servers stop when the last clone is dropped.
#[derive(Clone)]
pub struct FakeDiscord {
    inner: Arc<Inner>,
    tasks: Arc<Tasks>,
}

impl fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("api_base", &self.inner.api_base)
            .field("gateway_url", &self.inner.gateway_url)
            .finish_non_exhaustive()
    }
}

impl FakeDiscord {
    /// Binds the REST server and the gateway on two ephemeral `127.0.0.1` ports and starts
    /// serving. Panics if binding fails.
    pub async fn start(spec: GuildSpec) -> FakeDiscord {
        let rest = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake_discord: bind REST listener");
        let gw = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake_discord: bind gateway listener");
        let api_base = format!("http://{}", rest.local_addr().expect("REST local addr"));
        let gateway_url = format!("ws://{}", gw.local_addr().expect("gateway local addr"));
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(&spec)),
            spec,
            started: Instant::now(),
            api_base,
            gateway_url,
            changed: Notify::new(),
        });
        let rest_task = tokio::spawn(rest::serve(rest, Arc::clone(&inner)));
        let tasks = Arc::new(Tasks(Mutex::new(vec![rest_task.abort_handle()])));
        let gw_task = tokio::spawn(gateway::serve(gw, Arc::clone(&inner), Arc::downgrade(&tasks)));
        tasks
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(gw_task.abort_handle());
        tracing::debug!(api = %inner.api_base, gateway = %inner.gateway_url, "fake discord started");
        FakeDiscord { inner, tasks }
    }

    /// `http://127.0.0.1:P`: pass to `HttpBuilder::proxy`.
    pub fn api_base(&self) -> String {
        self.inner.api_base.clone()
    }

    /// `ws://127.0.0.1:Q`: what `GET /gateway` answers; put into `Client::ws_url`.
    pub fn gateway_url(&self) -> String {
        self.inner.gateway_url.clone()
    }

    /// Time since [`FakeDiscord::start`], on the clock of [`Call::at`] (to time an injection
    /// against the call it causes).
    pub fn elapsed(&self) -> Duration {
        self.inner.elapsed()
    }

    /// The guild description the fake was started with.
    pub fn spec(&self) -> &GuildSpec {
        &self.inner.spec
    }

    /// A serenity `Http` aimed at the fake, with the correct token, the application id preset
    /// (so command and interaction-webhook calls work without a READY) and the ratelimiter off.
    pub fn serenity_http(&self) -> serenity::http::Http {
        serenity::http::HttpBuilder::new(&self.inner.spec.token)
            .proxy(self.api_base())
            .application_id(serenity::model::id::ApplicationId::new(self.inner.spec.application_id))
            .ratelimiter_disabled(true)
            .build()
    }

    // ----- recorded calls -----------------------------------------------------------------

    /// Every REST call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().calls.clone()
    }

    /// Calls matching a pattern such as `"POST /channels/{channel}/messages"`.
    pub fn calls_matching(&self, matcher: impl Into<CallMatcher>) -> Vec<Call> {
        let matcher = matcher.into();
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| matcher.matches(&c.method, &c.path))
            .cloned()
            .collect()
    }

    /// How many REST calls were recorded so far (cheap: nothing is cloned).
    pub fn call_count(&self) -> usize {
        self.inner.lock().calls.len()
    }

    /// Calls that hit no known route (answered 404).
    pub fn unknown_routes(&self) -> Vec<Call> {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.unknown_route)
            .cloned()
            .collect()
    }

    /// Waits until `predicate(all calls so far)` holds, re-checking whenever a call is
    /// recorded (no polling). On time-out the error names `description` and lists the last
    /// calls.
    pub async fn wait_for<F>(&self, description: &str, predicate: F, timeout: Duration) -> Result<Vec<Call>, String>
    where
        F: Fn(&[Call]) -> bool,
    {
        self.wait_until(description, timeout, |st| {
            predicate(&st.calls).then(|| st.calls.clone())
        })
        .await
    }

    /// Waits for the first call matching `matcher` (at or after index `from`) and returns it.
    pub async fn wait_for_call(
        &self,
        matcher: impl Into<CallMatcher>,
        from: usize,
        timeout: Duration,
    ) -> Result<Call, String> {
        let matcher = matcher.into();
        let description = format!("a call matching {matcher:?} (from #{from})");
        self.wait_until(&description, timeout, |st| {
            st.calls
                .iter()
                .skip(from)
                .find(|c| matcher.matches(&c.method, &c.path))
                .cloned()
        })
        .await
    }

    /// Waits until `check` returns `Some` over the gateway counters.
    pub async fn wait_for_gateway<F>(
        &self,
        description: &str,
        check: F,
        timeout: Duration,
    ) -> Result<GatewayStats, String>
    where
        F: Fn(&GatewayStats) -> bool,
    {
        self.wait_until(description, timeout, |st| {
            let stats = st.gw.stats();
            check(&stats).then_some(stats)
        })
        .await
    }

    /// Waits until a session is established (READY or RESUMED sent) and the socket is live.
    pub async fn wait_until_connected(&self, timeout: Duration) -> Result<GatewayStats, String> {
        self.wait_for_gateway("gateway session connected", |s| s.connected, timeout)
            .await
    }

    /// Waits until `check(state)` yields a value; wakes on every change. Errors list recent calls
    /// and the gateway counters.
    async fn wait_until<T>(
        &self,
        description: &str,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.inner.lock();
                if let Some(found) = check(&st) {
                    return Ok(found);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let st = self.inner.lock();
                if let Some(found) = check(&st) {
                    return Ok(found);
                }
                let recent: Vec<String> = st.calls.iter().rev().take(25).rev().map(ToString::to_string).collect();
                let gw = st.gw.stats();
                return Err(format!(
                    "fake_discord: timed out after {timeout:?} waiting for {description}\n\
                     gateway: connected={} connections={} identifies={} resumes={} last_seq={}\n\
                     last {} of {} REST calls:\n  {}",
                    gw.connected,
                    gw.connections,
                    gw.identifies,
                    gw.resumes,
                    gw.last_seq,
                    recent.len(),
                    st.calls.len(),
                    if recent.is_empty() {
                        "(none)".to_string()
                    } else {
                        recent.join("\n  ")
                    },
                ));
            }
        }
    }

    // ----- stored state -------------------------------------------------------------------

    /// Messages in a channel (including deleted ones, flagged), oldest first.
    pub fn messages(&self, channel_id: u64) -> Vec<StoredMessage> {
        self.inner
            .lock()
            .messages
            .values()
            .filter(|m| m.channel_id == channel_id)
            .cloned()
            .collect()
    }

    /// Messages the bot authored in a channel (not deleted), oldest first.
    pub fn bot_messages(&self, channel_id: u64) -> Vec<StoredMessage> {
        let bot = self.inner.spec.bot_user_id;
        self.messages(channel_id)
            .into_iter()
            .filter(|m| m.author_id == bot && !m.deleted)
            .collect()
    }

    /// One message by id.
    pub fn message(&self, message_id: u64) -> Option<StoredMessage> {
        self.inner.lock().messages.get(&message_id).cloned()
    }

    /// Current reactions on a message as (emoji, user id).
    pub fn reactions(&self, message_id: u64) -> Vec<(String, u64)> {
        self.message(message_id).map(|m| m.reactions).unwrap_or_default()
    }

    /// Threads the bot created, by creation order.
    pub fn threads(&self) -> Vec<ThreadInfo> {
        self.inner.lock().threads.values().cloned().collect()
    }

    /// The DM channel id opened for a user, if the bot opened one.
    pub fn dm_channel(&self, user_id: u64) -> Option<u64> {
        self.inner.lock().dm_by_user.get(&user_id).copied()
    }

    /// The guild commands as last bulk-overwritten (with ids).
    pub fn commands(&self) -> Vec<Value> {
        self.inner.lock().guild_commands.clone()
    }

    /// Global commands as last bulk-overwritten.
    pub fn global_commands(&self) -> Vec<Value> {
        self.inner.lock().global_commands.clone()
    }

    /// Every injected interaction and what the bot answered.
    pub fn interactions(&self) -> Vec<InteractionRecord> {
        self.inner.lock().interactions.clone()
    }

    /// One injected interaction.
    pub fn interaction(&self, interaction_id: u64) -> Option<InteractionRecord> {
        self.inner
            .lock()
            .interactions
            .iter()
            .find(|i| i.id == interaction_id)
            .cloned()
    }

    /// Waits until the interaction has an accepted callback and returns its record.
    pub async fn wait_for_interaction_response(
        &self,
        interaction_id: u64,
        timeout: Duration,
    ) -> Result<InteractionRecord, String> {
        let description = format!("a callback for interaction {interaction_id}");
        self.wait_until(&description, timeout, |st| {
            st.interactions
                .iter()
                .find(|i| i.id == interaction_id && i.callback.is_some())
                .cloned()
        })
        .await
    }

    /// Guilds the bot left, in order.
    pub fn left_guilds(&self) -> Vec<u64> {
        self.inner.lock().left_guilds.clone()
    }

    /// Creates a role in the desk's guild (GUILD_ROLE_CREATE) and returns its id, as a
    /// moderator with Manage Roles would.
    pub fn create_role(&self, name: &str) -> u64 {
        let spec = &self.inner.spec;
        let id = {
            let mut st = self.inner.lock();
            let id = st.next_id();
            st.added_roles.push((
                spec.guild_id,
                RoleSpec {
                    id,
                    name: name.to_owned(),
                },
            ));
            let role = payloads::role(spec, id, name, spec.roles.len() + st.added_roles.len() + 1, 0, false);
            gateway::dispatch(
                spec,
                &mut st,
                "GUILD_ROLE_CREATE",
                json!({"guild_id": payloads::sf(spec.guild_id), "role": role}),
            );
            id
        };
        self.inner.changed.notify_waiters();
        id
    }

    /// Renames a role made with [`Self::create_role`] (GUILD_ROLE_UPDATE).
    pub fn rename_role(&self, role_id: u64, name: &str) {
        let spec = &self.inner.spec;
        {
            let mut st = self.inner.lock();
            let Some(position) = st.added_roles.iter().position(|(_, r)| r.id == role_id) else {
                panic!("fake_discord: role {role_id} was not made with create_role");
            };
            st.added_roles[position].1.name = name.to_owned();
            let role = payloads::role(spec, role_id, name, spec.roles.len() + position + 2, 0, false);
            gateway::dispatch(
                spec,
                &mut st,
                "GUILD_ROLE_UPDATE",
                json!({"guild_id": payloads::sf(spec.guild_id), "role": role}),
            );
        }
        self.inner.changed.notify_waiters();
    }

    /// Gives a member of any guild a role (no event: the next message carries it).
    pub fn give_role(&self, user_id: u64, role_id: u64) {
        self.inner.lock().member_roles.entry(user_id).or_default().push(role_id);
    }

    /// Current role ids of a member (changed by the role endpoints).
    pub fn member_roles(&self, user_id: u64) -> Vec<u64> {
        self.inner.lock().roles_of(user_id)
    }

    /// How many creates were answered with an earlier message because of `enforce_nonce`.
    pub fn nonce_dedups(&self) -> usize {
        self.inner.lock().nonce_dedups
    }

    // ----- faults -------------------------------------------------------------------------

    /// Answers the next call matching `matcher` with `fault`. Queued faults are consumed in
    /// FIFO order, one per matching call: `fail_next(m, 429)` then `fail_next(m, 500)` fails the
    /// next two matching calls with 429 and then 500.
    pub fn fail_next(&self, matcher: impl Into<CallMatcher>, fault: Fault) {
        self.inner.lock().faults.push_back((matcher.into(), fault));
    }

    /// Fails `fraction` (0..=1) of the calls matching `matcher` with a deterministic (from `seed`)
    /// mix of 429 (retry_after 0.1 s, non-global) and 500. Replaces any previous random mode.
    pub fn fail_randomly(&self, matcher: impl Into<CallMatcher>, fraction: f64, seed: u64) {
        self.fail_randomly_with_retry_after(matcher, fraction, seed, 0.1);
    }

    /// Like [`Self::fail_randomly`] with a chosen `retry_after` for the 429s.
    pub fn fail_randomly_with_retry_after(
        &self,
        matcher: impl Into<CallMatcher>,
        fraction: f64,
        seed: u64,
        retry_after_secs: f64,
    ) {
        self.inner.lock().random_faults = Some(RandomFaults {
            matcher: matcher.into(),
            fraction: fraction.clamp(0.0, 1.0),
            rng: XorShift64::new(seed),
            retry_after_secs,
        });
    }

    /// Stops the random mode and drops queued `fail_next` faults.
    pub fn clear_faults(&self) {
        let mut st = self.inner.lock();
        st.random_faults = None;
        st.faults.clear();
    }

    /// Faults served so far.
    pub fn faults_served(&self) -> FaultCounts {
        self.inner.lock().fault_counts.clone()
    }

    /// Turns budget enforcement on/off: > 50 requests in any 1 s window → 429 global; > 5 message
    /// creates in one channel within 5 s → 429. Interaction callbacks and webhooks are exempt
    /// from the global budget, as on Discord.
    pub fn enforce_budgets(&self, on: bool) {
        let mut st = self.inner.lock();
        st.budgets.enabled = on;
        st.budgets.recent.clear();
        st.budgets.creates.clear();
    }

    /// Requests refused by budget enforcement (a well-paced bot causes none).
    pub fn budget_violations(&self) -> usize {
        self.inner.lock().budgets.violations
    }

    // ----- gateway --------------------------------------------------------------------------

    /// Gateway counters and state.
    pub fn gateway_stats(&self) -> GatewayStats {
        self.inner.lock().gw.stats()
    }

    /// WebSocket connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.gateway_stats().connections
    }

    /// Successful IDENTIFYs so far.
    pub fn identify_count(&self) -> usize {
        self.gateway_stats().identifies
    }

    /// Successful RESUMEs so far.
    pub fn resume_count(&self) -> usize {
        self.gateway_stats().resumes
    }

    /// Closes the live gateway socket with close code 4000 ("Unknown error", resumable). The
    /// session survives: serenity reconnects and RESUMEs, and events injected meanwhile are
    /// replayed. Returns false if no socket was live.
    pub fn drop_connection(&self) -> bool {
        gateway::drop_connection(&self.inner, 4000, "fake_discord: forced disconnect")
    }

    /// Closes the live gateway socket with any close code (e.g. 4009 session timed out, which
    /// makes serenity forget its session and IDENTIFY again).
    pub fn close_connection(&self, code: u16, reason: &str) -> bool {
        gateway::drop_connection(&self.inner, code, reason)
    }

    /// Sends op 9 INVALID_SESSION (`d: false`) and forgets the session: serenity re-IDENTIFYs
    /// (after serenity's own 5 s pause between shard boots) and gets a fresh READY +
    /// GUILD_CREATE. Events injected before the new READY are held back and delivered right
    /// after it (unlike Discord, which would drop them).
    pub fn invalidate_session(&self) -> bool {
        gateway::invalidate_session(&self.inner)
    }

    /// Sends op 7 RECONNECT: serenity reconnects and RESUMEs.
    pub fn request_reconnect(&self) -> bool {
        gateway::send_op(&self.inner, json!({"op": 7, "d": null}))
    }

    /// Injects a user message (MESSAGE_CREATE with `guild_id` and `member`, mentions parsed
    /// from `<@id>` / `<@&id>`), stores it for `GET`, and returns its id.
    pub fn inject_message(&self, channel_id: u64, author_user_id: u64, content: &str) -> u64 {
        gateway::inject_message(&self.inner, channel_id, author_user_id, content, None)
    }

    /// Like [`Self::inject_message`], replying to `reply_to` (a `message_reference`).
    pub fn inject_reply(&self, channel_id: u64, author_user_id: u64, content: &str, reply_to: u64) -> u64 {
        gateway::inject_message(&self.inner, channel_id, author_user_id, content, Some(reply_to))
    }

    /// Injects a direct message from `user_id` to the bot (opening the DM channel if needed).
    /// Returns (dm channel id, message id).
    pub fn inject_dm(&self, user_id: u64, content: &str) -> (u64, u64) {
        gateway::inject_dm(&self.inner, user_id, content)
    }

    /// Injects MESSAGE_REACTION_ADD (with `member`) and records the reaction. `emoji` is the
    /// unicode text (`"✅"`) or `"name:id"` for a custom emoji.
    pub fn inject_reaction_add(&self, channel_id: u64, message_id: u64, user_id: u64, emoji: &str) {
        gateway::inject_reaction(&self.inner, channel_id, message_id, user_id, emoji, true);
    }

    /// Injects MESSAGE_REACTION_REMOVE and removes the recorded reaction.
    pub fn inject_reaction_remove(&self, channel_id: u64, message_id: u64, user_id: u64, emoji: &str) {
        gateway::inject_reaction(&self.inner, channel_id, message_id, user_id, emoji, false);
    }

    /// Injects a guild slash command (INTERACTION_CREATE, type 2). Returns (id, token).
    pub fn inject_interaction(&self, spec: InteractionSpec) -> (u64, String) {
        gateway::inject_interaction(&self.inner, spec)
    }

    /// Injects a component click on a stored message (INTERACTION_CREATE, type 3).
    /// Returns (id, token). Panics if the message is unknown.
    pub fn inject_component_interaction(&self, spec: ComponentSpec) -> (u64, String) {
        gateway::inject_component(&self.inner, spec)
    }

    /// Injects a modal submit (INTERACTION_CREATE, type 5). Returns (id, token).
    pub fn inject_modal_submit(&self, spec: ModalSpec) -> (u64, String) {
        gateway::inject_modal(&self.inner, spec)
    }

    /// Dispatches any event (`t`, `d`) as is; returns its sequence number (`None` when held
    /// back because no session exists yet, or filtered by intents).
    pub fn inject_raw(&self, event_name: &str, d: Value) -> Option<u64> {
        gateway::inject_raw(&self.inner, event_name, d)
    }

    /// The last injected event as (`t`, `d`), to deliver it again later with [`Self::inject_raw`]
    /// (duplicates shuffled among other events).
    pub fn last_injected(&self) -> Option<(String, Value)> {
        gateway::last_injected(&self.inner)
    }

    /// Delivers the last injected event again: same payload, next sequence number (a replay /
    /// duplicate-delivery test). Returns the new sequence number.
    pub fn inject_duplicate_last(&self) -> Option<u64> {
        gateway::inject_duplicate_last(&self.inner)
    }
}

/// Percent-decodes a URL path segment or header (invalid escapes are kept as is).
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
