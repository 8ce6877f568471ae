//! The action spine: the one unit of work every command, reaction, ballot and
//! timer firing goes through.
//!
//! [`Desk::transact`] owns the whole choreography, so no handler writes it:
//!
//! 1. it queues the action in the group-commit writer (`writer`), so
//!    commands, reactions, ballots and timers share its batches;
//! 2. it claims the event's identity ([`Claim`]): an inbound event's key, a
//!    vote reaction's state generation, a timer's fired mark; a claim that
//!    finds the identity taken answers [`Outcome::Duplicate`] and changes
//!    nothing;
//! 3. it reads the clock ONCE and runs the body inside a savepoint with an
//!    [`Act`] holding that instant, the transaction, and the audit entries
//!    and outgoing messages the body records;
//! 4. on success it writes the audit and outbox rows in the order recorded and
//!    releases the savepoint; on a refusal it rolls the body back, keeps the
//!    identity and does what the claim's kind asks (a reaction is taken back,
//!    a ballot recorded gone, a refused timer marked done and logged once);
//! 5. only after the batch's COMMIT does it wake the dispatcher and the
//!    scheduler, so neither ever looks for rows that are not yet there.
//!
//! A store error is not a refusal: the writer rolls the action back whole and
//! the caller is told it was not saved.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;

use chrono::{DateTime, Utc};

use super::{writer, Desk, DeskError, DeskResult, Event, Inbound, Outcome};
use crate::domain::audit::{AuditAction, Phrase};
use crate::domain::incident::IncidentId;
use crate::domain::party::Party;
use crate::domain::subject::Subject;
use crate::domain::UserId;
use crate::message::{Lane, Outgoing};
use crate::render;
use crate::store::{self, Conn};

/// One action's context: its transaction (the body's savepoint), the instant
/// it happens at, and what it will write when it succeeds.
pub(crate) struct Act<'a> {
    conn: &'a mut Conn,
    /// The desk the action runs on (its messages are placed by its rules).
    desk: Desk,
    /// The one clock reading of this action: every row it writes carries it.
    pub(crate) now: DateTime<Utc>,
    /// The parties the actor holds towards the action's record, once the
    /// spine has authorized it (`desk/permit.rs`).
    pub(crate) parties: Vec<Party>,
    /// Set while an outage settles its linked incidents: what they are sent
    /// meanwhile leaves a cardless storm report without a card (`storm`).
    pub(crate) keep_cardless: bool,
    records: Vec<Record>,
}

/// One audit entry and the messages queued with it.
struct Record {
    actor: Option<UserId>,
    action: AuditAction,
    subject: String,
    details: Phrase,
    out: Vec<Outgoing>,
    /// [`Act::keep_cardless`] when it was recorded.
    keep_cardless: bool,
}

impl<'a> Act<'a> {
    pub(crate) fn new(conn: &'a mut Conn, now: DateTime<Utc>, desk: &Desk) -> Self {
        Self {
            conn,
            desk: desk.clone(),
            now,
            parties: Vec::new(),
            keep_cardless: false,
            records: Vec::new(),
        }
    }

    /// Whether the actor holds `party` towards this action's record.
    pub(crate) fn holds(&self, party: Party) -> bool {
        self.parties.contains(&party)
    }

    /// Records an audit entry and the messages it sends, written when the
    /// action succeeds (and never if it is refused). `details` completes
    /// "<actor> …" (`took it`): a `render::history` function words it.
    pub(crate) fn record(
        &mut self,
        actor: Option<UserId>,
        action: impl Into<AuditAction>,
        subject: &str,
        details: Phrase,
        out: &[Outgoing],
    ) {
        self.records.push(Record {
            actor,
            action: action.into(),
            subject: subject.to_owned(),
            details,
            out: out.to_vec(),
            keep_cardless: self.keep_cardless,
        });
    }

    /// Queues one message now and returns its outbox id (for a delivery row
    /// that must name it); what was recorded before it is written first, so
    /// messages keep the order the action produced them in. Like every
    /// message, it is placed by `storm::place` (a cardless report's card
    /// comes first); the id is the item's own row.
    pub(crate) async fn enqueue_now(&mut self, item: &Outgoing) -> DeskResult<i64> {
        self.flush().await?;
        let desk = self.desk.clone();
        let keep = self.keep_cardless;
        let mut rows = super::storm::place(&desk, self, vec![item.clone()], keep).await?;
        raise_urgent(self.conn, &mut rows).await?;
        let mut own = None;
        for row in &rows {
            let id = store::outbox::enqueue_one(self.conn, row, self.now).await?;
            if own.is_none() && row.message == item.message {
                own = Some(id);
            }
        }
        match own {
            Some(id) => Ok(id),
            // Dropped (a card row the outage's settling holds back): queued as it was.
            None => Ok(store::outbox::enqueue_one(self.conn, item, self.now).await?),
        }
    }

    /// Writes the recorded audit entries and messages, in order, each
    /// record's messages placed by `storm::place`: the one place a storm
    /// report without a card gets it, whatever addresses it.
    async fn flush(&mut self) -> DeskResult<()> {
        let desk = self.desk.clone();
        for r in std::mem::take(&mut self.records) {
            store::audit::append(self.conn, self.now, r.actor, r.action.as_str(), &r.subject, &r.details).await?;
            let mut out = super::storm::place(&desk, self, r.out, r.keep_cardless).await?;
            raise_urgent(self.conn, &mut out).await?;
            store::outbox::enqueue(self.conn, &out, self.now).await?;
        }
        Ok(())
    }
}

/// Puts what a P1/P2 or major incident sends to channels and threads (its
/// card, its role pings, the accountable's FYI, its thread posts) in the
/// urgent lane: the one place a message's urgency is decided. Everything else
/// keeps the lane of its destination (`Lane::of`: direct messages are bulk).
async fn raise_urgent(conn: &mut Conn, rows: &mut [Outgoing]) -> DeskResult<()> {
    let mut urgent: Vec<(IncidentId, bool)> = Vec::new();
    for row in rows.iter_mut() {
        if row.lane != Lane::Normal {
            continue;
        }
        let Some(id) = row
            .subject
            .as_deref()
            .and_then(Subject::parse)
            .and_then(|s| s.incident())
        else {
            continue;
        };
        let is = match urgent.iter().find(|(i, _)| *i == id) {
            Some((_, is)) => *is,
            None => {
                let is = store::incidents::is_urgent(conn, id).await?;
                urgent.push((id, is));
                is
            }
        };
        if is {
            row.lane = Lane::Urgent;
        }
    }
    Ok(())
}

impl Deref for Act<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl DerefMut for Act<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn
    }
}

/// The future of an action's body, borrowing its context.
pub(crate) type BodyFuture<'c> = Pin<Box<dyn Future<Output = DeskResult<Outcome>> + Send + 'c>>;

/// An action's body. It may run more than once (see `writer`): a run that
/// was undone left nothing behind.
pub(crate) type Body = Box<dyn for<'c, 'a> Fn(&'c mut Act<'a>) -> BodyFuture<'c> + Send + Sync>;

/// How an action's identity is claimed, and what a refusal of its body means.
#[derive(Debug, Clone)]
pub(crate) enum Claim {
    /// An inbound event, by its key; the actor is recorded with it. A refused
    /// reaction is taken back.
    Event(Inbound),
    /// A ✅ ❌ ➖ reaction on a vote card, by reaction state (`desk/cab.rs`).
    /// A refused ballot is taken back and recorded gone at once.
    Ballot {
        inbound: Inbound,
        message_id: String,
        emoji: &'static str,
        added: bool,
    },
    /// A stored timer, by its fired mark. A refusal is logged once and the
    /// timer stays done.
    Timer { id: i64, kind: String, key: String },
}

impl Claim {
    fn inbound(&self) -> Option<&Inbound> {
        match self {
            Claim::Event(inbound) | Claim::Ballot { inbound, .. } => Some(inbound),
            Claim::Timer { .. } => None,
        }
    }

    /// The reacted message, the emoji and whether it was added, for reactions.
    fn reaction(&self) -> Option<(&str, &str, bool)> {
        match self {
            Claim::Event(Inbound {
                event:
                    Event::Reaction {
                        message_id,
                        emoji,
                        added,
                        ..
                    },
                ..
            }) => Some((message_id, emoji.trim_end_matches('\u{FE0F}'), *added)),
            Claim::Ballot {
                message_id,
                emoji,
                added,
                ..
            } => Some((message_id, *emoji, *added)),
            _ => None,
        }
    }
}

impl Desk {
    /// Runs one action through the spine (see the module documentation) and
    /// answers once its batch is committed.
    pub(crate) async fn transact(&self, claim: Claim, body: Body) -> DeskResult<Outcome> {
        let desk = self.clone();
        let body = std::sync::Arc::new(body);
        let job: writer::Job = Box::new(move |conn| {
            let (desk, claim, body) = (desk.clone(), claim.clone(), body.clone());
            Box::pin(async move { desk.unit_of_work(conn, &claim, &body).await })
        });
        let outcome = self.inner.writer.run(self.store(), job).await?;
        if outcome != Outcome::Duplicate {
            // After the COMMIT: the rows the dispatcher and scheduler look for are there.
            self.outbox_ready().notify_one();
            self.timers_changed().notify_one();
        }
        Ok(outcome)
    }

    /// Claims the identity and runs the body in a savepoint, inside the writer's
    /// transaction on `conn`.
    async fn unit_of_work(&self, conn: &mut Conn, claim: &Claim, body: &Body) -> DeskResult<Outcome> {
        let now = self.clock().now();
        match claim {
            Claim::Event(inbound) => {
                if !self.claim_on(conn, inbound, now).await? {
                    return Ok(Outcome::Duplicate);
                }
            }
            Claim::Ballot {
                inbound,
                message_id,
                emoji,
                added,
            } => {
                if let Some(outcome) =
                    super::cab::claim_ballot(self, conn, inbound, message_id, emoji, *added, now).await?
                {
                    return Ok(outcome);
                }
            }
            Claim::Timer { id, .. } => {
                if !store::timers::mark_fired(conn, *id, now).await? {
                    return Ok(Outcome::Duplicate);
                }
            }
        }
        // A reconciliation is audited beside the action; its record is read
        // before the body acts (an answered question is no longer found).
        let reconciled = match (claim.inbound(), claim.reaction()) {
            (Some(inbound), Some((message_id, emoji, added))) => {
                super::reconcile::reconciliation_subject(conn, inbound, message_id)
                    .await?
                    .map(|subject| (inbound.actor.user, subject, emoji.to_owned(), added))
            }
            _ => None,
        };
        let mut savepoint = store::savepoint(conn).await?;
        let mut act = Act::new(&mut savepoint, now, self);
        match body(&mut act).await {
            Ok(outcome) => {
                if let (Some((user, subject, emoji, added)), Outcome::Reply(_)) = (&reconciled, &outcome) {
                    act.record(
                        Some(*user),
                        AuditAction::Reconcile,
                        subject,
                        render::history::reaction_read_back(emoji, *added, false),
                        &[],
                    );
                }
                act.flush().await?;
                drop(act);
                store::commit(savepoint).await?;
                Ok(outcome)
            }
            Err(DeskError::Rejected(text) | DeskError::RejectedReaction(text)) if claim.reaction().is_some() => {
                drop(act);
                store::rollback(savepoint).await?;
                let mut act = Act::new(conn, now, self);
                if let Some((user, subject, emoji, added)) = &reconciled {
                    act.record(
                        Some(*user),
                        AuditAction::Reconcile,
                        subject,
                        render::history::reaction_read_back(emoji, *added, true),
                        &[],
                    );
                    act.flush().await?;
                }
                if let Claim::Ballot {
                    inbound,
                    message_id,
                    emoji,
                    ..
                } = claim
                {
                    // The reaction is taken back: record it gone now, so the
                    // platform's removal event is not a new one.
                    store::reactions::flip(&mut act, message_id, inbound.actor.user, emoji, false).await?;
                }
                Err(DeskError::RejectedReaction(text))
            }
            Err(refusal @ (DeskError::Rejected(_) | DeskError::RejectedReaction(_))) => {
                drop(act);
                store::rollback(savepoint).await?;
                if let Claim::Timer { kind, key, .. } = claim {
                    // Marked done all the same: a refusing rule is not asked again.
                    tracing::warn!(kind = %kind, key = %key, reason = %refusal, "timer refused; marked done");
                    return Ok(Outcome::Ignored);
                }
                Err(refusal)
            }
            Err(e) => Err(e),
        }
    }

    /// Records the event's identity and its actor; false when seen before.
    pub(crate) async fn claim_on(&self, conn: &mut Conn, inbound: &Inbound, now: DateTime<Utc>) -> DeskResult<bool> {
        if !store::events::claim(conn, &inbound.key, now).await? {
            return Ok(false);
        }
        store::users::upsert(conn, inbound.actor.user, &inbound.actor.name, now).await?;
        // Who holds which role, so a board knows its members (see store::roster).
        store::roster::refresh(conn, inbound.actor.user, &inbound.actor.roles, now).await?;
        Ok(true)
    }
}
