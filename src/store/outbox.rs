//! The durable outbox: messages committed with the action that caused them,
//! delivered afterwards by the dispatcher.

use super::{to_ms, Conn, Result, StoreError};
use crate::message::{Destination, OutKind, OutMessage, Outgoing};
use chrono::{DateTime, Utc};

/// A row waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub kind: OutKind,
    pub subject: Option<String>,
    pub destination: Destination,
    pub message: OutMessage,
    pub attempts: i64,
}

/// Queues messages; part of the action's transaction.
pub async fn enqueue(conn: &mut Conn, items: &[Outgoing], now: DateTime<Utc>) -> Result<()> {
    for item in items {
        enqueue_one(conn, item, now).await?;
    }
    Ok(())
}

/// Queues one message and returns its outbox id (so a record can point at the
/// row that carries it); part of the action's transaction.
pub async fn enqueue_one(conn: &mut Conn, item: &Outgoing, now: DateTime<Utc>) -> Result<i64> {
    let destination = serde_json::to_string(&item.destination).map_err(json_err)?;
    let payload = serde_json::to_string(&item.message).map_err(json_err)?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO outbox (created_at, kind, subject, destination, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)
         RETURNING id",
    )
    .bind(to_ms(now))
    .bind(item.kind.as_str())
    .bind(&item.subject)
    .bind(destination)
    .bind(payload)
    .bind(to_ms(now))
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        table: "outbox",
        detail: e.to_string(),
    }
}

/// Rows due for an attempt at `now`, oldest first.
pub async fn due(conn: &mut Conn, now: DateTime<Utc>, limit: u32) -> Result<Vec<Pending>> {
    let rows: Vec<(i64, String, Option<String>, String, String, i64)> = sqlx::query_as(
        "SELECT id, kind, subject, destination, payload, attempts FROM outbox
          WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
          ORDER BY id LIMIT ?",
    )
    .bind(to_ms(now))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, kind, subject, destination, payload, attempts)| {
            Ok(Pending {
                id,
                kind: OutKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                    table: "outbox",
                    detail: kind,
                })?,
                subject,
                destination: serde_json::from_str(&destination).map_err(json_err)?,
                message: serde_json::from_str(&payload).map_err(json_err)?,
                attempts,
            })
        })
        .collect()
}

/// When the next undelivered row falls due, if any.
pub async fn next_due(conn: &mut Conn) -> Result<Option<i64>> {
    let (t,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL")
            .fetch_one(conn)
            .await?;
    Ok(t)
}

/// Marks a row delivered with the platform's message id.
pub async fn mark_delivered(conn: &mut Conn, id: i64, message_id: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE outbox SET delivered_at = ?, platform_message_id = ?, attempts = attempts + 1 WHERE id = ?")
        .bind(to_ms(now))
        .bind(message_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn mark_retry(conn: &mut Conn, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?")
        .bind(error)
        .bind(to_ms(next))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives up on a row that can never be delivered (e.g. the user's DMs are closed).
pub async fn mark_failed(conn: &mut Conn, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?, failed_at = ? WHERE id = ?")
        .bind(error)
        .bind(to_ms(now))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts of rows by delivery state: (pending, delivered, failed).
pub async fn counts(conn: &mut Conn) -> Result<(i64, i64, i64)> {
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(delivered_at IS NULL AND failed_at IS NULL), 0),
                COALESCE(SUM(delivered_at IS NOT NULL), 0),
                COALESCE(SUM(failed_at IS NOT NULL), 0) FROM outbox",
    )
    .fetch_one(conn)
    .await?;
    Ok(row)
}

/// The highest numeric platform message id recorded (console ids continue from it).
pub async fn max_numeric_message_id(conn: &mut Conn) -> Result<u64> {
    let (n,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(CAST(platform_message_id AS INTEGER)) FROM outbox WHERE platform_message_id GLOB '[0-9]*'",
    )
    .fetch_one(conn)
    .await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RoleKey;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn queued_rows_come_due_retry_and_are_delivered_once() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let mut tx = store.begin().await.unwrap();
        let role = RoleKey::parse("service_desk").unwrap();
        let items = vec![
            Outgoing::card(
                "INC-1",
                Destination::RoleChannel(role.clone()),
                OutMessage::text("card"),
            ),
            Outgoing::post(
                Destination::Thread("INC-1".into()),
                OutMessage::text("note").pinging_roles([role]),
            ),
        ];
        enqueue(&mut tx, &items, now).await.unwrap();
        tx.commit().await.unwrap();

        let mut conn = store.write().await.unwrap();
        let due_now = due(&mut conn, now, 10).await.unwrap();
        assert_eq!(due_now.len(), 2);
        assert_eq!(due_now[0].kind, OutKind::Card);
        assert_eq!(due_now[1].message, items[1].message);
        assert_eq!(due_now[1].destination, items[1].destination);

        let later = now + chrono::TimeDelta::seconds(5);
        mark_retry(&mut conn, due_now[0].id, "500", later).await.unwrap();
        mark_delivered(&mut conn, due_now[1].id, "42", now).await.unwrap();
        assert!(due(&mut conn, now, 10).await.unwrap().is_empty());
        assert_eq!(next_due(&mut conn).await.unwrap(), Some(to_ms(later)));
        let again = due(&mut conn, later, 10).await.unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        mark_failed(&mut conn, again[0].id, "gone", later).await.unwrap();
        assert_eq!(counts(&mut conn).await.unwrap(), (0, 1, 1));
        assert_eq!(max_numeric_message_id(&mut conn).await.unwrap(), 42);
        assert_eq!(next_due(&mut conn).await.unwrap(), None);
    }
}
