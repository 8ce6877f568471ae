//! Outage fan-out through the real outbox dispatcher with injected faults: every
//! subscriber gets each notice once, whatever fails and whenever we restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta};

use super::testkit::{actor, say};
use super::*;
use crate::domain::UserId;
use crate::message::Destination;
use crate::outbox::{Delivered, Delivery, Dispatcher, SendError, Transport};
use crate::store;
use crate::store::testing::{self, temp_store};

const SUBSCRIBERS: u64 = 300;
/// The subscriber whose DMs are closed.
const CLOSED: u64 = 1_000 + 77;

/// A Discord stand-in: fails about 20 % of first DM attempts (alternating a
/// 429 with retry-after and a 500), refuses the closed user for good, and
/// stops accepting (as if the process died) after `budget` deliveries.
#[derive(Default)]
struct FaultyDiscord {
    state: Mutex<FaultState>,
}

#[derive(Default)]
struct FaultState {
    /// (user, first line of the DM) → deliveries.
    dms: HashMap<(u64, String), u32>,
    attempts: HashMap<i64, u32>,
    budget: Option<usize>,
    delivered: usize,
    next_id: u64,
}

impl Transport for FaultyDiscord {
    async fn deliver(&self, d: &Delivery<'_>) -> Result<Delivered, SendError> {
        let mut s = self.state.lock().unwrap();
        if s.budget.is_some_and(|b| s.delivered >= b) {
            return Err(SendError::Retry {
                after: Some(Duration::from_secs(3600)),
                reason: "process stopped".into(),
            });
        }
        let attempt = {
            let a = s.attempts.entry(d.id).or_default();
            *a += 1;
            *a
        };
        if let Destination::Dm(user) = d.destination {
            if user.get() == CLOSED {
                return Err(SendError::Unreachable(format!(
                    "dms closed ({})",
                    crate::discord::DMS_CLOSED
                )));
            }
            if attempt == 1 && user.get() % 5 == 0 {
                return Err(if user.get() % 10 == 0 {
                    SendError::Retry {
                        after: Some(Duration::from_secs(2)),
                        reason: "HTTP 429".into(),
                    }
                } else {
                    SendError::Retry {
                        after: None,
                        reason: "HTTP 500".into(),
                    }
                });
            }
            let first_line = d.message.text.lines().next().unwrap_or_default().to_owned();
            *s.dms.entry((user.get(), first_line)).or_default() += 1;
        }
        s.delivered += 1;
        s.next_id += 1;
        Ok(Delivered {
            channel_id: "c".into(),
            message_id: s.next_id.to_string(),
            thread_id: None,
        })
    }
}

/// Delivers until nothing is pending, moving the clock past every retry.
async fn drain<T: Transport>(desk: &Desk, d: &Dispatcher<T>) -> (i64, i64, i64) {
    for _ in 0..30 {
        d.deliver_due().await.unwrap();
        let counts = {
            let mut c = desk.store().write().await.unwrap();
            store::outbox::counts(&mut c).await.unwrap()
        };
        if counts.0 == 0 {
            return counts;
        }
        desk.clock().advance(TimeDelta::minutes(10));
    }
    panic!("the outbox never drained");
}

async fn setup() -> (Desk, tempfile::TempDir, Vec<UserId>) {
    let (store, dir) = temp_store().await;
    let clock = Clock::fixed(DateTime::from_timestamp(1_700_000_000, 0).unwrap());
    let desk = Desk::new(store, Policy::defaults(), clock);
    let users: Vec<UserId> = (1_001..=1_000 + SUBSCRIBERS).map(UserId::new).collect();
    let mut tx = desk.store().begin().await.unwrap();
    for u in &users {
        store::users::upsert(&mut tx, *u, &format!("user{u}"), desk.clock().now())
            .await
            .unwrap();
        store::subscriptions::subscribe(&mut tx, "email", *u, desk.clock().now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    (desk, dir, users)
}

#[tokio::test]
async fn every_subscriber_gets_each_notice_once_despite_429s_500s_and_closed_dms() {
    let (desk, _dir, users) = setup().await;
    let sam = actor("sam", &["service_desk"]);
    let reply = say(&desk, "1", &sam, "!outage email Mail is down impact=major").await;
    assert!(
        reply.text.contains("300 subscribers will be messaged"),
        "{}",
        reply.text
    );

    let transport = Arc::new(FaultyDiscord::default());
    let d = Dispatcher::new(desk.store().clone(), transport.clone(), desk.clock().clone());
    let (_, _, failed) = drain(&desk, &d).await;
    assert_eq!(failed, 1, "only the closed DM fails");

    let outage = crate::domain::outage::OutageId::parse("OUT-1").unwrap();
    let counts = {
        let mut c = desk.store().write().await.unwrap();
        store::outages::delivery_counts(&mut c, outage).await.unwrap()
    };
    assert_eq!(
        counts,
        crate::domain::outage::DeliveryCounts {
            queued: 300,
            delivered: 299,
            pending: 0,
            unreachable: 1,
            lost: 0
        }
    );
    // The closed user is recorded as unreachable and skipped from now on.
    let reachable = {
        let mut c = desk.store().write().await.unwrap();
        store::subscriptions::reachable(&mut c, "email").await.unwrap()
    };
    assert_eq!(reachable.len(), 299);
    assert!(!reachable.contains(&UserId::new(CLOSED)));

    // The closed user sees why, and subscribing again re-enables them.
    let closed = Actor {
        user: UserId::new(CLOSED),
        name: "closed".into(),
        roles: Vec::new(),
    };
    let r = say(&desk, "s1", &closed, "!subscriptions").await;
    assert!(r.text.contains("I could not message you since"), "{}", r.text);
    let r = say(&desk, "s2", &closed, "!subscribe email").await;
    assert!(r.text.starts_with("Subscribed to Email again"), "{}", r.text);
    say(&desk, "s3", &closed, "!unsubscribe email").await;

    let reply = say(&desk, "2", &sam, "!outage update OUT-1 Queue draining").await;
    assert!(
        reply.text.contains("299 subscribers will be messaged"),
        "{}",
        reply.text
    );
    let reply = say(&desk, "3", &sam, "!outage resolve OUT-1 Fixed").await;
    assert!(
        reply.text.contains("299 subscribers will be messaged"),
        "{}",
        reply.text
    );
    let (_, _, failed) = drain(&desk, &d).await;
    assert_eq!(failed, 1, "the closed user was not tried again");

    let s = transport.state.lock().unwrap();
    for u in users.iter().filter(|u| u.get() != CLOSED) {
        let got = |prefix: &str| {
            s.dms
                .iter()
                .filter(|((user, line), _)| *user == u.get() && line.starts_with(prefix))
                .map(|(_, n)| *n)
                .sum::<u32>()
        };
        assert_eq!(got("🔴 OUT-1"), 1, "declare to {u}");
        assert_eq!(got("Update on"), 1, "update to {u}");
        assert_eq!(got("✅ Email is back"), 1, "resolve to {u}");
    }
    assert!(s.dms.keys().all(|(u, _)| *u != CLOSED));
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_fan_out_delivers_the_rest_and_nobody_twice() {
    let (desk, _dir, users) = setup().await;
    let sam = actor("sam", &["service_desk"]);
    say(&desk, "1", &sam, "!outage email Mail is down").await;

    // The first process delivers 120 messages, then stops answering.
    let first = Arc::new(FaultyDiscord::default());
    first.state.lock().unwrap().budget = Some(120);
    {
        let d = Dispatcher::new(desk.store().clone(), first.clone(), desk.clock().clone());
        d.deliver_due().await.unwrap();
    }
    let pending_after_crash = {
        let mut c = desk.store().write().await.unwrap();
        store::outbox::counts(&mut c).await.unwrap().0
    };
    assert!(pending_after_crash > 100, "{pending_after_crash}");

    // A new process (new dispatcher, new transport) on the same database.
    let second = Arc::new(FaultyDiscord::default());
    let d = Dispatcher::new(desk.store().clone(), second.clone(), desk.clock().clone());
    desk.clock().advance(TimeDelta::hours(2));
    drain(&desk, &d).await;

    let a = first.state.lock().unwrap();
    let b = second.state.lock().unwrap();
    for u in users.iter().filter(|u| u.get() != CLOSED) {
        let n: u32 = a
            .dms
            .iter()
            .chain(b.dms.iter())
            .filter(|((user, _), _)| *user == u.get())
            .map(|(_, n)| *n)
            .sum();
        assert_eq!(n, 1, "subscriber {u}");
    }
    assert!(!a.dms.is_empty() && !b.dms.is_empty());
}

#[tokio::test]
async fn refused_outage_actions_change_nothing() {
    let (desk, _dir, _) = setup().await;
    let sam = actor("sam", &["service_desk"]);
    let alice = actor("alice", &[]);
    say(&desk, "1", &sam, "!outage vpn Tunnel drops").await;
    let outbox_rows = || testing::scalar(desk.store(), "SELECT COUNT(*) FROM outbox");
    let before = outbox_rows().await;
    let cases = [
        ("2", &alice, "!outage email down", "Only Service Desk"),
        ("3", &sam, "!outage emial down", "Did you mean `email`?"),
        ("4", &sam, "!outage vpn again", "already has an active outage, OUT-1"),
        ("5", &alice, "!outage update OUT-1 nope", "declared by someone else"),
        ("6", &alice, "!outage resolve OUT-1", "declared by someone else"),
        ("7", &sam, "!outage update OUT-9 x", "OUT-9 does not exist"),
        (
            "8",
            &sam,
            &format!("!outage email {}", "x".repeat(301)),
            "the limit is 300",
        ),
    ];
    for (key, who, line, expected) in cases {
        let r = say(&desk, key, who, line).await;
        assert!(r.private && r.text.contains(expected), "{line}: {}", r.text);
    }
    assert_eq!(outbox_rows().await, before, "refusals queue nothing");
    say(&desk, "9", &sam, "!outage resolve OUT-1").await;
    let after_resolve = outbox_rows().await;
    let r = say(&desk, "10", &sam, "!outage resolve OUT-1 again").await;
    assert!(r.text.starts_with("OUT-1 is already resolved"), "{}", r.text);
    let r = say(&desk, "11", &sam, "!outage update OUT-1 late news").await;
    assert!(r.text.starts_with("OUT-1 is already resolved"), "{}", r.text);

    let outages = testing::scalar(desk.store(), "SELECT COUNT(*) FROM outages").await;
    let notices = testing::scalar(desk.store(), "SELECT COUNT(*) FROM outage_notices").await;
    let audit = testing::scalar(desk.store(), "SELECT COUNT(*) FROM audit WHERE subject LIKE 'OUT-%'").await;
    assert_eq!((outages, notices, audit), (1, 2, 2));
    // The resolve queued the card edit, the all-clear, the responsible role and
    // one FYI (owner and informed roles share #incident-management); vpn has no
    // subscribers. The refusals after it queued nothing.
    assert_eq!(after_resolve - before, 4);
    assert_eq!(outbox_rows().await, after_resolve);
}
