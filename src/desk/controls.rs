//! What the chat controls (buttons and forms, see `message::CardAction`)
//! need from the desk beyond the commands they stand for: a press that
//! only opens a form is claimed (a replay opens nothing), checked against
//! the command's parties first (a refusal before the form, not after it),
//! and "why can't I vote?" is answered from the CAB eligibility rules.
//! A press that performs a command goes through [`Desk::handle`] as the
//! typed command does.

use super::act::{Act, Body, Claim};
use super::{permit, Actor, Desk, DeskError, Event, Inbound, Outcome, Reply};
use crate::command::Command;
use crate::domain::change::ChangeId;
use crate::render;
use crate::store;

impl Desk {
    /// Records `key` as seen for `actor`; false when it was seen before (a
    /// replayed press), or the desk cannot say.
    pub async fn first_time(&self, key: &str, actor: &Actor) -> bool {
        let inbound = Inbound {
            key: key.to_owned(),
            actor: actor.clone(),
            channel: None,
            event: Event::Line(String::new()),
        };
        let body: Body = Box::new(|_| Box::pin(async { Ok(Outcome::Ignored) }));
        match self.transact(Claim::Event(inbound), body).await {
            Ok(outcome) => outcome != Outcome::Duplicate,
            Err(e) => {
                tracing::error!(error = %e, "could not record a press");
                false
            }
        }
    }

    /// The refusal `cmd` would get from `actor` (the same words as the
    /// command's), or `None` when they may run it. A look only: the command
    /// is checked again when it runs.
    pub async fn refusal(&self, actor: &Actor, cmd: &Command) -> Option<String> {
        let result = async {
            let mut conn = self.store().read().await?;
            let mut act = Act::new(&mut conn, self.clock().now(), self);
            permit::authorize(self, &mut act, actor, cmd).await
        }
        .await;
        match result {
            Ok(()) => None,
            Err(DeskError::Rejected(text) | DeskError::RejectedReaction(text)) => Some(text),
            Err(DeskError::Store(e)) => {
                tracing::error!(error = %e, "could not check a press");
                Some(render::unexpected())
            }
        }
    }

    /// Whether `actor` may vote on `change`'s vote and, if not, why: the
    /// eligibility rules a ballot is checked against. Private; a replay is
    /// not answered twice.
    pub async fn why_no_vote(&self, key: &str, actor: &Actor, change: ChangeId) -> Outcome {
        if !self.first_time(key, actor).await {
            return Outcome::Duplicate;
        }
        let result = async {
            let mut conn = self.store().read().await?;
            let vote = store::cab::get(&mut conn, change).await?;
            let ch = store::changes::get(&mut conn, change).await?;
            Ok::<_, DeskError>((vote, ch))
        }
        .await;
        let text = match result {
            Ok((Some(vote), Some(ch))) => render::why_no_vote(self.policy(), &ch, &vote, actor.user, &actor.roles),
            Ok(_) => render::no_vote_on(change),
            Err(e) => {
                tracing::error!(error = %e, "could not read a vote");
                render::unexpected()
            }
        };
        Outcome::Reply(Reply::private(text))
    }
}
