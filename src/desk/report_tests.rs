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
