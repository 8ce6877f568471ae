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
    harness::rerun_on(
        &pg,
        "the desk suites",
        crate::util::ENGINE_VARIABLE,
        ON_BOTH_ENGINES,
        SQLITE_ONLY,
    )
    .await;
    pg.finish().await;
}
