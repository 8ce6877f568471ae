//! The local console: a real adapter for trying opsdesk without Discord
//! (Hubot's shell adapter is the model), scriptable from stdin.
//!
//! Each line is a message from the current user in the current channel;
//! directives start with `:`. Every message the bot sends is printed with its
//! channel and message id, e.g. `[#service-desk #12] …`, so a script can react
//! to it. A message's file (the report's chart) is saved in the console's
//! files directory ([`Options::files_dir`], else the current directory) under
//! a new name (`report-20261202-091500.png`; never over an existing file), and
//! its path printed under the message.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::desk::{Actor, Desk, Event, Inbound, Outcome, ReactedMessage};
use crate::domain::sla::parse_duration;
use crate::domain::UserId;
use crate::message::{Attachment, Card, CardStep, Destination, OutKind};
use crate::outbox::{Delivered, Delivery, Dispatcher, SendError, Transport};
use crate::render;
use crate::store::{self, StoreError};

/// Where console output goes (stdout, or a buffer in tests).
pub type Output = Arc<Mutex<Box<dyn Write + Send>>>;

/// Console message ids: one sequence for user lines, replies and deliveries.
#[derive(Debug, Clone, Default)]
pub struct Ids(Arc<AtomicU64>);

impl Ids {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

fn emit(out: &Output, text: &str) {
    if let Ok(mut w) = out.lock() {
        // A closed stdout is not worth a panic: the data is already committed.
        let _ = writeln!(w, "{text}");
        let _ = w.flush();
    }
}

/// Prints outbox messages to the console.
pub struct ConsoleTransport {
    desk: Desk,
    out: Output,
    ids: Ids,
    /// Where messages' files are saved.
    files: PathBuf,
}

impl ConsoleTransport {
    pub fn new(desk: Desk, out: Output, ids: Ids) -> Self {
        Self {
            desk,
            out,
            ids,
            files: PathBuf::from("."),
        }
    }

    /// Saves messages' files in `dir` (the current directory otherwise).
    pub fn saving_files_in(mut self, dir: impl Into<PathBuf>) -> Self {
        self.files = dir.into();
        self
    }

    /// Saves a message's file under a name no file has yet, and says where
    /// (or why not: the message is shown either way).
    fn save(&self, file: &Attachment) -> String {
        match save_new(&self.files, file, self.desk.clock().now()) {
            Ok(path) => render::file_saved(&file.name, &path),
            Err(e) => render::file_not_saved(&file.name, &self.files, &e.to_string()),
        }
    }

    async fn user_name(&self, id: UserId) -> String {
        let name = match self.desk.store().read().await {
            Ok(mut conn) => store::users::name(&mut conn, id).await.ok().flatten(),
            Err(_) => None,
        };
        render::user_label(name.as_deref(), id)
    }
}

/// Writes `file` in `dir` as `<stem>-<UTC time>[-n].<ext>`, creating the file
/// (never replacing one), and returns its path.
fn save_new(dir: &Path, file: &Attachment, now: chrono::DateTime<chrono::Utc>) -> std::io::Result<PathBuf> {
    let name = Path::new(&file.name);
    let stem = name.file_stem().and_then(|s| s.to_str()).unwrap_or("file");
    let ext = name.extension().and_then(|s| s.to_str()).unwrap_or("bin");
    let stamp = now.format("%Y%m%d-%H%M%S");
    for n in 1..=100 {
        let candidate = match n {
            1 => dir.join(format!("{stem}-{stamp}.{ext}")),
            n => dir.join(format!("{stem}-{stamp}-{n}.{ext}")),
        };
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate);
        match created {
            Ok(mut f) => {
                f.write_all(&file.bytes)?;
                f.sync_all()?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "a hundred files of that name and time exist",
    ))
}

fn card_lines(card: &Card) -> String {
    let mut s = format!("\n  ┃ {}", card.title);
    let fields: Vec<String> = card.fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    s.push_str(&format!("\n  ┃ {}", fields.join(" · ")));
    if !card.times.is_empty() {
        let times: Vec<String> = card
            .times
            .iter()
            .map(|(k, t)| {
                let at = chrono::DateTime::from_timestamp(*t, 0)
                    .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| t.to_string());
                format!("{k}: {at}")
            })
            .collect();
        s.push_str(&format!("\n  ┃ {}", times.join(" · ")));
    }
    if let Some(f) = &card.footer {
        s.push_str(&format!("\n  ┃ {f}"));
    }
    s
}

impl Transport for ConsoleTransport {
    async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
        let policy = self.desk.policy();
        let mut channel = match d.destination {
            Destination::RoleChannel(role) => policy
                .role(role)
                .map(|r| r.channel.clone())
                .unwrap_or_else(|| "service-desk".to_owned()),
            Destination::Channel(c) => c.trim_start_matches('#').to_owned(),
            Destination::Thread(subject) => match d.card {
                Some(card) => card
                    .thread_id
                    .clone()
                    .unwrap_or_else(|| format!("{}/{subject}", card.channel_id)),
                None => {
                    return Err(SendError::Retry {
                        after: None,
                        reason: "no card yet".into(),
                    })
                }
            },
            Destination::Dm(user) => format!("dm/{}", self.user_name(*user).await),
        };
        let mut pings: Vec<String> = d
            .message
            .ping_roles
            .iter()
            .map(|r| format!("@{}", policy.role_name(r)))
            .collect();
        pings.extend(d.message.ping_chat_roles.iter().map(|r| format!("@{r}")));
        for u in &d.message.ping_users {
            pings.push(format!("@{}", self.user_name(*u).await));
        }
        let mut text = String::new();
        if !pings.is_empty() {
            text.push_str(&pings.join(" "));
            text.push(' ');
        }
        text.push_str(&d.message.text);
        // A card that moved away from its thread says where the thread is.
        let moved = d.message.step == CardStep::Move || d.card.is_some_and(|c| c.previous.is_some());
        if let (OutKind::Card, true, Some(thread)) = (
            d.kind,
            moved && d.message.step != CardStep::Leave,
            d.card.and_then(|c| c.thread_id.as_deref()),
        ) {
            text.push('\n');
            text.push_str(&render::card_thread_elsewhere(&format!("#{thread}")));
        }
        if let Some(card) = &d.message.card {
            text.push_str(&card_lines(card));
        }
        if let Some(file) = &d.message.attachment {
            text.push_str(&format!("\n  ┃ {}", self.save(file)));
        }
        let step = d.message.step;
        let (id, label, thread) = match (d.kind, d.card) {
            // The post a moved card left behind becomes a pointer to it.
            (OutKind::Card, Some(existing)) if step == CardStep::Leave => {
                let Some((previous_channel, previous_message)) = existing.previous.clone() else {
                    return Err(SendError::Permanent("no post left behind".into()));
                };
                channel = previous_channel;
                let label = format!("#{previous_message} edited");
                (previous_message, label, None)
            }
            // A moved card is posted anew where its destination says; its thread stays.
            (OutKind::Card, Some(_)) if step == CardStep::Move => {
                let id = self.ids.next().to_string();
                (id.clone(), format!("#{id}"), None)
            }
            // A card is edited where it was posted, even when its handler changed.
            (OutKind::Card, Some(existing)) => {
                channel = existing.channel_id.clone();
                (
                    existing.message_id.clone(),
                    format!("#{} edited", existing.message_id),
                    None,
                )
            }
            (OutKind::Card, None) => {
                let id = self.ids.next().to_string();
                let thread = d.subject.map(|s| format!("{channel}/{s}"));
                (id.clone(), format!("#{id}"), thread)
            }
            (OutKind::Post, _) => {
                // A long post is several messages, as on Discord; the last one
                // (the one that asks, and takes the reactions) is the record.
                let parts = render::split(&text, render::MESSAGE_LIMIT);
                let last = parts.len() - 1;
                let mut id = String::new();
                for (i, part) in parts.iter().enumerate() {
                    id = self.ids.next().to_string();
                    let mut part = part.clone();
                    if i == last && !d.message.reactions.is_empty() {
                        part.push_str(&format!("\n  + reactions: {}", d.message.reactions.join(" ")));
                    }
                    emit(&self.out, &format!("[#{channel} #{id}] {part}"));
                }
                return Ok(Delivered {
                    channel_id: channel,
                    message_id: id,
                    thread_id: None,
                });
            }
        };
        // The bot's own reactions go on a message when it is first posted.
        let first_post = !(d.kind == OutKind::Card && d.card.is_some() && step != CardStep::Move);
        if first_post && !d.message.reactions.is_empty() {
            text.push_str(&format!("\n  + reactions: {}", d.message.reactions.join(" ")));
        }
        emit(&self.out, &format!("[#{channel} {label}] {text}"));
        Ok(Delivered {
            channel_id: channel,
            message_id: id,
            thread_id: thread,
        })
    }
}

/// How the console runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Echo each input line (script mode: a readable transcript).
    pub echo: bool,
    /// Leave the outbox undelivered (to prove a later start delivers it).
    pub hold_outbox: bool,
    /// Where messages' files (the report's chart) are saved; the current
    /// directory when `None`.
    pub files_dir: Option<PathBuf>,
}

/// A console user's stable id, derived from their name (FNV-1a, 53 bits so it
/// survives JSON numbers).
pub fn console_user_id(name: &str) -> UserId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.to_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    UserId::new((h & ((1 << 53) - 1)).max(1))
}

struct Session {
    actor: Actor,
    chat_roles: Vec<String>,
    channel: String,
    run: String,
    seq: u64,
    /// User lines by message id, for 🎫.
    lines: HashMap<String, ReactedMessage>,
}

/// Runs the console until the input ends.
pub async fn run(desk: Desk, input: impl AsyncBufRead + Unpin, out: Output, opts: Options) -> Result<(), StoreError> {
    let ids = Ids::default();
    {
        let mut conn = desk.store().write().await?;
        ids.0.store(
            store::outbox::max_numeric_message_id(&mut conn).await?,
            Ordering::SeqCst,
        );
    }
    let mut transport = ConsoleTransport::new(desk.clone(), out.clone(), ids.clone());
    if let Some(dir) = &opts.files_dir {
        transport = transport.saving_files_in(dir);
    }
    let transport = Arc::new(transport);
    let dispatcher = Dispatcher::new(desk.store().clone(), transport, desk.clock().clone())
        .giving_up_after(desk.policy().outbox.give_up_after);
    crate::scheduler::arm(&desk).await;
    let flush = || async {
        if let Err(e) = desk.fire_due_timers().await {
            if !desk.store().note_fault(&e) {
                tracing::error!(error = %e, "console timers failed");
            }
        }
        if !opts.hold_outbox {
            if let Err(e) = dispatcher.deliver_due().await {
                dispatcher.failed(&e);
            }
        }
    };
    flush().await;

    let default_roles = vec!["Service Desk".to_owned()];
    let mut session = Session {
        actor: Actor {
            user: console_user_id("you"),
            name: "you".into(),
            roles: desk.policy().itil_roles(default_roles.iter().map(String::as_str)),
        },
        chat_roles: default_roles,
        channel: "general".into(),
        run: format!("{}", desk.clock().now().timestamp_nanos_opt().unwrap_or_default()),
        seq: 0,
        lines: HashMap::new(),
    };
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await.map_err(|e| StoreError::Corrupt {
        table: "stdin",
        detail: e.to_string(),
    })? {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with("//") {
            continue;
        }
        if let Some(directive) = line.trim().strip_prefix(':') {
            if directive.trim() == "quit" || directive.trim() == "q" {
                break;
            }
            if opts.echo {
                emit(&out, &format!("» :{directive}"));
            }
            directive_line(&desk, &mut session, directive, &out).await;
        } else {
            let id = ids.next().to_string();
            if opts.echo {
                emit(
                    &out,
                    &format!("[#{} #{id}] <{}> {line}", session.channel, session.actor.name),
                );
            }
            session.lines.insert(
                id.clone(),
                ReactedMessage {
                    from_bot: false,
                    author: session.actor.user,
                    author_name: session.actor.name.clone(),
                    text: line.to_owned(),
                    link: Some(format!("console #{} message {id}", session.channel)),
                },
            );
            let event = Event::Line(line.to_owned());
            let outcome = send(&desk, &mut session, event).await;
            show(&out, &ids, &session, outcome);
        }
        flush().await;
    }
    Ok(())
}

async fn send(desk: &Desk, session: &mut Session, event: Event) -> Outcome {
    session.seq += 1;
    let inbound = Inbound {
        key: format!("console:{}:{}", session.run, session.seq),
        actor: session.actor.clone(),
        channel: Some(session.channel.clone()),
        event,
    };
    desk.handle(inbound).await
}

fn show(out: &Output, ids: &Ids, session: &Session, outcome: Outcome) {
    if let Outcome::Reply(reply) = outcome {
        emit_reply(out, Some(ids), session, &reply);
    }
}

/// Prints a reply as the messages a chat would show: split within the message
/// limit, each part with its own id (a reaction's reply takes none).
fn emit_reply(out: &Output, ids: Option<&Ids>, session: &Session, reply: &crate::desk::Reply) {
    if let Some(emoji) = reply.react {
        emit(out, &format!("[#{}] {emoji} on your message", session.channel));
    }
    if reply.text.is_empty() {
        return;
    }
    for part in render::split(&reply.text, render::MESSAGE_LIMIT) {
        let id = ids.map(Ids::next);
        emit(out, &reply_line(session, id, reply, &part));
    }
}

/// How a reply (or one part of it) prints: its channel, its id, who may see
/// it, and which of the actor's reactions the bot took back.
fn reply_line(session: &Session, id: Option<u64>, reply: &crate::desk::Reply, text: &str) -> String {
    let id = id.map(|i| format!(" #{i}")).unwrap_or_default();
    let whom = if reply.private {
        format!(" (only {})", session.actor.name)
    } else {
        String::new()
    };
    let mut undo = String::new();
    if reply.remove_reaction {
        undo.push_str(" [reaction removed]");
    }
    for emoji in &reply.remove_reactions {
        undo.push_str(&format!(" [your {emoji} removed]"));
    }
    format!("[#{}{id}{whom}]{undo} {text}", session.channel)
}

const DIRECTIVES: &str = "Directives: :as <user> [role, role…] · :in #<channel> · :react <message-id> <emoji> · \
                          :unreact <message-id> <emoji> · :clock +<duration> · :whoami · :quit";

async fn directive_line(desk: &Desk, session: &mut Session, directive: &str, out: &Output) {
    let (name, rest) = directive
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((directive.trim(), ""));
    let rest = rest.trim();
    match name {
        "as" => {
            let (user, roles) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let user = user.trim_start_matches('@');
            if user.is_empty() || user.len() > 32 {
                emit(out, "usage: :as <user> [role, role…]");
                return;
            }
            let chat_roles: Vec<String> = roles
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            let itil = desk.policy().itil_roles(chat_roles.iter().map(String::as_str));
            session.actor = Actor {
                user: console_user_id(user),
                name: user.to_owned(),
                roles: itil,
            };
            session.chat_roles = chat_roles;
            whoami(desk, session, out);
        }
        "in" => {
            let ch = rest.trim_start_matches('#');
            if ch.is_empty() {
                emit(out, "usage: :in #<channel>");
            } else {
                session.channel = ch.to_owned();
            }
        }
        "react" | "unreact" => {
            let mut parts = rest.split_whitespace();
            let (Some(id), Some(emoji)) = (parts.next(), parts.next()) else {
                emit(out, &format!("usage: :{name} <message-id> <emoji>"));
                return;
            };
            let id = id.trim_start_matches('#').to_owned();
            let message = session.lines.get(&id).cloned();
            let event = Event::Reaction {
                message_id: id,
                emoji: emoji.to_owned(),
                added: name == "react",
                message,
            };
            let outcome = send(desk, session, event).await;
            // A reaction's reply is not a message anyone reacts to: it takes no id.
            if let Outcome::Reply(reply) = outcome {
                emit_reply(out, None, session, &reply);
            }
        }
        "clock" => match rest.strip_prefix('+').map(parse_duration) {
            Some(Ok(d)) => {
                desk.clock().advance(d);
                emit(
                    out,
                    &format!("clock: now {}", desk.clock().now().format("%Y-%m-%d %H:%M UTC")),
                );
            }
            Some(Err(e)) => emit(out, &format!("clock: {e}")),
            None => emit(out, "usage: :clock +<duration> (e.g. +90m, +2h, +1d)"),
        },
        "whoami" => whoami(desk, session, out),
        "help" => emit(out, DIRECTIVES),
        other => emit(out, &format!("unknown directive :{other}. {DIRECTIVES}")),
    }
}

fn whoami(desk: &Desk, session: &Session, out: &Output) {
    let roles: Vec<String> = session.actor.roles.iter().map(|r| desk.policy().role_name(r)).collect();
    let agent = if desk.policy().is_agent(&session.actor.roles) {
        ", an agent"
    } else {
        ""
    };
    emit(
        out,
        &format!(
            "you are {} (chat roles: {}; ITIL roles: {}{agent}) in #{}",
            session.actor.name,
            if session.chat_roles.is_empty() {
                "none".into()
            } else {
                session.chat_roles.join(", ")
            },
            if roles.is_empty() {
                "none".into()
            } else {
                roles.join(", ")
            },
            session.channel
        ),
    );
}
