//! Where each record's card was posted (platform ids), so it can be edited in
//! place, its thread found, and reactions on it traced back to the record.

use super::{Conn, Result};

/// A delivered card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRef {
    pub subject: String,
    pub channel_id: String,
    pub message_id: String,
    pub thread_id: Option<String>,
}

/// Records (or moves) the card of a subject.
pub async fn save(conn: &mut Conn, card: &CardRef) -> Result<()> {
    sqlx::query(
        "INSERT INTO cards (subject, channel_id, message_id, thread_id) VALUES (?, ?, ?, ?)
         ON CONFLICT (subject) DO UPDATE SET channel_id = excluded.channel_id, message_id = excluded.message_id,
                                             thread_id = COALESCE(excluded.thread_id, cards.thread_id)",
    )
    .bind(&card.subject)
    .bind(&card.channel_id)
    .bind(&card.message_id)
    .bind(&card.thread_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The card of a subject.
pub async fn by_subject(conn: &mut Conn, subject: &str) -> Result<Option<CardRef>> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT subject, channel_id, message_id, thread_id FROM cards WHERE subject = ?")
            .bind(subject)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(subject, channel_id, message_id, thread_id)| CardRef {
        subject,
        channel_id,
        message_id,
        thread_id,
    }))
}

/// The card whose thread is the platform channel `thread_id`, if any.
pub async fn by_thread(conn: &mut Conn, thread_id: &str) -> Result<Option<CardRef>> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT subject, channel_id, message_id, thread_id FROM cards WHERE thread_id = ?")
            .bind(thread_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(subject, channel_id, message_id, thread_id)| CardRef {
        subject,
        channel_id,
        message_id,
        thread_id,
    }))
}

/// The card posted as a platform message (a reaction's target), if any.
pub async fn by_message(conn: &mut Conn, message_id: &str) -> Result<Option<CardRef>> {
    let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT subject, channel_id, message_id, thread_id FROM cards WHERE message_id = ? OR thread_id = ? LIMIT 1",
    )
    .bind(message_id)
    .bind(message_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(subject, channel_id, message_id, thread_id)| CardRef {
        subject,
        channel_id,
        message_id,
        thread_id,
    }))
}

/// Cards whose reactions can still change something, as (channel id, message
/// id): vote cards of open votes, and cards of incidents nobody has claimed.
/// Read back after downtime, when Discord did not replay what happened.
pub async fn awaiting_reactions(conn: &mut Conn) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let votes: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.channel_id, c.message_id FROM cards c JOIN cab_votes v ON c.subject = 'CHG-' || v.change_id
          WHERE v.status = 'open' ORDER BY v.change_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let unclaimed: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.channel_id, c.message_id FROM cards c JOIN incidents i ON c.subject = 'INC-' || i.id
          WHERE i.assignee IS NULL AND i.state = 'new' ORDER BY i.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((votes, unclaimed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn a_card_is_found_by_subject_and_by_message_and_keeps_its_thread() {
        let (store, _dir) = temp_store().await;
        let mut conn = store.write().await.unwrap();
        let card = CardRef {
            subject: "INC-1".into(),
            channel_id: "10".into(),
            message_id: "11".into(),
            thread_id: Some("12".into()),
        };
        save(&mut conn, &card).await.unwrap();
        assert_eq!(by_subject(&mut conn, "INC-1").await.unwrap(), Some(card.clone()));
        assert_eq!(by_message(&mut conn, "11").await.unwrap(), Some(card.clone()));
        assert_eq!(by_message(&mut conn, "12").await.unwrap(), Some(card.clone()));
        let moved = CardRef {
            message_id: "13".into(),
            thread_id: None,
            ..card
        };
        save(&mut conn, &moved).await.unwrap();
        let got = by_subject(&mut conn, "INC-1").await.unwrap().unwrap();
        assert_eq!((got.message_id.as_str(), got.thread_id.as_deref()), ("13", Some("12")));
        assert_eq!(by_message(&mut conn, "99").await.unwrap(), None);
    }
}
