//! The database through sqlx: the only place SQL lives.
//!
//! One writer connection (writes queue instead of fighting over a lock; the
//! desk's ordering and idempotency rely on one writer on both engines) and a
//! small read pool. The engine is chosen from the URL at open ([`Engine`]):
//! SQLite (the embedded default: WAL mode, foreign keys on, a busy timeout, a
//! background checkpointer) or PostgreSQL (readers are read-only sessions).
//! Every connection is sqlx's `Any`, so the rest of the store is one SQL text
//! for both; the desk never knows which engine it has. Migrations in
//! `migrations/` (SQLite) and `migrations/postgres/` are embedded and the
//! engine's own are applied at open. Every query is a function taking a
//! connection or transaction.
//!
//! # Portable SQL
//!
//! The SQL is written once for SQLite and PostgreSQL (issue 21) wherever
//! both accept it: `$N` placeholders (numbered in `.bind` order; sqlx's
//! SQLite driver reads them), `COUNT(*) FILTER (WHERE …)` rather than
//! `SUM(<boolean>)`, `CAST(… AS BIGINT)`, an alias on every derived table,
//! integers bound as `i64`, and bounds computed in Rust rather than with
//! `char()`. SQL assembled at run time goes through [`Sql`], which numbers
//! its own `$N` (sqlx's `QueryBuilder<Any>` writes `?`, which PostgreSQL
//! refuses); a truth value in a result is read as [`Flag`] (an integer on
//! SQLite, a boolean on PostgreSQL). `migrations/postgres/` holds the
//! PostgreSQL version of every migration, by the same number and name.
//!
//! # Dialect-specific (two versions, chosen by [`Engine`])
//!
//! - [`Store::open_with`]: SQLite's connect options and PRAGMAs and migrating
//!   on a connection with foreign keys off; PostgreSQL's migrations on a
//!   connection of their own and read-only reader sessions.
//! - `health::is_settled`: SQLite is asked with `BEGIN`, PostgreSQL with a
//!   `SAVEPOINT`; storage faults from SQLite's result codes or PostgreSQL's
//!   SQLSTATEs ([`WriteFault::from_sqlstate`]).
//! - SQLite only: the background checkpointer and [`Store::checkpoint`]
//!   (`PRAGMA wal_checkpoint`, nothing to do on PostgreSQL);
//!   [`Store::integrity_check`] (PostgreSQL: the catalogue is read).
//! - `ops`: `PRAGMA page_count` / `page_size` or `pg_database_size`;
//!   `VACUUM INTO` for backups (refused on PostgreSQL: `pg_dump`).
//! - `search` and `problems`: FTS5 (`MATCH`, `bm25()`, `snippet()` with
//!   `char()` markers) on SQLite; on PostgreSQL the `document` tsvector of
//!   migrations `postgres/0011` and `0017` with `@@`, `ts_rank()`,
//!   `ts_headline()` (no `…` at an excerpt's cut, no accent folding).
//! - Text comparison: SQLite's `lower()` folds ASCII only (`users::by_name`),
//!   PostgreSQL's every letter; ordering follows the database collation on
//!   PostgreSQL (`timers.key` is `COLLATE "C"` there for the prefix range).
//! - Tests: `pragma_*` functions, `sqlite_master`, `EXPLAIN QUERY PLAN`.
//! - PostgreSQL only: [`ha`], the desk's advisory lock on a native session
//!   of its own (who is active, who waits as a standby); SQLite's file has
//!   one process.
//! - [`copy`] (`opsdesk copy`) reads SQLite's catalogue (`sqlite_master`,
//!   `pragma_table_info`, `pragma_foreign_key_list`, FTS5 `rowid`s) and
//!   writes PostgreSQL's (`information_schema`, `setval` on identity
//!   sequences): the one place that holds a native connection to each engine.

pub mod alerts;
pub mod audit;
pub mod cab;
pub mod cards;
pub mod changes;
pub mod clocks;
pub mod copy;
pub mod escalations;
pub mod events;
pub mod ha;
mod health;
pub mod incidents;
pub mod links;
pub mod notices;
pub mod ops;
pub mod outages;
pub mod outbox;
#[cfg(test)]
mod postgres_tests;
pub mod problems;
pub mod reactions;
pub mod reports;
pub mod roster;
pub mod search;
pub mod storm;
pub mod subscriptions;
pub mod surveys;
#[cfg(test)]
pub(crate) mod testing_postgres;
pub mod timers;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, Executor, Transaction};
use tokio::sync::oneshot;

pub use crate::domain::fault::WriteFault;
pub use sql::{Flag, Sql};
pub use sqlx::AnyConnection as Conn;

mod sql;

/// The writer connection, borrowed from its pool of one.
pub type Writer = sqlx::pool::PoolConnection<sqlx::Any>;

/// A connection for queries that change nothing.
pub type Reader = sqlx::pool::PoolConnection<sqlx::Any>;

/// A write transaction.
pub type Tx = Transaction<'static, sqlx::Any>;

/// Which database engine a store runs on, told by its URL's scheme
/// (`sqlite:` or `postgres://` / `postgresql://`) and by a connection's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine a database URL names, if it names one the store supports.
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }

    /// The engine a connection talks to.
    pub fn of(conn: &Conn) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A store failure (the desk turns it into an "unexpected" reply and logs it).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// The group-commit transaction a command ran in did not commit; each
    /// caller in it gets its own copy (sqlx errors do not clone).
    #[error("the batch transaction failed: {cause}")]
    BatchFailed { fault: Option<WriteFault>, cause: String },
    /// The writer's batch task went away before answering.
    #[error("the writer's batch was abandoned")]
    Abandoned,
    /// A COMMIT reported success but the connection is still inside a
    /// transaction, so nothing was made durable.
    #[error("the writer connection is still inside a transaction")]
    Unsettled,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long a COMMIT waits for the disk (SQLite's `synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=FULL`: every COMMIT is fsynced before the command is
    /// answered, so an answered command survives a power cut. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: a COMMIT reaches the WAL file but is fsynced only at
    /// checkpoints. An answered command survives the process being killed, but a
    /// power cut or kernel crash can lose the last commits (never corrupt the
    /// file). Replies no longer wait for the disk.
    Normal,
}

impl Durability {
    fn synchronous(self) -> SqliteSynchronous {
        match self {
            Self::Full => SqliteSynchronous::Full,
            Self::Normal => SqliteSynchronous::Normal,
        }
    }
}

/// How often the background checkpointer copies the write-ahead log into the
/// database file (SQLite only).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Connections in the read pool unless `OPSDESK_DATABASE_READERS` says otherwise.
const READERS: u32 = 4;

/// The database: a single writer, a read pool, and on SQLite a checkpointer.
///
/// Every connection is sqlx's `Any`, so the SQL of the rest of the store is
/// one text for both engines; the engine is chosen here, from the URL.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL
/// pages, so whichever command commits then waits for the copy and its fsyncs
/// (a p99 several times the p50, BENCHMARKS.md §2). A PASSIVE checkpoint needs
/// no write lock, so a connection of its own runs one every
/// [`CHECKPOINT_EVERY`] beside the writer and the WAL rarely reaches the
/// automatic threshold, which stays as the backstop. PostgreSQL needs none.
#[derive(Debug, Clone)]
pub struct Store {
    engine: Engine,
    writer: AnyPool,
    reader: AnyPool,
    checkpointer: Option<AnyPool>,
    /// Dropped with the last clone of the store, which stops the checkpointer.
    _checkpointing: Arc<oneshot::Sender<()>>,
    health: Arc<health::Health>,
}

/// The connection pool sizes: one writer always; readers from
/// `OPSDESK_DATABASE_READERS` (1–64), else [`READERS`].
fn readers() -> u32 {
    std::env::var("OPSDESK_DATABASE_READERS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(READERS)
}

impl Store {
    /// Opens (creating if missing) the database at `url` with
    /// [`Durability::Full`] and applies migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, Durability::Full).await
    }

    /// Opens the database at `url` (an SQLite file, created if missing, or a
    /// PostgreSQL database) and applies that engine's migrations.
    pub async fn open_with(url: &str, durability: Durability) -> Result<Self> {
        sqlx::any::install_default_drivers();
        match Engine::of_url(url) {
            Some(Engine::Postgres) => Self::open_postgres(url).await,
            _ => Self::open_sqlite(url, durability).await,
        }
    }

    async fn open_sqlite(url: &str, durability: Durability) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(durability.synchronous())
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Migrations run on a connection of their own with foreign keys off:
        // SQLite's procedure for rebuilding a table (the only way to change a
        // CHECK constraint) needs them off, and sqlx runs each migration in a
        // transaction, inside which they cannot be switched. This connection
        // also creates the file and puts it in WAL mode, which persists.
        {
            use sqlx::{ConnectOptions, Connection};
            let mut migrating = options.clone().foreign_keys(false).connect().await?;
            sqlx::migrate!("./migrations").run(&mut migrating).await?;
            migrating.close().await?;
        }
        // The pools read the file's name and mode from their URL; the
        // per-connection settings are set after connecting.
        let any_url = |mode: &str| sqlite_any_options(&options, mode);
        let pragmas: &'static str = match durability {
            Durability::Full => "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
            Durability::Normal => "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
        };
        let pool = |size: u32| {
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(60))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(pragmas).await?;
                        Ok(())
                    })
                })
        };
        let writer = pool(1).min_connections(1).connect_with(any_url("rw")?).await?;
        let reader = pool(readers()).connect_with(any_url("ro")?).await?;
        let checkpointer = pool(1).connect_with(any_url("rw")?).await?;
        let (checkpointing, dropped) = oneshot::channel();
        tokio::spawn(checkpoint_in_background(checkpointer.clone(), dropped));
        Ok(Self {
            engine: Engine::Sqlite,
            writer,
            reader,
            checkpointer: Some(checkpointer),
            _checkpointing: Arc::new(checkpointing),
            health: Arc::default(),
        })
    }

    async fn open_postgres(url: &str) -> Result<Self> {
        {
            use sqlx::{ConnectOptions, Connection};
            let mut migrating = sqlx::postgres::PgConnectOptions::from_str(url)?.connect().await?;
            sqlx::migrate!("./migrations/postgres").run(&mut migrating).await?;
            migrating.close().await?;
        }
        let options = AnyConnectOptions::from_str(url)?;
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await?;
        let reader = AnyPoolOptions::new()
            .max_connections(readers())
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let (checkpointing, _) = oneshot::channel();
        Ok(Self {
            engine: Engine::Postgres,
            writer,
            reader,
            checkpointer: None,
            _checkpointing: Arc::new(checkpointing),
            health: Arc::default(),
        })
    }

    /// The engine this store runs on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Starts the one write transaction of an action, on a writer connection
    /// that is outside any transaction (see [`Self::write`]).
    pub async fn begin(&self) -> Result<Tx> {
        let conn = self.write().await?;
        // `Transaction::begin` is sqlx's own constructor behind `Pool::begin`;
        // taking the connection ourselves lets us check it first.
        Ok(sqlx::Transaction::begin(conn, None).await?)
    }

    /// A connection for queries that change nothing.
    pub async fn read(&self) -> Result<Reader> {
        Ok(self.reader.acquire().await?)
    }

    /// The writer connection, outside any transaction (dispatcher bookkeeping,
    /// group commit). A connection a failed write left inside a transaction —
    /// by sqlx's count or by the database's — is closed (the database rolls
    /// back what it held) and a fresh one opened in its place, so no later
    /// write can land inside a transaction that never commits.
    pub async fn write(&self) -> Result<Writer> {
        if let Some(conn) = keep_if_settled(self.writer.acquire().await?).await? {
            return Ok(conn);
        }
        tracing::warn!("a failed write left the writer connection inside a transaction; replaced the connection");
        keep_if_settled(self.writer.acquire().await?)
            .await?
            .ok_or(StoreError::Unsettled)
    }

    /// Gives the writer connection back after a write, replacing it when the
    /// write left it inside a transaction; `Err` when a COMMIT that reported
    /// success did not end the transaction.
    pub async fn settle(&self, conn: Writer) -> Result<()> {
        keep_if_settled(conn).await?.map(drop).ok_or(StoreError::Unsettled)
    }

    /// Records a failed write: true when it is a storage fault (logged here,
    /// once per change of state); false for any other error, which the caller logs.
    pub fn note_fault(&self, e: &StoreError) -> bool {
        self.health.fault(e)
    }

    /// Records a write that committed (logs once when a fault has cleared).
    pub fn note_written(&self) {
        self.health.written();
    }

    /// `Ok` while writes commit, else the storage fault that stops them.
    pub fn writable(&self) -> std::result::Result<(), WriteFault> {
        self.health.state()
    }

    /// "ok" when the database is sound: SQLite's `PRAGMA integrity_check`;
    /// on PostgreSQL, whose server checks its own pages, a query that reads
    /// the catalogue.
    pub async fn integrity_check(&self) -> Result<String> {
        let sql = match self.engine {
            Engine::Sqlite => "PRAGMA integrity_check",
            Engine::Postgres => "SELECT CASE WHEN COUNT(*) > 0 THEN 'ok' ELSE 'no tables' END FROM pg_tables WHERE tablename = 'incidents'",
        };
        let (r,): (String,) = sqlx::query_as(sql).fetch_one(&self.reader).await?;
        Ok(r)
    }

    /// Copies the whole write-ahead log into the database file and empties it
    /// (`wal_checkpoint(TRUNCATE)`), so a stopped desk leaves one file behind.
    /// Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Some(pool) = &self.checkpointer {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
        }
        Ok(())
    }

    /// Closes the pools, waiting for open connections.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        if let Some(pool) = &self.checkpointer {
            pool.close().await;
        }
    }
}

/// `Any` connect options for the SQLite file of `options`, opened in `mode`
/// (`rw`, or `ro` for readers; neither creates the file). `Any` reads only a
/// URL, so the file's absolute path is percent-encoded into one (a relative
/// path would read as the URL's host).
fn sqlite_any_options(options: &SqliteConnectOptions, mode: &str) -> Result<AnyConnectOptions> {
    let file = std::path::absolute(options.get_filename()).map_err(sqlx::Error::Io)?;
    let name = file.to_string_lossy();
    let encoded = name.replace('%', "%25").replace('?', "%3F").replace('#', "%23");
    Ok(AnyConnectOptions::from_str(&format!("sqlite://{encoded}?mode={mode}"))?)
}

/// The connection back when it is outside any transaction; otherwise it is
/// closed (the database rolls back what it held) and the pool opens a fresh one.
async fn keep_if_settled(mut conn: Writer) -> Result<Option<Writer>> {
    if health::is_settled(&mut conn).await? {
        return Ok(Some(conn));
    }
    tracing::debug!("closing a writer connection left inside a transaction");
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the unsettled writer connection failed");
    }
    Ok(None)
}

/// Copies committed WAL frames into the database file off the commit path,
/// until the store is closed or dropped. A checkpoint that cannot finish (a
/// reader still on an old snapshot) simply copies less and is retried next time.
async fn checkpoint_in_background(pool: AnyPool, mut dropped: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Logged when checkpoints start failing and when they work again, not every tick.
    let mut failing = false;
    loop {
        tokio::select! {
            _ = &mut dropped => return,
            _ = tick.tick() => {}
        }
        if pool.is_closed() {
            return;
        }
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                if !failing {
                    tracing::warn!(error = %e, "background WAL checkpoints are failing; SQLite's own checkpoint still runs");
                }
                failing = true;
            }
            Ok(_) => {
                if failing {
                    tracing::info!("background WAL checkpoints work again");
                }
                failing = false;
            }
        }
    }
}

/// A transaction on a connection outside one (the writer's batch), or a
/// savepoint inside one: roll it back to undo part of an action.
pub async fn savepoint(conn: &mut Conn) -> Result<Transaction<'_, sqlx::Any>> {
    Ok(sqlx::Connection::begin(conn).await?)
}

/// Commits a transaction or releases a savepoint.
pub async fn commit(tx: Transaction<'_, sqlx::Any>) -> Result<()> {
    Ok(tx.commit().await?)
}

/// Rolls back a transaction or a savepoint.
pub async fn rollback(tx: Transaction<'_, sqlx::Any>) -> Result<()> {
    Ok(tx.rollback().await?)
}

/// A database URL fit to print: any password in it replaced by `***`
/// (`postgres://u:secret@host/db` → `postgres://u:***@host/db`). Every place
/// that logs a database URL or puts one in an error goes through it.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = url.to_owned();
    if let Some(at) = authority.rfind('@') {
        if let Some(colon) = authority[..at].find(':') {
            let start = scheme_end + 3 + colon + 1;
            let end = scheme_end + 3 + at;
            out.replace_range(start..end, "***");
        }
    }
    // A password given as a query parameter (`?password=…`).
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass") => {
                    format!("{k}=***")
                }
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// Milliseconds since the epoch, the storage form of every time.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_ms`]; out-of-range values are corrupt rows.
pub fn from_ms(table: &'static str, ms: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt {
            table,
            detail: format!("time {ms} out of range"),
        })
}

#[cfg(test)]
pub(crate) mod testing {
    //! Raw SQL for tests outside the store (fault-injecting triggers, checks
    //! of what the file holds), so sqlx stays in this module.

    use sqlx::{ConnectOptions, Connection};

    use super::Store;

    /// Runs one statement on the store's writer.
    pub async fn exec(store: &Store, sql: &str) {
        let mut conn = store.write().await.expect("writer");
        sqlx::query(sql).execute(&mut *conn).await.expect(sql);
    }

    /// One integer (`SELECT COUNT(*) …`).
    pub async fn scalar(store: &Store, sql: &str) -> i64 {
        let mut conn = store.read().await.expect("reader");
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *conn).await.expect(sql);
        n
    }

    /// One text (`SELECT state FROM … WHERE id = 1`).
    pub async fn text(store: &Store, sql: &str) -> String {
        let mut conn = store.read().await.expect("reader");
        let (t,): (String,) = sqlx::query_as(sql).fetch_one(&mut *conn).await.expect(sql);
        t
    }

    /// The first column of every row, as text.
    pub async fn texts(store: &Store, sql: &str) -> Vec<String> {
        let mut conn = store.read().await.expect("reader");
        let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&mut *conn).await.expect(sql);
        rows.into_iter().map(|(t,)| t).collect()
    }

    /// The first two columns of every row, as text.
    pub async fn pairs(store: &Store, sql: &str) -> Vec<(String, String)> {
        let mut conn = store.read().await.expect("reader");
        sqlx::query_as(sql).fetch_all(&mut *conn).await.expect(sql)
    }

    /// True when a connection of its own can take the file's write lock at
    /// once (no transaction is left open on the store's writer).
    pub async fn another_connection_can_write(path: &std::path::Path) -> bool {
        let mut other = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(std::time::Duration::from_millis(200))
            .connect()
            .await
            .expect("a second connection");
        let ok = sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.is_ok();
        if ok {
            sqlx::query("ROLLBACK").execute(&mut other).await.expect("ROLLBACK");
        }
        other.close().await.expect("close");
        ok
    }

    /// Logs `n` plain incidents (P3, service desk, reporter 1) at `now`.
    pub async fn incidents(
        conn: &mut super::Conn,
        n: usize,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<crate::domain::incident::IncidentId> {
        use crate::domain::priority::{Impact, Priority, Urgency};
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let new = crate::domain::incident::NewIncident {
                title: format!("incident {i}"),
                impact: Impact::Medium,
                urgency: Urgency::Medium,
                priority: Priority::from_level(3).expect("P3"),
                service: None,
                category: None,
                reporter: crate::domain::UserId::new(1),
                handler_role: crate::domain::RoleKey::parse("service_desk").expect("a role key"),
                source_link: None,
                source_message: None,
            };
            ids.push(super::incidents::insert(conn, &new, now).await.expect("insert").id);
        }
        ids
    }

    /// The variable that puts [`temp_store`]'s stores on PostgreSQL: under
    /// `postgres` each is a fresh schema on the server of
    /// `OPSDESK_TEST_POSTGRES_URL` (the run of
    /// `postgres_tests::the_desk_tests_pass_on_postgres_too`).
    pub const ENGINE_VARIABLE: &str = "OPSDESK_TEST_ENGINE";

    /// A fresh store on a temporary file; keep the dir alive as long as the
    /// store. Under [`ENGINE_VARIABLE`]`=postgres`, a fresh schema instead
    /// (left on the run's throwaway server, which goes with the run).
    pub async fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        if std::env::var(ENGINE_VARIABLE).as_deref() == Ok("postgres") {
            // A cluster per store would be leaked with it: the run names one server.
            assert!(
                std::env::var_os(super::testing_postgres::URL_VARIABLE).is_some(),
                "{ENGINE_VARIABLE}=postgres needs {}",
                super::testing_postgres::URL_VARIABLE
            );
            let pg = super::testing_postgres::TestPostgres::start("temp_store")
                .await
                .expect("a PostgreSQL for the PostgreSQL run");
            let store = Store::open(pg.url()).await.expect("open store");
            // A test that restarts its desk opens it again by `url_in(dir)`.
            std::fs::write(dir.path().join(POSTGRES_URL_FILE), pg.url()).expect("note the schema's URL");
            // The schema outlives this call; the run's server is removed after it.
            std::mem::forget(pg);
            return (store, dir);
        }
        let store = Store::open(&url_in(&dir)).await.expect("open store");
        (store, dir)
    }

    /// Where [`temp_store`] notes a PostgreSQL store's URL in its dir.
    const POSTGRES_URL_FILE: &str = "postgres.url";

    /// The URL of the store [`temp_store`] made with `dir`, to open it again
    /// (a restart): its SQLite file, or its PostgreSQL schema.
    pub fn url_in(dir: &tempfile::TempDir) -> String {
        std::fs::read_to_string(dir.path().join(POSTGRES_URL_FILE))
            .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("test.db").display()))
    }

    /// SQL reading the text field `field` of the JSON in `column`, in the store's dialect.
    pub fn json_text(store: &Store, column: &str, field: &str) -> String {
        match store.engine() {
            super::Engine::Sqlite => format!("json_extract({column}, '$.{field}')"),
            super::Engine::Postgres => format!("(CAST({column} AS JSON) ->> '{field}')"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, Durability, Store};

    #[test]
    fn passwords_in_database_urls_are_redacted() {
        let cases = [
            (
                "postgres://u:secret@db.example:5432/desk",
                "postgres://u:***@db.example:5432/desk",
            ),
            (
                "postgresql://desk:s3cr%40t@10.0.0.5/desk?sslmode=require",
                "postgresql://desk:***@10.0.0.5/desk?sslmode=require",
            ),
            ("postgres://u@db/desk", "postgres://u@db/desk"),
            ("sqlite://opsdesk.db", "sqlite://opsdesk.db"),
            (
                "sqlite:///data/opsdesk.db?mode=rwc",
                "sqlite:///data/opsdesk.db?mode=rwc",
            ),
            (
                "postgres://db/desk?user=u&password=secret",
                "postgres://db/desk?user=u&password=***",
            ),
            ("postgres://u:p@ss@db/desk", "postgres://u:***@db/desk"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[tokio::test]
    async fn rebuilding_incidents_for_the_cancelled_state_keeps_every_row_and_reference() {
        use sqlx::{ConnectOptions, Connection};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        // A desk as it was before migration 10, with an incident, a note and its clocks.
        let mut before = sqlx::migrate!("./migrations");
        before.migrations =
            std::borrow::Cow::Owned(before.migrations.iter().filter(|m| m.version < 10).cloned().collect());
        let mut conn = std::str::FromStr::from_str(&url)
            .map(|o: sqlx::sqlite::SqliteConnectOptions| o.create_if_missing(true))
            .unwrap()
            .connect()
            .await
            .unwrap();
        before.run(&mut conn).await.unwrap();
        for sql in [
            "INSERT INTO incidents (title, impact, urgency, priority, state, reporter, handler_role, created_at, updated_at)
             VALUES ('old one', 'low', 'low', 5, 'on_hold', 1, 'service_desk', 0, 0)",
            "INSERT INTO incident_notes (incident_id, author, body, created_at) VALUES (1, 1, 'a note', 0)",
            "INSERT INTO incident_clocks (incident_id, kind, target_secs, started_at, accumulated_secs)
             VALUES (1, 'response', 60, 0, 0)",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();

        let store = Store::open(&url).await.unwrap();
        let mut w = store.write().await.unwrap();
        let (notes, clocks, broken): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM incident_notes), (SELECT COUNT(*) FROM incident_clocks),
                    (SELECT COUNT(*) FROM pragma_foreign_key_check)",
        )
        .fetch_one(&mut *w)
        .await
        .unwrap();
        assert_eq!((notes, clocks, broken), (1, 1, 0));
        let (state, hold): (String, Option<String>) =
            sqlx::query_as("SELECT state, hold_reason FROM incidents WHERE id = 1")
                .fetch_one(&mut *w)
                .await
                .unwrap();
        assert_eq!((state.as_str(), hold), ("on_hold", None));
        // The new state is accepted, foreign keys are on again, and they hold.
        sqlx::query("UPDATE incidents SET state = 'cancelled' WHERE id = 1")
            .execute(&mut *w)
            .await
            .unwrap();
        assert!(sqlx::query(
            "INSERT INTO incident_notes (incident_id, author, body, created_at) VALUES (9, 1, 'x', 0)"
        )
        .execute(&mut *w)
        .await
        .is_err());
    }

    /// Waits (up to 10 s) for something the store does in the background.
    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("timed out waiting until {what}");
    }

    async fn synchronous_of(store: &Store) -> i64 {
        let mut conn = store.write().await.unwrap();
        let (level,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        level
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_waiting_for_a_thousand() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wal.db");
        let store = Store::open(&format!("sqlite://{}", file.display())).await.unwrap();
        let before = std::fs::metadata(&file).unwrap().len();
        // About 50 pages: far below SQLite's automatic checkpoint (1,000).
        let mut conn = store.write().await.unwrap();
        sqlx::query("CREATE TABLE filler (body TEXT)")
            .execute(&mut *conn)
            .await
            .unwrap();
        for _ in 0..50 {
            sqlx::query("INSERT INTO filler VALUES (hex(randomblob(2000)))")
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        drop(conn);
        until(
            "the background checkpoint copies the WAL into the database file",
            || std::fs::metadata(&file).unwrap().len() > before + 100 * 1024,
        )
        .await;
        store.close().await;
    }

    /// How many of this process's open files are `path` (Linux: /proc/self/fd).
    #[cfg(target_os = "linux")]
    fn open_handles(path: &std::path::Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target == path)
            .count()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dropping_every_handle_of_a_store_closes_all_its_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drop.db");
        let store = Store::open(&format!("sqlite://{}", path.display())).await.unwrap();
        let file = path.canonicalize().unwrap();
        assert!(open_handles(&file) >= 3, "writer, reader and checkpointer are open");
        let copy = store.clone();
        drop(store);
        drop(copy);
        // The background checkpointer's connection must close with the rest.
        until("every connection of the dropped store closes", || {
            open_handles(&file) == 0
        })
        .await;
    }

    #[tokio::test]
    async fn the_writer_fsyncs_every_commit_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
        let full = Store::open(&url("full.db")).await.unwrap();
        let normal = Store::open_with(&url("normal.db"), Durability::Normal).await.unwrap();
        // SQLite's levels: 1 = NORMAL, 2 = FULL.
        assert_eq!(synchronous_of(&full).await, 2);
        assert_eq!(synchronous_of(&normal).await, 1);
        assert_eq!(Durability::default(), Durability::Full);
        full.close().await;
        normal.close().await;
    }
}
