//! The append-only audit log: who did what, when, to which record. A row's
//! `details` is a phrase completing "<actor> …" (`render::history`), marked
//! `phrased`; rows from before that convention are read back as legacy text.

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::audit::{AuditEntry, Details, Phrase};
use crate::domain::UserId;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct Row {
    at: i64,
    actor: Option<i64>,
    actor_name: Option<String>,
    action: String,
    subject: String,
    details: String,
    phrased: i64,
}

impl TryFrom<Row> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        Ok(AuditEntry {
            at: from_ms("audit", r.at)?,
            actor: r.actor.map(|a| UserId::new(a as u64)),
            actor_name: r.actor_name,
            action: r.action,
            subject: r.subject,
            details: if r.phrased == 1 {
                Details::Phrase(Phrase::new(r.details))
            } else {
                Details::Legacy(r.details)
            },
        })
    }
}

/// Appends a row; part of the action's transaction.
pub async fn append(
    conn: &mut Conn,
    at: DateTime<Utc>,
    actor: Option<UserId>,
    action: &str,
    subject: &str,
    details: &Phrase,
) -> Result<()> {
    sqlx::query("INSERT INTO audit (at, actor, action, subject, details, phrased) VALUES ($1, $2, $3, $4, $5, 1)")
        .bind(to_ms(at))
        .bind(actor.map(|a| a.get() as i64))
        .bind(action)
        .bind(subject)
        .bind(details.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

const SELECT: &str =
    "SELECT a.id, a.at, a.actor, u.display_name AS actor_name, a.action, a.subject, a.details, a.phrased
                        FROM audit a LEFT JOIN users u ON u.id = a.actor";

/// The latest `limit` entries of one record, oldest first.
pub async fn for_subject(conn: &mut Conn, subject: &str, limit: u32) -> Result<Vec<AuditEntry>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT * FROM ({SELECT} WHERE a.subject = $1 ORDER BY a.id DESC LIMIT $2) AS t ORDER BY id"
    ))
    .bind(subject)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(AuditEntry::try_from).collect()
}

/// One page of a record's whole trail, oldest first: `limit` entries after
/// the first `offset`.
pub async fn page(conn: &mut Conn, subject: &str, offset: u32, limit: u32) -> Result<Vec<AuditEntry>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE a.subject = $1 ORDER BY a.id LIMIT $2 OFFSET $3"
    ))
    .bind(subject)
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(AuditEntry::try_from).collect()
}

/// How many audit rows mention `subject`.
pub async fn count_for(conn: &mut Conn, subject: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit WHERE subject = $1")
        .bind(subject)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn audit_rows_are_appended_read_back_with_names_and_paged_and_cannot_be_changed() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = Utc::now();
        crate::store::users::upsert(&mut tx, UserId::new(1), "sam", now)
            .await
            .unwrap();
        append(
            &mut tx,
            now,
            Some(UserId::new(1)),
            "log_incident",
            "INC-1",
            &Phrase::new("logged it"),
        )
        .await
        .unwrap();
        append(&mut tx, now, None, "sla_warning", "INC-1", &Phrase::new("warned: 50%"))
            .await
            .unwrap();
        // A row written before phrases (as migration 0009 left them).
        sqlx::query("INSERT INTO audit (at, actor, action, subject, details) VALUES ($1, 1, 'assign_incident', 'INC-1', 'assignee=sam')")
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await
            .unwrap();
        let rows = for_subject(&mut tx, "INC-1", 10).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].action, "log_incident");
        assert_eq!(rows[0].actor_name.as_deref(), Some("sam"));
        assert_eq!(rows[0].details, Details::Phrase(Phrase::new("logged it")));
        assert_eq!((rows[1].actor, rows[1].actor_name.as_deref()), (None, None));
        assert_eq!(rows[2].details, Details::Legacy("assignee=sam".into()));
        let latest = for_subject(&mut tx, "INC-1", 2).await.unwrap();
        assert_eq!(
            latest.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
            ["sla_warning", "assign_incident"]
        );
        let second = page(&mut tx, "INC-1", 1, 1).await.unwrap();
        assert_eq!(second[0].action, "sla_warning");
        assert!(page(&mut tx, "INC-1", 3, 5).await.unwrap().is_empty());
        assert_eq!(count_for(&mut tx, "INC-1").await.unwrap(), 3);
        let update = sqlx::query("UPDATE audit SET details = 'x'").execute(&mut *tx).await;
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = sqlx::query("DELETE FROM audit").execute(&mut *tx).await;
        assert!(delete.is_err());
    }
}
