//! The planned outage notice of a change reaches subscribers through the same
//! path as an outage's notices: through the real outbox dispatcher, once per
//! notice, and a subscriber whose DMs are closed is skipped from then on.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use super::testkit::{actor, say};
use super::*;
use crate::domain::UserId;
use crate::message::Destination;
use crate::outbox::{Delivered, Delivery, Dispatcher, SendError, Transport};
use crate::store::testing::{self, temp_store};

fn start() -> DateTime<Utc> {
    // On a whole minute, as typed windows are.
    DateTime::from_timestamp(1_899_999_960, 0).unwrap()
}

/// A chat stand-in: delivers everything, except direct messages to users
/// whose DMs are closed, which it refuses as Discord does (50007).
struct Inboxes {
    closed: Vec<UserId>,
    /// Direct messages delivered: (user, text).
    dms: Mutex<Vec<(UserId, String)>>,
    /// Direct messages refused, by user, one entry per attempt.
    refused: Mutex<Vec<UserId>>,
    next_id: Mutex<u64>,
}

impl Inboxes {
    fn closed_for(closed: &[UserId]) -> Arc<Self> {
        Arc::new(Self {
            closed: closed.to_vec(),
            dms: Mutex::default(),
            refused: Mutex::default(),
            next_id: Mutex::default(),
        })
    }

    /// The direct messages `user` received, oldest first.
    fn dms_to(&self, user: UserId) -> Vec<String> {
        let dms = self.dms.lock().unwrap();
        dms.iter().filter(|(u, _)| *u == user).map(|(_, t)| t.clone()).collect()
    }

    fn refused(&self) -> Vec<UserId> {
        self.refused.lock().unwrap().clone()
    }
}

impl Transport for Inboxes {
    async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
        if let Destination::Dm(user) = d.destination {
            if self.closed.contains(user) {
                self.refused.lock().unwrap().push(*user);
                return Err(SendError::Unreachable(format!(
                    "dms closed ({})",
                    crate::discord::DMS_CLOSED
                )));
            }
            self.dms.lock().unwrap().push((*user, d.message.text.clone()));
        }
        let mut next = self.next_id.lock().unwrap();
        *next += 1;
        Ok(Delivered {
            channel_id: "c".into(),
            message_id: next.to_string(),
            thread_id: None,
        })
    }
}

/// A desk whose clock stands at `start()`, `subscribers` subscribed to email,
/// and a standard change to email filed with a window two days ahead: its
/// planned outage notice falls due a day before the window.
async fn desk_with_planned_change(subscribers: &[&Actor]) -> (Desk, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(start()));
    for (i, who) in subscribers.iter().enumerate() {
        let r = say(&desk, &format!("sub{i}"), who, "!subscribe email").await;
        assert!(r.text.starts_with("Subscribed to Email"), "{}", r.text);
    }
    let f = |h: i64| (start() + TimeDelta::hours(h)).format("%Y-%m-%dT%H:%M").to_string();
    let sam = actor("sam", &["service_desk"]);
    let line = format!(
        "!change Restart the mail relay service=email risk=low type=standard window={}..{}",
        f(48),
        f(50)
    );
    let r = say(&desk, "change", &sam, &line).await;
    assert!(r.text.contains("scheduled now"), "{}", r.text);
    (desk, dir)
}

#[tokio::test]
async fn a_planned_change_notice_that_finds_dms_closed_marks_the_subscriber_unreachable_and_the_next_notice_skips_them()
{
    let (ann, bea, cal) = (actor("ann", &[]), actor("bea", &[]), actor("cal", &[]));
    let (desk, _dir) = desk_with_planned_change(&[&ann, &bea, &cal]).await;
    let inboxes = Inboxes::closed_for(&[cal.user]);
    let d = Dispatcher::new(desk.store().clone(), inboxes.clone(), desk.clock().clone());
    d.deliver_due().await.unwrap();

    desk.clock().advance(TimeDelta::hours(24));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    d.deliver_due().await.unwrap();
    for who in [&ann, &bea] {
        let got = inboxes.dms_to(who.user);
        assert_eq!(got.len(), 1, "{}: {got:?}", who.name);
        assert!(
            got[0].starts_with("Planned outage: Email may be unavailable"),
            "{got:?}"
        );
    }
    assert_eq!(inboxes.refused(), [cal.user]);

    // cal is recorded as unreachable, and sees why.
    let r = say(&desk, "subs", &cal, "!subscriptions").await;
    assert!(r.text.contains("I could not message you since"), "{}", r.text);

    // The next notice of the service skips cal.
    let sam = actor("sam", &["service_desk"]);
    let r = say(&desk, "outage", &sam, "!outage email Mail is down").await;
    assert!(r.text.contains("2 subscribers will be messaged"), "{}", r.text);
    d.deliver_due().await.unwrap();
    assert_eq!(inboxes.refused(), [cal.user], "cal was not tried again");
    for who in [&ann, &bea] {
        assert_eq!(inboxes.dms_to(who.user).len(), 2, "{}", who.name);
    }
    assert_eq!(
        testing::scalar(
            desk.store(),
            "SELECT COUNT(*) FROM outbox WHERE failure = 'unreachable'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_planned_change_notice_sent_again_reaches_each_subscriber_once() {
    let (ann, bea) = (actor("ann", &[]), actor("bea", &[]));
    let (desk, _dir) = desk_with_planned_change(&[&ann, &bea]).await;
    desk.clock().advance(TimeDelta::hours(24));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    // The notice's rule runs again for the same notice, as a retried action
    // would: its timer is armed again by hand.
    testing::exec(
        desk.store(),
        "UPDATE timers SET fired_at = NULL WHERE kind = 'change_notice'",
    )
    .await;
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);

    let inboxes = Inboxes::closed_for(&[]);
    let d = Dispatcher::new(desk.store().clone(), inboxes.clone(), desk.clock().clone());
    d.deliver_due().await.unwrap();
    for who in [&ann, &bea] {
        let got = inboxes.dms_to(who.user);
        assert_eq!(got.len(), 1, "{}: {got:?}", who.name);
        assert!(
            got[0].starts_with("Planned outage: Email may be unavailable"),
            "{got:?}"
        );
    }
    assert_eq!(
        testing::scalar(
            desk.store(),
            "SELECT COUNT(*) FROM notice_deliveries WHERE change_notice_id IS NOT NULL"
        )
        .await,
        2
    );
}
