//! Stored timers (SLA thresholds, vote deadlines, planned notices).

use super::{from_ms, to_ms, Conn, Result};
use chrono::{DateTime, Utc};

/// A timer row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub subject: String,
    pub due_at: DateTime<Utc>,
    pub payload: String,
}

/// One timer to schedule with [`schedule_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    pub key: String,
    pub subject: String,
    pub due_at: DateTime<Utc>,
    pub payload: String,
}

/// Schedules (or moves, if not yet fired) the timer `kind`/`key`.
pub async fn schedule(
    conn: &mut Conn,
    kind: &str,
    key: &str,
    subject: &str,
    due_at: DateTime<Utc>,
    payload: &str,
) -> Result<()> {
    let timer = NewTimer {
        key: key.to_owned(),
        subject: subject.to_owned(),
        due_at,
        payload: payload.to_owned(),
    };
    schedule_many(conn, kind, std::slice::from_ref(&timer)).await
}

/// Schedules (or moves) several timers of `kind` in one statement per 100.
pub async fn schedule_many(conn: &mut Conn, kind: &str, timers: &[NewTimer]) -> Result<()> {
    for chunk in timers.chunks(100) {
        let mut upsert = super::Sql::new("INSERT INTO timers (kind, key, subject, due_at, payload) ");
        upsert.push_values(chunk, |mut row, t| {
            row.push_bind(kind)
                .push_bind(t.key.as_str())
                .push_bind(t.subject.as_str())
                .push_bind(to_ms(t.due_at))
                .push_bind(t.payload.as_str());
        });
        upsert.push(
            " ON CONFLICT (kind, key) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload,
                    subject = excluded.subject, cancelled = 0
              WHERE timers.fired_at IS NULL",
        );
        upsert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// `key` in `[prefix, prefix + U+10FFFF)`: a range the `(kind, key)` index answers,
/// where `substr(key, 1, n) = prefix` would read every timer of the kind. The
/// upper bound is bound from Rust ([`prefix_end`]), so no dialect's `char()`
/// or `chr()` is needed; it relies on a byte-wise (binary, or "C") collation
/// of `key`.
const CANCEL_PREFIX: &str = "UPDATE timers SET cancelled = 1 \
     WHERE kind = $1 AND key >= $2 AND key < $3 AND fired_at IS NULL";

/// The exclusive upper bound of the keys that start with `prefix`: no valid
/// UTF-8 text sorts after U+10FFFF byte-wise, so every key starting with
/// `prefix` sorts before `prefix` followed by it.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Cancels the unfired timers of `kind` whose key starts with `key_prefix`
/// (`INC-1:` for one incident's SLA timers: end prefixes with a separator, or
/// `INC-1` would take `INC-10` too; [`cancel_one`] cancels a single key).
pub async fn cancel(conn: &mut Conn, kind: &str, key_prefix: &str) -> Result<u64> {
    let done = sqlx::query(CANCEL_PREFIX)
        .bind(kind)
        .bind(key_prefix)
        .bind(prefix_end(key_prefix))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Cancels the unfired timer `kind`/`key` itself (`CHG-1`, not `CHG-10` too).
pub async fn cancel_one(conn: &mut Conn, kind: &str, key: &str) -> Result<u64> {
    let done = sqlx::query("UPDATE timers SET cancelled = 1 WHERE kind = $1 AND key = $2 AND fired_at IS NULL")
        .bind(kind)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// The unfired, uncancelled timers of `kind`, soonest first.
pub async fn pending_of_kind(conn: &mut Conn, kind: &str) -> Result<Vec<Timer>> {
    pending_by(
        conn,
        "SELECT id, kind, key, subject, due_at, payload FROM timers
          WHERE kind = $1 AND fired_at IS NULL AND cancelled = 0 ORDER BY due_at, id",
        kind,
    )
    .await
}

/// The timers one query with one bound value selects.
async fn pending_by(conn: &mut Conn, sql: &'static str, value: &str) -> Result<Vec<Timer>> {
    let rows: Vec<Row> = sqlx::query_as(sql).bind(value).fetch_all(conn).await?;
    rows.into_iter().map(timer).collect()
}

type Row = (i64, String, String, String, i64, String);

fn timer(r: Row) -> Result<Timer> {
    Ok(Timer {
        id: r.0,
        kind: r.1,
        key: r.2,
        subject: r.3,
        due_at: from_ms("timers", r.4)?,
        payload: r.5,
    })
}

/// Unfired timers due at `now`, in due order.
pub async fn due(conn: &mut Conn, now: DateTime<Utc>, limit: u32) -> Result<Vec<Timer>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, key, subject, due_at, payload FROM timers
          WHERE fired_at IS NULL AND cancelled = 0 AND due_at <= $1 ORDER BY due_at, id LIMIT $2",
    )
    .bind(to_ms(now))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(timer).collect()
}

/// Marks a timer fired; false if it already was (another worker, or a replay).
pub async fn mark_fired(conn: &mut Conn, id: i64, at: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query("UPDATE timers SET fired_at = $1 WHERE id = $2 AND fired_at IS NULL")
        .bind(to_ms(at))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// When the next unfired timer falls due.
pub async fn next_due(conn: &mut Conn) -> Result<Option<DateTime<Utc>>> {
    let (t,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(due_at) FROM timers WHERE fired_at IS NULL AND cancelled = 0")
            .fetch_one(conn)
            .await?;
    t.map(|ms| from_ms("timers", ms)).transpose()
}

/// The unfired timers of a subject (for display).
pub async fn pending_for(conn: &mut Conn, subject: &str) -> Result<Vec<Timer>> {
    pending_by(
        conn,
        "SELECT id, kind, key, subject, due_at, payload FROM timers
          WHERE subject = $1 AND fired_at IS NULL AND cancelled = 0 ORDER BY due_at, id",
        subject,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use chrono::TimeDelta;

    #[tokio::test]
    async fn timers_come_due_in_order_fire_once_and_can_be_moved_or_cancelled() {
        let (store, _dir) = temp_store().await;
        let mut c = store.write().await.unwrap();
        let t0 = Utc::now();
        schedule(
            &mut c,
            "sla",
            "INC-1:resolve:breach",
            "INC-1",
            t0 + TimeDelta::minutes(30),
            "{}",
        )
        .await
        .unwrap();
        schedule(
            &mut c,
            "sla",
            "INC-1:resolve:warn50",
            "INC-1",
            t0 + TimeDelta::minutes(10),
            "{}",
        )
        .await
        .unwrap();
        schedule(&mut c, "cab_close", "CHG-1", "CHG-1", t0 + TimeDelta::minutes(20), "{}")
            .await
            .unwrap();
        assert_eq!(
            next_due(&mut c).await.unwrap().map(to_ms),
            Some(to_ms(t0 + TimeDelta::minutes(10)))
        );
        // Moving a timer keeps one row.
        schedule(
            &mut c,
            "sla",
            "INC-1:resolve:warn50",
            "INC-1",
            t0 + TimeDelta::minutes(5),
            "{\"x\":1}",
        )
        .await
        .unwrap();
        let due_now = due(&mut c, t0 + TimeDelta::minutes(25), 10).await.unwrap();
        let keys: Vec<&str> = due_now.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["INC-1:resolve:warn50", "CHG-1"]);
        assert_eq!(due_now[0].payload, "{\"x\":1}");
        assert!(mark_fired(&mut c, due_now[0].id, t0).await.unwrap());
        assert!(!mark_fired(&mut c, due_now[0].id, t0).await.unwrap());
        // A fired timer is not moved back to life by scheduling it again.
        schedule(&mut c, "sla", "INC-1:resolve:warn50", "INC-1", t0, "{}")
            .await
            .unwrap();
        assert_eq!(cancel(&mut c, "sla", "INC-1:").await.unwrap(), 1);
        let rest = due(&mut c, t0 + TimeDelta::hours(1), 10).await.unwrap();
        assert_eq!(rest.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["CHG-1"]);
        assert_eq!(pending_for(&mut c, "CHG-1").await.unwrap().len(), 1);
        assert!(pending_for(&mut c, "INC-1").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn cancelling_one_timer_leaves_timers_whose_keys_merely_start_alike() {
        let (store, _dir) = temp_store().await;
        let mut c = store.write().await.unwrap();
        let t0 = Utc::now();
        for key in ["CHG-1", "CHG-10", "CHG-12"] {
            schedule(&mut c, "cab_close", key, key, t0, "{}").await.unwrap();
        }
        assert_eq!(cancel_one(&mut c, "cab_close", "CHG-1").await.unwrap(), 1);
        let rest = due(&mut c, t0, 10).await.unwrap();
        assert_eq!(
            rest.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
            ["CHG-10", "CHG-12"]
        );
    }

    #[tokio::test]
    async fn a_prefix_cancel_stays_within_its_prefix_and_walks_the_key_index() {
        let (store, _dir) = temp_store().await;
        let mut c = store.write().await.unwrap();
        let t0 = Utc::now();
        for key in [
            "INC-1:response:warn50",
            "INC-1:resolution:breach",
            "INC-10:response:warn50",
            "INC-1",
            // Beyond ASCII the range still holds (its bound is U+10FFFF), and
            // `;` sorts right after `:`.
            "INC-1:é\u{10FFFE}",
            "INC-1;",
        ] {
            schedule(&mut c, "sla", key, "INC-1", t0, "{}").await.unwrap();
        }
        assert_eq!(cancel(&mut c, "sla", "INC-1:").await.unwrap(), 3);
        let rest = due(&mut c, t0, 10).await.unwrap();
        assert_eq!(
            rest.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
            ["INC-10:response:warn50", "INC-1", "INC-1;"]
        );
        // The cancel is a range over the (kind, key) index, not a scan of every timer.
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {CANCEL_PREFIX}"))
            .bind("sla")
            .bind("INC-1:")
            .bind(prefix_end("INC-1:"))
            .fetch_all(&mut *c)
            .await
            .unwrap();
        let detail = plan.iter().map(|r| r.3.as_str()).collect::<Vec<_>>().join("; ");
        assert!(
            detail.contains("USING INDEX") && detail.contains("key>? AND key<?"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn many_timers_go_in_at_once_and_a_repeated_key_moves_its_timer() {
        let (store, _dir) = temp_store().await;
        let mut c = store.write().await.unwrap();
        let t0 = Utc::now();
        let timer = |n: i64, key: &str| NewTimer {
            key: key.to_owned(),
            subject: "INC-1".to_owned(),
            due_at: t0 + TimeDelta::minutes(n),
            payload: format!("{{\"n\":{n}}}"),
        };
        let many: Vec<NewTimer> = (0..250).map(|n| timer(n, &format!("k{n:03}"))).collect();
        schedule_many(&mut c, "sla", &many).await.unwrap();
        schedule_many(&mut c, "sla", &[timer(-5, "k249")]).await.unwrap();
        let due_now = due(&mut c, t0 + TimeDelta::hours(10), 500).await.unwrap();
        assert_eq!(due_now.len(), 250);
        assert_eq!(due_now[0].key, "k249");
        assert_eq!(due_now[0].payload, "{\"n\":-5}");
        assert_eq!(due_now[1].key, "k000");
    }
}
