//! SLA clocks and escalation through the desk, on a real SQLite file with a
//! fixed clock that moves only when the test moves it.

use chrono::{DateTime, TimeDelta, Utc};

use super::testkit::{self, actor};
use super::*;
use crate::store::testing::{self, temp_store};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-03-04T10:00:00Z").unwrap().to_utc()
}

/// Sends a line and returns the reply text (refusals included).
async fn say(desk: &Desk, key: &str, who: &Actor, text: &str) -> String {
    testkit::say(desk, key, who, text).await.text
}

/// The SLA audit rows of an incident, in order: `(action, details)`.
async fn sla_audit(desk: &Desk) -> Vec<(String, String)> {
    testing::pairs(
        desk.store(),
        "SELECT action, details FROM audit WHERE action LIKE 'sla_%' ORDER BY id",
    )
    .await
}

/// Queued messages containing `needle`, each as `<destination> <payload>`.
async fn outbox_texts(desk: &Desk, needle: &str) -> Vec<String> {
    let rows = testing::pairs(desk.store(), "SELECT destination, payload FROM outbox ORDER BY id").await;
    rows.into_iter()
        .map(|(d, p)| format!("{d} {p}"))
        .filter(|p| p.contains(needle))
        .collect()
}

/// A P1 logged at `t0` by alice and acknowledged at once by sam, so only the
/// resolution clock (4h) is left running.
async fn logged_and_acknowledged(desk: &Desk) {
    let alice = actor("alice", &[]);
    let sam = actor("sam", &["service_desk"]);
    let r = say(
        desk,
        "1",
        &alice,
        "!incident Mail is down impact=high urgency=high service=email",
    )
    .await;
    assert!(r.starts_with("INC-1 logged: P1"), "{r}");
    let r = say(desk, "2", &sam, "!ack INC-1").await;
    assert_eq!(r, "INC-1 acknowledged after 0s, within the 15m response target.");
}

#[tokio::test]
async fn after_a_restart_missed_thresholds_fire_once_each_in_order_marked_late() {
    let (store, dir) = temp_store().await;
    let url = testing::url_in(&dir);
    let before = Desk::new(store.clone(), Policy::defaults(), Clock::fixed(t0()));
    logged_and_acknowledged(&before).await;
    assert_eq!(before.fire_due_timers().await.unwrap(), 0);
    store.close().await;
    drop(before);

    // The desk was down past 50 % (2h) and 75 % (3h) of the 4h resolution target.
    let store = Store::open(&url).await.unwrap();
    let after = Desk::new(
        store.clone(),
        Policy::defaults(),
        Clock::fixed(t0() + TimeDelta::minutes(190)),
    );
    assert_eq!(after.fire_due_timers().await.unwrap(), 2);
    assert_eq!(
        sla_audit(&after).await,
        [
            (
                "sla_warning".to_owned(),
                "warned that 50% of the resolution target was used (3h 10m of 4h; 1h 10m late)".to_owned()
            ),
            (
                "sla_warning".to_owned(),
                "warned that 75% of the resolution target was used (3h 10m of 4h; 10m late)".to_owned()
            ),
        ]
    );
    let late = outbox_texts(&after, "(late: this fell due").await;
    assert_eq!(
        late.len(),
        4,
        "each warning to the tier and the incident manager (accountable; pinged at 75 %): {late:?}"
    );
    store.close().await;
    drop(after);

    // Starting again at the same moment fires nothing twice.
    let store = Store::open(&url).await.unwrap();
    let again = Desk::new(
        store.clone(),
        Policy::defaults(),
        Clock::fixed(t0() + TimeDelta::minutes(190)),
    );
    assert_eq!(again.fire_due_timers().await.unwrap(), 0);
    assert_eq!(sla_audit(&again).await.len(), 2);
    // The breach still comes, on time.
    again.clock().advance(TimeDelta::minutes(50));
    assert_eq!(again.fire_due_timers().await.unwrap(), 1);
    let audit = sla_audit(&again).await;
    assert_eq!(audit.len(), 3);
    assert_eq!(
        audit[2],
        (
            "sla_breach".to_owned(),
            "recorded a breach of the resolution target (4h of 4h)".to_owned()
        )
    );
    let fired = testing::scalar(
        again.store(),
        "SELECT COUNT(*) FROM clock_thresholds WHERE incident_id = 1",
    )
    .await;
    let late = testing::scalar(
        again.store(),
        "SELECT COUNT(late_ms) FROM clock_thresholds WHERE incident_id = 1",
    )
    .await;
    assert_eq!((fired, late), (3, 2));
}

#[tokio::test]
async fn on_hold_pauses_the_resolution_clock_and_resuming_continues_it() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(t0()));
    logged_and_acknowledged(&desk).await;
    let sam = actor("sam", &["service_desk"]);
    say(&desk, "3", &sam, "!take INC-1").await;
    say(&desk, "4", &sam, "!status INC-1 in_progress").await;
    desk.clock().advance(TimeDelta::hours(1));
    say(
        &desk,
        "5",
        &sam,
        "!status INC-1 on_hold awaiting_vendor waiting for the vendor",
    )
    .await;
    // Held for a day: nothing falls due.
    desk.clock().advance(TimeDelta::hours(24));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0);
    let show = say(&desk, "6", &sam, "!show INC-1").await;
    assert!(
        show.contains("• Resolution: target 4h · elapsed 1h · paused (on hold) · 3h left"),
        "{show}"
    );
    say(&desk, "7", &sam, "!status INC-1 in_progress vendor answered").await;
    desk.clock().advance(TimeDelta::minutes(59));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0);
    desk.clock().advance(TimeDelta::minutes(1));
    assert_eq!(
        desk.fire_due_timers().await.unwrap(),
        1,
        "50 % after 2h of counted time"
    );
    assert_eq!(
        sla_audit(&desk).await,
        [(
            "sla_warning".to_owned(),
            "warned that 50% of the resolution target was used (2h of 4h)".to_owned()
        )]
    );
    // The warning pings the assignee in the incident's thread; the tier
    // (responsible) and the incident manager (accountable) are told unpinged.
    let sent = outbox_texts(&desk, "has used 50% of its 4h resolution target").await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    let thread: Vec<&String> = sent.iter().filter(|m| m.contains("\"to\":\"thread\"")).collect();
    assert_eq!(thread.len(), 1, "{sent:?}");
    assert!(thread[0].contains(&sam.user.get().to_string()), "{}", thread[0]);
    assert!(sent.iter().all(|m| m.contains("\"ping_roles\":[]")), "{sent:?}");
}

#[tokio::test]
async fn resolving_stops_the_clock_and_reopening_restarts_it_with_fresh_warnings() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(t0()));
    logged_and_acknowledged(&desk).await;
    let sam = actor("sam", &["service_desk"]);
    let alice = actor("alice", &[]);
    say(&desk, "3", &sam, "!take INC-1").await;
    say(&desk, "4", &sam, "!status INC-1 in_progress").await;
    desk.clock().advance(TimeDelta::minutes(150));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    say(&desk, "5", &sam, "!resolve INC-1 restarted the MTA").await;
    desk.clock().advance(TimeDelta::hours(10));
    assert_eq!(
        desk.fire_due_timers().await.unwrap(),
        0,
        "a resolved incident has no clock running"
    );
    say(&desk, "6", &alice, "!reopen INC-1 still bouncing").await;
    // Restarted from zero (config `sla.reopen = "restart"`): 50 % comes again after 2h.
    desk.clock().advance(TimeDelta::minutes(119));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0);
    desk.clock().advance(TimeDelta::minutes(1));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    let audit = sla_audit(&desk).await;
    assert_eq!(
        audit,
        [
            (
                "sla_warning".to_owned(),
                "warned that 50% of the resolution target was used (2h 30m of 4h; 30m late)".to_owned()
            ),
            (
                "sla_warning".to_owned(),
                "warned that 50% of the resolution target was used (2h of 4h)".to_owned()
            ),
        ]
    );
    let run = testing::scalar(
        desk.store(),
        "SELECT run FROM incident_clocks WHERE kind = 'resolution'",
    )
    .await;
    assert_eq!(run, 1);
}

#[tokio::test]
async fn declaring_a_major_incident_moves_the_clocks_to_the_major_row() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(t0()));
    logged_and_acknowledged(&desk).await;
    let sam = actor("sam", &["service_desk"]);
    desk.clock().advance(TimeDelta::minutes(30));
    assert_eq!(
        say(&desk, "3", &sam, "!major INC-1 whole floor offline").await,
        "INC-1 is now a major incident."
    );
    // The major row resolves in 2h: 50 % was reached at 1h, so it is due in 30m.
    desk.clock().advance(TimeDelta::minutes(29));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0);
    desk.clock().advance(TimeDelta::minutes(1));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    let show = say(&desk, "4", &sam, "!show INC-1").await;
    assert!(show.contains("SLA (major incident, 24×7):"), "{show}");
    assert!(
        show.contains("• Response: target 15m · elapsed 0s · acknowledged"),
        "a stopped clock keeps its target: {show}"
    );
    assert!(
        show.contains("• Resolution: target 2h · elapsed 1h · running · 1h left"),
        "{show}"
    );
    let r = say(&desk, "5", &sam, "!major INC-1 off").await;
    assert_eq!(r, "Say why INC-1 is no longer major: `!major INC-1 off <reason>`.");
    let r = say(&desk, "6", &sam, "!major INC-1 off contained to one team").await;
    assert_eq!(r, "INC-1 is no longer a major incident.");
    let show = say(&desk, "7", &sam, "!show INC-1").await;
    assert!(
        show.contains("• Resolution: target 4h · elapsed 1h · running · 3h left"),
        "{show}"
    );
    assert_eq!(
        say(&desk, "8", &sam, "!major INC-1 off again").await,
        "INC-1 is not a major incident."
    );
}

#[tokio::test]
async fn re_prioritising_moves_the_running_clocks_to_the_new_targets_and_leaves_a_trail() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(t0()));
    logged_and_acknowledged(&desk).await;
    let sam = actor("sam", &["service_desk"]);
    let alice = actor("alice", &[]);
    desk.clock().advance(TimeDelta::hours(1));
    // The reporter may not re-prioritise, and a refusal changes nothing.
    assert_eq!(
        say(&desk, "3", &alice, "!priority INC-1 impact=low").await,
        "Only agents (service desk, support groups, incident manager) may run `!priority`."
    );
    assert_eq!(
        say(
            &desk,
            "4",
            &sam,
            "!priority INC-1 impact=medium only one team is affected"
        )
        .await,
        "INC-1 is now P2 (impact medium × urgency high, was P1); its SLA clocks moved to the new targets."
    );
    let show = say(&desk, "5", &sam, "!show INC-1").await;
    assert!(show.contains("**INC-1** · P2"), "{show}");
    assert!(
        show.contains("• Resolution: target 8h · elapsed 1h · running · 7h left"),
        "{show}"
    );
    assert!(
        show.contains("• Response: target 15m · elapsed 0s · acknowledged"),
        "a stopped clock keeps its target: {show}"
    );
    // P1's 50 % warning (at 2h) is gone; P2's comes at 4h.
    desk.clock().advance(TimeDelta::hours(2));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0);
    desk.clock().advance(TimeDelta::hours(1));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    assert_eq!(
        say(&desk, "6", &sam, "!priority INC-1 urgency=high").await,
        "INC-1 already has impact medium × urgency high (P2): nothing to change."
    );
    let thread = outbox_texts(&desk, "re-prioritised").await;
    assert_eq!(thread.len(), 1, "{thread:?}");
    assert!(
        thread[0].contains("sam re-prioritised INC-1 from P1 to P2 (impact medium × urgency high). Reason: only one team is affected. SLA targets are respond 30m / resolve 8h."),
        "{thread:?}"
    );
    let audit: Vec<(String,)> = testing::texts(
        desk.store(),
        "SELECT details FROM audit WHERE details LIKE 're-prioritised %'",
    )
    .await
    .into_iter()
    .map(|d| (d,))
    .collect();
    assert_eq!(
        audit,
        vec![("re-prioritised it from P1 to P2 (impact medium × urgency high): only one team is affected".to_owned(),)]
    );
    let impact = testing::text(desk.store(), "SELECT impact FROM incidents WHERE id = 1").await;
    let priority = testing::scalar(desk.store(), "SELECT priority FROM incidents WHERE id = 1").await;
    assert_eq!((impact.as_str(), priority), ("medium", 2));
    // Lowering the priority pings nobody; raising it pings the handling role.
    assert!(thread[0].contains("\"ping_roles\":[]"), "{thread:?}");
    assert_eq!(
        say(&desk, "7", &sam, "!priority INC-1 impact=high").await,
        "INC-1 is now P1 (impact high × urgency high, was P2); its SLA clocks moved to the new targets."
    );
    let thread = outbox_texts(&desk, "re-prioritised").await;
    assert!(
        thread[1].contains("from P2 to P1") && thread[1].contains("\"ping_roles\":[\"service_desk\"]"),
        "{thread:?}"
    );
}

#[tokio::test]
async fn swapping_impact_and_urgency_to_the_same_priority_keeps_the_targets() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(t0()));
    let (alice, sam) = (actor("alice", &[]), actor("sam", &["service_desk"]));
    let r = say(&desk, "1", &alice, "!incident Slow wiki impact=high urgency=low").await;
    assert!(r.starts_with("INC-1 logged: P3"), "{r}");
    assert_eq!(
        say(&desk, "2", &sam, "!priority INC-1 impact=low urgency=high").await,
        "INC-1 is now P3 (impact low × urgency high, was P3); its SLA targets are unchanged."
    );
    let show = say(&desk, "3", &sam, "!show INC-1").await;
    assert!(show.contains("Impact low × urgency high"), "{show}");
    assert!(
        show.contains("• Resolution: target 24 business hours (3 business days) · elapsed 0 business hours"),
        "{show}"
    );
}

#[tokio::test]
async fn a_major_incident_keeps_the_major_targets_when_re_prioritised() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(t0()));
    logged_and_acknowledged(&desk).await;
    let sam = actor("sam", &["service_desk"]);
    say(&desk, "3", &sam, "!major INC-1 whole floor offline").await;
    assert_eq!(
        say(&desk, "4", &sam, "!prio INC-1 impact=low urgency=low").await,
        "INC-1 is now P5 (impact low × urgency low, was P1); it keeps the major-incident SLA targets while it is major."
    );
    let show = say(&desk, "5", &sam, "!show INC-1").await;
    assert!(show.contains("• Resolution: target 2h"), "{show}");
    // Reverting applies the new priority's row.
    say(&desk, "6", &sam, "!major INC-1 off contained").await;
    let show = say(&desk, "7", &sam, "!show INC-1").await;
    assert!(
        show.contains("• Resolution: target 80 business hours (10 business days)"),
        "a P5 says its 10 business days: {show}"
    );
    say(&desk, "8", &sam, "!take INC-1").await;
    say(&desk, "8a", &sam, "!status INC-1 in_progress").await;
    let r = say(&desk, "8b", &sam, "!resolve INC-1 swapped the switch").await;
    assert_eq!(r, "INC-1 is now resolved.");
    assert_eq!(
        say(&desk, "9", &sam, "!priority INC-1 impact=high").await,
        "INC-1 is resolved: only open incidents can be re-prioritised."
    );
}

#[tokio::test]
async fn business_hours_clocks_count_only_opening_hours_across_the_weekend() {
    let (store, _dir) = temp_store().await;
    // Friday 16:00 UTC: one business hour left this week.
    let friday = DateTime::parse_from_rfc3339("2024-03-08T16:00:00Z").unwrap().to_utc();
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(friday));
    let alice = actor("alice", &[]);
    let sam = actor("sam", &["service_desk"]);
    let r = say(&desk, "1", &alice, "!incident Printer jam").await;
    assert_eq!(
        r,
        "INC-1 logged: P3 (impact medium × urgency medium). Handled by Service Desk (#service-desk). \
         Expect a first response within 4 business hours, by Mon 11 Mar 12:00 UTC."
    );
    // P3 responds in 4 business hours: 50 % is Monday 10:00, the breach Monday 12:00.
    let show = say(&desk, "2", &sam, "!show INC-1").await;
    assert!(
        show.contains("SLA (P3, Mon Tue Wed Thu Fri 09:00–17:00 UTC):"),
        "{show}"
    );
    assert!(
        show.contains(
            "• Response: target 4 business hours · elapsed 0 business hours · running · 4 business hours left · due Mon 11 Mar 12:00 UTC"
        ),
        "{show}"
    );
    let monday_0959 = DateTime::parse_from_rfc3339("2024-03-11T09:59:00Z").unwrap().to_utc();
    desk.clock().advance(monday_0959 - friday);
    assert_eq!(desk.fire_due_timers().await.unwrap(), 0, "the weekend does not count");
    desk.clock().advance(TimeDelta::minutes(1));
    assert_eq!(desk.fire_due_timers().await.unwrap(), 1);
    assert_eq!(
        sla_audit(&desk).await,
        [(
            "sla_warning".to_owned(),
            "warned that 50% of the response target was used (2h of 4h)".to_owned()
        )]
    );
    let show = say(&desk, "3", &sam, "!show INC-1").await;
    assert!(
        show.contains(
            "• Response: target 4 business hours · elapsed 2 business hours · running · 2 business hours left · due Mon 11 Mar 12:00 UTC"
        ),
        "{show}"
    );
}

#[tokio::test]
async fn a_clock_whose_timer_cannot_be_stored_leaves_no_incident_behind() {
    let (store, _dir) = temp_store().await;
    let desk = Desk::new(store, Policy::defaults(), Clock::fixed(t0()));
    testing::exec(
        desk.store(),
        "CREATE TRIGGER boom BEFORE INSERT ON timers BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    )
    .await;
    let alice = actor("alice", &[]);
    let r = say(&desk, "1", &alice, "!incident Mail is down impact=high urgency=high").await;
    assert_eq!(r, render::unexpected());
    for table in ["incidents", "incident_clocks", "timers", "audit", "outbox"] {
        let n = testing::scalar(desk.store(), &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(n, 0, "{table}");
    }
}
