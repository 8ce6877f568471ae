//! Incident rows and their notes.

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::incident::{HoldReason, Incident, IncidentId, NewIncident, Note, State};
use crate::domain::priority::{Impact, Priority, Urgency};
use crate::domain::{RoleKey, UserId};
use chrono::{DateTime, Utc};

const COLUMNS: &str = "id, title, impact, urgency, priority, service, category, state, reporter, assignee, \
                       handler_role, tier, source_link, hold_reason, resolution, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    title: String,
    impact: String,
    urgency: String,
    priority: i64,
    service: Option<String>,
    category: Option<String>,
    state: String,
    reporter: i64,
    assignee: Option<i64>,
    handler_role: String,
    tier: i64,
    source_link: Option<String>,
    hold_reason: Option<String>,
    resolution: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Incident {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "incidents",
            detail,
        };
        Ok(Incident {
            id: IncidentId::from_row(r.id),
            impact: Impact::parse(&r.impact).ok_or_else(|| corrupt(format!("impact {}", r.impact)))?,
            urgency: Urgency::parse(&r.urgency).ok_or_else(|| corrupt(format!("urgency {}", r.urgency)))?,
            priority: Priority::from_level(r.priority).ok_or_else(|| corrupt(format!("priority {}", r.priority)))?,
            state: State::parse(&r.state).ok_or_else(|| corrupt(format!("state {}", r.state)))?,
            handler_role: RoleKey::parse(&r.handler_role).map_err(|e| corrupt(e.to_string()))?,
            title: r.title,
            service: r.service,
            category: r.category,
            reporter: UserId::new(r.reporter as u64),
            assignee: r.assignee.map(|a| UserId::new(a as u64)),
            tier: r.tier,
            source_link: r.source_link,
            hold: match r.hold_reason {
                Some(h) => Some(HoldReason::parse(&h).ok_or_else(|| corrupt(format!("hold_reason {h}")))?),
                None => None,
            },
            resolution: r.resolution,
            created_at: from_ms("incidents", r.created_at)?,
            updated_at: from_ms("incidents", r.updated_at)?,
        })
    }
}

/// Inserts a new incident in state `new` and returns it.
pub async fn insert(conn: &mut Conn, new: &NewIncident, now: DateTime<Utc>) -> Result<Incident> {
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO incidents (title, impact, urgency, priority, service, category, state, reporter, handler_role,
                                source_link, source_message, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(&new.title)
    .bind(new.impact.as_str())
    .bind(new.urgency.as_str())
    .bind(i64::from(new.priority.level()))
    .bind(&new.service)
    .bind(&new.category)
    .bind(new.reporter.get() as i64)
    .bind(new.handler_role.as_str())
    .bind(&new.source_link)
    .bind(&new.source_message)
    .bind(to_ms(now))
    .bind(to_ms(now))
    .fetch_one(conn)
    .await?;
    row.try_into()
}

/// One incident, if it exists.
pub async fn get(conn: &mut Conn, id: IncidentId) -> Result<Option<Incident>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM incidents WHERE id = ?"))
        .bind(id.get())
        .fetch_optional(conn)
        .await?;
    row.map(Incident::try_from).transpose()
}

/// The incident logged from a chat message, if any.
pub async fn by_source_message(conn: &mut Conn, message_id: &str) -> Result<Option<IncidentId>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM incidents WHERE source_message = ?")
        .bind(message_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| IncidentId::from_row(r.0)))
}

/// Writes back the mutable fields of an incident.
pub async fn update(conn: &mut Conn, inc: &Incident, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE incidents SET state = ?, assignee = ?, handler_role = ?, tier = ?, resolution = ?, impact = ?,
                              urgency = ?, priority = ?, title = ?, service = ?, category = ?, hold_reason = ?,
                              updated_at = ? WHERE id = ?",
    )
    .bind(inc.state.as_str())
    .bind(inc.assignee.map(|a| a.get() as i64))
    .bind(inc.handler_role.as_str())
    .bind(inc.tier)
    .bind(&inc.resolution)
    .bind(inc.impact.as_str())
    .bind(inc.urgency.as_str())
    .bind(i64::from(inc.priority.level()))
    .bind(&inc.title)
    .bind(&inc.service)
    .bind(&inc.category)
    .bind(inc.hold.map(HoldReason::as_str))
    .bind(to_ms(now))
    .bind(inc.id.get())
    .execute(conn)
    .await?;
    Ok(())
}

/// Which incidents a listing selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Open,
    All,
    Priority(u8),
    Service(String),
}

/// A page of incidents, newest first, and the total matching.
pub async fn list(
    conn: &mut Conn,
    selection: &Selection,
    only_involving: Option<UserId>,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Incident>, i64)> {
    let (clause, arg): (&str, Option<String>) = match selection {
        Selection::Open => ("state NOT IN ('resolved', 'closed', 'cancelled')", None),
        Selection::All => ("1 = 1", None),
        Selection::Priority(p) => ("priority = CAST(? AS INTEGER)", Some(p.to_string())),
        Selection::Service(s) => ("service = ?", Some(s.clone())),
    };
    // `only_involving`: incidents that user reported or is assigned.
    let user = only_involving.map(|u| u.get() as i64);
    let filter = format!("{clause} AND (? IS NULL OR reporter = ? OR assignee = ?)");
    let count_sql = format!("SELECT COUNT(*) FROM incidents WHERE {filter}");
    let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
    if let Some(a) = &arg {
        count = count.bind(a);
    }
    let (total,) = count.bind(user).bind(user).bind(user).fetch_one(&mut *conn).await?;
    let page_sql = format!("SELECT {COLUMNS} FROM incidents WHERE {filter} ORDER BY id DESC LIMIT ? OFFSET ?");
    let mut q = sqlx::query_as::<_, Row>(&page_sql);
    if let Some(a) = &arg {
        q = q.bind(a);
    }
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    let rows = q
        .bind(user)
        .bind(user)
        .bind(user)
        .bind(i64::from(page_size))
        .bind(offset)
        .fetch_all(conn)
        .await?;
    let incidents = rows.into_iter().map(Incident::try_from).collect::<Result<Vec<_>>>()?;
    Ok((incidents, total))
}

/// Adds a note.
pub async fn add_note(conn: &mut Conn, id: IncidentId, author: UserId, body: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("INSERT INTO incident_notes (incident_id, author, body, created_at) VALUES (?, ?, ?, ?)")
        .bind(id.get())
        .bind(author.get() as i64)
        .bind(body)
        .bind(to_ms(now))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    author: i64,
    name: Option<String>,
    body: String,
    created_at: i64,
}

impl TryFrom<NoteRow> for Note {
    type Error = StoreError;

    fn try_from(r: NoteRow) -> Result<Self> {
        Ok(Note {
            author: UserId::new(r.author as u64),
            author_name: r.name,
            body: r.body,
            at: from_ms("incident_notes", r.created_at)?,
        })
    }
}

/// The latest notes of an incident, oldest first.
pub async fn notes(conn: &mut Conn, id: IncidentId, limit: u32) -> Result<Vec<Note>> {
    let rows: Vec<NoteRow> = sqlx::query_as(
        "SELECT author, name, body, created_at FROM
           (SELECT n.id, n.author, u.display_name AS name, n.body, n.created_at
              FROM incident_notes n LEFT JOIN users u ON u.id = n.author
             WHERE n.incident_id = ? ORDER BY n.id DESC LIMIT ?)
         ORDER BY id",
    )
    .bind(id.get())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Note::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn new_incident(title: &str, reporter: u64, service: Option<&str>, p: u8) -> NewIncident {
        NewIncident {
            title: title.into(),
            impact: Impact::High,
            urgency: Urgency::Low,
            priority: Priority::parse(&format!("P{p}")).unwrap(),
            service: service.map(str::to_owned),
            category: None,
            reporter: UserId::new(reporter),
            handler_role: RoleKey::parse("service_desk").unwrap(),
            source_link: None,
            source_message: Some(format!("m-{title}")),
        }
    }

    #[tokio::test]
    async fn incidents_round_trip_update_and_list_by_every_selection() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = Utc::now();
        let a = insert(&mut tx, &new_incident("mail @everyone", 1, Some("email"), 2), now)
            .await
            .unwrap();
        let mut b = insert(&mut tx, &new_incident("vpn", 2, Some("vpn"), 3), now)
            .await
            .unwrap();
        assert_eq!(a.title, "mail @everyone");
        assert_eq!(a.state, State::New);
        assert_eq!(get(&mut tx, a.id).await.unwrap().unwrap(), a);
        assert_eq!(get(&mut tx, IncidentId::from_row(99)).await.unwrap(), None);
        assert_eq!(by_source_message(&mut tx, "m-vpn").await.unwrap(), Some(b.id));
        assert_eq!(by_source_message(&mut tx, "m-none").await.unwrap(), None);

        b.state = State::Resolved;
        b.assignee = Some(UserId::new(9));
        b.resolution = Some("rebooted".into());
        update(&mut tx, &b, now).await.unwrap();
        let b2 = get(&mut tx, b.id).await.unwrap().unwrap();
        assert_eq!(
            (b2.state, b2.assignee, b2.resolution.as_deref()),
            (State::Resolved, Some(UserId::new(9)), Some("rebooted"))
        );

        let ids = |v: (Vec<Incident>, i64)| (v.0.iter().map(|i| i.id.get()).collect::<Vec<_>>(), v.1);
        assert_eq!(
            ids(list(&mut tx, &Selection::Open, None, 1, 10).await.unwrap()),
            (vec![1], 1)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::All, None, 1, 10).await.unwrap()),
            (vec![2, 1], 2)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::All, None, 2, 1).await.unwrap()),
            (vec![1], 2)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::Priority(3), None, 1, 10).await.unwrap()),
            (vec![2], 1)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::Service("email".into()), None, 1, 10)
                .await
                .unwrap()),
            (vec![1], 1)
        );
        assert_eq!(
            ids(list(&mut tx, &Selection::All, Some(UserId::new(2)), 1, 10)
                .await
                .unwrap()),
            (vec![2], 1)
        );

        add_note(&mut tx, a.id, UserId::new(1), "first", now).await.unwrap();
        add_note(&mut tx, a.id, UserId::new(1), "second", now).await.unwrap();
        let n = notes(&mut tx, a.id, 1).await.unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].body, "second");
        tx.commit().await.unwrap();
    }
}
