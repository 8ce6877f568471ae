//! A standby that takes over (issue 21, point 4): the real `opsdesk run`
//! binary three times on one real PostgreSQL database, against the fake
//! Discord. The active holds the desk's advisory lock; a standby waits for it,
//! answers `/readyz` with 503 naming the active, and `opsdesk status` names
//! both. The active hangs (SIGSTOP) in the middle of an outage fan-out while a
//! survey timer falls due, and is then killed -9: the standby connects within
//! `ha.takeover_within`, delivers the rest of the fan-out and fires the timer,
//! once each. Then the server ends the new active's lock session (what it
//! does to a peer lost off the network): that process stops itself with exit
//! 1 and a third takes over.

use std::time::{Duration, Instant};

use opsdesk::desk::Desk;
use opsdesk::store::Store;

use crate::bot::{self, WAIT};
use crate::discord_outage::{dms, dms_created, extra_members, guild_with_members, subscribe};
use crate::fake_discord::FakeDiscord;
use crate::ops::{declare_offline, exit_code, free_port, run_binary, signal};
use crate::util::{opsdesk, scalar, TestDb};

/// `ha.takeover_within` as the binary runs it (the default).
const TAKEOVER: Duration = Duration::from_secs(15);

/// Subscribers of the outage whose fan-out the active is killed in.
const SUBSCRIBERS: u64 = 60;

/// `/readyz` on `port`, once it answers, until `want` holds of its answer.
async fn readyz_until(port: u16, what: &str, want: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = (0, String::new());
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
            last = (r.status().as_u16(), r.text().await.unwrap_or_default());
            if want(last.0, &last.1) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz on {port}: {what}; last answer {last:?}");
}

/// `opsdesk status` on the database.
fn status(db: &TestDb) -> String {
    let out = opsdesk().args(["--database", &db.url(), "status"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn log(db: &TestDb, name: &str) -> std::path::PathBuf {
    db.dir.path().join(format!("{name}.log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_killed_active_mid_fan_out_and_nothing_is_lost_or_sent_twice() {
    let Some(pg) = crate::pg::TestPostgres::start(
        "a_standby_takes_over_from_a_killed_active_mid_fan_out_and_nothing_is_lost_or_sent_twice",
    )
    .await
    else {
        return;
    };
    let db = TestDb::on_postgres(pg);
    let fake = FakeDiscord::start(guild_with_members(SUBSCRIBERS)).await;
    let spec = fake.spec().clone();
    let (alice, bob) = (spec.user_id("alice"), spec.user_id("bob"));
    let subscribers = extra_members(&spec);
    subscribe(&fake, &db, &subscribers).await;
    {
        let desk = bot::offline_desk(&fake, &db).await;
        let logged = bot::say(&desk, "printer", bob, "bob", &[], "!incident Printer on fire").await;
        assert!(logged.starts_with("INC-1 logged"), "{logged}");
        desk.store().close().await;
    }
    declare_offline(&fake, &db).await;

    // Slow enough that the fan-out is under way when the active hangs.
    let paced = ("OPSDESK_DISCORD__REQUESTS_PER_SECOND", "20");
    let (port_a, port_b, port_c) = (free_port(), free_port(), free_port());
    // `opsdesk run` as the operator starts it, its HTTP listener on `port`, logging to `<name>.log`.
    let start = |name: &str, port: u16| {
        let listen = format!("\"127.0.0.1:{port}\"");
        run_binary(&fake, &db, &log(&db, name), &[paced, ("OPSDESK_HTTP__LISTEN", &listen)])
    };
    let mut a = start("a", port_a);
    fake.wait_for_gateway(
        "the first process's session",
        |s| s.identifies == 1 && s.connected,
        WAIT,
    )
    .await
    .expect("the first process runs the desk");
    let (_, ready) = readyz_until(port_a, "the active is ready", |code, _| code == 200).await;
    assert_eq!(ready, "ready: active (this process holds the desk's lock)\n");

    let mut b = start("b", port_b);
    let (_, standby) = readyz_until(port_b, "the second is a standby", |code, body| {
        code == 503 && body.contains("standby")
    })
    .await;
    assert!(
        standby.starts_with("not ready: standby: opsdesk run on ")
            && standby.contains(&format!(", pid {} ", a.id().unwrap()))
            && standby.ends_with("holds the desk's lock; this process takes over when its session ends\n"),
        "{standby}"
    );
    let told = status(&db);
    assert!(
        told.contains("desk       active: opsdesk run on ")
            && told.contains(&format!(", pid {}", a.id().unwrap()))
            && told.contains("  standby: opsdesk run on ")
            && told.contains(&format!(", pid {}", b.id().unwrap())),
        "{told}"
    );

    // The active hangs part-way through the fan-out.
    fake.wait_for("some direct messages", |c| dms_created(c) >= 10, WAIT)
        .await
        .unwrap();
    signal(&a, "STOP");
    let sent = dms_created(&fake.calls());
    assert!(
        sent < subscribers.len(),
        "the active hung before the fan-out ended ({sent} sent)"
    );
    assert_eq!(
        fake.gateway_stats().identifies,
        1,
        "the standby does not connect while the lock is held"
    );
    // Meanwhile the incident is resolved (by a desk beside them) and its
    // one-second survey falls due with nobody running the desk.
    {
        let store = Store::open(&db.url()).await.expect("open store");
        let quick = bot::policy_with(&fake, &[("OPSDESK_INCIDENT__SURVEY_TIMEOUT", "\"1s\"")]);
        let desk = Desk::new(store, quick, opsdesk::desk::Clock::system());
        let resolved = bot::say(
            &desk,
            "resolve",
            alice,
            "alice",
            &["Service Desk"],
            "!resolve INC-1 new toner",
        )
        .await;
        assert!(
            resolved.contains("INC-1") && resolved.contains("resolved"),
            "{resolved}"
        );
        desk.store().close().await;
    }
    let due = "SELECT COUNT(*) FROM timers WHERE kind = 'survey' AND fired_at IS NULL AND due_at <= ";
    let deadline = tokio::time::Instant::now() + WAIT;
    while scalar(&db, &format!("{due}{}", chrono::Utc::now().timestamp_millis())).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the survey timer falls due");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    const SURVEY_FIRED: &str = "SELECT COUNT(*) FROM timers WHERE kind = 'survey' AND fired_at IS NOT NULL";
    assert_eq!(scalar(&db, SURVEY_FIRED).await, 0, "nobody fired the due survey yet");

    let killed = Instant::now();
    signal(&a, "KILL");
    a.wait().await.unwrap();
    fake.wait_for_gateway("the standby's session", |s| s.identifies == 2 && s.connected, TAKEOVER)
        .await
        .expect("the standby connects within ha.takeover_within");
    let took = killed.elapsed();
    eprintln!(
        "measured: standby connected to the gateway {:.2} s after the active's kill -9 (ha.takeover_within {} s)",
        took.as_secs_f64(),
        TAKEOVER.as_secs()
    );
    let (_, ready) = readyz_until(port_b, "the new active is ready", |code, _| code == 200).await;
    assert_eq!(ready, "ready: active (this process holds the desk's lock)\n");

    fake.wait_for(
        "every subscriber's direct message",
        |c| dms_created(c) >= subscribers.len(),
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    crate::proofs_discord::until(&fake, "the survey timer fired", WAIT, || async {
        scalar(&db, SURVEY_FIRED).await == 1
    })
    .await;
    bot::drained(&fake, &db).await;
    for &user in &subscribers {
        let got = dms(&fake, user);
        assert_eq!(got.len(), 1, "user {user} got {got:?}");
        assert!(
            got[0].starts_with("🔴 OUT-1 · Email · major outage: Mail is down\n"),
            "{}",
            got[0]
        );
    }
    assert_eq!(
        fake.bot_messages(spec.channel_id("status")).len(),
        1,
        "the status card was posted once"
    );
    assert_eq!(
        crate::util::text(&db, "SELECT state FROM incidents WHERE id = 1").await,
        "closed",
        "the survey's timeout closed INC-1"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit WHERE subject = 'INC-1' AND action = 'close_incident'"
        )
        .await,
        1,
        "closed once"
    );
    let told = status(&db);
    assert!(
        told.contains(&format!(", pid {}", b.id().unwrap())) && !told.contains("  standby:"),
        "{told}"
    );

    // The server ends the new active's lock session, as it does a peer's it
    // finds gone off the network: that process stops itself, and a third
    // one, waiting, takes over.
    let mut c = start("c", port_c);
    readyz_until(port_c, "the third is a standby", |code, body| {
        code == 503 && body.contains("standby")
    })
    .await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
            AND l.classid::bigint = $1 AND l.objid = hashtext(current_schema())::oid",
    )
    .bind(i64::from(opsdesk::store::ha::LOCK_CLASS))
    .fetch_all(&mut db.conn().await)
    .await
    .unwrap();
    assert_eq!(ended, [true], "one session held the lock");
    let fenced = Instant::now();
    let code = exit_code(&mut b).await;
    let stderr_b = std::fs::read_to_string(log(&db, "b")).unwrap();
    assert_eq!(code, Some(1), "{stderr_b}");
    assert!(stderr_b.contains("lost the desk's lock"), "{stderr_b}");
    eprintln!(
        "measured: the active whose lock session ended stopped {:.2} s later",
        fenced.elapsed().as_secs_f64()
    );
    fake.wait_for_gateway(
        "the third process's session",
        |s| s.identifies == 3 && s.connected,
        TAKEOVER,
    )
    .await
    .expect("the third process takes over");
    let general = spec.channel_id("general");
    let asked = fake.inject_message(general, bob, "!incident VPN drops every hour");
    let answers = || {
        fake.bot_messages(general)
            .into_iter()
            .filter(|m| m.json["message_reference"]["message_id"].as_str() == Some(asked.to_string().as_str()))
            .count()
    };
    bot::eventually(&fake, "the answer from the third process", || answers() == 1).await;
    bot::drained(&fake, &db).await;
    assert_eq!(answers(), 1, "answered once");
    eprintln!(
        "measured: {} send(s) repeated with a nonce Discord had seen (posted by a killed process, not yet marked delivered)",
        fake.nonce_dedups()
    );

    signal(&c, "TERM");
    let stderr_c = std::fs::read_to_string(log(&db, "c")).unwrap_or_default();
    assert_eq!(exit_code(&mut c).await, Some(0), "{stderr_c}");
    assert!(
        status(&db).contains("desk       no opsdesk run holds the desk's lock"),
        "a clean stop gives the lock up"
    );
}
