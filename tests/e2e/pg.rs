//! A PostgreSQL for the binary's tests: the store's own harness
//! (`src/store/testing_postgres.rs`, by path, so there is one copy of it),
//! with a throwaway cluster or `OPSDESK_TEST_POSTGRES_URL`, skipped locally
//! without either and required under `CI`.

pub use opsdesk::store::redact_url;

// Not every helper of the harness is used by the binary's tests.
#[allow(dead_code)]
#[path = "../../src/store/testing_postgres.rs"]
mod harness;

pub use harness::TestPostgres;

/// The modules of this crate whose every test is about the desk, not about
/// SQLite's file, and so must pass on PostgreSQL as on SQLite.
const ON_BOTH_ENGINES: &[&str] = &[
    "alerts::",
    "changes::",
    "console::",
    "day::",
    "discord::",
    "discord_buttons::",
    "discord_cab::",
    "discord_escalation::",
    "discord_guard::",
    "discord_outage::",
    "history::",
    "outage::",
    "problems::",
    "proofs::",
    "proofs_discord::",
    "queues::",
    "replies::",
    "reports::",
    "sla::",
];

/// Tests in those modules that check SQLite itself (its file, its WAL, its
/// fault injection by trigger), with the reason; they run on SQLite only.
const SQLITE_ONLY: &[(&str, &str)] = &[];

/// Runs the desk's end-to-end suites again with every database a schema on
/// one real PostgreSQL (issue 21: the same suite on both engines). The run is
/// this test binary itself, filtered to [`ON_BOTH_ENGINES`], under
/// `OPSDESK_TEST_ENGINE=postgres` and `OPSDESK_TEST_POSTGRES_URL` naming the
/// server this test started (or was given); it must pass whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_suites_pass_on_postgres_too() {
    if std::env::var_os(crate::util::ENGINE_VARIABLE).is_some() {
        return; // This is the PostgreSQL run itself.
    }
    let Some(pg) = TestPostgres::start("the_desk_suites_pass_on_postgres_too").await else {
        return;
    };
    let started = std::time::Instant::now();
    let mut run = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    run.args(ON_BOTH_ENGINES)
        .args(SQLITE_ONLY.iter().flat_map(|(test, _)| ["--skip", test]))
        .args(["--test-threads", "2"])
        .env(crate::util::ENGINE_VARIABLE, "postgres")
        .env(harness::URL_VARIABLE, pg.server_url());
    let out = tokio::task::spawn_blocking(move || run.output())
        .await
        .expect("the PostgreSQL run")
        .expect("start the PostgreSQL run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .collect::<Vec<_>>()
        .join("; ");
    eprintln!(
        "measured: the desk suites on PostgreSQL: {summary} (in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with("FAILED"))
        .collect();
    assert!(
        out.status.success() && summary.contains(" passed"),
        "on PostgreSQL {} test(s) failed:\n{}\n\n{stdout}\n{}",
        failed.len(),
        failed.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    pg.finish().await;
}
