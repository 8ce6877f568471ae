//! Desk rules that need a database: replays, atomicity, permissions.

use super::testkit::{actor, line};
use super::*;
use crate::store::testing::{self, temp_store};

async fn count(desk: &Desk, table: &str) -> i64 {
    testing::scalar(desk.store(), &format!("SELECT COUNT(*) FROM {table}")).await
}

/// Runs one statement on the desk's writer (triggers that inject faults, caps).
async fn exec(desk: &Desk, sql: &str) {
    testing::exec(desk.store(), sql).await;
}

async fn desk() -> (Desk, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    (Desk::new(store, Policy::defaults(), Clock::system()), dir)
}

#[tokio::test]
async fn a_replayed_event_changes_nothing_and_gets_no_second_reply() {
    let (desk, _dir) = desk().await;
    let alice = actor("alice", &[]);
    let first = desk
        .handle(line("discord:msg:1", &alice, "!incident printer jam"))
        .await;
    assert!(
        matches!(first, Outcome::Reply(ref r) if r.text.starts_with("INC-1 logged")),
        "{first:?}"
    );
    let outbox = count(&desk, "outbox").await;
    for _ in 0..3 {
        assert_eq!(
            desk.handle(line("discord:msg:1", &alice, "!incident printer jam"))
                .await,
            Outcome::Duplicate
        );
    }
    // Read-only and refused commands are deduplicated too: no extra replies.
    let bad = line("discord:msg:2", &alice, "!frob");
    assert!(matches!(desk.handle(bad.clone()).await, Outcome::Reply(_)));
    assert_eq!(desk.handle(bad).await, Outcome::Duplicate);
    assert_eq!(count(&desk, "incidents").await, 1);
    assert_eq!(count(&desk, "audit").await, 1);
    assert_eq!(count(&desk, "outbox").await, outbox);
}

#[tokio::test]
async fn a_failure_mid_action_leaves_no_half_written_record() {
    let (desk, _dir) = desk().await;
    exec(
        &desk,
        "CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    )
    .await;
    let alice = actor("alice", &[]);
    let outcome = desk.handle(line("k1", &alice, "!incident printer jam")).await;
    assert_eq!(outcome, Outcome::Reply(Reply::private(render::unexpected())));
    for table in ["incidents", "audit", "outbox", "inbound_events"] {
        assert_eq!(count(&desk, table).await, 0, "{table}");
    }
    // The event was not recorded as seen, so a retry after the fault succeeds.
    exec(&desk, "DROP TRIGGER boom").await;
    assert!(matches!(desk.handle(line("k1", &alice, "!incident printer jam")).await, Outcome::Reply(r) if !r.private));
    assert_eq!(count(&desk, "incidents").await, 1);
}

#[tokio::test]
async fn ordinary_chat_and_unused_emoji_are_ignored() {
    let (desk, _dir) = desk().await;
    let alice = actor("alice", &[]);
    assert_eq!(desk.handle(line("k1", &alice, "good morning")).await, Outcome::Ignored);
    let react = Inbound {
        key: "k2".into(),
        actor: alice,
        channel: None,
        event: Event::Reaction {
            message_id: "9".into(),
            emoji: "🎉".into(),
            added: true,
            message: None,
        },
    };
    assert_eq!(desk.handle(react).await, Outcome::Ignored);
    assert_eq!(count(&desk, "inbound_events").await, 0);
}

#[tokio::test]
async fn non_agents_see_only_their_own_incidents_and_agents_see_all() {
    let (desk, _dir) = desk().await;
    let alice = actor("alice", &[]);
    let bob = actor("bob", &[]);
    let agent = actor("sam", &["service_desk"]);
    desk.handle(line("1", &alice, "!incident alice's laptop")).await;
    desk.handle(line("2", &bob, "!incident bob's phone")).await;
    let list = |who: &Actor, key: &str, text: &str| {
        let inbound = line(key, who, text);
        let desk = desk.clone();
        async move {
            match desk.handle(inbound).await {
                Outcome::Reply(r) => r.text,
                other => panic!("{other:?}"),
            }
        }
    };
    let a = list(&alice, "3", "!incidents all").await;
    assert!(a.contains("alice's laptop") && !a.contains("bob's phone"), "{a}");
    let s = list(&agent, "4", "!incidents all").await;
    assert!(s.contains("alice's laptop") && s.contains("bob's phone"), "{s}");
    let m = list(&agent, "5", "!incidents mine").await;
    assert_eq!(m, "No incidents assigned to you or reported by you.");
}

/// Queues `lines` while the writer's turn is held, so they all land in one batch.
async fn one_batch(desk: &Desk, lines: Vec<Inbound>) -> Vec<Outcome> {
    let turn = desk.inner.writer.hold_turn().await;
    let tasks: Vec<_> = lines
        .into_iter()
        .map(|l| {
            let desk = desk.clone();
            tokio::spawn(async move { desk.handle(l).await })
        })
        .collect();
    let n = tasks.len();
    while desk.inner.writer.queued() < n {
        tokio::task::yield_now().await;
    }
    drop(turn);
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_one_commit_and_a_refused_one_rolls_back_alone() {
    let (desk, _dir) = desk().await;
    let alice = actor("alice", &[]);
    desk.handle(line("k0", &alice, "!incident first")).await;
    let before = desk.commit_stats();
    let mut lines: Vec<Inbound> = (1..=10)
        .map(|i| line(&format!("k{i}"), &alice, &format!("!incident batch {i}")))
        .collect();
    // A refusal (not an agent), a usage error and a replay of an earlier event, in the middle.
    lines.insert(3, line("r1", &alice, "!take INC-1"));
    lines.insert(6, line("r2", &alice, "!show"));
    lines.insert(8, line("k0", &alice, "!incident first"));
    let outcomes = one_batch(&desk, lines).await;
    let after = desk.commit_stats();
    assert_eq!(
        after.0 - before.0,
        1,
        "one transaction for the batch: {before:?} → {after:?}"
    );
    assert_eq!(after.1 - before.1, 13);

    let public = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Reply(r) if !r.private && r.text.contains("logged")))
        .count();
    assert_eq!(public, 10, "{outcomes:?}");
    assert!(matches!(&outcomes[3], Outcome::Reply(r) if r.private && r.text.contains("Only agents")));
    assert!(matches!(&outcomes[6], Outcome::Reply(r) if r.private && r.text.starts_with("Missing <id>")));
    assert_eq!(outcomes[8], Outcome::Duplicate);
    // Each caller got its own incident.
    let mut ids: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Reply(r) if !r.private => r.text.split(' ').next(),
            _ => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    assert_eq!(count(&desk, "incidents").await, 11);
    assert_eq!(count(&desk, "audit").await, 11);
    // Card, thread welcome, and the accountable incident manager told.
    assert_eq!(count(&desk, "outbox").await, 33);
    // Refusals keep the event's identity (no second answer to a replay).
    assert_eq!(count(&desk, "inbound_events").await, 13);
    let assigned = testing::scalar(
        desk.store(),
        "SELECT COUNT(*) FROM incidents WHERE assignee IS NOT NULL",
    )
    .await;
    assert_eq!(assigned, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_in_a_batch_undoes_that_command_only() {
    let (desk, _dir) = desk().await;
    exec(
        &desk,
        "CREATE TRIGGER boom BEFORE INSERT ON outbox WHEN NEW.payload LIKE '%doomed%'
             BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    )
    .await;
    let alice = actor("alice", &[]);
    let lines = vec![
        line("a", &alice, "!incident fine one"),
        line("b", &alice, "!incident doomed one"),
        line("c", &alice, "!incident fine two"),
    ];
    let outcomes = one_batch(&desk, lines).await;
    assert!(matches!(&outcomes[0], Outcome::Reply(r) if !r.private));
    assert_eq!(outcomes[1], Outcome::Reply(Reply::private(render::unexpected())));
    assert!(matches!(&outcomes[2], Outcome::Reply(r) if !r.private));
    assert_eq!(count(&desk, "incidents").await, 2);
    assert_eq!(count(&desk, "audit").await, 2);
    assert_eq!(count(&desk, "outbox").await, 6);
    // The failed one left no trace, so it can be tried again.
    assert_eq!(count(&desk, "inbound_events").await, 2);
    let doomed = testing::scalar(
        desk.store(),
        "SELECT COUNT(*) FROM incidents WHERE title LIKE 'doomed%'",
    )
    .await;
    assert_eq!(doomed, 0);
}

/// Titles of the incidents a fresh store on the same file finds: what a
/// restart would see.
async fn titles_after_restart(dir: &tempfile::TempDir) -> Vec<String> {
    let url = testing::url_in(dir);
    let store = Store::open(&url).await.unwrap();
    let titles = testing::texts(
        &store,
        "SELECT i.title FROM incidents i
          WHERE EXISTS (SELECT 1 FROM audit a WHERE a.subject = 'INC-' || i.id)
            AND EXISTS (SELECT 1 FROM outbox o WHERE o.subject = 'INC-' || i.id)
          ORDER BY i.id",
    )
    .await;
    store.close().await;
    titles
}

/// True when another connection can take the write lock at once (nothing is
/// holding a transaction open on the desk's writer).
async fn another_process_can_write(dir: &tempfile::TempDir) -> bool {
    testing::another_connection_can_write(&dir.path().join("test.db")).await
}

fn logged(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Reply(r) if !r.private && r.text.contains("logged"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_undoes_the_whole_transaction_is_refused_alone_and_later_commits_are_real() {
    // RAISE(ROLLBACK) makes SQLite roll the whole transaction back by itself,
    // as it does on SQLITE_FULL: sqlx's savepoint bookkeeping is then wrong,
    // and the writer must notice instead of reusing the connection. The other
    // commands of that batch lost their work with it and run again.
    let (desk, dir) = desk().await;
    exec(
        &desk,
        "CREATE TRIGGER wreck BEFORE INSERT ON incidents WHEN NEW.title LIKE 'wreck%'
             BEGIN SELECT RAISE(ROLLBACK, 'injected fault'); END",
    )
    .await;
    let alice = actor("alice", &[]);
    let doomed = one_batch(
        &desk,
        vec![
            line("a", &alice, "!incident fine a"),
            line("b", &alice, "!incident wreck in a batch"),
            line("c", &alice, "!incident fine b"),
        ],
    )
    .await;
    assert!(logged(&doomed[0]) && logged(&doomed[2]), "{doomed:?}");
    assert_eq!(doomed[1], Outcome::Reply(Reply::private(render::unexpected())));
    let lone = desk.handle(line("d", &alice, "!incident wreck alone")).await;
    assert_eq!(lone, Outcome::Reply(Reply::private(render::unexpected())));

    let later = one_batch(
        &desk,
        vec![
            line("e", &alice, "!incident fine c"),
            line("f", &alice, "!incident fine d"),
        ],
    )
    .await;
    assert!(later.iter().all(logged), "{later:?}");
    assert!(logged(&desk.handle(line("g", &alice, "!incident fine e")).await));
    // The failed command left no identity: sent again (the trigger gone), it is logged.
    exec(&desk, "DROP TRIGGER wreck").await;
    assert!(logged(&desk.handle(line("d", &alice, "!incident wreck alone")).await));
    assert_eq!(
        desk.handle(line("a", &alice, "!incident fine a")).await,
        Outcome::Duplicate
    );

    assert!(
        another_process_can_write(&dir).await,
        "the writer holds no transaction open"
    );
    drop(desk);
    let mut titles = titles_after_restart(&dir).await;
    // A batch's commands queue in whatever order their tasks ran.
    titles.sort();
    assert_eq!(
        titles,
        ["fine a", "fine b", "fine c", "fine d", "fine e", "wreck alone"],
        "every acknowledged incident, with its audit and outbox rows, and nothing else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_is_answered_not_saved_and_the_next_command_after_space_is_freed_commits() {
    // `max_page_count` makes SQLite answer SQLITE_FULL as a full disk would.
    let (desk, dir) = desk().await;
    let alice = actor("alice", &[]);
    assert!(logged(
        &desk.handle(line("a", &alice, "!incident before the disk filled")).await
    ));
    // On the writer: the cap is a setting of the connection, not of the file.
    let pages = testing::scalar(desk.store(), "PRAGMA page_count").await;
    exec(&desk, &format!("PRAGMA max_page_count = {pages}")).await;
    let mut refused = 0;
    for i in 0..40 {
        let text = format!("!incident while full {i} {}", "x".repeat(180));
        match desk.handle(line(&format!("full{i}"), &alice, &text)).await {
            Outcome::Reply(r)
                if r.text
                    .starts_with("Not saved: the database cannot be written: disk full") =>
            {
                refused += 1
            }
            other => assert!(logged(&other), "{other:?}"),
        }
    }
    assert!(refused > 0, "the cap filled the database");
    assert_eq!(desk.store().writable(), Err(crate::store::WriteFault::DiskFull));
    // Space freed: the cap is lifted on whichever connection is the writer now.
    exec(&desk, "PRAGMA max_page_count = 1073741823").await;
    assert!(logged(
        &desk
            .handle(line("b", &alice, "!incident after the space was freed"))
            .await
    ));
    assert_eq!(desk.store().writable(), Ok(()));
    assert!(another_process_can_write(&dir).await);
    let acknowledged = 2 + 40 - refused;
    drop(desk);
    let titles = titles_after_restart(&dir).await;
    assert_eq!(titles.len(), acknowledged, "{titles:?}");
    assert_eq!(titles.first().map(String::as_str), Some("before the disk filled"));
    assert_eq!(titles.last().map(String::as_str), Some("after the space was freed"));
}

#[tokio::test]
async fn show_lists_the_latest_fifty_notes_and_says_how_many_there_are() {
    let (desk, _dir) = desk().await;
    let alice = actor("alice", &[]);
    assert!(logged(
        &desk.handle(line("i", &alice, "!incident chatty printer")).await
    ));
    for n in 1..=52 {
        let note = format!("!note INC-1 note number {n:02}");
        desk.handle(line(&format!("n{n}"), &alice, &note)).await;
    }
    let Outcome::Reply(shown) = desk.handle(line("s", &alice, "!show INC-1")).await else {
        panic!("no answer to !show");
    };
    assert!(shown.text.contains("Notes (the latest 50 of 52):"), "{}", shown.text);
    assert!(shown.text.contains("note number 52") && shown.text.contains("note number 03"));
    assert!(!shown.text.contains("note number 02"), "only the latest fifty");
}

#[tokio::test]
async fn help_lists_only_what_the_caller_may_run_grouped_and_explains_one_with_who_may() {
    use super::testkit::{actor, say};
    let (desk, _dir) = desk().await;
    let alice = actor("alice", &[]);
    let sam = actor("sam", &["service_desk"]);
    let hers = say(&desk, "1", &alice, "!help").await.text;
    assert!(
        hers.contains("**Incidents**") && hers.contains("`!incident` — Report an incident"),
        "{hers}"
    );
    for not_hers in ["`!take`", "`!change`", "`!outage`", "`!major`"] {
        assert!(!hers.contains(not_hers), "{not_hers} in {hers}");
    }
    assert!(hers.contains("  e.g. `!incident Mail is down"), "{hers}");
    let his = say(&desk, "2", &sam, "!help").await.text;
    assert!(
        his.contains("`!take` — Claim an incident") && his.contains("**Outages and services**"),
        "{his}"
    );
    let take = say(&desk, "3", &alice, "!help claim").await.text;
    assert!(take.starts_with("`!take INC-<n>`"), "{take}");
    assert!(take.contains("Who may run it: agents."), "{take}");
    assert!(
        take.contains("Example: `!take INC-12`") && take.contains("Also: `!claim`"),
        "{take}"
    );
    let cancel = say(&desk, "4", &alice, "!help cancel").await.text;
    assert!(
        cancel.contains("Who may run it: its reporter, its assignee, its assignment group (the support tier holding it) and agents."),
        "{cancel}"
    );
    let unknown = say(&desk, "5", &alice, "!help frobnicate").await;
    assert!(
        unknown.private && unknown.text.contains("Try `!help`"),
        "{}",
        unknown.text
    );
}
