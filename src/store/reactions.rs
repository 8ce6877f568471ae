//! Whether a user's reaction is on a message, and how often it flipped.
//!
//! A chat platform names a reaction event only by message, user, emoji and
//! add/remove, so "add, remove, add again" repeats the first event's name.
//! Instead of trusting that name, a reaction event counts when it changes
//! this stored state; each change bumps a generation, which makes the
//! event's identity (`message:user:emoji:generation`). A replayed event finds
//! the state already as it says and changes nothing.

use super::{Conn, Result};
use crate::domain::UserId;

/// Records that `user`'s `emoji` is now on (`present`) or off `message`.
/// Returns the new generation when that changed the state, `None` when the
/// state already was so (a replay).
pub async fn flip(conn: &mut Conn, message: &str, user: UserId, emoji: &str, present: bool) -> Result<Option<i64>> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT present, generation FROM reaction_state WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
    )
    .bind(message)
    .bind(user.get() as i64)
    .bind(emoji)
    .fetch_optional(&mut *conn)
    .await?;
    let generation = match row {
        // Never seen: a removal of a reaction we never saw added changes nothing.
        None if !present => return Ok(None),
        None => 1,
        Some((was, _)) if (was == 1) == present => return Ok(None),
        Some((_, g)) => g + 1,
    };
    sqlx::query(
        "INSERT INTO reaction_state (message_id, user_id, emoji, present, generation) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (message_id, user_id, emoji) DO UPDATE SET present = excluded.present,
                                                              generation = excluded.generation",
    )
    .bind(message)
    .bind(user.get() as i64)
    .bind(emoji)
    .bind(i64::from(present))
    .bind(generation)
    .execute(conn)
    .await?;
    Ok(Some(generation))
}

/// Who has `emoji` on `message`, as recorded.
pub async fn present(conn: &mut Conn, message: &str, emoji: &str) -> Result<Vec<UserId>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM reaction_state WHERE message_id = $1 AND emoji = $2 AND present = 1 ORDER BY user_id",
    )
    .bind(message)
    .bind(emoji)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(u,)| UserId::new(u as u64)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn a_reaction_counts_when_it_changes_state_so_replays_do_not_but_re_adding_does() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let u = UserId::new(5);
        assert_eq!(flip(&mut tx, "m1", u, "✅", false).await.unwrap(), None);
        assert_eq!(flip(&mut tx, "m1", u, "✅", true).await.unwrap(), Some(1));
        assert_eq!(flip(&mut tx, "m1", u, "✅", true).await.unwrap(), None);
        assert_eq!(flip(&mut tx, "m1", u, "✅", false).await.unwrap(), Some(2));
        assert_eq!(present(&mut tx, "m1", "✅").await.unwrap(), vec![]);
        flip(&mut tx, "m1", UserId::new(9), "✅", true).await.unwrap();
        flip(&mut tx, "m1", UserId::new(7), "❌", true).await.unwrap();
        assert_eq!(present(&mut tx, "m1", "✅").await.unwrap(), vec![UserId::new(9)]);
        assert_eq!(flip(&mut tx, "m1", u, "✅", false).await.unwrap(), None);
        assert_eq!(flip(&mut tx, "m1", u, "✅", true).await.unwrap(), Some(3));
        // Other emoji, users and messages have their own state.
        assert_eq!(flip(&mut tx, "m1", u, "❌", true).await.unwrap(), Some(1));
        assert_eq!(flip(&mut tx, "m1", UserId::new(6), "✅", true).await.unwrap(), Some(1));
        assert_eq!(flip(&mut tx, "m2", u, "✅", true).await.unwrap(), Some(1));
    }
}
