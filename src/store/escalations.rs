//! The escalation state of incidents: the hierarchical level reached and the
//! major-incident flag (no row means neither).

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::escalation::Escalation;
use crate::domain::incident::IncidentId;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct Row {
    level: i64,
    major: i64,
    major_since: Option<i64>,
}

impl TryFrom<Row> for Escalation {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        Ok(Escalation {
            level: r.level,
            major: r.major != 0,
            major_since: r.major_since.map(|ms| from_ms("incident_escalation", ms)).transpose()?,
        })
    }
}

/// The escalation state of an incident (the default when it has none).
pub async fn get(conn: &mut Conn, incident: IncidentId) -> Result<Escalation> {
    let row: Option<Row> =
        sqlx::query_as("SELECT level, major, major_since FROM incident_escalation WHERE incident_id = $1")
            .bind(incident.get())
            .fetch_optional(conn)
            .await?;
    match row {
        None => Ok(Escalation::default()),
        Some(r) => Escalation::try_from(r),
    }
}

/// Writes the escalation state of an incident.
pub async fn set(conn: &mut Conn, incident: IncidentId, e: &Escalation, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO incident_escalation (incident_id, level, major, major_since, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (incident_id) DO UPDATE SET level = excluded.level, major = excluded.major,
                major_since = excluded.major_since, updated_at = excluded.updated_at",
    )
    .bind(incident.get())
    .bind(e.level)
    .bind(i64::from(e.major))
    .bind(e.major_since.map(to_ms))
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::NewIncident;
    use crate::domain::priority::{Impact, Priority, Urgency};
    use crate::domain::{RoleKey, UserId};
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn an_incident_without_a_row_is_not_escalated_and_a_set_state_reads_back() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let new = NewIncident {
            title: "vpn".into(),
            impact: Impact::Low,
            urgency: Urgency::Low,
            priority: Priority::parse("P5").unwrap(),
            service: None,
            category: None,
            reporter: UserId::new(1),
            handler_role: RoleKey::parse("service_desk").unwrap(),
            source_link: None,
            source_message: None,
        };
        let id = crate::store::incidents::insert(&mut tx, &new, now).await.unwrap().id;
        assert_eq!(get(&mut tx, id).await.unwrap(), Escalation::default());
        let major = Escalation {
            level: 1,
            major: true,
            major_since: Some(now),
        };
        set(&mut tx, id, &major, now).await.unwrap();
        assert_eq!(get(&mut tx, id).await.unwrap(), major);
        let reverted = Escalation {
            major: false,
            major_since: None,
            ..major
        };
        set(&mut tx, id, &reverted, now).await.unwrap();
        assert_eq!(get(&mut tx, id).await.unwrap(), reverted);
        // Unknown incidents are refused by the foreign key.
        assert!(set(&mut tx, IncidentId::from_row(42), &major, now).await.is_err());
        tx.commit().await.unwrap();
    }
}
