//! One card per storm, through the desk on a real SQLite file with a fixed
//! clock: reports linked to an active outage as they are logged are counted
//! on the outage's grouped card, whose edits are coalesced, and get their own
//! card and thread only when someone works them.

use chrono::{DateTime, TimeDelta, Utc};

use super::testkit::{actor, say};
use super::*;
use crate::store::testing::{self, temp_store};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-03-04T10:00:00Z").unwrap().to_utc()
}

async fn desk_at(at: DateTime<Utc>) -> (Desk, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    (Desk::new(store, Policy::defaults(), Clock::fixed(at)), dir)
}

/// The texts of the queued versions of OUT-1's grouped card, oldest first.
async fn grouped_card(desk: &Desk) -> Vec<String> {
    let text = testing::json_text(desk.store(), "payload", "text");
    testing::texts(
        desk.store(),
        &format!("SELECT {text} FROM outbox WHERE kind = 'card' AND subject = 'OUT-1:reports' ORDER BY id"),
    )
    .await
}

/// What is queued for a record's own card, thread and reporter, in order
/// (not what its roles are told in their channels): `<kind> <destination> <text>`.
async fn rows_about(desk: &Desk, subject: &str) -> Vec<String> {
    let text = testing::json_text(desk.store(), "payload", "text");
    testing::texts(
        desk.store(),
        &format!(
            "SELECT kind || ' ' || destination || ' ' || {text} FROM outbox
              WHERE subject = '{subject}' AND NOT (kind = 'post' AND destination LIKE '%role_channel%')
              ORDER BY id"
        ),
    )
    .await
}

/// The incidents' own cards and thread posts queued so far.
async fn incident_cards_and_threads(desk: &Desk) -> i64 {
    testing::scalar(
        desk.store(),
        "SELECT COUNT(*) FROM outbox WHERE subject LIKE 'INC-%'
            AND (kind = 'card' OR destination LIKE '%\"thread\"%')",
    )
    .await
}

async fn declare_email_outage(desk: &Desk) {
    let sam = actor("sam", &["service_desk"]);
    let r = say(desk, "declare", &sam, "!outage email Mail is down impact=major").await;
    assert!(r.text.starts_with("OUT-1 declared"), "{}", r.text);
}

/// Reports by alice, bob, carol… (one each) against email.
async fn reports(desk: &Desk, who: &[&str]) {
    for name in who {
        let r = say(
            desk,
            &format!("report-{name}"),
            &actor(name, &[]),
            "!incident Mail does not arrive service=email",
        )
        .await;
        assert!(r.text.contains("logged"), "{}", r.text);
        assert!(r.text.contains("known outage: OUT-1"), "{}", r.text);
    }
}

#[tokio::test]
async fn three_reports_make_one_grouped_card_that_says_three_with_edits_coalesced_per_period() {
    let (desk, _dir) = desk_at(t0()).await;
    declare_email_outage(&desk).await;
    reports(&desk, &["alice", "bob", "carol"]).await;

    // The first report posted the card at once; the others wait for the period.
    let card = grouped_card(&desk).await;
    assert_eq!(card.len(), 1, "{card:?}");
    assert!(
        card[0].contains("1 report so far; reports linked to OUT-1"),
        "{}",
        card[0]
    );
    assert_eq!(
        incident_cards_and_threads(&desk).await,
        0,
        "no card or thread of their own"
    );
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0);

    desk.clock().advance(TimeDelta::seconds(9));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0, "not a period yet");
    assert_eq!(grouped_card(&desk).await.len(), 1);

    desk.clock().advance(TimeDelta::seconds(1));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1, "one edit for the two reports");
    let card = grouped_card(&desk).await;
    assert_eq!(card.len(), 2, "{card:?}");
    assert!(card[1].contains("3 reports linked to OUT-1"), "{}", card[1]);
    let fields = testing::text(
        desk.store(),
        "SELECT payload FROM outbox WHERE subject = 'OUT-1:reports' ORDER BY id DESC LIMIT 1",
    )
    .await;
    for shown in ["INC-3 · carol", "INC-1 · alice", "Email", "every 10s"] {
        assert!(fields.contains(shown), "{shown}: {fields}");
    }
    assert!(!fields.contains("<@"), "names, never pings: {fields}");

    // A report right after an edit waits for the next period, then one edit.
    desk.clock().advance(TimeDelta::seconds(2));
    reports(&desk, &["dave"]).await;
    assert_eq!(grouped_card(&desk).await.len(), 2);
    desk.clock().advance(TimeDelta::seconds(8));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    let card = grouped_card(&desk).await;
    assert_eq!(card.len(), 3);
    assert!(card[2].contains("4 reports linked to OUT-1"), "{}", card[2]);
    // Nothing new: nothing left to fire.
    desk.clock().advance(TimeDelta::seconds(30));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0);
    assert_eq!(grouped_card(&desk).await.len(), 3);
}

#[tokio::test]
async fn taking_a_cardless_report_posts_its_card_and_thread_once() {
    let (desk, _dir) = desk_at(t0()).await;
    declare_email_outage(&desk).await;
    reports(&desk, &["alice"]).await;
    assert!(rows_about(&desk, "INC-1").await.is_empty());

    let sam = actor("sam", &["service_desk"]);
    let r = say(&desk, "take", &sam, "!take INC-1").await;
    assert!(!r.private, "{}", r.text);
    let rows = rows_about(&desk, "INC-1").await;
    assert!(
        rows[0].starts_with("card {\"to\":\"role_channel\",\"id\":\"service_desk\"}"),
        "its card comes first: {rows:?}"
    );
    assert!(rows[1].contains("alice, thanks for reporting INC-1"), "{rows:?}");
    assert!(rows[2].contains("INC-1 is part of known outage OUT-1"), "{rows:?}");
    assert!(rows[3].contains("took"), "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r.starts_with("card")).count(), 1, "{rows:?}");

    // Working it again posts no second welcome.
    say(&desk, "start", &sam, "!status INC-1 in_progress").await;
    let rows = rows_about(&desk, "INC-1").await;
    assert_eq!(rows.iter().filter(|r| r.contains("thanks for reporting")).count(), 1);
    let carded = testing::scalar(
        desk.store(),
        "SELECT COUNT(*) FROM outage_incidents WHERE incident_id = 1 AND carded_at IS NOT NULL",
    )
    .await;
    assert_eq!(carded, 1);
}

#[tokio::test]
async fn a_reporters_note_on_a_cardless_report_gives_it_its_card_before_the_note() {
    let (desk, _dir) = desk_at(t0()).await;
    declare_email_outage(&desk).await;
    reports(&desk, &["alice", "bob"]).await;

    let r = say(&desk, "note", &actor("alice", &[]), "!note INC-1 it bounces now").await;
    assert!(!r.private, "{}", r.text);
    let rows = rows_about(&desk, "INC-1").await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows[0].starts_with("card "), "{rows:?}");
    assert!(rows[1].contains("thanks for reporting INC-1"), "{rows:?}");
    assert!(rows[3].contains("it bounces now"), "{rows:?}");
    // bob's report is still counted on the grouped card alone.
    assert!(rows_about(&desk, "INC-2").await.is_empty());
}

#[tokio::test]
async fn resolving_the_outage_settles_cardless_reports_by_direct_message_and_says_so_on_the_grouped_card() {
    let (desk, _dir) = desk_at(t0()).await;
    declare_email_outage(&desk).await;
    reports(&desk, &["alice", "bob"]).await;
    let sam = actor("sam", &["service_desk"]);
    say(&desk, "take", &sam, "!take INC-2").await;
    desk.clock().advance(TimeDelta::seconds(3));
    reports(&desk, &["carol"]).await; // an edit left pending

    desk.clock().advance(TimeDelta::seconds(1));
    let r = say(&desk, "resolve", &sam, "!outage resolve OUT-1 Queue drained").await;
    assert!(r.text.contains("INC-1, INC-2, INC-3 resolved with it"), "{}", r.text);

    // INC-1 was never worked: resolved, asked by direct message, still without a card.
    let state = testing::text(desk.store(), "SELECT state FROM incidents WHERE id = 1").await;
    assert_eq!(state, "resolved");
    let rows = rows_about(&desk, "INC-1").await;
    assert!(rows.iter().all(|r| !r.starts_with("card")), "{rows:?}");
    let alice = crate::console::console_user_id("alice").get();
    assert!(
        rows.iter()
            .any(|r| r.contains(&format!("{{\"to\":\"dm\",\"id\":{alice}}}"))
                && r.contains("INC-1 was resolved by sam: Resolved with outage OUT-1")),
        "{rows:?}"
    );
    assert_eq!(
        testing::scalar(desk.store(), "SELECT COUNT(*) FROM surveys WHERE incident_id = 1").await,
        1
    );
    let history = testing::texts(
        desk.store(),
        "SELECT action FROM audit WHERE subject = 'INC-1' ORDER BY id",
    )
    .await;
    assert!(history.contains(&"resolve_incident".to_owned()), "{history:?}");
    // INC-2 has its card: asked in its thread, as any incident.
    let rows = rows_about(&desk, "INC-2").await;
    assert!(
        rows.iter()
            .any(|r| r.contains("\"thread\"") && r.contains("INC-2 was resolved")),
        "{rows:?}"
    );

    // The grouped card says it is over at once, and no edit is left to fire.
    let card = grouped_card(&desk).await;
    let last = card.last().unwrap();
    assert!(
        last.contains("is back: 3 reports linked to OUT-1, settled with it"),
        "{last}"
    );
    let before = card.len();
    desk.clock().advance(TimeDelta::minutes(1));
    desk.fire_due_timers().await.unwrap();
    assert_eq!(grouped_card(&desk).await.len(), before);
}

#[tokio::test]
async fn a_report_on_another_service_and_one_logged_before_the_outage_keep_their_own_cards() {
    let (desk, _dir) = desk_at(t0()).await;
    let early = say(&desk, "early", &actor("erin", &[]), "!incident No mail service=email").await;
    assert!(early.text.starts_with("INC-1 logged"), "{}", early.text);
    declare_email_outage(&desk).await;
    let vpn = say(&desk, "vpn", &actor("vic", &[]), "!incident Tunnel drops service=vpn").await;
    assert!(!vpn.text.contains("known outage"), "{}", vpn.text);
    reports(&desk, &["alice"]).await;

    let early_rows = rows_about(&desk, "INC-1").await;
    assert!(early_rows[0].starts_with("card "), "{early_rows:?}");
    assert!(
        early_rows
            .iter()
            .any(|r| r.contains("INC-1 is part of known outage OUT-1")),
        "linked by the window, in its thread: {early_rows:?}"
    );
    let vpn_rows = rows_about(&desk, "INC-2").await;
    assert!(vpn_rows[0].starts_with("card "), "{vpn_rows:?}");
    assert!(rows_about(&desk, "INC-3").await.is_empty());
    let card = grouped_card(&desk).await;
    assert!(
        card[0].contains("1 report so far"),
        "only the report at intake counts: {card:?}"
    );
}

#[tokio::test]
async fn after_a_restart_a_pending_grouped_card_edit_fires_once() {
    let (store, dir) = temp_store().await;
    let url = testing::url_in(&dir);
    let before = Desk::new(store.clone(), Policy::defaults(), Clock::fixed(t0()));
    declare_email_outage(&before).await;
    reports(&before, &["alice", "bob", "carol"]).await;
    assert_eq!(grouped_card(&before).await.len(), 1);
    store.close().await;
    drop(before);

    let store = Store::open(&url).await.unwrap();
    let after = Desk::new(store, Policy::defaults(), Clock::fixed(t0() + TimeDelta::seconds(25)));
    assert_eq!(after.fire_due_timers().await.unwrap(), 1);
    assert_eq!(after.fire_due_timers().await.unwrap(), 0);
    let card = grouped_card(&after).await;
    assert_eq!(card.len(), 2, "{card:?}");
    assert!(card[1].contains("3 reports linked to OUT-1"), "{}", card[1]);
}
