//! Shared helpers: run the real binary with a clean environment, open the
//! database a test produced.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

/// A temp dir holding one test's database.
pub struct TestDb {
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("opsdesk.db")
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }

    /// A connection for assertions on what the binary wrote.
    pub async fn conn(&self) -> SqliteConnection {
        SqliteConnectOptions::new()
            .filename(self.path())
            .connect()
            .await
            .expect("open test db")
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
