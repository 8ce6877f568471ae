//! Where each record's card was posted (platform ids), so it can be edited in
//! place, its thread found, and reactions on it traced back to the record.
//! A card that followed its record to another channel keeps the post it left
//! behind as its previous post, until that post is edited into a pointer.

use super::{Conn, Result};

/// A delivered card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRef {
    pub subject: String,
    pub channel_id: String,
    pub message_id: String,
    pub thread_id: Option<String>,
    /// The post the card left behind when it moved, as (channel id, message id).
    pub previous: Option<(String, String)>,
}

type Row = (String, String, String, Option<String>, Option<String>, Option<String>);

fn card_of((subject, channel_id, message_id, thread_id, previous_channel, previous_message): Row) -> CardRef {
    CardRef {
        subject,
        channel_id,
        message_id,
        thread_id,
        previous: previous_channel.zip(previous_message),
    }
}

const COLUMNS: &str = "subject, channel_id, message_id, thread_id, previous_channel_id, previous_message_id";

/// Records the card of a subject where it was posted or edited (its
/// previous post, if any, is kept).
pub async fn save(conn: &mut Conn, card: &CardRef) -> Result<()> {
    sqlx::query(
        "INSERT INTO cards (subject, channel_id, message_id, thread_id) VALUES ($1, $2, $3, $4)
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

/// Records a card posted anew (`card.channel_id`, `card.message_id`) that
/// leaves `card.previous` behind, or nothing behind when `None`. The thread
/// stays where it is when `card.thread_id` is `None`.
pub async fn moved(conn: &mut Conn, card: &CardRef) -> Result<()> {
    let (previous_channel, previous_message) = card.previous.clone().unzip();
    sqlx::query(
        "INSERT INTO cards (subject, channel_id, message_id, thread_id, previous_channel_id, previous_message_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (subject) DO UPDATE SET channel_id = excluded.channel_id, message_id = excluded.message_id,
                                             thread_id = COALESCE(excluded.thread_id, cards.thread_id),
                                             previous_channel_id = excluded.previous_channel_id,
                                             previous_message_id = excluded.previous_message_id",
    )
    .bind(&card.subject)
    .bind(&card.channel_id)
    .bind(&card.message_id)
    .bind(&card.thread_id)
    .bind(previous_channel)
    .bind(previous_message)
    .execute(conn)
    .await?;
    Ok(())
}

/// The card of a subject.
pub async fn by_subject(conn: &mut Conn, subject: &str) -> Result<Option<CardRef>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM cards WHERE subject = $1"))
        .bind(subject)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(card_of))
}

/// The card whose thread is the platform channel `thread_id`, if any.
pub async fn by_thread(conn: &mut Conn, thread_id: &str) -> Result<Option<CardRef>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM cards WHERE thread_id = $1"))
        .bind(thread_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(card_of))
}

/// The card posted as a platform message (a reaction's target), if any: its
/// current post or its thread, never a post it left behind.
pub async fn by_message(conn: &mut Conn, message_id: &str) -> Result<Option<CardRef>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cards WHERE message_id = $1 OR thread_id = $2 LIMIT 1"
    ))
    .bind(message_id)
    .bind(message_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(card_of))
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
            previous: None,
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

    #[tokio::test]
    async fn a_moved_card_keeps_its_thread_and_the_post_it_left_until_an_edit_in_place() {
        let (store, _dir) = temp_store().await;
        let mut conn = store.write().await.unwrap();
        let first = CardRef {
            subject: "INC-1".into(),
            channel_id: "10".into(),
            message_id: "11".into(),
            thread_id: Some("12".into()),
            previous: None,
        };
        save(&mut conn, &first).await.unwrap();
        let moved_card = CardRef {
            channel_id: "20".into(),
            message_id: "21".into(),
            thread_id: None,
            previous: Some(("10".into(), "11".into())),
            ..first.clone()
        };
        moved(&mut conn, &moved_card).await.unwrap();
        let got = by_subject(&mut conn, "INC-1").await.unwrap().unwrap();
        assert_eq!(
            (got.message_id.as_str(), got.thread_id.as_deref(), got.previous.clone()),
            ("21", Some("12"), Some(("10".to_owned(), "11".to_owned())))
        );
        // Reactions find the card on its new post and in its thread, not on the old post.
        assert_eq!(by_message(&mut conn, "21").await.unwrap(), Some(got.clone()));
        assert_eq!(by_message(&mut conn, "12").await.unwrap(), Some(got.clone()));
        assert_eq!(by_message(&mut conn, "11").await.unwrap(), None);
        // An edit in place keeps what was left behind (its pointer may still be due).
        save(&mut conn, &CardRef { previous: None, ..got }).await.unwrap();
        let kept = by_subject(&mut conn, "INC-1").await.unwrap().unwrap();
        assert_eq!(kept.previous, Some(("10".to_owned(), "11".to_owned())));
    }
}
