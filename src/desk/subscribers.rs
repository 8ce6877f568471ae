//! Direct messages to the subscribers of a service: the one path every
//! subscriber notice takes, an outage's declaration, updates and resolution
//! and a change's planned outage notice alike.
//!
//! In the action's transaction, each reachable subscriber not yet queued the
//! notice gets one outbox row, recorded against the notice
//! (`store::notices`), so a notice sent again reaches nobody twice. The outbox
//! delivers them independently, paced by the transport, retried on failure
//! and resumed after a restart; when a subscriber's DMs turn out to be closed,
//! the dispatcher finds them through that record and marks them unreachable,
//! and later notices skip them.

use super::act::Act;
use super::DeskResult;
use crate::domain::subject::Subject;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::store;
use crate::store::notices::NoticeRef;

/// Queues `text` by direct message for `notice` to every reachable subscriber
/// of `service` who was not queued it yet, recording each delivery; returns
/// how many were queued.
pub(crate) async fn dm_subscribers(
    tx: &mut Act<'_>,
    notice: NoticeRef,
    service: &str,
    text: &str,
) -> DeskResult<usize> {
    let record = match notice {
        NoticeRef::Outage { outage, .. } => Subject::Outage(outage),
        NoticeRef::Change { change, .. } => Subject::Change(change),
    };
    let users = store::notices::recipients(tx, notice, service).await?;
    for user in &users {
        // A subject per recipient: one subscriber's failed message never
        // holds back the others, and keeps their own messages in order.
        let item = Outgoing::post(Destination::Dm(*user), OutMessage::text(text))
            .about(Subject::Dm(Box::new(record.clone()), *user).to_string());
        let outbox_id = tx.enqueue_now(&item).await?;
        store::notices::record_delivery(tx, notice, *user, outbox_id).await?;
    }
    Ok(users.len())
}
