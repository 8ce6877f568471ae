//! The gateway: JSON text frames over tokio-tungstenite, one session (shard 0 of 1).
//!
//! Serenity 0.12.5 connects to `{ws_url}?v=10` (no `encoding`, no `compress` query: it asks for
//! no zlib-stream). Its IDENTIFY says `"compress": true`, which only means it *accepts*
//! zlib-compressed binary frames; plain text frames are always accepted, so the fake never
//! compresses. On RESUME serenity sends op 6 right after connecting, before reading HELLO.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::payloads::{self, sf};
use super::{
    intents, ChannelEntry, ComponentSpec, GatewayStats, GuildSpec, Inner, InteractionRecord, InteractionSpec,
    ModalSpec, State, StoredMessage, Tasks,
};

/// What a connection task writes to its socket.
pub(super) enum Out {
    Text(String),
    Close(u16, String),
}

struct Session {
    id: String,
    seq: u64,
    intents: u64,
    /// Every dispatch of the session: (seq, t, d), for RESUME replays.
    log: Vec<(u64, String, Value)>,
}

/// Gateway half of the fake's state (lives inside `State`).
#[derive(Default)]
pub(super) struct GatewayState {
    next_conn_id: u64,
    conns: HashMap<u64, mpsc::UnboundedSender<Out>>,
    /// The connection that receives dispatches (identified or resumed).
    active: Option<u64>,
    session: Option<Session>,
    sessions_started: u64,
    /// Events injected while no session exists; delivered after the next READY.
    backlog: Vec<(String, Value)>,
    last_injected: Option<(String, Value)>,
    stats: GatewayStats,
}

impl GatewayState {
    pub(super) fn stats(&self) -> GatewayStats {
        let mut s = self.stats.clone();
        s.connected = self.active.is_some_and(|id| self.conns.contains_key(&id));
        s.session_id = self.session.as_ref().map(|x| x.id.clone());
        s.last_seq = self.session.as_ref().map_or(0, |x| x.seq);
        s.intents = self.session.as_ref().map(|x| x.intents).or(s.intents);
        s
    }

    fn send_to(&mut self, conn: u64, out: Out) -> bool {
        self.conns.get(&conn).is_some_and(|tx| tx.send(out).is_ok())
    }
}

/// Accepts gateway connections until aborted.
pub(super) async fn serve(listener: TcpListener, inner: Arc<Inner>, tasks: Weak<Tasks>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let task = tokio::spawn(connection(stream, Arc::clone(&inner)));
        match tasks.upgrade() {
            Some(tasks) => tasks
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(task.abort_handle()),
            None => task.abort(),
        }
    }
}

async fn connection(stream: TcpStream, inner: Arc<Inner>) {
    let mut uri = String::new();
    // The Result type is imposed by tungstenite's `Callback` trait.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        uri = req.uri().to_string();
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, callback).await {
        Ok(ws) => ws,
        Err(err) => {
            tracing::debug!("fake gateway: handshake failed: {err}");
            return;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn_id = {
        let mut st = inner.lock();
        let gw = &mut st.gw;
        gw.next_conn_id += 1;
        gw.stats.connections += 1;
        gw.stats.connect_uris.push(uri);
        gw.conns.insert(gw.next_conn_id, tx.clone());
        gw.next_conn_id
    };
    inner.changed.notify_waiters();
    let hello = json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": inner.spec.heartbeat_interval_ms}});
    let _ = tx.send(Out::Text(hello.to_string()));
    drop(tx);

    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(text)) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                },
                Some(Out::Close(code, reason)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    // Read until the peer goes away, so the close frame is not lost to a TCP
                    // reset caused by unread data.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(_)) = stream.next().await {}
                    })
                    .await;
                    break;
                },
                None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => client_frame(&inner, conn_id, &text),
                Some(Ok(Message::Binary(_))) => {
                    let mut st = inner.lock();
                    st.gw.send_to(conn_id, Out::Close(4002, "Error while decoding payload.".into()));
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {},
            },
        }
    }
    {
        let mut st = inner.lock();
        st.gw.conns.remove(&conn_id);
        if st.gw.active == Some(conn_id) {
            st.gw.active = None;
        }
    }
    inner.changed.notify_waiters();
}

fn token_ok(spec: &GuildSpec, token: &str) -> bool {
    let want = spec.token.strip_prefix("Bot ").unwrap_or(&spec.token);
    token.strip_prefix("Bot ").unwrap_or(token) == want
}

/// Handles one client frame.
fn client_frame(inner: &Inner, conn: u64, text: &str) {
    let spec = &inner.spec;
    let mut st = inner.lock();
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        st.gw
            .send_to(conn, Out::Close(4002, "Error while decoding payload.".into()));
        return;
    };
    let mut recorded = frame.clone();
    if let Some(token) = recorded.pointer_mut("/d/token") {
        *token = json!("<redacted>");
    }
    st.gw.stats.client_frames.push(recorded);
    match frame["op"].as_u64() {
        Some(1) => {
            st.gw.stats.heartbeats += 1;
            st.gw.send_to(
                conn,
                Out::Text(json!({"op": 11, "s": null, "t": null, "d": null}).to_string()),
            );
        }
        Some(2) => identify(inner, &mut st, conn, &frame["d"]),
        Some(6) => resume(spec, &mut st, conn, &frame["d"]),
        // Presence update, voice state, request guild members, soundboard: accepted, ignored.
        Some(3 | 4 | 8 | 31) => {}
        _ => {
            st.gw.send_to(conn, Out::Close(4001, "Unknown opcode.".into()));
        }
    }
    drop(st);
    inner.changed.notify_waiters();
}

fn identify(inner: &Inner, st: &mut State, conn: u64, d: &Value) {
    let spec = &inner.spec;
    if !token_ok(spec, d["token"].as_str().unwrap_or_default()) {
        st.gw.stats.auth_failures += 1;
        st.gw.send_to(conn, Out::Close(4004, "Authentication failed.".into()));
        return;
    }
    if st.gw.active == Some(conn) {
        st.gw.send_to(conn, Out::Close(4005, "Already authenticated.".into()));
        return;
    }
    let intents = d["intents"].as_u64().unwrap_or(0);
    st.gw.stats.identifies += 1;
    st.gw.stats.intents = Some(intents);
    st.gw.sessions_started += 1;
    let session_id = format!(
        "fakesession{:08x}{:04x}",
        payloads::unix_millis() & 0xFFFF_FFFF,
        st.gw.sessions_started
    );
    st.gw.session = Some(Session {
        id: session_id.clone(),
        seq: 0,
        intents,
        log: Vec::new(),
    });
    st.gw.active = Some(conn);
    let mut guilds: Vec<&GuildSpec> = spec.all_guilds();
    if spec.other_guilds_first {
        guilds.rotate_left(1);
    }
    guilds.retain(|g| !st.left_guilds.contains(&g.guild_id));
    let mut ready = payloads::ready(spec, &session_id, &inner.gateway_url);
    ready["guilds"] = guilds
        .iter()
        .map(|g| json!({"id": sf(g.guild_id), "unavailable": true}))
        .collect();
    dispatch(spec, st, "READY", ready);
    for g in guilds {
        let guild = payloads::guild_create(g, st);
        dispatch(spec, st, "GUILD_CREATE", guild);
    }
    for (t, d) in std::mem::take(&mut st.gw.backlog) {
        dispatch(spec, st, &t, d);
    }
}

fn resume(spec: &GuildSpec, st: &mut State, conn: u64, d: &Value) {
    if !token_ok(spec, d["token"].as_str().unwrap_or_default()) {
        st.gw.stats.auth_failures += 1;
        st.gw.send_to(conn, Out::Close(4004, "Authentication failed.".into()));
        return;
    }
    let wanted = d["session_id"].as_str().unwrap_or_default();
    let after = d["seq"].as_u64().unwrap_or(0);
    let gw = &mut st.gw;
    let Some(session) = gw.session.as_mut().filter(|s| s.id == wanted) else {
        gw.stats.failed_resumes += 1;
        gw.send_to(
            conn,
            Out::Text(json!({"op": 9, "s": null, "t": null, "d": false}).to_string()),
        );
        return;
    };
    let mut frames: Vec<String> = session
        .log
        .iter()
        .filter(|(seq, _, _)| *seq > after)
        .map(|(seq, t, d)| dispatch_frame(*seq, t, d))
        .collect();
    session.seq += 1;
    frames.push(dispatch_frame(
        session.seq,
        "RESUMED",
        &json!({"_trace": ["[\"fake-discord-gateway\",{\"micros\":1}]"]}),
    ));
    gw.stats.resumes += 1;
    gw.active = Some(conn);
    gw.stats.dispatches_sent += frames.len();
    for frame in frames {
        gw.send_to(conn, Out::Text(frame));
    }
}

fn dispatch_frame(seq: u64, t: &str, d: &Value) -> String {
    json!({"op": 0, "s": seq, "t": t, "d": d}).to_string()
}

/// Applies the session's intents to an event. Returns false when the event must not be sent;
/// may blank message content (no MESSAGE_CONTENT intent).
fn apply_intents(spec: &GuildSpec, granted: u64, t: &str, d: &mut Value) -> bool {
    let in_guild = !d["guild_id"].is_null();
    let has = |bit: u64| granted & bit != 0;
    match t {
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => {
            if !has(if in_guild {
                intents::GUILD_MESSAGES
            } else {
                intents::DIRECT_MESSAGES
            }) {
                return false;
            }
            let from_bot = payloads::parse_sf(&d["author"]["id"]) == Some(spec.bot_user_id);
            let mentions_bot = d["mentions"]
                .as_array()
                .is_some_and(|m| m.iter().any(|u| payloads::parse_sf(&u["id"]) == Some(spec.bot_user_id)));
            if in_guild && !from_bot && !mentions_bot && !has(intents::MESSAGE_CONTENT) && t != "MESSAGE_DELETE" {
                for key in ["embeds", "attachments", "components"] {
                    if d.get(key).is_some() {
                        d[key] = json!([]);
                    }
                }
                if d.get("content").is_some() {
                    d["content"] = json!("");
                }
            }
            true
        }
        "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE" => has(if in_guild {
            intents::GUILD_MESSAGE_REACTIONS
        } else {
            intents::DIRECT_MESSAGE_REACTIONS
        }),
        "THREAD_CREATE" | "THREAD_UPDATE" | "THREAD_DELETE" => has(intents::GUILDS),
        _ => true,
    }
}

/// Sends (or logs for replay, or holds back before the first session) one dispatch.
/// Returns its sequence number when it was assigned one.
pub(super) fn dispatch(spec: &GuildSpec, st: &mut State, t: &str, mut d: Value) -> Option<u64> {
    let gw = &mut st.gw;
    let Some(session) = gw.session.as_mut() else {
        // Before the first IDENTIFY events are always held (tests inject early).
        if !(spec.drop_events_without_session && gw.sessions_started > 0) {
            gw.backlog.push((t.to_string(), d));
        }
        return None;
    };
    if spec.enforce_intents && !apply_intents(spec, session.intents, t, &mut d) {
        gw.stats.filtered_by_intents += 1;
        return None;
    }
    session.seq += 1;
    let seq = session.seq;
    let frame = dispatch_frame(seq, t, &d);
    session.log.push((seq, t.to_string(), d));
    if let Some(conn) = gw.active {
        if gw.send_to(conn, Out::Text(frame)) {
            gw.stats.dispatches_sent += 1;
        }
    }
    Some(seq)
}

/// Dispatches an injected event and remembers it for [`inject_duplicate_last`].
fn dispatch_injected(spec: &GuildSpec, st: &mut State, t: &str, d: Value) -> Option<u64> {
    st.gw.last_injected = Some((t.to_string(), d.clone()));
    dispatch(spec, st, t, d)
}

pub(super) fn drop_connection(inner: &Inner, code: u16, reason: &str) -> bool {
    let sent = {
        let mut st = inner.lock();
        match st.gw.active.take() {
            Some(conn) => st.gw.send_to(conn, Out::Close(code, reason.to_string())),
            None => false,
        }
    };
    inner.changed.notify_waiters();
    sent
}

pub(super) fn invalidate_session(inner: &Inner) -> bool {
    let sent = {
        let mut st = inner.lock();
        st.gw.session = None;
        match st.gw.active.take() {
            Some(conn) => st.gw.send_to(
                conn,
                Out::Text(json!({"op": 9, "s": null, "t": null, "d": false}).to_string()),
            ),
            None => false,
        }
    };
    inner.changed.notify_waiters();
    sent
}

pub(super) fn send_op(inner: &Inner, frame: Value) -> bool {
    let mut st = inner.lock();
    match st.gw.active {
        Some(conn) => st.gw.send_to(conn, Out::Text(frame.to_string())),
        None => false,
    }
}

pub(super) fn inject_raw(inner: &Inner, t: &str, d: Value) -> Option<u64> {
    let seq = dispatch_injected(&inner.spec, &mut inner.lock(), t, d);
    inner.changed.notify_waiters();
    seq
}

pub(super) fn last_injected(inner: &Inner) -> Option<(String, Value)> {
    inner.lock().gw.last_injected.clone()
}

pub(super) fn inject_duplicate_last(inner: &Inner) -> Option<u64> {
    let seq = {
        let mut st = inner.lock();
        let (t, d) = st.gw.last_injected.clone()?;
        dispatch(&inner.spec, &mut st, &t, d)
    };
    inner.changed.notify_waiters();
    seq
}

/// Opens (or returns) the DM channel with `user_id`.
pub(super) fn ensure_dm(spec: &GuildSpec, st: &mut State, user_id: u64) -> u64 {
    if let Some(&id) = st.dm_by_user.get(&user_id) {
        return id;
    }
    let id = st.next_id();
    st.dm_by_user.insert(user_id, id);
    st.channels.insert(
        id,
        ChannelEntry {
            json: payloads::dm_channel(spec, id, user_id),
            kind: 1,
            recipient: Some(user_id),
        },
    );
    id
}

/// Builds a user message (stored form, without `guild_id`/`member`).
fn user_message(spec: &GuildSpec, st: &mut State, id: u64, channel_id: u64, author: u64, content: &str) -> Value {
    let mut msg = payloads::message(id, channel_id, payloads::user(spec, author), content);
    let (users, roles) = payloads::mentions(content);
    let in_guild = st.channels.get(&channel_id).map_or(true, ChannelEntry::is_guild);
    msg["mentions"] = users
        .iter()
        .map(|&u| {
            let mut user = payloads::user(spec, u);
            if in_guild {
                user["member"] = payloads::member(spec, st, u, false);
            }
            user
        })
        .collect();
    msg["mention_roles"] = roles.into_iter().map(sf).collect();
    msg
}

pub(super) fn store_message(
    st: &mut State,
    json: Value,
    author_id: u64,
    create_body: Option<Value>,
    interaction_id: Option<u64>,
) {
    let id = payloads::parse_sf(&json["id"]).unwrap_or_default();
    let channel_id = payloads::parse_sf(&json["channel_id"]).unwrap_or_default();
    if let Some(ch) = st.channels.get_mut(&channel_id) {
        ch.json["last_message_id"] = sf(id);
    }
    st.messages.insert(
        id,
        StoredMessage {
            id,
            channel_id,
            author_id,
            json,
            create_body,
            edit_bodies: Vec::new(),
            history: Vec::new(),
            reactions: Vec::new(),
            deleted: false,
            interaction_id,
            files: Vec::new(),
        },
    );
}

/// The gateway form of a stored message: adds `guild_id` and `member` in guild channels.
pub(super) fn gateway_message(spec: &GuildSpec, st: &State, msg: &Value) -> Value {
    let mut event = msg.clone();
    let channel_id = payloads::parse_sf(&msg["channel_id"]).unwrap_or_default();
    if st.channels.get(&channel_id).map_or(true, ChannelEntry::is_guild) {
        let guild = spec.guild_of_channel(channel_id);
        event["guild_id"] = sf(guild.guild_id);
        if let Some(author) = payloads::parse_sf(&msg["author"]["id"]) {
            if msg["webhook_id"].is_null() {
                event["member"] = payloads::member(guild, st, author, false);
            }
        }
    }
    event
}

pub(super) fn inject_message(inner: &Inner, channel_id: u64, author: u64, content: &str, reply_to: Option<u64>) -> u64 {
    let spec = &inner.spec;
    let id = {
        let mut st = inner.lock();
        let id = st.next_id();
        let mut msg = user_message(spec, &mut st, id, channel_id, author, content);
        if let Some(reply) = reply_to {
            msg["type"] = json!(19);
            msg["message_reference"] = json!({"type": 0, "message_id": sf(reply), "channel_id": sf(channel_id), "guild_id": sf(spec.guild_id)});
            if let Some(original) = st.messages.get(&reply) {
                msg["referenced_message"] = original.json.clone();
            }
        }
        store_message(&mut st, msg.clone(), author, None, None);
        let event = gateway_message(spec, &st, &msg);
        dispatch_injected(spec, &mut st, "MESSAGE_CREATE", event);
        id
    };
    inner.changed.notify_waiters();
    id
}

pub(super) fn inject_dm(inner: &Inner, user_id: u64, content: &str) -> (u64, u64) {
    let spec = &inner.spec;
    let ids = {
        let mut st = inner.lock();
        let channel_id = ensure_dm(spec, &mut st, user_id);
        let id = st.next_id();
        let msg = user_message(spec, &mut st, id, channel_id, user_id, content);
        store_message(&mut st, msg.clone(), user_id, None, None);
        dispatch_injected(spec, &mut st, "MESSAGE_CREATE", msg);
        (channel_id, id)
    };
    inner.changed.notify_waiters();
    ids
}

/// Reaction event payload; `add` selects MESSAGE_REACTION_ADD (with `member`) or REMOVE.
pub(super) fn reaction_event(
    spec: &GuildSpec,
    st: &State,
    channel_id: u64,
    message_id: u64,
    user_id: u64,
    emoji: &str,
    add: bool,
) -> Value {
    let mut d = json!({
        "user_id": sf(user_id),
        "channel_id": sf(channel_id),
        "message_id": sf(message_id),
        "emoji": payloads::emoji(emoji),
        "burst": false,
        "type": 0,
    });
    let in_guild = st.channels.get(&channel_id).map_or(true, ChannelEntry::is_guild);
    let guild = spec.guild_of_channel(channel_id);
    if in_guild {
        d["guild_id"] = sf(guild.guild_id);
    }
    if add {
        d["burst_colors"] = json!([]);
        if in_guild {
            d["member"] = payloads::member(guild, st, user_id, true);
            // The member's user must say whether it is a bot, whichever guild it is in.
            d["member"]["user"] = payloads::user(spec, user_id);
        }
        if let Some(author) = st.messages.get(&message_id).map(|m| m.author_id) {
            d["message_author_id"] = sf(author);
        }
    }
    d
}

/// Records a reaction change on a stored message (and its `reactions` array).
pub(super) fn record_reaction(
    spec: &GuildSpec,
    st: &mut State,
    message_id: u64,
    user_id: u64,
    emoji: &str,
    add: bool,
) -> bool {
    let Some(msg) = st.messages.get_mut(&message_id) else {
        return false;
    };
    let entry = (emoji.to_string(), user_id);
    let changed = if add {
        if msg.reactions.contains(&entry) {
            false
        } else {
            msg.reactions.push(entry);
            true
        }
    } else {
        let before = msg.reactions.len();
        msg.reactions.retain(|r| *r != entry);
        before != msg.reactions.len()
    };
    let mut summary: Vec<(String, u64, bool)> = Vec::new();
    for (e, u) in &msg.reactions {
        match summary.iter_mut().find(|(x, _, _)| x == e) {
            Some(s) => {
                s.1 += 1;
                s.2 |= *u == spec.bot_user_id;
            }
            None => summary.push((e.clone(), 1, *u == spec.bot_user_id)),
        }
    }
    msg.json["reactions"] = summary
        .into_iter()
        .map(|(e, count, me)| {
            json!({
                "emoji": payloads::emoji(&e),
                "count": count,
                "count_details": {"burst": 0, "normal": count},
                "me": me,
                "me_burst": false,
                "burst_colors": [],
            })
        })
        .collect();
    changed
}

pub(super) fn inject_reaction(inner: &Inner, channel_id: u64, message_id: u64, user_id: u64, emoji: &str, add: bool) {
    let spec = &inner.spec;
    {
        let mut st = inner.lock();
        record_reaction(spec, &mut st, message_id, user_id, emoji, add);
        let d = reaction_event(spec, &st, channel_id, message_id, user_id, emoji, add);
        let t = if add {
            "MESSAGE_REACTION_ADD"
        } else {
            "MESSAGE_REACTION_REMOVE"
        };
        dispatch_injected(spec, &mut st, t, d);
    }
    inner.changed.notify_waiters();
}

/// Fields common to all interaction payloads, for the recorded interaction `id`.
fn interaction_base(spec: &GuildSpec, st: &State, id: u64, kind: u8, locale: &str) -> Value {
    let rec = st
        .interactions
        .iter()
        .find(|i| i.id == id)
        .expect("interaction recorded before its payload");
    let (token, channel_id, user_id) = (rec.token.as_str(), rec.channel_id, rec.user_id);
    let guild_id = spec.guild_of_channel(channel_id).guild_id;
    let mut member = payloads::member(spec, st, user_id, true);
    member["permissions"] = json!(payloads::permissions_of(spec, &st.roles_of(user_id)).to_string());
    let mut channel = st.channels.get(&channel_id).map_or_else(
        || json!({"id": sf(channel_id), "type": 0, "name": "unknown", "guild_id": sf(spec.guild_id)}),
        |c| c.json.clone(),
    );
    channel["permissions"] = member["permissions"].clone();
    // In a direct message Discord sends the user, and no guild or member.
    if st.channels.get(&channel_id).is_some_and(|c| !c.is_guild()) {
        return json!({
            "id": sf(id),
            "application_id": sf(spec.application_id),
            "type": kind,
            "channel_id": sf(channel_id),
            "channel": channel,
            "user": payloads::user(spec, user_id),
            "token": token,
            "version": 1,
            "app_permissions": payloads::BOT_PERMISSIONS.to_string(),
            "locale": locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": sf(spec.guild_id)},
            "context": 1,
            "attachment_size_limit": 26_214_400,
        });
    }
    json!({
        "id": sf(id),
        "application_id": sf(spec.application_id),
        "type": kind,
        "guild_id": sf(guild_id),
        "guild": {"id": sf(guild_id), "locale": "en-US", "features": []},
        "channel_id": sf(channel_id),
        "channel": channel,
        "member": member,
        "token": token,
        "version": 1,
        "app_permissions": payloads::BOT_PERMISSIONS.to_string(),
        "locale": locale,
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": sf(guild_id)},
        "context": 0,
        "attachment_size_limit": 26_214_400,
    })
}

fn new_interaction(
    st: &mut State,
    kind: u8,
    name: &str,
    channel_id: u64,
    user_id: u64,
    started: Duration,
) -> (u64, String) {
    let id = st.next_id();
    let token = format!("fake-interaction-token-{id}-aW50ZXJhY3Rpb24");
    st.interactions.push(InteractionRecord {
        id,
        token: token.clone(),
        name: name.to_string(),
        channel_id,
        user_id,
        injected_at: started,
        callback: None,
        callback_latency: None,
        rejected_callbacks: Vec::new(),
        original_message_id: None,
        original_edits: Vec::new(),
        followup_message_ids: Vec::new(),
        component_message_id: None,
        kind,
    });
    st.interaction_started.insert(id, Instant::now());
    (id, token)
}

pub(super) fn inject_interaction(inner: &Inner, spec_: InteractionSpec) -> (u64, String) {
    let spec = &inner.spec;
    let out = {
        let mut st = inner.lock();
        let (id, token) = new_interaction(
            &mut st,
            2,
            &spec_.command_name,
            spec_.channel_id,
            spec_.user_id,
            inner.elapsed(),
        );
        let command_id = st
            .guild_commands
            .iter()
            .chain(st.global_commands.iter())
            .find(|c| c["name"] == spec_.command_name.as_str())
            .and_then(|c| payloads::parse_sf(&c["id"]));
        let command_id = command_id.unwrap_or_else(|| st.next_id());
        let mut d = interaction_base(spec, &st, id, 2, &spec_.locale);
        d["data"] = json!({
            "id": sf(command_id),
            "name": spec_.command_name,
            "type": 1,
            "guild_id": sf(spec.guild_id),
            "options": spec_.options,
            "resolved": payloads::resolved(spec, &st, &spec_.options),
        });
        dispatch_injected(spec, &mut st, "INTERACTION_CREATE", d);
        (id, token)
    };
    inner.changed.notify_waiters();
    out
}

pub(super) fn inject_component(inner: &Inner, c: ComponentSpec) -> (u64, String) {
    let spec = &inner.spec;
    let out = {
        let mut st = inner.lock();
        let message = st
            .messages
            .get(&c.message_id)
            .map(|m| m.json.clone())
            .unwrap_or_else(|| {
                panic!(
                    "fake_discord: inject_component_interaction on unknown message {}",
                    c.message_id
                )
            });
        let (id, token) = new_interaction(&mut st, 3, &c.custom_id, c.channel_id, c.user_id, inner.elapsed());
        if let Some(rec) = st.interaction_mut(id) {
            rec.component_message_id = Some(c.message_id);
        }
        let mut d = interaction_base(spec, &st, id, 3, "en-US");
        d["message"] = message;
        d["data"] = json!({"custom_id": c.custom_id, "component_type": c.component_type});
        if c.component_type != 2 {
            d["data"]["values"] = json!(c.values);
        }
        dispatch_injected(spec, &mut st, "INTERACTION_CREATE", d);
        (id, token)
    };
    inner.changed.notify_waiters();
    out
}

pub(super) fn inject_modal(inner: &Inner, m: ModalSpec) -> (u64, String) {
    let spec = &inner.spec;
    let out = {
        let mut st = inner.lock();
        let (id, token) = new_interaction(&mut st, 5, &m.custom_id, m.channel_id, m.user_id, inner.elapsed());
        let mut d = interaction_base(spec, &st, id, 5, "en-US");
        let rows: Vec<Value> = m
            .values
            .iter()
            .map(|(k, v)| json!({"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}))
            .collect();
        d["data"] = json!({"custom_id": m.custom_id, "components": rows});
        dispatch_injected(spec, &mut st, "INTERACTION_CREATE", d);
        (id, token)
    };
    inner.changed.notify_waiters();
    out
}
