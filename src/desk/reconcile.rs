//! Catching up after downtime. Discord does not replay a dead process's
//! events, nor those of the gap after an invalid session, so on start and
//! after every new session the adapter reads back the reactions that can still
//! change something — ✅ ❌ ➖ on open vote cards, ✋ on unclaimed incident
//! cards, 👍 👎 on open satisfaction questions — and hands each difference to
//! the desk as one more inbound event whose key is a reconciliation identity
//! (`reconcile:…`). It then takes the same path as a live reaction (the same
//! permissions, one transaction per change), and the change is audited as a
//! `reconcile` row beside the action's own. Vote reactions are deduplicated by
//! reaction state as always, so a reconciliation that finds the state already
//! as Discord holds it changes nothing, and a change is counted once.

use super::emoji::Emoji;
use super::{Desk, DeskResult, Inbound, Outcome};
use crate::domain::cab::Choice;
use crate::domain::UserId;
use crate::store::{self, Conn};

/// The key prefix of a reconciliation event.
pub const RECONCILE: &str = "reconcile:";

/// What kind of reactions a watched message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A vote card: a ballot is whether the reaction is on the card, added or removed.
    Vote,
    /// An unclaimed card or an open question: only a reaction added counts.
    Added,
}

/// A message whose reactions are read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub channel_id: String,
    pub message_id: String,
    pub emojis: Vec<&'static str>,
    pub watch: Watch,
}

impl Desk {
    /// The messages whose reactions may hold what the bot missed.
    pub async fn reconciliation_targets(&self) -> Vec<Watched> {
        match targets(self).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "could not list what to reconcile");
                Vec::new()
            }
        }
    }

    /// Who the desk has recorded with `emoji` on `message` (vote cards).
    pub async fn recorded_reactors(&self, message_id: &str, emoji: &str) -> Vec<UserId> {
        let result = async {
            let mut conn = self.store().read().await?;
            Ok::<_, super::DeskError>(store::reactions::present(&mut conn, message_id, emoji).await?)
        }
        .await;
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not read recorded reactions");
            Vec::new()
        })
    }

    /// Hands one difference found by reconciliation to the desk: the same as
    /// [`Desk::handle`], with the event's key made a reconciliation identity.
    pub async fn reconcile(&self, mut inbound: Inbound) -> Outcome {
        if !inbound.key.starts_with(RECONCILE) {
            inbound.key = format!("{RECONCILE}{}", inbound.key);
        }
        self.handle(inbound).await
    }
}

pub(crate) async fn targets(desk: &Desk) -> DeskResult<Vec<Watched>> {
    let mut conn = desk.store().read().await?;
    let (votes, unclaimed) = store::cards::awaiting_reactions(&mut conn).await?;
    let questions = store::surveys::open_questions(&mut conn).await?;
    let votes = votes.into_iter().map(|(c, m)| Watched {
        channel_id: c,
        message_id: m,
        emojis: Choice::ALL.iter().map(|c| c.emoji()).collect(),
        watch: Watch::Vote,
    });
    let claims = unclaimed.into_iter().map(|(c, m)| Watched {
        channel_id: c,
        message_id: m,
        emojis: vec![Emoji::Claim.as_str()],
        watch: Watch::Added,
    });
    let answers = questions.into_iter().map(|(c, m)| Watched {
        channel_id: c,
        message_id: m,
        emojis: vec![Emoji::Fixed.as_str(), Emoji::NotFixed.as_str()],
        watch: Watch::Added,
    });
    Ok(votes.chain(claims).chain(answers).collect())
}

/// The record a reconciliation event is about (read before it acts: an
/// answered question is no longer found); `None` for a live event.
pub(crate) async fn reconciliation_subject(
    tx: &mut Conn,
    inbound: &Inbound,
    message_id: &str,
) -> DeskResult<Option<String>> {
    if !inbound.key.starts_with(RECONCILE) {
        return Ok(None);
    }
    Ok(Some(match store::cards::by_message(tx, message_id).await? {
        Some(card) => card.subject,
        None => match store::surveys::open_by_message(tx, message_id).await? {
            Some(id) => id.to_string(),
            None => format!("message {message_id}"),
        },
    }))
}
