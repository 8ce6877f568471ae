//! Full-text search over incidents (`!search`): the FTS5 table
//! `incident_search` (migration 0011), one row per incident holding its title,
//! notes and resolution, kept in step by triggers on `incidents` and
//! `incident_notes` whatever store function writes them.
//!
//! Excerpts mark the matched words with [`HIT_START`] and
//! [`crate::domain::search::HIT_END`].
//!
//! User words reach FTS5 only as quoted strings ([`match_expression`]), so
//! nothing a user types is read as query syntax.

use super::Sql;

use super::incidents::{push_visibility, Row, Visibility, COLUMNS};
use super::{Conn, Engine, Result};
use crate::domain::incident::Incident;
use crate::domain::search::{SearchHit, SearchQuery, HIT_END, HIT_START};

#[derive(sqlx::FromRow)]
struct HitRow {
    #[sqlx(flatten)]
    incident: Row,
    title_hit: String,
    notes_hit: String,
    resolution_hit: String,
}

/// The FTS5 query for the words: each one quoted (a quote inside doubled), all
/// of them required.
pub fn match_expression(query: &SearchQuery) -> String {
    query
        .words()
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn matched(snippet: String) -> Option<String> {
    snippet.contains(HIT_START).then_some(snippet)
}

/// The PostgreSQL text-search query requiring every word: `plainto_tsquery`
/// reads no query syntax, so the words go in as they are.
const PG_EVERY_WORD: &str = "plainto_tsquery('english', ";

/// The same words as [`match_expression`], for `plainto_tsquery`.
pub fn plain_words(query: &SearchQuery) -> String {
    query.words().join(" ")
}

/// A page of the incidents `visible` lets the caller see that hold every word,
/// best match first (then newest), and how many match in all.
///
/// SQLite: FTS5's `MATCH`, `bm25()` and `snippet()`. PostgreSQL: the
/// `document` tsvector (migration `postgres/0011`), `@@`, `ts_rank()` and
/// `ts_headline()` with the same hit markers.
pub async fn search(
    conn: &mut Conn,
    query: &SearchQuery,
    visible: &Visibility,
    page: u32,
    page_size: u32,
) -> Result<(Vec<SearchHit>, i64)> {
    let postgres = Engine::of(conn) == Engine::Postgres;
    let (from, words) = if postgres {
        (
            format!(
                " FROM incident_search JOIN incidents i ON i.id = incident_search.rowid \
                 CROSS JOIN (SELECT {PG_EVERY_WORD}$1) AS query) AS q WHERE incident_search.document @@ q.query"
            ),
            plain_words(query),
        )
    } else {
        (
            " FROM incident_search JOIN incidents i ON i.id = incident_search.rowid WHERE incident_search MATCH $1"
                .to_owned(),
            match_expression(query),
        )
    };
    // `$1` is written into `from`: the first value bound is the words.
    let mut count = Sql::new(format!("SELECT COUNT(*){from}"));
    count.bind_only(words.clone());
    push_visibility(&mut count, "i.", visible);
    let (total,): (i64,) = count.build_query_as().fetch_one(&mut *conn).await?;

    let columns: Vec<String> = COLUMNS.split(',').map(|c| format!("i.{}", c.trim())).collect();
    let snippet = |column: u8, name: &str| {
        if postgres {
            let field = ["title", "notes", "resolution"][usize::from(column)];
            format!(
                "ts_headline('english', incident_search.{field}, q.query, \
                 'StartSel={HIT_START}, StopSel={HIT_END}, MaxWords=12, MinWords=11') AS {name}"
            )
        } else {
            format!("snippet(incident_search, {column}, char(57344), char(57345), '…', 12) AS {name}")
        }
    };
    let mut q = Sql::new(format!(
        "SELECT {}, {}, {}, {}{from}",
        columns.join(", "),
        snippet(0, "title_hit"),
        snippet(1, "notes_hit"),
        snippet(2, "resolution_hit"),
    ));
    q.bind_only(words);
    push_visibility(&mut q, "i.", visible);
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    q.push(if postgres {
        " ORDER BY ts_rank(incident_search.document, q.query) DESC, i.id DESC LIMIT "
    } else {
        " ORDER BY bm25(incident_search), i.id DESC LIMIT "
    })
    .push_bind(i64::from(page_size))
    .push(" OFFSET ")
    .push_bind(offset);
    let rows: Vec<HitRow> = q.build_query_as().fetch_all(conn).await?;
    let hits = rows
        .into_iter()
        .map(|r| {
            Ok(SearchHit {
                incident: Incident::try_from(r.incident)?,
                in_title: r.title_hit.contains(HIT_START),
                note: matched(r.notes_hit),
                resolution: matched(r.resolution_hit),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((hits, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::{IncidentId, NewIncident, State};
    use crate::domain::priority::{Impact, Priority, Urgency};
    use crate::domain::{RoleKey, UserId};
    use crate::store::incidents;
    use crate::store::testing::temp_store;
    use chrono::Utc;

    fn new_incident(title: &str, reporter: u64) -> NewIncident {
        NewIncident {
            title: title.into(),
            impact: Impact::Low,
            urgency: Urgency::Low,
            priority: Priority::parse("P5").unwrap(),
            service: Some("email".into()),
            category: None,
            reporter: UserId::new(reporter),
            handler_role: RoleKey::parse("service_desk").unwrap(),
            source_link: None,
            source_message: None,
        }
    }

    fn q(text: &str) -> SearchQuery {
        SearchQuery::parse(text).expect("words")
    }

    #[test]
    fn every_word_is_quoted_so_none_is_query_syntax() {
        assert_eq!(match_expression(&q("mail AND relay*")), r#""mail" "and" "relay""#);
        assert_eq!(match_expression(&q("NEAR(vpn) title:x")), r#""near" "vpn" "title" "x""#);
    }

    #[tokio::test]
    async fn the_migrations_index_the_incidents_logged_before_them_and_keep_the_index_in_step() {
        use sqlx::{AnyConnection, Connection};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&url).await.unwrap();
        let migrator = sqlx::migrate!("./migrations");
        // The schema as it was before search, with a day's incidents in it.
        for m in migrator.iter().filter(|m| m.version < 11) {
            sqlx::raw_sql(&m.sql).execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO incidents (title, impact, urgency, priority, state, reporter, handler_role, resolution, created_at, updated_at)
             VALUES ('Mail relay down', 'high', 'high', 1, 'resolved', 1, 'service_desk', 'flushed the DNS cache', 0, 0),
                    ('VPN drops', 'low', 'low', 5, 'new', 2, 'service_desk', NULL, 0, 0);
             INSERT INTO incident_notes (incident_id, author, body, created_at)
             VALUES (2, 2, 'after the certificate rotation', 0), (2, 9, 'rolled the certificate back', 1),
                    (1, 9, 'restarted the relay', 0);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let everyone = Visibility::Everything;
        let ids = |v: (Vec<SearchHit>, i64)| v.0.iter().map(|h| h.incident.id.get()).collect::<Vec<_>>();
        // Search (0011) indexes what was logged before it, then the later migrations.
        let search_migration = migrator.iter().find(|m| m.version == 11).expect("migration 0011");
        sqlx::raw_sql(&search_migration.sql).execute(&mut conn).await.unwrap();
        for m in migrator.iter().filter(|m| m.version > 11) {
            sqlx::raw_sql(&m.sql).execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO incidents (id, title, impact, urgency, priority, state, reporter, handler_role, created_at, updated_at)
             VALUES (3, 'Printer toner empty', 'low', 'low', 5, 'new', 3, 'service_desk', 0, 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        assert_eq!(
            ids(search(&mut conn, &q("toner"), &Visibility::Everything, 1, 10)
                .await
                .unwrap()),
            vec![3],
            "an incident logged after the migrations is indexed"
        );

        assert_eq!(
            ids(search(&mut conn, &q("dns"), &everyone, 1, 10).await.unwrap()),
            vec![1]
        );
        assert_eq!(
            ids(search(&mut conn, &q("certificate"), &everyone, 1, 10).await.unwrap()),
            vec![2]
        );
        assert_eq!(
            ids(search(&mut conn, &q("relay"), &everyone, 1, 10).await.unwrap()),
            vec![1]
        );
        let (notes,): (String,) = sqlx::query_as("SELECT notes FROM incident_search WHERE rowid = 2")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            notes, "after the certificate rotation\nrolled the certificate back",
            "in the order written"
        );
        // And from then on the triggers keep it in step.
        sqlx::raw_sql(
            "INSERT INTO incident_notes (incident_id, author, body, created_at) VALUES (2, 9, 'tunnel stable', 2)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        assert_eq!(
            ids(search(&mut conn, &q("tunnel"), &everyone, 1, 10).await.unwrap()),
            vec![2]
        );
    }

    #[tokio::test]
    async fn titles_notes_and_resolutions_are_found_as_they_are_written() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = Utc::now();
        let everyone = Visibility::Everything;
        let ids = |v: &(Vec<SearchHit>, i64)| v.0.iter().map(|h| h.incident.id.get()).collect::<Vec<_>>();

        let mut mail = incidents::insert(&mut tx, &new_incident("Mail relay down", 1), now)
            .await
            .unwrap();
        let vpn = incidents::insert(&mut tx, &new_incident("VPN drops every hour", 2), now)
            .await
            .unwrap();
        // The title is indexed on insert.
        let found = search(&mut tx, &q("relay"), &everyone, 1, 10).await.unwrap();
        assert_eq!((ids(&found), found.1), (vec![mail.id.get()], 1));
        assert!(found.0[0].in_title && found.0[0].note.is_none());

        // A note is indexed as it is added, stemmed: "restarting" finds "restarted".
        incidents::add_note(&mut tx, vpn.id, UserId::new(9), "restarted the concentrator", now)
            .await
            .unwrap();
        incidents::add_note(&mut tx, vpn.id, UserId::new(9), "second note", now)
            .await
            .unwrap();
        let found = search(&mut tx, &q("restarting concentrator"), &everyone, 1, 10)
            .await
            .unwrap();
        assert_eq!(ids(&found), vec![vpn.id.get()]);
        let note = found.0[0].note.as_deref().unwrap();
        assert!(note.contains('\u{E000}') && note.contains("concentrator"), "{note}");
        assert!(!found.0[0].in_title && found.0[0].resolution.is_none());
        // Every word must be there.
        assert_eq!(
            search(&mut tx, &q("restarted relay"), &everyone, 1, 10)
                .await
                .unwrap()
                .1,
            0
        );

        // A resolution (and a changed title) is indexed by the update that writes it.
        mail.state = State::Resolved;
        mail.resolution = Some("flushed the DNS cache".into());
        incidents::update(&mut tx, &mail, now).await.unwrap();
        let found = search(&mut tx, &q("dns"), &everyone, 1, 10).await.unwrap();
        assert_eq!(ids(&found), vec![mail.id.get()]);
        assert!(found.0[0].resolution.is_some());
        sqlx::query("UPDATE incidents SET title = 'Outbound mail stuck' WHERE id = $1")
            .bind(mail.id.get())
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(search(&mut tx, &q("relay"), &everyone, 1, 10).await.unwrap().1, 0);
        assert_eq!(search(&mut tx, &q("outbound"), &everyone, 1, 10).await.unwrap().1, 1);

        // Query syntax in the words is only words.
        for text in ["\"dns", "dns*", "resolution: dns", "(dns) OR", "NOT dns"] {
            let words = q(text);
            assert!(search(&mut tx, &words, &everyone, 1, 10).await.is_ok(), "{text}");
        }

        // Paged, and narrowed to what the caller may see.
        for i in 0..3 {
            incidents::insert(&mut tx, &new_incident(&format!("printer {i} jammed"), 5), now)
                .await
                .unwrap();
        }
        let page2 = search(&mut tx, &q("printer"), &everyone, 2, 2).await.unwrap();
        assert_eq!((page2.0.len(), page2.1), (1, 3));
        let reporter = Visibility::Involving {
            user: UserId::new(2),
            groups: vec![],
            services: vec![],
        };
        assert_eq!(
            ids(&search(&mut tx, &q("concentrator"), &reporter, 1, 10).await.unwrap()),
            vec![vpn.id.get()]
        );
        assert_eq!(search(&mut tx, &q("printer"), &reporter, 1, 10).await.unwrap().1, 0);
        assert!(incidents::get(&mut tx, IncidentId::from_row(99))
            .await
            .unwrap()
            .is_none());
        tx.commit().await.unwrap();
    }
}
