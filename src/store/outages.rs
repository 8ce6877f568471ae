//! Outages, their notices, where the subscriber messages of each stand (the
//! deliveries themselves are recorded by `store::notices`), and the incidents
//! linked to an outage.

use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::incident::IncidentId;
use crate::domain::outage::{
    DeliveryCounts, LatestUpdate, LinkedOutcome, NewOutage, Notice, NoticeKind, Outage, OutageId, OutageImpact,
    OutageState,
};
use crate::domain::UserId;

/// The outage columns, plus its latest update (the newest notice after the declaration).
const COLUMNS: &str = "o.id, o.service, o.impact, o.summary, o.state, o.declared_by, o.started_at, o.updated_at, \
     o.resolved_at, \
     (SELECT n.body FROM outage_notices n WHERE n.outage_id = o.id AND n.kind <> 'declare' \
       ORDER BY n.id DESC LIMIT 1) AS latest_text, \
     (SELECT n.created_at FROM outage_notices n WHERE n.outage_id = o.id AND n.kind <> 'declare' \
       ORDER BY n.id DESC LIMIT 1) AS latest_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    service: String,
    impact: String,
    summary: String,
    state: String,
    declared_by: i64,
    started_at: i64,
    updated_at: i64,
    resolved_at: Option<i64>,
    latest_text: Option<String>,
    latest_at: Option<i64>,
}

impl TryFrom<Row> for Outage {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "outages",
            detail,
        };
        let latest = match (r.latest_text, r.latest_at) {
            (Some(text), Some(at)) => Some(LatestUpdate {
                at: from_ms("outage_notices", at)?,
                text,
            }),
            _ => None,
        };
        Ok(Outage {
            id: OutageId::from_row(r.id),
            impact: OutageImpact::parse(&r.impact).ok_or_else(|| corrupt(format!("impact {}", r.impact)))?,
            state: OutageState::parse(&r.state).ok_or_else(|| corrupt(format!("state {}", r.state)))?,
            service: r.service,
            summary: r.summary,
            declared_by: UserId::new(r.declared_by as u64),
            started_at: from_ms("outages", r.started_at)?,
            updated_at: from_ms("outages", r.updated_at)?,
            resolved_at: r.resolved_at.map(|t| from_ms("outages", t)).transpose()?,
            latest,
        })
    }
}

/// Inserts an active outage and returns it.
pub async fn insert(conn: &mut Conn, new: &NewOutage, now: DateTime<Utc>) -> Result<Outage> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO outages (service, impact, summary, state, declared_by, started_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6) RETURNING id",
    )
    .bind(&new.service)
    .bind(new.impact.as_str())
    .bind(&new.summary)
    .bind(new.declared_by.get() as i64)
    .bind(to_ms(now))
    .bind(to_ms(now))
    .fetch_one(&mut *conn)
    .await?;
    get(conn, OutageId::from_row(id))
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            table: "outages",
            detail: format!("OUT-{id} vanished after insert"),
        })
}

/// One outage, if it exists.
pub async fn get(conn: &mut Conn, id: OutageId) -> Result<Option<Outage>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM outages o WHERE o.id = $1"))
        .bind(id.get())
        .fetch_optional(conn)
        .await?;
    row.map(Outage::try_from).transpose()
}

/// Every active outage, by service.
pub async fn active(conn: &mut Conn) -> Result<Vec<Outage>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM outages o WHERE o.state = 'active' ORDER BY o.service, o.id"
    ))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Outage::try_from).collect()
}

/// The active outage of a service, if any (there is at most one).
pub async fn active_for_service(conn: &mut Conn, service: &str) -> Result<Option<Outage>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM outages o WHERE o.state = 'active' AND o.service = $1"
    ))
    .bind(service)
    .fetch_optional(conn)
    .await?;
    row.map(Outage::try_from).transpose()
}

/// Writes back the fields an update or resolution changes.
pub async fn save(conn: &mut Conn, outage: &Outage) -> Result<()> {
    sqlx::query("UPDATE outages SET impact = $1, state = $2, updated_at = $3, resolved_at = $4 WHERE id = $5")
        .bind(outage.impact.as_str())
        .bind(outage.state.as_str())
        .bind(to_ms(outage.updated_at))
        .bind(outage.resolved_at.map(to_ms))
        .bind(outage.id.get())
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a notice (declaration, update or resolution) and returns its id.
pub async fn add_notice(
    conn: &mut Conn,
    id: OutageId,
    kind: NoticeKind,
    body: &str,
    actor: UserId,
    now: DateTime<Utc>,
) -> Result<i64> {
    let (notice,): (i64,) = sqlx::query_as(
        "INSERT INTO outage_notices (outage_id, kind, body, actor, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(id.get())
    .bind(kind.as_str())
    .bind(body)
    .bind(actor.get() as i64)
    .bind(to_ms(now))
    .fetch_one(conn)
    .await?;
    Ok(notice)
}

/// The notices of an outage, oldest first.
pub async fn notices(conn: &mut Conn, id: OutageId) -> Result<Vec<Notice>> {
    let rows: Vec<(i64, String, String, i64, i64)> =
        sqlx::query_as("SELECT id, kind, body, actor, created_at FROM outage_notices WHERE outage_id = $1 ORDER BY id")
            .bind(id.get())
            .fetch_all(conn)
            .await?;
    rows.into_iter()
        .map(|(id, kind, body, actor, at)| {
            Ok(Notice {
                id,
                kind: NoticeKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                    table: "outage_notices",
                    detail: format!("kind {kind}"),
                })?,
                body,
                actor: UserId::new(actor as u64),
                at: from_ms("outage_notices", at)?,
            })
        })
        .collect()
}

/// Counts the subscriber messages of an outage by delivery state.
pub async fn delivery_counts(conn: &mut Conn, id: OutageId) -> Result<DeliveryCounts> {
    let (queued, delivered, pending, unreachable, lost): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*),
                COUNT(*) FILTER (WHERE o.delivered_at IS NOT NULL),
                COUNT(*) FILTER (WHERE o.delivered_at IS NULL AND o.failed_at IS NULL),
                COUNT(*) FILTER (WHERE o.failed_at IS NOT NULL AND o.failure = 'unreachable'),
                COUNT(*) FILTER (WHERE o.failed_at IS NOT NULL AND COALESCE(o.failure, 'permanent') <> 'unreachable')
           FROM notice_deliveries d
           JOIN outage_notices n ON n.id = d.outage_notice_id
           JOIN outbox o ON o.id = d.outbox_id
          WHERE n.outage_id = $1",
    )
    .bind(id.get())
    .fetch_one(conn)
    .await?;
    Ok(DeliveryCounts {
        queued,
        delivered,
        pending,
        unreachable,
        lost,
    })
}

/// Links an incident to the outage it is part of.
pub async fn link_incident(conn: &mut Conn, id: OutageId, incident: IncidentId, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("INSERT INTO outage_incidents (incident_id, outage_id, linked_at) VALUES ($1, $2, $3)")
        .bind(incident.get())
        .bind(id.get())
        .bind(to_ms(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Open incidents of a service logged at or after `since` that no outage
/// has linked yet, oldest first.
pub async fn unlinked_open_since(conn: &mut Conn, service: &str, since: DateTime<Utc>) -> Result<Vec<IncidentId>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT i.id FROM incidents i
          WHERE i.service = $1 AND i.created_at >= $2 AND i.state NOT IN ('resolved', 'closed', 'cancelled')
            AND NOT EXISTS (SELECT 1 FROM outage_incidents o WHERE o.incident_id = i.id)
          ORDER BY i.id",
    )
    .bind(service)
    .bind(to_ms(since))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| IncidentId::from_row(id)).collect())
}

/// The incidents linked to an outage, oldest first.
pub async fn linked_incidents(conn: &mut Conn, id: OutageId) -> Result<Vec<IncidentId>> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT incident_id FROM outage_incidents WHERE outage_id = $1 ORDER BY incident_id")
            .bind(id.get())
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|r| IncidentId::from_row(r.0)).collect())
}

/// The outage an incident is linked to, if any.
pub async fn outage_of(conn: &mut Conn, incident: IncidentId) -> Result<Option<OutageId>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT outage_id FROM outage_incidents WHERE incident_id = $1")
        .bind(incident.get())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| OutageId::from_row(r.0)))
}

/// Records what resolving the outage did to a linked incident.
pub async fn set_link_outcome(conn: &mut Conn, incident: IncidentId, outcome: LinkedOutcome) -> Result<()> {
    sqlx::query("UPDATE outage_incidents SET outcome = $1 WHERE incident_id = $2")
        .bind(outcome.as_str())
        .bind(incident.get())
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::NewIncident;
    use crate::domain::priority::{Impact, Priority, Urgency};
    use crate::domain::RoleKey;
    use crate::message::{Destination, OutMessage, Outgoing};
    use crate::store::outbox::Failure;
    use crate::store::testing::temp_store;
    use crate::store::{incidents, notices, outbox};
    use chrono::TimeDelta;

    fn new_outage(service: &str) -> NewOutage {
        NewOutage {
            service: service.into(),
            impact: OutageImpact::Partial,
            summary: "mail is slow @everyone".into(),
            declared_by: UserId::new(5),
        }
    }

    #[tokio::test]
    async fn outages_round_trip_with_their_latest_update_and_only_one_is_active_per_service() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut o = insert(&mut tx, &new_outage("email"), t0).await.unwrap();
        assert_eq!((o.id.get(), o.state, o.latest.clone()), (1, OutageState::Active, None));
        assert_eq!(o.summary, "mail is slow @everyone");
        add_notice(&mut tx, o.id, NoticeKind::Declare, &o.summary, UserId::new(5), t0)
            .await
            .unwrap();
        assert_eq!(get(&mut tx, o.id).await.unwrap().unwrap().latest, None);

        // A second active outage for the same service is refused by the database.
        assert!(insert(&mut tx, &new_outage("email"), t0).await.is_err());
        let vpn = insert(&mut tx, &new_outage("vpn"), t0).await.unwrap();

        let t1 = t0 + TimeDelta::minutes(10);
        o.update(Some(OutageImpact::Major), t1).unwrap();
        save(&mut tx, &o).await.unwrap();
        add_notice(&mut tx, o.id, NoticeKind::Update, "restarting", UserId::new(6), t1)
            .await
            .unwrap();
        let got = get(&mut tx, o.id).await.unwrap().unwrap();
        assert_eq!(got.impact, OutageImpact::Major);
        assert_eq!(
            got.latest,
            Some(LatestUpdate {
                at: t1,
                text: "restarting".into()
            })
        );
        assert_eq!(active_for_service(&mut tx, "email").await.unwrap().unwrap().id, o.id);
        let all: Vec<String> = active(&mut tx)
            .await
            .unwrap()
            .iter()
            .map(|o| o.service.clone())
            .collect();
        assert_eq!(all, ["email", "vpn"]);

        let t2 = t1 + TimeDelta::minutes(50);
        o.resolve(t2).unwrap();
        save(&mut tx, &o).await.unwrap();
        add_notice(&mut tx, o.id, NoticeKind::Resolve, "fixed", UserId::new(6), t2)
            .await
            .unwrap();
        let got = get(&mut tx, o.id).await.unwrap().unwrap();
        assert_eq!((got.state, got.resolved_at), (OutageState::Resolved, Some(t2)));
        assert_eq!(got.latest.unwrap().text, "fixed");
        assert_eq!(active_for_service(&mut tx, "email").await.unwrap(), None);
        // Once resolved, the service may have a new outage.
        let again = insert(&mut tx, &new_outage("email"), t2).await.unwrap();
        assert_eq!(again.id.get(), 3);
        let kinds: Vec<NoticeKind> = notices(&mut tx, o.id).await.unwrap().iter().map(|n| n.kind).collect();
        assert_eq!(kinds, [NoticeKind::Declare, NoticeKind::Update, NoticeKind::Resolve]);
        assert!(notices(&mut tx, vpn.id).await.unwrap().is_empty());
        assert_eq!(get(&mut tx, OutageId::from_row(99)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn each_subscriber_is_queued_once_per_notice_and_counted_by_delivery_state() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let mut tx = store.begin().await.unwrap();
        let o = insert(&mut tx, &new_outage("email"), now).await.unwrap();
        let notice = add_notice(&mut tx, o.id, NoticeKind::Declare, "x", UserId::new(5), now)
            .await
            .unwrap();
        let notice = notices::NoticeRef::Outage { outage: o.id, notice };
        let mut rows = Vec::new();
        for user in 1..=4u64 {
            let item = Outgoing::post(Destination::Dm(UserId::new(user)), OutMessage::text("down"));
            let id = outbox::enqueue_one(&mut tx, &item, now).await.unwrap();
            notices::record_delivery(&mut tx, notice, UserId::new(user), id)
                .await
                .unwrap();
            rows.push(id);
        }
        // The same subscriber twice for one notice is refused.
        let dup = outbox::enqueue_one(
            &mut tx,
            &Outgoing::post(Destination::Dm(UserId::new(1)), OutMessage::text("again")),
            now,
        )
        .await
        .unwrap();
        assert!(notices::record_delivery(&mut tx, notice, UserId::new(1), dup)
            .await
            .is_err());
        tx.commit().await.unwrap();

        let mut c = store.write().await.unwrap();
        outbox::mark_delivered(&mut c, rows[0], "m1", now).await.unwrap();
        outbox::mark_failed(&mut c, rows[1], Failure::Unreachable, "dms closed (50007)", now)
            .await
            .unwrap();
        outbox::mark_failed(
            &mut c,
            rows[2],
            Failure::Permanent,
            "HTTP 404 code 10013: Unknown User",
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            delivery_counts(&mut c, o.id).await.unwrap(),
            DeliveryCounts {
                queued: 4,
                delivered: 1,
                pending: 1,
                unreachable: 1,
                lost: 1
            }
        );
    }

    #[tokio::test]
    async fn incidents_link_to_an_outage_and_keep_their_outcome() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let mut tx = store.begin().await.unwrap();
        let o = insert(&mut tx, &new_outage("email"), now).await.unwrap();
        let inc = incidents::insert(
            &mut tx,
            &NewIncident {
                title: "no mail".into(),
                impact: Impact::Medium,
                urgency: Urgency::Medium,
                priority: Priority::parse("P3").unwrap(),
                service: Some("email".into()),
                category: None,
                reporter: UserId::new(9),
                handler_role: RoleKey::parse("service_desk").unwrap(),
                source_link: None,
                source_message: None,
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(outage_of(&mut tx, inc.id).await.unwrap(), None);
        link_incident(&mut tx, o.id, inc.id, now).await.unwrap();
        assert_eq!(outage_of(&mut tx, inc.id).await.unwrap(), Some(o.id));
        assert_eq!(linked_incidents(&mut tx, o.id).await.unwrap(), vec![inc.id]);
        // An incident belongs to one outage.
        assert!(link_incident(&mut tx, o.id, inc.id, now).await.is_err());
        set_link_outcome(&mut tx, inc.id, LinkedOutcome::LeftOpen)
            .await
            .unwrap();
        let (outcome,): (String,) = sqlx::query_as("SELECT outcome FROM outage_incidents WHERE incident_id = $1")
            .bind(inc.id.get())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(outcome, "left_open");
    }
}
