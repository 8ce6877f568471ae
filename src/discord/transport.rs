//! Delivers the outbox to Discord: resolves destinations through the
//! [`Directory`], pings only the mentions the desk asked for (allowed_mentions is
//! always explicit), posts cards as embeds edited in place with a thread each
//! (a card that moved to another channel is posted there anew, keeps its
//! thread, and its old post is edited into a pointer),
//! splits long posts into several messages (never cuts them) and keeps cards
//! within Discord's limits with their buttons (`components`), paces under the budgets, and never
//! duplicates a message on retry (`nonce` + `enforce_nonce`).
//!
//! A message's file (the report's chart) goes with the message that holds
//! its card, as a multipart body (`payload_json` + `files[0]`); a card's
//! picture is its embed's image `attachment://<name>`. A card edit that
//! carries a file replaces the card's file; one without leaves it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    AutoArchiveDuration, ChannelId, Colour, CreateAllowedMentions, CreateAttachment, CreateEmbed, CreateEmbedFooter,
    CreateMessage, CreateThread, EditAttachments, EditMessage, Http, MessageId, Nonce, ReactionType, RoleId,
    UserId as DiscordUserId,
};
use serenity::http::HttpError;
use tokio::sync::Mutex;

use super::directory::Directory;
use super::pace::{Class, Pacer};
use crate::config::Policy;
use crate::message::{Attachment, Card, CardStep, Destination, OutKind, OutMessage, Tone};
use crate::outbox::{Delivered, Delivery, SendError, Transport};
use crate::render;

/// Discord error code: cannot send messages to this user (DMs closed).
pub const DMS_CLOSED: isize = 50007;
/// Discord error code: unknown message (a card deleted by hand).
const UNKNOWN_MESSAGE: isize = 10008;
/// Discord error code: a thread was already created for this message.
const THREAD_EXISTS: isize = 160004;
/// Discord error codes that a change on the guild can clear: the bot may not
/// see the channel (Missing Access), may not post there (Missing
/// Permissions), or the channel is gone (Unknown Channel).
const MISSING_ACCESS: isize = 50001;
const MISSING_PERMISSIONS: isize = 50013;
const UNKNOWN_CHANNEL: isize = 10003;

/// Posts messages itself (not through serenity's `send_message`) so that a 429's
/// `Retry-After` (header, or `retry_after` in the body) reaches the outbox:
/// serenity's error type keeps only the status, code and message.
pub struct Poster {
    client: reqwest::Client,
    /// `Bot <token>`, as serenity sends it.
    authorization: String,
    proxy: Option<String>,
}

impl Poster {
    pub fn new(token: &str, proxy: Option<&str>) -> Self {
        let token = token.trim();
        let authorization = if token.starts_with("Bot ") || token.starts_with("Bearer ") {
            token.to_owned()
        } else {
            format!("Bot {token}")
        };
        Self {
            client: reqwest::Client::builder()
                .use_rustls_tls()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            authorization,
            proxy: proxy.map(|p| p.trim_end_matches('/').to_owned()),
        }
    }

    /// Posts `msg` in `channel`, with `file` as a multipart body (the message
    /// as `payload_json`, the file as `files[0]`, which `msg` must already
    /// name: see [`with_file`]); returns the new message's id.
    pub(super) async fn post(
        &self,
        channel: u64,
        msg: &CreateMessage,
        file: Option<&Attachment>,
    ) -> Result<u64, Refused> {
        let unencodable = |e: serde_json::Error| SendError::Permanent(format!("unencodable message: {e}"));
        let route = serenity::http::Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let body = match file {
            None => Body::Json(serde_json::to_vec(msg).map_err(unencodable)?),
            Some(f) => Body::Multipart(serenity::http::Multipart {
                upload: serenity::http::MultipartUpload::Attachments(vec![discord_file(f)]),
                fields: Vec::new(),
                payload_json: Some(serde_json::to_string(msg).map_err(unencodable)?),
            }),
        };
        let sent = self.request(route, serenity::http::LightMethod::Post, body).await?;
        Ok(snowflake(&sent, "message")?)
    }

    /// Sends one request; its answer's JSON (`null` when it has none). A 429
    /// comes back as [`Refused::RateLimited`] with Discord's own wait.
    pub(super) async fn request(
        &self,
        route: serenity::http::Route<'_>,
        method: serenity::http::LightMethod,
        body: Body,
    ) -> Result<serde_json::Value, Refused> {
        let request = serenity::http::Request::new(route, method);
        let request = match body {
            Body::Json(bytes) => request.body(Some(bytes)),
            Body::Multipart(m) => request.multipart(Some(m)),
        };
        let request = request
            .build(&self.client, &self.authorization, self.proxy.as_deref())
            .map_err(classify)?;
        let response = request.send().await.map_err(|e| SendError::Retry {
            after: None,
            reason: format!("network: {e}"),
        })?;
        let status = response.status();
        if status.is_success() {
            let bytes = response.bytes().await.map_err(|e| SendError::Retry {
                after: None,
                reason: format!("unreadable answer: {e}"),
            })?;
            return Ok(serde_json::from_slice(&bytes).unwrap_or_default());
        }
        if status.as_u16() == 429 {
            crate::telemetry::metrics().rate_limited();
            let header = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok());
            let global = response.headers().get("x-ratelimit-global").is_some();
            let body: serde_json::Value = match response.bytes().await {
                Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
            let secs = body["retry_after"]
                .as_f64()
                .or(header)
                .unwrap_or(1.0)
                .clamp(0.0, 3600.0);
            return Err(Refused::RateLimited(RateLimit {
                after: Duration::from_secs_f64(secs),
                global: global || body["global"].as_bool() == Some(true),
            }));
        }
        let error = serenity::http::ErrorResponse::from_response(response, reqwest::Method::POST).await;
        Err(classify(serenity::Error::Http(HttpError::UnsuccessfulRequest(error))).into())
    }
}

/// The id in Discord's answer (a new message's, a channel's), as Discord
/// sends it: a string of digits, never 0.
pub(super) fn snowflake(answer: &serde_json::Value, what: &str) -> Result<u64, SendError> {
    answer["id"]
        .as_str()
        .and_then(|id| id.parse::<u64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| SendError::Permanent(format!("Discord's answer has no {what} id")))
}

/// A request's body.
pub(super) enum Body {
    Json(Vec<u8>),
    Multipart(serenity::http::Multipart),
}

/// A 429: how long Discord asks to wait, and whether for every request
/// (`global`) or for the route (a channel's messages).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RateLimit {
    pub after: Duration,
    pub global: bool,
}

/// Why a request of the [`Poster`]'s did not go through.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Refused {
    RateLimited(RateLimit),
    Failed(SendError),
}

impl From<SendError> for Refused {
    fn from(e: SendError) -> Self {
        Refused::Failed(e)
    }
}

impl From<Refused> for SendError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::RateLimited(RateLimit { after, global }) => SendError::Retry {
                after: Some(after),
                reason: format!(
                    "HTTP 429: rate limited{}, retry after {:.3}s",
                    if global { " (global)" } else { "" },
                    after.as_secs_f64()
                ),
            },
            Refused::Failed(e) => e,
        }
    }
}

impl RateLimit {
    /// Holds the pacer for Discord's wait: every request after a global
    /// 429, `channel`'s after a 429 on a channel's messages. False when
    /// there is nothing to hold (a route's 429 on no channel): the caller
    /// waits itself.
    pub(super) fn hold(self, pacer: &Pacer, channel: Option<u64>) -> bool {
        match (self.global, channel) {
            (true, _) => pacer.hold(None, self.after),
            (false, Some(c)) => pacer.hold(Some(c), self.after),
            (false, None) => return false,
        }
        true
    }
}

/// The outbox's way to Discord.
pub struct DiscordTransport {
    http: Arc<Http>,
    policy: Policy,
    directory: Arc<Directory>,
    /// Shared with the direct answers, which go first when the budget is spent.
    pacer: Arc<Pacer>,
    dm_channels: Mutex<HashMap<u64, u64>>,
    poster: Option<Arc<Poster>>,
}

impl DiscordTransport {
    /// Posts through `poster` when given (Retry-After honoured), else through serenity.
    pub fn with_poster(mut self, poster: Arc<Poster>) -> Self {
        self.poster = Some(poster);
        self
    }

    pub fn new(http: Arc<Http>, policy: Policy, directory: Arc<Directory>, pacer: Arc<Pacer>) -> Self {
        Self {
            poster: None,
            http,
            pacer,
            policy,
            directory,
            dm_channels: Mutex::new(HashMap::new()),
        }
    }

    async fn dm_channel(&self, user: u64) -> Result<u64, SendError> {
        if let Some(c) = self.dm_channels.lock().await.get(&user) {
            return Ok(*c);
        }
        let _slot = self.pacer.acquire(None, Class::Bulk).await;
        let channel = DiscordUserId::new(user.max(1))
            .create_dm_channel(&*self.http)
            .await
            .map_err(classify)?;
        self.dm_channels.lock().await.insert(user, channel.id.get());
        Ok(channel.id.get())
    }

    async fn channel_for(&self, d: &Delivery<'_>) -> Result<u64, SendError> {
        // The guild is loaded (see `deliver`): a channel it lacks is blocked, not "not loaded".
        let missing = |name: &str| SendError::Blocked(format!("the guild has no channel #{name}"));
        match d.destination {
            Destination::RoleChannel(role) => self.directory.role_channel(&self.policy, role).ok_or_else(|| {
                let name = self
                    .policy
                    .role(role)
                    .map_or_else(|| role.to_string(), |r| r.channel.clone());
                missing(&name)
            }),
            Destination::Channel(c) => match self.directory.channel(c) {
                Some(id) => Ok(id),
                None if *c == self.policy.outage.status_channel => self
                    .directory
                    .status_channel(&self.policy)
                    .ok_or_else(|| missing(c.trim_start_matches('#'))),
                // An id of a channel we were told about (e.g. where a command came from).
                None => c
                    .parse::<u64>()
                    .map_err(|_| SendError::Permanent(format!("no channel `{c}`"))),
            },
            Destination::Thread(_) => {
                let card = d.card.ok_or_else(|| SendError::Retry {
                    after: None,
                    reason: "card not posted yet".into(),
                })?;
                let id = card.thread_id.as_deref().unwrap_or(&card.channel_id);
                id.parse::<u64>()
                    .map_err(|_| SendError::Permanent(format!("bad thread id `{id}`")))
            }
            Destination::Dm(user) => self.dm_channel(user.get()).await,
        }
    }

    /// The visible mentions and the allowed_mentions that lets exactly them ping.
    fn mentions(&self, m: &OutMessage) -> (String, CreateAllowedMentions) {
        let mut prefix = Vec::new();
        let mut roles = Vec::new();
        for r in &m.ping_roles {
            match self.directory.role_id(&self.policy, r) {
                Some(id) => {
                    prefix.push(format!("<@&{id}>"));
                    roles.push(RoleId::new(id));
                }
                None => prefix.push(format!("@{}", self.policy.role_name(r))),
            }
        }
        for name in &m.ping_chat_roles {
            match self.directory.chat_role_id(name) {
                Some(id) => {
                    prefix.push(format!("<@&{id}>"));
                    roles.push(RoleId::new(id));
                }
                // Not in the guild: shown as text, and it cannot ping.
                None => prefix.push(render::neutralize(&format!("@{name}"))),
            }
        }
        let users: Vec<DiscordUserId> = m
            .ping_users
            .iter()
            .filter(|u| u.get() > 0)
            .map(|u| DiscordUserId::new(u.get()))
            .collect();
        prefix.extend(users.iter().map(|u| format!("<@{u}>")));
        let allowed = CreateAllowedMentions::new()
            .roles(roles)
            .users(users)
            .replied_user(false);
        (prefix.join(" "), allowed)
    }

    /// Adds the bot's own reactions to a message it just posted. Best effort:
    /// the message is delivered either way, and members can react themselves.
    async fn add_reactions(&self, channel: u64, message: u64, emoji: &[String]) {
        for e in emoji {
            let _slot = self.pacer.acquire(Some(channel), Class::Delivery).await;
            let reaction = ReactionType::Unicode(e.clone());
            if let Err(err) = self
                .http
                .create_reaction(ChannelId::new(channel), MessageId::new(message), &reaction)
                .await
            {
                tracing::warn!(error = %err, message, emoji = %e, "could not add the bot's reaction");
            }
        }
    }

    /// Edits the post a moved card left behind into `text` (a pointer to
    /// where the card is now), without its embed. A post deleted by hand has
    /// nothing to point from: that is done too.
    async fn leave(
        &self,
        d: &Delivery<'_>,
        text: &str,
        allowed: CreateAllowedMentions,
    ) -> Result<Delivered, SendError> {
        let Some((channel, message)) = d.card.and_then(|c| c.previous.clone()) else {
            return Err(SendError::Permanent("no post left behind".into()));
        };
        let (Ok(ch), Ok(mid)) = (channel.parse::<u64>(), message.parse::<u64>()) else {
            return Err(SendError::Permanent("stored card ids are not Discord ids".into()));
        };
        let edit = EditMessage::new()
            .content(render::truncate(text, render::MESSAGE_LIMIT))
            .embeds(Vec::new())
            .allowed_mentions(allowed);
        let _slot = self.pacer.acquire(Some(ch), Class::Delivery).await;
        match ChannelId::new(ch)
            .edit_message(&*self.http, MessageId::new(mid), edit)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unknown_message(&e) => {}
            Err(e) => return Err(classify(e)),
        }
        Ok(Delivered {
            channel_id: channel,
            message_id: message,
            thread_id: None,
        })
    }

    /// Posts `msg` in `channel`, with `file` if given.
    async fn send(
        &self,
        channel: u64,
        msg: CreateMessage,
        d: &Delivery<'_>,
        last_part: bool,
    ) -> Result<u64, SendError> {
        let file = d.message.attachment.as_ref().filter(|_| last_part);
        let msg = with_file(msg, file);
        let class = match d.destination {
            Destination::Dm(_) => Class::Bulk,
            _ => Class::Delivery,
        };
        let _slot = self.pacer.acquire(Some(channel), class).await;
        if let Some(poster) = &self.poster {
            return poster.post(channel, &msg, file).await.map_err(|refused| {
                if let Refused::RateLimited(limit) = &refused {
                    limit.hold(&self.pacer, Some(channel));
                }
                refused.into()
            });
        }
        let sent = ChannelId::new(channel)
            .send_message(&*self.http, msg)
            .await
            .map_err(classify)?;
        Ok(sent.id.get())
    }
}

/// The file as Discord takes it (placeholder id 0: the only file of its message).
fn discord_file(f: &Attachment) -> CreateAttachment {
    CreateAttachment::bytes(f.bytes.clone(), f.name.clone())
}

/// `msg` naming `file` among its attachments (as `payload_json` must).
fn with_file(msg: CreateMessage, file: Option<&Attachment>) -> CreateMessage {
    match file {
        Some(f) => msg.add_file(discord_file(f)),
        None => msg,
    }
}

/// A card's embed, showing the message's file as its picture when it is one.
fn card_embed(card: &Card, more: &(String, String), message: &OutMessage) -> CreateEmbed {
    let e = embed(card, more);
    match message.attachment.as_ref().filter(|a| a.card_image) {
        Some(a) => e.image(format!("attachment://{}", a.name)),
        None => e,
    }
}

/// Discord's colours for a card's tone.
fn colour(t: Tone) -> Colour {
    match t {
        Tone::P1 => Colour::new(0xD0_30_30),
        Tone::P2 => Colour::new(0xE6_7E_22),
        Tone::P3 => Colour::new(0xF1_C4_0F),
        Tone::P4 => Colour::new(0x34_98_DB),
        Tone::P5 => Colour::new(0x95_A5_A6),
        Tone::Done => Colour::new(0x2E_CC_71),
    }
}

/// An embed within Discord's limits: title 256, at most 25 fields of 256/1024,
/// footer 2048, and 6000 characters in all. Fields that do not fit are not
/// dropped silently: the last field becomes `more` (where to read the rest).
pub fn embed(card: &Card, more: &(String, String)) -> CreateEmbed {
    const TOTAL: usize = 6000;
    const FIELDS: usize = 25;
    let title = render::truncate(&card.title, 256);
    let footer = card.footer.as_deref().map(|f| render::truncate(f, 2048));
    let mut budget = TOTAL - title.chars().count() - footer.as_ref().map_or(0, |f| f.chars().count());
    let more = (render::truncate(&more.0, 256), render::truncate(&more.1, 1024));
    let more_len = more.0.chars().count() + more.1.chars().count();
    let times = card.times.iter().map(|(k, t)| (k.clone(), format!("<t:{t}:R>")));
    let all: Vec<(String, String)> = card.fields.iter().cloned().chain(times).collect();
    let mut fields: Vec<(String, String, bool)> = Vec::new();
    let mut cut = false;
    for (i, (k, v)) in all.iter().enumerate() {
        // Until the last field, keep a slot and room for `more`.
        let last = i + 1 == all.len();
        let (slots, reserve) = if last { (FIELDS, 0) } else { (FIELDS - 1, more_len) };
        let name = render::truncate(k, 256);
        let value = if v.is_empty() {
            "—".to_owned()
        } else {
            render::truncate(v, 1024)
        };
        let len = name.chars().count() + value.chars().count();
        if fields.len() >= slots || len + reserve > budget {
            cut = true;
            break;
        }
        budget -= len;
        fields.push((name, value, true));
    }
    if cut {
        fields.push((more.0, more.1, false));
    }
    let mut e = CreateEmbed::new().title(title).colour(colour(card.tone)).fields(fields);
    if let Some(f) = footer {
        e = e.footer(CreateEmbedFooter::new(f));
    }
    e
}

/// How a failed call should be treated.
fn classify(e: serenity::Error) -> SendError {
    match &e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) => {
            let status = resp.status_code.as_u16();
            if resp.error.code == DMS_CLOSED {
                SendError::Unreachable(format!("dms closed ({DMS_CLOSED})"))
            } else if matches!(resp.error.code, MISSING_ACCESS | MISSING_PERMISSIONS | UNKNOWN_CHANNEL) {
                SendError::Blocked(format!(
                    "HTTP {status} code {}: {}",
                    resp.error.code, resp.error.message
                ))
            } else if status == 429 || status >= 500 {
                if status == 429 {
                    crate::telemetry::metrics().rate_limited();
                }
                SendError::Retry {
                    after: None,
                    reason: format!("HTTP {status}: {}", resp.error.message),
                }
            } else {
                SendError::Permanent(format!(
                    "HTTP {status} code {}: {}",
                    resp.error.code, resp.error.message
                ))
            }
        }
        serenity::Error::Http(_) | serenity::Error::Io(_) => SendError::Retry {
            after: None,
            reason: e.to_string(),
        },
        _ => SendError::Permanent(e.to_string()),
    }
}

fn error_code(e: &serenity::Error) -> Option<isize> {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => Some(r.error.code),
        _ => None,
    }
}

fn is_unknown_message(e: &serenity::Error) -> bool {
    matches!(e, serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) if r.error.code == UNKNOWN_MESSAGE)
}

impl Transport for DiscordTransport {
    async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
        if !self.directory.is_ready() {
            return Err(SendError::Retry {
                after: Some(Duration::from_secs(1)),
                reason: "guild not loaded yet".into(),
            });
        }
        let channel = self.channel_for(d).await?;
        let (pings, allowed) = self.mentions(d.message);
        let text = if pings.is_empty() {
            d.message.text.clone()
        } else {
            format!("{pings} {}", d.message.text)
        };

        if d.kind == OutKind::Card && d.message.step == CardStep::Leave {
            return self.leave(d, &text, allowed).await;
        }
        if d.kind == OutKind::Card {
            // A card that moved away from its thread says where the thread is.
            let moved = d.message.step == CardStep::Move || d.card.is_some_and(|c| c.previous.is_some());
            let text = match d.card.and_then(|c| c.thread_id.as_deref()).filter(|_| moved) {
                Some(thread) => format!("{text}\n{}", render::card_thread_elsewhere(&format!("<#{thread}>"))),
                None => text,
            };
            let content = render::truncate(&text, render::MESSAGE_LIMIT);
            let more = render::card_more(&self.policy.prefix, d.subject);
            let card = d.message.card.as_ref().map(|c| card_embed(c, &more, d.message));
            // A moved card is posted anew, unless it already is in that channel.
            let in_place = d
                .card
                .filter(|c| d.message.step != CardStep::Move || c.channel_id == channel.to_string());
            if let Some(existing) = in_place {
                let (Ok(ch), Ok(mid)) = (existing.channel_id.parse::<u64>(), existing.message_id.parse::<u64>()) else {
                    return Err(SendError::Permanent("stored card ids are not Discord ids".into()));
                };
                // The buttons of the card's new state replace the old ones (none clears them).
                let mut edit = EditMessage::new()
                    .content(content.clone())
                    .allowed_mentions(allowed.clone())
                    .components(super::components::rows(&d.message.buttons));
                if let Some(e) = card.clone() {
                    edit = edit.embed(e);
                }
                // A new file replaces the card's file; no file leaves it be.
                if let Some(f) = &d.message.attachment {
                    edit = edit.attachments(EditAttachments::new().add(discord_file(f)));
                }
                let _slot = self.pacer.acquire(Some(ch), Class::Delivery).await;
                match ChannelId::new(ch)
                    .edit_message(&*self.http, MessageId::new(mid), edit)
                    .await
                {
                    Ok(_) => {
                        return Ok(Delivered {
                            channel_id: ch.to_string(),
                            message_id: mid.to_string(),
                            thread_id: existing.thread_id.clone(),
                        })
                    }
                    // The card was deleted by hand: post it again below.
                    Err(e) if is_unknown_message(&e) => {}
                    Err(e) => return Err(classify(e)),
                }
            }
            let mut msg = CreateMessage::new()
                .content(content)
                .allowed_mentions(allowed)
                .nonce(Nonce::String(d.nonce.clone()))
                .enforce_nonce(true);
            if let Some(e) = card {
                msg = msg.embed(e);
            }
            if !d.message.buttons.is_empty() {
                msg = msg.components(super::components::rows(&d.message.buttons));
            }
            // Its reactions and thread come in `complete`, once the card is recorded.
            let mid = self.send(channel, msg, d, true).await?;
            return Ok(Delivered {
                channel_id: channel.to_string(),
                message_id: mid.to_string(),
                thread_id: None,
            });
        }

        // Posts: split to the message limit, each part with its own stable
        // nonce (a redelivered row finds the parts already sent). The record
        // is the last part: it holds the question, and the reactions go there.
        let parts = render::split(&text, render::MESSAGE_LIMIT);
        let mut last = None;
        for (i, part) in parts.iter().enumerate() {
            let nonce = if i == 0 {
                d.nonce.clone()
            } else {
                format!("{}-{i}", d.nonce)
            };
            let msg = CreateMessage::new()
                .content(part.clone())
                .allowed_mentions(if i == 0 {
                    allowed.clone()
                } else {
                    CreateAllowedMentions::new()
                })
                .nonce(Nonce::String(render::truncate(&nonce, 25)))
                .enforce_nonce(true);
            // A post may carry a card (a report): as the last part's embed,
            // with the post's file.
            let last_part = i + 1 == parts.len();
            let msg = match d.message.card.as_ref() {
                Some(card) if last_part => msg.embed(card_embed(
                    card,
                    &render::card_more(&self.policy.prefix, d.subject),
                    d.message,
                )),
                _ => msg,
            };
            // Its buttons and its file go with the last part too.
            let msg = if last_part && !d.message.buttons.is_empty() {
                msg.components(super::components::rows(&d.message.buttons))
            } else {
                msg
            };
            last = Some(self.send(channel, msg, d, last_part).await?);
        }
        Ok(Delivered {
            channel_id: channel.to_string(),
            message_id: last.unwrap_or_default().to_string(),
            thread_id: None,
        })
    }

    async fn complete(&self, d: &Delivery<'_>, posted: &Delivered) -> Option<String> {
        let (Ok(channel), Ok(mid)) = (posted.channel_id.parse::<u64>(), posted.message_id.parse::<u64>()) else {
            return None;
        };
        self.add_reactions(channel, mid, &d.message.reactions).await;
        // A card posted again (the old one was deleted by hand) keeps its thread.
        let has_thread = posted.thread_id.is_some() || d.card.is_some_and(|c| c.thread_id.is_some());
        if d.kind != OutKind::Card || has_thread {
            return None;
        }
        let name = d
            .message
            .card
            .as_ref()
            .map_or_else(|| d.subject.unwrap_or("updates").to_owned(), |c| c.title.clone());
        let _slot = self.pacer.acquire(Some(channel), Class::Delivery).await;
        let thread = ChannelId::new(channel)
            .create_thread_from_message(
                &*self.http,
                MessageId::new(mid),
                CreateThread::new(render::truncate(&name, 100)).auto_archive_duration(AutoArchiveDuration::OneWeek),
            )
            .await;
        match thread {
            Ok(t) => Some(t.id.get().to_string()),
            // A card found again by its nonce (a retry after a crash or a lost
            // answer) already has its thread, whose id is the card's id.
            Err(e) if error_code(&e) == Some(THREAD_EXISTS) => Some(mid.to_string()),
            Err(e) => {
                // Without a thread, updates go to the card's channel.
                tracing::warn!(error = %e, card = mid, "could not start a thread for the card");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_image_is_the_embeds_picture_and_is_named_in_the_message_body() {
        let card = Card {
            title: "Service report".into(),
            tone: Tone::Done,
            fields: vec![("Volume".into(), "2 logged".into())],
            times: Vec::new(),
            footer: None,
        };
        let more = render::card_more("!", None);
        let message = OutMessage::text("").with_card_image("report.png", vec![1, 2, 3]);
        let json = serde_json::to_value(card_embed(&card, &more, &message)).unwrap();
        assert_eq!(json["image"]["url"], "attachment://report.png");
        let plain = serde_json::to_value(card_embed(&card, &more, &OutMessage::text(""))).unwrap();
        assert!(plain["image"].is_null(), "{plain}");

        let body = serde_json::to_value(with_file(CreateMessage::new(), message.attachment.as_ref())).unwrap();
        assert_eq!(
            body["attachments"],
            serde_json::json!([{"id": 0, "filename": "report.png", "description": null}])
        );
        let body = serde_json::to_value(with_file(CreateMessage::new(), None)).unwrap();
        assert_eq!(body["attachments"], serde_json::json!([]));
    }

    #[test]
    fn embeds_respect_discord_limits() {
        let card = Card {
            title: "t".repeat(400),
            tone: Tone::P1,
            fields: (0..40).map(|i| (format!("f{i}"), "v".repeat(2000))).collect(),
            times: vec![("Opened".into(), 1_700_000_000)],
            footer: Some("x".repeat(3000)),
        };
        let more = render::card_more("!", Some("INC-7"));
        let json = serde_json::to_value(embed(&card, &more)).unwrap();
        assert_eq!(json["title"].as_str().unwrap().chars().count(), 256);
        let fields = json["fields"].as_array().unwrap();
        assert!(fields.len() <= 25);
        assert!(fields
            .iter()
            .all(|f| f["value"].as_str().unwrap().chars().count() <= 1024));
        assert_eq!(json["footer"]["text"].as_str().unwrap().chars().count(), 2048);
        let total: usize = 256
            + 2048
            + fields
                .iter()
                .map(|f| f["name"].as_str().unwrap().chars().count() + f["value"].as_str().unwrap().chars().count())
                .sum::<usize>();
        assert!(total <= 6000, "{total}");
        // What did not fit is said, not dropped.
        let last = fields.last().unwrap();
        assert_eq!(last["name"], "More");
        assert_eq!(last["value"], "… more in the thread or `!show INC-7`");

        let small = Card {
            fields: vec![("Priority".into(), "P2".into())],
            ..card
        };
        let json = serde_json::to_value(embed(&small, &more)).unwrap();
        let fields = json["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 2, "{fields:?}");
        assert!(fields.iter().all(|f| f["name"] != "More"));
        assert_eq!(json["color"], 0xD0_30_30);
    }
}
