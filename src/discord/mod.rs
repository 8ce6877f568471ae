//! The Discord adapter: a thin layer over the desk. Gateway events become
//! [`Inbound`] events (with their Discord identity, so replays are ignored),
//! Discord roles become ITIL roles, and the outbox is delivered through
//! [`transport::DiscordTransport`]. No rule, permission or SQL lives here.
//!
//! Pointing at another Discord-compatible server (the tests' fake on
//! 127.0.0.1) needs both `HttpBuilder::proxy` *and* `ratelimiter_disabled`
//! (serenity's ratelimiter ignores the proxy), and `client.ws_url` set before
//! `start()` (serenity silently falls back to the public gateway otherwise).
//!
//! Trust is decided here, before anything reaches the desk: only events from
//! the desk's guild (see [`directory`]) and from people count. Events of other
//! guilds, of bots and of webhooks (opsdesk's own included) are dropped without
//! a reply; the ids in `discord.allowed_bots` reach the desk, which lets them
//! only log incidents (the integrations party). DMs are
//! served to members of the desk's guild only, with their roles there.

mod answers;
mod components;
mod directory;
mod pace;
mod slash;
mod transport;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    CommandInteraction, Context, CreateAllowedMentions, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, EditInteractionResponse, EventHandler, GatewayIntents, Guild,
    GuildId, HttpBuilder, Interaction, Member, Message, Reaction, ReactionType, Ready,
};
use serenity::gateway::GatewayError;
use tokio::sync::Notify;

pub use directory::{Directory, Standing};
pub use transport::{DiscordTransport, DMS_CLOSED};

use crate::config::DiscordSettings;
use crate::desk::{Actor, Desk, Event, Inbound, Outcome, ReactedMessage, Reply};
use crate::domain::UserId;
use crate::outbox::Dispatcher;
use answers::Answers;

/// The bot token: read only from the environment, never printed.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why the adapter stopped.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("Discord rejected the token (check DISCORD_TOKEN: it must be the bot token from the Developer Portal)")]
    TokenRejected,
    #[error(
        "Discord refused the gateway intents: enable the Message Content intent for the bot in the Developer Portal"
    )]
    IntentsRefused,
    /// The desk's guild cannot be trusted as it stands (which guild, or which role).
    #[error("refusing to serve: {0}")]
    Refused(String),
    #[error("Discord connection failed: {0}")]
    Client(#[from] serenity::Error),
}

/// The intents opsdesk needs: guilds (roles and channels), guild messages and
/// their content (prefix commands), reactions, and direct messages.
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
        | GatewayIntents::DIRECT_MESSAGES
}

/// Connects to Discord (or the server in `settings`) and serves until
/// `shutdown` resolves or the connection fails for good.
pub async fn run(
    desk: Desk,
    settings: &DiscordSettings,
    token: Token,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DiscordError> {
    let mut http = HttpBuilder::new(token.expose());
    if let Some(base) = &settings.api_base {
        // serenity's ratelimiter does not use the proxy: disable it, we pace ourselves.
        http = http.proxy(base.trim_end_matches('/')).ratelimiter_disabled(true);
    }
    let http = http.build();
    let directory = Arc::new(Directory::new(settings.guild_id));
    let guild_ready = Arc::new(Notify::new());
    let (refuse_tx, mut refuse_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // One budget for the outbox and the direct answers, which go first when it is spent.
    let pacer = Arc::new(pace::Pacer::new(
        desk.policy().discord.requests_per_second as usize,
        Duration::from_secs(1),
        desk.policy().discord.channel_messages_per_5s as usize,
        Duration::from_secs(5),
    ));
    let poster = Arc::new(transport::Poster::new(token.expose(), settings.api_base.as_deref()));
    let handler = Handler {
        answers: Arc::new(Answers::new(pacer.clone(), poster.clone())),
        desk: desk.clone(),
        directory: directory.clone(),
        guild_ready: guild_ready.clone(),
        bot_user: std::sync::OnceLock::new(),
        settings: settings.clone(),
        refuse: refuse_tx,
        ready_seen: Notify::new(),
    };
    let mut client = serenity::client::ClientBuilder::new_with_http(http, intents())
        .event_handler(handler)
        .await?;
    if let Some(url) = &settings.gateway_url {
        *client.ws_url.lock().await = url.trim_end_matches('/').to_owned();
    }

    let transport = Arc::new(
        DiscordTransport::new(client.http.clone(), desk.policy().clone(), directory.clone(), pacer).with_poster(poster),
    );
    let dispatcher = Dispatcher::new(desk.store().clone(), transport, desk.clock().clone())
        .giving_up_after(desk.policy().outbox.give_up_after);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_rx_sched = stop_rx.clone();
    let outbox = {
        let desk = desk.clone();
        let directory = directory.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            // Deliver only once the guild's names are known.
            while !directory.is_ready() {
                tokio::select! {
                    _ = guild_ready.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => return,
                }
            }
            let mut stop = stop_rx;
            dispatcher
                .run(desk.outbox_ready(), async move {
                    while stop.changed().await.is_ok() && !*stop.borrow() {}
                })
                .await;
        })
    };

    let scheduler = {
        let desk = desk.clone();
        let mut stop = stop_rx_sched;
        tokio::spawn(crate::scheduler::run(desk, async move {
            while stop.changed().await.is_ok() && !*stop.borrow() {}
        }))
    };

    let shards = client.shard_manager.clone();
    let mut refused = None;
    let result = tokio::select! {
        r = client.start() => r,
        _ = shutdown => {
            shards.shutdown_all().await;
            Ok(())
        }
        Some(why) = refuse_rx.recv() => {
            tracing::error!("{why}");
            refused = Some(why);
            shards.shutdown_all().await;
            Ok(())
        }
    };
    let _ = stop_tx.send(true);
    let _ = outbox.await;
    let _ = scheduler.await;
    if let Some(why) = refused {
        return Err(DiscordError::Refused(why));
    }
    match result {
        Ok(()) => Ok(()),
        Err(serenity::Error::Gateway(GatewayError::InvalidAuthentication)) => Err(DiscordError::TokenRejected),
        Err(serenity::Error::Gateway(GatewayError::InvalidGatewayIntents | GatewayError::DisallowedGatewayIntents)) => {
            Err(DiscordError::IntentsRefused)
        }
        Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)))
            if r.status_code.as_u16() == 401 =>
        {
            Err(DiscordError::TokenRejected)
        }
        Err(e) => Err(e.into()),
    }
}

/// `check-config` against the live guild: which guild is the desk's, and
/// whether every role name in config names exactly one role there. Returns
/// what was checked; `Refused` names what would stop start-up.
pub async fn check_guild(policy: &crate::config::Policy, token: Token) -> Result<String, DiscordError> {
    let settings = &policy.discord;
    let mut http = HttpBuilder::new(token.expose());
    if let Some(base) = &settings.api_base {
        http = http.proxy(base.trim_end_matches('/')).ratelimiter_disabled(true);
    }
    let http = http.build();
    let unauthorized = |e: serenity::Error| match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) if r.status_code.as_u16() == 401 => {
            DiscordError::TokenRejected
        }
        e => DiscordError::Client(e),
    };
    let guilds: Vec<u64> = http
        .get_guilds(None, Some(200))
        .await
        .map_err(unauthorized)?
        .iter()
        .map(|g| g.id.get())
        .collect();
    let directory = Directory::new(settings.guild_id);
    let Some(desk) = directory.ready(&guilds).map_err(DiscordError::Refused)? else {
        return Ok("opsdesk is in no guild yet: nothing to check against".to_owned());
    };
    if !guilds.contains(&desk) {
        return Err(DiscordError::Refused(format!(
            "opsdesk is not in guild {desk} (discord.guild_id)"
        )));
    }
    let guild = GuildId::new(desk);
    let roles = http.get_guild_roles(guild).await.map_err(unauthorized)?;
    let channels = http.get_channels(guild).await.map_err(unauthorized)?;
    directory
        .load(
            policy,
            desk,
            roles.into_iter().map(|r| (r.id.get(), r.name)),
            channels.into_iter().map(|c| (c.id.get(), c.name)),
        )
        .map_err(|why| DiscordError::Refused(format!("in guild {desk}: {why}")))?;
    Ok(format!(
        "guild {desk}: every role config names resolves to exactly one role"
    ))
}

struct Handler {
    desk: Desk,
    directory: Arc<Directory>,
    guild_ready: Arc<Notify>,
    bot_user: std::sync::OnceLock<u64>,
    settings: DiscordSettings,
    /// Why the bot must stop serving (a guild or role it cannot trust).
    refuse: tokio::sync::mpsc::UnboundedSender<String>,
    /// Woken when a READY has been taken in (guild events wait for it).
    ready_seen: Notify,
    /// Replies, private words and interaction responses.
    answers: Arc<Answers>,
}

fn display_name(user: &serenity::all::User, member: Option<&Member>) -> String {
    member
        .and_then(|m| m.nick.clone())
        .or_else(|| user.global_name.clone())
        .unwrap_or_else(|| user.name.clone())
}

impl Handler {
    fn actor(&self, user: &serenity::all::User, name: String, role_ids: &[u64]) -> Actor {
        Actor {
            user: UserId::new(user.id.get()),
            name,
            roles: self.directory.itil_roles(self.desk.policy(), role_ids),
        }
    }

    /// Whether an event from `guild` is the desk's business. Without a
    /// configured guild the desk is known only after READY, which serenity may
    /// hand over after the event: wait for it a little.
    async fn in_desk(&self, guild: u64) -> bool {
        self.wait_for_ready().await;
        self.directory.is_desk(guild)
    }

    /// Waits until the desk's guild is known or a READY has been taken in (at most 10 s).
    async fn wait_for_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.ready_seen.notified();
            tokio::pin!(seen);
            seen.as_mut().enable();
            if self.directory.guild().is_some() || self.directory.has_ready() {
                return;
            }
            if tokio::time::timeout_at(deadline, seen).await.is_err() {
                return;
            }
        }
    }

    /// The sender of a direct message as a member of the desk's guild; `None`
    /// (the DM is ignored) when they are not one, or Discord cannot say.
    async fn desk_member(&self, ctx: &Context, user: serenity::all::UserId) -> Option<Member> {
        let guild = self.directory.guild()?;
        match ctx.http.get_member(GuildId::new(guild), user).await {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::debug!(user = %user, error = %e, "a direct message from someone who is not a member of the desk's guild");
                None
            }
        }
    }

    /// Whether a bot (or webhook) author reaches the desk at all: only the
    /// allowed bots, never opsdesk itself. What they may do there is the
    /// desk's integrations party (`command::who::INCIDENT_LOGGERS`).
    fn bot_may_log(&self, author: u64) -> bool {
        self.bot_user.get() != Some(&author) && self.settings.allowed_bots.contains(&author)
    }

    /// Says something to a user privately when an ephemeral reply is impossible;
    /// `about` (the event's identity) makes the nonce that stops a retry doubling it.
    async fn tell_privately(&self, user: serenity::all::UserId, text: &str, about: &str) {
        let result = async {
            let dm = self.answers.dm_channel(user.get()).await?;
            self.answers.parts(dm, text, about, None).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(user = %user, error = %e, "could not tell the user privately");
        }
    }
}

/// A nonce no other answer of this or any earlier run uses (at most 25
/// characters, as Discord wants): the run's start time and a sequence number.
fn fresh_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static RUN: OnceLock<u64> = OnceLock::new();
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let run = *RUN.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.as_nanos() as u64 % 1_000_000_000_000_000
    });
    format!("a{run:x}{:x}", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A message that pings nobody; `text` fits one message (see [`Answers::parts`]).
fn plain(text: &str) -> CreateMessage {
    CreateMessage::new()
        .content(text)
        .allowed_mentions(CreateAllowedMentions::new())
}

fn emoji_text(e: &ReactionType) -> String {
    match e {
        ReactionType::Unicode(s) => s.clone(),
        ReactionType::Custom { name, id, .. } => format!("{}:{id}", name.clone().unwrap_or_default()),
        _ => String::new(),
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.bot_user.set(ready.user.id.get());
        let guilds: Vec<u64> = ready.guilds.iter().map(|g| g.id.get()).collect();
        tracing::info!(user = %ready.user.name, guilds = guilds.len(), "connected to Discord");
        crate::telemetry::metrics().gateway(true);
        if let Err(why) = self.directory.ready(&guilds) {
            let _ = self.refuse.send(why);
            self.ready_seen.notify_waiters();
            return;
        }
        self.ready_seen.notify_waiters();
        // A new session (start, or after an invalid one): what happened while
        // there was none is not replayed, so read it back.
        self.catch_up(&ctx).await;
    }

    async fn guild_create(&self, ctx: Context, guild: Guild, _is_new: Option<bool>) {
        self.wait_for_ready().await;
        match self.directory.standing(guild.id.get()) {
            Standing::Desk => {
                let roles = guild.roles.values().map(|r| (r.id.get(), r.name.clone()));
                let channels = guild.channels.values().map(|c| (c.id.get(), c.name.clone()));
                if let Err(why) = self.directory.load(self.desk.policy(), guild.id.get(), roles, channels) {
                    let _ = self.refuse.send(format!("in guild {}: {why}", guild.id));
                    return;
                }
                self.guild_ready.notify_waiters();
                self.desk.outbox_ready().notify_one();
                let members: Vec<(UserId, String)> = guild
                    .members
                    .values()
                    .filter(|m| !m.user.bot)
                    .map(|m| (UserId::new(m.user.id.get()), display_name(&m.user, Some(m))))
                    .collect();
                if let Err(e) = self.desk.learn_names(&members).await {
                    tracing::warn!(error = %e, "could not learn the guild's member names");
                }
                register_commands(&ctx, guild.id).await;
            }
            Standing::Foreign { first } => {
                let leave = self.settings.leave_other_guilds;
                if first {
                    tracing::warn!(
                        guild = %guild.id,
                        name = %guild.name,
                        desk = ?self.directory.guild(),
                        "opsdesk is in a guild that is not the desk's: its events are ignored and nothing is posted there{}",
                        if leave { "; leaving it (discord.leave_other_guilds)" } else { " (set discord.leave_other_guilds = true to leave it)" }
                    );
                }
                if leave {
                    if let Err(e) = ctx.http.leave_guild(guild.id).await {
                        tracing::warn!(guild = %guild.id, error = %e, "could not leave a foreign guild");
                    }
                }
            }
            Standing::Unknown => {
                tracing::warn!(guild = %guild.id, "a guild arrived before the desk's guild was known; it is ignored");
            }
        }
    }

    async fn guild_role_create(&self, _ctx: Context, new: serenity::all::Role) {
        self.directory
            .role_changed(self.desk.policy(), new.guild_id.get(), new.id.get(), &new.name);
    }

    async fn guild_role_update(&self, _ctx: Context, _old: Option<serenity::all::Role>, new: serenity::all::Role) {
        self.directory
            .role_changed(self.desk.policy(), new.guild_id.get(), new.id.get(), &new.name);
        // The bot's permissions may have changed with it.
        self.unblock_outbox(new.guild_id.get()).await;
    }

    async fn channel_create(&self, _ctx: Context, channel: serenity::all::GuildChannel) {
        self.directory
            .channel_changed(channel.guild_id.get(), channel.id.get(), &channel.name);
        self.unblock_outbox(channel.guild_id.get()).await;
    }

    async fn channel_update(
        &self,
        _ctx: Context,
        _old: Option<serenity::all::GuildChannel>,
        new: serenity::all::GuildChannel,
    ) {
        self.directory
            .channel_changed(new.guild_id.get(), new.id.get(), &new.name);
        self.unblock_outbox(new.guild_id.get()).await;
    }

    async fn guild_member_update(
        &self,
        _ctx: Context,
        _old: Option<Member>,
        new: Option<Member>,
        _event: serenity::all::GuildMemberUpdateEvent,
    ) {
        // The bot given a role (and with it a permission) may deliver what was blocked.
        if let Some(m) = new {
            if self.bot_user.get() == Some(&m.user.id.get()) {
                self.unblock_outbox(m.guild_id.get()).await;
            }
        }
    }

    async fn shard_stage_update(&self, _ctx: Context, event: serenity::all::ShardStageUpdateEvent) {
        crate::telemetry::metrics().gateway(event.new == serenity::gateway::ConnectionStage::Connected);
    }

    async fn guild_role_delete(
        &self,
        _ctx: Context,
        guild: GuildId,
        role: serenity::all::RoleId,
        _removed: Option<serenity::all::Role>,
    ) {
        self.directory.role_deleted(self.desk.policy(), guild.get(), role.get());
    }

    async fn message(&self, ctx: Context, msg: Message) {
        // Bots and webhooks never act, except an allowed bot: the desk lets it
        // do what the integrations' party is declared for (log incidents).
        if (msg.author.bot || msg.webhook_id.is_some()) && !self.bot_may_log(msg.author.id.get()) {
            return;
        }
        let (role_ids, nick): (Vec<u64>, Option<String>) = match msg.guild_id {
            Some(guild) => {
                if !self.in_desk(guild.get()).await {
                    return;
                }
                msg.member
                    .as_ref()
                    .map(|m| (m.roles.iter().map(|r| r.get()).collect(), m.nick.clone()))
                    .unwrap_or_default()
            }
            None => match self.desk_member(&ctx, msg.author.id).await {
                Some(m) => (m.roles.iter().map(|r| r.get()).collect(), m.nick.clone()),
                None => return,
            },
        };
        let name = nick.unwrap_or_else(|| display_name(&msg.author, None));
        let inbound = Inbound {
            key: format!("discord:msg:{}", msg.id),
            actor: self.actor(&msg.author, name, &role_ids),
            channel: Some(msg.channel_id.get().to_string()),
            event: Event::Line(msg.content.clone()),
        };
        if let Outcome::Reply(reply) = self.desk.handle(inbound).await {
            if let Some(emoji) = reply.react {
                let reaction = serenity::all::ReactionType::Unicode(emoji.to_owned());
                if let Err(e) = ctx.http.create_reaction(msg.channel_id, msg.id, &reaction).await {
                    tracing::warn!(error = %e, "could not acknowledge a note with a reaction");
                }
            }
            if reply.text.is_empty() {
                return;
            }
            let nonce = format!("r{}", msg.id);
            if let Err(e) = self
                .answers
                .parts(msg.channel_id, &reply.text, &nonce, Some(&msg))
                .await
            {
                tracing::warn!(error = %e, "could not reply");
            }
        }
    }

    async fn reaction_add(&self, ctx: Context, reaction: Reaction) {
        self.reaction(ctx, reaction, true).await;
    }

    async fn reaction_remove(&self, ctx: Context, reaction: Reaction) {
        self.reaction(ctx, reaction, false).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => self.slash(ctx, cmd).await,
            Interaction::Component(press) => self.pressed(ctx, press).await,
            Interaction::Modal(form) => self.submitted(ctx, form).await,
            _ => {}
        }
    }
}

impl Handler {
    /// A change in the desk's guild may clear what blocked delivery: try it again.
    async fn unblock_outbox(&self, guild: u64) {
        if !self.directory.is_desk(guild) {
            return;
        }
        match crate::outbox::unblock(self.desk.store(), self.desk.clock().now()).await {
            Ok(n) if n > 0 => self.desk.outbox_ready().notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not retry the blocked outbox messages"),
        }
    }

    async fn reaction(&self, ctx: Context, reaction: Reaction, added: bool) {
        let Some(user_id) = reaction.user_id else { return };
        // The bot's own reactions (e.g. the vote options it adds) are not events.
        if self.bot_user.get() == Some(&user_id.get()) {
            return;
        }
        let emoji = emoji_text(&reaction.emoji);
        let policy = self.desk.policy();
        // Only the emoji the desk uses are worth a look-up (`desk::Emoji`).
        if crate::desk::Emoji::parse(&emoji).is_none() {
            return;
        }
        if let Some(guild) = reaction.guild_id {
            if !self.in_desk(guild.get()).await {
                return;
            }
        }
        // Discord sends the member with an added reaction only. Without it the
        // actor would look like a stranger with no roles, and the desk would
        // forget the roles and name it knows (a board would shrink by one on
        // every withdrawn ballot): ask for the member instead.
        let member = match (&reaction.member, reaction.guild_id) {
            (Some(m), _) => Some(m.clone()),
            (None, Some(guild)) => match guild.member(&ctx.http, user_id).await {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(error = %e, user = %user_id, "could not fetch the reacting member");
                    None
                }
            },
            // A direct message: only members of the desk's guild are served.
            (None, None) => match self.desk_member(&ctx, user_id).await {
                Some(m) => Some(m),
                None => return,
            },
        };
        let (user, name, role_ids) = match &member {
            Some(m) => (
                m.user.clone(),
                display_name(&m.user, Some(m)),
                m.roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
            ),
            None => match user_id.to_user(&ctx.http).await {
                Ok(u) => {
                    let name = display_name(&u, None);
                    (u, name, Vec::new())
                }
                Err(_) => return,
            },
        };
        // Bots never act by reaction, except an allowed bot within the
        // integrations' party (the desk decides what that covers: 🎫).
        let ticket = crate::desk::Emoji::parse(&emoji) == Some(crate::desk::Emoji::Ticket);
        if user.bot && !self.bot_may_log(user.id.get()) {
            return;
        }
        // A ballot is whether the voter's reaction is on the vote card. serenity
        // handles each event in its own task, so a quick remove and re-add (or
        // a replayed removal) can reach the desk out of order; the event is
        // therefore read as the reaction's state Discord holds now, which the
        // desk counts only when it changes (see store::reactions). Only on the
        // bot's own messages (a removal does not say whose message it was).
        let mut present = added;
        let own_message = reaction
            .message_author_id
            .map_or(true, |a| self.bot_user.get() == Some(&a.get()));
        if own_message && crate::domain::cab::Choice::from_emoji(&emoji).is_some() {
            if let Some(now) = reaction_present(&ctx, &reaction, user_id).await {
                present = now;
            }
        }
        // 🎫 needs the reacted message's author and text.
        let message = if added && ticket {
            match reaction.channel_id.message(&ctx.http, reaction.message_id).await {
                Ok(m) => Some(ReactedMessage {
                    from_bot: (m.author.bot || m.webhook_id.is_some()) && !self.bot_may_log(m.author.id.get()),
                    author: UserId::new(m.author.id.get()),
                    author_name: display_name(&m.author, None),
                    text: m.content.clone(),
                    link: Some(m.link()),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "could not fetch the reacted message");
                    None
                }
            }
        } else {
            None
        };
        // This key repeats when a user adds, removes and re-adds an emoji, so
        // the desk deduplicates vote reactions by reaction state instead (see
        // desk/cab.rs); 🎫 and ✋ only act on the first add.
        let inbound = Inbound {
            key: format!(
                "discord:react:{}:{}:{}:{}",
                reaction.message_id,
                user_id,
                emoji,
                if added { "add" } else { "remove" }
            ),
            actor: Actor {
                user: UserId::new(user_id.get()),
                name,
                roles: self.directory.itil_roles(policy, &role_ids),
            },
            channel: Some(reaction.channel_id.get().to_string()),
            event: Event::Reaction {
                message_id: reaction.message_id.get().to_string(),
                emoji,
                added: present,
                message,
            },
        };
        // One nonce per answer: its retries share it, other answers never do
        // (the same person may react to the same message many times).
        let nonce = fresh_nonce();
        let outcome = self.desk.handle(inbound).await;
        // A switched ballot: take back the voter's reaction for the old choice.
        if let Outcome::Reply(reply) = &outcome {
            for old in &reply.remove_reactions {
                let old = ReactionType::Unicode(old.clone());
                if let Err(e) = ctx
                    .http
                    .delete_reaction(reaction.channel_id, reaction.message_id, user_id, &old)
                    .await
                {
                    tracing::warn!(error = %e, "could not remove a switched ballot's old reaction");
                }
            }
        }
        match outcome {
            Outcome::Reply(reply) if reply.remove_reaction => {
                if let Err(e) = reaction.delete(&ctx.http).await {
                    tracing::warn!(error = %e, "could not remove a refused reaction");
                }
                self.tell_privately(user.id, &reply.text, &nonce).await;
            }
            Outcome::Reply(reply) if reply.private => self.tell_privately(user.id, &reply.text, &nonce).await,
            Outcome::Reply(reply) => {
                if let Err(e) = self.answers.parts(reaction.channel_id, &reply.text, &nonce, None).await {
                    tracing::warn!(error = %e, "could not answer a reaction");
                }
            }
            Outcome::Ignored | Outcome::Duplicate => {}
        }
    }

    /// The actor of an interaction: a member of the desk's guild (in it, or
    /// in a direct message), with their ITIL roles; `None` to ignore it.
    async fn interaction_actor(
        &self,
        ctx: &Context,
        user: &serenity::all::User,
        guild: Option<GuildId>,
        member: Option<&Member>,
    ) -> Option<Actor> {
        if user.bot {
            return None;
        }
        let member = match guild {
            Some(guild) => {
                if !self.in_desk(guild.get()).await {
                    return None;
                }
                member.cloned()
            }
            None => Some(self.desk_member(ctx, user.id).await?),
        };
        let role_ids: Vec<u64> = member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default();
        let name = display_name(user, member.as_ref());
        Some(self.actor(user, name, &role_ids))
    }

    async fn slash(&self, ctx: Context, cmd: CommandInteraction) {
        let Some(actor) = self
            .interaction_actor(&ctx, &cmd.user, cmd.guild_id, cmd.member.as_deref())
            .await
        else {
            return;
        };
        let target = Target {
            id: cmd.id,
            token: &cmd.token,
            answers: &self.answers,
        };
        // `/incident` with no title opens the report form (its options fill it in).
        if cmd.data.name == "incident" && !cmd.data.options.iter().any(|o| o.name == "title") {
            let key = format!("discord:int:{}", cmd.id);
            if !self.desk.first_time(&key, &actor).await {
                return;
            }
            let given = |name: &str| {
                cmd.data
                    .options
                    .iter()
                    .find(|o| o.name == name)
                    .and_then(|o| match &o.value {
                        serenity::all::CommandDataOptionValue::String(s) => Some(s.clone()),
                        _ => None,
                    })
            };
            let prefill = components::Prefill {
                service: given("service"),
                impact: given("impact"),
                urgency: given("urgency"),
            };
            let modal = components::modal(self.desk.policy(), components::Form::Report, &prefill);
            target.respond(CreateInteractionResponse::Modal(modal)).await;
            return;
        }
        let inbound = Inbound {
            key: format!("discord:int:{}", cmd.id),
            actor,
            channel: Some(cmd.channel_id.get().to_string()),
            event: Event::Command(slash::parse(&cmd.data.name, &cmd.data.options)),
        };
        let desk = self.desk.clone();
        target.answer(&ctx, async move { desk.handle(inbound).await }).await;
    }

    /// A button pressed: a command at once (as typed, by the presser), a form
    /// to fill in (after the same permission check the command makes), or a
    /// private answer ("why can't I vote?").
    async fn pressed(&self, ctx: Context, press: serenity::all::ComponentInteraction) {
        let Some(actor) = self
            .interaction_actor(&ctx, &press.user, press.guild_id, press.member.as_ref())
            .await
        else {
            return;
        };
        let target = Target {
            id: press.id,
            token: &press.token,
            answers: &self.answers,
        };
        let key = format!("discord:int:{}", press.id);
        let action = match components::parse(&press.data.custom_id) {
            Some(components::Pressed::Button(action)) => action,
            _ => return self.unknown_control(&ctx, &target, &key, &actor).await,
        };
        tracing::info!(interaction = %press.id, actor = %actor.user, control = %press.data.custom_id, "button pressed");
        if let Some(command) = components::command_of(action) {
            let inbound = Inbound {
                key,
                actor,
                channel: Some(press.channel_id.get().to_string()),
                event: Event::Command(Ok(command)),
            };
            let desk = self.desk.clone();
            target.answer(&ctx, async move { desk.handle(inbound).await }).await;
            return;
        }
        if let crate::message::CardAction::WhyNoVote(change) = action {
            let desk = self.desk.clone();
            target
                .answer(&ctx, async move { desk.why_no_vote(&key, &actor, change).await })
                .await;
            return;
        }
        let Some((form, command)) = components::form_of(action) else {
            return;
        };
        if !self.desk.first_time(&key, &actor).await {
            return;
        }
        match self.desk.refusal(&actor, &command).await {
            Some(refused) => {
                target
                    .answer(&ctx, async move { Outcome::Reply(Reply::private(refused)) })
                    .await;
            }
            None => {
                let modal = components::modal(self.desk.policy(), form, &components::Prefill::default());
                target.respond(CreateInteractionResponse::Modal(modal)).await;
            }
        }
    }

    /// A control this build does not know (a stale or forged custom_id):
    /// answered privately, once per interaction.
    async fn unknown_control(&self, ctx: &Context, target: &Target<'_>, key: &str, actor: &Actor) {
        if self.desk.first_time(key, actor).await {
            let unknown = crate::render::control_unknown();
            target
                .answer(ctx, async move { Outcome::Reply(Reply::private(unknown)) })
                .await;
        }
    }

    /// A form submitted: the command (or commands) it stands for, through the
    /// desk as typed by the submitter.
    async fn submitted(&self, ctx: Context, form: serenity::all::ModalInteraction) {
        let Some(actor) = self
            .interaction_actor(&ctx, &form.user, form.guild_id, form.member.as_ref())
            .await
        else {
            return;
        };
        let target = Target {
            id: form.id,
            token: &form.token,
            answers: &self.answers,
        };
        let key = format!("discord:int:{}", form.id);
        let Some(components::Pressed::Submitted(kind)) = components::parse(&form.data.custom_id) else {
            return self.unknown_control(&ctx, &target, &key, &actor).await;
        };
        let values = components::values(&form.data.components);
        let commands = components::form_commands(kind, &values);
        let channel = form.channel_id.get().to_string();
        let desk = self.desk.clone();
        target
            .answer(&ctx, async move {
                let mut texts = Vec::new();
                let mut private = false;
                let mut any = false;
                for (suffix, command) in commands {
                    let inbound = Inbound {
                        key: format!("{key}{suffix}"),
                        actor: actor.clone(),
                        channel: Some(channel.clone()),
                        event: Event::Command(command),
                    };
                    match desk.handle(inbound).await {
                        Outcome::Reply(r) => {
                            any = true;
                            private |= r.private;
                            if !r.text.is_empty() {
                                texts.push(r.text);
                            }
                            // A refused first step is not followed by the next.
                            if r.private {
                                break;
                            }
                        }
                        Outcome::Duplicate => return Outcome::Duplicate,
                        Outcome::Ignored => {}
                    }
                }
                if !any {
                    return Outcome::Reply(Reply::private(crate::render::form_empty()));
                }
                let text = texts.join("\n");
                Outcome::Reply(if private {
                    Reply::private(text)
                } else {
                    Reply::public(text)
                })
            })
            .await;
    }
}

/// An interaction to answer: its id and token.
struct Target<'a> {
    id: serenity::all::InteractionId,
    token: &'a str,
    answers: &'a Answers,
}

impl Target<'_> {
    /// Sends the interaction's first response, retrying what Discord asks
    /// to retry; false when it could not be sent.
    async fn respond(&self, response: CreateInteractionResponse) -> bool {
        match self.answers.respond(self.id, self.token, &response).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not answer an interaction");
                false
            }
        }
    }

    /// Answers with what the desk makes of the interaction. Discord wants an
    /// answer within 3 s: answer directly when the desk is quick (it nearly
    /// always is), else defer (privately) and edit the answer in. A replay
    /// (the desk saw the interaction before) is not answered again.
    async fn answer(&self, ctx: &Context, handling: impl Future<Output = Outcome>) {
        tokio::pin!(handling);
        let outcome = match tokio::time::timeout(Duration::from_millis(1500), &mut handling).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true));
                if !self.respond(defer).await {
                    tracing::warn!("could not defer an interaction");
                }
                let outcome = handling.await;
                if let Outcome::Reply(reply) = &outcome {
                    let parts = crate::render::split(&reply.text, crate::render::MESSAGE_LIMIT);
                    let (first, rest) = parts.split_first().map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
                    let edit = EditInteractionResponse::new()
                        .content(first)
                        .allowed_mentions(CreateAllowedMentions::new());
                    let edited = match ctx.http.application_id() {
                        Some(app) => self.answers.edit_original(app, self.token, &edit).await,
                        None => Err(crate::outbox::SendError::Permanent(
                            "the application id is not known yet".into(),
                        )),
                    };
                    match edited {
                        // The deferred answer is ephemeral: so is the rest of it.
                        Ok(()) => self.followups(ctx, rest, true).await,
                        Err(e) => tracing::warn!(error = %e, "could not answer a deferred interaction"),
                    }
                }
                return;
            }
        };
        let reply = match outcome {
            Outcome::Reply(r) => r,
            // A replayed interaction was answered the first time.
            Outcome::Duplicate => return,
            Outcome::Ignored => Reply::private(crate::render::nothing_to_do()),
        };
        // An answer that is only a reaction (`/report`: its card is posted
        // apart) has no message to react on here: the emoji is the answer.
        let text = match (reply.text.is_empty(), reply.react) {
            (true, Some(emoji)) => emoji.to_owned(),
            _ => reply.text.clone(),
        };
        let parts = crate::render::split(&text, crate::render::MESSAGE_LIMIT);
        let (first, rest) = parts.split_first().map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
        let response = CreateInteractionResponseMessage::new()
            .content(first)
            .ephemeral(reply.private)
            .allowed_mentions(CreateAllowedMentions::new());
        if self.respond(CreateInteractionResponse::Message(response)).await {
            self.followups(ctx, rest, reply.private).await;
        }
    }

    /// The rest of a long answer, after its first part: follow-up messages,
    /// ephemeral when the answer is private.
    async fn followups(&self, ctx: &Context, parts: &[String], ephemeral: bool) {
        let Some(app) = ctx.http.application_id() else {
            if !parts.is_empty() {
                tracing::warn!(
                    "could not send the rest of an interaction's answer: the application id is not known yet"
                );
            }
            return;
        };
        for part in parts {
            let followup = CreateInteractionResponseFollowup::new()
                .content(part.as_str())
                .ephemeral(ephemeral)
                .allowed_mentions(CreateAllowedMentions::new());
            if let Err(e) = self.answers.followup(app, self.token, &followup).await {
                tracing::warn!(error = %e, "could not send the rest of an interaction's answer");
                return;
            }
        }
    }
}

/// Whether `user`'s reaction is on the message now, as Discord holds it;
/// `None` when Discord cannot say.
async fn reaction_present(ctx: &Context, reaction: &Reaction, user: serenity::all::UserId) -> Option<bool> {
    // Reactors come by user id: the first one after `user - 1` is `user`, if they reacted.
    let after = user.get().checked_sub(1)?;
    match ctx
        .http
        .get_reaction_users(
            reaction.channel_id,
            reaction.message_id,
            &reaction.emoji,
            1,
            Some(after),
        )
        .await
    {
        Ok(users) => Some(users.iter().any(|u| u.id == user)),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the reaction's state; taking the event as it is");
            None
        }
    }
}

impl Handler {
    /// Reads back the reactions Discord holds on every message whose
    /// reactions can still change something, and hands each difference from
    /// what the desk recorded to the desk as a reconciliation (see
    /// `desk::reconcile`).
    async fn catch_up(&self, ctx: &Context) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let loaded = self.guild_ready.notified();
            tokio::pin!(loaded);
            loaded.as_mut().enable();
            if self.directory.is_ready() {
                break;
            }
            if tokio::time::timeout_at(deadline, loaded).await.is_err() {
                tracing::warn!("the desk's guild did not arrive; reactions made meanwhile are not read back");
                return;
            }
        }
        let Some(guild) = self.directory.guild().map(GuildId::new) else {
            return;
        };
        let mut changes = 0;
        let targets = self.desk.reconciliation_targets().await;
        for w in &targets {
            let (Ok(channel), Ok(message)) = (w.channel_id.parse::<u64>(), w.message_id.parse::<u64>()) else {
                continue;
            };
            let (channel, message) = (
                serenity::all::ChannelId::new(channel),
                serenity::all::MessageId::new(message),
            );
            for emoji in &w.emojis {
                let Some(on_message) = all_reactors(ctx, channel, message, emoji).await else {
                    continue;
                };
                let people: Vec<u64> = on_message
                    .iter()
                    .filter(|u| !u.bot && self.bot_user.get() != Some(&u.id.get()))
                    .map(|u| u.id.get())
                    .collect();
                let mut differences: Vec<(u64, bool)> = Vec::new();
                if w.watch == crate::desk::Watch::Vote {
                    let recorded: Vec<u64> = self
                        .desk
                        .recorded_reactors(&w.message_id, emoji)
                        .await
                        .iter()
                        .map(|u| u.get())
                        .collect();
                    differences.extend(recorded.iter().filter(|u| !people.contains(u)).map(|u| (*u, false)));
                    differences.extend(people.iter().filter(|u| !recorded.contains(u)).map(|u| (*u, true)));
                } else {
                    differences.extend(people.iter().map(|u| (*u, true)));
                }
                for (user, added) in differences {
                    let user = serenity::all::UserId::new(user);
                    let member = match guild.member(&ctx.http, user).await {
                        Ok(m) if !m.user.bot => m,
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::debug!(user = %user, error = %e, "a reactor who is not a member of the desk's guild");
                            continue;
                        }
                    };
                    let role_ids: Vec<u64> = member.roles.iter().map(|r| r.get()).collect();
                    let name = display_name(&member.user, Some(&member));
                    let inbound = Inbound {
                        key: format!(
                            "{}{message}:{user}:{emoji}:{}",
                            crate::desk::RECONCILE,
                            if added { "add" } else { "remove" }
                        ),
                        actor: self.actor(&member.user, name, &role_ids),
                        channel: Some(channel.get().to_string()),
                        event: Event::Reaction {
                            message_id: message.get().to_string(),
                            emoji: (*emoji).to_owned(),
                            added,
                            message: None,
                        },
                    };
                    let outcome = self.desk.reconcile(inbound).await;
                    if matches!(outcome, Outcome::Reply(_)) {
                        changes += 1;
                    }
                    self.answer_reconciled(ctx, channel, message, user, emoji, outcome)
                        .await;
                }
            }
        }
        tracing::info!(
            messages = targets.len(),
            changes,
            "caught up with the reactions Discord holds"
        );
    }

    /// Carries out a reconciled reaction's answer, as for a live one.
    async fn answer_reconciled(
        &self,
        ctx: &Context,
        channel: serenity::all::ChannelId,
        message: serenity::all::MessageId,
        user: serenity::all::UserId,
        emoji: &str,
        outcome: Outcome,
    ) {
        let Outcome::Reply(reply) = outcome else { return };
        let mut take_back: Vec<String> = reply.remove_reactions.clone();
        if reply.remove_reaction {
            take_back.push(emoji.to_owned());
        }
        for old in take_back {
            if let Err(e) = ctx
                .http
                .delete_reaction(channel, message, user, &ReactionType::Unicode(old))
                .await
            {
                tracing::warn!(error = %e, "could not take back a reconciled reaction");
            }
        }
        let nonce = fresh_nonce();
        if reply.private || reply.remove_reaction {
            self.tell_privately(user, &reply.text, &nonce).await;
        } else if let Err(e) = self.answers.reliably(channel, plain(&reply.text), &nonce).await {
            tracing::warn!(error = %e, "could not answer a reconciled reaction");
        }
    }
}

/// Everyone with `emoji` on a message, as Discord holds it (paged by user id);
/// `None` when Discord cannot say.
async fn all_reactors(
    ctx: &Context,
    channel: serenity::all::ChannelId,
    message: serenity::all::MessageId,
    emoji: &str,
) -> Option<Vec<serenity::all::User>> {
    let reaction = ReactionType::Unicode(emoji.to_owned());
    let mut all = Vec::new();
    let mut after = None;
    loop {
        match ctx
            .http
            .get_reaction_users(channel, message, &reaction, 100, after)
            .await
        {
            Ok(page) => {
                let last = page.last().map(|u| u.id.get());
                let full = page.len() == 100;
                all.extend(page);
                match last {
                    Some(last) if full => after = Some(last),
                    _ => return Some(all),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, %message, emoji, "could not read a message's reactions back");
                return None;
            }
        }
    }
}

async fn register_commands(ctx: &Context, guild: GuildId) {
    match guild.set_commands(&ctx.http, slash::definitions()).await {
        Ok(cmds) => tracing::info!(guild = %guild, commands = cmds.len(), "slash commands registered"),
        Err(e) => tracing::warn!(guild = %guild, error = %e, "could not register slash commands"),
    }
}
