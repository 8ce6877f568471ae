//! Who subscribed to which service's outage notices, and who cannot be reached.
//!
//! A subscriber becomes unreachable when a notice to them failed for good
//! because their DMs are closed: the dispatcher records it with
//! [`mark_unreachable`] in the transaction that records the failure.
//! Subscribing again clears it.

use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::outage::{Subscribed, Subscription};
use crate::domain::UserId;

/// Subscribes `user` to `service` (or clears their unreachable mark).
pub async fn subscribe(conn: &mut Conn, service: &str, user: UserId, now: DateTime<Utc>) -> Result<Subscribed> {
    let existing: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT unreachable_at FROM outage_subscriptions WHERE service = $1 AND user_id = $2")
            .bind(service)
            .bind(user.get() as i64)
            .fetch_optional(&mut *conn)
            .await?;
    match existing {
        Some((None,)) => Ok(Subscribed::Already),
        Some((Some(_),)) => {
            sqlx::query(
                "UPDATE outage_subscriptions SET unreachable_at = NULL, unreachable_reason = NULL
                  WHERE service = $1 AND user_id = $2",
            )
            .bind(service)
            .bind(user.get() as i64)
            .execute(conn)
            .await?;
            Ok(Subscribed::Reenabled)
        }
        None => {
            sqlx::query("INSERT INTO outage_subscriptions (service, user_id, created_at) VALUES ($1, $2, $3)")
                .bind(service)
                .bind(user.get() as i64)
                .bind(to_ms(now))
                .execute(conn)
                .await?;
            Ok(Subscribed::New)
        }
    }
}

/// Removes a subscription; false when there was none.
pub async fn unsubscribe(conn: &mut Conn, service: &str, user: UserId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM outage_subscriptions WHERE service = $1 AND user_id = $2")
        .bind(service)
        .bind(user.get() as i64)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    service: String,
    created_at: i64,
    unreachable_at: Option<i64>,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;

    fn try_from(r: SubscriptionRow) -> Result<Self> {
        Ok(Subscription {
            service: r.service,
            since: from_ms("outage_subscriptions", r.created_at)?,
            unreachable_at: r
                .unreachable_at
                .map(|t| from_ms("outage_subscriptions", t))
                .transpose()?,
        })
    }
}

/// A user's subscriptions, by service.
pub async fn for_user(conn: &mut Conn, user: UserId) -> Result<Vec<Subscription>> {
    let rows: Vec<SubscriptionRow> = sqlx::query_as(
        "SELECT service, created_at, unreachable_at FROM outage_subscriptions WHERE user_id = $1 ORDER BY service",
    )
    .bind(user.get() as i64)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Subscription::try_from).collect()
}

/// The subscribers of a service who can be reached, by user id.
pub async fn reachable(conn: &mut Conn, service: &str) -> Result<Vec<UserId>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM outage_subscriptions WHERE service = $1 AND unreachable_at IS NULL ORDER BY user_id",
    )
    .bind(service)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| UserId::new(r.0 as u64)).collect())
}

/// Marks unreachable, on every one of their subscriptions (DMs are closed
/// for the bot, not for one service), the subscriber whom outbox row
/// `outbox_id` carries a notice to, so later notices skip them until they
/// subscribe again. A row that carries no notice marks nobody. Returns how
/// many subscriptions were marked.
pub async fn mark_unreachable(conn: &mut Conn, outbox_id: i64, reason: &str, at: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE outage_subscriptions SET unreachable_at = $1, unreachable_reason = $2
          WHERE unreachable_at IS NULL
            AND user_id IN (SELECT user_id FROM notice_deliveries WHERE outbox_id = $3)",
    )
    .bind(to_ms(at))
    .bind(reason)
    .bind(outbox_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// How many subscribers a service has: (reachable, unreachable).
pub async fn count(conn: &mut Conn, service: &str) -> Result<(i64, i64)> {
    let row: (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE unreachable_at IS NULL), COUNT(*) FILTER (WHERE unreachable_at IS NOT NULL)
           FROM outage_subscriptions WHERE service = $1",
    )
    .bind(service)
    .fetch_one(conn)
    .await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outage::{NewOutage, NoticeKind, OutageImpact};
    use crate::message::{Destination, OutMessage, Outgoing};
    use crate::store::outbox::Failure;
    use crate::store::testing::temp_store;
    use crate::store::{notices, outages, outbox};

    #[tokio::test]
    async fn users_subscribe_once_unsubscribe_and_list_their_subscriptions() {
        let (store, _dir) = temp_store().await;
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut tx = store.begin().await.unwrap();
        let (a, b) = (UserId::new(1), UserId::new(2));
        assert_eq!(subscribe(&mut tx, "email", a, now).await.unwrap(), Subscribed::New);
        assert_eq!(subscribe(&mut tx, "email", a, now).await.unwrap(), Subscribed::Already);
        assert_eq!(subscribe(&mut tx, "vpn", a, now).await.unwrap(), Subscribed::New);
        assert_eq!(subscribe(&mut tx, "email", b, now).await.unwrap(), Subscribed::New);
        assert_eq!(reachable(&mut tx, "email").await.unwrap(), vec![a, b]);
        assert_eq!(count(&mut tx, "email").await.unwrap(), (2, 0));
        let mine: Vec<String> = for_user(&mut tx, a)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.service)
            .collect();
        assert_eq!(mine, ["email", "vpn"]);
        assert!(unsubscribe(&mut tx, "email", b).await.unwrap());
        assert!(!unsubscribe(&mut tx, "email", b).await.unwrap());
        assert_eq!(reachable(&mut tx, "email").await.unwrap(), vec![a]);
        assert_eq!(count(&mut tx, "payroll").await.unwrap(), (0, 0));
        assert!(for_user(&mut tx, b).await.unwrap().is_empty());
    }

    /// The exact reason the Discord transport gives when a user's DMs are closed.
    fn dms_closed() -> String {
        format!("dms closed ({})", crate::discord::DMS_CLOSED)
    }

    #[tokio::test]
    async fn a_notice_that_finds_dms_closed_marks_the_subscriber_unreachable_until_they_subscribe_again() {
        let (store, _dir) = temp_store().await;
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let (a, b) = (UserId::new(1), UserId::new(2));
        let mut tx = store.begin().await.unwrap();
        for (svc, u) in [("email", a), ("vpn", a), ("email", b)] {
            subscribe(&mut tx, svc, u, now).await.unwrap();
        }
        let o = outages::insert(
            &mut tx,
            &NewOutage {
                service: "email".into(),
                impact: OutageImpact::Major,
                summary: "down".into(),
                declared_by: UserId::new(9),
            },
            now,
        )
        .await
        .unwrap();
        let notice = outages::add_notice(&mut tx, o.id, NoticeKind::Declare, "down", UserId::new(9), now)
            .await
            .unwrap();
        let notice = notices::NoticeRef::Outage { outage: o.id, notice };
        let mut rows = Vec::new();
        for u in [a, b] {
            let id = outbox::enqueue_one(
                &mut tx,
                &Outgoing::post(Destination::Dm(u), OutMessage::text("down")),
                now,
            )
            .await
            .unwrap();
            notices::record_delivery(&mut tx, notice, u, id).await.unwrap();
            rows.push(id);
        }
        // A DM that is not a subscriber notice does not mark anyone.
        let other = outbox::enqueue_one(
            &mut tx,
            &Outgoing::post(Destination::Dm(b), OutMessage::text("hi")),
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        // As the dispatcher records an unreachable recipient: the failure, then the mark.
        let mut c = store.write().await.unwrap();
        outbox::mark_failed(&mut c, other, Failure::Unreachable, &dms_closed(), now)
            .await
            .unwrap();
        assert_eq!(mark_unreachable(&mut c, other, &dms_closed(), now).await.unwrap(), 0);
        assert_eq!(count(&mut c, "email").await.unwrap(), (2, 0));
        // A failure for another reason is lost, not unreachable, whatever its
        // words say: the reason is the typed column, not the error text.
        outbox::mark_failed(
            &mut c,
            rows[1],
            Failure::Permanent,
            "HTTP 400 code 50035: Invalid Form Body (not 50007)",
            now,
        )
        .await
        .unwrap();
        assert_eq!(count(&mut c, "email").await.unwrap(), (2, 0));
        outbox::mark_failed(&mut c, rows[0], Failure::Unreachable, &dms_closed(), now)
            .await
            .unwrap();
        assert_eq!(mark_unreachable(&mut c, rows[0], &dms_closed(), now).await.unwrap(), 2);
        // DMs are closed for the bot, so every subscription of that user is marked.
        assert_eq!(reachable(&mut c, "email").await.unwrap(), vec![b]);
        assert_eq!(count(&mut c, "vpn").await.unwrap(), (0, 1));
        let subs = for_user(&mut c, a).await.unwrap();
        assert!(subs.iter().all(|s| s.unreachable_at == Some(now)), "{subs:?}");
        let counts = outages::delivery_counts(&mut c, o.id).await.unwrap();
        assert_eq!((counts.unreachable, counts.lost, counts.pending), (1, 1, 0));
        assert_eq!(subscribe(&mut c, "email", a, now).await.unwrap(), Subscribed::Reenabled);
        assert_eq!(reachable(&mut c, "email").await.unwrap(), vec![a, b]);
        assert_eq!(count(&mut c, "vpn").await.unwrap(), (0, 1));
    }
}
