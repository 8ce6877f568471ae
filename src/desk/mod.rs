//! The application layer: takes an inbound event and its actor, checks
//! permission, applies the domain rule and writes — in ONE transaction — the
//! record change, an audit row and the outbound messages. Returns the reply.
//!
//! It knows nothing of serenity; every transport goes through here, so every
//! transport obeys the same permissions.
//!
//! Layout: `Desk` is the value the adapters hold (`handle`, `fire_due_timers`,
//! reconciliation) and the dispatch of a command to its kind. Every action
//! runs through the spine in `act` (one unit of work) after `permit` checks
//! the command's declared parties. The handlers are free functions of their
//! kind over that unit of work — `incidents`, `sla`, `escalation`, `survey`,
//! `changes`, `cab`, `outages`, `info` — so a cross-kind call is an import
//! (`super::incidents::move_incident`), not a hidden method. `fanout` is the
//! one RACI fan-out, `subscribers` the one subscriber-DM path, `emoji` the
//! desk's reactions, `writer` the group commit.

mod act;
mod alerts;
mod cab;
mod changes;
mod clock;
mod controls;
mod emoji;
mod escalation;
mod fanout;
mod incidents;
mod info;
mod links;
mod outages;
mod permit;
mod problems;
mod reconcile;
mod reports;
mod sla;
mod storm;
mod subscribers;
mod survey;
mod timers;
mod writer;

use std::sync::Arc;

use tokio::sync::Notify;

pub use alerts::{delivery, delivery_key};
pub use clock::Clock;
pub use emoji::Emoji;
pub use reconcile::{Watch, Watched, RECONCILE};
pub use survey::SYSTEM;
pub use timers::{Firing, LATE_AFTER};

use crate::command::{self, Command, UsageError};
use crate::config::Policy;
use crate::domain::{RoleKey, UserId};
use crate::render;
use crate::store::{Store, StoreError};
use act::{Act, Body, Claim};

/// Who is acting: a chat user and the ITIL roles their chat roles map to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: UserId,
    pub name: String,
    pub roles: Vec<RoleKey>,
}

/// A chat message someone reacted to (for 🎫), as the adapter saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactedMessage {
    /// Written by a bot or a webhook (opsdesk included) that may not log incidents.
    pub from_bot: bool,
    pub author: UserId,
    pub author_name: String,
    pub text: String,
    pub link: Option<String>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A chat line (a command when it starts with the prefix).
    Line(String),
    /// A command already typed by the platform (slash commands).
    Command(Result<Command, UsageError>),
    /// A reaction added to (or removed from) a message.
    Reaction {
        message_id: String,
        emoji: String,
        added: bool,
        message: Option<ReactedMessage>,
    },
    /// A monitoring alert delivered to a hook (`/hooks/*`).
    Alert(crate::domain::alert::Notification),
}

/// One inbound event with its identity (used to ignore replays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Unique per platform event: `console:<run>:<seq>`, `discord:msg:<id>`, …
    pub key: String,
    pub actor: Actor,
    /// The channel it came from (platform id or name).
    pub channel: Option<String>,
    pub event: Event,
}

/// The desk's answer to the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    /// Only the actor should see it (refusals; ephemeral on Discord).
    pub private: bool,
    /// The actor's reaction should be taken back (it was not allowed).
    pub remove_reaction: bool,
    /// Other reactions of the actor on the same message to take back (a
    /// switched ballot: the old choice's emoji).
    pub remove_reactions: Vec<String>,
    /// Answer by reacting with this emoji on the actor's message instead of
    /// writing (`text` is empty): a thread message taken as a note.
    pub react: Option<&'static str>,
}

impl Reply {
    pub fn public(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            private: false,
            remove_reaction: false,
            remove_reactions: Vec::new(),
            react: None,
        }
    }

    /// An answer that is only a reaction on the actor's message.
    pub fn acknowledged(emoji: &'static str) -> Self {
        Self {
            react: Some(emoji),
            ..Self::public(String::new())
        }
    }

    pub fn private(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            private: true,
            remove_reaction: false,
            remove_reactions: Vec::new(),
            react: None,
        }
    }
}

/// What became of an inbound event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reply(Reply),
    /// Not for the bot (ordinary chat, an emoji it does not use).
    Ignored,
    /// Seen before (a replay); nothing was changed or said.
    Duplicate,
}

/// Why an action did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeskError {
    /// Refused: tell the actor what and why.
    #[error("{0}")]
    Rejected(String),
    /// Refused, and the reaction that asked for it should be taken back.
    #[error("{0}")]
    RejectedReaction(String),
    /// Unexpected: a generic reply, the cause logged once.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) type DeskResult<T> = Result<T, DeskError>;

/// A text refused by `domain::text::bounded` (empty, too long) is a
/// refusal that says so: every command's text check is `bounded(…)?`.
impl From<crate::domain::text::TextError> for DeskError {
    fn from(e: crate::domain::text::TextError) -> Self {
        DeskError::Rejected(render::text_refused(&e))
    }
}

pub(crate) fn rejected<T>(msg: impl Into<String>) -> DeskResult<T> {
    Err(DeskError::Rejected(msg.into()))
}

/// The application value: cheap to clone, passed explicitly.
#[derive(Clone)]
pub struct Desk {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    policy: Policy,
    clock: Clock,
    outbox_ready: Notify,
    timers_changed: Notify,
    /// Commands that arrive together are committed together (see `writer`).
    writer: writer::GroupCommit,
}

impl Desk {
    pub fn new(store: Store, policy: Policy, clock: Clock) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                policy,
                clock,
                outbox_ready: Notify::new(),
                timers_changed: Notify::new(),
                writer: writer::GroupCommit::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Learns the names of the platform's members (a guild's member list at
    /// start), so a command may name someone who has not spoken yet
    /// (`!assign INC-1 @irene`, `!change implementer CHG-1 @nina`). One
    /// transaction; a known user's name is brought up to date.
    pub async fn learn_names(&self, members: &[(UserId, String)]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        for (user, name) in members {
            crate::store::users::upsert(&mut tx, *user, name, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Woken whenever an action commits outbound messages.
    pub fn outbox_ready(&self) -> &Notify {
        &self.inner.outbox_ready
    }

    /// Woken whenever an action schedules or moves a timer (and by `:clock`).
    pub fn timers_changed(&self) -> &Notify {
        &self.inner.timers_changed
    }

    /// Handles one inbound event. Never panics; store failures become a
    /// generic reply and are logged here, once.
    #[tracing::instrument(skip_all, fields(event = %inbound.key, actor = %inbound.actor.user))]
    pub async fn handle(&self, inbound: Inbound) -> Outcome {
        let started = std::time::Instant::now();
        // Shutdown waits for the events in hand (see `telemetry::Metrics::idle`).
        let _in_flight = crate::telemetry::metrics().begin_command();
        let result = self.handle_inner(&inbound).await;
        let outcome = match &result {
            Ok(Outcome::Reply(_)) => "ok",
            Ok(Outcome::Ignored) => "ignored",
            Ok(Outcome::Duplicate) => "duplicate",
            Err(DeskError::Rejected(_) | DeskError::RejectedReaction(_)) => "rejected",
            Err(DeskError::Store(_)) => "error",
        };
        let kind = match &inbound.event {
            Event::Line(line) => match command::parse(&self.policy().prefix, line) {
                Some(Ok(cmd)) => cmd.spec().map_or("other", |s| s.name),
                Some(Err(_)) => "usage",
                None => "chat",
            },
            Event::Command(Ok(cmd)) => cmd.spec().map_or("other", |s| s.name),
            Event::Command(Err(_)) => "usage",
            Event::Reaction { .. } => "reaction",
            Event::Alert(_) => "alert",
        };
        crate::telemetry::metrics().command(kind, outcome, started.elapsed(), self.clock().now().timestamp_millis());
        match result {
            Ok(outcome) => outcome,
            Err(DeskError::Rejected(text)) => Outcome::Reply(Reply::private(text)),
            Err(DeskError::RejectedReaction(text)) => Outcome::Reply(Reply {
                remove_reaction: true,
                ..Reply::private(text)
            }),
            Err(DeskError::Store(e)) => match e.write_fault() {
                // A storage fault is logged by the store when it begins, not per command.
                Some(fault) => {
                    self.store().note_fault(&e);
                    tracing::debug!(error = %e, "not saved: the database cannot be written");
                    Outcome::Reply(Reply::private(render::not_saved(fault)))
                }
                None => {
                    tracing::error!(error = %e, "action failed");
                    Outcome::Reply(Reply::private(render::unexpected()))
                }
            },
        }
    }

    async fn handle_inner(&self, inbound: &Inbound) -> DeskResult<Outcome> {
        let prefix = &self.policy().prefix;
        let parsed = match &inbound.event {
            Event::Line(line) => match command::parse(prefix, line) {
                None => return self.thread_line(inbound, line).await,
                Some(p) => p,
            },
            Event::Command(c) => c.clone(),
            Event::Reaction {
                message_id,
                emoji,
                added,
                message,
            } => return self.reaction(inbound, message_id, emoji, *added, message.clone()).await,
            Event::Alert(_) => return alerts::receive(self, inbound).await,
        };
        // An integration (an allowed bot) is not answered for what its party
        // may not do: the same declarations, read before anything is claimed.
        let may = parsed.as_ref().map_or(command::who::ANYONE, |cmd| cmd.may());
        if !permit::integration_may(self, &inbound.actor, may) {
            return Ok(Outcome::Ignored);
        }
        if let Ok(cmd) = &parsed {
            if cmd.is_read_only() {
                // Record the event's identity in the writer's next batch (so a
                // replay gets no second answer), then read from the read pool
                // instead of holding the writer.
                let body: Body = Box::new(|_| Box::pin(async { Ok(Outcome::Ignored) }));
                if self.transact(Claim::Event(inbound.clone()), body).await? == Outcome::Duplicate {
                    return Ok(Outcome::Duplicate);
                }
                let mut conn = self.store().read().await?;
                let mut act = Act::new(&mut conn, self.clock().now(), self);
                return self.command(&mut act, inbound, cmd.clone()).await.map(Outcome::Reply);
            }
        }
        let desk = self.clone();
        let claimed = inbound.clone();
        let body: Body = Box::new(move |act| {
            let (desk, inbound, parsed) = (desk.clone(), claimed.clone(), parsed.clone());
            Box::pin(async move {
                let cmd = parsed.map_err(|usage| DeskError::Rejected(render::usage(&desk.policy().prefix, &usage)))?;
                desk.command(act, &inbound, cmd).await.map(Outcome::Reply)
            })
        });
        self.transact(Claim::Event(inbound.clone()), body).await
    }

    /// A line that is not a command: a note when it was written in an
    /// incident's thread by someone who may add one; otherwise ordinary chat.
    async fn thread_line(&self, inbound: &Inbound, line: &str) -> DeskResult<Outcome> {
        let Some(channel) = inbound.channel.as_deref() else {
            return Ok(Outcome::Ignored);
        };
        if line.trim().is_empty() || !permit::integration_may(self, &inbound.actor, command::who::THREAD_NOTERS) {
            return Ok(Outcome::Ignored);
        }
        let thread = {
            let mut conn = self.store().read().await?;
            crate::store::cards::by_thread(&mut conn, channel).await?
        };
        let Some(id) = thread.and_then(|c| crate::domain::subject::Subject::parse(&c.subject)?.incident()) else {
            return Ok(Outcome::Ignored);
        };
        let desk = self.clone();
        let (claimed, text) = (inbound.clone(), line.to_owned());
        let body: Body = Box::new(move |act| {
            let (desk, actor, text) = (desk.clone(), claimed.actor.clone(), text.clone());
            Box::pin(async move { incidents::thread_note(&desk, act, &actor, id, &text).await })
        });
        self.transact(Claim::Event(inbound.clone()), body).await
    }

    /// A reaction: a ballot on a vote card, or one of the incidents' reactions.
    async fn reaction(
        &self,
        inbound: &Inbound,
        message_id: &str,
        emoji: &str,
        added: bool,
        message: Option<ReactedMessage>,
    ) -> DeskResult<Outcome> {
        let desk = self.clone();
        let (actor, message_id) = (inbound.actor.clone(), message_id.to_owned());
        let emoji = match Emoji::parse(emoji) {
            Some(e) => e,
            None => return Ok(Outcome::Ignored),
        };
        if !permit::integration_may(self, &inbound.actor, permit::reaction_may(emoji)) {
            return Ok(Outcome::Ignored);
        }
        if let Emoji::Ballot(choice) = emoji {
            let claim = Claim::Ballot {
                inbound: inbound.clone(),
                message_id: message_id.clone(),
                emoji: choice.emoji(),
                added,
            };
            let body: Body = Box::new(move |act| {
                let (desk, actor, message_id) = (desk.clone(), actor.clone(), message_id.clone());
                Box::pin(async move { cab::vote_reaction(&desk, act, &actor, &message_id, choice, added).await })
            });
            return self.transact(claim, body).await;
        }
        // The incidents' reactions act when added; taking one back changes nothing.
        if !added {
            return Ok(Outcome::Ignored);
        }
        let claimed = inbound.clone();
        let body: Body = Box::new(move |act| {
            let (desk, inbound, message_id, message) =
                (desk.clone(), claimed.clone(), message_id.clone(), message.clone());
            Box::pin(async move {
                incidents::reaction_action(&desk, act, &inbound, &message_id, emoji, message.as_ref()).await
            })
        });
        self.transact(Claim::Event(inbound.clone()), body).await
    }

    /// How many write transactions the group-committing writer has made, and
    /// for how many commands (benchmarks, tests).
    pub fn commit_stats(&self) -> (u64, u64) {
        self.inner.writer.stats()
    }

    async fn command(&self, tx: &mut Act<'_>, inbound: &Inbound, cmd: Command) -> DeskResult<Reply> {
        let actor = &inbound.actor;
        // The one permission check: the command's declared parties (`permit`).
        permit::authorize(self, tx, actor, &cmd).await?;
        match cmd {
            Command::Incident {
                title,
                impact,
                urgency,
                service,
                category,
                description,
            } => {
                let req = incidents::LogRequest {
                    title,
                    impact,
                    urgency,
                    service,
                    category,
                    source: None,
                    alert: None,
                };
                match description {
                    None => incidents::log_incident(self, tx, actor, inbound.channel.as_deref(), req).await,
                    // The report form's description is the incident's first note, in the same action.
                    Some(text) => {
                        let (inc, reply) = incidents::log(self, tx, actor, req).await?;
                        incidents::note(self, tx, actor, inc.id, &text).await?;
                        Ok(reply)
                    }
                }
            }
            Command::Show { id } => incidents::show(self, tx, id).await,
            Command::ShowChange { id } => changes::show_change(self, tx, id).await,
            Command::ShowProblem { id } => problems::show(self, tx, id).await,
            Command::ProblemLog { title, service, from } => {
                problems::log_problem(self, tx, actor, &title, service.as_deref(), &from).await
            }
            Command::ProblemLink { id, incidents } => problems::link(self, tx, actor, id, &incidents).await,
            Command::ProblemStep { id, step, text } => problems::step(self, tx, actor, id, step, text).await,
            Command::Problems { filter, service } => problems::list(self, tx, actor, filter, service.as_deref()).await,
            Command::Kedb { service, query } => problems::kedb(self, tx, service.as_deref(), query.as_ref()).await,
            Command::History { record, page } => incidents::history(self, tx, &record, page).await,
            Command::Change {
                title,
                service,
                risk,
                change_type,
                window,
                implementer,
                problem,
            } => {
                let req = changes::FileRequest {
                    problem,
                    title,
                    service,
                    risk,
                    change_type,
                    window,
                    implementer,
                };
                changes::file_change(self, tx, actor, req).await
            }
            Command::ChangeCancel { id, reason } => changes::cancel_change(self, tx, actor, id, reason).await,
            Command::ChangeStatus {
                id,
                state,
                reason,
                window,
            } => changes::change_status(self, tx, actor, id, state, reason, window).await,
            Command::ChangeImplementer { id, user } => changes::set_implementer(self, tx, actor, id, user).await,
            Command::ChangeReview { id, text } => changes::write_review(self, tx, actor, id, &text).await,
            Command::Changes { filter } => changes::list_changes(self, tx, actor, filter).await,
            Command::Cab { id, deadline } => cab::call_vote(self, tx, actor, id, deadline).await,
            Command::Authorize { id } => changes::decide(self, tx, actor, id, true, None).await,
            Command::Reject { id, reason } => changes::decide(self, tx, actor, id, false, Some(reason)).await,
            Command::Incidents { filter, page } => incidents::list(self, tx, actor, filter, page).await,
            Command::Search { query, page } => incidents::search(self, tx, actor, query, page).await,
            Command::Take { id } => incidents::assign(self, tx, actor, id, None).await,
            Command::Assign { id, user } => incidents::assign(self, tx, actor, id, Some(user)).await,
            Command::Status {
                id,
                state,
                hold,
                reason,
            } => incidents::set_state(self, tx, actor, id, state, hold, reason).await,
            Command::Cancel { id, reason } => incidents::cancel(self, tx, actor, id, reason).await,
            Command::Edit {
                id,
                title,
                service,
                category,
            } => incidents::edit(self, tx, actor, id, (title, service, category)).await,
            Command::Link { id, other } => links::link(tx, actor, id, other).await,
            Command::Duplicate { id, of } => links::duplicate(self, tx, actor, id, of).await,
            Command::Parent { id, children } => links::parent(tx, actor, id, &children).await,
            Command::OutageLink { id, incident } => links::link_outage(self, tx, actor, id, incident).await,
            Command::Note { id, text } => incidents::note(self, tx, actor, id, &text).await,
            Command::ChangeNote { id, text } => changes::note(self, tx, actor, id, &text).await,
            Command::OutageNote { id, text } => outages::note(self, tx, actor, id, &text).await,
            Command::Resolve { id, resolution } => {
                incidents::set_state(
                    self,
                    tx,
                    actor,
                    id,
                    crate::domain::incident::State::Resolved,
                    None,
                    Some(resolution),
                )
                .await
            }
            Command::Close { id } => {
                incidents::set_state(self, tx, actor, id, crate::domain::incident::State::Closed, None, None).await
            }
            Command::Reopen { id, reason } => {
                incidents::set_state(
                    self,
                    tx,
                    actor,
                    id,
                    crate::domain::incident::State::InProgress,
                    None,
                    reason,
                )
                .await
            }
            Command::Outages => outages::status_board(self, tx).await,
            Command::OutageDeclare {
                service,
                summary,
                impact,
            } => outages::declare_outage(self, tx, actor, &service, &summary, impact).await,
            Command::OutageUpdate { id, text, impact } => {
                outages::update_outage(self, tx, actor, id, &text, impact).await
            }
            Command::OutageResolve { id, text } => outages::resolve_outage(self, tx, actor, id, text).await,
            Command::OutageShow { id } => outages::show_outage(self, tx, id).await,
            Command::Services => outages::services(self, tx, actor).await,
            Command::Alerts => alerts::list(tx).await,
            Command::Subscribe { service } => outages::subscribe(self, tx, actor, &service).await,
            Command::Unsubscribe { service } => outages::unsubscribe(self, tx, actor, &service).await,
            Command::Subscriptions => outages::subscriptions(self, tx, actor).await,
            Command::Ack { id } => sla::acknowledge(self, tx, actor, id).await,
            Command::Escalate { id, up, reason } => escalation::escalate(self, tx, actor, id, up, reason).await,
            Command::Major { id, off, reason } => escalation::major(self, tx, actor, id, off, reason).await,
            Command::Priority {
                id,
                impact,
                urgency,
                reason,
            } => incidents::reprioritize(self, tx, actor, id, (impact, urgency), reason).await,
            Command::Help { command } => info::help(self, actor, command.as_deref()),
            Command::Raci { action } => info::raci(self, action.as_deref()),
            Command::Whois { role } => info::whois(self, &role),
            Command::Whoami => permit::whoami(self, actor),
            Command::Report {
                period,
                service,
                priority,
            } => reports::report(self, tx, inbound.channel.as_deref(), period, service, priority).await,
            Command::Unknown { name, suggestion } => {
                rejected(render::unknown_command(&self.policy().prefix, &name, suggestion))
            }
        }
    }

    fn is_agent(&self, actor: &Actor) -> bool {
        self.policy().is_agent(&actor.roles)
    }
}

#[cfg(test)]
mod act_tests;
#[cfg(test)]
mod cab_tests;
#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod sla_tests;
#[cfg(test)]
mod storm_tests;
#[cfg(test)]
mod subscriber_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
