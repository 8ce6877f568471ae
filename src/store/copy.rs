//! `opsdesk copy` (issue 21): a SQLite desk's whole history into an empty
//! PostgreSQL database, checked by row counts.
//!
//! The target is first brought to the schema of `migrations/postgres` (sqlx's
//! own migration transactions, which stay applied); then everything else
//! happens in ONE PostgreSQL transaction, so a failure or a refusal leaves it
//! holding no row it did not hold before:
//!
//! 1. Every desk table of the target is locked against other writers and
//!    must be empty, or the copy is refused ([`CopyError::NotEmpty`]).
//! 2. The SQLite tables are read in one read transaction (one snapshot, also
//!    while a desk writes the file) in an order where every table comes after
//!    the tables its foreign keys name (PostgreSQL's keys are not deferrable),
//!    each row in `rowid` order, columns by name, every value by its SQLite
//!    storage class, bound as the type of its PostgreSQL column (NULL typed too),
//!    500 rows to a statement.
//! 3. FTS5 tables (`incident_search`, `problem_search`) are the plain tables of
//!    the same name on PostgreSQL, `rowid` a column there. Their PostgreSQL
//!    triggers already filled them while incidents, notes and problems were
//!    copied, so they are emptied and filled with the SQLite rows as they are.
//!    FTS5's shadow tables, `sqlite_sequence` and `_sqlx_migrations` are not
//!    copied. The triggers stay on: the audit ones guard UPDATE and DELETE only.
//! 4. Every identity column's sequence is moved past the copied maximum, so
//!    the next row gets the next id.
//! 5. Rows are counted per table on both sides; any difference rolls back
//!    ([`CopyError::Mismatch`]).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Postgres, QueryBuilder, Row, TypeInfo, ValueRef};

use super::{redact_url, StoreError};

/// Rows per INSERT (fewer for wide tables: PostgreSQL takes at most 65,535
/// parameters in one statement).
const BATCH_ROWS: usize = 500;

/// The suffixes of the tables FTS5 keeps its index in.
const FTS5_SHADOWS: [&str; 5] = ["_data", "_idx", "_content", "_docsize", "_config"];

/// Why a copy did not happen; in every case the target holds no copied row.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target already holds a desk (or part of one).
    #[error(
        "{target} is not empty: table {table} holds {}; opsdesk copy only fills an empty database \
         (nothing was written)",
        rows_text(*.rows)
    )]
    NotEmpty { target: String, table: String, rows: i64 },
    /// The source is not a desk at this version's schema.
    #[error("{source_url} is not a desk at this opsdesk's schema: {detail}")]
    Source { source_url: String, detail: String },
    /// The SQLite desk has something the PostgreSQL schema has no place for.
    #[error("the PostgreSQL schema has no place for {what} (nothing was written)")]
    NoPlace { what: String },
    /// A value whose SQLite storage class the PostgreSQL column cannot take.
    #[error(
        "{table}.{column}: a SQLite {class} value cannot go into a PostgreSQL {pg_type} column (nothing was written)"
    )]
    Value {
        table: String,
        column: String,
        class: String,
        pg_type: String,
    },
    /// The row counts differ after the copy; it was rolled back.
    #[error("row counts differ after the copy, so it was rolled back (nothing was written): {0}")]
    Mismatch(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl From<sqlx::migrate::MigrateError> for CopyError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Store(StoreError::Migrate(e))
    }
}

/// `1 row`, `3 rows`.
fn rows_text(n: i64) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

/// What was copied: rows per table, in the order copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(String, i64)>,
}

impl Copied {
    /// Rows over all tables.
    pub fn total(&self) -> i64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies the SQLite desk at `from` (a `sqlite:` URL or a file path; opened
/// read-only, never created or migrated) into the PostgreSQL database at `to`.
pub async fn copy(from: &str, to: &str) -> Result<Copied, CopyError> {
    let source_url = redact_url(from);
    let options = if from.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(from)?
    } else {
        SqliteConnectOptions::new().filename(from)
    };
    let mut source = options
        .read_only(true)
        .create_if_missing(false)
        .connect()
        .await
        .map_err(|e| CopyError::Source {
            source_url: source_url.clone(),
            detail: e.to_string(),
        })?;
    // Before reaching for the target: a file that is no desk is refused as such.
    check_source_schema(&mut source, &source_url).await?;
    let mut target = PgConnectOptions::from_str(to)?.connect().await?;
    let result = copy_desk(&mut source, &source_url, &mut target, &redact_url(to)).await;
    target.close().await.ok();
    source.close().await.ok();
    result
}

/// One SQLite table to copy and how.
#[derive(Debug)]
struct Table {
    name: String,
    /// An FTS5 table: `rowid` is read too, and the target is emptied first.
    fts: bool,
    columns: Vec<String>,
}

/// The column types PostgreSQL has, as the copy binds them.
#[derive(Debug, Clone, Copy)]
enum PgType {
    BigInt,
    Double,
    Text,
    Bytes,
    Boolean,
}

impl PgType {
    fn parse(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "bigint" | "integer" | "smallint" => Self::BigInt,
            "double precision" | "real" => Self::Double,
            "text" | "character varying" => Self::Text,
            "bytea" => Self::Bytes,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }
}

/// One value, as the PostgreSQL column takes it.
#[derive(Debug)]
enum Cell {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Bool(Option<bool>),
}

/// The copy between two open connections (the source read in one
/// transaction, the target written in one).
pub(crate) async fn copy_desk(
    source: &mut SqliteConnection,
    source_url: &str,
    target: &mut PgConnection,
    target_url: &str,
) -> Result<Copied, CopyError> {
    let mut read = source.begin().await?;
    check_source_schema(&mut read, source_url).await?;
    let tables = source_tables(&mut read).await?;

    sqlx::migrate!("./migrations/postgres").run(&mut *target).await?;
    let mut tx = target.begin().await?;
    let target_columns = target_columns(&mut tx).await?;
    // Nothing else writes the desk tables until this commits or rolls back,
    // so empty when checked is empty when filled (readers are not blocked).
    let all = target_columns.keys().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
    sqlx::query(&format!("LOCK TABLE {all} IN EXCLUSIVE MODE"))
        .execute(&mut *tx)
        .await?;
    for table in target_columns.keys() {
        let rows = count_pg(&mut tx, table).await?;
        if rows > 0 {
            return Err(CopyError::NotEmpty {
                target: target_url.to_owned(),
                table: table.clone(),
                rows,
            });
        }
    }

    let mut copied = Vec::with_capacity(tables.len());
    for table in &tables {
        let Some(pg_columns) = target_columns.get(&table.name) else {
            return Err(CopyError::NoPlace {
                what: format!("table {}", table.name),
            });
        };
        let mut columns = Vec::with_capacity(table.columns.len() + 1);
        if table.fts {
            columns.push("rowid".to_owned());
        }
        columns.extend(table.columns.iter().cloned());
        let types = columns
            .iter()
            .map(|c| {
                pg_columns.get(c).copied().ok_or_else(|| CopyError::NoPlace {
                    what: format!("column {}.{c}", table.name),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if table.fts {
            // Filled by the triggers of the tables copied before it.
            sqlx::query(&format!("DELETE FROM {}", quote(&table.name)))
                .execute(&mut *tx)
                .await?;
        }
        let n = copy_table(&mut read, &mut tx, table, &columns, &types).await?;
        copied.push((table.name.clone(), n));
    }

    advance_identities(&mut tx).await?;

    let mut differ = Vec::new();
    for (table, n) in &copied {
        let source_rows = count_sqlite(&mut read, table).await?;
        let target_rows = count_pg(&mut tx, table).await?;
        if source_rows != *n || target_rows != *n {
            differ.push(format!(
                "{table}: {source_rows} in the source, {n} copied, {target_rows} in the target"
            ));
        }
    }
    if !differ.is_empty() {
        tx.rollback().await?;
        return Err(CopyError::Mismatch(differ.join("; ")));
    }
    tx.commit().await?;
    read.rollback().await?;
    Ok(Copied { tables: copied })
}

/// The source must hold exactly the migrations this build embeds: an older
/// desk is migrated first (`opsdesk migrate`), a newer one needs a newer opsdesk.
async fn check_source_schema(read: &mut SqliteConnection, source_url: &str) -> Result<(), CopyError> {
    let bad = |detail: String| CopyError::Source {
        source_url: source_url.to_owned(),
        detail,
    };
    let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut *read)
        .await
        .map_err(|e| bad(format!("no migration record ({e})")))?;
    let applied: BTreeSet<i64> = applied.into_iter().map(|(v,)| v).collect();
    let known: BTreeSet<i64> = sqlx::migrate!("./migrations")
        .migrations
        .iter()
        .map(|m| m.version)
        .collect();
    if let Some(missing) = known.difference(&applied).next() {
        return Err(bad(format!(
            "migration {missing} is not applied (run `opsdesk migrate --database` on it first)"
        )));
    }
    if let Some(unknown) = applied.difference(&known).next() {
        return Err(bad(format!(
            "it has migration {unknown}, which this opsdesk does not know (use a newer opsdesk)"
        )));
    }
    Ok(())
}

/// The SQLite tables to copy, each after the tables its foreign keys name,
/// the FTS5 tables last.
async fn source_tables(read: &mut SqliteConnection) -> Result<Vec<Table>, CopyError> {
    let objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, COALESCE(sql, '') FROM sqlite_master
          WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'
          ORDER BY rowid",
    )
    .fetch_all(&mut *read)
    .await?;
    let fts: Vec<String> = objects
        .iter()
        .filter(|(_, sql)| sql.starts_with("CREATE VIRTUAL TABLE"))
        .map(|(name, _)| name.clone())
        .collect();
    let shadow = |name: &str| {
        fts.iter()
            .any(|v| FTS5_SHADOWS.iter().any(|suffix| name == format!("{v}{suffix}")))
    };
    let mut plain = Vec::new();
    let mut search = Vec::new();
    for (name, _) in &objects {
        if shadow(name) {
            continue;
        }
        let columns: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_table_info($1) ORDER BY cid")
            .bind(name)
            .fetch_all(&mut *read)
            .await?;
        let table = Table {
            name: name.clone(),
            fts: fts.contains(name),
            columns: columns.into_iter().map(|(c,)| c).collect(),
        };
        if table.fts {
            search.push(table);
        } else {
            plain.push(table);
        }
    }
    // Foreign keys: table → the tables it references.
    let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for table in &plain {
        let refs: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
            .bind(&table.name)
            .fetch_all(&mut *read)
            .await?;
        needs.insert(
            table.name.clone(),
            refs.into_iter().map(|(t,)| t).filter(|t| t != &table.name).collect(),
        );
    }
    let mut ordered = Vec::with_capacity(plain.len() + search.len());
    let mut placed = BTreeSet::new();
    while !plain.is_empty() {
        let ready = plain
            .iter()
            .position(|t| {
                needs[&t.name]
                    .iter()
                    .all(|n| placed.contains(n) || !needs.contains_key(n))
            })
            .ok_or_else(|| CopyError::NoPlace {
                what: format!(
                    "a cycle of foreign keys among {}",
                    plain.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })?;
        let table = plain.remove(ready);
        placed.insert(table.name.clone());
        ordered.push(table);
    }
    ordered.extend(search);
    Ok(ordered)
}

/// The base tables of the target's schema (the first on its search path),
/// with their columns' types.
async fn target_columns(tx: &mut PgConnection) -> Result<BTreeMap<String, BTreeMap<String, PgType>>, CopyError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text
           FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
          WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
            AND c.table_name <> '_sqlx_migrations' AND c.is_generated = 'NEVER'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut tables: BTreeMap<String, BTreeMap<String, PgType>> = BTreeMap::new();
    for (table, column, data_type) in rows {
        let columns = tables.entry(table).or_default();
        // A type the copy cannot bind is only a problem if a column of the source goes there.
        if let Some(t) = PgType::parse(&data_type) {
            columns.insert(column, t);
        }
    }
    Ok(tables)
}

/// Copies one table in batches; the number of rows copied.
async fn copy_table(
    read: &mut SqliteConnection,
    tx: &mut PgConnection,
    table: &Table,
    columns: &[String],
    types: &[PgType],
) -> Result<i64, CopyError> {
    use futures_util::TryStreamExt;

    let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let select = format!("SELECT {list} FROM {} ORDER BY rowid", quote(&table.name));
    let insert = format!("INSERT INTO {} ({list}) ", quote(&table.name));
    let batch = BATCH_ROWS.min(60_000 / columns.len().max(1)).max(1);
    let mut rows = sqlx::query(&select).fetch(&mut *read);
    let mut pending: Vec<Vec<Cell>> = Vec::with_capacity(batch);
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        pending.push(cells(&row, table, columns, types)?);
        if pending.len() == batch {
            n += insert_batch(tx, &insert, std::mem::take(&mut pending)).await?;
        }
    }
    if !pending.is_empty() {
        n += insert_batch(tx, &insert, pending).await?;
    }
    Ok(n)
}

/// A source row's values, each by its storage class as its target column takes it.
fn cells(row: &SqliteRow, table: &Table, columns: &[String], types: &[PgType]) -> Result<Vec<Cell>, CopyError> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, (column, pg)) in columns.iter().zip(types).enumerate() {
        let raw = row.try_get_raw(i)?;
        let class = if raw.is_null() {
            "NULL".to_owned()
        } else {
            raw.type_info().name().to_owned()
        };
        let cell = match (class.as_str(), pg) {
            ("NULL", PgType::BigInt) => Cell::Int(None),
            ("NULL", PgType::Double) => Cell::Real(None),
            ("NULL", PgType::Text) => Cell::Text(None),
            ("NULL", PgType::Bytes) => Cell::Bytes(None),
            ("NULL", PgType::Boolean) => Cell::Bool(None),
            ("INTEGER", PgType::BigInt) => Cell::Int(Some(row.try_get_unchecked(i)?)),
            ("INTEGER", PgType::Double) => Cell::Real(Some(row.try_get_unchecked::<i64, _>(i)? as f64)),
            ("INTEGER", PgType::Boolean) => Cell::Bool(Some(row.try_get_unchecked::<i64, _>(i)? != 0)),
            ("REAL", PgType::Double) => Cell::Real(Some(row.try_get_unchecked(i)?)),
            ("TEXT", PgType::Text) => Cell::Text(Some(row.try_get_unchecked(i)?)),
            ("BLOB", PgType::Bytes) => Cell::Bytes(Some(row.try_get_unchecked(i)?)),
            _ => {
                return Err(CopyError::Value {
                    table: table.name.clone(),
                    column: column.clone(),
                    class,
                    pg_type: format!("{pg:?}"),
                })
            }
        };
        out.push(cell);
    }
    Ok(out)
}

async fn insert_batch(tx: &mut PgConnection, insert: &str, rows: Vec<Vec<Cell>>) -> Result<i64, CopyError> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(insert);
    qb.push_values(rows, |mut b, row| {
        for cell in row {
            match cell {
                Cell::Int(v) => b.push_bind(v),
                Cell::Real(v) => b.push_bind(v),
                Cell::Text(v) => b.push_bind(v),
                Cell::Bytes(v) => b.push_bind(v),
                Cell::Bool(v) => b.push_bind(v),
            };
        }
    });
    let done = qb.build().execute(&mut *tx).await?;
    Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
}

/// Sets every identity column's sequence past the largest value copied.
async fn advance_identities(tx: &mut PgConnection) -> Result<(), CopyError> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
          WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY 1, 2",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table, column) in identities {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({c}), 0) + 1, false) FROM {t}",
            c = quote(&column),
            t = quote(&table)
        ))
        .bind(quote(&table))
        .bind(&column)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn count_sqlite(read: &mut SqliteConnection, table: &str) -> Result<i64, CopyError> {
    let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {}", quote(table)))
        .fetch_one(&mut *read)
        .await?;
    Ok(n)
}

async fn count_pg(tx: &mut PgConnection, table: &str) -> Result<i64, CopyError> {
    let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {}", quote(table)))
        .fetch_one(&mut *tx)
        .await?;
    Ok(n)
}

/// A table or column name as an SQL identifier (both engines read `"…"`).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    //! A desk worked through real commands on SQLite, copied into a real
    //! PostgreSQL ([`super::super::testing_postgres`]).

    use chrono::{TimeZone, Utc};
    use sqlx::{Connection, Row};

    use super::{copy_desk, CopyError};
    use crate::config::Policy;
    use crate::desk::{Actor, Clock, Desk, Event, Inbound, Outcome};
    use crate::domain::RoleKey;
    use crate::store::testing::{self, temp_store};
    use crate::store::testing_postgres::TestPostgres;

    fn actor(name: &str, roles: &[&str]) -> Actor {
        Actor {
            user: crate::console::console_user_id(name),
            name: name.into(),
            roles: roles.iter().map(|r| RoleKey::parse(r).unwrap()).collect(),
        }
    }

    /// Sends a chat line; the tables checked afterwards show it took effect.
    async fn say(desk: &Desk, key: &str, who: &Actor, text: &str) {
        let inbound = Inbound {
            key: format!("copy-test:{key}"),
            actor: who.clone(),
            channel: Some("general".into()),
            event: Event::Line(text.into()),
        };
        let outcome = desk.handle(inbound).await;
        assert!(matches!(outcome, Outcome::Reply(_)), "{text}: {outcome:?}");
    }

    /// A desk with history: incidents (one titled in several scripts),
    /// notes, a resolution, an outage with subscribers, a change, a problem,
    /// a report whose chart waits in the outbox, and their audit rows.
    async fn worked_desk() -> (Desk, tempfile::TempDir) {
        let (store, dir) = temp_store().await;
        let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
        let desk = Desk::new(store, Policy::defaults(), clock);
        let sam = actor("sam", &["service_desk", "systems_support", "problem_manager"]);
        let alice = actor("alice", &[]);
        let carl = actor("carl", &["change_manager"]);
        let slm = actor("sly", &["service_level_manager"]);
        let lines: [(&Actor, &str); 14] = [
            (&alice, "!subscribe email"),
            (
                &alice,
                "!incident Ünïcode mail — 郵便 is down 📮 impact=high urgency=high",
            ),
            (&sam, "!incident Printer jams impact=low urgency=low"),
            (&sam, "!incident VPN drops impact=medium urgency=medium"),
            (&sam, "!note INC-1 checked the relay"),
            (&sam, "!note INC-1 restarted the queue"),
            (&sam, "!ack INC-1"),
            (&sam, "!resolve INC-2 cleared the paper"),
            (&sam, "!outage email Mail is down impact=major"),
            (&sam, "!outage update OUT-1 Queue draining"),
            (&carl, "!change Patch the mail relay service=email risk=low type=normal"),
            (&sam, "!problem Mail queue stalls service=email from=INC-1"),
            (&slm, "!report 30d"),
            (&sam, "!outage resolve OUT-1 Fixed"),
        ];
        for (i, (who, text)) in lines.iter().enumerate() {
            say(&desk, &i.to_string(), who, text).await;
        }
        (desk, dir)
    }

    /// Every table of the SQLite desk and its rows (FTS5 shadows excluded).
    async fn sqlite_counts(desk: &Desk) -> Vec<(String, i64)> {
        let names = testing::texts(
            desk.store(),
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
               AND name <> '_sqlx_migrations'
               AND name NOT GLOB '*_search_*' ORDER BY name",
        )
        .await;
        let mut out = Vec::new();
        for name in names {
            let n = testing::scalar(desk.store(), &format!("SELECT COUNT(*) FROM \"{name}\"")).await;
            out.push((name, n));
        }
        out
    }

    async fn pg_count(conn: &mut sqlx::PgConnection, table: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        n
    }

    async fn source_conn(dir: &tempfile::TempDir) -> sqlx::SqliteConnection {
        use sqlx::ConnectOptions;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("test.db"))
            .read_only(true)
            .connect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_worked_desk_arrives_on_postgres_with_every_row_value_and_sequence() {
        let Some(pg) = TestPostgres::start("a_worked_desk_arrives_on_postgres_with_every_row_value_and_sequence").await
        else {
            return;
        };
        let (desk, dir) = worked_desk().await;
        let want = sqlite_counts(&desk).await;
        for table in [
            "incidents",
            "incident_notes",
            "incident_search",
            "outages",
            "changes",
            "problems",
            "problem_search",
            "outage_subscriptions",
            "audit",
            "outbox",
        ] {
            let n = want.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
            assert!(n.is_some_and(|n| n > 0), "the worked desk has {table} rows: {want:?}");
        }
        let attachments =
            testing::scalar(desk.store(), "SELECT COUNT(*) FROM outbox WHERE attachment IS NOT NULL").await;
        assert!(attachments > 0, "the report's chart waits in the outbox");

        let mut source = source_conn(&dir).await;
        let mut target = pg.connect().await;
        let copied = copy_desk(&mut source, "sqlite://test.db", &mut target, "postgres://test")
            .await
            .unwrap();
        let mut got_copied = copied.tables.clone();
        got_copied.sort();
        assert_eq!(got_copied, want, "the report names every table with its rows");
        assert_eq!(copied.total(), want.iter().map(|(_, n)| n).sum::<i64>());
        for (table, n) in &want {
            assert_eq!(pg_count(&mut target, table).await, *n, "{table} on PostgreSQL");
        }

        // Values survive exactly: unicode, times, NULLs, the search rows, a BLOB.
        let sqlite_incidents = testing::pairs(
            desk.store(),
            "SELECT title || '|' || created_at || '|' || COALESCE(resolution, '<null>') || '|' ||
                    COALESCE(CAST(assignee AS TEXT), '<null>'), CAST(id AS TEXT)
               FROM incidents ORDER BY id",
        )
        .await;
        let pg_incidents: Vec<(String, String)> = sqlx::query_as(
            "SELECT title || '|' || created_at || '|' || COALESCE(resolution, '<null>') || '|' ||
                    COALESCE(CAST(assignee AS TEXT), '<null>'), CAST(id AS TEXT)
               FROM incidents ORDER BY id",
        )
        .fetch_all(&mut target)
        .await
        .unwrap();
        assert_eq!(pg_incidents, sqlite_incidents);
        assert!(
            pg_incidents[0].0.starts_with("Ünïcode mail — 郵便 is down 📮|"),
            "{pg_incidents:?}"
        );
        let search = "SELECT CAST(rowid AS TEXT), title || '/' || notes || '/' || resolution FROM incident_search ORDER BY rowid";
        let pg_search: Vec<(String, String)> = sqlx::query_as(search).fetch_all(&mut target).await.unwrap();
        assert_eq!(pg_search, testing::pairs(desk.store(), search).await);
        assert!(
            pg_search[0].1.contains("checked the relay\nrestarted the queue"),
            "{pg_search:?}"
        );

        let sqlite_blob: Vec<u8> = {
            let mut conn = desk.store().read().await.unwrap();
            sqlx::query("SELECT attachment FROM outbox WHERE attachment IS NOT NULL ORDER BY id LIMIT 1")
                .fetch_one(&mut *conn)
                .await
                .unwrap()
                .get(0)
        };
        let pg_blob: Vec<u8> =
            sqlx::query("SELECT attachment FROM outbox WHERE attachment IS NOT NULL ORDER BY id LIMIT 1")
                .fetch_one(&mut target)
                .await
                .unwrap()
                .get(0);
        assert!(sqlite_blob.starts_with(b"\x89PNG"), "a PNG chart");
        assert_eq!(pg_blob, sqlite_blob);

        // The identity sequences continue after the copied rows.
        let max = pg_incidents.len() as i64;
        let (next,): (i64,) = sqlx::query_as(
            "INSERT INTO incidents (title, impact, urgency, priority, state, reporter, handler_role, created_at, updated_at)
             VALUES ('after the copy', 'low', 'low', 5, 'new', 1, 'service_desk', 0, 0) RETURNING id",
        )
        .fetch_one(&mut target)
        .await
        .unwrap();
        assert_eq!(next, max + 1);
        let audit_max = want.iter().find(|(t, _)| t == "audit").unwrap().1;
        let (next_audit,): (i64,) = sqlx::query_as(
            "INSERT INTO audit (at, actor, action, subject, details, phrased) VALUES (0, 1, 'x', 'INC-1', 'y', 1) RETURNING id",
        )
        .fetch_one(&mut target)
        .await
        .unwrap();
        assert_eq!(next_audit, audit_max + 1);

        // The copied audit log is still append-only.
        let refused = sqlx::query("UPDATE audit SET details = 'nothing happened' WHERE id = 1")
            .execute(&mut target)
            .await
            .expect_err("PostgreSQL refuses to rewrite a copied audit row");
        assert!(refused.to_string().contains("audit rows are append-only"), "{refused}");

        target.close().await.unwrap();
        source.close().await.unwrap();
        desk.store().close().await;
        pg.finish().await;
    }

    #[tokio::test]
    async fn a_target_that_holds_a_row_is_refused_and_left_as_it_was() {
        let Some(pg) = TestPostgres::start("a_target_that_holds_a_row_is_refused_and_left_as_it_was").await else {
            return;
        };
        let (desk, dir) = worked_desk().await;
        let mut target = pg.connect().await;
        sqlx::migrate!("./migrations/postgres").run(&mut target).await.unwrap();
        sqlx::query("INSERT INTO users (id, display_name, updated_at) VALUES (7, 'zoe', 0)")
            .execute(&mut target)
            .await
            .unwrap();
        // Through the entry point `opsdesk copy` calls: a file path and a URL.
        let file = dir.path().join("test.db");
        let refused = super::copy(file.to_str().unwrap(), pg.url())
            .await
            .expect_err("a non-empty target is refused");
        match &refused {
            CopyError::NotEmpty { table, rows, .. } => assert_eq!((table.as_str(), *rows), ("users", 1)),
            other => panic!("{other}"),
        }
        assert!(refused.to_string().contains("table users holds 1 row;"), "{refused}");
        for (table, _) in sqlite_counts(&desk).await {
            let want = i64::from(table == "users");
            assert_eq!(pg_count(&mut target, &table).await, want, "{table} is left as it was");
        }
        let (name,): (String,) = sqlx::query_as("SELECT display_name FROM users")
            .fetch_one(&mut target)
            .await
            .unwrap();
        assert_eq!(name, "zoe");
        target.close().await.unwrap();
        desk.store().close().await;
        pg.finish().await;
    }

    #[tokio::test]
    async fn a_value_postgres_cannot_take_halfway_through_rolls_the_whole_copy_back() {
        let Some(pg) =
            TestPostgres::start("a_value_postgres_cannot_take_halfway_through_rolls_the_whole_copy_back").await
        else {
            return;
        };
        let (desk, dir) = worked_desk().await;
        // SQLite keeps text in an INTEGER column; PostgreSQL's BIGINT cannot.
        testing::exec(
            desk.store(),
            "UPDATE incident_clocks SET stopped_by = 'nobody' WHERE incident_id = 3 AND kind = 'resolution'",
        )
        .await;
        let mut source = source_conn(&dir).await;
        let mut target = pg.connect().await;
        let failed = copy_desk(&mut source, "sqlite://test.db", &mut target, "postgres://test")
            .await
            .expect_err("the text cannot go into a BIGINT");
        assert!(
            matches!(&failed, CopyError::Value { table, column, class, .. }
                if (table.as_str(), column.as_str(), class.as_str()) == ("incident_clocks", "stopped_by", "TEXT")),
            "{failed}"
        );
        // Tables copied before it (incidents, audit, the outbox) hold nothing either.
        for (table, n) in sqlite_counts(&desk).await {
            assert!(table != "incidents" || n > 0);
            assert_eq!(pg_count(&mut target, &table).await, 0, "{table} after the failed copy");
        }
        target.close().await.unwrap();
        source.close().await.unwrap();
        desk.store().close().await;
        pg.finish().await;
    }
}
