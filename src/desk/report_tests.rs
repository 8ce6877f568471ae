//! `!report` through the desk: who may read one, and the figures of
//! incidents worked by real commands on a fixed clock.

use chrono::{TimeDelta, TimeZone, Utc};

use super::testkit::{actor, say};
use super::*;
use crate::store::testing::{self, temp_store};

/// The report card posted for a `!report` line (as its outbox JSON), or the
/// refusal's text.
async fn report(desk: &Desk, key: &str, who: &Actor, text: &str) -> (bool, String) {
    let reply = say(desk, key, who, text).await;
    if reply.private {
        return (false, reply.text);
    }
    assert_eq!(reply.react, Some(crate::render::REPORT_POSTED), "{reply:?}");
    let payload = testing::text(desk.store(), "SELECT payload FROM outbox ORDER BY id DESC LIMIT 1").await;
    (true, payload)
}

async fn desk() -> (Desk, Clock, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
    (Desk::new(store, Policy::defaults(), clock.clone()), clock, dir)
}

#[tokio::test]
async fn report_is_for_agents_report_readers_and_the_owner_of_the_service_reported_on() {
    let (desk, _clock, _dir) = desk().await;
    let slm = actor("sam", &["service_level_manager"]);
    let agent = actor("dee", &["service_desk"]);
    let owner = actor("olga", &["email_owner"]);
    let anyone = actor("alice", &[]);
    let (posted, card) = report(&desk, "1", &slm, "!report 7d").await;
    assert!(posted && card.contains("Service report"), "{card}");
    assert!(report(&desk, "2", &agent, "!report 30d").await.0);
    let (posted, own) = report(&desk, "3", &owner, "!report 7d service=email").await;
    assert!(posted && own.contains("service email"), "{own}");
    let (posted, all) = report(&desk, "4", &owner, "!report 7d").await;
    assert!(!posted && all.starts_with("Only "), "{all}");
    assert!(!report(&desk, "5", &owner, "!report 7d service=vpn").await.0);
    let (posted, refused) = report(&desk, "6", &anyone, "!report").await;
    assert!(!posted && refused.contains("agents"), "{refused}");
    let (posted, unknown) = report(&desk, "7", &agent, "!report 7d service=fax").await;
    assert!(!posted && unknown.contains("fax"), "{unknown}");
}

#[tokio::test]
async fn report_counts_incidents_worked_by_commands() {
    let (desk, clock, _dir) = desk().await;
    let alice = actor("alice", &[]);
    let agent = actor("dee", &["service_desk"]);
    say(&desk, "1", &alice, "!incident mail is down service=email").await;
    say(&desk, "2", &alice, "!incident vpn flaps service=vpn").await;
    clock.advance(TimeDelta::minutes(10));
    say(&desk, "3", &agent, "!take INC-1").await;
    clock.advance(TimeDelta::minutes(50));
    let resolved = say(&desk, "4", &agent, "!resolve INC-1 restarted the relay").await;
    assert!(!resolved.private, "{}", resolved.text);
    clock.advance(TimeDelta::hours(1));
    let (_, r) = report(&desk, "5", &agent, "!report 1d").await;
    assert!(
        r.contains("2 logged, 1 resolved, 1 still open at the end, 0 cancelled"),
        "{r}"
    );
    assert!(
        r.contains(r#"["MTTA (logged → first response)","median 10m, p90 10m (n=1)"]"#),
        "{r}"
    );
    assert!(
        r.contains(r#"["MTTR (logged → resolved)","median 1h, p90 1h (n=1)"]"#),
        "{r}"
    );
    let (_, email) = report(&desk, "6", &agent, "!report 1d service=Email").await;
    assert!(email.contains("1 logged, 1 resolved, 0 still open"), "{email}");
    // A period with no data says so rather than inventing figures.
    let (_, empty) = report(&desk, "7", &agent, "!report 2026-10").await;
    assert!(
        empty.contains("0 logged") && empty.contains(r#"["MTTA (logged → first response)","—"]"#),
        "{empty}"
    );
}

/// A desk whose policy posts a weekly digest in #service-level, Mondays
/// 09:00 UTC, over `store` (a restart keeps the store, not the desk).
fn digest_desk(store: &crate::store::Store, clock: &Clock, at: &str) -> Desk {
    let mut policy = Policy::defaults();
    policy.reports.digest = Some(crate::config::DigestSettings {
        channel: "service-level".into(),
        schedule: crate::domain::digest::DigestSchedule::parse("7d", at, "UTC").unwrap(),
    });
    Desk::new(store.clone(), policy, clock.clone())
}

/// The due times of the digest's pending postings.
async fn pending_digests(desk: &Desk) -> Vec<String> {
    testing::texts(
        desk.store(),
        "SELECT key FROM timers WHERE kind = 'report_digest' AND fired_at IS NULL AND cancelled = 0 ORDER BY due_at",
    )
    .await
}

/// The digests posted: (destination, card) of each, oldest first.
async fn digests_posted(desk: &Desk) -> Vec<(String, String)> {
    testing::pairs(
        desk.store(),
        "SELECT destination, payload FROM outbox WHERE payload LIKE '%Service report%' ORDER BY id",
    )
    .await
}

#[tokio::test]
async fn the_digest_posts_last_weeks_report_in_its_channel_on_monday_and_schedules_the_next() {
    let (store, _dir) = temp_store().await;
    // Wednesday 2026-11-25.
    let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap());
    let desk = digest_desk(&store, &clock, "Mon 09:00");
    let alice = actor("alice", &[]);
    say(&desk, "1", &alice, "!incident mail is down service=email").await;
    say(&desk, "2", &alice, "!incident vpn flaps service=vpn").await;
    desk.arm_digest().await.unwrap();
    assert_eq!(pending_digests(&desk).await, ["2026-11-30T09:00:00Z"]);
    clock.advance(Utc.with_ymd_and_hms(2026, 11, 30, 8, 59, 0).unwrap() - clock.now());
    desk.fire_due_timers().await.unwrap();
    assert!(digests_posted(&desk).await.is_empty());
    clock.advance(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap() - clock.now());
    desk.fire_due_timers().await.unwrap();
    let posted = digests_posted(&desk).await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    let (destination, card) = &posted[0];
    assert!(destination.contains("service-level"), "{destination}");
    // Monday 23 to Sunday 29 November (the card's end is exclusive), both incidents in it.
    assert!(
        card.contains("Service report 2026-11-23 00:00 – 2026-11-30 00:00 UTC"),
        "{card}"
    );
    assert!(card.contains("2 logged"), "{card}");
    assert_eq!(pending_digests(&desk).await, ["2026-12-07T09:00:00Z"]);
    let said = testing::text(
        desk.store(),
        "SELECT details FROM audit WHERE action = 'report_digest' ORDER BY id DESC LIMIT 1",
    )
    .await;
    assert_eq!(said, "posted the scheduled report digest in #service-level");
}

#[tokio::test]
async fn a_digest_missed_for_weeks_is_posted_once_for_the_latest_week_and_a_restart_adds_none() {
    let (store, _dir) = temp_store().await;
    let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap());
    let desk = digest_desk(&store, &clock, "Mon 09:00");
    desk.arm_digest().await.unwrap();
    // Down from before the 30 November posting until Wednesday 16 December:
    // three postings were missed.
    clock.advance(Utc.with_ymd_and_hms(2026, 12, 16, 10, 0, 0).unwrap() - clock.now());
    let restarted = digest_desk(&store, &clock, "Mon 09:00");
    restarted.arm_digest().await.unwrap();
    assert_eq!(
        pending_digests(&restarted).await,
        ["2026-11-30T09:00:00Z"],
        "the overdue posting stays, to be made once"
    );
    assert_eq!(restarted.fire_due_timers().await.unwrap(), 1);
    assert_eq!(restarted.fire_due_timers().await.unwrap(), 0);
    let posted = digests_posted(&restarted).await;
    assert_eq!(posted.len(), 1, "one catch-up, not one per missed week: {posted:?}");
    // The latest posting due was Monday 14 December: its week is 7 to 13 December.
    assert!(
        posted[0]
            .1
            .contains("Service report 2026-12-07 00:00 – 2026-12-14 00:00 UTC"),
        "{}",
        posted[0].1
    );
    assert_eq!(pending_digests(&restarted).await, ["2026-12-21T09:00:00Z"]);
    let again = digest_desk(&store, &clock, "Mon 09:00");
    again.arm_digest().await.unwrap();
    assert_eq!(pending_digests(&again).await, ["2026-12-21T09:00:00Z"]);
}

#[tokio::test]
async fn a_changed_schedule_moves_the_pending_posting_and_removing_the_digest_cancels_it() {
    let (store, _dir) = temp_store().await;
    let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap());
    digest_desk(&store, &clock, "Mon 09:00").arm_digest().await.unwrap();
    let friday = digest_desk(&store, &clock, "Fri 16:00");
    friday.arm_digest().await.unwrap();
    assert_eq!(pending_digests(&friday).await, ["2026-11-27T16:00:00Z"]);
    let without = Desk::new(store.clone(), Policy::defaults(), clock.clone());
    without.arm_digest().await.unwrap();
    assert!(pending_digests(&without).await.is_empty());
    clock.advance(Utc.with_ymd_and_hms(2026, 12, 30, 0, 0, 0).unwrap() - clock.now());
    assert_eq!(without.fire_due_timers().await.unwrap(), 0);
    assert!(digests_posted(&without).await.is_empty());
}

#[tokio::test]
async fn the_report_card_carries_its_chart_as_a_png_in_the_same_outbox_row() {
    let (desk, _clock, _dir) = desk().await;
    let agent = actor("dee", &["service_desk"]);
    let (posted, payload) = report(&desk, "1", &agent, "!report 7d").await;
    assert!(posted);
    let message: crate::message::OutMessage = serde_json::from_str(&payload).unwrap();
    assert!(message.card.is_some(), "{payload}");
    let file = message.attachment.expect("the chart is named in the message");
    assert_eq!((file.name.as_str(), file.card_image), (crate::render::CHART_FILE, true));
    let mut conn = desk.store().write().await.unwrap();
    let due = crate::store::outbox::due(&mut conn, chrono::Utc::now() + TimeDelta::days(1), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "one message: the card with its chart");
    let png = &due[0].message.attachment.as_ref().unwrap().bytes;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", &png[..png.len().min(8)]);
}
