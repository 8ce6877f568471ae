//! What an operator reads of the database, safe while the bot runs: the
//! status summary, the gauges `/metrics` reads at each scrape, exports of the
//! records, and a consistent backup. Everything here only reads: the
//! commands open the file through [`Snapshot`], read-only, and never create it
//! or apply migrations.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow, AnyTypeInfoKind};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Column, ConnectOptions, Executor, Row, ValueRef};

use super::{from_ms, to_ms, Conn, Engine, Result, StoreError};

/// A read-only view of a desk's database for the operator commands.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pool: AnyPool,
}

impl Snapshot {
    /// Opens the database at `url` read-only; it must exist (nothing is
    /// created, no migration applied). On PostgreSQL the session is read-only.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (options, setup): (AnyConnectOptions, &'static str) = match Engine::of_url(url) {
            Some(Engine::Postgres) => (
                AnyConnectOptions::from_str(url)?,
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            ),
            _ => (
                super::sqlite_any_options(&SqliteConnectOptions::from_str(url)?, "ro")?,
                "PRAGMA busy_timeout = 10000",
            ),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(setup).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// A connection for the read functions below.
    pub async fn conn(&self) -> Result<super::Reader> {
        Ok(self.pool.acquire().await?)
    }

    /// Closes the connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The outbox at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Undelivered and due or waiting for a retry.
    pub pending: i64,
    /// Undelivered and waiting for a change on the platform.
    pub blocked: i64,
    /// Given up on at once (permanent, unreachable).
    pub failed: i64,
    /// Given up on after `outbox.give_up_after`.
    pub dead: i64,
    /// When the oldest undelivered row was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// The commonest reasons of undelivered and failed rows: (state, reason, rows).
    pub reasons: Vec<(String, String, i64)>,
    /// The blocked rows, oldest first: (outbox id, subject, reason).
    pub blocked_rows: Vec<(i64, String, String)>,
}

/// Counts and reasons of the outbox.
pub async fn outbox_status(conn: &mut Conn) -> Result<OutboxStatus> {
    let (pending, blocked, failed, dead, oldest): (i64, i64, i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND failed_at IS NULL AND blocked_at IS NULL),
                COUNT(*) FILTER (WHERE delivered_at IS NULL AND failed_at IS NULL AND blocked_at IS NOT NULL),
                COUNT(*) FILTER (WHERE failed_at IS NOT NULL AND dead_at IS NULL),
                COUNT(*) FILTER (WHERE dead_at IS NOT NULL),
                MIN(created_at) FILTER (WHERE delivered_at IS NULL AND failed_at IS NULL)
           FROM outbox",
    )
    .fetch_one(&mut *conn)
    .await?;
    let reasons: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT CASE WHEN dead_at IS NOT NULL THEN 'dead'
                     WHEN failed_at IS NOT NULL THEN COALESCE(failure, 'permanent')
                     WHEN blocked_at IS NOT NULL THEN 'blocked'
                     ELSE 'retrying' END AS state,
                COALESCE(last_error, '-'), COUNT(*)
           FROM outbox
          WHERE delivered_at IS NULL AND (failed_at IS NOT NULL OR last_error IS NOT NULL)
          GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 8",
    )
    .fetch_all(&mut *conn)
    .await?;
    let blocked_rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, COALESCE(subject, '-'), COALESCE(last_error, '-') FROM outbox
          WHERE blocked_at IS NOT NULL AND delivered_at IS NULL AND failed_at IS NULL
          ORDER BY id LIMIT 10",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(OutboxStatus {
        pending,
        blocked,
        failed,
        dead,
        oldest_pending: oldest.map(|t| from_ms("outbox", t)).transpose()?,
        reasons,
        blocked_rows,
    })
}

/// Whether a row queued before `cutoff` is still undelivered (delivery is stuck).
pub async fn outbox_stuck_since(conn: &mut Conn, cutoff: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let (t,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(created_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND created_at <= $1",
    )
    .bind(to_ms(cutoff))
    .fetch_one(conn)
    .await?;
    t.map(|t| from_ms("outbox", t)).transpose()
}

/// The next timers due: (kind, subject, when).
pub async fn next_timers(conn: &mut Conn, limit: i64) -> Result<Vec<(String, String, DateTime<Utc>)>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, subject, due_at FROM timers WHERE fired_at IS NULL AND cancelled = 0 ORDER BY due_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(k, s, t)| Ok((k, s, from_ms("timers", t)?)))
        .collect()
}

/// Open incidents (not resolved or closed) by priority number, highest first.
pub async fn open_incidents_by_priority(conn: &mut Conn) -> Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT priority, COUNT(*) FROM incidents WHERE state NOT IN ('resolved', 'closed')
          GROUP BY priority ORDER BY priority",
    )
    .fetch_all(conn)
    .await?)
}

/// When the last inbound event was taken in, if any.
pub async fn last_inbound(conn: &mut Conn) -> Result<Option<DateTime<Utc>>> {
    let (t,): (Option<i64>,) = sqlx::query_as("SELECT MAX(received_at) FROM inbound_events")
        .fetch_one(conn)
        .await?;
    t.map(|t| from_ms("inbound_events", t)).transpose()
}

/// SLA thresholds announced so far: (warnings, breaches).
pub async fn sla_notices(conn: &mut Conn) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE threshold <> 'breach'), COUNT(*) FILTER (WHERE threshold = 'breach')
           FROM clock_thresholds",
    )
    .fetch_one(conn)
    .await?)
}

/// The database's size in bytes: on SQLite the file (pages × page size, WAL
/// not included), on PostgreSQL `pg_database_size`.
pub async fn database_bytes(conn: &mut Conn) -> Result<i64> {
    if Engine::of(conn) == Engine::Postgres {
        let (bytes,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
            .fetch_one(&mut *conn)
            .await?;
        return Ok(bytes);
    }
    let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count").fetch_one(&mut *conn).await?;
    let (size,): (i64,) = sqlx::query_as("PRAGMA page_size").fetch_one(&mut *conn).await?;
    Ok(pages * size)
}

/// The records `opsdesk export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Incidents,
    Changes,
    Outages,
    Audit,
}

impl ExportKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [ExportKind; 4] = [Self::Incidents, Self::Changes, Self::Outages, Self::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incidents => "incidents",
            Self::Changes => "changes",
            Self::Outages => "outages",
            Self::Audit => "audit",
        }
    }

    /// The statement: every column, rows changed since a time, in id order.
    fn query(self) -> &'static str {
        match self {
            Self::Incidents => "SELECT * FROM incidents WHERE updated_at >= $1 ORDER BY id",
            Self::Changes => "SELECT * FROM changes WHERE updated_at >= $1 ORDER BY id",
            Self::Outages => "SELECT * FROM outages WHERE updated_at >= $1 ORDER BY id",
            Self::Audit => "SELECT * FROM audit WHERE at >= $1 ORDER BY id",
        }
    }
}

/// One exported value, as SQLite holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Exported rows: the column names, then each row's cells in that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// The records of `kind` changed at or after `since` (all of them without it).
pub async fn export(conn: &mut Conn, kind: ExportKind, since: Option<DateTime<Utc>>) -> Result<Table> {
    let rows: Vec<AnyRow> = sqlx::query(kind.query())
        .bind(since.map_or(i64::MIN, to_ms))
        .fetch_all(conn)
        .await?;
    let mut table = Table::default();
    if let Some(first) = rows.first() {
        table.columns = first.columns().iter().map(|c| c.name().to_owned()).collect();
    }
    for row in &rows {
        let mut cells = Vec::with_capacity(table.columns.len());
        for i in 0..row.columns().len() {
            let raw = row.try_get_raw(i)?;
            let cell = if raw.is_null() {
                Cell::Null
            } else {
                match raw.type_info().kind() {
                    k if k.is_integer() => Cell::Int(row.try_get_unchecked(i)?),
                    AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => Cell::Real(row.try_get_unchecked(i)?),
                    AnyTypeInfoKind::Bool => Cell::Int(i64::from(row.try_get_unchecked::<bool, _>(i)?)),
                    _ => Cell::Text(row.try_get_unchecked(i)?),
                }
            };
            cells.push(cell);
        }
        table.rows.push(cells);
    }
    Ok(table)
}

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; give a new file name (a backup never overwrites)")]
    Exists(String),
    #[error("cannot write {path}: {cause}")]
    Write { path: String, cause: String },
    #[error("the copy at {path} failed its integrity check: {detail}")]
    Corrupt { path: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a verified backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub bytes: u64,
    pub migrations: i64,
    pub incidents: i64,
}

/// Writes a consistent copy of the database to `path` with SQLite's `VACUUM
/// INTO` (one read transaction, so the copy is a snapshot even while the bot
/// writes), then opens the copy and checks it with `PRAGMA integrity_check`.
pub async fn backup(conn: &mut Conn, path: &Path) -> std::result::Result<BackupReport, BackupError> {
    let shown = path.display().to_string();
    if path.exists() {
        return Err(BackupError::Exists(shown));
    }
    if Engine::of(conn) == Engine::Postgres {
        return Err(BackupError::Write {
            path: shown,
            cause: "the desk is on PostgreSQL; back it up with pg_dump or the server's own backups".into(),
        });
    }
    let Some(target) = path.to_str() else {
        return Err(BackupError::Write {
            path: shown,
            cause: "the path is not valid UTF-8".into(),
        });
    };
    if let Err(e) = sqlx::query("VACUUM INTO $1").bind(target).execute(&mut *conn).await {
        let cause = match &e {
            sqlx::Error::Database(d) => d.message().to_owned(),
            other => other.to_string(),
        };
        return Err(BackupError::Write { path: shown, cause });
    }
    let mut copy = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(StoreError::from)?;
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .map_err(StoreError::from)?;
    if check != "ok" {
        return Err(BackupError::Corrupt {
            path: shown,
            detail: check,
        });
    }
    let (migrations,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut copy)
        .await
        .map_err(StoreError::from)?;
    let (incidents,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM incidents")
        .fetch_one(&mut copy)
        .await
        .map_err(StoreError::from)?;
    let _ = sqlx::Connection::close(copy).await;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport {
        bytes,
        migrations,
        incidents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Destination, OutMessage, Outgoing};
    use crate::store::testing::{exec, temp_store};

    #[tokio::test]
    async fn the_outbox_status_counts_each_state_and_names_the_blocked_rows() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let mut tx = store.begin().await.unwrap();
        let items: Vec<Outgoing> = (0..4)
            .map(|i| {
                Outgoing::post(Destination::Channel("status".into()), OutMessage::text("x")).about(format!("OUT-{i}"))
            })
            .collect();
        crate::store::outbox::enqueue(&mut tx, &items, now).await.unwrap();
        tx.commit().await.unwrap();
        let mut conn = store.write().await.unwrap();
        crate::store::outbox::mark_blocked(&mut conn, 1, "HTTP 403 code 50013: Missing Permissions", now)
            .await
            .unwrap();
        crate::store::outbox::mark_dead(&mut conn, 2, "HTTP 500", now)
            .await
            .unwrap();
        crate::store::outbox::mark_failed(&mut conn, 3, crate::store::outbox::Failure::Permanent, "bad body", now)
            .await
            .unwrap();
        drop(conn);
        let mut conn = store.read().await.unwrap();
        let status = outbox_status(&mut conn).await.unwrap();
        assert_eq!(
            (status.pending, status.blocked, status.failed, status.dead),
            (1, 1, 1, 1)
        );
        assert_eq!(
            status.blocked_rows,
            [(
                1,
                "OUT-0".to_owned(),
                "HTTP 403 code 50013: Missing Permissions".to_owned()
            )]
        );
        assert!(
            status.reasons.contains(&("dead".into(), "HTTP 500".into(), 1)),
            "{:?}",
            status.reasons
        );
        assert_eq!(status.oldest_pending.map(to_ms), Some(to_ms(now)));
        assert_eq!(
            outbox_stuck_since(&mut conn, now - chrono::TimeDelta::minutes(1))
                .await
                .unwrap(),
            None
        );
        assert!(outbox_stuck_since(&mut conn, now).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_backup_is_a_verified_copy_and_never_overwrites() {
        let (store, dir) = temp_store().await;
        exec(
            &store,
            "INSERT INTO incidents (title, impact, urgency, priority, state, reporter, handler_role, created_at, updated_at)
             VALUES ('Printer', 'low', 'low', 5, 'new', 1, 'service_desk', 0, 5)",
        )
        .await;
        let path = dir.path().join("copy.db");
        let mut conn = store.read().await.unwrap();
        let report = backup(&mut conn, &path).await.unwrap();
        assert_eq!(report.incidents, 1);
        assert!(report.migrations >= 9, "{report:?}");
        assert!(matches!(backup(&mut conn, &path).await, Err(BackupError::Exists(_))));
        let nowhere = dir.path().join("no/such/dir/copy.db");
        assert!(matches!(
            backup(&mut conn, &nowhere).await,
            Err(BackupError::Write { .. })
        ));

        let table = export(&mut conn, ExportKind::Incidents, None).await.unwrap();
        assert_eq!(table.rows.len(), 1);
        let title = table.columns.iter().position(|c| c == "title").unwrap();
        assert_eq!(table.rows[0][title], Cell::Text("Printer".into()));
        let later = from_ms("t", 6).unwrap();
        assert!(export(&mut conn, ExportKind::Incidents, Some(later))
            .await
            .unwrap()
            .rows
            .is_empty());
    }
}
