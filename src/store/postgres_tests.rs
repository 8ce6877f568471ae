//! `migrations/postgres` against `migrations/` (issue 21): the same
//! migrations by number and name, and on a real PostgreSQL
//! ([`super::testing_postgres`]) the same tables and views with the same
//! columns, the same indexes and triggers, and the same append-only audit log.

use std::collections::BTreeMap;

use sqlx::migrate::Migrator;
use sqlx::Connection;

use super::testing::temp_store;
use super::testing_postgres::TestPostgres;

fn sqlite_migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

fn postgres_migrations() -> Migrator {
    sqlx::migrate!("./migrations/postgres")
}

/// Per table or view: its kind (`BASE TABLE`, `VIEW`) and its columns in
/// order, each with its type as PostgreSQL names it.
type Schema = BTreeMap<String, (String, Vec<(String, String)>)>;

#[test]
fn every_sqlite_migration_has_a_postgres_version_with_the_same_number_and_name() {
    let listed = |m: &Migrator| {
        m.migrations
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect::<Vec<_>>()
    };
    let sqlite = listed(&sqlite_migrations());
    assert_eq!(sqlite, listed(&postgres_migrations()));
    // `sqlx::migrate!` reads only the files directly in its folder, so the
    // SQLite store does not take in the PostgreSQL versions beside them.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file() && e.path().extension().is_some_and(|x| x == "sql"))
        .count();
    assert_eq!(sqlite.len(), files);
}

/// What PostgreSQL is expected to hold for SQLite's schema: INTEGER is
/// BIGINT, REAL is DOUBLE PRECISION, BLOB is BYTEA, and an FTS5 table (whose
/// columns have no type) is a plain table with its rowid as a column and a
/// generated `document` tsvector after its text columns.
async fn sqlite_schema_as_postgres() -> Schema {
    let (store, _dir) = temp_store().await;
    let mut conn = store.read().await.unwrap();
    let objects: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT name, type, COALESCE(sql, '') FROM sqlite_master
          WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'
          ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let fts: Vec<&str> = objects
        .iter()
        .filter(|(_, _, sql)| sql.starts_with("CREATE VIRTUAL TABLE"))
        .map(|(name, _, _)| name.as_str())
        .collect();
    assert!(!fts.is_empty(), "the FTS5 tables are found");
    // FTS5's own storage (`incident_search_data`, `_idx`, `_content`, …).
    let shadow = |name: &str| fts.iter().any(|v| name.starts_with(&format!("{v}_")));
    let mut schema = Schema::new();
    for (name, kind, _) in &objects {
        if shadow(name) {
            continue;
        }
        let columns: Vec<(String, String)> =
            sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                .bind(name)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        let mut columns: Vec<(String, String)> = columns
            .into_iter()
            .map(|(column, declared)| {
                let pg = match declared.as_str() {
                    "INTEGER" => "bigint",
                    "TEXT" | "" => "text",
                    "REAL" => "double precision",
                    "BLOB" => "bytea",
                    other => panic!("{name}.{column}: no PostgreSQL type expected for {other}"),
                };
                (column, pg.to_owned())
            })
            .collect();
        let kind = if fts.contains(&name.as_str()) {
            columns.insert(0, ("rowid".into(), "bigint".into()));
            columns.push(("document".into(), "tsvector".into()));
            "BASE TABLE"
        } else if kind == "view" {
            "VIEW"
        } else {
            "BASE TABLE"
        };
        schema.insert(name.clone(), (kind.to_owned(), columns));
    }
    drop(conn);
    store.close().await;
    schema
}

async fn postgres_schema(pg: &TestPostgres) -> Schema {
    let mut conn = pg.connect().await;
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, t.table_type::text, c.column_name::text, c.data_type::text
           FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
          WHERE c.table_schema = $1 AND c.table_name <> '_sqlx_migrations'
          ORDER BY c.table_name, c.ordinal_position",
    )
    .bind(pg.schema())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let mut schema = Schema::new();
    for (table, kind, column, data_type) in rows {
        schema
            .entry(table)
            .or_insert_with(|| (kind, Vec::new()))
            .1
            .push((column, data_type));
    }
    schema
}

#[tokio::test]
async fn the_postgres_migrations_build_the_tables_columns_indexes_and_triggers_the_sqlite_ones_do() {
    let Some(pg) =
        TestPostgres::start("the_postgres_migrations_build_the_tables_columns_indexes_and_triggers_the_sqlite_ones_do")
            .await
    else {
        return;
    };
    let mut conn = pg.connect().await;
    postgres_migrations().run(&mut conn).await.unwrap();
    // Applying them again finds nothing to do.
    postgres_migrations().run(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let want = sqlite_schema_as_postgres().await;
    let got = postgres_schema(&pg).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same tables and views"
    );
    for (name, want) in &want {
        assert_eq!(&got[name], want, "{name}");
    }
    assert!(want.len() >= 30, "{} tables and views", want.len());

    // The same indexes (beyond those of keys and UNIQUE constraints) and
    // triggers by name; PostgreSQL adds the GIN indexes of the search tables.
    let (mut want_indexes, want_triggers) = sqlite_indexes_and_triggers().await;
    want_indexes.extend([
        "incident_search_document".to_owned(),
        "problem_search_document".to_owned(),
    ]);
    want_indexes.sort();
    let (got_indexes, got_triggers) = postgres_indexes_and_triggers(&pg).await;
    assert_eq!(got_indexes, want_indexes);
    assert_eq!(got_triggers, want_triggers);
    assert!(
        want_indexes.len() >= 30 && want_triggers.len() >= 8,
        "{} indexes, {} triggers",
        want_indexes.len(),
        want_triggers.len()
    );
    pg.finish().await;
}

async fn sqlite_indexes_and_triggers() -> (Vec<String>, Vec<String>) {
    let (store, _dir) = temp_store().await;
    let mut conn = store.read().await.unwrap();
    let mut names = Vec::new();
    for kind in ["index", "trigger"] {
        // `sql` is NULL for the indexes SQLite makes for keys and UNIQUE.
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = $1 AND sql IS NOT NULL ORDER BY name")
                .bind(kind)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        names.push(rows.into_iter().map(|(n,)| n).collect::<Vec<_>>());
    }
    drop(conn);
    store.close().await;
    let triggers = names.pop().unwrap();
    (names.pop().unwrap(), triggers)
}

async fn postgres_indexes_and_triggers(pg: &TestPostgres) -> (Vec<String>, Vec<String>) {
    let mut conn = pg.connect().await;
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT i.relname::text FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_namespace n ON n.oid = i.relnamespace
          WHERE n.nspname = $1
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
          ORDER BY 1",
    )
    .bind(pg.schema())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let triggers: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT trigger_name::text FROM information_schema.triggers
          WHERE trigger_schema = $1 ORDER BY 1",
    )
    .bind(pg.schema())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let names = |rows: Vec<(String,)>| rows.into_iter().map(|(n,)| n).collect::<Vec<_>>();
    (names(indexes), names(triggers))
}

/// Tries to rewrite and to delete the one audit row; the errors, and how
/// many rows are left.
macro_rules! tamper_with_audit {
    ($conn:expr) => {{
        sqlx::query("INSERT INTO audit (at, actor, action, subject, details, phrased) VALUES ($1, $2, $3, $4, $5, 1)")
            .bind(1_700_000_000_000_i64)
            .bind(1_i64)
            .bind("create_incident")
            .bind("INC-1")
            .bind("logged it")
            .execute(&mut *$conn)
            .await
            .unwrap();
        let update = sqlx::query("UPDATE audit SET details = $1 WHERE subject = $2")
            .bind("nothing happened")
            .bind("INC-1")
            .execute(&mut *$conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let delete = sqlx::query("DELETE FROM audit WHERE subject = $1")
            .bind("INC-1")
            .execute(&mut *$conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit")
            .fetch_one(&mut *$conn)
            .await
            .unwrap();
        (update, delete, left)
    }};
}

#[tokio::test]
async fn audit_rows_are_append_only_on_postgres_as_on_sqlite() {
    let Some(pg) = TestPostgres::start("audit_rows_are_append_only_on_postgres_as_on_sqlite").await else {
        return;
    };
    let mut conn = pg.connect().await;
    postgres_migrations().run(&mut conn).await.unwrap();
    let on_postgres = tamper_with_audit!(&mut conn);
    conn.close().await.unwrap();
    pg.finish().await;

    let (store, _dir) = temp_store().await;
    let mut writer = store.write().await.unwrap();
    let on_sqlite = tamper_with_audit!(&mut *writer);
    drop(writer);
    store.close().await;

    for (engine, (update, delete, left)) in [("PostgreSQL", on_postgres), ("SQLite", on_sqlite)] {
        for (what, result) in [("UPDATE", update), ("DELETE", delete)] {
            let refused = result.expect_err(&format!("{engine} refuses an audit {what}"));
            assert!(
                refused.contains("audit rows are append-only"),
                "{engine} {what}: {refused}"
            );
        }
        assert_eq!(left, 1, "{engine} keeps the audit row");
    }
}

/// Desk tests that check SQLite itself (fault injection by SQLite trigger
/// syntax, `PRAGMA max_page_count`, a second connection to the file), with
/// the reason; they run on SQLite only. PostgreSQL's faults are mapped by
/// `WriteFault::from_sqlstate` (tested in `health`).
const SQLITE_ONLY: &[(&str, &str)] = &[
    (
        "desk::tests::a_failure_mid_action_leaves_no_half_written_record",
        "fault injection with an SQLite trigger",
    ),
    (
        "desk::tests::a_store_failure_in_a_batch_undoes_that_command_only",
        "fault injection with an SQLite trigger",
    ),
    (
        "desk::tests::a_statement_that_undoes_the_whole_transaction_is_refused_alone_and_later_commits_are_real",
        "an SQLite trigger raising ROLLBACK, and a second connection to the file",
    ),
    (
        "desk::tests::a_full_database_is_answered_not_saved_and_the_next_command_after_space_is_freed_commits",
        "a full disk made with PRAGMA max_page_count",
    ),
    (
        "desk::sla_tests::a_clock_whose_timer_cannot_be_stored_leaves_no_incident_behind",
        "fault injection with an SQLite trigger",
    ),
];

/// Runs the desk's unit tests again with every [`super::testing::temp_store`]
/// a schema on one real PostgreSQL (issue 21: store and desk tests on both
/// engines): this test binary itself, filtered to `desk::`, under
/// `OPSDESK_TEST_ENGINE=postgres` and `OPSDESK_TEST_POSTGRES_URL` naming the
/// server this test started (or was given); it must pass whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_tests_pass_on_postgres_too() {
    if std::env::var_os(super::testing::ENGINE_VARIABLE).is_some() {
        return; // This is the PostgreSQL run itself.
    }
    let Some(pg) = TestPostgres::start("the_desk_tests_pass_on_postgres_too").await else {
        return;
    };
    super::testing_postgres::rerun_on(
        &pg,
        "the desk's unit tests",
        super::testing::ENGINE_VARIABLE,
        &["desk::"],
        SQLITE_ONLY,
    )
    .await;
    pg.finish().await;
}
