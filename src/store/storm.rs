//! One card per storm: the reports an outage's grouped card counts (the links
//! made at intake, `outage_incidents.grouped`), which of them have no card of
//! their own yet, and the grouped card's coalescing state (`storm_cards`).
//! The rules live in `desk::storm`.

use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::incident::IncidentId;
use crate::domain::outage::{CountedReport, OutageId, Tally};
use crate::domain::{RoleKey, UserId};

/// An outage's grouped card as last queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StormCard {
    /// The role whose channel shows it.
    pub role: RoleKey,
    /// When its last version was queued.
    pub edited_at: DateTime<Utc>,
    /// How many reports that version counted.
    pub shown: i64,
}

/// Links a just-logged incident to the outage as a report its grouped card
/// counts (it has no card of its own).
pub async fn link_grouped(conn: &mut Conn, id: OutageId, incident: IncidentId, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("INSERT INTO outage_incidents (incident_id, outage_id, linked_at, grouped) VALUES ($1, $2, $3, 1)")
        .bind(incident.get())
        .bind(id.get())
        .bind(to_ms(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether the incident is a grouped report still without a card of its own.
pub async fn is_cardless(conn: &mut Conn, incident: IncidentId) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT incident_id FROM outage_incidents WHERE incident_id = $1 AND grouped = 1 AND carded_at IS NULL",
    )
    .bind(incident.get())
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Records that a grouped report was given its own card; false when it
/// already had one (or is no grouped report).
pub async fn give_card(conn: &mut Conn, incident: IncidentId, now: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outage_incidents SET carded_at = $1 WHERE incident_id = $2 AND grouped = 1 AND carded_at IS NULL",
    )
    .bind(to_ms(now))
    .bind(incident.get())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The grouped card of an outage, once it has one.
pub async fn card(conn: &mut Conn, id: OutageId) -> Result<Option<StormCard>> {
    let row: Option<(String, i64, i64)> =
        sqlx::query_as("SELECT role, edited_at, shown FROM storm_cards WHERE outage_id = $1")
            .bind(id.get())
            .fetch_optional(&mut *conn)
            .await?;
    let Some((role, edited_at, shown)) = row else {
        return Ok(None);
    };
    let role = RoleKey::parse(&role).map_err(|e| StoreError::Corrupt {
        table: "storm_cards",
        detail: format!("role `{role}`: {e}"),
    })?;
    Ok(Some(StormCard {
        role,
        edited_at: from_ms("storm_cards", edited_at)?,
        shown,
    }))
}

/// Records that a version of the outage's grouped card counting `shown`
/// reports was queued at `now` (the first creates the row, in `role`'s channel).
pub async fn card_queued(conn: &mut Conn, id: OutageId, role: &RoleKey, shown: i64, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO storm_cards (outage_id, role, edited_at, shown) VALUES ($1, $2, $3, $4)
         ON CONFLICT (outage_id) DO UPDATE SET edited_at = excluded.edited_at, shown = excluded.shown",
    )
    .bind(id.get())
    .bind(role.as_str())
    .bind(to_ms(now))
    .bind(shown)
    .execute(conn)
    .await?;
    Ok(())
}

/// The reports the outage's grouped card counts: how many, the `latest`
/// newest, and their services.
pub async fn tally(conn: &mut Conn, id: OutageId, latest: u32) -> Result<Tally> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outage_incidents WHERE outage_id = $1 AND grouped = 1")
        .bind(id.get())
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<(i64, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT i.id, i.reporter, u.display_name, i.service
           FROM outage_incidents o JOIN incidents i ON i.id = o.incident_id
           LEFT JOIN users u ON u.id = i.reporter
          WHERE o.outage_id = $1 AND o.grouped = 1
          ORDER BY i.id DESC LIMIT $2",
    )
    .bind(id.get())
    .bind(i64::from(latest))
    .fetch_all(&mut *conn)
    .await?;
    let services: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT i.service FROM outage_incidents o JOIN incidents i ON i.id = o.incident_id
          WHERE o.outage_id = $1 AND o.grouped = 1 AND i.service IS NOT NULL ORDER BY i.service",
    )
    .bind(id.get())
    .fetch_all(&mut *conn)
    .await?;
    Ok(Tally {
        count,
        latest: rows
            .into_iter()
            .map(|(inc, reporter, name, service)| CountedReport {
                incident: IncidentId::from_row(inc),
                reporter: UserId::new(reporter as u64),
                reporter_name: name,
                service,
            })
            .collect(),
        services: services.into_iter().map(|(s,)| s).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::NewIncident;
    use crate::domain::outage::{NewOutage, OutageImpact};
    use crate::domain::priority::{Impact, Priority, Urgency};

    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn a_grouped_report_is_cardless_until_given_its_card_and_is_counted_either_way() {
        let (store, _dir) = temp_store().await;
        let mut c = store.write().await.unwrap();
        let now = DateTime::parse_from_rfc3339("2024-03-04T10:00:00Z").unwrap().to_utc();
        let role = RoleKey::parse("service_desk").unwrap();
        let outage = crate::store::outages::insert(
            &mut c,
            &NewOutage {
                service: "email".into(),
                impact: OutageImpact::Major,
                summary: "down".into(),
                declared_by: UserId::new(7),
            },
            now,
        )
        .await
        .unwrap();
        crate::store::users::upsert(&mut c, UserId::new(9), "alice", now)
            .await
            .unwrap();
        let mut ids = Vec::new();
        for title in ["one", "two"] {
            let new = NewIncident {
                title: title.into(),
                impact: Impact::Medium,
                urgency: Urgency::Medium,
                priority: Priority::from_level(3).unwrap(),
                service: Some("email".into()),
                category: None,
                reporter: UserId::new(9),
                handler_role: role.clone(),
                source_link: None,
                source_message: None,
            };
            let inc = crate::store::incidents::insert(&mut c, &new, now).await.unwrap();
            link_grouped(&mut c, outage.id, inc.id, now).await.unwrap();
            ids.push(inc.id);
        }
        assert!(is_cardless(&mut c, ids[0]).await.unwrap());
        assert!(give_card(&mut c, ids[0], now).await.unwrap());
        assert!(!give_card(&mut c, ids[0], now).await.unwrap(), "given once");
        assert!(!is_cardless(&mut c, ids[0]).await.unwrap());
        assert!(is_cardless(&mut c, ids[1]).await.unwrap());

        let t = tally(&mut c, outage.id, 1).await.unwrap();
        assert_eq!((t.count, t.services.as_slice()), (2, ["email".to_owned()].as_slice()));
        assert_eq!(t.latest.len(), 1);
        assert_eq!(
            (t.latest[0].incident, t.latest[0].reporter_name.as_deref()),
            (ids[1], Some("alice"))
        );

        assert_eq!(card(&mut c, outage.id).await.unwrap(), None);
        card_queued(&mut c, outage.id, &role, 1, now).await.unwrap();
        card_queued(&mut c, outage.id, &role, 2, now + chrono::TimeDelta::seconds(10))
            .await
            .unwrap();
        let stored = card(&mut c, outage.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.role, stored.edited_at, stored.shown),
            (role, now + chrono::TimeDelta::seconds(10), 2)
        );
    }
}
