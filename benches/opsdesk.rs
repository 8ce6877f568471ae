//! opsdesk against the references that bound it (issue 7). Run with
//!
//! ```sh
//! cargo bench --bench opsdesk                 # everything
//! cargo bench --bench opsdesk -- throughput   # 1. durable incident creations/s
//! cargo bench --bench opsdesk -- latency      # 2. end-to-end latency through the fake Discord, against
//!                                             #    the floor of a durable reply (echo bot + raw commit)
//! cargo bench --bench opsdesk -- storm        # 3. outage storm: 1,000 /incident during a 2,000-DM fan-out
//! cargo bench --bench opsdesk -- sweep        # 4. SLA sweep on 1,000,000 timers, and RSS
//! cargo bench --bench opsdesk -- report       # 5. `!report 30d` over 100,000 and 1,000,000 incidents,
//!                                             #    beside the same volume figures by one raw SQL query
//! cargo bench --bench opsdesk -- alerts       # 6. a 1,000-alert webhook burst on /hooks/alertmanager
//! ```
//!
//! Every figure is the median of 3 runs and is printed beside its reference
//! measured in the same run, with the ratio and the issue's target. Nothing here
//! talks to anything but 127.0.0.1; databases live in temporary directories.
//! Figures are reported, never asserted: wall-clock limits do not belong in tests.

// Its unit tests are the test crate's; here they only leave an unused import.
#[allow(unused_imports)]
#[path = "../tests/e2e/fake_discord/mod.rs"]
mod fake_discord;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use opsdesk::config::Policy;
use opsdesk::desk::{Actor, Clock, Desk, Event, Inbound, Outcome};
use opsdesk::domain::UserId;
use opsdesk::store::{self, Durability, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use fake_discord::{Call, FakeDiscord, GuildSpec, InteractionSpec, MemberSpec, RoleSpec};

/// A throwaway PostgreSQL for the columns beside SQLite (issue 21): the
/// store's own test harness (it reads `super::redact_url`), one cluster per
/// bench run, a schema per run.
#[allow(dead_code)]
#[path = "../src/store/testing_postgres.rs"]
mod pg;
use opsdesk::store::redact_url;
use pg::TestPostgres;

const RUNS: usize = 3;

fn main() {
    // `cargo bench` passes `--bench`; anything else not starting with `-` picks benchmarks.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if args.first().map(String::as_str) == Some("rss-probe") {
        return rss_probe(&args[1..]);
    }
    let all = args.is_empty();
    let want = |name: &str| all || args.iter().any(|a| a == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    machine();
    // One cluster for the PostgreSQL columns; none (and a line saying so)
    // without PostgreSQL's server binaries or OPSDESK_TEST_POSTGRES_URL.
    let postgres = (want("throughput") || want("latency"))
        .then(|| rt.block_on(TestPostgres::start("bench")))
        .flatten();
    if want("throughput") {
        rt.block_on(throughput(postgres.as_ref()));
    }
    if want("latency") {
        rt.block_on(latency(postgres.as_ref()));
    }
    if let Some(pg) = postgres {
        rt.block_on(pg.finish());
    }
    if want("storm") {
        rt.block_on(storm());
    }
    if want("sweep") {
        rt.block_on(sweep());
    }
    if want("report") {
        rt.block_on(report());
    }
    if want("alerts") {
        rt.block_on(alerts());
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Mean microseconds per run of `body` over `n` runs.
macro_rules! timed {
    ($n:expr, $body:block) => {{
        let start = Instant::now();
        for _ in 0..$n {
            $body
        }
        start.elapsed().as_secs_f64() * 1e6 / $n as f64
    }};
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or("unknown".into(), |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cores} cores, {mem}, {cpu}");
    println!("date: {}", Utc::now().format("%Y-%m-%d %H:%M UTC"));
    println!("every figure: median of {RUNS} runs\n");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn runs(v: &[f64], unit: &str) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.1}{unit}")).collect();
    format!("runs: {}", parts.join(", "))
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The store's own connection settings (WAL, synchronous=FULL, foreign keys, busy timeout).
fn raw_options(url: &str) -> SqliteConnectOptions {
    SqliteConnectOptions::from_str(url)
        .expect("url")
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
}

fn db_url(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

fn actor(n: usize) -> Actor {
    Actor {
        user: UserId::new(1_000 + n as u64),
        name: format!("bench{n}"),
        roles: vec![],
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Durable incident creations per second
// ---------------------------------------------------------------------------------------------

/// Incidents per measurement (split between the clients).
const INCIDENTS: usize = 2_000;

async fn throughput(postgres: Option<&TestPostgres>) {
    println!("== 1. durable incident creations/s (WAL, synchronous=FULL, transport stubbed: the outbox is written, not sent)");
    let sample = sample_rows().await;
    println!(
        "   {INCIDENTS} incidents per run; each writes inbound_events + users + incidents + audit + outbox rows (the card, the thread welcome, the RACI fan-out) + {} SLA clocks + {} timers",
        sample.clocks.len(),
        sample.timers.len()
    );
    let mut table: Vec<(&str, Vec<f64>)> = vec![
        ("raw sqlx, 1 client", vec![]),
        ("raw sqlx, 16 clients", vec![]),
        ("desk, 1 client", vec![]),
        ("desk, 16 clients", vec![]),
    ];
    if postgres.is_some() {
        table.push(("desk on PG, 1 client", vec![]));
        table.push(("desk on PG, 16 clients", vec![]));
    }
    for _ in 0..RUNS {
        table[0].1.push(raw_rate(&sample, 1).await);
        table[1].1.push(raw_rate(&sample, 16).await);
        table[2].1.push(desk_rate(1).await);
        table[3].1.push(desk_rate(16).await);
        if let Some(server) = postgres {
            for (row, clients) in [(4, 1), (5, 16)] {
                let schema = server.another().await;
                table[row].1.push(desk_rate_at(schema.url(), clients).await);
                schema.finish().await;
            }
        }
    }
    let m: Vec<f64> = table.iter().map(|(_, v)| median(v.clone())).collect();
    for ((name, v), med) in table.iter().zip(&m) {
        println!("   {name:<22} {med:>8.0}/s   ({})", runs(v, ""));
    }
    let raw_single = m[0];
    println!("   desk 1 client  / raw 1 client   = {:.2}×", m[2] / raw_single);
    println!(
        "   desk 16 clients / raw 1 client  = {:.2}×  (target ≥ 0.8× the raw single-transaction rate: {})",
        m[3] / raw_single,
        verdict(m[3] / raw_single >= 0.8)
    );
    println!("   desk 16 clients / raw 16 clients = {:.2}×", m[3] / m[1]);
    match postgres {
        Some(_) => println!(
            "   PostgreSQL (a throwaway local cluster, fsync on, synchronous_commit on): desk 1 client {:.2}× and 16 clients {:.2}× the desk on SQLite",
            m[4] / m[2],
            m[5] / m[3]
        ),
        None => println!("   PostgreSQL: not measured (no server binaries, no OPSDESK_TEST_POSTGRES_URL)"),
    }
    println!(
        "   issue's references on this machine size: raw FULL ≈ 5.9k/s (rusqlite), ≈ 2.1k/s (sqlx pool); raw sqlx here = {:.2}× of 2.1k/s\n",
        raw_single / 2_100.0
    );
}

/// What one incident writes, copied from a real desk run so raw and desk insert the same bytes.
#[derive(Clone)]
struct Sample {
    incident: (String, String, String, i64, String, String, i64),
    audit: (String, String),
    outbox: Vec<(String, Option<String>, String, String)>,
    /// The SLA clocks started with it: (kind, target_secs, accumulated_secs).
    clocks: Vec<(String, i64, i64)>,
    /// Their timers: (kind, key, payload, due_at − created_at), `INC-1` standing for the incident.
    timers: Vec<(String, String, String, i64)>,
    /// Rows the command added, per table, counted on the fresh file (tables it left alone omitted).
    written: BTreeMap<String, i64>,
}

async fn sample_rows() -> Sample {
    sample_of(incident_line(0, 0, 0)).await
}

/// Rows in every table of the schema (SQLite's own and sqlx's bookkeeping left out).
async fn row_counts(conn: &mut opsdesk::store::Conn) -> BTreeMap<String, i64> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
            AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("tables");
    let mut counts = BTreeMap::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .fetch_one(&mut *conn)
            .await
            .expect("count");
        counts.insert(table, n);
    }
    counts
}

/// [`row_counts`] on a connection of its own to the file at `url`.
async fn row_counts_at(url: &str) -> BTreeMap<String, i64> {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("a counting connection");
    let counts = row_counts(&mut conn).await;
    conn.close().await.expect("close");
    counts
}

/// `after − before`, per table, leaving out tables that did not grow.
fn grown(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    after
        .iter()
        .map(|(t, n)| (t.clone(), n - before.get(t).copied().unwrap_or(0)))
        .filter(|(_, d)| *d != 0)
        .collect()
}

fn list_rows(rows: &BTreeMap<String, i64>) -> String {
    let parts: Vec<String> = rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
    format!("{} = {} rows", parts.join(", "), rows.values().sum::<i64>())
}

/// Runs `inbound` (an `!incident`) through `Desk::handle` on a fresh file and copies what it wrote.
async fn sample_of(inbound: Inbound) -> Sample {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&db_url(&dir, "sample.db")).await.expect("open");
    let before = row_counts(&mut store.read().await.expect("read")).await;
    let desk = Desk::new(store.clone(), Policy::defaults(), Clock::system());
    let out = desk.handle(inbound).await;
    assert!(
        matches!(out, Outcome::Reply(ref r) if r.text.contains("logged")),
        "{out:?}"
    );
    let mut c = store.read().await.expect("read");
    let written = grown(&before, &row_counts(&mut c).await);
    let incident: (String, String, String, i64, String, String, i64) =
        sqlx::query_as("SELECT title, impact, urgency, priority, state, handler_role, reporter FROM incidents")
            .fetch_one(&mut *c)
            .await
            .expect("incident row");
    let audit: (String, String) = sqlx::query_as("SELECT action, details FROM audit")
        .fetch_one(&mut *c)
        .await
        .expect("audit row");
    let outbox: Vec<(String, Option<String>, String, String)> =
        sqlx::query_as("SELECT kind, subject, destination, payload FROM outbox ORDER BY id")
            .fetch_all(&mut *c)
            .await
            .expect("outbox rows");
    let clocks: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT kind, target_secs, accumulated_secs FROM incident_clocks ORDER BY kind")
            .fetch_all(&mut *c)
            .await
            .expect("clock rows");
    let timers: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT t.kind, t.key, t.payload, t.due_at - i.created_at FROM timers t, incidents i
          WHERE t.cancelled = 0 ORDER BY t.id",
    )
    .fetch_all(&mut *c)
    .await
    .expect("timer rows");
    assert!(
        !clocks.is_empty() && !timers.is_empty(),
        "an incident starts its SLA clocks"
    );
    drop(c);
    store.close().await;
    Sample {
        incident,
        audit,
        outbox,
        clocks,
        timers,
        written,
    }
}

fn incident_line(run: usize, client: usize, i: usize) -> Inbound {
    Inbound {
        key: format!("bench:{run}:{client}:{i}"),
        actor: actor(client),
        channel: Some("general".into()),
        event: Event::Line(format!(
            "!incident Printer {i} on floor {client} jams impact=medium urgency=low"
        )),
    }
}

async fn desk_rate(clients: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    desk_rate_at(&db_url(&dir, "desk.db"), clients).await
}

/// [`desk_rate`] on the database at `url` (a fresh one: it counts every incident).
async fn desk_rate_at(url: &str, clients: usize) -> f64 {
    let store = Store::open(url).await.expect("open");
    let desk = Desk::new(store.clone(), Policy::defaults(), Clock::system());
    let per = INCIDENTS / clients;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let desk = desk.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                match desk.handle(incident_line(1, client, i)).await {
                    Outcome::Reply(r) if !r.private => {}
                    other => panic!("unexpected outcome {other:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let rate = (per * clients) as f64 / start.elapsed().as_secs_f64();
    let mut c = store.read().await.expect("read");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM incidents")
        .fetch_one(&mut *c)
        .await
        .expect("count");
    assert_eq!(n as usize, per * clients, "every incident committed");
    drop(c);
    store.close().await;
    rate
}

async fn raw_rate(sample: &Sample, clients: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = db_url(&dir, "raw.db");
    // The same schema (migrations), then a plain sqlx pool with the store's settings.
    Store::open(&url).await.expect("migrate").close().await;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(raw_options(&url))
        .await
        .expect("pool");
    let per = INCIDENTS / clients;
    let start = Instant::now();
    let mut tasks = Vec::new();
    let sample = Arc::new(sample.clone());
    for client in 0..clients {
        let pool = pool.clone();
        let sample = sample.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                raw_incident(&pool, &sample, client, i).await.expect("raw insert");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let rate = (per * clients) as f64 / start.elapsed().as_secs_f64();
    pool.close().await;
    rate
}

async fn raw_incident(pool: &SqlitePool, s: &Sample, client: usize, i: usize) -> Result<(), sqlx::Error> {
    let now = Utc::now().timestamp_millis();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO inbound_events (key, received_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
        .bind(format!("raw:{client}:{i}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO users (id, display_name, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, updated_at = excluded.updated_at",
    )
    .bind(1_000 + client as i64)
    .bind(format!("bench{client}"))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (title, impact, urgency, priority, state, handler, reporter) = &s.incident;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (title, impact, urgency, priority, state, reporter, handler_role, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(title)
    .bind(impact)
    .bind(urgency)
    .bind(priority)
    .bind(state)
    .bind(reporter)
    .bind(handler)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let subject = format!("INC-{id}");
    sqlx::query("INSERT INTO audit (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)")
        .bind(now)
        .bind(1_000 + client as i64)
        .bind(&s.audit.0)
        .bind(&subject)
        .bind(&s.audit.1)
        .execute(&mut *tx)
        .await?;
    for (kind, _, destination, payload) in &s.outbox {
        sqlx::query(
            "INSERT INTO outbox (created_at, kind, subject, destination, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(now)
        .bind(kind)
        .bind(&subject)
        .bind(destination)
        .bind(payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for (kind, target, accumulated) in &s.clocks {
        sqlx::query(
            "INSERT INTO incident_clocks (incident_id, kind, run, target_secs, started_at, accumulated_secs, running_since)
             VALUES (?, ?, 0, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(kind)
        .bind(target)
        .bind(now)
        .bind(accumulated)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for (kind, key, payload, offset) in &s.timers {
        sqlx::query("INSERT INTO timers (kind, key, subject, due_at, payload) VALUES (?, ?, ?, ?, ?)")
            .bind(kind)
            .bind(key.replacen("INC-1", &subject, 1))
            .bind(&subject)
            .bind(now + offset)
            .bind(payload.replace("INC-1", &subject))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

// ---------------------------------------------------------------------------------------------
// 2. End-to-end latency through the fake Discord
// ---------------------------------------------------------------------------------------------

/// Messages per second injected, and for how long.
const RATE: u64 = 20;
const MESSAGES: usize = 200;
const WARMUP: usize = 20;

async fn latency(postgres: Option<&TestPostgres>) {
    println!(
        "== 2. end-to-end latency: injected MESSAGE_CREATE → the reply's POST recorded by the fake Discord ({RATE}/s steady, {MESSAGES} messages)"
    );
    // What one of the run's `!incident` lines writes, for the raw durable commit beside it.
    let spec = GuildSpec::service_desk_default();
    let sample = sample_of(Inbound {
        key: "bench:floor-sample".into(),
        actor: Actor {
            user: UserId::new(spec.user_id("bob")),
            name: "bob".into(),
            roles: vec![],
        },
        channel: Some(spec.channel_id("general").to_string()),
        event: Event::Line(latency_line(0)),
    })
    .await;
    println!(
        "   one !incident as this run sends it writes (Desk::handle on a fresh file, rows per table): {}",
        list_rows(&sample.written)
    );
    let mut echo = (vec![], vec![]);
    let mut floor = Floor::default();
    let mut desk = (vec![], vec![]);
    let mut normal = (vec![], vec![]);
    let mut on_postgres = (vec![], vec![]);
    for run in 0..RUNS {
        eprintln!("   … run {} of {RUNS}: raw durable commit", run + 1);
        let f = floor_run(&sample).await;
        if run == 0 {
            if f.rows == sample.written {
                println!("   the raw durable commit writes the same rows: {}", list_rows(&f.rows));
            } else {
                println!(
                    "   WARNING: the raw durable commit writes {}, not what the desk writes",
                    list_rows(&f.rows)
                );
            }
        }
        floor.txn.0.push(ms(f.txn.0));
        floor.txn.1.push(ms(f.txn.1));
        floor.commit.0.push(ms(f.commit.0));
        floor.commit.1.push(ms(f.commit.1));
        let schema = match postgres {
            Some(server) => Some(server.another().await),
            None => None,
        };
        let mut bots = vec![
            (Bot::Echo, &mut echo),
            (Bot::Opsdesk(Durability::Full), &mut desk),
            (Bot::Opsdesk(Durability::Normal), &mut normal),
        ];
        if let Some(schema) = &schema {
            bots.push((Bot::Postgres(schema.url().to_owned()), &mut on_postgres));
        }
        for (bot, into) in bots {
            let name = match bot {
                Bot::Echo => "echo bot",
                Bot::Opsdesk(Durability::Full) => "opsdesk",
                Bot::Opsdesk(Durability::Normal) => "opsdesk, database_durability = normal",
                Bot::Postgres(_) => "opsdesk on PostgreSQL",
            };
            eprintln!("   … run {} of {RUNS}: {name}", run + 1);
            let Ok((p50, p99)) = tokio::time::timeout(Duration::from_secs(240), latency_run(bot)).await else {
                println!(
                    "   run {} of {name} did not finish within 4 minutes; no figure",
                    run + 1
                );
                return;
            };
            into.0.push(ms(p50));
            into.1.push(ms(p99));
        }
        if let Some(schema) = schema {
            schema.finish().await;
        }
    }
    let (e50, e99) = (median(echo.0.clone()), median(echo.1.clone()));
    println!("   serenity echo bot   p50 {e50:>7.2} ms ({})", runs(&echo.0, ""));
    println!("                       p99 {e99:>7.2} ms ({})", runs(&echo.1, ""));
    let (c50, c99) = (median(floor.txn.0.clone()), median(floor.txn.1.clone()));
    println!(
        "   raw durable commit  p50 {c50:>7.2} ms ({})   BEGIN, one INSERT per table, COMMIT: plain sqlx, WAL, synchronous=FULL, {RATE}/s, fresh file",
        runs(&floor.txn.0, "")
    );
    println!("                       p99 {c99:>7.2} ms ({})", runs(&floor.txn.1, ""));
    println!(
        "     of which COMMIT   p50 {:>7.2} ms ({}), p99 {:.2} ms ({})",
        median(floor.commit.0.clone()),
        runs(&floor.commit.0, ""),
        median(floor.commit.1.clone()),
        runs(&floor.commit.1, "")
    );
    let (f50, f99) = (e50 + c50, e99 + c99);
    println!("   floor of a durable reply = echo + raw commit: p50 {f50:.2} ms, p99 {f99:.2} ms (the sum of the p99s)");
    let (d50, d99) = (median(desk.0.clone()), median(desk.1.clone()));
    println!("   opsdesk !incident   p50 {d50:>7.2} ms ({})", runs(&desk.0, ""));
    println!("                       p99 {d99:>7.2} ms ({})", runs(&desk.1, ""));
    println!(
        "   HEADLINE opsdesk / floor: p50 {:.2}× (goal ≤ {FLOOR_GOAL}×: {}), p99 {:.2}× (≤ {FLOOR_GOAL}×: {})",
        d50 / f50,
        verdict(d50 / f50 <= FLOOR_GOAL),
        d99 / f99,
        verdict(d99 / f99 <= FLOOR_GOAL)
    );
    print_echo_ratios((d50, d99), (e50, e99));
    println!(
        "   not the default: database_durability = \"normal\" (a COMMIT is not fsynced; survives a kill, not a power cut)"
    );
    print_against_echo(&normal, (e50, e99));
    if postgres.is_some() {
        println!("   on PostgreSQL (a throwaway local cluster, fsync on, synchronous_commit on)");
        print_against_echo(&on_postgres, (e50, e99));
        println!(
            "   opsdesk on PostgreSQL / on SQLite: p50 {:.2}×, p99 {:.2}×",
            median(on_postgres.0.clone()) / d50,
            median(on_postgres.1.clone()) / d99
        );
    } else {
        println!("   PostgreSQL: not measured (no server binaries, no OPSDESK_TEST_POSTGRES_URL)");
    }
    println!();
}

/// The issue's goal for opsdesk against the floor of a durable reply.
const FLOOR_GOAL: f64 = 1.25;

/// The raw durable commit's p50/p99 runs, in ms: the whole transaction, and its COMMIT alone.
#[derive(Default)]
struct Floor {
    txn: (Vec<f64>, Vec<f64>),
    commit: (Vec<f64>, Vec<f64>),
}

struct FloorRun {
    /// p50 and p99 of BEGIN … COMMIT.
    txn: (Duration, Duration),
    /// p50 and p99 of the COMMIT statement alone.
    commit: (Duration, Duration),
    /// Rows the first transaction wrote, per table.
    rows: BTreeMap<String, i64>,
}

fn latency_line(i: usize) -> String {
    format!("!incident Laptop {i} will not boot impact=low urgency=medium")
}

/// One opsdesk configuration's p50/p99 runs, and their ratios to the echo bot's medians.
fn print_against_echo((p50s, p99s): &(Vec<f64>, Vec<f64>), (e50, e99): (f64, f64)) {
    let (d50, d99) = (median(p50s.clone()), median(p99s.clone()));
    println!("   opsdesk !incident   p50 {d50:>7.2} ms ({})", runs(p50s, ""));
    println!("                       p99 {d99:>7.2} ms ({})", runs(p99s, ""));
    print_echo_ratios((d50, d99), (e50, e99));
}

fn print_echo_ratios((d50, d99): (f64, f64), (e50, e99): (f64, f64)) {
    println!(
        "   against the echo bot alone: p50 ratio {:.2}× (target ≤ 1.3×: {}), p99 ratio {:.2}× (target ≤ 1.5×: {})",
        d50 / e50,
        verdict(d50 / e50 <= 1.3),
        d99 / e99,
        verdict(d99 / e99 <= 1.5)
    );
}

/// The physical floor's database half: the rows one `!incident` writes, each
/// time in one durable transaction of plain sqlx on a fresh file with the
/// store's settings, paced like the latency runs (`RATE`/s, `WARMUP` first).
async fn floor_run(sample: &Sample) -> FloorRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = db_url(&dir, "floor.db");
    Store::open(&url).await.expect("migrate").close().await;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(raw_options(&url))
        .await
        .expect("pool");
    let before = row_counts_at(&url).await;
    let mut rows = BTreeMap::new();
    let (mut txn, mut commit) = (Vec::new(), Vec::new());
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..WARMUP + MESSAGES {
        tick.tick().await;
        let start = Instant::now();
        let c = floor_commit(&pool, sample, i).await.expect("raw durable commit");
        let t = start.elapsed();
        if i == 0 {
            rows = grown(&before, &row_counts_at(&url).await);
        }
        if i >= WARMUP {
            txn.push(t);
            commit.push(c);
        }
    }
    pool.close().await;
    txn.sort();
    commit.sort();
    FloorRun {
        txn: (percentile(&txn, 50.0), percentile(&txn, 99.0)),
        commit: (percentile(&commit, 50.0), percentile(&commit, 99.0)),
        rows,
    }
}

/// One transaction writing what one `!incident` writes (event identity, the
/// reporter, the incident, its clocks, timers, audit row and outbox rows), one
/// statement per table; returns how long its COMMIT took.
async fn floor_commit(pool: &SqlitePool, s: &Sample, i: usize) -> Result<Duration, sqlx::Error> {
    let now = Utc::now().timestamp_millis();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO inbound_events (key, received_at) VALUES (?, ?)")
        .bind(format!("floor:{i}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let (title, impact, urgency, priority, state, handler, reporter) = &s.incident;
    sqlx::query(
        "INSERT INTO users (id, display_name, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, updated_at = excluded.updated_at",
    )
    .bind(reporter)
    .bind("bob")
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (title, impact, urgency, priority, state, reporter, handler_role, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(title)
    .bind(impact)
    .bind(urgency)
    .bind(priority)
    .bind(state)
    .bind(reporter)
    .bind(handler)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let subject = format!("INC-{id}");
    if !s.clocks.is_empty() {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO incident_clocks (incident_id, kind, run, target_secs, started_at, accumulated_secs, running_since) ",
        );
        q.push_values(&s.clocks, |mut row, (kind, target, accumulated)| {
            row.push_bind(id)
                .push_bind(kind)
                .push_bind(0)
                .push_bind(target)
                .push_bind(now)
                .push_bind(accumulated)
                .push_bind(now);
        });
        q.build().execute(&mut *tx).await?;
    }
    if !s.timers.is_empty() {
        let mut q = sqlx::QueryBuilder::new("INSERT INTO timers (kind, key, subject, due_at, payload) ");
        q.push_values(&s.timers, |mut row, (kind, key, payload, offset)| {
            row.push_bind(kind)
                .push_bind(key.replacen("INC-1", &subject, 1))
                .push_bind(&subject)
                .push_bind(now + offset)
                .push_bind(payload.replace("INC-1", &subject));
        });
        q.build().execute(&mut *tx).await?;
    }
    sqlx::query("INSERT INTO audit (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)")
        .bind(now)
        .bind(reporter)
        .bind(&s.audit.0)
        .bind(&subject)
        .bind(&s.audit.1)
        .execute(&mut *tx)
        .await?;
    if !s.outbox.is_empty() {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO outbox (created_at, kind, subject, destination, payload, next_attempt_at) ",
        );
        q.push_values(&s.outbox, |mut row, (kind, _, destination, payload)| {
            row.push_bind(now)
                .push_bind(kind)
                .push_bind(&subject)
                .push_bind(destination)
                .push_bind(payload)
                .push_bind(now);
        });
        q.build().execute(&mut *tx).await?;
    }
    let start = Instant::now();
    tx.commit().await?;
    Ok(start.elapsed())
}

#[derive(Clone, PartialEq, Eq)]
enum Bot {
    Echo,
    Opsdesk(Durability),
    /// The desk on the PostgreSQL database at this URL.
    Postgres(String),
}

async fn latency_run(bot: Bot) -> (Duration, Duration) {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let wait = Duration::from_secs(60);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The desk's database: SQLite in the temp dir, or the PostgreSQL given.
    let database = match &bot {
        Bot::Echo => None,
        Bot::Opsdesk(d) => Some((db_url(&dir, "latency.db"), *d)),
        Bot::Postgres(url) => Some((url.clone(), Durability::Full)),
    };
    let task = match database {
        None => {
            let api = fake.api_base();
            let gw = fake.gateway_url();
            let token = spec.token.clone();
            tokio::spawn(async move { echo_bot(&token, &api, &gw, stop_rx).await })
        }
        Some((url, durability)) => {
            let env = [
                ("DISCORD_API_BASE".to_owned(), fake.api_base()),
                ("DISCORD_GATEWAY_URL".to_owned(), fake.gateway_url()),
            ];
            let policy = Policy::load(None, env).expect("config");
            let store = Store::open_with(&url, durability).await.expect("open");
            let desk = Desk::new(store, policy, Clock::system());
            let settings = desk.policy().discord.clone();
            let token = opsdesk::discord::Token::new(spec.token.clone());
            tokio::spawn(async move {
                let _ = opsdesk::discord::run(desk.clone(), &settings, token, async {
                    let _ = stop_rx.await;
                })
                .await;
                desk.store().close().await;
            })
        }
    };
    fake.wait_until_connected(wait).await.expect("bot connected");
    eprintln!("     connected");
    if bot != Bot::Echo {
        fake.wait_for_call("PUT /applications/{app}/guilds/{guild}/commands", 0, wait)
            .await
            .expect("commands registered");
    }
    let general = spec.channel_id("general");
    let bob = spec.user_id("bob");
    let replies_to = |fake: &FakeDiscord, from: usize| -> Vec<(u64, Duration)> {
        fake.calls()
            .into_iter()
            .skip(from)
            .filter(|c| c.is("POST /channels/{c}/messages") && c.id_at(1) == Some(general))
            .filter_map(|c| {
                let r = c.body.as_ref()?["message_reference"]["message_id"]
                    .as_str()?
                    .parse()
                    .ok()?;
                Some((r, c.at))
            })
            .collect()
    };
    let mut sent: Vec<(u64, Duration)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let from = fake.calls().len();
    for i in 0..WARMUP + MESSAGES {
        tick.tick().await;
        let at = fake.elapsed();
        let id = fake.inject_message(general, bob, &latency_line(i));
        if i >= WARMUP {
            sent.push((id, at));
        }
    }
    eprintln!("     injected {}", sent.len() + WARMUP);
    let want: std::collections::HashSet<u64> = sent.iter().map(|(id, _)| *id).collect();
    fake.wait_for(
        "every reply",
        |calls| {
            calls
                .iter()
                .skip(from)
                .filter(|c| c.is("POST /channels/{c}/messages") && c.id_at(1) == Some(general))
                .filter_map(|c| {
                    c.body.as_ref()?["message_reference"]["message_id"]
                        .as_str()?
                        .parse::<u64>()
                        .ok()
                })
                .filter(|id| want.contains(id))
                .count()
                >= want.len()
        },
        wait,
    )
    .await
    .expect("every message answered");
    let replies: std::collections::HashMap<u64, Duration> = replies_to(&fake, from).into_iter().collect();
    let mut lat: Vec<Duration> = sent.iter().map(|(id, at)| replies[id].saturating_sub(*at)).collect();
    lat.sort();
    eprintln!("     answered; stopping");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(wait, task).await;
    (percentile(&lat, 50.0), percentile(&lat, 99.0))
}

/// The reference: a minimal serenity bot that answers every message with a reply
/// of the same shape as opsdesk's (referenced, explicit allowed_mentions), nothing else.
async fn echo_bot(token: &str, api: &str, gateway: &str, stop: tokio::sync::oneshot::Receiver<()>) {
    use serenity::all::{
        Context, CreateAllowedMentions, CreateMessage, EventHandler, GatewayIntents, HttpBuilder, Message,
    };
    struct Echo;
    #[serenity::async_trait]
    impl EventHandler for Echo {
        async fn message(&self, ctx: Context, msg: Message) {
            if msg.author.bot {
                return;
            }
            let reply = CreateMessage::new()
                .content(format!("echo: {}", msg.content))
                .reference_message(&msg)
                .allowed_mentions(CreateAllowedMentions::new());
            let _ = msg.channel_id.send_message(&ctx.http, reply).await;
        }
    }
    let http = HttpBuilder::new(token).proxy(api).ratelimiter_disabled(true).build();
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
        | GatewayIntents::DIRECT_MESSAGES;
    let mut client = serenity::client::ClientBuilder::new_with_http(http, intents)
        .event_handler(Echo)
        .await
        .expect("echo client");
    *client.ws_url.lock().await = gateway.to_owned();
    let shards = client.shard_manager.clone();
    tokio::select! {
        _ = client.start() => {}
        _ = stop => shards.shutdown_all().await,
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Outage storm
// ---------------------------------------------------------------------------------------------

/// Subscribers of the outaged service, incident reports injected, and over how long.
const SUBSCRIBERS: u64 = 2_000;
const REPORTS: u64 = 1_000;
const STORM_SECS: u64 = 10;
/// Discord's global budget, as the fake enforces it.
const DISCORD_BUDGET: f64 = 50.0;
/// The subscriber role of `services.email` in the default config.
const EMAIL_SUBSCRIBERS: &str = "Email Subscribers";

/// P1 incidents on another service (payroll) logged while the fan-out goes on, and how often.
const P1S: u64 = 30;
const P1_EVERY: Duration = Duration::from_secs(2);

struct Storm {
    p50: Duration,
    p99: Duration,
    deferred: usize,
    violations: usize,
    dm_calls: usize,
    dm_rate: f64,
    all_rate: f64,
    knob: f64,
    /// Messages the bot posted in the handler's channel (#service-desk) from
    /// the first report to the end of the fan-out, the P1s' cards left out;
    /// and its edits there.
    desk_posts: usize,
    desk_edits: usize,
    /// Messages posted in #incident-management (the accountable's FYIs) in the same window.
    im_posts: usize,
    /// From the first report to the first grouped "reports linked to OUT-" card.
    first_grouped: Option<Duration>,
    /// Each P1: from its /incident to its card being posted; and how many were logged mid-fan-out.
    p1: Vec<Duration>,
    p1_mid_fanout: usize,
    /// Each P1: from its /incident to its FYI in #incident-management (behind the storm's own FYIs).
    p1_fyi: Vec<Duration>,
}

async fn storm() {
    println!(
        "== 3. outage storm: outage on email with {SUBSCRIBERS} subscribers, {REPORTS} /incident service:email within {STORM_SECS} s, fake enforcing Discord's budgets"
    );
    let mut all: Vec<Storm> = Vec::new();
    for run in 0..RUNS {
        eprintln!("   … storm run {} of {RUNS}", run + 1);
        match tokio::time::timeout(Duration::from_secs(420), storm_run()).await {
            Ok(s) => {
                println!(
                    "   run {}: response p50 {:.1} ms, p99 {:.1} ms ({} deferred); budget 429s {}; {} DM requests at {:.1}/s (all REST {:.1}/s)",
                    run + 1,
                    ms(s.p50),
                    ms(s.p99),
                    s.deferred,
                    s.violations,
                    s.dm_calls,
                    s.dm_rate,
                    s.all_rate
                );
                let p1 = sorted(&s.p1);
                let fyi = sorted(&s.p1_fyi);
                println!(
                    "          #service-desk: {} posts + {} edits during the storm; first grouped card {}; #incident-management: {} posts; P1 report → card p50 {:.0} ms, p99 {:.0} ms ({} of {P1S} posted, {} logged mid-fan-out); its FYI in #incident-management p50 {:.0} ms, p99 {:.0} ms ({} posted)",
                    s.desk_posts,
                    s.desk_edits,
                    s.first_grouped.map_or_else(|| "never".to_owned(), |d| format!("{:.1} s after the first report", d.as_secs_f64())),
                    s.im_posts,
                    ms(percentile(&p1, 50.0)),
                    ms(percentile(&p1, 99.0)),
                    p1.len(),
                    s.p1_mid_fanout,
                    ms(percentile(&fyi, 50.0)),
                    ms(percentile(&fyi, 99.0)),
                    fyi.len()
                );
                all.push(s);
            }
            Err(_) => println!("   run {} did not finish within 7 minutes; no figure", run + 1),
        }
    }
    if all.is_empty() {
        return;
    }
    let p50 = median(all.iter().map(|s| ms(s.p50)).collect());
    let p99 = median(all.iter().map(|s| ms(s.p99)).collect());
    let rate = median(all.iter().map(|s| s.dm_rate).collect());
    let violations = median(all.iter().map(|s| s.violations as f64).collect());
    let knob = all[0].knob;
    let p1_p50 = median(all.iter().map(|s| ms(percentile(&sorted(&s.p1), 50.0))).collect());
    let p1_p99 = median(all.iter().map(|s| ms(percentile(&sorted(&s.p1), 99.0))).collect());
    let fyi_p99 = median(all.iter().map(|s| ms(percentile(&sorted(&s.p1_fyi), 99.0))).collect());
    let desk_posts = median(all.iter().map(|s| s.desk_posts as f64).collect());
    let first_grouped = median(
        all.iter()
            .map(|s| s.first_grouped.map_or(f64::INFINITY, |d| d.as_secs_f64()))
            .collect(),
    );
    println!("   median of {} runs:", all.len());
    println!(
        "   messages posted in the handler's channel during the storm: {desk_posts:.0} for {REPORTS} reports; first grouped card {first_grouped:.1} s after the first report"
    );
    println!(
        "   a P1 on payroll logged mid-fan-out, report → card posted: p50 {p1_p50:.0} ms, p99 {p1_p99:.0} ms (target p99 ≤ 5,000 ms: {})",
        verdict(p1_p99 <= 5_000.0)
    );
    println!("   its FYI to the incident manager, behind the storm's {REPORTS} FYIs: p99 {fyi_p99:.0} ms");
    println!(
        "   interaction response p50 {p50:.1} ms, p99 {p99:.1} ms (target p99 < 3,000 ms: {}; ideally < 300 ms: {})",
        verdict(p99 < 3_000.0),
        verdict(p99 < 300.0)
    );
    println!(
        "   global 429s served by the fake's budgets: {violations:.0} (target 0: {})",
        verdict(violations == 0.0)
    );
    println!(
        "   DM fan-out {rate:.1} req/s = {:.2}× Discord's {DISCORD_BUDGET:.0}/s budget (target ≥ 0.9: {}); = {:.2}× the pacer's knob discord.requests_per_second = {knob:.0}\n",
        rate / DISCORD_BUDGET,
        verdict(rate / DISCORD_BUDGET >= 0.9),
        rate / knob
    );
}

fn sorted(d: &[Duration]) -> Vec<Duration> {
    let mut d = d.to_vec();
    d.sort();
    d
}

/// The service desk guild, the email subscriber role and `SUBSCRIBERS` plain members.
fn storm_guild() -> GuildSpec {
    let mut spec = GuildSpec::service_desk_default();
    spec.roles.push(RoleSpec {
        id: 1_200_000_000_000_000_299,
        name: EMAIL_SUBSCRIBERS.to_owned(),
    });
    spec.members.extend((0..SUBSCRIBERS).map(|i| MemberSpec {
        user_id: 1_200_000_000_000_100_000 + i,
        username: format!("sub{i:04}"),
        role_ids: Vec::new(),
        dms_closed: false,
    }));
    spec
}

/// Is this call part of the DM fan-out (opening a DM channel, or posting in one)?
fn dm_call(c: &Call, dm_channels: &std::collections::HashSet<u64>) -> bool {
    c.is("POST /users/@me/channels")
        || (c.is("POST /channels/{c}/messages") && c.id_at(1).is_some_and(|id| dm_channels.contains(&id)))
}

fn dm_channels(calls: &[Call]) -> std::collections::HashSet<u64> {
    calls
        .iter()
        .filter(|c| c.is("POST /users/@me/channels") && c.succeeded())
        .filter_map(|c| c.response.as_ref()?["id"].as_str()?.parse().ok())
        .collect()
}

async fn storm_run() -> Storm {
    let fake = FakeDiscord::start(storm_guild()).await;
    let spec = fake.spec().clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = db_url(&dir, "storm.db");
    let env = [
        ("DISCORD_API_BASE".to_owned(), fake.api_base()),
        ("DISCORD_GATEWAY_URL".to_owned(), fake.gateway_url()),
    ];
    let policy = Policy::load(None, env).expect("config");
    let knob = f64::from(policy.discord.requests_per_second);
    let subscribers: Vec<(u64, String)> = spec
        .members
        .iter()
        .filter(|m| m.username.starts_with("sub"))
        .map(|m| (m.user_id, m.username.clone()))
        .collect();
    assert_eq!(subscribers.len() as u64, SUBSCRIBERS);

    // Subscribe everyone through the desk, as `!subscribe email` typed in chat, before the bot starts.
    {
        let store = Store::open(&url).await.expect("open");
        let desk = Desk::new(store, policy.clone(), Clock::system());
        let mut tasks = Vec::new();
        for chunk in subscribers.chunks(subscribers.len().div_ceil(16)) {
            let desk = desk.clone();
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                for (user, name) in chunk {
                    let inbound = Inbound {
                        key: format!("bench:subscribe:{user}"),
                        actor: Actor {
                            user: UserId::new(user),
                            name,
                            roles: vec![],
                        },
                        channel: None,
                        event: Event::Line("!subscribe email".into()),
                    };
                    match desk.handle(inbound).await {
                        Outcome::Reply(r) if r.text.starts_with("Subscribed to Email") => {}
                        other => panic!("unexpected answer to !subscribe: {other:?}"),
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("subscriber");
        }
        desk.store().close().await;
    }
    eprintln!("     {SUBSCRIBERS} subscribed");

    fake.enforce_budgets(true);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let store = Store::open(&url).await.expect("open");
    let desk = Desk::new(store, policy, Clock::system());
    let settings = desk.policy().discord.clone();
    let token = opsdesk::discord::Token::new(spec.token.clone());
    let task = tokio::spawn(async move {
        let _ = opsdesk::discord::run(desk.clone(), &settings, token, async {
            let _ = stop_rx.await;
        })
        .await;
        desk.store().close().await;
    });
    let wait = Duration::from_secs(60);
    fake.wait_until_connected(wait).await.expect("bot connected");
    fake.wait_for_call("PUT /applications/{app}/guilds/{guild}/commands", 0, wait)
        .await
        .expect("commands registered");
    eprintln!("     connected");

    // Declare the outage and wait for its answer.
    let (alice, desk_ch, general) = (
        spec.user_id("alice"),
        spec.channel_id("service-desk"),
        spec.channel_id("general"),
    );
    let declared = fake.inject_message(desk_ch, alice, "!outage email Mail is down impact=major");
    let answered = |fake: &FakeDiscord| {
        fake.bot_messages(desk_ch)
            .into_iter()
            .find(|m| m.json["message_reference"]["message_id"].as_str() == Some(declared.to_string().as_str()))
    };
    let deadline = Instant::now() + wait;
    let reply = loop {
        if let Some(m) = answered(&fake) {
            break m.content().to_owned();
        }
        assert!(Instant::now() < deadline, "no answer to !outage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(reply.contains("declared"), "!outage answered {reply:?}");
    eprintln!("     {reply}");

    // The storm: REPORTS slash commands at a steady pace over STORM_SECS, from the subscribers.
    let mut tick = tokio::time::interval(Duration::from_micros(STORM_SECS * 1_000_000 / REPORTS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut injected = std::collections::HashSet::new();
    for i in 0..REPORTS as usize {
        tick.tick().await;
        let (user, _) = subscribers[i % subscribers.len()];
        let (id, _) = fake.inject_interaction(
            InteractionSpec::slash("incident", user, general)
                .string("title", format!("Mail bounces for me ({i})"))
                .string("service", "email"),
        );
        injected.insert(id);
    }
    eprintln!(
        "     injected {REPORTS} reports in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // P1s on another service while the fan-out goes on: each must reach its
    // handler's channel quickly, whatever the storm left queued.
    let mut p1s = Vec::new();
    for k in 0..P1S as usize {
        let (user, _) = subscribers[(REPORTS as usize + k) % subscribers.len()];
        let (id, _) = fake.inject_interaction(
            InteractionSpec::slash("incident", user, general)
                .string("title", format!("Payroll run aborts P1-{k:02}"))
                .string("service", "payroll")
                .string("impact", "high")
                .string("urgency", "high"),
        );
        p1s.push((id, format!("Payroll run aborts P1-{k:02}")));
        tokio::time::sleep(P1_EVERY).await;
    }
    eprintln!("     injected {P1S} P1s on payroll");
    let deadline = Instant::now() + Duration::from_secs(120);
    let records = loop {
        let records: Vec<_> = fake
            .interactions()
            .into_iter()
            .filter(|r| injected.contains(&r.id))
            .collect();
        if records.iter().all(|r| r.callback_latency.is_some()) {
            break records;
        }
        assert!(Instant::now() < deadline, "not every report answered within 2 minutes");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let deferred = records
        .iter()
        .filter(|r| r.callback.as_ref().is_some_and(|c| c["type"] == 5))
        .count();
    let mut lat: Vec<Duration> = records.iter().filter_map(|r| r.callback_latency).collect();
    lat.sort();
    eprintln!("     every report answered");

    // The fan-out: one DM per subscriber.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let calls = fake.calls();
        let dms = dm_channels(&calls);
        let sent: std::collections::HashSet<u64> = calls
            .iter()
            .filter(|c| c.is("POST /channels/{c}/messages") && c.succeeded())
            .filter_map(|c| c.id_at(1).filter(|id| dms.contains(id)))
            .collect();
        if sent.len() as u64 >= SUBSCRIBERS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fan-out incomplete after 4 minutes: {} of {SUBSCRIBERS}",
            sent.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Every P1's card, then the handler's channel over the storm.
    let deadline = Instant::now() + Duration::from_secs(60);
    let im_ch = spec.channel_id("incident-management");
    let posted_in = |calls: &[Call], channel: u64, title: &str| {
        calls
            .iter()
            .find(|c| {
                c.is("POST /channels/{c}/messages")
                    && c.succeeded()
                    && c.id_at(1) == Some(channel)
                    && c.body.as_ref().is_some_and(|b| b.to_string().contains(title))
            })
            .map(|c| c.at)
    };
    let posted_card = |calls: &[Call], title: &str| posted_in(calls, desk_ch, title);
    let calls = loop {
        let calls = fake.calls();
        let all_in = |channel| p1s.iter().all(|(_, title)| posted_in(&calls, channel, title).is_some());
        if (all_in(desk_ch) && all_in(im_ch)) || Instant::now() > deadline {
            break calls;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let violations = fake.budget_violations();
    let dms = dm_channels(&calls);
    let fan: Vec<&Call> = calls.iter().filter(|c| dm_call(c, &dms)).collect();
    let (first, last) = (fan[0].at, fan[fan.len() - 1].at);
    let span = (last - first).as_secs_f64();
    let dm_rate = (fan.len() - 1) as f64 / span;
    // Everything the bot sent in the same window that counts against the global budget.
    let counted = calls
        .iter()
        .filter(|c| c.at >= first && c.at <= last)
        .filter(|c| !matches!(c.segment(0), Some("interactions" | "webhooks")))
        .count();
    let all_rate = (counted - 1) as f64 / span;
    let storm_start = fake
        .interactions()
        .iter()
        .filter(|r| injected.contains(&r.id))
        .map(|r| r.injected_at)
        .min()
        .unwrap_or_default();
    let mut p1 = Vec::new();
    let mut p1_mid_fanout = 0;
    let mut p1_fyi = Vec::new();
    let p1_cards: Vec<Duration> = p1s.iter().filter_map(|(_, title)| posted_card(&calls, title)).collect();
    for (id, title) in &p1s {
        let Some(rec) = fake.interaction(*id) else { continue };
        if rec.injected_at < last {
            p1_mid_fanout += 1;
        }
        if let Some(at) = posted_card(&calls, title) {
            p1.push(at.saturating_sub(rec.injected_at));
        }
        if let Some(at) = posted_in(&calls, im_ch, title) {
            p1_fyi.push(at.saturating_sub(rec.injected_at));
        }
    }
    let in_storm = |c: &&Call| c.at >= storm_start && c.at <= last && c.succeeded();
    let desk_posts = calls
        .iter()
        .filter(in_storm)
        .filter(|c| c.is("POST /channels/{c}/messages") && c.id_at(1) == Some(desk_ch))
        .filter(|c| !p1_cards.contains(&c.at))
        .count();
    let desk_edits = calls
        .iter()
        .filter(in_storm)
        .filter(|c| c.is("PATCH /channels/{c}/messages/{m}") && c.id_at(1) == Some(desk_ch))
        .count();
    let im_posts = calls
        .iter()
        .filter(in_storm)
        .filter(|c| c.is("POST /channels/{c}/messages") && c.id_at(1) == Some(im_ch))
        .count();
    let first_grouped = calls
        .iter()
        .filter(|c| c.is("POST /channels/{c}/messages") && c.succeeded() && c.id_at(1) == Some(desk_ch))
        .find(|c| {
            c.body
                .as_ref()
                .is_some_and(|b| b.to_string().contains("linked to OUT-"))
        })
        .map(|c| c.at.saturating_sub(storm_start));
    eprintln!("     fan-out done; stopping");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(wait, task).await;
    Storm {
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
        deferred,
        violations,
        dm_calls: fan.len(),
        dm_rate,
        all_rate,
        knob,
        desk_posts,
        desk_edits,
        im_posts,
        first_grouped,
        p1,
        p1_mid_fanout,
        p1_fyi,
    }
}

// ---------------------------------------------------------------------------------------------
// 4. SLA sweep over 1,000,000 timers, and memory
// ---------------------------------------------------------------------------------------------

const TIMERS: i64 = 1_000_000;
/// Timers already due when the sweep runs.
const DUE: i64 = 1_000;
const QUERIES: usize = 2_000;

async fn sweep() {
    println!("== 4. SLA sweep: the scheduler's queries on a timers table of {TIMERS} rows (half fired, {DUE} due now)");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = db_url(&dir, "sweep.db");
    let now = Utc::now();
    let built = Instant::now();
    build_timers(&url, now).await;
    println!("   (built the table in {:.1} s)", built.elapsed().as_secs_f64());

    let store = Store::open(&url).await.expect("open");
    let mut conn = store.write().await.expect("conn");
    let mut rows = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        rows.0.push(timed!(QUERIES, {
            let due = store::timers::due(&mut conn, now, 32).await.expect("due");
            assert_eq!(due.len(), 32);
        }));
        rows.1.push(timed!(QUERIES, {
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM timers INDEXED BY timers_due
                  WHERE fired_at IS NULL AND cancelled = 0 AND due_at <= ? ORDER BY due_at, id LIMIT 32",
            )
            .bind(now.timestamp_millis())
            .fetch_all(&mut *conn)
            .await
            .expect("raw due");
            assert_eq!(ids.len(), 32);
        }));
        // The fair reference: the same columns `due` returns, decoded into plain values.
        rows.4.push(timed!(QUERIES, {
            let due: Vec<(i64, String, String, String, i64, String)> = sqlx::query_as(
                "SELECT id, kind, key, subject, due_at, payload FROM timers INDEXED BY timers_due
                  WHERE fired_at IS NULL AND cancelled = 0 AND due_at <= ? ORDER BY due_at, id LIMIT 32",
            )
            .bind(now.timestamp_millis())
            .fetch_all(&mut *conn)
            .await
            .expect("raw due rows");
            assert_eq!(due.len(), 32);
        }));
        rows.2.push(timed!(QUERIES, {
            store::timers::next_due(&mut conn)
                .await
                .expect("next")
                .expect("a timer");
        }));
        rows.3.push(timed!(QUERIES, {
            let t: Option<i64> = sqlx::query_scalar(
                "SELECT due_at FROM timers INDEXED BY timers_due
                  WHERE fired_at IS NULL AND cancelled = 0 ORDER BY due_at LIMIT 1",
            )
            .fetch_optional(&mut *conn)
            .await
            .expect("raw next");
            assert!(t.is_some());
        }));
    }
    drop(conn);
    store.close().await;
    let m = [
        median(rows.0.clone()),
        median(rows.1.clone()),
        median(rows.2.clone()),
        median(rows.3.clone()),
        median(rows.4.clone()),
    ];
    println!(
        "   store::timers::due (32 due rows)   {:>9.1} µs/query ({})",
        m[0],
        runs(&rows.0, "")
    );
    println!(
        "   raw indexed due query (ids)        {:>9.1} µs/query ({})",
        m[1],
        runs(&rows.1, "")
    );
    println!(
        "   raw indexed due query (same columns) {:>7.1} µs/query ({})",
        m[4],
        runs(&rows.4, "")
    );
    println!(
        "   store::timers::next_due            {:>9.1} µs/query ({})",
        m[2],
        runs(&rows.2, "")
    );
    println!(
        "   raw indexed next-due query         {:>9.1} µs/query ({})",
        m[3],
        runs(&rows.3, "")
    );
    println!(
        "   due ratio vs ids only {:.2}× (target ≤ 2×: {}), vs the same columns {:.2}× (target ≤ 2×: {}), next_due ratio {:.2}× (target ≤ 2×: {})",
        m[0] / m[1],
        verdict(m[0] / m[1] <= 2.0),
        m[0] / m[4],
        verdict(m[0] / m[4] <= 2.0),
        m[2] / m[3],
        verdict(m[2] / m[3] <= 2.0)
    );

    // Memory, each in a fresh process so earlier benchmarks do not count.
    let fresh = db_url(&dir, "fresh.db");
    let mut idle = vec![];
    let mut loaded = vec![];
    let mut bin_idle = vec![];
    let mut bin_loaded = vec![];
    for _ in 0..RUNS {
        idle.push(probe(&["idle", &fresh]));
        loaded.push(probe(&["loaded", &url]));
        bin_idle.push(binary_rss(&fresh));
        bin_loaded.push(binary_rss(&url));
    }
    let (i, l, bi, bl) = (
        median(idle.clone()),
        median(loaded.clone()),
        median(bin_idle.clone()),
        median(bin_loaded.clone()),
    );
    println!(
        "   RSS, desk idle (runtime + store + policy, empty db)  {i:>6.1} MB ({})",
        runs(&idle, "")
    );
    println!(
        "   RSS, desk on the 1M-row db after the sweep queries   {l:>6.1} MB ({})",
        runs(&loaded, "")
    );
    println!(
        "   RSS, `opsdesk console` binary idle                   {bi:>6.1} MB ({})",
        runs(&bin_idle, "")
    );
    println!(
        "   RSS, `opsdesk console` binary on the 1M-row db       {bl:>6.1} MB ({})",
        runs(&bin_loaded, "")
    );
    println!(
        "   idle target ≤ 30 MB: desk {}, binary {}\n",
        verdict(i <= 30.0),
        verdict(bi <= 30.0)
    );
}

async fn build_timers(url: &str, now: chrono::DateTime<Utc>) {
    Store::open(url).await.expect("migrate").close().await;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(raw_options(url).synchronous(SqliteSynchronous::Off))
        .await
        .expect("pool");
    let base = now - TimeDelta::seconds(DUE);
    const CHUNK: i64 = 50_000;
    for chunk in 0..TIMERS / CHUNK {
        let mut tx = pool.begin().await.expect("tx");
        for i in chunk * CHUNK..(chunk + 1) * CHUNK {
            // Even rows: history, already fired. Odd rows: pending, one second apart,
            // the first DUE of them already due.
            let fired = i % 2 == 0;
            let pending_index = i / 2;
            let due = if fired {
                base - TimeDelta::seconds(TIMERS - i)
            } else {
                base + TimeDelta::seconds(pending_index)
            };
            sqlx::query(
                "INSERT INTO timers (kind, key, subject, due_at, payload, fired_at) VALUES ('sla', ?, ?, ?, '{}', ?)",
            )
            .bind(format!("INC-{i}:resolution:breach"))
            .bind(format!("INC-{i}"))
            .bind(due.timestamp_millis())
            .bind(fired.then(|| due.timestamp_millis()))
            .execute(&mut *tx)
            .await
            .expect("insert timer");
        }
        tx.commit().await.expect("commit");
    }
    sqlx::query("ANALYZE").execute(&pool).await.expect("analyze");
    pool.close().await;
}

fn vm_rss_mb(status: &str) -> f64 {
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs this bench binary as `rss-probe <what> <db>` and reads the MB it prints.
fn probe(args: &[&str]) -> f64 {
    let exe = std::env::current_exe().expect("own path");
    let out = std::process::Command::new(exe)
        .arg("rss-probe")
        .args(args)
        .output()
        .expect("probe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("probe said {text:?} {}", String::from_utf8_lossy(&out.stderr)))
}

/// In a fresh process: a desk as the binary builds it, then VmRSS in MB.
fn rss_probe(args: &[String]) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Store::open(&args[1]).await.expect("open");
        let desk = Desk::new(store.clone(), Policy::defaults(), Clock::system());
        let mut conn = store.write().await.expect("conn");
        let _ = store::timers::due(&mut conn, desk.clock().now(), 32)
            .await
            .expect("due");
        let _ = store::timers::next_due(&mut conn).await.expect("next");
        drop(conn);
        if args[0] == "loaded" {
            // What a sweep over the whole table touches (counts read every pending row).
            let mut conn = store.read().await.expect("read");
            let _: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM timers WHERE fired_at IS NULL AND cancelled = 0")
                .fetch_one(&mut *conn)
                .await
                .expect("count");
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        println!("{:.1}", vm_rss_mb(&status));
    });
}

/// The real binary: `opsdesk console` on `db`, after it answered one command.
fn binary_rss(db: &str) -> f64 {
    use std::io::{BufRead, BufReader, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_opsdesk"))
        .args(["--database", db, "console"])
        .env_remove("DISCORD_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn opsdesk");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdin.write_all(b"!whois service_desk\n").expect("write");
    stdin.flush().expect("flush");
    let mut line = String::new();
    // The echo of the input, then the answer: wait for the answer.
    while stdout.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        if line.contains("Service Desk") && !line.contains("!whois") {
            break;
        }
        line.clear();
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    drop(stdin);
    let _ = child.wait();
    vm_rss_mb(&status)
}

// ---------------------------------------------------------------------------------------------
// 5. Service report
// ---------------------------------------------------------------------------------------------

/// `!report 30d` by an agent, through the desk (the read of every figure and
/// the card queued), over incidents spread evenly across the last 60 days
/// (half of them in the period), each logged, taken and (two in three)
/// resolved, with both clocks; beside the volume figures (logged, resolved,
/// still open) of the same period by one raw SQL query.
async fn report() {
    for n in [100_000i64, 1_000_000] {
        println!("== 5. !report 30d over {n} incidents (60 days, half in the period)");
        let dir = tempfile::tempdir().expect("temp dir");
        let url = db_url(&dir, "report.db");
        let now = Utc::now();
        let built = Instant::now();
        build_incidents(&url, now, n).await;
        println!("   (built in {:.1} s)", built.elapsed().as_secs_f64());
        let store = Store::open(&url).await.expect("open");
        let desk = Desk::new(store, Policy::defaults(), Clock::fixed(now));
        let agent = Actor {
            user: UserId::new(7),
            name: "agent".into(),
            roles: vec![opsdesk::domain::RoleKey::parse("service_desk").expect("role")],
        };
        let mut desk_ms = Vec::new();
        for run in 0..RUNS {
            let inbound = Inbound {
                key: format!("bench:report:{n}:{run}"),
                actor: agent.clone(),
                channel: Some("general".into()),
                event: Event::Line("!report 30d".into()),
            };
            let start = Instant::now();
            let out = desk.handle(inbound).await;
            desk_ms.push(start.elapsed().as_secs_f64() * 1e3);
            assert!(matches!(out, Outcome::Reply(ref r) if !r.private), "{out:?}");
        }
        let mut conn = desk.store().read().await.expect("reader");
        let from = (now - TimeDelta::days(30)).timestamp_millis();
        let to = now.timestamp_millis();
        let mut raw_ms = Vec::new();
        let mut figures = (0, 0);
        for _ in 0..RUNS {
            let start = Instant::now();
            let (logged, resolved): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(EXISTS (SELECT 1 FROM audit a WHERE a.subject = 'INC-' || i.id
                                                          AND a.action = 'resolve_incident' AND a.at < ?)), 0)
                   FROM incidents i WHERE i.created_at >= ? AND i.created_at < ?",
            )
            .bind(to)
            .bind(from)
            .bind(to)
            .fetch_one(&mut *conn)
            .await
            .expect("raw report");
            raw_ms.push(start.elapsed().as_secs_f64() * 1e3);
            figures = (logged, resolved);
        }
        drop(conn);
        let (d, r) = (median(desk_ms), median(raw_ms));
        println!(
            "   !report 30d (every figure, card queued)  {d:>10.1} ms\n   raw SQL (logged {}, resolved {})    {r:>10.1} ms\n   ratio {:.1}x",
            figures.0,
            figures.1,
            d / r.max(1e-9)
        );
        desk.store().close().await;
    }
}

/// `n` incidents over the 60 days before `now`, each with its audit rows
/// (logged, taken, resolved for two in three) and both clocks.
async fn build_incidents(url: &str, now: chrono::DateTime<Utc>, n: i64) {
    Store::open(url).await.expect("migrate").close().await;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(raw_options(url).synchronous(SqliteSynchronous::Off))
        .await
        .expect("pool");
    let span = 60 * 86_400_000i64;
    let start = now.timestamp_millis() - span;
    const CHUNK: i64 = 50_000;
    let mut id = 0;
    while id < n {
        let mut tx = pool.begin().await.expect("tx");
        for _ in 0..CHUNK.min(n - id) {
            id += 1;
            let created = start + span / n * (id - 1);
            let priority = 1 + id % 5;
            let resolved = id % 3 != 0;
            sqlx::query(
                "INSERT INTO incidents (id, title, impact, urgency, priority, service, state, reporter, handler_role,
                                        created_at, updated_at)
                 VALUES (?, 'bench', 'medium', 'medium', ?, 'email', ?, 1, 'service_desk', ?, ?)",
            )
            .bind(id)
            .bind(priority)
            .bind(if resolved { "resolved" } else { "assigned" })
            .bind(created)
            .bind(created)
            .execute(&mut *tx)
            .await
            .expect("incident");
            let subject = format!("INC-{id}");
            let mut audit = vec![("log_incident", created), ("assign_incident", created + 600_000)];
            if resolved {
                audit.push(("resolve_incident", created + 7_200_000));
            }
            for (action, at) in audit {
                sqlx::query(
                    "INSERT INTO audit (at, actor, action, subject, details, phrased) VALUES (?, 1, ?, ?, 'x', 1)",
                )
                .bind(at)
                .bind(action)
                .bind(&subject)
                .execute(&mut *tx)
                .await
                .expect("audit");
            }
            for (kind, target) in [("response", 1800), ("resolution", 28_800)] {
                let stopped = (kind == "response" || resolved).then_some(created + 600_000);
                sqlx::query(
                    "INSERT INTO incident_clocks (incident_id, kind, run, target_secs, started_at, accumulated_secs,
                                                  running_since, stopped_at)
                     VALUES (?, ?, 0, ?, ?, 600, ?, ?)",
                )
                .bind(id)
                .bind(kind)
                .bind(target)
                .bind(created)
                .bind(stopped.is_none().then_some(created))
                .bind(stopped)
                .execute(&mut *tx)
                .await
                .expect("clock");
            }
        }
        tx.commit().await.expect("commit");
    }
    sqlx::query("ANALYZE").execute(&pool).await.expect("analyze");
    pool.close().await;
}

// ---------------------------------------------------------------------------------------------
// 6. A 1,000-alert burst on the Alertmanager hook
// ---------------------------------------------------------------------------------------------

/// Webhook deliveries in one burst, each one firing alert of its own fingerprint.
const BURST: usize = 1_000;

async fn alerts() {
    println!("== 5. alert webhooks: {BURST} Alertmanager deliveries at once on /hooks/alertmanager (WAL, synchronous=FULL, loopback HTTP)");
    println!("   each delivery is answered only after its COMMIT and logs one incident (the same rows as !incident, plus alert_keys)");
    let sample = sample_rows().await;
    let (mut rates, mut p50s, mut p99s, mut refs) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        refs.push(raw_rate(&sample, 1).await);
        let (rate, p50, p99) = alert_burst().await;
        rates.push(rate);
        p50s.push(p50);
        p99s.push(p99);
    }
    let (rate, reference) = (median(rates.clone()), median(refs.clone()));
    println!(
        "   raw durable commit of an incident's rows, 1 client  {reference:>8.0}/s   ({})",
        runs(&refs, "")
    );
    println!(
        "   webhooks absorbed durably (burst, all answered 2xx)  {rate:>8.0}/s   ({})",
        runs(&rates, "")
    );
    println!(
        "   answer time under the burst: p50 {:.1} ms, p99 {:.1} ms  (p99 {})",
        median(p50s),
        median(p99s.clone()),
        runs(&p99s, " ms")
    );
    println!(
        "   webhooks / raw single-transaction commits = {:.2}×\n",
        rate / reference
    );
}

/// One burst against a fresh desk; returns (webhooks/s, p50 ms, p99 ms).
async fn alert_burst() -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&db_url(&dir, "alerts.db")).await.expect("open");
    let mut policy = Policy::defaults();
    policy.alerts.hooks = vec![opsdesk::domain::alert::Hook::Alertmanager];
    let desk = Desk::new(store.clone(), policy, Clock::system());
    let token = opsdesk::http::HookToken::new("bench-token").expect("token");
    let ops = opsdesk::http::Ops::with_hooks(store.clone(), Clock::system(), TimeDelta::minutes(10), desk, token);
    let listener = opsdesk::http::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(opsdesk::http::serve(listener, opsdesk::http::router(ops), async move {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}/hooks/alertmanager");
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(BURST);
    for i in 0..BURST {
        let (client, url) = (client.clone(), url.clone());
        let body = format!(
            r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"Burst\"}}","truncatedAlerts":0,"status":"firing","receiver":"opsdesk",
            "groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://am.bench",
            "alerts":[{{"status":"firing","labels":{{"alertname":"Burst","severity":"critical","instance":"host{i}"}},
            "annotations":{{"summary":"Burst alert {i}"}},"startsAt":"2026-12-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",
            "generatorURL":"http://prom.bench/graph","fingerprint":"fp{i:05}"}}]}}"#
        );
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = client
                .post(&url)
                .bearer_auth("bench-token")
                .body(body)
                .send()
                .await
                .expect("post");
            let status = r.status();
            let _ = r.bytes().await;
            (status, sent.elapsed())
        }));
    }
    let mut took = Vec::with_capacity(BURST);
    for t in tasks {
        let (status, d) = t.await.expect("client");
        assert!(status.is_success(), "every webhook absorbed, got {status}");
        took.push(d);
    }
    let rate = BURST as f64 / start.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = server.await;
    let mut c = store.read().await.expect("read");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM incidents")
        .fetch_one(&mut *c)
        .await
        .expect("count");
    assert_eq!(n as usize, BURST, "one incident per alert, all committed");
    drop(c);
    store.close().await;
    took.sort();
    (rate, ms(percentile(&took, 50.0)), ms(percentile(&took, 99.0)))
}
