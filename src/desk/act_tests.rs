//! The action spine: one clock reading per action, a refused timer marked
//! done, ballots in group commit, and wake-ups only after the COMMIT.

use std::time::Duration;

use chrono::{DateTime, TimeDelta};

use super::act::{Body, Claim};
use super::testkit::{actor, line};
use super::*;
use crate::store::testing::{scalar, temp_store, texts};

fn start() -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

#[tokio::test]
async fn every_row_one_action_writes_carries_the_same_instant() {
    let (store, _dir) = temp_store().await;
    // Every reading of this clock is 1 ms later than the one before.
    let desk = Desk::new(
        store,
        Policy::defaults(),
        Clock::ticking(start(), TimeDelta::milliseconds(1)),
    );
    let out = desk
        .handle(line(
            "k1",
            &actor("rita", &[]),
            "!incident email is down impact=high urgency=high",
        ))
        .await;
    assert!(matches!(&out, Outcome::Reply(r) if !r.private), "{out:?}");
    let instants = texts(
        desk.store(),
        "SELECT DISTINCT CAST(t AS TEXT) FROM (
            SELECT received_at AS t FROM inbound_events
            UNION ALL SELECT created_at FROM incidents
            UNION ALL SELECT at FROM audit
            UNION ALL SELECT created_at FROM outbox) AS every_instant",
    )
    .await;
    assert_eq!(instants.len(), 1, "one action, one instant: {instants:?}");
    assert!(scalar(desk.store(), "SELECT COUNT(*) FROM outbox").await >= 1);
}

#[tokio::test]
async fn a_timer_whose_rule_refuses_is_marked_done_and_what_it_began_is_undone() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(start()));
    crate::store::testing::exec(
        desk.store(),
        &format!(
            "INSERT INTO timers (kind, key, subject, due_at, payload) VALUES ('test_refuses', 'k', 'INC-1', {}, '{{}}')",
            start().timestamp_millis() - 1
        ),
    )
    .await;
    let id = scalar(desk.store(), "SELECT id FROM timers").await;
    let claim = Claim::Timer {
        id,
        kind: "test_refuses".into(),
        key: "k".into(),
    };
    let body = || -> Body {
        Box::new(|act| {
            Box::pin(async move {
                act.record(
                    None,
                    crate::domain::audit::AuditAction::CabClose,
                    "INC-1",
                    crate::domain::audit::Phrase::new("wrote this, then was refused"),
                    &[],
                );
                rejected("this rule refuses")
            })
        })
    };
    assert_eq!(desk.transact(claim.clone(), body()).await.unwrap(), Outcome::Ignored);
    assert_eq!(
        scalar(desk.store(), "SELECT COUNT(*) FROM timers WHERE fired_at IS NOT NULL").await,
        1
    );
    assert_eq!(
        scalar(desk.store(), "SELECT COUNT(*) FROM audit").await,
        0,
        "the body was rolled back"
    );
    // Not selected again, and a second firing is a replay.
    let mut conn = desk.store().read().await.unwrap();
    assert!(crate::store::timers::due(&mut conn, start(), 10)
        .await
        .unwrap()
        .is_empty());
    drop(conn);
    assert_eq!(desk.transact(claim, body()).await.unwrap(), Outcome::Duplicate);
}

#[tokio::test]
async fn the_dispatcher_is_woken_only_after_the_commit_that_made_the_rows() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(start()));
    let turn = desk.inner.writer.hold_turn().await;
    let woken = desk.outbox_ready().notified();
    tokio::pin!(woken);
    let task = tokio::spawn({
        let desk = desk.clone();
        async move {
            desk.handle(line("k1", &actor("rita", &[]), "!incident printer jam"))
                .await
        }
    });
    // Queued behind the held writer: nothing committed, nobody woken.
    while desk.inner.writer.queued() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(tokio::time::timeout(Duration::from_millis(100), &mut woken)
        .await
        .is_err());
    drop(turn);
    tokio::time::timeout(Duration::from_secs(10), &mut woken)
        .await
        .expect("woken after the commit");
    assert!(
        scalar(desk.store(), "SELECT COUNT(*) FROM outbox").await >= 1,
        "the rows were there"
    );
    task.await.unwrap();
}

#[tokio::test]
async fn reactions_are_committed_by_the_group_writer() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(start()));
    let rita = actor("rita", &[]);
    desk.handle(line("k1", &rita, "!incident printer jam")).await;
    let (_, before) = desk.commit_stats();
    let out = desk
        .handle(Inbound {
            key: "r1".into(),
            actor: rita.clone(),
            channel: Some("general".into()),
            event: Event::Reaction {
                message_id: "no-such-message".into(),
                emoji: "✋".into(),
                added: true,
                message: None,
            },
        })
        .await;
    assert_eq!(out, Outcome::Ignored);
    let (_, after) = desk.commit_stats();
    assert_eq!(after, before + 1, "the reaction ran as a writer job");
}

#[tokio::test]
async fn what_a_p1_sends_to_channels_is_urgent_a_p3_normal_direct_messages_bulk_and_a_major_raises_its_queue() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(start()));
    let rita = actor("rita", &[]);
    let sam = actor("sam", &["service_desk"]);
    super::testkit::say(
        &desk,
        "k1",
        &rita,
        "!incident Payroll run aborts impact=high urgency=high service=payroll",
    )
    .await;
    super::testkit::say(&desk, "k2", &rita, "!incident Printer jams service=email").await;
    let lanes = |subject: &'static str| {
        let store = desk.store().clone();
        async move {
            texts(
                &store,
                &format!(
                    "SELECT DISTINCT CAST(lane AS TEXT) || ' ' || CASE WHEN queue = 'dm' THEN 'dm' ELSE 'channel' END
                       FROM outbox WHERE subject = '{subject}' ORDER BY 1"
                ),
            )
            .await
        }
    };
    assert_eq!(
        lanes("INC-1").await,
        ["0 channel"],
        "the P1's card, FYI and thread posts"
    );
    assert_eq!(lanes("INC-2").await, ["1 channel"]);
    // Declared major before anything was delivered: its queued rows go up with it.
    let r = super::testkit::say(&desk, "k3", &sam, "!major INC-2 every printer on the floor").await;
    assert!(r.text.contains("major"), "{r:?}");
    let pending = scalar(
        desk.store(),
        "SELECT COUNT(*) FROM outbox WHERE subject = 'INC-2' AND lane <> 0 AND queue <> 'dm'",
    )
    .await;
    assert_eq!(pending, 0, "INC-2's earlier rows were raised");
    // A subscriber's notice is bulk whatever else happens.
    super::testkit::say(&desk, "k4", &rita, "!subscribe email").await;
    super::testkit::say(
        &desk,
        "k5",
        &actor("ines", &["incident_manager"]),
        "!outage email Mail is down",
    )
    .await;
    let dm = texts(
        desk.store(),
        "SELECT DISTINCT CAST(lane AS TEXT) FROM outbox WHERE queue = 'dm'",
    )
    .await;
    assert_eq!(dm, ["2"]);
}
