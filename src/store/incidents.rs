//! Incident rows and their notes.

use super::Sql;
use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::incident::{HoldReason, Incident, IncidentId, NewIncident, Note, State};
use crate::domain::priority::{Impact, Priority, Urgency};
use crate::domain::{RoleKey, UserId};
use chrono::{DateTime, Utc};

pub(super) const COLUMNS: &str = "id, title, impact, urgency, priority, service, category, state, reporter, assignee, \
                       handler_role, tier, source_link, hold_reason, resolution, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(super) struct Row {
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
         VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
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
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
        .bind(id.get())
        .fetch_optional(conn)
        .await?;
    row.map(Incident::try_from).transpose()
}

/// Whether `id` is urgent to deliver: priority P1 or P2, or a major incident.
pub async fn is_urgent(conn: &mut Conn, id: IncidentId) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM incidents i LEFT JOIN incident_escalation e ON e.incident_id = i.id
          WHERE i.id = $1 AND (i.priority <= 2 OR COALESCE(e.major, 0) <> 0)",
    )
    .bind(id.get())
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The incident logged from a chat message, if any.
pub async fn by_source_message(conn: &mut Conn, message_id: &str) -> Result<Option<IncidentId>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM incidents WHERE source_message = $1")
        .bind(message_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| IncidentId::from_row(r.0)))
}

/// Writes back the mutable fields of an incident.
pub async fn update(conn: &mut Conn, inc: &Incident, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE incidents SET state = $1, assignee = $2, handler_role = $3, tier = $4, resolution = $5, impact = $6,
                              urgency = $7, priority = $8, title = $9, service = $10, category = $11, hold_reason = $12,
                              updated_at = $13 WHERE id = $14",
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

/// Who sees what in a listing or a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every incident (agents).
    Everything,
    /// Only incidents `user` reported or is assigned, held by one of `groups`
    /// (support roles the user holds) or on one of `services` (service keys
    /// whose owner role the user holds): the incidents `!show` lets them see.
    Involving {
        user: UserId,
        groups: Vec<RoleKey>,
        services: Vec<String>,
    },
}

/// A support tier, as a listing selects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierSelection {
    /// The position in the service's chain, 0 the first line.
    Level(i64),
    /// The role holding the incident.
    Role(RoleKey),
}

/// Which incidents a listing selects: every field set narrows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// These states only; `None` for every state.
    pub states: Option<Vec<State>>,
    /// Nobody is assigned.
    pub unassigned: bool,
    /// A clock still running (or paused) has announced its breach in its
    /// current run: the desk has said the target is missed and nothing has
    /// stopped that clock since.
    pub breaching: bool,
    /// Reported by or assigned to this user.
    pub involving: Option<UserId>,
    pub priority: Option<Priority>,
    /// A service key.
    pub service: Option<String>,
    pub tier: Option<TierSelection>,
    pub visible: Visibility,
}

/// The states in which an incident is open (someone still has work on it).
pub fn open_states() -> Vec<State> {
    State::ALL.into_iter().filter(|s| s.is_open()).collect()
}

impl Selection {
    /// The open incidents `visible` allows: the narrowing starts from here.
    pub fn open(visible: Visibility) -> Self {
        Self {
            states: Some(open_states()),
            unassigned: false,
            breaching: false,
            involving: None,
            priority: None,
            service: None,
            tier: None,
            visible,
        }
    }
}

/// `AND (…)` for who may see an incident; `t` is the incidents table's alias
/// with its dot (`i.`), or empty.
pub(super) fn push_visibility(qb: &mut super::Sql<'_>, t: &str, visible: &Visibility) {
    let Visibility::Involving { user, groups, services } = visible else {
        return;
    };
    let user = user.get() as i64;
    qb.push(format!(" AND ({t}reporter = "))
        .push_bind(user)
        .push(format!(" OR {t}assignee = "))
        .push_bind(user);
    if !groups.is_empty() {
        qb.push(format!(" OR {t}handler_role IN ("));
        let mut list = qb.separated(", ");
        for g in groups {
            list.push_bind(g.as_str().to_owned());
        }
        qb.push(")");
    }
    if !services.is_empty() {
        qb.push(format!(" OR {t}service IN ("));
        let mut list = qb.separated(", ");
        for s in services {
            list.push_bind(s.clone());
        }
        qb.push(")");
    }
    qb.push(")");
}

/// `WHERE …` for a selection (the incidents table unaliased).
fn push_selection(qb: &mut super::Sql<'_>, sel: &Selection) {
    qb.push(" WHERE 1 = 1");
    if let Some(states) = &sel.states {
        qb.push(" AND state IN (");
        let mut list = qb.separated(", ");
        for st in states {
            list.push_bind(st.as_str());
        }
        // An empty set selects nothing rather than failing on `IN ()`.
        if states.is_empty() {
            list.push("NULL");
        }
        qb.push(")");
    }
    if sel.unassigned {
        qb.push(" AND assignee IS NULL");
    }
    if sel.breaching {
        qb.push(
            " AND EXISTS (SELECT 1 FROM incident_clocks c JOIN clock_thresholds t
                 ON t.incident_id = c.incident_id AND t.kind = c.kind AND t.run = c.run AND t.threshold = 'breach'
               WHERE c.incident_id = incidents.id AND c.stopped_at IS NULL)",
        );
    }
    if let Some(u) = sel.involving {
        let u = u.get() as i64;
        qb.push(" AND (reporter = ")
            .push_bind(u)
            .push(" OR assignee = ")
            .push_bind(u)
            .push(")");
    }
    if let Some(p) = sel.priority {
        qb.push(" AND priority = ").push_bind(i64::from(p.level()));
    }
    if let Some(s) = &sel.service {
        qb.push(" AND service = ").push_bind(s.clone());
    }
    match &sel.tier {
        Some(TierSelection::Level(n)) => {
            qb.push(" AND tier = ").push_bind(*n);
        }
        Some(TierSelection::Role(r)) => {
            qb.push(" AND handler_role = ").push_bind(r.as_str().to_owned());
        }
        None => {}
    }
    push_visibility(qb, "", &sel.visible);
}

/// A page of incidents, newest first, and the total matching.
pub async fn list(conn: &mut Conn, sel: &Selection, page: u32, page_size: u32) -> Result<(Vec<Incident>, i64)> {
    let mut count = Sql::new("SELECT COUNT(*) FROM incidents");
    push_selection(&mut count, sel);
    let (total,): (i64,) = count.build_query_as().fetch_one(&mut *conn).await?;
    let mut q = Sql::new(format!("SELECT {COLUMNS} FROM incidents"));
    push_selection(&mut q, sel);
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(page_size))
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<Row> = q.build_query_as().fetch_all(conn).await?;
    let incidents = rows.into_iter().map(Incident::try_from).collect::<Result<Vec<_>>>()?;
    Ok((incidents, total))
}

/// Adds a note.
pub async fn add_note(conn: &mut Conn, id: IncidentId, author: UserId, body: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("INSERT INTO incident_notes (incident_id, author, body, created_at) VALUES ($1, $2, $3, $4)")
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
             WHERE n.incident_id = $1 ORDER BY n.id DESC LIMIT $2) AS t
         ORDER BY id",
    )
    .bind(id.get())
    .bind(i64::from(limit))
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
        let open = || Selection::open(Visibility::Everything);
        let any = || Selection { states: None, ..open() };
        assert_eq!(ids(list(&mut tx, &open(), 1, 10).await.unwrap()), (vec![1], 1));
        assert_eq!(ids(list(&mut tx, &any(), 1, 10).await.unwrap()), (vec![2, 1], 2));
        assert_eq!(ids(list(&mut tx, &any(), 2, 1).await.unwrap()), (vec![1], 2));
        let cases: Vec<(&str, Selection, Vec<i64>)> = vec![
            (
                "resolved",
                Selection {
                    states: Some(vec![State::Resolved]),
                    ..any()
                },
                vec![2],
            ),
            (
                "no state at all",
                Selection {
                    states: Some(vec![]),
                    ..any()
                },
                vec![],
            ),
            (
                "P3",
                Selection {
                    priority: Priority::parse("P3"),
                    ..any()
                },
                vec![2],
            ),
            (
                "email",
                Selection {
                    service: Some("email".into()),
                    ..any()
                },
                vec![1],
            ),
            (
                "unassigned",
                Selection {
                    unassigned: true,
                    ..any()
                },
                vec![1],
            ),
            (
                "involving the reporter of vpn",
                Selection {
                    involving: Some(UserId::new(2)),
                    ..any()
                },
                vec![2],
            ),
            (
                "involving its assignee",
                Selection {
                    involving: Some(UserId::new(9)),
                    ..any()
                },
                vec![2],
            ),
            (
                "tier 1",
                Selection {
                    tier: Some(TierSelection::Level(0)),
                    ..any()
                },
                vec![2, 1],
            ),
            (
                "tier 2",
                Selection {
                    tier: Some(TierSelection::Level(1)),
                    ..any()
                },
                vec![],
            ),
            (
                "held by the service desk",
                Selection {
                    tier: Some(TierSelection::Role(RoleKey::parse("service_desk").unwrap())),
                    ..any()
                },
                vec![2, 1],
            ),
            (
                "none breaching without clocks",
                Selection {
                    breaching: true,
                    ..any()
                },
                vec![],
            ),
            (
                "visible to a stranger",
                Selection {
                    visible: Visibility::Involving {
                        user: UserId::new(77),
                        groups: vec![],
                        services: vec![],
                    },
                    ..any()
                },
                vec![],
            ),
            (
                "visible to the vpn owner",
                Selection {
                    visible: Visibility::Involving {
                        user: UserId::new(77),
                        groups: vec![],
                        services: vec!["vpn".into()],
                    },
                    ..any()
                },
                vec![2],
            ),
            (
                "visible to the group holding them",
                Selection {
                    visible: Visibility::Involving {
                        user: UserId::new(77),
                        groups: vec![RoleKey::parse("service_desk").unwrap()],
                        services: vec![],
                    },
                    ..any()
                },
                vec![2, 1],
            ),
            (
                "visible to its reporter, and open",
                Selection {
                    visible: Visibility::Involving {
                        user: UserId::new(1),
                        groups: vec![],
                        services: vec![],
                    },
                    ..open()
                },
                vec![1],
            ),
        ];
        for (what, sel, expected) in cases {
            let (got, total) = ids(list(&mut tx, &sel, 1, 10).await.unwrap());
            assert_eq!(got, expected, "{what}");
            assert_eq!(total, expected.len() as i64, "{what}");
        }

        add_note(&mut tx, a.id, UserId::new(1), "first", now).await.unwrap();
        add_note(&mut tx, a.id, UserId::new(1), "second", now).await.unwrap();
        let n = notes(&mut tx, a.id, 1).await.unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].body, "second");
        tx.commit().await.unwrap();
    }
}
