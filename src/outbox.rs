//! The outbox dispatcher: delivers committed messages through a [`Transport`],
//! records the platform message id, retries failures with backoff, and resumes
//! after a restart (undelivered rows simply stay due).
//!
//! A card row is placed by its [`CardStep`]: edited in place (posted the first
//! time), moved (posted anew at its destination, the post it replaces kept as
//! the card's previous post in the same transaction as the "sent" mark), or
//! left (that previous post edited into a pointer). A subject's rows keep
//! their order, so a move's pointer follows its new post even across a restart.
//!
//! Delivery order (issue 22): every row belongs to a queue (its destination's:
//! a role's channel, a named channel, a record's thread, or all direct
//! messages) and a lane (urgent, normal, bulk; `message::Lane`). [`Dispatcher::run`]
//! drains every queue with rows due on its own and at once, one row at a time
//! by lane then id (the direct-message queue [`DM_WIDTH`] at a time), so a
//! channel held to its 5 messages per 5 s by the transport never holds up
//! another, and a P1's card goes before the storm's edits in its channel.
//! A record's rows still go one after another across queues (the store holds
//! a row back while an earlier one of its subject is undelivered), and a new
//! card's other rows wait until its thread is started ([`Transport::complete`]).
//! [`Dispatcher::deliver_due`] (the console's flush) delivers the same rows in
//! the same lane order, one at a time.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{Mutex, Notify};

use crate::desk::Clock;
use crate::message::{CardStep, Destination, OutKind, OutMessage, DM_QUEUE};
use crate::store::cards::CardRef;
use crate::store::outbox::{Failure, Pending};
use crate::store::{self, Store, StoreError};

/// One message to deliver, with what the transport needs to place it.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    pub id: i64,
    pub kind: OutKind,
    pub subject: Option<&'a str>,
    pub destination: &'a Destination,
    pub message: &'a OutMessage,
    /// The subject's card when it exists: edited for `Card` (its previous post
    /// for [`CardStep::Leave`]), its thread used for `Thread`.
    pub card: Option<&'a CardRef>,
    /// Stable per outbox row, so a platform can drop a duplicate send (Discord `nonce`).
    pub nonce: String,
}

/// Where a delivered message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub channel_id: String,
    pub message_id: String,
    /// Set when delivering a new card started a thread for it.
    pub thread_id: Option<String>,
}

/// A failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later (rate limit, server error, network); `after` when the platform said when.
    Retry { after: Option<Duration>, reason: String },
    /// Never deliverable (e.g. a body the platform refuses); recorded, not retried.
    Permanent(String),
    /// Not deliverable until something changes on the platform (the bot may
    /// not post in the channel, or the channel does not exist): parked, and
    /// tried again when the platform changes or the bot starts (see
    /// [`unblock`]); dead-lettered like a retry once the give-up time passes.
    Blocked(String),
    /// The recipient cannot be reached (e.g. their DMs are closed to the bot):
    /// recorded, not retried, and the subscriber the message was a notice to
    /// is marked unreachable, so later notices skip them.
    Unreachable(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retry { reason, .. } => write!(f, "{reason} (will be tried again)"),
            SendError::Permanent(reason) => write!(f, "{reason}"),
            SendError::Blocked(reason) => write!(f, "blocked: {reason}"),
            SendError::Unreachable(reason) => write!(f, "unreachable: {reason}"),
        }
    }
}

/// A way to deliver messages: the console, Discord, or a test double.
pub trait Transport: Send + Sync + 'static {
    fn deliver(&self, delivery: &Delivery<'_>) -> impl Future<Output = Result<Delivered, SendError>> + Send;

    /// Finishes a newly posted message once the outbox has recorded where it
    /// landed: adds the message's own reactions and starts a new card's
    /// thread, returning the thread's id. It runs after the record is saved
    /// because people can react as soon as a message appears, and a reaction
    /// (a ballot on a vote card) is traced to its record through that id.
    /// Best effort: the message is delivered either way. Nothing by default.
    fn complete(&self, delivery: &Delivery<'_>, posted: &Delivered) -> impl Future<Output = Option<String>> + Send {
        let _ = (delivery, posted);
        async { None }
    }
}

/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The wait before attempt `attempts + 1`: 0.5 s doubling, at most five minutes.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    Duration::from_millis(500u64.saturating_mul(1u64 << exp)).min(MAX_BACKOFF)
}

/// How long a failing row is tried by default before it is dead-lettered (`outbox.give_up_after`).
pub const GIVE_UP_AFTER: TimeDelta = TimeDelta::hours(24);

/// Makes every blocked row due again, because its cause may have cleared (the
/// platform's channels, roles or permissions changed); returns how many.
pub async fn unblock(store: &Store, now: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
    let mut conn = store.write().await?;
    let n = store::outbox::unblock_all(&mut conn, now).await?;
    if n > 0 {
        tracing::info!(rows = n, "trying blocked outbox messages again");
    }
    Ok(n)
}

/// How many direct messages [`Dispatcher::run`] delivers at once: each has a
/// channel of its own, so only the transport's global budget paces them, and
/// one at a time a platform's round trip (≈ 100 ms on Discord) would cap them
/// far below that budget.
pub const DM_WIDTH: u32 = 16;

/// How soon after a delivery [`Dispatcher::run`] looks again for queues with
/// rows due (a delivered row may let a row of its record in another queue go).
const RESCAN: Duration = Duration::from_millis(25);

/// How often [`Dispatcher::run`] dead-letters the blocked rows past their give-up time.
const EXPIRE_EVERY: Duration = Duration::from_secs(10);

/// Delivers the outbox; shareable so a console can flush between lines while a
/// background loop handles retries (a queue is delivered by one of them at a
/// time, so no row is sent twice).
pub struct Dispatcher<T> {
    store: Store,
    transport: Arc<T>,
    clock: Clock,
    lock: Mutex<()>,
    give_up_after: TimeDelta,
    /// The queues being delivered now.
    busy: std::sync::Mutex<HashSet<String>>,
    /// The subjects whose new card is being finished (its thread started):
    /// their other rows wait, so none goes to the card's channel instead.
    completing: std::sync::Mutex<HashSet<String>>,
    /// Told when a delivery (or a finished card) may have let another row go.
    progress: Notify,
    /// Tells every drain waiting for a new card's thread that one is finished.
    card_done: Notify,
}

/// A queue taken for delivery, let go when dropped.
struct Busy<'a> {
    queue: String,
    set: &'a std::sync::Mutex<HashSet<String>>,
    progress: &'a Notify,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.queue);
        }
        self.progress.notify_one();
    }
}

/// A subject whose new card is being finished, until dropped.
struct Completing<'a> {
    subject: String,
    set: &'a std::sync::Mutex<HashSet<String>>,
    progress: &'a Notify,
    done: &'a Notify,
}

impl Drop for Completing<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.subject);
        }
        self.done.notify_waiters();
        self.progress.notify_one();
    }
}

impl<T: Transport> Dispatcher<T> {
    pub fn new(store: Store, transport: Arc<T>, clock: Clock) -> Self {
        Self {
            store,
            transport,
            clock,
            lock: Mutex::new(()),
            give_up_after: GIVE_UP_AFTER,
            busy: std::sync::Mutex::new(HashSet::new()),
            completing: std::sync::Mutex::new(HashSet::new()),
            progress: Notify::new(),
            card_done: Notify::new(),
        }
    }

    /// Takes `queue` for delivery, unless something delivers it already.
    fn take(&self, queue: &str) -> Option<Busy<'_>> {
        let mut set = self.busy.lock().ok()?;
        set.insert(queue.to_owned()).then(|| Busy {
            queue: queue.to_owned(),
            set: &self.busy,
            progress: &self.progress,
        })
    }

    /// Whether `row` waits for its subject's new card to be finished.
    fn held(&self, row: &Pending) -> bool {
        row.subject
            .as_ref()
            .is_some_and(|s| self.completing.lock().is_ok_and(|set| set.contains(s)))
    }

    /// Marks `subject`'s new card as being finished until the guard drops.
    fn completing(&self, subject: &str) -> Completing<'_> {
        if let Ok(mut set) = self.completing.lock() {
            set.insert(subject.to_owned());
        }
        Completing {
            subject: subject.to_owned(),
            set: &self.completing,
            progress: &self.progress,
            done: &self.card_done,
        }
    }

    /// Dead-letters the blocked rows past their give-up time (a blocked row is
    /// never due, so no attempt would find it).
    async fn expire_blocked(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        let mut conn = self.store.write().await?;
        for (id, reason) in store::outbox::expire_blocked(&mut conn, now - self.give_up_after, now).await? {
            crate::telemetry::metrics().outbox_failure("dead");
            tracing::error!(
                outbox = id,
                reason = reason.as_deref().unwrap_or("-"),
                "a blocked message was still blocked after outbox.give_up_after; it is dead-lettered"
            );
        }
        Ok(())
    }

    /// Delivers `queue`'s due rows, most urgent first, until none is due (or
    /// `stop` is set: the rows in hand are finished and recorded); returns
    /// how many were delivered.
    async fn drain(&self, busy: Busy<'_>, stop: &AtomicBool) -> Result<usize, StoreError> {
        let width = if busy.queue == DM_QUEUE { DM_WIDTH } else { 1 };
        let mut delivered = 0;
        let mut previous: Vec<i64> = Vec::new();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(delivered);
            }
            let now = self.clock.now();
            // Listening before looking: a card finished meanwhile is not missed.
            let card_done = self.card_done.notified();
            tokio::pin!(card_done);
            card_done.as_mut().enable();
            let fetched = {
                let mut conn = self.store.read().await?;
                store::outbox::due_in(&mut conn, &busy.queue, now, width).await?
            };
            let batch: Vec<Pending> = fetched.iter().filter(|r| !self.held(r)).cloned().collect();
            if batch.is_empty() && !fetched.is_empty() {
                // Only rows waiting for their card's thread: it is being started.
                card_done.await;
                continue;
            }
            let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
            if batch.is_empty() || ids == previous {
                return Ok(delivered);
            }
            previous = ids;
            // One row per subject (see `store::outbox::due_in`): at once is in order.
            let results = futures_util::future::join_all(batch.iter().map(|row| self.deliver_one(row))).await;
            for result in results {
                if result? {
                    delivered += 1;
                }
            }
            self.progress.notify_one();
        }
    }

    /// Dead-letters rows still failing `after` they were queued (instead of [`GIVE_UP_AFTER`]).
    pub fn giving_up_after(mut self, after: TimeDelta) -> Self {
        self.give_up_after = after;
        self
    }

    /// Whether a row failing now has been failing for the give-up time.
    fn expired(&self, row: &Pending, now: chrono::DateTime<chrono::Utc>) -> bool {
        now - row.created_at >= self.give_up_after
    }

    /// Dead-letters a row, logging it once, as an error: a message nobody will get.
    async fn give_up(&self, row: &Pending, reason: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        let mut conn = self.store.write().await?;
        tracing::error!(
            outbox = row.id,
            subject = row.subject.as_deref().unwrap_or("-"),
            attempts = row.attempts + 1,
            %reason,
            "delivery given up after outbox.give_up_after; the message is dead-lettered"
        );
        crate::telemetry::metrics().outbox_failure("dead");
        store::outbox::mark_dead(&mut conn, row.id, reason, now).await
    }

    /// Delivers every row due now; returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        self.deliver_due_until(&AtomicBool::new(false)).await
    }

    /// Like [`Self::deliver_due`], but returns before the next row once `stop`
    /// is set: the row in hand is finished and recorded, the rest stay due.
    async fn deliver_due_until(&self, stop: &AtomicBool) -> Result<usize, StoreError> {
        let _guard = self.lock.lock().await;
        let mut delivered = 0;
        // The rows of the last pass: a pass that finds the same rows due again
        // (nothing delivered, nothing blocked out of the way) ends the loop.
        let mut previous: Vec<i64> = Vec::new();
        loop {
            let now = self.clock.now();
            self.expire_blocked(now).await?;
            let batch = {
                let mut conn = self.store.write().await?;
                store::outbox::due(&mut conn, now, 64).await?
            };
            let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
            if batch.is_empty() || ids == previous {
                return Ok(delivered);
            }
            previous = ids;
            // The batch holds at most one row per subject (the store holds back
            // a row while an earlier one of its subject is undelivered), so a
            // subject's messages keep their order across passes and retries.
            for row in &batch {
                if stop.load(Ordering::Relaxed) {
                    return Ok(delivered);
                }
                // A queue a background `run` delivers now is left to it.
                let Some(_busy) = self.take(&row.queue) else { continue };
                if self.deliver_one(row).await? {
                    delivered += 1;
                }
            }
        }
    }

    /// Attempts one row; true when it was delivered.
    async fn deliver_one(&self, row: &Pending) -> Result<bool, StoreError> {
        // A card is edited in place and a thread message goes to its card's thread.
        let card_subject = match (&row.destination, row.kind) {
            (Destination::Thread(s), _) => Some(s),
            (_, OutKind::Card) => row.subject.as_ref(),
            _ => None,
        };
        let card = match card_subject {
            Some(s) => {
                let mut conn = self.store.write().await?;
                store::cards::by_subject(&mut conn, s).await?
            }
            None => None,
        };
        let now = self.clock.now();
        let step = match row.kind {
            OutKind::Card => row.message.step,
            OutKind::Post => CardStep::InPlace,
        };
        if step == CardStep::Leave && !card.as_ref().is_some_and(|c| c.previous.is_some()) {
            // The card never moved from a post of its own (its first post
            // failed, say): there is nothing to point from.
            let mut conn = self.store.write().await?;
            store::outbox::mark_delivered(&mut conn, row.id, "", now).await?;
            return Ok(true);
        }
        if let (Destination::Thread(subject), None) = (&row.destination, &card) {
            let mut conn = self.store.write().await?;
            if let Some(why) = store::outbox::card_trouble(&mut conn, subject).await? {
                drop(conn);
                return self.deliver_without_thread(row, &why).await;
            }
            let next = now + TimeDelta::from_std(backoff(row.attempts)).unwrap_or(TimeDelta::seconds(1));
            store::outbox::mark_retry(&mut conn, row.id, "waiting for the card to be posted", next).await?;
            return Ok(false);
        }
        let delivery = Delivery {
            id: row.id,
            kind: row.kind,
            subject: row.subject.as_deref(),
            destination: &row.destination,
            message: &row.message,
            card: card.as_ref(),
            nonce: format!("opsdesk-{}", row.id),
        };
        let result = self.transport.deliver(&delivery).await;
        match result {
            Ok(done) => {
                // A pointer left behind changes nothing about where the card is.
                let card_subject = row
                    .subject
                    .as_ref()
                    .filter(|_| row.kind == OutKind::Card && step != CardStep::Leave);
                let mut saved = card_subject.map(|subject| CardRef {
                    subject: subject.clone(),
                    channel_id: done.channel_id.clone(),
                    message_id: done.message_id.clone(),
                    thread_id: card
                        .as_ref()
                        .and_then(|c| c.thread_id.clone())
                        .or(done.thread_id.clone()),
                    // A move leaves its old post behind, unless the platform
                    // found it already in place and edited it there.
                    previous: card
                        .as_ref()
                        .filter(|c| step == CardStep::Move && c.message_id != done.message_id)
                        .map(|c| (c.channel_id.clone(), c.message_id.clone())),
                });
                // A new message (not a card edited in place) is finished only
                // once it is recorded, so reactions to it find their record;
                // meanwhile a new card's other rows wait for its thread.
                let posted_new =
                    step != CardStep::Leave && card.as_ref().map_or(true, |c| c.message_id != done.message_id);
                let _completing = saved
                    .as_ref()
                    .filter(|_| posted_new)
                    .map(|saved| self.completing(&saved.subject));
                // The card's place and the row's "sent" mark commit together or
                // not at all: a mark that fails leaves the row due, and it is
                // sent again under the same nonce (the platform drops the copy).
                let mut tx = self.store.begin().await?;
                match &saved {
                    Some(saved) if step == CardStep::Move => store::cards::moved(&mut tx, saved).await?,
                    Some(saved) => store::cards::save(&mut tx, saved).await?,
                    None => {}
                }
                store::outbox::mark_delivered(&mut tx, row.id, &done.message_id, self.clock.now()).await?;
                tx.commit().await?;
                self.store.note_written();
                tracing::debug!(outbox = row.id, message = %done.message_id, "delivered");
                if posted_new {
                    let thread = self.transport.complete(&delivery, &done).await;
                    if let (Some(saved), Some(thread)) = (saved.as_mut(), thread) {
                        if saved.thread_id.is_none() {
                            saved.thread_id = Some(thread);
                            let mut conn = self.store.write().await?;
                            store::cards::save(&mut conn, saved).await?;
                        }
                    }
                }
                Ok(true)
            }
            Err(SendError::Retry { after, reason }) => {
                if self.expired(row, now) {
                    self.give_up(row, &reason, now).await?;
                    return Ok(false);
                }
                crate::telemetry::metrics().outbox_failure("retry");
                let mut conn = self.store.write().await?;
                // The platform's own wait wins over the backoff (a 429's Retry-After).
                let wait = after.unwrap_or_else(|| backoff(row.attempts));
                let next = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::seconds(1));
                // Logged when the reason changes, not on every attempt.
                if row.last_error.as_deref() == Some(reason.as_str()) {
                    tracing::debug!(outbox = row.id, attempts = row.attempts + 1, %reason, "delivery failed again; will retry");
                } else {
                    tracing::warn!(outbox = row.id, attempts = row.attempts + 1, %reason, wait_ms = wait.as_millis() as u64, "delivery failed; will retry");
                }
                store::outbox::mark_retry(&mut conn, row.id, &reason, next).await?;
                Ok(false)
            }
            Err(SendError::Blocked(reason)) => {
                if self.expired(row, now) {
                    self.give_up(row, &reason, now).await?;
                    return Ok(false);
                }
                crate::telemetry::metrics().outbox_failure("blocked");
                let mut conn = self.store.write().await?;
                if row.last_error.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(
                        outbox = row.id,
                        subject = row.subject.as_deref().unwrap_or("-"),
                        %reason,
                        "delivery blocked; tried again when the guild's channels or permissions change, or at the next start"
                    );
                }
                store::outbox::mark_blocked(&mut conn, row.id, &reason, now).await?;
                Ok(false)
            }
            Err(SendError::Permanent(reason)) => {
                crate::telemetry::metrics().outbox_failure("permanent");
                let mut conn = self.store.write().await?;
                tracing::warn!(outbox = row.id, %reason, "delivery impossible; giving up on this message");
                store::outbox::mark_failed(&mut conn, row.id, Failure::Permanent, &reason, now).await?;
                Ok(false)
            }
            Err(SendError::Unreachable(reason)) => {
                crate::telemetry::metrics().outbox_failure("unreachable");
                tracing::warn!(outbox = row.id, %reason, "recipient unreachable; giving up on this message");
                // The failure and the subscriber's mark commit together: a
                // closed inbox is never counted as lost nor tried again.
                let mut tx = self.store.begin().await?;
                store::outbox::mark_failed(&mut tx, row.id, Failure::Unreachable, &reason, now).await?;
                store::subscriptions::mark_unreachable(&mut tx, row.id, &reason, now).await?;
                store::commit(tx).await?;
                self.store.note_written();
                Ok(false)
            }
        }
    }

    /// A message for a card's thread while the card cannot be posted: the
    /// people it names (the reporter's welcome, the assignee's ping) get it by
    /// direct message now; a message naming nobody is parked with the card and
    /// goes to the thread once the card is posted.
    async fn deliver_without_thread(&self, row: &Pending, why: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let subject = row.subject.as_deref().unwrap_or("-");
        if row.message.ping_users.is_empty() {
            let mut conn = self.store.write().await?;
            let reason = format!("waiting for the card of {subject}, which cannot be posted: {why}");
            store::outbox::mark_blocked(&mut conn, row.id, &reason, now).await?;
            return Ok(false);
        }
        let mut message = row.message.clone();
        message.text = crate::render::without_thread(subject, &row.message.text);
        message.ping_users.clear();
        message.ping_roles.clear();
        message.ping_chat_roles.clear();
        let mut last: Option<(Delivered, Destination)> = None;
        let mut refused = Vec::new();
        for (i, user) in row.message.ping_users.iter().enumerate() {
            let destination = Destination::Dm(*user);
            let delivery = Delivery {
                id: row.id,
                kind: OutKind::Post,
                subject: None,
                destination: &destination,
                message: &message,
                card: None,
                nonce: format!("opsdesk-{}-u{i}", row.id),
            };
            match self.transport.deliver(&delivery).await {
                Ok(done) => last = Some((done, destination.clone())),
                Err(SendError::Retry { after, reason }) => {
                    let mut conn = self.store.write().await?;
                    let wait = after.unwrap_or_else(|| backoff(row.attempts));
                    let next = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::seconds(1));
                    store::outbox::mark_retry(&mut conn, row.id, &reason, next).await?;
                    return Ok(false);
                }
                Err(SendError::Permanent(r) | SendError::Blocked(r) | SendError::Unreachable(r)) => refused.push(r),
            }
        }
        let mut conn = self.store.write().await?;
        match last {
            Some((done, destination)) => {
                let how = format!("delivered by direct message: the card cannot be posted ({why})");
                tracing::info!(
                    outbox = row.id,
                    subject,
                    "delivered a thread message by direct message while its card is blocked"
                );
                store::outbox::mark_delivered_instead(&mut conn, row.id, &done.message_id, &how, now).await?;
                drop(conn);
                self.store.note_written();
                // Its reactions (a survey's 👍/👎) go on the message it is recorded as.
                let delivery = Delivery {
                    id: row.id,
                    kind: OutKind::Post,
                    subject: None,
                    destination: &destination,
                    message: &message,
                    card: None,
                    nonce: String::new(),
                };
                self.transport.complete(&delivery, &done).await;
                Ok(true)
            }
            None => {
                let reason = format!(
                    "the card cannot be posted ({why}), and the direct message failed: {}",
                    refused.join("; ")
                );
                tracing::warn!(outbox = row.id, subject, %reason, "delivery impossible; giving up on this message");
                store::outbox::mark_failed(&mut conn, row.id, Failure::Permanent, &reason, now).await?;
                Ok(false)
            }
        }
    }

    /// Delivers until `shutdown` resolves: every queue with rows due is
    /// drained on its own and at once (see the module documentation), looked
    /// for on every commit (`ready`), after deliveries, and when the next
    /// retry falls due. Shutting down does not wait for a long drain (a
    /// fan-out to hundreds of subscribers takes a while at Discord's pace):
    /// the deliveries in hand are finished and recorded, and the rest stays
    /// due for the next start.
    pub async fn run(&self, ready: &Notify, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let stop = AtomicBool::new(false);
        // A new start: what was blocked may deliver now (a permission granted meanwhile).
        if let Err(e) = unblock(&self.store, self.clock.now()).await {
            self.failed(&e);
        }
        let mut drains = FuturesUnordered::new();
        let mut expired_at: Option<tokio::time::Instant> = None;
        loop {
            // The drains are polled while the store is asked what is due: one
            // of them may hold the connection the question needs.
            let scan = self.scan(&mut expired_at, !drains.is_empty());
            tokio::pin!(scan);
            let (queues, wait) = loop {
                tokio::select! {
                    biased;
                    () = &mut shutdown => return self.wind_down(&stop, &mut drains).await,
                    scanned = &mut scan => break scanned,
                    Some(result) = drains.next(), if !drains.is_empty() => {
                        if let Err(e) = result {
                            self.failed(&e);
                        }
                    }
                }
            };
            for queue in queues {
                if let Some(busy) = self.take(&queue) {
                    drains.push(self.drain(busy, &stop));
                }
            }
            let scanned = tokio::time::Instant::now();
            let mut deadline = scanned + wait;
            loop {
                tokio::select! {
                    biased;
                    () = &mut shutdown => return self.wind_down(&stop, &mut drains).await,
                    Some(result) = drains.next(), if !drains.is_empty() => {
                        if let Err(e) = result {
                            self.failed(&e);
                        }
                        deadline = deadline.min(scanned + RESCAN);
                    }
                    _ = ready.notified() => break,
                    _ = self.progress.notified() => deadline = deadline.min(scanned + RESCAN),
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
    }

    /// Stops the drains: each finishes and records the rows in hand.
    async fn wind_down<F>(&self, stop: &AtomicBool, drains: &mut FuturesUnordered<F>)
    where
        F: Future<Output = Result<usize, StoreError>>,
    {
        stop.store(true, Ordering::Relaxed);
        while let Some(result) = drains.next().await {
            if let Err(e) = result {
                self.failed(&e);
            }
        }
    }

    /// What [`Self::run`] does between waits: dead-letters what stayed blocked
    /// too long (every [`EXPIRE_EVERY`]), and returns the queues with rows due
    /// and how long to wait before looking again (while queues are being
    /// drained, their own due rows say nothing new: at least 250 ms). A
    /// failure is logged and looked at again in a second.
    async fn scan(&self, expired_at: &mut Option<tokio::time::Instant>, draining: bool) -> (Vec<String>, Duration) {
        let result = async {
            if expired_at.map_or(true, |t| t.elapsed() >= EXPIRE_EVERY) {
                *expired_at = Some(tokio::time::Instant::now());
                self.expire_blocked(self.clock.now()).await?;
            }
            let queues = {
                let mut conn = self.store.read().await?;
                store::outbox::due_queues(&mut conn, self.clock.now()).await?
            };
            let wait = self.next_wait().await?;
            let wait = if draining {
                wait.max(Duration::from_millis(250))
            } else {
                wait
            };
            Ok::<_, StoreError>((queues, wait))
        }
        .await;
        result.unwrap_or_else(|e| {
            self.failed(&e);
            (Vec::new(), Duration::from_secs(1))
        })
    }

    /// Logs a failed pass: a storage fault once per change of state (the
    /// store does), anything else every time. Undelivered rows stay due.
    pub fn failed(&self, e: &StoreError) {
        if !self.store.note_fault(e) {
            tracing::error!(error = %e, "outbox dispatch failed");
        }
    }

    async fn next_wait(&self) -> Result<Duration, StoreError> {
        let mut conn = self.store.read().await?;
        let next = store::outbox::next_due(&mut conn).await?;
        let now = self.clock.now().timestamp_millis();
        Ok(match next {
            Some(t) => Duration::from_millis(u64::try_from(t - now).unwrap_or(0)).max(Duration::from_millis(5)),
            None => Duration::from_secs(60),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RoleKey;
    use crate::message::Outgoing;
    use crate::store::testing::{self, temp_store};
    use std::sync::Mutex as StdMutex;

    /// Fails the first `fail` attempts, then records deliveries.
    struct Flaky {
        fail: StdMutex<u32>,
        sent: StdMutex<Vec<(i64, Option<String>)>>,
    }

    impl Transport for Flaky {
        async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
            {
                let mut f = self.fail.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    return Err(SendError::Retry {
                        after: Some(Duration::from_millis(0)),
                        reason: "500".into(),
                    });
                }
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push((d.id, d.card.map(|c| c.message_id.clone())));
            let id = 100 + d.id;
            Ok(Delivered {
                channel_id: "c".into(),
                message_id: id.to_string(),
                thread_id: Some(format!("t{id}")),
            })
        }
    }

    #[tokio::test]
    async fn failures_are_retried_in_order_and_each_message_is_delivered_once() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::system();
        let role = RoleKey::parse("service_desk").unwrap();
        let mut tx = store.begin().await.unwrap();
        let items = vec![
            Outgoing::card(
                "INC-1",
                Destination::RoleChannel(role.clone()),
                OutMessage::text("card"),
            ),
            Outgoing::post(Destination::Thread("INC-1".into()), OutMessage::text("in thread")).about("INC-1"),
            Outgoing::card("INC-1", Destination::RoleChannel(role), OutMessage::text("card edit")),
        ];
        store::outbox::enqueue(&mut tx, &items, clock.now()).await.unwrap();
        tx.commit().await.unwrap();

        let transport = Arc::new(Flaky {
            fail: StdMutex::new(2),
            sent: StdMutex::new(Vec::new()),
        });
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone());
        // Two failed passes (the card fails, so its thread message waits), then all three go.
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        clock.advance(TimeDelta::seconds(10));
        assert_eq!(d.deliver_due().await.unwrap(), 3);
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        let sent = transport.sent.lock().unwrap().clone();
        assert_eq!(sent, vec![(1, None), (2, Some("101".into())), (3, Some("101".into()))]);
        let mut conn = store.write().await.unwrap();
        assert_eq!(store::outbox::counts(&mut conn).await.unwrap(), (0, 3, 0));
        let card = store::cards::by_subject(&mut conn, "INC-1").await.unwrap().unwrap();
        assert_eq!(
            (card.message_id.as_str(), card.thread_id.as_deref()),
            ("103", Some("t101"))
        );
    }

    /// Delivers everything, and asks for shutdown during the first delivery.
    struct ShutsDown {
        shutdown: StdMutex<Option<tokio::sync::oneshot::Sender<()>>>,
        sent: StdMutex<Vec<i64>>,
    }

    impl Transport for ShutsDown {
        async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
            if let Some(tx) = self.shutdown.lock().unwrap().take() {
                let _ = tx.send(());
            }
            self.sent.lock().unwrap().push(d.id);
            Ok(Delivered {
                channel_id: "c".into(),
                message_id: format!("m{}", d.id),
                thread_id: None,
            })
        }
    }

    #[tokio::test]
    async fn shutting_down_mid_pass_finishes_the_deliveries_in_hand_and_leaves_the_rest_due() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::system();
        let mut tx = store.begin().await.unwrap();
        // More direct messages than are delivered at once.
        let items: Vec<Outgoing> = (0..40)
            .map(|i| {
                Outgoing::post(
                    Destination::Dm(crate::domain::UserId::new(100 + i)),
                    OutMessage::text("notice"),
                )
                .about(format!("OUT-1:dm:{i}"))
            })
            .collect();
        store::outbox::enqueue(&mut tx, &items, clock.now()).await.unwrap();
        tx.commit().await.unwrap();

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let transport = Arc::new(ShutsDown {
            shutdown: StdMutex::new(Some(stop_tx)),
            sent: StdMutex::new(Vec::new()),
        });
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone());
        let ready = tokio::sync::Notify::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            d.run(&ready, async {
                let _ = stop_rx.await;
            }),
        )
        .await
        .expect("the dispatcher stops");
        let sent = transport.sent.lock().unwrap().len() as i64;
        assert!((1..=i64::from(DM_WIDTH)).contains(&sent), "{sent} sent");
        let mut conn = store.write().await.unwrap();
        // (pending, delivered, failed): those in hand are recorded, the others wait for the next start.
        assert_eq!(store::outbox::counts(&mut conn).await.unwrap(), (40 - sent, sent, 0));
        drop(conn);
        assert_eq!(d.deliver_due().await.unwrap() as i64, 40 - sent);
        let mut all = transport.sent.lock().unwrap().clone();
        all.sort_unstable();
        assert_eq!(all, (1..=40).collect::<Vec<_>>(), "each once");
    }

    /// Posts every message as a new one and, when completing it, notes
    /// which card the store already holds for its subject.
    struct Completing {
        store: Store,
        seen_on_complete: StdMutex<Vec<Option<CardRef>>>,
    }

    impl Transport for Completing {
        async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
            // A card that exists is edited in place, as on a platform.
            let message_id = d
                .card
                .map_or_else(|| (100 + d.id).to_string(), |c| c.message_id.clone());
            Ok(Delivered {
                channel_id: "c".into(),
                message_id,
                thread_id: None,
            })
        }

        async fn complete(&self, d: &Delivery<'_>, posted: &Delivered) -> Option<String> {
            let mut conn = self.store.write().await.unwrap();
            let card = store::cards::by_subject(&mut conn, d.subject.unwrap()).await.unwrap();
            self.seen_on_complete.lock().unwrap().push(card);
            Some(format!("t{}", posted.message_id))
        }
    }

    #[tokio::test]
    async fn a_new_card_is_recorded_before_it_is_completed_and_an_edit_is_not_completed() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::system();
        let role = RoleKey::parse("cab").unwrap();
        let mut tx = store.begin().await.unwrap();
        let items = vec![
            Outgoing::card(
                "CHG-1",
                Destination::RoleChannel(role.clone()),
                OutMessage::text("vote"),
            ),
            Outgoing::card(
                "CHG-1",
                Destination::RoleChannel(role),
                OutMessage::text("vote, edited"),
            ),
        ];
        store::outbox::enqueue(&mut tx, &items, clock.now()).await.unwrap();
        tx.commit().await.unwrap();

        let transport = Arc::new(Completing {
            store: store.clone(),
            seen_on_complete: StdMutex::new(Vec::new()),
        });
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone());
        assert_eq!(d.deliver_due().await.unwrap(), 2);
        let seen = transport.seen_on_complete.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "only the new message is completed: {seen:?}");
        let recorded = seen[0].clone().expect("the card was recorded before completing it");
        assert_eq!((recorded.message_id.as_str(), recorded.thread_id), ("101", None));
        let mut conn = store.write().await.unwrap();
        let card = store::cards::by_subject(&mut conn, "CHG-1").await.unwrap().unwrap();
        assert_eq!(
            (card.message_id.as_str(), card.thread_id.as_deref()),
            ("101", Some("t101"))
        );
    }

    /// A platform that posts new messages with fresh ids and edits in place,
    /// failing the first `fail_leave` edits of a post left behind.
    struct Platform {
        fail_leave: StdMutex<u32>,
        next: StdMutex<u64>,
        /// What happened, as `post <channel> <id>` / `edit <channel> <id> <text>`.
        log: StdMutex<Vec<String>>,
    }

    impl Transport for Platform {
        async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
            let channel = match d.destination {
                Destination::RoleChannel(r) => r.to_string(),
                other => format!("{other:?}"),
            };
            // A post in the card's thread.
            if let (OutKind::Post, Some(card)) = (d.kind, d.card) {
                let thread = card.thread_id.clone().unwrap_or_default();
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("thread {thread} {}", d.message.text));
                return Ok(Delivered {
                    channel_id: thread,
                    message_id: "p".into(),
                    thread_id: None,
                });
            }
            let (channel, message) = match (d.message.step, d.card) {
                (CardStep::Leave, Some(card)) => {
                    if std::mem::replace(&mut *self.fail_leave.lock().unwrap(), 0) > 0 {
                        return Err(SendError::Retry {
                            after: Some(Duration::from_millis(0)),
                            reason: "503".into(),
                        });
                    }
                    card.previous.clone().unwrap()
                }
                (CardStep::InPlace, Some(card)) => (card.channel_id.clone(), card.message_id.clone()),
                _ => {
                    let mut next = self.next.lock().unwrap();
                    *next += 1;
                    self.log.lock().unwrap().push(format!("post {channel} m{next}"));
                    return Ok(Delivered {
                        channel_id: channel,
                        message_id: format!("m{next}"),
                        thread_id: Some(format!("t{next}")),
                    });
                }
            };
            self.log
                .lock()
                .unwrap()
                .push(format!("edit {channel} {message} {}", d.message.text));
            Ok(Delivered {
                channel_id: channel,
                message_id: message,
                thread_id: None,
            })
        }
    }

    #[tokio::test]
    async fn a_moved_card_is_posted_anew_keeps_its_thread_and_its_old_post_is_edited_even_after_a_restart() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::system();
        let desk = RoleKey::parse("service_desk").unwrap();
        let support = RoleKey::parse("systems_support").unwrap();
        let mut tx = store.begin().await.unwrap();
        let items = vec![
            Outgoing::card(
                "INC-1",
                Destination::RoleChannel(desk.clone()),
                OutMessage::text("card"),
            ),
            Outgoing::card_moved(
                "INC-1",
                Destination::RoleChannel(support.clone()),
                OutMessage::text("card, escalated"),
            ),
            Outgoing::card_left(
                "INC-1",
                Destination::RoleChannel(desk),
                OutMessage::text("see #systems-support"),
            ),
            Outgoing::post(Destination::Thread("INC-1".into()), OutMessage::text("escalated")).about("INC-1"),
            Outgoing::card(
                "INC-1",
                Destination::RoleChannel(support),
                OutMessage::text("card, taken"),
            ),
        ];
        store::outbox::enqueue(&mut tx, &items, clock.now()).await.unwrap();
        tx.commit().await.unwrap();

        let platform = Arc::new(Platform {
            fail_leave: StdMutex::new(1),
            next: StdMutex::new(0),
            log: StdMutex::new(Vec::new()),
        });
        let first = Dispatcher::new(store.clone(), platform.clone(), clock.clone());
        // The first card and its move go; the old post's edit fails, and the rest wait behind it.
        assert_eq!(first.deliver_due().await.unwrap(), 2);
        drop(first);
        let mut conn = store.write().await.unwrap();
        let card = store::cards::by_subject(&mut conn, "INC-1").await.unwrap().unwrap();
        assert_eq!(
            (
                card.channel_id.as_str(),
                card.message_id.as_str(),
                card.thread_id.as_deref()
            ),
            ("systems_support", "m2", Some("t1")),
            "the card is on its new post and keeps the first post's thread"
        );
        assert_eq!(card.previous, Some(("service_desk".to_owned(), "m1".to_owned())));
        drop(conn);

        // A restart: a new dispatcher finds the old post in the store, not in memory.
        clock.advance(TimeDelta::seconds(10));
        let again = Dispatcher::new(store.clone(), platform.clone(), clock.clone());
        assert_eq!(again.deliver_due().await.unwrap(), 3);
        assert_eq!(
            *platform.log.lock().unwrap(),
            [
                "post service_desk m1",
                "post systems_support m2",
                "edit service_desk m1 see #systems-support",
                "thread t1 escalated",
                "edit systems_support m2 card, taken",
            ]
            .map(String::from),
            "in order: the move, the pointer on the old post, then the thread and the new card"
        );
        let mut conn = store.write().await.unwrap();
        assert_eq!(store::outbox::counts(&mut conn).await.unwrap(), (0, 5, 0));
        let card = store::cards::by_subject(&mut conn, "INC-1").await.unwrap().unwrap();
        assert_eq!(
            (card.message_id.as_str(), card.thread_id.as_deref()),
            ("m2", Some("t1"))
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(50), MAX_BACKOFF);
        assert_eq!(backoff(-1), Duration::from_millis(500));
    }

    /// Records every attempt's nonce; the platform "posts" each one.
    #[derive(Default)]
    struct Nonces(StdMutex<Vec<String>>);

    impl Transport for Nonces {
        async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
            self.0.lock().unwrap().push(d.nonce.clone());
            Ok(Delivered {
                channel_id: "c".into(),
                message_id: format!("m{}", d.id),
                thread_id: None,
            })
        }
    }

    #[tokio::test]
    async fn a_delivery_whose_mark_does_not_commit_is_sent_again_under_its_nonce_and_marked_once() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::system();
        let role = RoleKey::parse("service_desk").unwrap();
        // The "sent" mark fails while `fault` says so, as a full disk would fail it.
        for sql in [
            "CREATE TABLE fault (active INTEGER NOT NULL)",
            "INSERT INTO fault VALUES (1)",
            "CREATE TRIGGER full_disk BEFORE UPDATE OF delivered_at ON outbox
              WHEN (SELECT active FROM fault) BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
        ] {
            testing::exec(&store, sql).await;
        }
        let mut tx = store.begin().await.unwrap();
        let card = Outgoing::card("INC-1", Destination::RoleChannel(role), OutMessage::text("card"));
        store::outbox::enqueue(&mut tx, &[card], clock.now()).await.unwrap();
        tx.commit().await.unwrap();

        let transport = Arc::new(Nonces::default());
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone());
        assert!(d.deliver_due().await.is_err(), "the pass reports the failed mark");
        let mut conn = store.write().await.unwrap();
        assert_eq!(store::outbox::counts(&mut conn).await.unwrap(), (1, 0, 0), "still due");
        assert_eq!(
            store::cards::by_subject(&mut conn, "INC-1").await.unwrap(),
            None,
            "the card's place is not kept without its mark"
        );
        drop(conn);
        testing::exec(&store, "UPDATE fault SET active = 0").await;

        assert_eq!(d.deliver_due().await.unwrap(), 1);
        assert_eq!(d.deliver_due().await.unwrap(), 0, "not sent a third time");
        assert_eq!(
            *transport.0.lock().unwrap(),
            ["opsdesk-1", "opsdesk-1"],
            "resent under the same nonce"
        );
        let mut conn = store.write().await.unwrap();
        assert_eq!(store::outbox::counts(&mut conn).await.unwrap(), (0, 1, 0));
        let attempts = testing::scalar(&store, "SELECT attempts FROM outbox WHERE id = 1").await;
        assert_eq!(attempts, 1, "marked once");
        assert!(store::cards::by_subject(&mut conn, "INC-1").await.unwrap().is_some());
    }

    /// Answers each attempt with the next scripted result (then delivers).
    struct Scripted {
        answers: StdMutex<Vec<SendError>>,
        sent: StdMutex<Vec<(i64, Destination, String)>>,
    }

    impl Scripted {
        fn new(answers: Vec<SendError>) -> Arc<Self> {
            Arc::new(Self {
                answers: StdMutex::new(answers.into_iter().rev().collect()),
                sent: StdMutex::new(Vec::new()),
            })
        }
    }

    impl Transport for Scripted {
        async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
            if let Some(e) = self.answers.lock().unwrap().pop() {
                return Err(e);
            }
            self.sent
                .lock()
                .unwrap()
                .push((d.id, d.destination.clone(), d.message.text.clone()));
            Ok(Delivered {
                channel_id: "c".into(),
                message_id: format!("m{}", d.id),
                thread_id: Some(format!("t{}", d.id)),
            })
        }
    }

    async fn queue(store: &Store, items: Vec<Outgoing>, clock: &Clock) {
        let mut tx = store.begin().await.unwrap();
        store::outbox::enqueue(&mut tx, &items, clock.now()).await.unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_retry_after_is_honoured_and_a_row_failing_past_the_give_up_time_is_dead_lettered() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::fixed(chrono::Utc::now());
        queue(
            &store,
            vec![Outgoing::post(
                Destination::Channel("status".into()),
                OutMessage::text("notice"),
            )],
            &clock,
        )
        .await;
        let retry = |secs| SendError::Retry {
            after: Some(Duration::from_secs(secs)),
            reason: "HTTP 429: rate limited, retry after 30s".into(),
        };
        let transport = Scripted::new(vec![retry(30), retry(30), retry(30)]);
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone()).giving_up_after(TimeDelta::hours(1));
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        let created = testing::scalar(&store, "SELECT created_at FROM outbox WHERE id = 1").await;
        let next = testing::scalar(&store, "SELECT next_attempt_at FROM outbox WHERE id = 1").await;
        assert_eq!(next - created, 30_000, "the platform's wait, not the 0.5 s backoff");
        clock.advance(TimeDelta::seconds(29));
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        assert_eq!(
            testing::scalar(&store, "SELECT attempts FROM outbox WHERE id = 1").await,
            1,
            "not before it"
        );
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        // Still failing an hour after it was queued: given up, kept with its reason.
        clock.advance(TimeDelta::hours(1));
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        let row = testing::text(
            &store,
            "SELECT (dead_at IS NOT NULL) || ' ' || (failed_at IS NOT NULL) || ' ' || last_error FROM outbox WHERE id = 1",
        )
        .await;
        assert_eq!(row, "1 1 HTTP 429: rate limited, retry after 30s");
        clock.advance(TimeDelta::hours(1));
        assert_eq!(d.deliver_due().await.unwrap(), 0, "never tried again");
        assert!(transport.sent.lock().unwrap().is_empty());
        assert_eq!(
            testing::scalar(&store, "SELECT attempts FROM outbox WHERE id = 1").await,
            3
        );
    }

    #[tokio::test]
    async fn a_blocked_card_waits_for_a_change_its_thread_message_goes_by_dm_and_it_dies_after_the_give_up_time() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::fixed(chrono::Utc::now());
        let role = RoleKey::parse("service_desk").unwrap();
        let reporter = crate::domain::UserId::new(42);
        queue(
            &store,
            vec![
                Outgoing::card(
                    "INC-1",
                    Destination::RoleChannel(role.clone()),
                    OutMessage::text("card"),
                ),
                Outgoing::post(
                    Destination::Thread("INC-1".into()),
                    OutMessage::text("welcome").pinging_users([reporter]),
                )
                .about("INC-1"),
                Outgoing::post(Destination::Thread("INC-1".into()), OutMessage::text("a note")).about("INC-1"),
                Outgoing::card("INC-1", Destination::RoleChannel(role), OutMessage::text("card edit")),
            ],
            &clock,
        )
        .await;
        let transport = Scripted::new(vec![SendError::Blocked(
            "HTTP 403 code 50013: Missing Permissions".into(),
        )]);
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone()).giving_up_after(TimeDelta::hours(24));
        // The card is blocked; the welcome reaches the reporter by DM; the note
        // (naming nobody) and the card's edit wait with the card.
        assert_eq!(d.deliver_due().await.unwrap(), 1);
        let sent = transport.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].0, &sent[0].1), (2, &Destination::Dm(reporter)));
        assert!(
            sent[0].2.starts_with("welcome\n") && sent[0].2.contains("INC-1"),
            "{}",
            sent[0].2
        );
        let blocked = testing::texts(
            &store,
            "SELECT CAST(id AS TEXT) FROM outbox WHERE blocked_at IS NOT NULL ORDER BY id",
        )
        .await;
        assert_eq!(blocked, ["1", "3"]);
        clock.advance(TimeDelta::hours(1));
        assert_eq!(
            d.deliver_due().await.unwrap(),
            0,
            "a blocked card is not retried on a timer"
        );

        // A change on the platform: the card, its edit and the note go, in order.
        assert_eq!(unblock(&store, clock.now()).await.unwrap(), 2);
        assert_eq!(d.deliver_due().await.unwrap(), 3);
        let ids: Vec<i64> = transport.sent.lock().unwrap().iter().map(|s| s.0).collect();
        assert_eq!(ids, [2, 1, 3, 4]);

        // Blocked for longer than the give-up time: dead-lettered, never retried.
        queue(
            &store,
            vec![Outgoing::card(
                "INC-2",
                Destination::RoleChannel(RoleKey::parse("cab").unwrap()),
                OutMessage::text("c"),
            )],
            &clock,
        )
        .await;
        transport
            .answers
            .lock()
            .unwrap()
            .push(SendError::Blocked("the guild has no channel #cab".into()));
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        clock.advance(TimeDelta::hours(25));
        assert_eq!(d.deliver_due().await.unwrap(), 0);
        let dead = testing::text(
            &store,
            "SELECT (COALESCE(dead_at, 0) > 0) || ' ' || last_error FROM outbox WHERE id = 5",
        )
        .await;
        assert_eq!(dead, "1 the guild has no channel #cab");
        assert_eq!(
            unblock(&store, clock.now()).await.unwrap(),
            0,
            "a dead row is not revived"
        );
    }

    /// Delivers like a platform pacing one channel: each message to
    /// `slow` takes `per` (its 5-per-5-s budget, say); everything else is
    /// quick. Records the order, the threads thread posts found, and how many
    /// deliveries were in flight at most.
    struct Paced {
        slow: Destination,
        per: Duration,
        finish: Duration,
        sent: StdMutex<Vec<i64>>,
        thread_known: StdMutex<Vec<(i64, bool)>>,
        in_flight: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    impl Paced {
        fn new(slow: Destination, per: Duration) -> Arc<Self> {
            Arc::new(Self {
                slow,
                per,
                finish: Duration::ZERO,
                sent: StdMutex::new(Vec::new()),
                thread_known: StdMutex::new(Vec::new()),
                in_flight: Default::default(),
                most: Default::default(),
            })
        }
    }

    impl Transport for Paced {
        async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            if *d.destination == self.slow {
                tokio::time::sleep(self.per).await;
            } else if matches!(d.destination, Destination::Dm(_)) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Destination::Thread(_) = d.destination {
                let known = d.card.is_some_and(|c| c.thread_id.is_some());
                self.thread_known.lock().unwrap().push((d.id, known));
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.sent.lock().unwrap().push(d.id);
            Ok(Delivered {
                channel_id: "c".into(),
                message_id: format!("m{}", d.id),
                thread_id: None,
            })
        }

        async fn complete(&self, d: &Delivery<'_>, posted: &Delivered) -> Option<String> {
            // Starting a thread takes a while on a busy channel.
            tokio::time::sleep(self.finish).await;
            (d.kind == OutKind::Card).then(|| format!("t-{}", posted.message_id))
        }
    }

    /// Runs the dispatcher's background loop until `done` says so (or 20 s pass).
    async fn run_until<T: Transport>(d: &Dispatcher<T>, done: impl Fn() -> bool) {
        let ready = tokio::sync::Notify::new();
        let stop = async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while !done() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        d.run(&ready, stop).await;
    }

    #[tokio::test]
    async fn a_busy_channel_does_not_hold_up_another_and_an_urgent_card_goes_first_in_its_own() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::system();
        let busy = Destination::RoleChannel(RoleKey::parse("incident_management").unwrap());
        let other = Destination::RoleChannel(RoleKey::parse("service_desk").unwrap());
        // Eight posts for the busy channel, then a post elsewhere and an urgent card in the busy one.
        let mut items: Vec<Outgoing> = (0..8)
            .map(|i| Outgoing::post(busy.clone(), OutMessage::text(format!("FYI {i}"))))
            .collect();
        items.push(Outgoing::post(other.clone(), OutMessage::text("elsewhere")));
        let mut urgent = Outgoing::card("INC-9", busy.clone(), OutMessage::text("P1 card"));
        urgent.lane = crate::message::Lane::Urgent;
        items.push(urgent);
        queue(&store, items, &clock).await;

        let transport = Paced::new(busy, Duration::from_millis(150));
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone());
        run_until(&d, || transport.sent.lock().unwrap().len() == 10).await;
        let sent = transport.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 10, "{sent:?}");
        let at = |id: i64| sent.iter().position(|s| *s == id).unwrap();
        assert!(at(9) < 3, "the other channel's post waits for nobody: {sent:?}");
        // The busy channel was in the middle of its first post when the card came.
        assert!(at(10) <= 2, "the urgent card goes before the backlog: {sent:?}");
        let busy_order: Vec<i64> = sent.iter().copied().filter(|id| *id != 9 && *id != 10).collect();
        assert_eq!(busy_order, (1..=8).collect::<Vec<_>>(), "the rest in order");
    }

    #[tokio::test]
    async fn an_urgent_row_raises_its_records_earlier_rows_and_the_console_flush_goes_by_lane() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::fixed(chrono::Utc::now());
        let desk = Destination::RoleChannel(RoleKey::parse("service_desk").unwrap());
        let mut p1 = Outgoing::post(desk.clone(), OutMessage::text("INC-2 is now P1")).about("INC-2");
        p1.lane = crate::message::Lane::Urgent;
        queue(
            &store,
            vec![
                Outgoing::card("INC-1", desk.clone(), OutMessage::text("P3 card")),
                Outgoing::card("INC-2", desk.clone(), OutMessage::text("P3 card, later P1")),
                Outgoing::post(
                    Destination::Dm(crate::domain::UserId::new(5)),
                    OutMessage::text("survey"),
                ),
                Outgoing::post(desk.clone(), OutMessage::text("a normal post")),
            ],
            &clock,
        )
        .await;
        queue(&store, vec![p1], &clock).await;
        let lanes = testing::texts(
            &store,
            "SELECT id || ':' || lane || ':' || queue FROM outbox ORDER BY id",
        )
        .await;
        assert_eq!(
            lanes,
            [
                "1:1:role:service_desk",
                "2:0:role:service_desk",
                "3:2:dm",
                "4:1:role:service_desk",
                "5:0:role:service_desk"
            ],
            "INC-2's card is raised with the urgent row that waits for it"
        );
        let transport = Scripted::new(Vec::new());
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone());
        assert_eq!(d.deliver_due().await.unwrap(), 5);
        let ids: Vec<i64> = transport.sent.lock().unwrap().iter().map(|s| s.0).collect();
        // One pass takes one row per record: INC-2's second row comes due in the next.
        assert_eq!(
            ids,
            [2, 1, 4, 3, 5],
            "urgent, then normal, then bulk; INC-2's rows in their order"
        );
    }

    #[tokio::test]
    async fn a_new_cards_thread_post_waits_for_its_thread_and_direct_messages_go_several_at_once() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::system();
        let desk = Destination::RoleChannel(RoleKey::parse("service_desk").unwrap());
        let mut items = vec![
            Outgoing::card("INC-1", desk.clone(), OutMessage::text("card")),
            Outgoing::in_thread("INC-1", OutMessage::text("welcome")),
        ];
        items.extend((0..40).map(|u| {
            Outgoing::post(
                Destination::Dm(crate::domain::UserId::new(100 + u)),
                OutMessage::text("notice"),
            )
            .about(format!("OUT-1:dm:{}", 100 + u))
        }));
        queue(&store, items, &clock).await;
        let transport = Arc::new(Paced {
            finish: Duration::from_millis(300),
            ..Arc::into_inner(Paced::new(Destination::Channel("none".into()), Duration::ZERO)).unwrap()
        });
        let d = Dispatcher::new(store.clone(), transport.clone(), clock.clone());
        run_until(&d, || transport.sent.lock().unwrap().len() == 42).await;
        assert_eq!(transport.sent.lock().unwrap().len(), 42);
        assert_eq!(
            *transport.thread_known.lock().unwrap(),
            [(2, true)],
            "the welcome went to the card's thread, not to its channel"
        );
        let most = transport.most.load(Ordering::SeqCst);
        assert!(
            most > 2 && most <= DM_WIDTH as usize + 1,
            "direct messages in flight at once: {most}"
        );
        let mut conn = store.write().await.unwrap();
        assert_eq!(store::outbox::counts(&mut conn).await.unwrap(), (0, 42, 0));
    }
}
