//! Desk rules of changes and CAB votes that need a database: reaction
//! identity, restarts, permissions and bad input that changes nothing.

use chrono::{DateTime, TimeDelta, Utc};

use super::testkit::actor;
use super::*;
use crate::store;
use crate::store::cards::CardRef;
use crate::store::testing::{self, temp_store};

fn start() -> DateTime<Utc> {
    // On a whole minute, as typed windows are.
    DateTime::from_timestamp(1_899_999_960, 0).unwrap()
}

/// A window `from_h`..`to_h` hours after the test's start, as typed.
fn window(from_h: i64, to_h: i64) -> String {
    let f = |h: i64| (start() + TimeDelta::hours(h)).format("%Y-%m-%dT%H:%M").to_string();
    format!("{}..{}", f(from_h), f(to_h))
}

struct Harness {
    desk: Desk,
    seq: std::cell::Cell<u64>,
}

impl Harness {
    fn new(store: Store, clock: Clock) -> Self {
        Self {
            desk: Desk::new(store, Policy::defaults(), clock),
            seq: std::cell::Cell::new(0),
        }
    }

    async fn say(&self, who: &Actor, text: &str) -> Outcome {
        self.seq.set(self.seq.get() + 1);
        self.desk
            .handle(Inbound {
                key: format!("line:{}", self.seq.get()),
                actor: who.clone(),
                channel: Some("general".into()),
                event: Event::Line(text.into()),
            })
            .await
    }

    async fn reply(&self, who: &Actor, text: &str) -> Reply {
        match self.say(who, text).await {
            Outcome::Reply(r) => r,
            other => panic!("{text}: {other:?}"),
        }
    }

    /// A reaction as the Discord adapter keys it: message, user, emoji, add/remove.
    async fn react(&self, who: &Actor, message: &str, emoji: &str, added: bool) -> Outcome {
        self.desk
            .handle(Inbound {
                key: format!(
                    "discord:react:{message}:{}:{emoji}:{}",
                    who.user,
                    if added { "add" } else { "remove" }
                ),
                actor: who.clone(),
                channel: Some("cab".into()),
                event: Event::Reaction {
                    message_id: message.into(),
                    emoji: emoji.into(),
                    added,
                    message: None,
                },
            })
            .await
    }

    async fn scalar(&self, sql: &str) -> i64 {
        testing::scalar(self.desk.store(), sql).await
    }

    async fn text(&self, sql: &str) -> String {
        testing::text(self.desk.store(), sql).await
    }

    /// Files CHG-1 as alice and opens its vote as carl; the vote card is
    /// "delivered" as message 500.
    async fn open_vote(&self, extra: &str) {
        let alice = actor("alice", &["systems_support"]);
        let carl = actor("carl", &["change_manager"]);
        let r = self
            .reply(
                &alice,
                &format!(
                    "!change Upgrade MTA service=email risk=medium type=normal window={} {extra}",
                    window(48, 50)
                ),
            )
            .await;
        assert!(r.text.starts_with("CHG-1 filed"), "{}", r.text);
        let r = self.reply(&carl, "!cab CHG-1").await;
        assert!(r.text.starts_with("CAB vote on CHG-1 is open"), "{}", r.text);
        let mut conn = self.desk.store().write().await.unwrap();
        store::cards::save(
            &mut conn,
            &CardRef {
                subject: "CHG-1".into(),
                channel_id: "cab".into(),
                message_id: "500".into(),
                thread_id: None,
                previous: None,
            },
        )
        .await
        .unwrap();
    }
}

async fn harness() -> (Harness, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    (Harness::new(store, Clock::fixed(start())), dir)
}

#[tokio::test]
async fn a_replayed_reaction_is_counted_once_but_adding_it_again_after_removing_counts() {
    let (h, _dir) = harness().await;
    h.open_vote("").await;
    let bob = actor("bob", &["cab"]);
    assert!(matches!(h.react(&bob, "500", "✅", true).await, Outcome::Reply(r) if r.text.contains("counted: approve")));
    // The gateway delivers the same event again: nothing changes, nothing is said.
    assert_eq!(h.react(&bob, "500", "✅", true).await, Outcome::Duplicate);
    assert_eq!(h.scalar("SELECT COUNT(*) FROM cab_ballots").await, 1);
    assert!(matches!(h.react(&bob, "500", "✅", false).await, Outcome::Reply(r) if r.text.contains("withdrawn")));
    assert_eq!(h.react(&bob, "500", "✅", false).await, Outcome::Duplicate);
    assert_eq!(h.scalar("SELECT COUNT(*) FROM cab_ballots").await, 0);
    // Same adapter key as the first add, yet a new event: counted again.
    assert!(matches!(h.react(&bob, "500", "✅", true).await, Outcome::Reply(r) if r.text.contains("counted: approve")));
    assert_eq!(h.text("SELECT choice FROM cab_ballots").await, "approve");
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM audit WHERE action = 'cab_ballot'").await,
        3
    );
    assert_eq!(h.scalar("SELECT MAX(generation) FROM reaction_state").await, 3);
}

#[tokio::test]
async fn a_switched_ballot_takes_back_the_old_reaction_and_its_removal_event_changes_nothing() {
    let (h, _dir) = harness().await;
    h.open_vote("").await;
    let bob = actor("bob", &["cab"]);
    h.react(&bob, "500", "❌", true).await;
    let Outcome::Reply(r) = h.react(&bob, "500", "✅", true).await else {
        panic!("no reply")
    };
    assert_eq!(r.remove_reactions, vec!["❌".to_owned()]);
    assert!(r.text.contains("changed from reject to approve"), "{}", r.text);
    // The platform reports the bot's removal of ❌: the ✅ ballot stands.
    assert_eq!(h.react(&bob, "500", "❌", false).await, Outcome::Duplicate);
    assert_eq!(h.text("SELECT choice FROM cab_ballots").await, "approve");
    // An emoji that is not a choice is left alone and not counted.
    assert_eq!(h.react(&bob, "500", "👍", true).await, Outcome::Ignored);
    assert_eq!(h.scalar("SELECT COUNT(*) FROM cab_ballots").await, 1);
}

#[tokio::test]
async fn segregation_of_duties_keeps_the_requester_and_implementer_from_voting() {
    let (h, _dir) = harness().await;
    let ivan = actor("ivan", &["cab"]);
    h.say(&ivan, "!help").await;
    h.open_vote("implementer=@ivan").await;
    let alice = actor("alice", &["cab", "systems_support"]);
    let dave = actor("dave", &["service_desk"]);
    for (who, why) in [
        (&alice, "you requested this change"),
        (&ivan, "you are implementing this change"),
        (&dave, "voting needs one of these roles: cab"),
    ] {
        match h.react(who, "500", "✅", true).await {
            Outcome::Reply(r) => {
                assert!(r.remove_reaction && r.private && r.text.contains(why), "{}", r.text);
            }
            other => panic!("{other:?}"),
        }
        // The reaction is recorded as taken back: the removal event is no news.
        assert_eq!(h.react(who, "500", "✅", false).await, Outcome::Duplicate);
    }
    assert_eq!(h.scalar("SELECT COUNT(*) FROM cab_ballots").await, 0);
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM audit WHERE action = 'cab_ballot'").await,
        0
    );
}

#[tokio::test]
async fn a_vote_closes_at_its_deadline_after_a_restart_and_later_reactions_change_nothing() {
    let (store, _dir) = temp_store().await;
    let clock = Clock::fixed(start());
    {
        let h = Harness::new(store.clone(), clock.clone());
        h.open_vote("").await;
        h.react(&actor("bob", &["cab"]), "500", "✅", true).await;
    }
    // The bot is down past the 48 h deadline; a new desk on the same database catches up.
    clock.advance(TimeDelta::hours(50));
    let h = Harness::new(store, clock);
    // The reminder at 75 % of the deadline, then the deadline itself.
    assert_eq!(h.desk.fire_due_timers().await.unwrap(), 2);
    assert_eq!(h.desk.fire_due_timers().await.unwrap(), 0);
    assert_eq!(h.text("SELECT outcome FROM cab_votes").await, "no_quorum");
    assert_eq!(h.text("SELECT state FROM changes").await, "cab_vote");
    let notice = h
        .text("SELECT payload FROM outbox WHERE payload LIKE '%closed: no quorum%' AND kind = 'post'")
        .await;
    assert!(notice.contains("2h late"), "{notice}");
    match h.react(&actor("erin", &["cab"]), "500", "✅", true).await {
        Outcome::Reply(r) => assert!(r.remove_reaction && r.text.contains("closed"), "{}", r.text),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.react(&actor("bob", &["cab"]), "500", "✅", false).await,
        Outcome::Ignored
    );
    assert_eq!(h.scalar("SELECT COUNT(*) FROM cab_ballots").await, 1);
}

#[tokio::test]
async fn ending_the_vote_on_chg_1_leaves_the_deadline_of_chg_10() {
    let (store, _dir) = temp_store().await;
    let clock = Clock::fixed(start());
    let h = Harness::new(store, clock.clone());
    let alice = actor("alice", &["systems_support"]);
    let carl = actor("carl", &["change_manager"]);
    for n in 1..=10 {
        let r = h
            .reply(
                &alice,
                &format!("!change Patch host {n} service=email risk=low type=normal"),
            )
            .await;
        assert!(r.text.starts_with(&format!("CHG-{n} filed")), "{}", r.text);
    }
    let r = h.reply(&carl, "!cab CHG-10 deadline=2h").await;
    assert!(r.text.starts_with("CAB vote on CHG-10 is open"), "{}", r.text);
    let r = h.reply(&carl, "!cab CHG-1").await;
    assert!(r.text.starts_with("CAB vote on CHG-1 is open"), "{}", r.text);
    // CHG-1's vote ends (with its change); CHG-10's deadline must still stand.
    let r = h.reply(&carl, "!change cancel CHG-1 withdrawn").await;
    assert!(r.text.contains("CHG-1"), "{}", r.text);
    assert_eq!(
        h.scalar("SELECT cancelled FROM timers WHERE kind = 'cab_close' AND key = 'CHG-10'")
            .await,
        0
    );
    clock.advance(TimeDelta::hours(3));
    // CHG-10's reminder and its deadline; CHG-1's were stopped with its vote.
    assert_eq!(h.desk.fire_due_timers().await.unwrap(), 2);
    assert_eq!(
        h.text("SELECT outcome FROM cab_votes WHERE change_id = 10").await,
        "no_quorum"
    );
    assert_eq!(
        h.text("SELECT status FROM cab_votes WHERE change_id = 1").await,
        "cancelled"
    );
}

#[tokio::test]
async fn bad_change_input_gets_a_clear_reply_and_changes_nothing() {
    let (h, _dir) = harness().await;
    let alice = actor("alice", &["systems_support"]);
    let carl = actor("carl", &["change_manager"]);
    let nobody = actor("nobody", &[]);
    h.reply(
        &alice,
        &format!(
            "!change Upgrade MTA service=email risk=medium type=normal window={}",
            window(48, 50)
        ),
    )
    .await;
    let before = (
        h.scalar("SELECT COUNT(*) FROM changes").await,
        h.scalar("SELECT COUNT(*) FROM audit").await,
        h.scalar("SELECT COUNT(*) FROM outbox").await,
        h.scalar("SELECT COUNT(*) FROM timers").await,
    );
    let cases: Vec<(&Actor, String, &str)> = vec![
        (
            &alice,
            "!cab CHG-1".into(),
            "Only the change authority (Change Manager) may run `!cab`.",
        ),
        (&carl, "!cab CHG-9".into(), "CHG-9 does not exist."),
        (
            &carl,
            "!cab CHG-1 deadline=soon".into(),
            "Deadline \"soon\" is not a duration",
        ),
        (
            &carl,
            "!cab CHG-1 deadline=40d".into(),
            "A vote deadline of 40d is out of range",
        ),
        (&carl, "!authorize CHG-1".into(), "CHG-1 has not been voted on"),
        (
            &alice,
            format!("!change x service=email risk=low type=normal window={}", window(5, 4)),
            "The window must end after it starts",
        ),
        (
            &alice,
            format!("!change x service=email risk=low type=normal window={}", window(-5, 4)),
            "which is in the past",
        ),
        (
            &alice,
            "!change x service=emial risk=low type=normal".into(),
            "`emial` is not a service. Did you mean `email`?",
        ),
        (
            &alice,
            "!change Reboot everything service=email risk=low type=standard".into(),
            "is not in the standard change catalogue",
        ),
        (
            &alice,
            "!change Restart the mail relay service=email risk=high type=standard".into(),
            "pre-approved only at risk=low",
        ),
        (
            &alice,
            "!change x service=email risk=low type=normal implementer=@ghost".into(),
            "I don't know `ghost` yet",
        ),
        (
            &nobody,
            "!change x service=email risk=low type=normal".into(),
            "Filing a change needs one of these roles",
        ),
        (
            &nobody,
            "!change cancel CHG-1".into(),
            "Only its requester or the change authority",
        ),
        (
            &carl,
            "!change status CHG-1 implementing".into(),
            "CHG-1: a normal change in new cannot move to implementing; allowed: assessment, cancelled.",
        ),
        (
            &carl,
            "!change status CHG-1 authorized".into(),
            "To move CHG-1 to authorized, use `!authorize CHG-1`.",
        ),
    ];
    for (who, line, expected) in cases {
        let r = h.reply(who, &line).await;
        assert!(r.private && r.text.contains(expected), "{line}: {}", r.text);
    }
    let after = (
        h.scalar("SELECT COUNT(*) FROM changes").await,
        h.scalar("SELECT COUNT(*) FROM audit").await,
        h.scalar("SELECT COUNT(*) FROM outbox").await,
        h.scalar("SELECT COUNT(*) FROM timers").await,
    );
    assert_eq!(before, after);
    assert_eq!(h.text("SELECT state FROM changes").await, "new");
}

#[tokio::test]
async fn only_the_change_authority_decides_and_never_on_its_own_change() {
    let (h, _dir) = harness().await;
    h.open_vote("").await;
    for name in ["bob", "erin", "fred"] {
        h.react(&actor(name, &["cab"]), "500", "✅", true).await;
    }
    assert_eq!(h.text("SELECT outcome FROM cab_votes").await, "approved");
    let bob = actor("bob", &["cab"]);
    let r = h.reply(&bob, "!authorize CHG-1").await;
    assert!(
        r.private && r.text.starts_with("Only the change authority"),
        "{}",
        r.text
    );
    let alice_cm = actor("alice", &["change_manager"]);
    let r = h.reply(&alice_cm, "!authorize CHG-1").await;
    assert!(r.text.contains("segregation of duties"), "{}", r.text);
    assert_eq!(h.text("SELECT state FROM changes").await, "cab_vote");
    let carl = actor("carl", &["change_manager"]);
    let r = h.reply(&carl, "!authorize CHG-1").await;
    assert!(
        !r.private && r.text.contains("carl authorized CHG-1; it is scheduled"),
        "{}",
        r.text
    );
    assert_eq!(h.text("SELECT state FROM changes").await, "scheduled");
    // The planned outage notice is a stored timer, lead time before the window.
    let due = h.scalar("SELECT due_at FROM timers WHERE kind = 'change_notice'").await;
    assert_eq!(
        due,
        (start() + TimeDelta::hours(48) - TimeDelta::hours(24)).timestamp_millis()
    );
    let r = h.reply(&carl, "!reject CHG-1 too late").await;
    assert!(r.text.contains("cannot move to rejected"), "{}", r.text);
}
