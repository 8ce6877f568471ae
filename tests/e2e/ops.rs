//! The operator's side, with the real binary: shutdown on SIGTERM during a
//! fan-out, delivery that gives up honestly (a 403 on a card), the HTTP
//! listener's health and metrics, `status` / `backup` / `export` against a
//! live desk, logs without secrets, exit codes and stray environment variables.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use opsdesk::desk::{Actor, Event, Inbound, Outcome};
use opsdesk::domain::{RoleKey, UserId};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::bot::{self, WAIT};
use crate::discord_outage::{dms, dms_created, extra_members, guild_with_members, subscribe};
use crate::fake_discord::{CallMatcher, FakeDiscord, Fault, GuildSpec};
use crate::util::{opsdesk, scalar, TestDb};

/// The binary connected to `fake`, its stderr in `log`.
pub(crate) fn run_binary(fake: &FakeDiscord, db: &TestDb, log: &Path, extra: &[(&str, &str)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::from(opsdesk());
    cmd.args(["--database", &db.url(), "run"])
        .env("DISCORD_TOKEN", &fake.spec().token)
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_GATEWAY_URL", fake.gateway_url())
        .current_dir(db.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn opsdesk run")
}

pub(crate) fn signal(child: &tokio::process::Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .expect("kill");
    assert!(ok.success());
}

pub(crate) async fn exit_code(child: &mut tokio::process::Child) -> Option<i32> {
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("opsdesk exits in time")
        .expect("wait")
        .code()
}

fn wal(db: &TestDb) -> std::path::PathBuf {
    db.path().with_file_name("opsdesk.db-wal")
}

/// Declares an outage for email through the desk, before the bot connects.
pub(crate) async fn declare_offline(fake: &FakeDiscord, db: &TestDb) {
    let desk = bot::offline_desk(fake, db).await;
    let alice = fake.spec().user_id("alice");
    let inbound = Inbound {
        key: "test:declare".into(),
        actor: Actor {
            user: UserId::new(alice),
            name: "alice".into(),
            roles: vec![RoleKey::parse("service_desk").unwrap()],
        },
        channel: None,
        event: Event::Line("!outage email Mail is down impact=major".into()),
    };
    match desk.handle(inbound).await {
        Outcome::Reply(r) => assert!(r.text.contains("OUT-1 declared"), "{}", r.text),
        other => panic!("no reply to !outage: {other:?}"),
    }
    desk.store().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_fan_out_exits_0_checkpointed_and_a_restart_delivers_the_rest_once() {
    let fake = FakeDiscord::start(guild_with_members(40)).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let subscribers = extra_members(&spec);
    subscribe(&fake, &db, &subscribers).await;
    declare_offline(&fake, &db).await;
    let queued = scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await;
    assert!(queued >= 40, "{queued}");

    let log = db.dir.path().join("first.log");
    let mut first = run_binary(&fake, &db, &log, &[]);
    fake.wait_for("a few direct messages", |c| dms_created(c) >= 5, WAIT)
        .await
        .unwrap();
    signal(&first, "TERM");
    let code = exit_code(&mut first).await;
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("shutting down") && stderr.contains("SIGTERM"),
        "{stderr}"
    );
    assert!(!wal(&db).exists(), "the WAL is checkpointed and removed");
    let left = scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await;
    assert!(
        left > 0,
        "the fan-out was cut short by the signal (measure: {left} of {queued} left)"
    );

    let mut second = run_binary(&fake, &db, &db.dir.path().join("second.log"), &[]);
    bot::eventually(&fake, "every subscriber's notice", || {
        subscribers.iter().all(|u| !dms(&fake, *u).is_empty())
    })
    .await;
    signal(&second, "INT");
    assert_eq!(exit_code(&mut second).await, Some(0));
    for u in &subscribers {
        assert_eq!(dms(&fake, *u).len(), 1, "subscriber {u} got the declaration once");
    }
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
        )
        .await,
        0
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_pid_1_sigterm_still_stops_the_console_cleanly() {
    // `unshare --pid --fork` makes opsdesk PID 1 of a namespace, as `docker run` without --init.
    let probe = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--map-root-user", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot make a PID namespace here");
        return;
    }
    let db = TestDb::new();
    let mut cmd = tokio::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--map-root-user", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_opsdesk"))
        .args(["--database", &db.url(), "console"])
        .env_remove("DISCORD_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"!incident Printer jammed\n").await.unwrap();
    stdin.flush().await.unwrap();
    let db_ref = &db;
    crate::util::until("the console logged the incident", WAIT, || async move {
        scalar_or_zero(db_ref, "SELECT COUNT(*) FROM incidents").await > 0
    })
    .await;
    // The process inside the namespace is PID 1 there: signal it by its outer pid.
    let inner = std::fs::read_to_string(format!("/proc/{}/task/{0}/children", child.id().unwrap())).unwrap();
    let pid = inner.split_whitespace().next().expect("opsdesk runs").to_owned();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let code = exit_code(&mut child).await;
    drop(stdin);
    assert_eq!(code, Some(0));
    assert!(!wal(&db).exists());
}

async fn scalar_or_zero(db: &TestDb, sql: &str) -> i64 {
    use sqlx::ConnectOptions;
    let Ok(mut conn) = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db.path())
        .read_only(true)
        .connect()
        .await
    else {
        return 0;
    };
    sqlx::query_as::<_, (i64,)>(sql)
        .fetch_one(&mut conn)
        .await
        .map_or(0, |(n,)| n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_refused_403_is_blocked_the_reporter_is_told_by_dm_and_the_card_posts_once_permissions_change() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let desk_ch = spec.channel_id("service-desk");
    let general = spec.channel_id("general");
    let bob = spec.user_id("bob");
    let bot = bot::start(&fake, &db).await;
    let card_post = format!("/channels/{desk_ch}/messages");
    fake.fail_next(
        CallMatcher::custom(move |m, p| m == "POST" && p.trim_end_matches('/') == card_post),
        Fault::Custom {
            status: 403,
            body: json!({"code": 50013, "message": "Missing Permissions"}),
        },
    );
    let started = fake.elapsed();
    fake.inject_message(general, bob, "!incident Printer on fire");
    // The welcome, meant for the incident's thread, reaches the reporter by DM.
    bot::eventually(&fake, "the reporter's welcome by direct message", || {
        dms(&fake, bob).iter().any(|m| m.contains("thread"))
    })
    .await;
    let told_after = fake.elapsed() - started;
    let blocked = scalar(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'card' AND blocked_at IS NOT NULL AND delivered_at IS NULL",
    )
    .await;
    assert_eq!(blocked, 1, "the card is blocked, not failed or retried every second");
    let retries = fake
        .calls_matching(CallMatcher::custom({
            let p = format!("/channels/{desk_ch}/messages");
            move |m, path| m == "POST" && path.trim_end_matches('/') == p
        }))
        .len();

    // `opsdesk status` names the blocked record while the bot runs.
    let status = opsdesk().args(["--database", &db.url(), "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(
        text.contains("1 blocked") && text.contains("(INC-1)") && text.contains("Missing Permissions"),
        "{text}"
    );

    // A permission change (a role updated) clears it: the card is posted, with its thread.
    let role = fake.create_role("Desk Bot");
    fake.rename_role(role, "Desk Bot (posting)");
    bot::eventually(&fake, "the card posted after the change", || {
        fake.bot_messages(desk_ch).iter().any(|m| !m.embeds().is_empty())
    })
    .await;
    eprintln!(
        "measured: reporter told by DM {} ms after the 403; {retries} card attempt(s) while blocked",
        told_after.as_millis()
    );
    assert_eq!(retries, 1, "no retry loop while blocked");
    // The card's thread and what waits for it follow the card: all of it is delivered.
    bot::drained(&fake, &db).await;
    bot.stop().await;
}

/// A free port on loopback (bound, then released for the binary).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `promtool check metrics` on a scrape; `None` when promtool is not installed (outside CI).
fn promtool(scrape: &str) -> Option<(bool, String)> {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("CI").is_none() => return None,
        Err(e) => panic!("promtool is required under CI (apt-get install prometheus): {e}"),
    };
    child.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_serves_health_readiness_and_valid_metrics_and_the_operator_commands_read_the_live_desk() {
    let db = TestDb::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = tokio::process::Command::from(opsdesk());
    cmd.args(["--database", &db.url(), "console"])
        .env("OPSDESK_HTTP__LISTEN", format!("\"{listen}\""))
        .current_dir(db.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut console = cmd.spawn().unwrap();
    let mut stdin = console.stdin.take().unwrap();
    stdin
        .write_all(b"!incident Mail is down impact=high urgency=high\n!incident Printer jammed\n")
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let scrape = loop {
        if let Ok(r) = http.get(format!("{base}/metrics")).send().await {
            let body = r.text().await.unwrap();
            if body.contains("opsdesk_open_incidents{priority=\"P1\"} 1") && body.contains("kind=\"incident\"") {
                break body;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the metrics show both incidents"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for family in [
        "opsdesk_commands_total",
        "opsdesk_command_duration_seconds_bucket",
        "opsdesk_outbox_messages{state=\"pending\"}",
        "opsdesk_outbox_oldest_pending_seconds",
        "opsdesk_sla_notices_total",
        "opsdesk_discord_rate_limited_total",
        "opsdesk_gateway_reconnects_total",
    ] {
        assert!(scrape.contains(family), "{family} missing:\n{scrape}");
    }
    match promtool(&scrape) {
        Some((ok, out)) => assert!(ok, "promtool check metrics: {out}\n{scrape}"),
        None => eprintln!("promtool not installed: format not validated (CI installs it)"),
    }
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (200, "ok\n".into()));
    assert_eq!(get("/readyz").await, (200, "ready\n".into()));
    let (code, body) = get("/nope").await;
    assert_eq!(code, 404, "{body}");
    let post = http.post(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);

    // A second desk on the same port: a clear message and EX_CONFIG, nothing served.
    let taken = opsdesk()
        .args(["--database", &db.url(), "console"])
        .env("OPSDESK_HTTP__LISTEN", format!("\"{listen}\""))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&taken.stderr);
    assert_eq!(taken.status.code(), Some(78), "{err}");
    assert!(
        err.contains("http.listen: cannot listen on") && err.contains(&listen),
        "{err}"
    );

    // The operator commands, while the console holds the database.
    let url = db.url();
    let run = |args: &[&str]| {
        let mut all = vec!["--database", url.as_str()];
        all.extend_from_slice(args);
        opsdesk().args(&all).current_dir(db.dir.path()).output().unwrap()
    };
    let status = run(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success());
    assert!(text.contains("incidents  2 open (P1: 1"), "{text}");
    assert!(text.contains("outbox") && text.contains("timers"), "{text}");

    let copy = db.dir.path().join("copy.db");
    let backup = run(&["backup", copy.to_str().unwrap()]);
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    assert!(String::from_utf8_lossy(&backup.stdout).contains("2 incidents); integrity_check: ok"));
    let again = run(&["backup", copy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let nowhere = run(&["backup", "/nonexistent/dir/copy.db"]);
    assert_ne!(nowhere.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("cannot write /nonexistent/dir/copy.db"));

    let jsonl = run(&["export", "incidents", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&jsonl.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["title"], "Mail is down");
    assert!(
        lines[0]["created_at"].as_str().unwrap().contains('T'),
        "times are RFC 3339"
    );
    let csv = run(&["export", "audit", "--format", "csv", "--since", "2000-01-01"]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.starts_with("id,at,actor,action,subject,details,phrased\n"), "{csv}");
    assert!(csv.lines().count() >= 3, "{csv}");
    let none = run(&["export", "incidents", "--since", "2999-01-01"]);
    assert!(none.status.success() && none.stdout.is_empty());
    let bad_kind = run(&["export", "tickets"]);
    assert_eq!(bad_kind.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_kind.stderr).contains("invalid value 'tickets'"));
    let bad_since = run(&["export", "incidents", "--since", "yesterday"]);
    assert_eq!(bad_since.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad_since.stderr).contains("--since: `yesterday`"));
    let missing = opsdesk()
        .args(["--database", "sqlite:///nonexistent/opsdesk.db", "status"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78));
    assert!(!Path::new("/nonexistent/opsdesk.db").exists());

    drop(stdin);
    assert_eq!(exit_code(&mut console).await, Some(0));
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents").await,
        2,
        "nothing changed by the operator commands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_at_trace_hold_no_token_or_password_no_colour_and_json_lines_parse() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let db = TestDb::new();
    let log = db.dir.path().join("trace.log");
    let mut child = run_binary(&fake, &db, &log, &[("RUST_LOG", "trace")]);
    fake.wait_for_call("PUT /applications/{app}/guilds/{guild}/commands", 0, WAIT)
        .await
        .expect("commands registered");
    signal(&child, "TERM");
    assert_eq!(exit_code(&mut child).await, Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let token = &fake.spec().token;
    assert!(text.len() > 10_000, "trace logs were written");
    assert!(!text.contains(token.as_str()), "the token appears in the trace log");
    assert!(!text.contains('\u{1b}'), "no ANSI colour when stderr is a file");
    let first = text
        .lines()
        .find(|l| l.contains("starting opsdesk"))
        .expect("the start line");
    assert!(
        first.contains(env!("CARGO_PKG_VERSION")) && first.contains("database="),
        "{first}"
    );

    // A password in a database URL is never printed, and the error says why once.
    let out = opsdesk()
        .args(["--database", "postgres://u:hunter2@127.0.0.1:1/desk", "migrate"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("postgres://u:***@127.0.0.1:1/desk"), "{err}");

    // JSON lines for a log collector.
    let out = opsdesk()
        .args(["--database", &db.url(), "migrate"])
        .env("OPSDESK_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
}

#[test]
fn config_errors_exit_78_stray_variables_warn_by_name_and_typos_get_a_suggestion() {
    let db = TestDb::new();
    let bad = opsdesk()
        .args(["check-config"])
        .env("OPSDESK_SLA__REOPEN", "again")
        .current_dir(db.dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(78), "{err}");
    assert!(err.contains("sla.reopen"), "{err}");
    assert_eq!(err.matches("sla.reopen").count(), 1, "said once: {err}");

    let stray = opsdesk()
        .args(["check-config"])
        .env("OPSDESK_PORT", "tcp://10.0.0.7:9187")
        .env("OPSDESK_SERVICE_HOST", "10.0.0.7")
        .current_dir(db.dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&stray.stderr);
    assert!(stray.status.success(), "{err}");
    assert!(
        err.contains("OPSDESK_PORT") && err.contains("OPSDESK_SERVICE_HOST"),
        "{err}"
    );

    let typo = opsdesk().args(["chek-config"]).output().unwrap();
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("check-config"));

    let no_token = opsdesk().args(["run"]).current_dir(db.dir.path()).output().unwrap();
    assert_eq!(no_token.status.code(), Some(78));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_a_post_waits_for_discords_retry_after_and_is_counted() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let (desk_ch, general, bob) = (
        spec.channel_id("service-desk"),
        spec.channel_id("general"),
        spec.user_id("bob"),
    );
    let bot = bot::start(&fake, &db).await;
    let card_post = format!("/channels/{desk_ch}/messages");
    fake.fail_next(
        CallMatcher::custom(move |m, p| m == "POST" && p.trim_end_matches('/') == card_post),
        Fault::RateLimited {
            retry_after_secs: 30.0,
            global: false,
        },
    );
    fake.inject_message(general, bob, "!incident Printer on fire");
    bot::eventually(&fake, "the 429 served", || fake.faults_served().rate_limited == 1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let error = loop {
        let e = scalar_text(&db, "SELECT COALESCE(last_error, '') FROM outbox WHERE kind = 'card'").await;
        if !e.is_empty() {
            break e;
        }
        assert!(tokio::time::Instant::now() < deadline, "the 429 is recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(error, "HTTP 429: rate limited, retry after 30.000s");
    let wait = scalar(
        &db,
        "SELECT next_attempt_at - created_at FROM outbox WHERE kind = 'card'",
    )
    .await;
    assert!(wait >= 30_000, "the next attempt waits for Retry-After: {wait} ms");
    let scrape = opsdesk::telemetry::metrics().encode();
    let counted = scrape
        .lines()
        .find_map(|l| l.strip_prefix("opsdesk_discord_rate_limited_total "))
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(counted >= 1.0, "{scrape}");
    bot.stop().await;
}

async fn scalar_text(db: &TestDb, sql: &str) -> String {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db.path())
        .read_only(true)
        .connect()
        .await
        .unwrap();
    sqlx::query_as::<_, (String,)>(sql)
        .fetch_optional(&mut conn)
        .await
        .unwrap()
        .map(|(s,)| s)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_past_its_grace_exits_1_saying_what_it_abandoned_and_the_rest_is_delivered_later() {
    let fake = FakeDiscord::start(guild_with_members(3)).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let subscribers = extra_members(&spec);
    subscribe(&fake, &db, &subscribers).await;
    declare_offline(&fake, &db).await;
    let guild_channels: Vec<u64> = spec.channels.iter().map(|c| c.id).collect();
    // The first direct message hangs far longer than the grace.
    fake.fail_next(
        CallMatcher::custom(move |m, p| {
            let seg: Vec<&str> = p.trim_matches('/').split('/').collect();
            m == "POST"
                && seg.len() == 3
                && seg[0] == "channels"
                && seg[2] == "messages"
                && seg[1].parse::<u64>().is_ok_and(|c| !guild_channels.contains(&c))
        }),
        Fault::Delay(Duration::from_secs(15)),
    );
    let log = db.dir.path().join("grace.log");
    let mut child = run_binary(&fake, &db, &log, &[("OPSDESK_SHUTDOWN__GRACE", "1s")]);
    fake.wait_for_call("POST /users/@me/channels", 0, WAIT)
        .await
        .expect("a DM channel opened");
    signal(&child, "TERM");
    let code = exit_code(&mut child).await;
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("did not finish within shutdown.grace") && stderr.contains("queued_messages="),
        "{stderr}"
    );
    assert!(stderr.contains("took longer than 1s"), "{stderr}");

    // What committed stays queued: a later start delivers every notice once.
    fake.clear_faults();
    let mut again = run_binary(&fake, &db, &db.dir.path().join("again.log"), &[]);
    bot::eventually(&fake, "every subscriber's notice", || {
        subscribers.iter().all(|u| !dms(&fake, *u).is_empty())
    })
    .await;
    signal(&again, "TERM");
    assert_eq!(exit_code(&mut again).await, Some(0));
}

#[test]
fn copy_refuses_a_target_that_is_not_postgres_a_missing_source_and_a_file_that_is_no_desk() {
    let db = TestDb::new();
    let migrated = opsdesk().args(["--database", &db.url(), "migrate"]).output().unwrap();
    assert!(migrated.status.success());

    let not_postgres = opsdesk()
        .args(["copy", "--from", &db.url(), "--to", "sqlite://other.db"])
        .current_dir(db.dir.path())
        .output()
        .unwrap();
    assert_eq!(not_postgres.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_postgres.stderr).contains("--to must be a PostgreSQL URL"));
    assert!(!db.dir.path().join("other.db").exists());

    let missing = opsdesk()
        .args([
            "copy",
            "--from",
            "/nonexistent/desk.db",
            "--to",
            "postgres://u@127.0.0.1:1/desk",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no SQLite desk at /nonexistent/desk.db"));
    assert!(!Path::new("/nonexistent/desk.db").exists());

    let stranger = db.dir.path().join("stranger.db");
    std::fs::write(&stranger, b"").unwrap();
    let no_desk = opsdesk()
        .args([
            "copy",
            "--from",
            stranger.to_str().unwrap(),
            "--to",
            "postgres://u@127.0.0.1:1/desk",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&no_desk.stderr);
    assert_eq!(no_desk.status.code(), Some(78), "{err}");
    assert!(err.contains("is not a desk at this opsdesk's schema"), "{err}");

    // An unreachable target: a transient failure, the password never printed.
    let unreachable = opsdesk()
        .args([
            "copy",
            "--from",
            &db.url(),
            "--to",
            "postgres://u:hunter2@127.0.0.1:1/desk",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(unreachable.status.code(), Some(1), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.contains("copy to postgres://u:***@127.0.0.1:1/desk failed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_a_console_desk_to_postgres_once_and_refuses_a_second_time() {
    let Some(pg) =
        crate::pg::TestPostgres::start("copy_moves_a_console_desk_to_postgres_once_and_refuses_a_second_time").await
    else {
        return;
    };
    let db = TestDb::new();
    let worked = crate::util::run_with_input(
        &["--database", &db.url(), "console", "--hold-outbox"],
        db.dir.path(),
        "!incident Mail is down for 1 200 users impact=high urgency=high\n!note INC-1 looking at the relay\n",
    );
    assert!(worked.status.success(), "{}", String::from_utf8_lossy(&worked.stderr));
    let incidents = scalar(&db, "SELECT COUNT(*) FROM incidents").await;
    let audit = scalar(&db, "SELECT COUNT(*) FROM audit").await;
    assert_eq!(incidents, 1);

    let copy = || {
        opsdesk()
            .args(["copy", "--from", db.path().to_str().unwrap(), "--to", pg.url()])
            .output()
            .unwrap()
    };
    let first = copy();
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(out.lines().any(|l| l == "incidents: 1 row"), "{out}");
    assert!(out.lines().any(|l| l == "incident_notes: 1 row"), "{out}");
    assert!(out.lines().any(|l| l == format!("audit: {audit} rows")), "{out}");
    let total = out.lines().last().unwrap();
    assert!(
        total.starts_with("total: ") && total.ends_with("row counts verified"),
        "{out}"
    );
    assert!(total.contains(&crate::pg::redact_url(pg.url())), "{total}");

    let mut conn = pg.connect().await;
    let (title, notes): (String, String) = sqlx::query_as(
        "SELECT i.title, s.notes FROM incidents i JOIN incident_search s ON s.rowid = i.id WHERE i.id = 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(title, "Mail is down for 1 200 users");
    assert_eq!(notes, "looking at the relay");

    let second = copy();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(78), "{err}");
    assert!(
        err.contains("is not empty") && err.contains("nothing was written"),
        "{err}"
    );
    let (after,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM incidents")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(after, 1, "the refused copy wrote nothing");
    sqlx::Connection::close(conn).await.unwrap();
    pg.finish().await;
}
