//! The REST half: one axum fallback handler that records, authenticates, applies budgets and
//! faults, then routes `/api/v10/...` by hand.
//!
//! Serenity builds `https://discord.com/api/v10/...` URLs and `HttpBuilder::proxy` replaces
//! `https://discord.com` with the proxy, so paths arrive as `/api/v10/...`, query strings as
//! `?&limit=50`. Path segments such as reaction emoji arrive percent-encoded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::gateway::{self, dispatch};
use super::payloads::{self, parse_sf, sf};
use super::{percent_decode, Call, ChannelEntry, FakeFile, Fault, FaultKind, GuildSpec, Inner, State, ThreadInfo};

/// Serves REST until aborted.
pub(super) async fn serve(listener: TcpListener, inner: Arc<Inner>) {
    let app = Router::new().fallback(handle).with_state(inner);
    if let Err(err) = axum::serve(listener, app).await {
        tracing::warn!("fake discord REST server stopped: {err}");
    }
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    fault: Option<FaultKind>,
    unknown_route: bool,
}

type Handled = Result<Reply, Reply>;

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
            fault: None,
            unknown_route: false,
        }
    }

    fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            headers: Vec::new(),
            fault: None,
            unknown_route: false,
        }
    }

    /// A Discord error body `{"message", "code"}`.
    fn error(status: u16, code: u64, message: &str) -> Self {
        Self::json(status, json!({"message": message, "code": code}))
    }

    /// 400 / 50035 with one field error, like Discord's form validation.
    fn invalid_form(field: &str, code: &str, message: &str) -> Self {
        Self::json(
            400,
            json!({
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {field: {"_errors": [{"code": code, "message": message}]}},
            }),
        )
    }

    fn unknown_route() -> Self {
        let mut r = Self::error(404, 0, "404: Not Found");
        r.unknown_route = true;
        r
    }

    fn with_fault(mut self, kind: FaultKind) -> Self {
        self.fault = Some(kind);
        self
    }

    fn rate_limited(retry_after: f64, global: bool) -> Self {
        let reset = payloads::unix_millis() as f64 / 1000.0 + retry_after;
        let mut r = Self::json(
            429,
            json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global, "code": 0}),
        );
        r.headers = vec![
            ("retry-after", format!("{}", retry_after.ceil().max(1.0) as u64)),
            ("x-ratelimit-limit", "5".to_string()),
            ("x-ratelimit-remaining", "0".to_string()),
            ("x-ratelimit-reset", format!("{reset:.3}")),
            ("x-ratelimit-reset-after", format!("{retry_after:.3}")),
            ("x-ratelimit-bucket", "fake-discord-bucket".to_string()),
            ("x-ratelimit-scope", if global { "global" } else { "user" }.to_string()),
        ];
        if global {
            r.headers.push(("x-ratelimit-global", "true".to_string()));
        }
        r
    }

    fn into_response(self) -> Response {
        let mut builder = Response::builder().status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK));
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                builder = builder.header(*name, v);
            }
        }
        let response = match self.body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        response.unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

/// One file part of a multipart body (`files[n]`).
struct Upload {
    /// The form field, `files[0]`.
    field: String,
    filename: String,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// Parses a JSON body, or a multipart body: its `payload_json` part and its files.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> (Option<Value>, Vec<Upload>) {
    if body.is_empty() {
        return (None, Vec::new());
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("multipart/form-data") {
        return parse_multipart(content_type, body);
    }
    let json = serde_json::from_slice(body)
        .ok()
        .or_else(|| Some(Value::String(String::from_utf8_lossy(body).into_owned())));
    (json, Vec::new())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// RFC 7578 as reqwest writes it: `--boundary\r\n` headers `\r\n\r\n` content
/// `\r\n`, …, `--boundary--`. Byte-exact, so files keep their bytes.
fn parse_multipart(content_type: &str, body: &[u8]) -> (Option<Value>, Vec<Upload>) {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
    else {
        return (None, Vec::new());
    };
    let delimiter = format!("--{boundary}").into_bytes();
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(i) = find(&body[at..], &delimiter) {
        starts.push(at + i);
        at += i + delimiter.len();
    }
    let (mut json, mut uploads) = (None, Vec::new());
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&part[..split]).into_owned();
        let content = &part[split + 4..];
        let (mut name, mut filename, mut part_type) = (None, None, None);
        for line in head.lines() {
            let (key, value) = line.split_once(':').unwrap_or((line, ""));
            if key.eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').map(str::trim) {
                    if let Some(v) = param.strip_prefix("name=") {
                        name = Some(v.trim_matches('"').to_owned());
                    } else if let Some(v) = param.strip_prefix("filename=") {
                        filename = Some(v.trim_matches('"').to_owned());
                    }
                }
            } else if key.eq_ignore_ascii_case("content-type") {
                part_type = Some(value.trim().to_owned());
            }
        }
        match name.as_deref() {
            Some("payload_json") => json = serde_json::from_slice(content).ok(),
            Some(field) => uploads.push(Upload {
                field: field.to_owned(),
                filename: filename.unwrap_or_else(|| field.to_owned()),
                content_type: part_type,
                bytes: content.to_vec(),
            }),
            None => {}
        }
    }
    (json, uploads)
}

enum Pre {
    Proceed,
    Delay(Duration),
    Respond(Reply),
}

async fn handle(
    AxumState(inner): AxumState<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = inner.elapsed();
    let method = method.as_str().to_ascii_uppercase();
    let raw_path = uri.path();
    let versioned = raw_path.starts_with("/api/v10/");
    let below = raw_path.strip_prefix("/api/v10").unwrap_or(raw_path);
    let segs: Vec<String> = below.trim_matches('/').split('/').map(percent_decode).collect();
    let path = format!("/{}", segs.join("/"));
    let (body, uploads) = parse_body(&headers, &body);
    let audit_log_reason = headers
        .get("x-audit-log-reason")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode);
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();

    let pre = {
        let mut st = inner.lock();
        pre_checks(&inner.spec, &mut st, &method, &path, &segs, &authorization)
    };
    let mut delayed = false;
    let early = match pre {
        Pre::Proceed => None,
        Pre::Respond(reply) => Some(reply),
        Pre::Delay(d) => {
            tokio::time::sleep(d).await;
            delayed = true;
            None
        }
    };

    let reply = {
        let mut st = inner.lock();
        let mut reply = match early {
            Some(reply) => reply,
            None if !versioned => Reply::unknown_route(),
            None => {
                let seg_refs: Vec<&str> = segs.iter().map(String::as_str).collect();
                let mut ctx = Ctx {
                    inner: &inner,
                    spec: &inner.spec,
                    st: &mut st,
                    uploads,
                };
                ctx.route(&method, &seg_refs, body.as_ref(), uri.query())
                    .unwrap_or_else(|e| e)
            }
        };
        if delayed && reply.fault.is_none() {
            reply.fault = Some(FaultKind::Delay);
        }
        let index = st.calls.len();
        st.calls.push(Call {
            index,
            method: method.clone(),
            path: path.clone(),
            query: uri.query().map(str::to_string),
            body,
            audit_log_reason,
            at,
            status: reply.status,
            response: reply.body.clone(),
            fault: reply.fault,
            unknown_route: reply.unknown_route,
        });
        reply
    };
    if reply.unknown_route {
        tracing::warn!("fake discord: unknown route {method} {path}");
    }
    inner.changed.notify_waiters();
    reply.into_response()
}

/// Authentication, budgets and injected faults, in that order.
fn pre_checks(spec: &GuildSpec, st: &mut State, method: &str, path: &str, segs: &[String], authorization: &str) -> Pre {
    let first = segs.first().map(String::as_str).unwrap_or_default();
    let webhookish = first == "interactions" || first == "webhooks";
    let public = path == "/gateway";
    if !webhookish && !public {
        let want = spec.token.strip_prefix("Bot ").unwrap_or(&spec.token);
        if authorization.strip_prefix("Bot ").unwrap_or(authorization) != want || authorization.is_empty() {
            return Pre::Respond(Reply::error(401, 0, "401: Unauthorized"));
        }
    }

    if st.budgets.enabled {
        let now = Instant::now();
        let b = &mut st.budgets;
        if !webhookish {
            b.recent.retain(|t| now.duration_since(*t) < Duration::from_secs(1));
            if b.recent.len() >= 50 {
                b.violations += 1;
                let wait = Duration::from_secs(1).saturating_sub(now.duration_since(b.recent[0]));
                return Pre::Respond(Reply::rate_limited(wait.as_secs_f64(), true).with_fault(FaultKind::BudgetGlobal));
            }
            b.recent.push_back(now);
        }
        if method == "POST" && segs.len() == 3 && segs[0] == "channels" && segs[2] == "messages" {
            let channel = segs[1].parse::<u64>().unwrap_or_default();
            let window = b.creates.entry(channel).or_default();
            window.retain(|t| now.duration_since(*t) < Duration::from_secs(5));
            if window.len() >= 5 {
                b.violations += 1;
                let wait = Duration::from_secs(5).saturating_sub(now.duration_since(window[0]));
                return Pre::Respond(
                    Reply::rate_limited(wait.as_secs_f64(), false).with_fault(FaultKind::BudgetChannel),
                );
            }
            window.push_back(now);
        }
    }

    if let Some(pos) = st.faults.iter().position(|(m, _)| m.matches(method, path)) {
        let (_, fault) = st.faults.remove(pos).expect("position is valid");
        return serve_fault(st, fault);
    }
    if let Some(random) = st.random_faults.as_mut() {
        if random.matcher.matches(method, path) && random.rng.next_f64() < random.fraction {
            let fault = if random.rng.next_u64() & 1 == 0 {
                Fault::RateLimited {
                    retry_after_secs: random.retry_after_secs,
                    global: false,
                }
            } else {
                Fault::ServerError
            };
            return serve_fault(st, fault);
        }
    }
    Pre::Proceed
}

fn serve_fault(st: &mut State, fault: Fault) -> Pre {
    let counts = &mut st.fault_counts;
    Pre::Respond(match fault {
        Fault::RateLimited {
            retry_after_secs,
            global,
        } => {
            counts.rate_limited += 1;
            Reply::rate_limited(retry_after_secs, global).with_fault(FaultKind::RateLimited)
        }
        Fault::ServerError => {
            counts.server_errors += 1;
            Reply::error(500, 0, "500: Internal Server Error").with_fault(FaultKind::ServerError)
        }
        Fault::DmClosed => {
            counts.dm_closed += 1;
            Reply::error(403, 50007, "Cannot send messages to this user").with_fault(FaultKind::DmClosed)
        }
        Fault::Custom { status, body } => {
            counts.custom += 1;
            Reply::json(status, body).with_fault(FaultKind::Custom)
        }
        Fault::Delay(d) => {
            counts.delays += 1;
            return Pre::Delay(d);
        }
    })
}

fn snowflake(s: &str) -> Result<u64, Reply> {
    s.parse::<u64>()
        .map_err(|_| Reply::invalid_form("id", "NUMBER_TYPE_COERCE", &format!("Value \"{s}\" is not snowflake.")))
}

fn unknown_message() -> Reply {
    Reply::error(404, 10008, "Unknown Message")
}

fn unknown_channel() -> Reply {
    Reply::error(404, 10003, "Unknown Channel")
}

fn unknown_webhook() -> Reply {
    Reply::error(404, 10015, "Unknown Webhook")
}

/// `flags` bit for ephemeral messages.
const EPHEMERAL: u64 = 1 << 6;
/// `flags` bit for deferred ("thinking...") interaction responses.
const LOADING: u64 = 1 << 7;
/// `flags` bit for messages that started a thread.
const HAS_THREAD: u64 = 1 << 5;

struct Ctx<'a> {
    inner: &'a Inner,
    spec: &'a GuildSpec,
    st: &'a mut State,
    /// The request's files (a multipart body), taken by a message create or edit.
    uploads: Vec<Upload>,
}

impl Ctx<'_> {
    fn route(&mut self, method: &str, segs: &[&str], body: Option<&Value>, query: Option<&str>) -> Handled {
        let empty = Value::Null;
        let body = body.unwrap_or(&empty);
        let spec = self.spec;
        match (method, segs) {
            ("GET", ["gateway"]) => Ok(Reply::ok(json!({"url": self.inner.gateway_url}))),
            ("GET", ["gateway", "bot"]) => Ok(Reply::ok(json!({
                "url": self.inner.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
            }))),
            ("GET", ["users", "@me"]) => Ok(Reply::ok(payloads::bot_user(spec))),
            ("GET", ["users", user]) => {
                let user = snowflake(user)?;
                let known = user == spec.bot_user_id || spec.any_member(user).is_some();
                if known {
                    Ok(Reply::ok(payloads::user(spec, user)))
                } else {
                    Err(Reply::error(404, 10013, "Unknown User"))
                }
            }
            ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => Ok(Reply::ok(self.application())),
            ("POST", ["users", "@me", "channels"]) => self.open_dm(body),
            ("GET", ["users", "@me", "guilds"]) => {
                let guilds = spec
                    .all_guilds()
                    .into_iter()
                    .filter(|g| !self.st.left_guilds.contains(&g.guild_id))
                    .map(|g| {
                        json!({
                            "id": sf(g.guild_id),
                            "name": g.guild_name,
                            "icon": null,
                            "owner": false,
                            "permissions": payloads::BOT_PERMISSIONS.to_string(),
                            "features": [],
                        })
                    })
                    .collect();
                Ok(Reply::ok(Value::Array(guilds)))
            }
            ("DELETE", ["users", "@me", "guilds", guild]) => {
                let guild = snowflake(guild)?;
                let member_of = spec.all_guilds().iter().any(|g| g.guild_id == guild);
                if !member_of || self.st.left_guilds.contains(&guild) {
                    return Err(Reply::error(404, 10004, "Unknown Guild"));
                }
                self.st.left_guilds.push(guild);
                Ok(Reply::no_content())
            }
            ("GET", ["channels", channel]) => {
                let channel = snowflake(channel)?;
                self.st
                    .channels
                    .get(&channel)
                    .map(|c| Reply::ok(c.json.clone()))
                    .ok_or_else(unknown_channel)
            }
            ("POST", ["channels", channel, "typing"]) => {
                self.channel(snowflake(channel)?)?;
                Ok(Reply::no_content())
            }
            ("GET", ["channels", channel, "messages"]) => self.list_messages(snowflake(channel)?, query),
            ("POST", ["channels", channel, "messages"]) => self.create_message(snowflake(channel)?, body),
            ("GET", ["channels", channel, "messages", message]) => {
                let m = self.message_in(snowflake(channel)?, snowflake(message)?)?;
                Ok(Reply::ok(self.st.messages[&m].json.clone()))
            }
            ("PATCH", ["channels", channel, "messages", message]) => {
                let m = self.message_in(snowflake(channel)?, snowflake(message)?)?;
                if self.st.messages[&m].author_id != spec.bot_user_id {
                    return Err(Reply::error(
                        403,
                        50005,
                        "Cannot edit a message authored by another user",
                    ));
                }
                super::components::check_message(&body["components"]).map_err(|v| Reply::json(400, v.body()))?;
                Ok(Reply::ok(self.edit_message(m, body)?))
            }
            ("DELETE", ["channels", channel, "messages", message]) => {
                let m = self.message_in(snowflake(channel)?, snowflake(message)?)?;
                self.delete_message(m);
                Ok(Reply::no_content())
            }
            ("PUT", ["channels", channel, "messages", message, "reactions", emoji, "@me"]) => {
                self.react(snowflake(channel)?, snowflake(message)?, spec.bot_user_id, emoji, true)
            }
            ("DELETE", ["channels", channel, "messages", message, "reactions", emoji, user]) => {
                let user = if *user == "@me" {
                    spec.bot_user_id
                } else {
                    snowflake(user)?
                };
                self.react(snowflake(channel)?, snowflake(message)?, user, emoji, false)
            }
            ("GET", ["channels", channel, "messages", message, "reactions", emoji]) => {
                let m = self.message_in(snowflake(channel)?, snowflake(message)?)?;
                // As on Discord: by user id, `after` a user id, at most `limit` (default 25, max 100).
                let param = |name: &str| {
                    query
                        .unwrap_or_default()
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                let after = param("after").unwrap_or(0);
                let limit = param("limit").unwrap_or(25).clamp(1, 100) as usize;
                let mut reactors = self.st.messages[&m].reactors(emoji);
                reactors.sort_unstable();
                let users: Vec<Value> = reactors
                    .into_iter()
                    .filter(|u| *u > after)
                    .take(limit)
                    .map(|u| payloads::user(spec, u))
                    .collect();
                Ok(Reply::ok(Value::Array(users)))
            }
            ("POST", ["channels", channel, "messages", message, "threads"]) => {
                self.create_thread(snowflake(channel)?, Some(snowflake(message)?), body)
            }
            ("POST", ["channels", channel, "threads"]) => self.create_thread(snowflake(channel)?, None, body),
            ("PUT", ["channels", thread, "thread-members", user]) => {
                let thread = snowflake(thread)?;
                let user = if *user == "@me" {
                    spec.bot_user_id
                } else {
                    snowflake(user)?
                };
                let info = self.st.threads.get_mut(&thread).ok_or_else(unknown_channel)?;
                if !info.added_members.contains(&user) {
                    info.added_members.push(user);
                }
                Ok(Reply::no_content())
            }
            ("GET", ["guilds", guild]) => {
                self.guild(guild)?;
                let mut g = payloads::guild_create(spec, self.st);
                if let Some(map) = g.as_object_mut() {
                    for key in [
                        "joined_at",
                        "large",
                        "member_count",
                        "voice_states",
                        "members",
                        "channels",
                        "threads",
                        "presences",
                        "stage_instances",
                        "guild_scheduled_events",
                        "unavailable",
                        "soundboard_sounds",
                        "embedded_activities",
                        "lazy",
                    ] {
                        map.remove(key);
                    }
                }
                Ok(Reply::ok(g))
            }
            ("GET", ["guilds", guild, "roles"]) => {
                self.guild(guild)?;
                Ok(Reply::ok(Value::Array(payloads::roles(spec))))
            }
            ("GET", ["guilds", guild, "channels"]) => {
                self.guild(guild)?;
                let channels = self
                    .st
                    .channels
                    .values()
                    .filter(|c| c.kind == 0)
                    .map(|c| c.json.clone())
                    .collect();
                Ok(Reply::ok(Value::Array(channels)))
            }
            ("GET", ["guilds", guild, "members"]) => {
                self.guild(guild)?;
                let mut ids: Vec<u64> = spec.members.iter().map(|m| m.user_id).collect();
                ids.push(spec.bot_user_id);
                ids.sort_unstable();
                let members = ids
                    .into_iter()
                    .map(|u| payloads::member(spec, self.st, u, true))
                    .collect();
                Ok(Reply::ok(Value::Array(members)))
            }
            ("GET", ["guilds", guild, "members", user]) => {
                self.guild(guild)?;
                let user = snowflake(user)?;
                self.member(user)?;
                Ok(Reply::ok(payloads::member(spec, self.st, user, true)))
            }
            ("PUT" | "DELETE", ["guilds", guild, "members", user, "roles", role]) => {
                self.guild(guild)?;
                let (user, role) = (snowflake(user)?, snowflake(role)?);
                self.member(user)?;
                if !spec.roles.iter().any(|r| r.id == role) {
                    return Err(Reply::error(404, 10011, "Unknown Role"));
                }
                let roles = self.st.member_roles.entry(user).or_default();
                roles.retain(|r| *r != role);
                if method == "PUT" {
                    roles.push(role);
                }
                Ok(Reply::no_content())
            }
            ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
                self.app(app)?;
                self.guild(guild)?;
                let stored = self.overwrite_commands(body, true)?;
                Ok(Reply::ok(Value::Array(stored)))
            }
            ("GET", ["applications", app, "guilds", guild, "commands"]) => {
                self.app(app)?;
                self.guild(guild)?;
                Ok(Reply::ok(Value::Array(self.st.guild_commands.clone())))
            }
            ("PUT", ["applications", app, "commands"]) => {
                self.app(app)?;
                let stored = self.overwrite_commands(body, false)?;
                Ok(Reply::ok(Value::Array(stored)))
            }
            ("GET", ["applications", app, "commands"]) => {
                self.app(app)?;
                Ok(Reply::ok(Value::Array(self.st.global_commands.clone())))
            }
            ("POST", ["interactions", id, token, "callback"]) => self.interaction_callback(snowflake(id)?, token, body),
            ("GET" | "PATCH" | "DELETE", ["webhooks", app, token, "messages", message]) => {
                self.app(app).map_err(|_| unknown_webhook())?;
                self.webhook_message(method, token, message, body)
            }
            ("POST", ["webhooks", app, token]) => {
                self.app(app).map_err(|_| unknown_webhook())?;
                self.followup(token, body)
            }
            _ => Err(Reply::unknown_route()),
        }
    }

    fn application(&self) -> Value {
        let spec = self.spec;
        json!({
            "id": sf(spec.application_id),
            "name": spec.bot_username,
            "icon": null,
            "description": "opsdesk (fake application)",
            "rpc_origins": [],
            "bot_public": false,
            "bot_require_code_grant": false,
            "bot": payloads::bot_user(spec),
            "owner": payloads::user(spec, spec.owner_id),
            "verify_key": "0000000000000000000000000000000000000000000000000000000000000000",
            "team": null,
            "guild_id": sf(spec.guild_id),
            "flags": (1u64 << 19) | (1u64 << 23),
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": null,
            "role_connections_verification_url": null,
            "approximate_guild_count": 1,
        })
    }

    fn guild(&self, guild: &str) -> Result<(), Reply> {
        if snowflake(guild)? == self.spec.guild_id {
            Ok(())
        } else {
            Err(Reply::error(404, 10004, "Unknown Guild"))
        }
    }

    fn app(&self, app: &str) -> Result<(), Reply> {
        if snowflake(app)? == self.spec.application_id {
            Ok(())
        } else {
            Err(Reply::error(404, 10002, "Unknown Application"))
        }
    }

    fn member(&self, user: u64) -> Result<(), Reply> {
        if user == self.spec.bot_user_id || self.spec.members.iter().any(|m| m.user_id == user) {
            Ok(())
        } else {
            Err(Reply::error(404, 10007, "Unknown Member"))
        }
    }

    fn channel(&self, channel: u64) -> Result<ChannelEntry, Reply> {
        self.st.channels.get(&channel).cloned().ok_or_else(unknown_channel)
    }

    /// Checks that `message` exists (not deleted) in `channel`.
    fn message_in(&self, channel: u64, message: u64) -> Result<u64, Reply> {
        self.channel(channel)?;
        match self.st.messages.get(&message) {
            Some(m) if m.channel_id == channel && !m.deleted => Ok(message),
            _ => Err(unknown_message()),
        }
    }

    fn open_dm(&mut self, body: &Value) -> Handled {
        let Some(user) = parse_sf(&body["recipient_id"]) else {
            return Err(Reply::invalid_form(
                "recipient_id",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            ));
        };
        if !self.spec.members.iter().any(|m| m.user_id == user) {
            return Err(Reply::error(400, 50033, "Invalid Recipient(s)"));
        }
        let id = gateway::ensure_dm(self.spec, self.st, user);
        Ok(Reply::ok(self.st.channels[&id].json.clone()))
    }

    fn list_messages(&self, channel: u64, query: Option<&str>) -> Handled {
        self.channel(channel)?;
        let limit = query
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix("limit="))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(50)
            .min(100);
        let list: Vec<Value> = self
            .st
            .messages
            .values()
            .rev()
            .filter(|m| m.channel_id == channel && !m.deleted)
            .take(limit)
            .map(|m| m.json.clone())
            .collect();
        Ok(Reply::ok(Value::Array(list)))
    }

    /// Builds a bot-authored message object from a create/response body.
    fn bot_message(&mut self, channel: u64, body: &Value) -> Result<Value, Reply> {
        let content = body["content"].as_str().unwrap_or_default();
        if content.chars().count() > 2000 {
            return Err(Reply::invalid_form(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
        if embeds.len() > 10 {
            return Err(Reply::invalid_form(
                "embeds",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 10 or fewer in length.",
            ));
        }
        super::components::check_message(&body["components"]).map_err(|v| Reply::json(400, v.body()))?;
        let components = body["components"].as_array().cloned().unwrap_or_default();
        let has_payload = !content.is_empty()
            || !embeds.is_empty()
            || !components.is_empty()
            || body["attachments"].as_array().is_some_and(|a| !a.is_empty())
            || !self.uploads.is_empty()
            || !body["poll"].is_null()
            || body["sticker_ids"].as_array().is_some_and(|a| !a.is_empty());
        if !has_payload {
            return Err(Reply::error(400, 50006, "Cannot send an empty message"));
        }
        let id = self.st.next_id();
        let mut msg = payloads::message(id, channel, payloads::bot_user(self.spec), content);
        msg["embeds"] = Value::Array(embeds.into_iter().map(normalize_embed).collect());
        msg["components"] = Value::Array(components);
        msg["tts"] = json!(body["tts"].as_bool().unwrap_or(false));
        msg["flags"] = json!(body["flags"].as_u64().unwrap_or(0));
        if !body["nonce"].is_null() {
            msg["nonce"] = body["nonce"].clone();
        }
        let (users, roles) = payloads::mentions(content);
        msg["mentions"] = users.into_iter().map(|u| payloads::user(self.spec, u)).collect();
        msg["mention_roles"] = roles.into_iter().map(sf).collect();
        if let Some(reference) = body.get("message_reference").filter(|r| !r.is_null()) {
            let target = parse_sf(&reference["message_id"]);
            let target_channel = parse_sf(&reference["channel_id"]).unwrap_or(channel);
            let found = target
                .and_then(|t| self.st.messages.get(&t))
                .filter(|m| m.channel_id == target_channel && !m.deleted);
            match found {
                Some(original) => {
                    msg["type"] = json!(19);
                    msg["referenced_message"] = original.json.clone();
                    msg["message_reference"] = json!({
                        "type": 0,
                        "message_id": sf(original.id),
                        "channel_id": sf(target_channel),
                        "guild_id": sf(self.spec.guild_id),
                    });
                }
                None if reference["fail_if_not_exists"] == json!(false) => {}
                None => {
                    return Err(Reply::invalid_form(
                        "message_reference",
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    ))
                }
            }
        }
        Ok(msg)
    }

    fn create_message(&mut self, channel: u64, body: &Value) -> Handled {
        let entry = self.channel(channel)?;
        if let Some(recipient) = entry.recipient {
            if self.spec.members.iter().any(|m| m.user_id == recipient && m.dms_closed) {
                return Err(Reply::error(403, 50007, "Cannot send messages to this user"));
            }
        }
        let nonce_key = match (&body["nonce"], body["enforce_nonce"].as_bool()) {
            (Value::String(s), Some(true)) => Some(s.clone()),
            (Value::Number(n), Some(true)) => Some(n.to_string()),
            _ => None,
        };
        if let Some(key) = &nonce_key {
            if let Some(existing) = self.st.nonces.get(&(channel, key.clone())) {
                self.st.nonce_dedups += 1;
                return Ok(Reply::ok(self.st.messages[existing].json.clone()));
            }
        }
        let mut msg = self.bot_message(channel, body)?;
        let id = parse_sf(&msg["id"]).unwrap_or_default();
        let files = self.take_files(body, &[])?;
        show_files(&mut msg, channel, &files);
        if let Some(key) = nonce_key {
            self.st.nonces.insert((channel, key), id);
        }
        gateway::store_message(self.st, msg.clone(), self.spec.bot_user_id, Some(body.clone()), None);
        if let Some(stored) = self.st.messages.get_mut(&id) {
            stored.files = files;
        }
        self.echo("MESSAGE_CREATE", &msg);
        Ok(Reply::ok(msg))
    }

    /// The files a create or edit leaves on a message, as Discord does:
    /// `attachments` lists the files kept (`{"id": <existing>}`) and the new
    /// ones (`{"id": n}` for the part `files[n]`); files sent without a
    /// listing are all added. With no `attachments` and no files, `existing` stays.
    fn take_files(&mut self, body: &Value, existing: &[FakeFile]) -> Result<Vec<FakeFile>, Reply> {
        let uploads = std::mem::take(&mut self.uploads);
        let Some(listed) = body["attachments"].as_array() else {
            let mut files = existing.to_vec();
            for u in uploads {
                files.push(self.file(u));
            }
            return Ok(files);
        };
        let mut uploads: Vec<Option<Upload>> = uploads.into_iter().map(Some).collect();
        let mut files = Vec::new();
        for entry in listed {
            let id = parse_sf(&entry["id"]);
            if let Some(kept) = existing.iter().find(|f| Some(f.id) == id) {
                files.push(kept.clone());
                continue;
            }
            let field = format!("files[{}]", id.unwrap_or_default());
            let Some(upload) = uploads
                .iter_mut()
                .find(|u| u.as_ref().is_some_and(|u| u.field == field))
                .and_then(Option::take)
            else {
                return Err(Reply::invalid_form(
                    "attachments",
                    "ATTACHMENT_NOT_FOUND",
                    "Attachment data not found",
                ));
            };
            let mut file = self.file(upload);
            if let Some(name) = entry["filename"].as_str() {
                file.filename = name.to_owned();
            }
            files.push(file);
        }
        Ok(files)
    }

    fn file(&mut self, upload: Upload) -> FakeFile {
        FakeFile {
            id: self.st.next_id(),
            filename: upload.filename,
            content_type: upload.content_type,
            bytes: upload.bytes,
        }
    }

    /// Echoes a bot message event on the gateway (when enabled).
    fn echo(&mut self, t: &str, msg: &Value) {
        if self.spec.echo_bot_actions && msg["flags"].as_u64().unwrap_or(0) & EPHEMERAL == 0 {
            let event = gateway::gateway_message(self.spec, self.st, msg);
            dispatch(self.spec, self.st, t, event);
        }
    }

    fn edit_message(&mut self, id: u64, body: &Value) -> Result<Value, Reply> {
        let existing = self.st.messages[&id].files.clone();
        let files = self.take_files(body, &existing)?;
        let stored = self.st.messages.get_mut(&id).expect("checked by caller");
        let channel = stored.channel_id;
        stored.history.push(stored.json.clone());
        stored.edit_bodies.push(body.clone());
        let json = &mut stored.json;
        if let Some(content) = body.get("content").filter(|c| !c.is_null()) {
            json["content"] = content.clone();
        }
        if let Some(embeds) = body["embeds"].as_array() {
            json["embeds"] = Value::Array(embeds.iter().cloned().map(normalize_embed).collect());
        }
        if let Some(components) = body["components"].as_array() {
            json["components"] = Value::Array(components.clone());
        }
        let mut flags = json["flags"].as_u64().unwrap_or(0) & !LOADING;
        if let Some(f) = body["flags"].as_u64() {
            flags = (flags & EPHEMERAL) | (f & !LOADING);
        }
        json["flags"] = json!(flags);
        json["edited_timestamp"] = json!(payloads::now_iso());
        show_files(json, channel, &files);
        stored.files = files;
        let updated = json.clone();
        self.echo("MESSAGE_UPDATE", &updated);
        Ok(updated)
    }

    fn delete_message(&mut self, id: u64) {
        let Some(stored) = self.st.messages.get_mut(&id) else {
            return;
        };
        stored.deleted = true;
        let (channel, ephemeral) = (
            stored.channel_id,
            stored.json["flags"].as_u64().unwrap_or(0) & EPHEMERAL != 0,
        );
        if self.spec.echo_bot_actions && !ephemeral {
            let mut d = json!({"id": sf(id), "channel_id": sf(channel)});
            if self.st.channels.get(&channel).map_or(true, ChannelEntry::is_guild) {
                d["guild_id"] = sf(self.spec.guild_id);
            }
            dispatch(self.spec, self.st, "MESSAGE_DELETE", d);
        }
    }

    fn react(&mut self, channel: u64, message: u64, user: u64, emoji: &str, add: bool) -> Handled {
        let message = self.message_in(channel, message)?;
        let is_custom = emoji.contains(':');
        if !is_custom && (emoji.is_empty() || emoji.is_ascii()) {
            return Err(Reply::error(400, 10014, "Unknown Emoji"));
        }
        let changed = gateway::record_reaction(self.spec, self.st, message, user, emoji, add);
        if changed && self.spec.echo_bot_actions {
            let d = gateway::reaction_event(self.spec, self.st, channel, message, user, emoji, add);
            let t = if add {
                "MESSAGE_REACTION_ADD"
            } else {
                "MESSAGE_REACTION_REMOVE"
            };
            dispatch(self.spec, self.st, t, d);
        }
        Ok(Reply::no_content())
    }

    fn create_thread(&mut self, channel: u64, message: Option<u64>, body: &Value) -> Handled {
        let entry = self.channel(channel)?;
        if entry.kind != 0 {
            return Err(Reply::error(400, 50024, "Cannot execute action on this channel type"));
        }
        let name = body["name"].as_str().unwrap_or_default();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Reply::invalid_form(
                "name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        let id = match message {
            Some(m) => {
                let m = self.message_in(channel, m)?;
                if self.st.threads.contains_key(&m) {
                    return Err(Reply::error(
                        400,
                        160_004,
                        "A thread has already been created for this message",
                    ));
                }
                m
            }
            None => self.st.next_id(),
        };
        let archive = body["auto_archive_duration"].as_u64().unwrap_or(1440);
        let thread = payloads::thread_channel(self.spec, id, channel, name, archive);
        self.st.channels.insert(
            id,
            ChannelEntry {
                json: thread.clone(),
                kind: 11,
                recipient: None,
            },
        );
        self.st.threads.insert(
            id,
            ThreadInfo {
                id,
                parent_id: channel,
                name: name.to_string(),
                message_id: message,
                create_body: body.clone(),
                added_members: Vec::new(),
            },
        );
        if let Some(m) = message.and_then(|m| self.st.messages.get_mut(&m)) {
            m.json["thread"] = thread.clone();
            let flags = m.json["flags"].as_u64().unwrap_or(0) | HAS_THREAD;
            m.json["flags"] = json!(flags);
        }
        if self.spec.echo_bot_actions {
            let mut event = thread.clone();
            event["newly_created"] = json!(true);
            dispatch(self.spec, self.st, "THREAD_CREATE", event);
        }
        Ok(Reply::json(201, thread))
    }

    fn overwrite_commands(&mut self, body: &Value, guild: bool) -> Result<Vec<Value>, Reply> {
        let Some(list) = body.as_array() else {
            return Err(Reply::invalid_form("_", "BASE_TYPE_ARRAY", "Must be an array."));
        };
        let mut names = std::collections::HashSet::new();
        let old = if guild {
            self.st.guild_commands.clone()
        } else {
            self.st.global_commands.clone()
        };
        let mut stored = Vec::with_capacity(list.len());
        for cmd in list {
            let name = cmd["name"].as_str().unwrap_or_default().to_string();
            if name.is_empty() {
                return Err(Reply::invalid_form(
                    "name",
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                ));
            }
            if !names.insert(name.clone()) {
                return Err(Reply::invalid_form(
                    "_",
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                ));
            }
            let existing = old
                .iter()
                .find(|c| c["name"] == name.as_str())
                .and_then(|c| parse_sf(&c["id"]));
            let id = existing.unwrap_or_else(|| self.st.next_id());
            let version = self.st.next_id();
            let mut out = cmd.clone();
            out["id"] = sf(id);
            out["application_id"] = sf(self.spec.application_id);
            out["version"] = sf(version);
            if guild {
                out["guild_id"] = sf(self.spec.guild_id);
            }
            if out["type"].is_null() {
                out["type"] = json!(1);
            }
            if out["description"].is_null() {
                out["description"] = json!("");
            }
            if out.get("default_member_permissions").is_none() {
                out["default_member_permissions"] = Value::Null;
            }
            if out["options"].is_null() {
                out["options"] = json!([]);
            }
            if out["nsfw"].is_null() {
                out["nsfw"] = json!(false);
            }
            stored.push(out);
        }
        if guild {
            self.st.guild_commands = stored.clone();
        } else {
            self.st.global_commands = stored.clone();
        }
        Ok(stored)
    }

    fn interaction_callback(&mut self, id: u64, token: &str, body: &Value) -> Handled {
        let deadline = self.spec.interaction_deadline;
        let elapsed = self.inner.elapsed();
        let latency = self.st.interaction_started.get(&id).map(Instant::elapsed);
        let Some(rec) = self.st.interaction_mut(id) else {
            return Err(Reply::error(404, 10062, "Unknown interaction"));
        };
        if rec.token != token {
            return Err(Reply::error(401, 50027, "Invalid Webhook Token"));
        }
        if rec.callback.is_some() {
            rec.rejected_callbacks.push((elapsed, 400));
            return Err(Reply::error(400, 40060, "Interaction has already been acknowledged."));
        }
        if let (Some(limit), Some(latency)) = (deadline, latency) {
            if latency > limit {
                rec.rejected_callbacks.push((elapsed, 404));
                return Err(Reply::error(404, 10062, "Unknown interaction"));
            }
        }
        let (channel, component_message, user, rec_kind) =
            (rec.channel_id, rec.component_message_id, rec.user_id, rec.kind);
        let kind = body["type"].as_u64().unwrap_or(0);
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let original = match kind {
            4 | 5 => {
                let mut msg = if kind == 5 {
                    // Deferred: a "thinking..." placeholder until @original is edited.
                    let flags = data["flags"].as_u64().unwrap_or(0) & EPHEMERAL;
                    let id = self.st.next_id();
                    let mut m = payloads::message(id, channel, payloads::bot_user(self.spec), "");
                    m["flags"] = json!(flags | LOADING);
                    m
                } else {
                    self.bot_message(channel, &data)?
                };
                self.mark_interaction_message(&mut msg, id, user, component_message);
                gateway::store_message(self.st, msg.clone(), self.spec.bot_user_id, Some(data), Some(id));
                self.echo("MESSAGE_CREATE", &msg);
                parse_sf(&msg["id"])
            }
            6 => component_message,
            9 => {
                // A modal answers a command or a component, never another modal.
                if rec_kind == 5 {
                    return Err(Reply::error(400, 50035, "Invalid Form Body"));
                }
                super::components::check_modal(&data).map_err(|v| Reply::json(400, v.body()))?;
                None
            }
            7 => {
                super::components::check_message(&data["components"]).map_err(|v| Reply::json(400, v.body()))?;
                if let Some(m) = component_message.filter(|m| self.st.messages.contains_key(m)) {
                    // A component update sends no files: it cannot be refused for one.
                    let _ = self.edit_message(m, &data);
                }
                component_message
            }
            _ => None,
        };
        let rec = self.st.interaction_mut(id).expect("found above");
        rec.callback = Some(body.clone());
        rec.callback_latency = latency;
        rec.original_message_id = original;
        Ok(Reply::no_content())
    }

    /// Adds webhook/application ids and `interaction_metadata` to an interaction response.
    fn mark_interaction_message(&self, msg: &mut Value, interaction: u64, user: u64, component_message: Option<u64>) {
        let spec = self.spec;
        msg["webhook_id"] = sf(spec.application_id);
        msg["application_id"] = sf(spec.application_id);
        let mut metadata = json!({
            "id": sf(interaction),
            "type": if component_message.is_some() { 3 } else { 2 },
            "user": payloads::user(spec, user),
            "authorizing_integration_owners": {"0": sf(spec.guild_id)},
        });
        if let Some(m) = component_message {
            metadata["interacted_message_id"] = sf(m);
        } else {
            msg["type"] = json!(20);
        }
        msg["interaction_metadata"] = metadata;
    }

    fn interaction_by_token(&self, token: &str) -> Result<u64, Reply> {
        self.st
            .interactions
            .iter()
            .find(|i| i.token == token)
            .map(|i| i.id)
            .ok_or_else(unknown_webhook)
    }

    fn webhook_message(&mut self, method: &str, token: &str, message: &str, body: &Value) -> Handled {
        let interaction = self.interaction_by_token(token)?;
        let rec = self
            .st
            .interactions
            .iter()
            .find(|i| i.id == interaction)
            .expect("found by token");
        let target = if message == "@original" {
            rec.original_message_id.ok_or_else(unknown_message)?
        } else {
            let m = snowflake(message)?;
            if rec.original_message_id != Some(m) && !rec.followup_message_ids.contains(&m) {
                return Err(unknown_message());
            }
            m
        };
        if self.st.messages.get(&target).map_or(true, |m| m.deleted) {
            return Err(unknown_message());
        }
        match method {
            "GET" => Ok(Reply::ok(self.st.messages[&target].json.clone())),
            "DELETE" => {
                self.delete_message(target);
                Ok(Reply::no_content())
            }
            _ => {
                super::components::check_message(&body["components"]).map_err(|v| Reply::json(400, v.body()))?;
                if message == "@original" {
                    if let Some(rec) = self.st.interaction_mut(interaction) {
                        rec.original_edits.push(body.clone());
                    }
                }
                Ok(Reply::ok(self.edit_message(target, body)?))
            }
        }
    }

    fn followup(&mut self, token: &str, body: &Value) -> Handled {
        let interaction = self.interaction_by_token(token)?;
        let rec = self
            .st
            .interactions
            .iter()
            .find(|i| i.id == interaction)
            .expect("found by token");
        if rec.callback.is_none() {
            return Err(unknown_webhook());
        }
        let (channel, user, component) = (rec.channel_id, rec.user_id, rec.component_message_id);
        let mut msg = self.bot_message(channel, body)?;
        self.mark_interaction_message(&mut msg, interaction, user, component);
        let id = parse_sf(&msg["id"]).unwrap_or_default();
        gateway::store_message(
            self.st,
            msg.clone(),
            self.spec.bot_user_id,
            Some(body.clone()),
            Some(interaction),
        );
        if let Some(rec) = self.st.interaction_mut(interaction) {
            rec.followup_message_ids.push(id);
        }
        self.echo("MESSAGE_CREATE", &msg);
        Ok(Reply::ok(msg))
    }
}

/// Embeds as Discord returns them: `type: "rich"` and no empty `fields`.
/// A message's `attachments` as Discord serves them, and its embeds'
/// `attachment://<name>` images pointed at the file (a URL on loopback that
/// nothing fetches).
fn show_files(msg: &mut Value, channel: u64, files: &[FakeFile]) {
    let url = |f: &FakeFile| format!("http://127.0.0.1/attachments/{channel}/{}/{}", f.id, f.filename);
    msg["attachments"] = files
        .iter()
        .map(|f| {
            json!({
                "id": sf(f.id),
                "filename": f.filename,
                "size": f.bytes.len(),
                "url": url(f),
                "proxy_url": url(f),
                "content_type": f.content_type,
            })
        })
        .collect();
    if let Some(embeds) = msg["embeds"].as_array_mut() {
        for e in embeds {
            let shown = e["image"]["url"].as_str().and_then(|u| u.strip_prefix("attachment://"));
            if let Some(file) = shown.and_then(|name| files.iter().find(|f| f.filename == name)) {
                e["image"]["url"] = json!(url(file));
                e["image"]["proxy_url"] = json!(url(file));
            }
        }
    }
}

fn normalize_embed(mut embed: Value) -> Value {
    if embed["type"].is_null() {
        embed["type"] = json!("rich");
    }
    if embed["fields"].as_array().is_some_and(Vec::is_empty) {
        if let Some(map) = embed.as_object_mut() {
            map.remove("fields");
        }
    }
    embed
}
