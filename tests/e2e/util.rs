//! Shared helpers: run the real binary with a clean environment, open the
//! database a test produced.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sqlx::{AnyConnection, Connection};

use crate::pg::TestPostgres;

/// The variable that runs the tests' desks on PostgreSQL: `postgres` puts
/// every [`TestDb`] in a schema of its own there (on the server of
/// `OPSDESK_TEST_POSTGRES_URL`, else a throwaway cluster per database).
pub const ENGINE_VARIABLE: &str = "OPSDESK_TEST_ENGINE";

/// One test's database: an SQLite file in a temp dir, or, under
/// `OPSDESK_TEST_ENGINE=postgres`, a fresh PostgreSQL schema (the temp dir
/// stays for the files a test writes beside it).
pub struct TestDb {
    pub dir: tempfile::TempDir,
    postgres: Option<TestPostgres>,
}

/// Runs `work` to completion on a runtime of its own, on a thread of its own
/// (so it may be called inside or outside a test's runtime).
fn blocking<T: Send>(work: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(work)
        })
        .join()
        .expect("the database set-up thread")
    })
}

impl TestDb {
    pub fn new() -> Self {
        let postgres = match std::env::var(ENGINE_VARIABLE).as_deref() {
            Ok("postgres") => Some(blocking(TestPostgres::start("e2e")).unwrap_or_else(|| {
                panic!("{ENGINE_VARIABLE}=postgres, but no PostgreSQL could be started or reached")
            })),
            _ => None,
        };
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres,
        }
    }

    /// An SQLite file in `dir`, whatever the engine variable says (the
    /// storage-fault proofs fill the disk under SQLite's file).
    pub fn sqlite_in(dir: tempfile::TempDir) -> Self {
        Self { dir, postgres: None }
    }

    /// A fresh schema on `pg`, whatever the engine variable says (the
    /// standby's tests need PostgreSQL's locks).
    pub fn on_postgres(pg: TestPostgres) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: Some(pg),
        }
    }

    /// True when this database is a PostgreSQL schema.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// The SQLite file (tests of the file itself run on SQLite only).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("opsdesk.db")
    }

    pub fn url(&self) -> String {
        match &self.postgres {
            Some(pg) => pg.url().to_owned(),
            None => format!("sqlite://{}", self.path().display()),
        }
    }

    /// A connection for assertions on what the binary wrote, on either engine.
    pub async fn conn(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url()).await.expect("open test db")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(pg) = self.postgres.take() {
            blocking(pg.finish());
        }
    }
}

/// The `opsdesk` binary with no leaked `OPSDESK_*` / `DISCORD_*` settings.
pub fn opsdesk() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsdesk"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OPSDESK_") || k.starts_with("DISCORD_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs `opsdesk <args>` with `stdin` piped in; returns the finished process.
pub fn run_with_input(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let mut child = opsdesk()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn opsdesk");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write script");
    child.wait_with_output().expect("opsdesk finished")
}

/// Runs a console script on the test database; returns stdout (panics with stderr on failure).
pub fn console(db: &TestDb, script: &str, extra: &[&str]) -> String {
    let url = db.url();
    let mut args = vec!["--database", url.as_str(), "console"];
    args.extend_from_slice(extra);
    let out = run_with_input(&args, db.dir.path(), script);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "console failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The lines of a transcript that contain `needle`.
pub fn lines_with<'a>(out: &'a str, needle: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(needle)).collect()
}

/// Waits until `cond` holds, polling it, and fails the test after `within`:
/// a wait on a condition, never a fixed sleep.
pub async fn until<F, Fut>(what: &str, within: std::time::Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The id of the last message printed with `needle`: `[#chan #12] …` → "12".
pub fn id_of_last(out: &str, needle: &str) -> String {
    let line = lines_with(out, needle)
        .pop()
        .unwrap_or_else(|| panic!("no {needle:?} in:\n{out}"));
    let head = line.split(']').next().unwrap_or_default();
    head.rsplit('#').next().unwrap_or_default().trim().to_owned()
}

/// One integer from the test database (`SELECT COUNT(*) …`).
pub async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    n
}

/// One text value from the test database.
pub async fn text(db: &TestDb, sql: &str) -> String {
    let (s,): (String,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    s
}
