//! Change records.

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::change::{Change, ChangeId, ChangeState, ChangeType, NewChange, Risk, Window};
use crate::domain::UserId;
use chrono::{DateTime, Utc};

const COLUMNS: &str = "id, title, service, risk, change_type, state, window_start, window_end, requester, \
                       implementer, reason, review, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    title: String,
    service: String,
    risk: String,
    change_type: String,
    state: String,
    window_start: Option<i64>,
    window_end: Option<i64>,
    requester: i64,
    implementer: Option<i64>,
    reason: Option<String>,
    review: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Change {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "changes",
            detail,
        };
        let window = match (r.window_start, r.window_end) {
            (Some(s), Some(e)) => Some(
                Window::existing(from_ms("changes", s)?, from_ms("changes", e)?).map_err(|e| corrupt(e.to_string()))?,
            ),
            (None, None) => None,
            _ => return Err(corrupt(format!("CHG-{} has half a window", r.id))),
        };
        Ok(Change {
            id: ChangeId::from_row(r.id),
            risk: Risk::parse(&r.risk).map_err(|e| corrupt(e.to_string()))?,
            change_type: ChangeType::parse(&r.change_type).map_err(|e| corrupt(e.to_string()))?,
            state: ChangeState::parse(&r.state).map_err(|e| corrupt(e.to_string()))?,
            title: r.title,
            service: r.service,
            window,
            requester: UserId::new(r.requester as u64),
            implementer: r.implementer.map(|u| UserId::new(u as u64)),
            reason: r.reason,
            review: r.review,
            created_at: from_ms("changes", r.created_at)?,
            updated_at: from_ms("changes", r.updated_at)?,
        })
    }
}

/// Inserts a new change in its first state and returns it.
pub async fn insert(conn: &mut Conn, new: &NewChange, now: DateTime<Utc>) -> Result<Change> {
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO changes (title, service, risk, change_type, state, window_start, window_end, requester,
                              implementer, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
    .bind(&new.title)
    .bind(&new.service)
    .bind(new.risk.as_str())
    .bind(new.change_type.as_str())
    .bind(new.state.as_str())
    .bind(new.window.map(|w| to_ms(w.start())))
    .bind(new.window.map(|w| to_ms(w.end())))
    .bind(new.requester.get() as i64)
    .bind(new.implementer.map(|u| u.get() as i64))
    .bind(to_ms(now))
    .bind(to_ms(now))
    .fetch_one(conn)
    .await?;
    row.try_into()
}

/// One change, if it exists.
pub async fn get(conn: &mut Conn, id: ChangeId) -> Result<Option<Change>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM changes WHERE id = $1"))
        .bind(id.get())
        .fetch_optional(conn)
        .await?;
    row.map(Change::try_from).transpose()
}

/// Writes back the mutable fields of a change.
pub async fn update(conn: &mut Conn, change: &Change, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE changes SET state = $1, window_start = $2, window_end = $3, implementer = $4, reason = $5, review = $6,
                            updated_at = $7
          WHERE id = $8",
    )
    .bind(change.state.as_str())
    .bind(change.window.map(|w| to_ms(w.start())))
    .bind(change.window.map(|w| to_ms(w.end())))
    .bind(change.implementer.map(|u| u.get() as i64))
    .bind(&change.reason)
    .bind(&change.review)
    .bind(to_ms(now))
    .bind(change.id.get())
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes whose window holds `now` and that are scheduled or being
/// carried out: the planned maintenance `!status` shows.
pub async fn in_window(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<Change>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM changes
          WHERE window_start <= $1 AND window_end > $2 AND state IN ('scheduled', 'implementing')
          ORDER BY window_end, id"
    ))
    .bind(to_ms(now))
    .bind(to_ms(now))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Change::try_from).collect()
}

/// Changes still under way (not rejected, closed or cancelled) on `service`
/// that have a window, other than `except`: the candidates for a clash.
pub async fn active_windows(conn: &mut Conn, service: &str, except: Option<ChangeId>) -> Result<Vec<Change>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM changes
          WHERE service = $1 AND window_start IS NOT NULL AND id <> $2
            AND state NOT IN ('rejected', 'closed', 'cancelled')
          ORDER BY window_start, id"
    ))
    .bind(service)
    .bind(except.map_or(0, ChangeId::get))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Change::try_from).collect()
}

/// Which changes a listing selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Not yet rejected, closed or cancelled; newest first.
    Open,
    /// Every change; newest first.
    All,
    /// Under way with a window that has not ended at the given time; soonest first.
    Upcoming(DateTime<Utc>),
    /// Requested by or to be carried out by this user; newest first.
    Involving(UserId),
    /// On this service; newest first.
    Service(String),
}

/// Up to `limit` changes of a selection, and how many match in all.
pub async fn list(conn: &mut Conn, selection: &Selection, limit: u32) -> Result<(Vec<Change>, i64)> {
    let open = "state NOT IN ('rejected', 'closed', 'cancelled')";
    let (clause, order, a, b): (String, &str, Option<i64>, Option<String>) = match selection {
        Selection::Open => (open.to_owned(), "id DESC", None, None),
        Selection::All => ("1 = 1".to_owned(), "id DESC", None, None),
        Selection::Upcoming(now) => (
            format!("{open} AND window_end > $1"),
            "window_start, id",
            Some(to_ms(*now)),
            None,
        ),
        Selection::Involving(u) => (
            "(requester = $1 OR implementer = $1)".to_owned(),
            "id DESC",
            Some(u.get() as i64),
            None,
        ),
        Selection::Service(s) => ("service = $1".to_owned(), "id DESC", None, Some(s.clone())),
    };
    let count_sql = format!("SELECT COUNT(*) FROM changes WHERE {clause}");
    let list_sql = format!("SELECT {COLUMNS} FROM changes WHERE {clause} ORDER BY {order} LIMIT {limit}");
    let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
    let mut rows = sqlx::query_as::<_, Row>(&list_sql);
    if let Some(a) = a {
        count = count.bind(a);
        rows = rows.bind(a);
    }
    if let Some(b) = &b {
        count = count.bind(b.clone());
        rows = rows.bind(b.clone());
    }
    let (total,) = count.fetch_one(&mut *conn).await?;
    let rows = rows.fetch_all(&mut *conn).await?;
    let changes = rows.into_iter().map(Change::try_from).collect::<Result<Vec<_>>>()?;
    Ok((changes, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use chrono::TimeDelta;

    fn new_change(title: &str, service: &str, window: Option<Window>, requester: u64) -> NewChange {
        NewChange {
            title: title.into(),
            service: service.into(),
            risk: Risk::Medium,
            change_type: ChangeType::Normal,
            state: ChangeState::New,
            window,
            requester: UserId::new(requester),
            implementer: Some(UserId::new(99)),
        }
    }

    #[tokio::test]
    async fn a_change_is_in_its_window_while_scheduled_or_implementing_and_keeps_its_review() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let w = Window::existing(now + TimeDelta::hours(1), now + TimeDelta::hours(3)).unwrap();
        let mut a = insert(&mut tx, &new_change("upgrade MTA", "email", Some(w), 1), now)
            .await
            .unwrap();
        let inside = now + TimeDelta::hours(2);
        assert!(
            in_window(&mut tx, inside).await.unwrap().is_empty(),
            "a new change is no maintenance"
        );
        a.state = ChangeState::Scheduled;
        a.review = Some("went fine".into());
        update(&mut tx, &a, now).await.unwrap();
        let got = in_window(&mut tx, inside).await.unwrap();
        assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a.id]);
        assert_eq!(got[0].review.as_deref(), Some("went fine"));
        assert!(in_window(&mut tx, now).await.unwrap().is_empty(), "before the window");
        assert!(
            in_window(&mut tx, now + TimeDelta::hours(3)).await.unwrap().is_empty(),
            "at its end"
        );
    }

    #[tokio::test]
    async fn changes_are_inserted_read_back_updated_and_listed() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let w = |h0: i64, h1: i64| Window::existing(now + TimeDelta::hours(h0), now + TimeDelta::hours(h1)).unwrap();
        let a = insert(&mut tx, &new_change("upgrade MTA", "email", Some(w(2, 4)), 1), now)
            .await
            .unwrap();
        assert_eq!(a.id.to_string(), "CHG-1");
        assert_eq!(a.window, Some(w(2, 4)));
        assert_eq!(a.implementer, Some(UserId::new(99)));
        let b = insert(&mut tx, &new_change("patch VPN", "vpn", Some(w(1, 2)), 2), now)
            .await
            .unwrap();
        let c = insert(&mut tx, &new_change("no window", "email", None, 2), now)
            .await
            .unwrap();
        assert_eq!(get(&mut tx, a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(get(&mut tx, ChangeId::from_row(99)).await.unwrap(), None);

        // Only windowed, live changes on the same service, other than the one asked about.
        let clash = active_windows(&mut tx, "email", None).await.unwrap();
        assert_eq!(clash.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a.id]);
        assert!(active_windows(&mut tx, "email", Some(a.id)).await.unwrap().is_empty());

        let mut moved = a.clone();
        moved.state = ChangeState::Cancelled;
        moved.reason = Some("not needed".into());
        moved.window = Some(w(5, 6));
        update(&mut tx, &moved, now).await.unwrap();
        let back = get(&mut tx, a.id).await.unwrap().unwrap();
        assert_eq!(
            (back.state, back.reason.as_deref(), back.window),
            (ChangeState::Cancelled, Some("not needed"), Some(w(5, 6)))
        );
        assert!(active_windows(&mut tx, "email", None).await.unwrap().is_empty());

        let ids = |v: (Vec<Change>, i64)| (v.0.iter().map(|c| c.id.get()).collect::<Vec<_>>(), v.1);
        assert_eq!(ids(list(&mut tx, &Selection::Open, 10).await.unwrap()), (vec![3, 2], 2));
        assert_eq!(ids(list(&mut tx, &Selection::All, 2).await.unwrap()), (vec![3, 2], 3));
        assert_eq!(
            ids(list(&mut tx, &Selection::Upcoming(now), 10).await.unwrap()),
            (vec![2], 1)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::Upcoming(now + TimeDelta::hours(3)), 10)
                .await
                .unwrap()),
            (vec![], 0)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::Involving(UserId::new(2)), 10).await.unwrap()),
            (vec![3, 2], 2)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::Involving(UserId::new(99)), 10).await.unwrap()).1,
            3
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::Service("email".into()), 10).await.unwrap()),
            (vec![3, 1], 2)
        );
        let _ = (b, c);
    }

    #[tokio::test]
    async fn a_window_ending_before_it_starts_is_refused_by_the_database() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let bad = sqlx::query(
            "INSERT INTO changes (title, service, risk, change_type, state, window_start, window_end, requester,
                                  created_at, updated_at) VALUES ('x', 'email', 'low', 'normal', 'new', 10, 5, 1, 0, 0)",
        )
        .execute(&mut *tx)
        .await;
        assert!(bad.is_err());
    }
}
