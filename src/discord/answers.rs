//! Direct answers to whoever acted: replies in the channel, private words by
//! direct message, and interaction responses. They are sent at once, not
//! through the outbox, but count against the same global budget as the
//! outbox (first in line when it is spent: [`Class::Answer`]), and a 429 is
//! waited out for Discord's own `retry_after` (the pacer holds the channel,
//! or everything after a global 429, so the outbox waits too) before the
//! answer is tried again, at most [`ANSWER_ATTEMPTS`] times.
//!
//! Interaction callbacks and webhooks (follow-ups, the deferred answer's
//! edit) are not counted against the global budget, as on Discord, but
//! honour a 429's wait the same way.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    ApplicationId, ChannelId, CreateInteractionResponse, CreateInteractionResponseFollowup, CreateMessage,
    EditInteractionResponse, InteractionId, Message,
};
use serenity::http::{LightMethod, Route};

use super::pace::{Class, Pacer};
use super::transport::{snowflake, Body, Poster, Refused};
use crate::outbox::SendError;

/// How many times a direct answer (a reply, a private word, an interaction
/// response) is tried when Discord asks for a retry (429, 5xx, network).
pub(super) const ANSWER_ATTEMPTS: u32 = 6;

/// The wait before retry `n` (1-based) of a direct answer that failed
/// without saying how long to wait: 200 ms doubling.
fn answer_backoff(n: u32) -> Duration {
    Duration::from_millis(200u64 << n.min(4))
}

/// The longest a 429 on an interaction is waited out: its token expires
/// (the first response within 3 s), so a longer wait is no answer.
const INTERACTION_WAIT: Duration = Duration::from_secs(2);

/// Sends direct answers (see the module documentation).
pub(super) struct Answers {
    pacer: Arc<Pacer>,
    poster: Arc<Poster>,
}

/// What one request is paced against.
#[derive(Clone, Copy)]
enum Pace {
    /// The global budget, and the channel's when given.
    Budget(Option<u64>),
    /// Nothing (interaction callbacks and webhooks).
    Exempt,
}

impl Answers {
    pub(super) fn new(pacer: Arc<Pacer>, poster: Arc<Poster>) -> Self {
        Self { pacer, poster }
    }

    /// Posts `msg` in `channel`; returns the new message's id.
    pub(super) async fn message(&self, channel: ChannelId, msg: &CreateMessage) -> Result<u64, SendError> {
        let body = encode(msg)?;
        let route = || Route::ChannelMessages { channel_id: channel };
        let sent = self
            .send(Pace::Budget(Some(channel.get())), LightMethod::Post, &body, route)
            .await?;
        snowflake(&sent, "message")
    }

    /// Opens (or finds) the direct-message channel with `user`.
    pub(super) async fn dm_channel(&self, user: u64) -> Result<ChannelId, SendError> {
        let body = encode(&serde_json::json!({ "recipient_id": user.to_string() }))?;
        let opened = self
            .send(Pace::Budget(None), LightMethod::Post, &body, || Route::UserMeDmChannels)
            .await?;
        snowflake(&opened, "channel").map(ChannelId::new)
    }

    /// An interaction's first response (a message, a deferral or a form).
    pub(super) async fn respond(
        &self,
        interaction: InteractionId,
        token: &str,
        response: &CreateInteractionResponse,
    ) -> Result<(), SendError> {
        let body = encode(response)?;
        let route = || Route::InteractionResponse {
            interaction_id: interaction,
            token,
        };
        self.send(Pace::Exempt, LightMethod::Post, &body, route).await.map(drop)
    }

    /// Fills in a deferred interaction's answer.
    pub(super) async fn edit_original(
        &self,
        application: ApplicationId,
        token: &str,
        edit: &EditInteractionResponse,
    ) -> Result<(), SendError> {
        let body = encode(edit)?;
        let route = || Route::WebhookOriginalInteractionResponse {
            application_id: application,
            token,
        };
        self.send(Pace::Exempt, LightMethod::Patch, &body, route)
            .await
            .map(drop)
    }

    /// One more message of an interaction's answer.
    pub(super) async fn followup(
        &self,
        application: ApplicationId,
        token: &str,
        followup: &CreateInteractionResponseFollowup,
    ) -> Result<(), SendError> {
        let body = encode(followup)?;
        let route = || Route::WebhookFollowupMessages {
            application_id: application,
            token,
        };
        self.send(Pace::Exempt, LightMethod::Post, &body, route).await.map(drop)
    }

    /// Sends one request, paced by `pace`, trying again what Discord asks to
    /// be tried again: after its `retry_after` on a 429, else after a backoff.
    async fn send<'r>(
        &self,
        pace: Pace,
        method: LightMethod,
        body: &[u8],
        route: impl Fn() -> Route<'r>,
    ) -> Result<serde_json::Value, SendError> {
        let mut attempt = 1;
        loop {
            // The slot is held until the answer is in (see `pace::Slot`).
            let _slot = match pace {
                Pace::Budget(channel) => Some(self.pacer.acquire(channel, Class::Answer).await),
                Pace::Exempt => None,
            };
            let refused = match self.poster.request(route(), method, Body::Json(body.to_vec())).await {
                Ok(answer) => return Ok(answer),
                Err(refused) if attempt >= ANSWER_ATTEMPTS => return Err(refused.into()),
                Err(refused) => refused,
            };
            match (refused, pace) {
                // The pacer holds for the wait, so the outbox waits with us.
                (Refused::RateLimited(limit), Pace::Budget(channel)) => {
                    if !limit.hold(&self.pacer, channel) {
                        tokio::time::sleep(limit.after).await;
                    }
                }
                (Refused::RateLimited(limit), Pace::Exempt) => {
                    tokio::time::sleep(limit.after.min(INTERACTION_WAIT)).await;
                }
                (Refused::Failed(SendError::Retry { .. }), _) => tokio::time::sleep(answer_backoff(attempt)).await,
                (Refused::Failed(e), _) => return Err(e),
            }
            tracing::debug!(attempt, "answer refused for now; trying again");
            attempt += 1;
        }
    }
}

impl Answers {
    /// Sends a direct answer; the nonce keeps a retry whose first try did
    /// land from showing the message twice.
    pub(super) async fn reliably(&self, channel: ChannelId, msg: CreateMessage, nonce: &str) -> Result<u64, SendError> {
        let msg = msg
            .nonce(serenity::all::Nonce::String(crate::render::truncate(nonce, 25)))
            .enforce_nonce(true);
        self.message(channel, &msg).await
    }

    /// Sends an answer of any length: split into messages within Discord's
    /// limit, the first replying to `reference`. Part `i` has nonce
    /// `<nonce>-<i>`, so a retry never doubles one.
    pub(super) async fn parts(
        &self,
        channel: ChannelId,
        text: &str,
        nonce: &str,
        reference: Option<&Message>,
    ) -> Result<(), SendError> {
        for (i, part) in crate::render::split(text, crate::render::MESSAGE_LIMIT)
            .iter()
            .enumerate()
        {
            let mut out = super::plain(part);
            if let (0, Some(m)) = (i, reference) {
                out = out.reference_message(m);
            }
            self.reliably(channel, out, &format!("{nonce}-{i}")).await?;
        }
        Ok(())
    }
}

fn encode(body: &impl serde::Serialize) -> Result<Vec<u8>, SendError> {
    serde_json::to_vec(body).map_err(|e| SendError::Permanent(format!("unencodable answer: {e}")))
}
