//! Alert keys: which incident a hook's problem (fingerprint, group key,
//! dedup_key) raised, how often it was reported and what it showed.

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::alert::AlertKey;
use crate::domain::incident::IncidentId;

type Row = (
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

const COLUMNS: &str =
    "hook, key, incident_id, firing, count, labels, alerts, generator_url, link, first_seen, last_seen";

impl TryFrom<Row> for AlertKey {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "alert_keys",
            detail,
        };
        Ok(AlertKey {
            hook: r.0,
            key: r.1,
            incident: IncidentId::from_row(r.2),
            firing: r.3 != 0,
            count: r.4,
            labels: serde_json::from_str(&r.5).map_err(|e| corrupt(format!("labels: {e}")))?,
            alerts: serde_json::from_str(&r.6).map_err(|e| corrupt(format!("alerts: {e}")))?,
            generator_url: r.7,
            link: r.8,
            first_seen: from_ms("alert_keys", r.9)?,
            last_seen: from_ms("alert_keys", r.10)?,
        })
    }
}

/// The problem `key` of `hook`, if it was seen before.
pub async fn get(conn: &mut Conn, hook: &str, key: &str) -> Result<Option<AlertKey>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_keys WHERE hook = $1 AND key = $2"
    ))
    .bind(hook)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    row.map(AlertKey::try_from).transpose()
}

/// The problem that raised (or last re-raised) `incident`, if an alert did.
pub async fn by_incident(conn: &mut Conn, incident: IncidentId) -> Result<Option<AlertKey>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_keys WHERE incident_id = $1 ORDER BY last_seen DESC LIMIT 1"
    ))
    .bind(incident.get())
    .fetch_optional(conn)
    .await?;
    row.map(AlertKey::try_from).transpose()
}

/// Writes `row` whole (a new problem, or one seen again).
pub async fn put(conn: &mut Conn, row: &AlertKey) -> Result<()> {
    let labels = serde_json::to_string(&row.labels).unwrap_or_else(|_| "{}".into());
    let alerts = serde_json::to_string(&row.alerts).unwrap_or_else(|_| "[]".into());
    sqlx::query(&format!(
        "INSERT INTO alert_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (hook, key) DO UPDATE SET incident_id = excluded.incident_id, firing = excluded.firing,
           count = excluded.count, labels = excluded.labels, alerts = excluded.alerts,
           generator_url = excluded.generator_url, link = excluded.link,
           first_seen = excluded.first_seen, last_seen = excluded.last_seen"
    ))
    .bind(&row.hook)
    .bind(&row.key)
    .bind(row.incident.get())
    .bind(i64::from(row.firing))
    .bind(row.count)
    .bind(labels)
    .bind(alerts)
    .bind(&row.generator_url)
    .bind(&row.link)
    .bind(to_ms(row.first_seen))
    .bind(to_ms(row.last_seen))
    .execute(conn)
    .await?;
    Ok(())
}

/// The problems whose incidents are still open, oldest incident first.
pub async fn open(conn: &mut Conn, limit: u32) -> Result<Vec<AlertKey>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {cols} FROM alert_keys a JOIN incidents i ON i.id = a.incident_id
         WHERE i.state NOT IN ('resolved', 'closed', 'cancelled')
         ORDER BY a.incident_id, a.hook, a.key LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(AlertKey::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use chrono::Utc;

    #[tokio::test]
    async fn a_problem_is_stored_found_by_key_and_incident_and_listed_while_open() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO incidents (title, impact, urgency, priority, state, reporter, handler_role, created_at, updated_at)
             VALUES ('x', 'high', 'high', 1, 'new', 1, 'service_desk', 0, 0)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        let mut row = AlertKey {
            hook: "alertmanager".into(),
            key: "fp:a1".into(),
            incident: IncidentId::from_row(1),
            firing: true,
            count: 1,
            labels: [("alertname".to_owned(), "DiskFull".to_owned())].into(),
            alerts: vec!["Disk full".into()],
            generator_url: Some("http://prom/graph".into()),
            link: None,
            first_seen: now,
            last_seen: now,
        };
        put(&mut tx, &row).await.unwrap();
        row.count = 2;
        put(&mut tx, &row).await.unwrap();
        let got = get(&mut tx, "alertmanager", "fp:a1").await.unwrap().unwrap();
        assert_eq!(got.count, 2);
        assert_eq!(got.labels, row.labels);
        assert_eq!(
            by_incident(&mut tx, IncidentId::from_row(1))
                .await
                .unwrap()
                .unwrap()
                .key,
            "fp:a1"
        );
        assert!(get(&mut tx, "grafana", "fp:a1").await.unwrap().is_none());
        assert_eq!(open(&mut tx, 10).await.unwrap().len(), 1);
        sqlx::query("UPDATE incidents SET state = 'resolved'")
            .execute(&mut *tx)
            .await
            .unwrap();
        assert!(open(&mut tx, 10).await.unwrap().is_empty());
    }
}
