//! `!report` through the desk: who may read one, and the figures of
//! incidents worked by real commands on a fixed clock.

use chrono::{TimeDelta, TimeZone, Utc};

use super::testkit::{actor, say};
use super::*;
use crate::store::testing::temp_store;

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
    assert!(say(&desk, "1", &slm, "!report 7d").await.text.contains("Service report"));
    assert!(say(&desk, "2", &agent, "!report 30d").await.text.contains("Service report"));
    let own = say(&desk, "3", &owner, "!report 7d service=email").await;
    assert!(own.text.contains("service email"), "{}", own.text);
    let all = say(&desk, "4", &owner, "!report 7d").await;
    assert!(all.private && all.text.starts_with("Only "), "{}", all.text);
    let other = say(&desk, "5", &owner, "!report 7d service=vpn").await;
    assert!(other.private, "{}", other.text);
    let refused = say(&desk, "6", &anyone, "!report").await;
    assert!(refused.private && refused.text.contains("agents"), "{}", refused.text);
    let unknown = say(&desk, "7", &agent, "!report 7d service=fax").await;
    assert!(unknown.private && unknown.text.contains("fax"), "{}", unknown.text);
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
    let r = say(&desk, "5", &agent, "!report 1d").await;
    assert!(r.text.contains("2 logged, 1 resolved, 1 still open at the end, 0 cancelled"), "{}", r.text);
    assert!(r.text.contains("MTTA (logged → first response)**: median 10m, p90 10m (n=1)"), "{}", r.text);
    assert!(r.text.contains("MTTR (logged → resolved)**: median 1h, p90 1h (n=1)"), "{}", r.text);
    let email = say(&desk, "6", &agent, "!report 1d service=Email").await;
    assert!(email.text.contains("1 logged, 1 resolved, 0 still open"), "{}", email.text);
    // A period with no data says so rather than inventing figures.
    let empty = say(&desk, "7", &agent, "!report 2026-10").await;
    assert!(empty.text.contains("0 logged") && empty.text.contains("MTTA (logged → first response)**: —"), "{}", empty.text);
}
