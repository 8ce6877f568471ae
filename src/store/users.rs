//! Display names of the users the desk has seen.

use super::{to_ms, Conn, Result};
use crate::domain::UserId;
use chrono::{DateTime, Utc};

/// Remembers a user's current display name.
pub async fn upsert(conn: &mut Conn, id: UserId, name: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, display_name, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, updated_at = excluded.updated_at
         WHERE users.display_name <> excluded.display_name",
    )
    .bind(id.get() as i64)
    .bind(name)
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The display name of a user, if seen.
pub async fn name(conn: &mut Conn, id: UserId) -> Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT display_name FROM users WHERE id = $1")
        .bind(id.get() as i64)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

/// Finds a user by display name (any case).
pub async fn by_name(conn: &mut Conn, name: &str) -> Result<Option<UserId>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM users WHERE lower(display_name) = lower($1) ORDER BY updated_at DESC LIMIT 1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| UserId::new(r.0 as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn users_are_found_by_id_and_by_name() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        upsert(&mut tx, UserId::new(7), "alice", Utc::now()).await.unwrap();
        upsert(&mut tx, UserId::new(7), "Alice B", Utc::now()).await.unwrap();
        assert_eq!(name(&mut tx, UserId::new(7)).await.unwrap().as_deref(), Some("Alice B"));
        assert_eq!(by_name(&mut tx, "alice b").await.unwrap(), Some(UserId::new(7)));
        assert_eq!(by_name(&mut tx, "nobody").await.unwrap(), None);
        tx.commit().await.unwrap();
    }
}
