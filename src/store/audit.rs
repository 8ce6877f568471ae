//! The append-only audit log: who did what, when, to which record.

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::audit::AuditEntry;
use crate::domain::UserId;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct Row {
    at: i64,
    actor: Option<i64>,
    action: String,
    subject: String,
    details: String,
}

impl TryFrom<Row> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        Ok(AuditEntry {
            at: from_ms("audit", r.at)?,
            actor: r.actor.map(|a| UserId::new(a as u64)),
            action: r.action,
            subject: r.subject,
            details: r.details,
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
    details: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO audit (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)")
        .bind(to_ms(at))
        .bind(actor.map(|a| a.get() as i64))
        .bind(action)
        .bind(subject)
        .bind(details)
        .execute(conn)
        .await?;
    Ok(())
}

/// The history of one record, oldest first.
pub async fn for_subject(conn: &mut Conn, subject: &str, limit: u32) -> Result<Vec<AuditEntry>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT at, actor, action, subject, details FROM
           (SELECT id, at, actor, action, subject, details FROM audit WHERE subject = ? ORDER BY id DESC LIMIT ?)
         ORDER BY id",
    )
    .bind(subject)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(AuditEntry::try_from).collect()
}

/// How many audit rows mention `subject` (tests, proofs).
pub async fn count_for(conn: &mut Conn, subject: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit WHERE subject = ?")
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
    async fn audit_rows_are_appended_read_back_and_cannot_be_changed() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = Utc::now();
        append(&mut tx, now, Some(UserId::new(1)), "log_incident", "INC-1", "P3")
            .await
            .unwrap();
        append(&mut tx, now, None, "sla_warning", "INC-1", "50%").await.unwrap();
        let rows = for_subject(&mut tx, "INC-1", 10).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].action, "log_incident");
        assert_eq!(rows[1].actor, None);
        assert_eq!(count_for(&mut tx, "INC-1").await.unwrap(), 2);
        let update = sqlx::query("UPDATE audit SET details = 'x'").execute(&mut *tx).await;
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = sqlx::query("DELETE FROM audit").execute(&mut *tx).await;
        assert!(delete.is_err());
    }
}
