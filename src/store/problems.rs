//! Problem rows (`PRB-n`), the incidents linked to them, the change that
//! fixes them, the known-error suggestions made to new incidents, the prompts
//! asked of the problem manager, and the known-error database search (the
//! FTS5 table `problem_search`, migration 0017, kept in step by triggers).
//!
//! User words reach FTS5 only as quoted strings, through
//! [`super::search::match_expression`]'s quoting.

use super::Sql;
use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, Conn, Engine, Result, StoreError};
use crate::domain::change::ChangeId;
use crate::domain::incident::{IncidentId, State};
use crate::domain::problem::{NewProblem, Problem, ProblemId, ProblemState};
use crate::domain::search::SearchQuery;
use crate::domain::UserId;

const COLUMNS: &str = "id, title, service, state, root_cause, workaround, resolution, owner, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    title: String,
    service: Option<String>,
    state: String,
    root_cause: Option<String>,
    workaround: Option<String>,
    resolution: Option<String>,
    owner: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Problem {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        Ok(Problem {
            id: ProblemId::from_row(r.id),
            state: ProblemState::parse(&r.state).ok_or_else(|| StoreError::Corrupt {
                table: "problems",
                detail: format!("state {}", r.state),
            })?,
            title: r.title,
            service: r.service,
            root_cause: r.root_cause,
            workaround: r.workaround,
            resolution: r.resolution,
            owner: UserId::new(r.owner as u64),
            created_at: from_ms("problems", r.created_at)?,
            updated_at: from_ms("problems", r.updated_at)?,
        })
    }
}

/// Stores a new problem and returns it.
pub async fn insert(conn: &mut Conn, new: &NewProblem, now: DateTime<Utc>) -> Result<Problem> {
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO problems (title, service, state, owner, created_at, updated_at)
         VALUES ($1, $2, 'new', $3, $4, $4) RETURNING {COLUMNS}"
    ))
    .bind(&new.title)
    .bind(&new.service)
    .bind(new.owner.get() as i64)
    .bind(to_ms(now))
    .fetch_one(conn)
    .await?;
    row.try_into()
}

/// One problem, if it exists.
pub async fn get(conn: &mut Conn, id: ProblemId) -> Result<Option<Problem>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM problems WHERE id = $1"))
        .bind(id.get())
        .fetch_optional(conn)
        .await?;
    row.map(Problem::try_from).transpose()
}

/// Writes a problem's state and texts back.
pub async fn update(conn: &mut Conn, p: &Problem) -> Result<()> {
    sqlx::query(
        "UPDATE problems SET state = $2, root_cause = $3, workaround = $4, resolution = $5, updated_at = $6
          WHERE id = $1",
    )
    .bind(p.id.get())
    .bind(p.state.as_str())
    .bind(&p.root_cause)
    .bind(&p.workaround)
    .bind(&p.resolution)
    .bind(to_ms(p.updated_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Links an incident to a problem; `false` when the incident is linked to
/// one already (an incident has one problem at most).
pub async fn link_incident(
    conn: &mut Conn,
    problem: ProblemId,
    incident: IncidentId,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO problem_incidents (incident_id, problem_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (incident_id) DO NOTHING",
    )
    .bind(incident.get())
    .bind(problem.get())
    .bind(by.get() as i64)
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The problem an incident is linked to, if any.
pub async fn problem_of(conn: &mut Conn, incident: IncidentId) -> Result<Option<ProblemId>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT problem_id FROM problem_incidents WHERE incident_id = $1")
        .bind(incident.get())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(id,)| ProblemId::from_row(id)))
}

/// The incidents linked to a problem with their states, in id order.
pub async fn incidents(conn: &mut Conn, problem: ProblemId) -> Result<Vec<(IncidentId, State)>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT i.id, i.state FROM problem_incidents l JOIN incidents i ON i.id = l.incident_id
          WHERE l.problem_id = $1 ORDER BY i.id",
    )
    .bind(problem.get())
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, state)| {
            let state = State::parse(&state).ok_or_else(|| StoreError::Corrupt {
                table: "incidents",
                detail: format!("state {state}"),
            })?;
            Ok((IncidentId::from_row(id), state))
        })
        .collect()
}

/// Records the change raised to fix a problem; `false` when the change
/// fixes one already.
pub async fn link_change(conn: &mut Conn, change: ChangeId, problem: ProblemId, now: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO problem_changes (change_id, problem_id, linked_at) VALUES ($1, $2, $3)
         ON CONFLICT (change_id) DO NOTHING",
    )
    .bind(change.get())
    .bind(problem.get())
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The problem a change was raised to fix, if any.
pub async fn fixed_by(conn: &mut Conn, change: ChangeId) -> Result<Option<ProblemId>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT problem_id FROM problem_changes WHERE change_id = $1")
        .bind(change.get())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(id,)| ProblemId::from_row(id)))
}

/// The changes raised to fix a problem, in id order.
pub async fn changes(conn: &mut Conn, problem: ProblemId) -> Result<Vec<ChangeId>> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT change_id FROM problem_changes WHERE problem_id = $1 ORDER BY 1")
        .bind(problem.get())
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|(id,)| ChangeId::from_row(id)).collect())
}

/// Records that a new incident was told it looks like a known error.
pub async fn suggest(conn: &mut Conn, incident: IncidentId, problem: ProblemId, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO problem_suggestions (incident_id, problem_id, made_at) VALUES ($1, $2, $3)
         ON CONFLICT (incident_id) DO UPDATE SET problem_id = excluded.problem_id, made_at = excluded.made_at",
    )
    .bind(incident.get())
    .bind(problem.get())
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The known error suggested to an incident, if any.
pub async fn suggestion(conn: &mut Conn, incident: IncidentId) -> Result<Option<ProblemId>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT problem_id FROM problem_suggestions WHERE incident_id = $1")
        .bind(incident.get())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(id,)| ProblemId::from_row(id)))
}

/// Why the problem manager is asked to open a problem for an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptReason {
    /// A major incident was resolved.
    Major,
    /// The incident keeps being reopened.
    Reopened,
}

impl PromptReason {
    fn as_str(self) -> &'static str {
        match self {
            PromptReason::Major => "major",
            PromptReason::Reopened => "reopened",
        }
    }
}

/// Records a prompt; `false` when it was asked before (asked once).
pub async fn prompt_once(
    conn: &mut Conn,
    incident: IncidentId,
    reason: PromptReason,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO problem_prompts (incident_id, reason, asked_at) VALUES ($1, $2, $3)
         ON CONFLICT (incident_id, reason) DO NOTHING",
    )
    .bind(incident.get())
    .bind(reason.as_str())
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts one more reopening of an incident and returns how many it has had.
pub async fn count_reopen(conn: &mut Conn, incident: IncidentId) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "INSERT INTO incident_reopens (incident_id, reopens) VALUES ($1, 1)
         ON CONFLICT (incident_id) DO UPDATE SET reopens = incident_reopens.reopens + 1 RETURNING reopens",
    )
    .bind(incident.get())
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// Which problems `!problems` lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProblemSelection {
    /// Only these states (all when empty).
    pub states: Vec<ProblemState>,
    pub service: Option<String>,
    /// Only those logged by this user.
    pub owner: Option<UserId>,
}

/// The problems a selection names with how many incidents each has linked,
/// newest first, at most `limit`, and how many match in all.
pub async fn list(conn: &mut Conn, sel: &ProblemSelection, limit: u32) -> Result<(Vec<(Problem, i64)>, i64)> {
    let push_where = |q: &mut super::Sql<'_>| {
        q.push(" WHERE 1 = 1");
        if !sel.states.is_empty() {
            q.push(" AND p.state IN (");
            let mut s = q.separated(", ");
            for st in &sel.states {
                s.push_bind(st.as_str());
            }
            q.push(")");
        }
        if let Some(service) = &sel.service {
            q.push(" AND p.service = ").push_bind(service.clone());
        }
        if let Some(owner) = sel.owner {
            q.push(" AND p.owner = ").push_bind(owner.get() as i64);
        }
    };
    let mut count = Sql::new("SELECT COUNT(*) FROM problems p");
    push_where(&mut count);
    let (total,): (i64,) = count.build_query_as().fetch_one(&mut *conn).await?;
    let columns: Vec<String> = COLUMNS.split(',').map(|c| format!("p.{}", c.trim())).collect();
    let mut q = Sql::new(format!(
        "SELECT {}, (SELECT COUNT(*) FROM problem_incidents l WHERE l.problem_id = p.id) AS linked FROM problems p",
        columns.join(", ")
    ));
    push_where(&mut q);
    q.push(" ORDER BY p.id DESC LIMIT ").push_bind(i64::from(limit));
    let rows: Vec<ListRow> = q.build_query_as().fetch_all(conn).await?;
    let rows = rows
        .into_iter()
        .map(|r| Ok((Problem::try_from(r.problem)?, r.linked)))
        .collect::<Result<Vec<_>>>()?;
    Ok((rows, total))
}

#[derive(sqlx::FromRow)]
struct ListRow {
    #[sqlx(flatten)]
    problem: Row,
    linked: i64,
}

/// Known errors (problems with a workaround, in state known_error), on
/// `service` when given, holding every word of `words` when given; best
/// match first, at most `limit`.
pub async fn known_errors(
    conn: &mut Conn,
    service: Option<&str>,
    words: Option<&SearchQuery>,
    limit: u32,
) -> Result<Vec<Problem>> {
    let postgres = Engine::of(conn) == Engine::Postgres;
    let columns: Vec<String> = COLUMNS.split(',').map(|c| format!("p.{}", c.trim())).collect();
    let mut q = Sql::new(format!("SELECT {} FROM problems p", columns.join(", ")));
    if let Some(words) = words {
        if postgres {
            q.push(" JOIN problem_search s ON s.rowid = p.id AND s.document @@ plainto_tsquery('english', ")
                .push_bind(super::search::plain_words(words))
                .push(")");
        } else {
            q.push(" JOIN problem_search s ON s.rowid = p.id AND problem_search MATCH ")
                .push_bind(super::search::match_expression(words));
        }
    }
    q.push(" WHERE p.state = 'known_error'");
    if let Some(service) = service {
        q.push(" AND p.service = ").push_bind(service.to_owned());
    }
    match words {
        Some(words) if postgres => q
            .push(" ORDER BY ts_rank(s.document, plainto_tsquery('english', ")
            .push_bind(super::search::plain_words(words))
            .push(")) DESC, p.id DESC LIMIT "),
        Some(_) => q.push(" ORDER BY bm25(problem_search), p.id DESC LIMIT "),
        None => q.push(" ORDER BY p.id DESC LIMIT "),
    }
    .push_bind(i64::from(limit));
    let rows: Vec<Row> = q.build_query_as().fetch_all(conn).await?;
    rows.into_iter().map(Problem::try_from).collect()
}

/// The FTS5 expression "at least two of these words" (any one when there is
/// only one): a pair of quoted words per alternative. Words shorter than three
/// characters say too little to match on and are left out.
pub fn two_of(query: &SearchQuery) -> Option<String> {
    pairs_of(query, |w| format!("\"{}\"", w.replace('"', "\"\"")), " ", " OR ")
}

/// [`two_of`] for PostgreSQL's `to_tsquery`: each word a quoted lexeme
/// (quotes and backslashes doubled, so none is query syntax), `&` within a
/// pair, `|` between pairs.
pub fn two_of_tsquery(query: &SearchQuery) -> Option<String> {
    pairs_of(
        query,
        |w| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''")),
        " & ",
        " | ",
    )
}

/// The alternatives of two words at least, each word written by `quote`.
fn pairs_of(query: &SearchQuery, quote: impl Fn(&str) -> String, and: &str, or: &str) -> Option<String> {
    let words: Vec<String> = query
        .words()
        .iter()
        .filter(|w| w.chars().count() >= 3)
        .map(|w| quote(w))
        .collect();
    match words.len() {
        0 => None,
        1 => Some(words[0].clone()),
        n => {
            let mut pairs = Vec::new();
            for i in 0..n {
                for j in i + 1..n {
                    pairs.push(format!("({}{and}{})", words[i], words[j]));
                }
            }
            Some(pairs.join(or))
        }
    }
}

/// The known error on `service` that best matches an incident's words (two of
/// them at least, see [`two_of`]), if any.
pub async fn matching_known_error(conn: &mut Conn, service: &str, words: &SearchQuery) -> Result<Option<Problem>> {
    let postgres = Engine::of(conn) == Engine::Postgres;
    let expression = if postgres { two_of_tsquery(words) } else { two_of(words) };
    let Some(expression) = expression else {
        return Ok(None);
    };
    let columns: Vec<String> = COLUMNS.split(',').map(|c| format!("p.{}", c.trim())).collect();
    let (matches, rank) = if postgres {
        (
            "s.document @@ to_tsquery('english', $1)",
            "ts_rank(s.document, to_tsquery('english', $1)) DESC",
        )
    } else {
        ("problem_search MATCH $1", "bm25(problem_search)")
    };
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {} FROM problems p JOIN problem_search s ON s.rowid = p.id
          WHERE {matches} AND p.state = 'known_error' AND p.service = $2
          ORDER BY {rank}, p.id DESC LIMIT 1",
        columns.join(", ")
    ))
    .bind(expression)
    .bind(service)
    .fetch_optional(conn)
    .await?;
    row.map(Problem::try_from).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    async fn known_error(conn: &mut Conn, title: &str, service: &str, workaround: &str) -> Problem {
        let mut p = insert(
            conn,
            &NewProblem {
                title: title.into(),
                service: Some(service.into()),
                owner: UserId::new(1),
            },
            now(),
        )
        .await
        .unwrap();
        p.assess(now()).unwrap();
        p.set_workaround(workaround, now()).unwrap();
        update(conn, &p).await.unwrap();
        p
    }

    #[tokio::test]
    async fn a_problem_round_trips_and_an_incident_links_to_one_problem_only() {
        let (store, _dir) = temp_store().await;
        let mut conn = store.write().await.unwrap();
        let ids = crate::store::testing::incidents(&mut conn, 2, now()).await;
        let a = known_error(&mut conn, "Mail queue stalls", "email", "restart the queue").await;
        let b = known_error(&mut conn, "VPN drops", "vpn", "reconnect").await;
        assert_eq!(get(&mut conn, a.id).await.unwrap().as_ref(), Some(&a));
        assert!(link_incident(&mut conn, a.id, ids[0], UserId::new(1), now())
            .await
            .unwrap());
        assert!(!link_incident(&mut conn, b.id, ids[0], UserId::new(1), now())
            .await
            .unwrap());
        assert_eq!(problem_of(&mut conn, ids[0]).await.unwrap(), Some(a.id));
        assert_eq!(incidents(&mut conn, a.id).await.unwrap().len(), 1);
        assert!(incidents(&mut conn, b.id).await.unwrap().is_empty());
        let (rows, total) = list(&mut conn, &ProblemSelection::default(), 10).await.unwrap();
        assert_eq!((total, rows[1].1, rows[0].1), (2, 1, 0));
        let sel = ProblemSelection {
            service: Some("vpn".into()),
            ..Default::default()
        };
        assert_eq!(list(&mut conn, &sel, 10).await.unwrap().0[0].0.id, b.id);
        assert!(prompt_once(&mut conn, ids[1], PromptReason::Major, now())
            .await
            .unwrap());
        assert!(!prompt_once(&mut conn, ids[1], PromptReason::Major, now())
            .await
            .unwrap());
        assert_eq!(count_reopen(&mut conn, ids[1]).await.unwrap(), 1);
        assert_eq!(count_reopen(&mut conn, ids[1]).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn known_errors_match_two_words_on_the_same_service_and_user_syntax_is_inert() {
        let (store, _dir) = temp_store().await;
        let mut conn = store.write().await.unwrap();
        let p = known_error(
            &mut conn,
            "Outlook crashes when opening attachments",
            "email",
            "use webmail",
        )
        .await;
        let q = |s: &str| SearchQuery::parse(s).unwrap();
        let found = matching_known_error(&mut conn, "email", &q("Outlook crashed opening a PDF"))
            .await
            .unwrap();
        assert_eq!(found.map(|f| f.id), Some(p.id), "stemmed words match");
        assert!(matching_known_error(&mut conn, "vpn", &q("Outlook crashes opening"))
            .await
            .unwrap()
            .is_none());
        assert!(
            matching_known_error(&mut conn, "email", &q("Outlook is slow"))
                .await
                .unwrap()
                .is_none(),
            "one shared word is not enough"
        );
        assert!(matching_known_error(&mut conn, "email", &q("\" OR * NEAR( ^ :"))
            .await
            .unwrap()
            .is_none());
        let kedb = known_errors(&mut conn, None, Some(&q("webmail")), 10).await.unwrap();
        assert_eq!(kedb.len(), 1, "the workaround is searched too");
        assert_eq!(known_errors(&mut conn, Some("vpn"), None, 10).await.unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_change_fixes_one_problem() {
        let (store, _dir) = temp_store().await;
        let mut conn = store.write().await.unwrap();
        let p = known_error(&mut conn, "Mail queue stalls", "email", "restart").await;
        sqlx::query(
            "INSERT INTO changes (id, title, service, risk, change_type, state, requester, created_at, updated_at)
             VALUES (1, 't', 'email', 'low', 'normal', 'new', 1, 0, 0)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        let c = ChangeId::from_row(1);
        assert!(link_change(&mut conn, c, p.id, now()).await.unwrap());
        assert!(!link_change(&mut conn, c, p.id, now()).await.unwrap());
        assert_eq!(fixed_by(&mut conn, c).await.unwrap(), Some(p.id));
        assert_eq!(changes(&mut conn, p.id).await.unwrap(), vec![c]);
        assert_eq!(fixed_by(&mut conn, ChangeId::from_row(9)).await.unwrap(), None);
    }
}
