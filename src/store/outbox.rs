//! The durable outbox: messages committed with the action that caused them,
//! delivered afterwards by the dispatcher.
//!
//! A message's JSON goes in `payload`; the bytes of its file, if it has one
//! (`message::Attachment`), in `attachment` (migration 0018), until it is
//! delivered.
//!
//! Each row has a delivery `queue` (its destination's, `Destination::queue`)
//! and a `lane` (`message::Lane`, migration 0021): the dispatcher delivers
//! every queue on its own, a queue's rows by lane, then by id. An urgent row
//! raises the pending rows of its subject to its lane as it is queued, so
//! the record's earlier messages, which it waits for, do not hold it back.

use super::{to_ms, Conn, Result, StoreError};
use crate::message::{Destination, Lane, OutKind, OutMessage, Outgoing};
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
    /// When it was queued (the give-up clock starts here).
    pub created_at: DateTime<Utc>,
    /// Why the last attempt failed, if one did (a failure is logged when it changes).
    pub last_error: Option<String>,
    /// Its delivery queue (`Destination::queue` when it was queued).
    pub queue: String,
}

/// Queues messages; part of the action's transaction.
pub async fn enqueue(conn: &mut Conn, items: &[Outgoing], now: DateTime<Utc>) -> Result<()> {
    // One statement per 100 rows: rows keep their order (ids ascend as listed).
    for chunk in items.chunks(100) {
        let rows = chunk
            .iter()
            .map(|item| encoded(item).map(|(destination, payload)| (item, destination, payload)))
            .collect::<Result<Vec<_>>>()?;
        raise_subjects(conn, chunk).await?;
        let mut insert = super::Sql::new(
            "INSERT INTO outbox (created_at, kind, subject, destination, payload, attachment, next_attempt_at, lane, queue) ",
        );
        insert.push_values(rows, |mut row, (item, destination, payload)| {
            row.push_bind(to_ms(now))
                .push_bind(item.kind.as_str())
                .push_bind(item.subject.as_deref())
                .push_bind(destination)
                .push_bind(payload)
                .push_bind(attachment(item))
                .push_bind(to_ms(now))
                .push_bind(item.lane.level())
                .push_bind(item.destination.queue());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Raises the pending rows of each subject an urgent item is about to the
/// urgent lane: the item waits for them, so they go first in their queues.
async fn raise_subjects(conn: &mut Conn, items: &[Outgoing]) -> Result<()> {
    let mut raised: Vec<&str> = Vec::new();
    for item in items.iter().filter(|i| i.lane == Lane::Urgent) {
        let Some(subject) = item.subject.as_deref() else {
            continue;
        };
        if raised.contains(&subject) {
            continue;
        }
        raised.push(subject);
        sqlx::query(
            "UPDATE outbox SET lane = $1
              WHERE subject = $2 AND lane > $1 AND delivered_at IS NULL AND failed_at IS NULL",
        )
        .bind(Lane::Urgent.level())
        .bind(subject)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Queues one message and returns its outbox id (so a record can point at the
/// row that carries it); part of the action's transaction.
pub async fn enqueue_one(conn: &mut Conn, item: &Outgoing, now: DateTime<Utc>) -> Result<i64> {
    let (destination, payload) = encoded(item)?;
    raise_subjects(conn, std::slice::from_ref(item)).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO outbox (created_at, kind, subject, destination, payload, attachment, next_attempt_at, lane, queue)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING id",
    )
    .bind(to_ms(now))
    .bind(item.kind.as_str())
    .bind(&item.subject)
    .bind(destination)
    .bind(payload)
    .bind(attachment(item))
    .bind(to_ms(now))
    .bind(item.lane.level())
    .bind(item.destination.queue())
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// A message's destination and payload columns, as JSON.
fn encoded(item: &Outgoing) -> Result<(String, String)> {
    let destination = serde_json::to_string(&item.destination).map_err(json_err)?;
    let payload = serde_json::to_string(&item.message).map_err(json_err)?;
    Ok((destination, payload))
}

/// The bytes of a message's file, for the `attachment` column.
fn attachment(item: &Outgoing) -> Option<&[u8]> {
    item.message.attachment.as_ref().map(|a| a.bytes.as_slice())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        table: "outbox",
        detail: e.to_string(),
    }
}

/// Undelivered rows that may be tried: a row waits while an earlier row of its
/// subject is undelivered (its retry may be minutes away), so the messages of
/// one subject arrive in order: a card's edits after the card, a subscriber's
/// update after the declaration.
///
/// A blocked row (see [`mark_blocked`]) is not tried until it is unblocked,
/// and holds back only the cards of its subject (a card's edits never
/// overtake it); the rest of its subject goes on, so a card that cannot be
/// posted does not silence its record (the dispatcher delivers what waits on
/// the card's thread without it).
const READY: &str = "o.delivered_at IS NULL AND o.failed_at IS NULL AND o.blocked_at IS NULL
    AND (o.subject IS NULL OR NOT EXISTS (
        SELECT 1 FROM outbox e
         WHERE e.delivered_at IS NULL AND e.failed_at IS NULL
           AND e.subject = o.subject AND e.id < o.id
           AND (e.blocked_at IS NULL OR (e.kind = 'card' AND o.kind = 'card'))))";

/// The columns [`pending`] reads, in its order.
const PENDING: &str =
    "o.id, o.kind, o.subject, o.destination, o.payload, o.attempts, o.created_at, o.last_error, o.attachment, o.queue";

#[allow(clippy::type_complexity)]
type PendingRow = (
    i64,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<Vec<u8>>,
    String,
);

/// Rows due for an attempt at `now`, by lane then oldest first, at most one
/// per subject, whatever their queue.
pub async fn due(conn: &mut Conn, now: DateTime<Utc>, limit: u32) -> Result<Vec<Pending>> {
    let rows: Vec<PendingRow> = sqlx::query_as(&format!(
        "SELECT {PENDING} FROM outbox o
          WHERE {READY} AND o.next_attempt_at <= $1
          ORDER BY o.lane, o.id LIMIT $2"
    ))
    .bind(to_ms(now))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(pending).collect()
}

/// The rows of `queue` due at `now`, by lane then oldest first, at most one per subject.
pub async fn due_in(conn: &mut Conn, queue: &str, now: DateTime<Utc>, limit: u32) -> Result<Vec<Pending>> {
    let rows: Vec<PendingRow> = sqlx::query_as(&format!(
        "SELECT {PENDING} FROM outbox o
          WHERE o.queue = $1 AND {READY} AND o.next_attempt_at <= $2
          ORDER BY o.lane, o.id LIMIT $3"
    ))
    .bind(queue)
    .bind(to_ms(now))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(pending).collect()
}

/// The queues with a row due at `now`, the most urgent first (by the lane,
/// then the id, of the first row each would deliver).
pub async fn due_queues(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<String>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT o.queue, MIN(o.lane) AS lane, MIN(o.id) AS first FROM outbox o
          WHERE {READY} AND o.next_attempt_at <= $1
          GROUP BY o.queue ORDER BY lane, first"
    ))
    .bind(to_ms(now))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(queue, _, _)| queue).collect())
}

fn pending(row: PendingRow) -> Result<Pending> {
    let (id, kind, subject, destination, payload, attempts, created_at, last_error, file, queue) = row;
    let mut message: OutMessage = serde_json::from_str(&payload).map_err(json_err)?;
    if let Some(a) = message.attachment.as_mut() {
        a.bytes = file.ok_or_else(|| StoreError::Corrupt {
            table: "outbox",
            detail: format!("row {id} names the file {} but holds no bytes", a.name),
        })?;
    }
    Ok(Pending {
        id,
        kind: OutKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
            table: "outbox",
            detail: kind,
        })?,
        subject,
        destination: serde_json::from_str(&destination).map_err(json_err)?,
        message,
        attempts,
        created_at: super::from_ms("outbox", created_at)?,
        last_error,
        queue,
    })
}

/// When the next undelivered row falls due, if any (a row waiting for an
/// earlier row of its subject comes due after that one).
pub async fn next_due(conn: &mut Conn) -> Result<Option<i64>> {
    let (t,): (Option<i64>,) = sqlx::query_as(&format!("SELECT MIN(o.next_attempt_at) FROM outbox o WHERE {READY}"))
        .fetch_one(conn)
        .await?;
    Ok(t)
}

/// Marks a row delivered with the platform's message id (once: a row already
/// marked keeps its first mark), and lets go of its file's bytes: the platform
/// has them now.
pub async fn mark_delivered(conn: &mut Conn, id: i64, message_id: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET delivered_at = $1, platform_message_id = $2, attempts = attempts + 1, attachment = NULL
          WHERE id = $3 AND delivered_at IS NULL",
    )
    .bind(to_ms(now))
    .bind(message_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn mark_retry(conn: &mut Conn, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3")
        .bind(error)
        .bind(to_ms(next))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Parks a row that cannot be delivered until something changes on the
/// platform (a permission, a channel): not tried again on a timer, but by
/// [`unblock_all`] when the platform changes or the bot starts.
pub async fn mark_blocked(conn: &mut Conn, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, blocked_at = $2 WHERE id = $3")
        .bind(error)
        .bind(to_ms(now))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes every blocked row due now (its cause may have cleared); returns how many.
pub async fn unblock_all(conn: &mut Conn, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE outbox SET blocked_at = NULL, next_attempt_at = $1
          WHERE blocked_at IS NOT NULL AND delivered_at IS NULL AND failed_at IS NULL",
    )
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Dead-letters a row that kept failing for the give-up time: out of
/// delivery for good, its last reason kept.
pub async fn mark_dead(conn: &mut Conn, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, failed_at = $2, dead_at = $3, blocked_at = NULL
          WHERE id = $4 AND delivered_at IS NULL",
    )
    .bind(error)
    .bind(to_ms(now))
    .bind(to_ms(now))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Dead-letters the blocked rows queued before `cutoff` (they are never due,
/// so no attempt would find them); returns (id, last error) of each.
pub async fn expire_blocked(
    conn: &mut Conn,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, Option<String>)>> {
    let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
        "UPDATE outbox SET failed_at = $1, dead_at = $2, blocked_at = NULL
          WHERE blocked_at IS NOT NULL AND delivered_at IS NULL AND failed_at IS NULL AND created_at <= $3
          RETURNING id, last_error",
    )
    .bind(to_ms(now))
    .bind(to_ms(now))
    .bind(to_ms(cutoff))
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// Why the card of `subject` is not on the platform, when its first
/// undelivered card row (the one the others wait for) is blocked or failed: what waits on the card's thread
/// is then delivered without it.
pub async fn card_trouble(conn: &mut Conn, subject: &str) -> Result<Option<String>> {
    let row: Option<(super::Flag, Option<String>)> = sqlx::query_as(
        "SELECT blocked_at IS NOT NULL OR failed_at IS NOT NULL, last_error FROM outbox
          WHERE subject = $1 AND kind = 'card' AND delivered_at IS NULL ORDER BY id LIMIT 1",
    )
    .bind(subject)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((super::Flag(true), why)) => Some(why.unwrap_or_default()),
        _ => None,
    })
}

/// Marks a row delivered some other way than it was addressed (by direct
/// message while its card's thread cannot be had), saying how in `last_error`.
pub async fn mark_delivered_instead(
    conn: &mut Conn,
    id: i64,
    message_id: &str,
    how: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET delivered_at = $1, platform_message_id = $2, attempts = attempts + 1, last_error = $3,
                blocked_at = NULL
          WHERE id = $4 AND delivered_at IS NULL",
    )
    .bind(to_ms(now))
    .bind(message_id)
    .bind(how)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Why a row was given up on (the `failure` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The platform can never deliver it (an unknown channel, a refused body).
    Permanent,
    /// Its recipient cannot be reached (their DMs are closed to the bot).
    Unreachable,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Unreachable => "unreachable",
        }
    }
}

/// Gives up on a row that can never be delivered, saying why (`failure`) and
/// in the platform's words (`error`).
pub async fn mark_failed(conn: &mut Conn, id: i64, failure: Failure, error: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, failure = $2, failed_at = $3 WHERE id = $4",
    )
    .bind(error)
    .bind(failure.as_str())
    .bind(to_ms(now))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts of rows by delivery state: (pending, delivered, failed).
pub async fn counts(conn: &mut Conn) -> Result<(i64, i64, i64)> {
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND failed_at IS NULL),
                COUNT(*) FILTER (WHERE delivered_at IS NOT NULL),
                COUNT(*) FILTER (WHERE failed_at IS NOT NULL) FROM outbox",
    )
    .fetch_one(conn)
    .await?;
    Ok(row)
}

/// The highest numeric platform message id recorded (console ids continue from it).
pub async fn max_numeric_message_id(conn: &mut Conn) -> Result<u64> {
    let (n,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(CAST(platform_message_id AS BIGINT)) FROM outbox
          WHERE platform_message_id <> '' AND TRIM(platform_message_id, '0123456789') = ''",
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
    async fn a_file_is_kept_beside_its_message_until_the_message_is_delivered() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let png = vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255];
        let with_file = Outgoing::post(
            Destination::Channel("general".into()),
            OutMessage::text("").with_card_image("report.png", png.clone()),
        );
        let plain = Outgoing::post(Destination::Channel("general".into()), OutMessage::text("hello"));
        let mut tx = store.begin().await.unwrap();
        enqueue(&mut tx, &[with_file.clone(), plain], now).await.unwrap();
        let one = enqueue_one(&mut tx, &with_file, now).await.unwrap();
        tx.commit().await.unwrap();

        let mut conn = store.write().await.unwrap();
        let rows = due(&mut conn, now, 10).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].message, with_file.message, "the bytes come back with the name");
        assert_eq!(rows[0].message.attachment.as_ref().unwrap().bytes, png);
        assert_eq!(rows[1].message.attachment, None);
        assert_eq!(rows[2].id, one);
        assert_eq!(rows[2].message, with_file.message);
        // The JSON names the file but does not hold its bytes.
        let (payload,): (String,) = sqlx::query_as("SELECT payload FROM outbox WHERE id = $1")
            .bind(rows[0].id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert!(
            payload.contains("\"report.png\"") && !payload.contains("bytes"),
            "{payload}"
        );

        mark_delivered(&mut conn, rows[0].id, "m1", now).await.unwrap();
        let kept: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as("SELECT id, attachment FROM outbox ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(
            kept,
            vec![(rows[0].id, None), (rows[1].id, None), (one, Some(png))],
            "a delivered row lets go of its file; an undelivered one keeps it"
        );
    }

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
        mark_failed(&mut conn, again[0].id, Failure::Permanent, "gone", later)
            .await
            .unwrap();
        assert_eq!(counts(&mut conn).await.unwrap(), (0, 1, 1));
        assert_eq!(max_numeric_message_id(&mut conn).await.unwrap(), 42);
        assert_eq!(next_due(&mut conn).await.unwrap(), None);
    }

    #[tokio::test]
    async fn rows_given_up_on_before_the_failure_column_are_typed_from_their_error_text() {
        use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
        use std::str::FromStr;

        // A database as migration 0007 left it, with rows failed the old way.
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("migrations-0001-0007");
        std::fs::create_dir(&before).unwrap();
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.as_str() < "0008" {
                std::fs::copy(&path, before.join(name)).unwrap();
            }
        }
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let options = SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let pool = SqlitePoolOptions::new().connect_with(options).await.unwrap();
        let old = sqlx::migrate::Migrator::new(before.as_path()).await.unwrap();
        assert_eq!(old.iter().count(), 7);
        old.run(&pool).await.unwrap();
        let rows = [
            (1, Some(5), Some("dms closed (50007)")),
            (2, Some(5), Some("HTTP 404 code 10003: Unknown Channel")),
            (3, None, Some("HTTP 500: try again")),
            (4, None, None),
        ];
        for (id, failed_at, error) in rows {
            sqlx::query(
                "INSERT INTO outbox (id, created_at, kind, destination, payload, next_attempt_at, failed_at, last_error)
                 VALUES ($1, 0, 'post', '{}', '{}', 0, $2, $3)",
            )
            .bind(id)
            .bind(failed_at)
            .bind(error)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        let store = super::super::Store::open(&url).await.unwrap();
        let typed = crate::store::testing::texts(
            &store,
            "SELECT id || ' ' || COALESCE(failure, '-') FROM outbox ORDER BY id",
        )
        .await;
        assert_eq!(typed, ["1 unreachable", "2 permanent", "3 -", "4 -"]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_row_waits_while_an_earlier_row_of_its_subject_is_undelivered() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let mut tx = store.begin().await.unwrap();
        let dm = |user: u64, text: &str| {
            Outgoing::post(
                Destination::Dm(crate::domain::UserId::new(user)),
                OutMessage::text(text),
            )
            .about(format!("OUT-1:dm:{user}"))
        };
        let items = vec![
            dm(7, "declared"),
            dm(8, "declared"),
            dm(7, "update"),
            dm(7, "resolved"),
            Outgoing::post(
                Destination::Dm(crate::domain::UserId::new(9)),
                OutMessage::text("no subject"),
            ),
        ];
        enqueue(&mut tx, &items, now).await.unwrap();
        tx.commit().await.unwrap();
        let texts = |rows: Vec<Pending>| rows.into_iter().map(|p| p.message.text).collect::<Vec<_>>();

        let mut conn = store.write().await.unwrap();
        let first = due(&mut conn, now, 10).await.unwrap();
        assert_eq!(
            (first[0].id, texts(first.clone())),
            (1, vec!["declared".to_owned(), "declared".into(), "no subject".into()])
        );
        // User 7's declaration must wait 5 s: the update behind it waits too,
        // and the dispatcher has nothing to do until then.
        let later = now + chrono::TimeDelta::seconds(5);
        mark_retry(&mut conn, 1, "429", later).await.unwrap();
        mark_delivered(&mut conn, 2, "m2", now).await.unwrap();
        mark_delivered(&mut conn, 5, "m5", now).await.unwrap();
        assert!(due(&mut conn, now, 10).await.unwrap().is_empty());
        assert_eq!(next_due(&mut conn).await.unwrap(), Some(to_ms(later)));
        assert_eq!(texts(due(&mut conn, later, 10).await.unwrap()), ["declared"]);
        mark_delivered(&mut conn, 1, "m1", later).await.unwrap();
        assert_eq!(texts(due(&mut conn, later, 10).await.unwrap()), ["update"]);
        // A row given up on does not hold back the rest of its subject.
        mark_failed(&mut conn, 3, Failure::Permanent, "gone", later)
            .await
            .unwrap();
        assert_eq!(texts(due(&mut conn, later, 10).await.unwrap()), ["resolved"]);
    }
}
