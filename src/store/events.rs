//! Inbound event identities, so a replayed event changes nothing.

use super::{to_ms, Conn, Result};
use chrono::{DateTime, Utc};

/// Records `key`; false when it was already recorded (a replay).
pub async fn claim(conn: &mut Conn, key: &str, now: DateTime<Utc>) -> Result<bool> {
    let done =
        sqlx::query("INSERT INTO inbound_events (key, received_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(to_ms(now))
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn an_event_key_is_claimed_once() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        assert!(claim(&mut tx, "discord:msg:1", Utc::now()).await.unwrap());
        assert!(!claim(&mut tx, "discord:msg:1", Utc::now()).await.unwrap());
        tx.commit().await.unwrap();
    }
}
