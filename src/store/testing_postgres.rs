//! A PostgreSQL for tests (issue 21): the server named by
//! `OPSDESK_TEST_POSTGRES_URL`, or else a throwaway cluster this module starts
//! itself from the PostgreSQL server binaries (`initdb`, `pg_ctl`, found on
//! `PATH` or under `/usr/lib/postgresql/*/bin`, as Debian's `postgresql`
//! package installs them), listening on a free loopback port and a socket in
//! its temporary directory, stopped and removed when dropped.
//!
//! Every [`TestPostgres`] is one fresh schema, first on the search path of the
//! connections it opens and dropped with it, so tests never see each other's
//! tables, also on a shared server. Without binaries or a URL the tests that
//! need PostgreSQL skip with a message; under `CI` they fail instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

/// The variable naming an existing server to test against instead of a
/// throwaway cluster (`postgres://user:pass@127.0.0.1:5432/db`).
pub const URL_VARIABLE: &str = "OPSDESK_TEST_POSTGRES_URL";

/// The OS user a cluster runs as when the tests run as root (PostgreSQL
/// refuses to run as root); Debian's package creates it.
const CLUSTER_USER: &str = "postgres";

/// One test's PostgreSQL: a schema of its own on a server.
pub struct TestPostgres {
    options: PgConnectOptions,
    /// The server's URL, no schema chosen.
    #[allow(dead_code)] // read by `server_url` and `another`, which not every crate calls
    server: String,
    schema: String,
    /// The server's URL with the schema first on the search path.
    url: String,
    // Declared last: dropped after the schema is dropped through it.
    _cluster: Option<Cluster>,
}

/// Runs this test binary again with every test database on `pg`'s server:
/// filtered to `filters`, skipping `skips` (test, reason), with
/// `engine_variable=postgres` and [`URL_VARIABLE`] naming the server. The
/// run must pass whole; `what` names it in the `measured:` line. The same
/// step for the desk's unit tests and the e2e suites (issue 21: one suite,
/// both engines).
#[allow(dead_code)] // each test crate uses it once
pub async fn rerun_on(pg: &TestPostgres, what: &str, engine_variable: &str, filters: &[&str], skips: &[(&str, &str)]) {
    let started = std::time::Instant::now();
    let mut run = Command::new(std::env::current_exe().expect("the test binary"));
    run.args(filters)
        .args(skips.iter().flat_map(|(test, _)| ["--skip", test]))
        .args(["--test-threads", "2"])
        .env(engine_variable, "postgres")
        .env(URL_VARIABLE, pg.server_url());
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
        "measured: {what} on PostgreSQL: {summary} (in {:.0} s)",
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
}

impl TestPostgres {
    /// A fresh schema on the server of `OPSDESK_TEST_POSTGRES_URL`, or on a
    /// cluster started for this test. `None` (after saying so on stderr) when
    /// there is neither and `CI` is unset; panics under `CI`, where the
    /// PostgreSQL run is required.
    pub async fn start(test: &str) -> Option<Self> {
        let (url, cluster) = match std::env::var(URL_VARIABLE) {
            Ok(url) if !url.is_empty() => (url, None),
            _ => match server_binaries() {
                Some(bin) => {
                    let cluster = Cluster::start(&bin);
                    (cluster.url(), Some(cluster))
                }
                None if std::env::var_os("CI").is_some() => panic!(
                    "{test}: CI requires the PostgreSQL run, but neither {URL_VARIABLE} is set nor are \
                     initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin \
                     (apt-get install postgresql)"
                ),
                None => {
                    eprintln!(
                        "{test}: skipped: no PostgreSQL (set {URL_VARIABLE}, or install Debian's \
                         `postgresql` package for a throwaway cluster)"
                    );
                    return None;
                }
            },
        };
        Some(Self::schema_on(url, cluster).await)
    }

    /// Another fresh schema on this one's server, which must outlive it
    /// (the benchmark's runs share one cluster).
    #[allow(dead_code)] // the benchmark's only
    pub async fn another(&self) -> Self {
        Self::schema_on(self.server.clone(), None).await
    }

    /// A fresh schema on the server at `url` (`cluster`: the one serving it, if ours).
    async fn schema_on(url: String, cluster: Option<Cluster>) -> Self {
        let server = PgConnectOptions::from_str(&url)
            .unwrap_or_else(|e| panic!("{URL_VARIABLE} {}: {e}", super::redact_url(&url)));
        let schema = format!(
            "opsdesk_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let mut admin = server
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", super::redact_url(&url)));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("CREATE SCHEMA");
        admin.close().await.ok();
        let separator = if url.contains('?') { '&' } else { '?' };
        Self {
            options: server.options([("search_path", schema.as_str())]),
            url: format!("{url}{separator}options=-c%20search_path%3D{schema}"),
            server: url,
            schema,
            _cluster: cluster,
        }
    }

    /// A new connection whose search path is this test's schema.
    pub async fn connect(&self) -> PgConnection {
        self.options.connect().await.expect("connecting to the test PostgreSQL")
    }

    /// A URL for another process (the `opsdesk` binary) whose connections
    /// use this test's schema; it holds the server's password, if any, so
    /// print it only through `redact_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's URL with no schema chosen, for a process that makes
    /// schemas of its own there (holds the password, if any).
    #[allow(dead_code)] // the PostgreSQL runs of the e2e crate and the desk tests
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// The schema the connections create their tables in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops the test's schema (a throwaway cluster goes with the value).
    pub async fn finish(self) {
        let mut conn = self.connect().await;
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&mut conn)
            .await
            .expect("DROP SCHEMA");
        conn.close().await.ok();
    }
}

/// The directory holding `initdb` and `pg_ctl`: on `PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian does not put them on `PATH`).
fn server_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d)) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A cluster in a temporary directory: data in `data/`, the socket and the
/// server log beside it.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_cluster_user: bool,
}

impl Cluster {
    fn start(bin: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("opsdesk-pg-")
            .tempdir()
            .expect("a temp dir for the cluster");
        let as_cluster_user = running_as_root();
        if as_cluster_user {
            let (uid, gid) = (id(&["-u", CLUSTER_USER]), id(&["-g", CLUSTER_USER]));
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the cluster's temp dir");
        }
        let mut cluster = Self {
            dir,
            bin: bin.to_owned(),
            port: 0,
            as_cluster_user,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        // A port free now may be taken before the server binds it: try again.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            let server_options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
                cluster.port,
                cluster.dir.path().display()
            );
            let log = cluster.dir.path().join("server.log").display().to_string();
            match cluster.try_run(
                "pg_ctl",
                &[
                    "-D",
                    &data,
                    "-l",
                    &log,
                    "-o",
                    &server_options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            ) {
                Ok(()) => return cluster,
                Err(e) => last = format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()),
            }
        }
        panic!("pg_ctl start failed: {last}");
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        self.try_run(tool, args).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs a server tool, as the cluster's user when the tests run as root.
    fn try_run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut command = if self.as_cluster_user {
            let mut c = Command::new("runuser");
            c.args(["-u", CLUSTER_USER, "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // The tools run in the temp dir: the cluster's user may not enter ours.
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} {args:?}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        if let Err(e) = self.try_run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]) {
            eprintln!("stopping the test cluster: {e}");
        }
        // The temp dir (data, socket, log) is removed when `dir` drops.
    }
}

fn running_as_root() -> bool {
    id(&["-u"]) == 0
}

/// `id <args>` as a number (a uid or gid).
fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("run id");
    assert!(
        out.status.success(),
        "id {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("id {args:?}: {e}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
