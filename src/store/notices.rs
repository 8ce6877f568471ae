//! Notices sent to a service's subscribers by direct message, and the
//! delivery record of each: one row per notice per subscriber, pointing at the
//! outbox row that carries it, for an outage's notices and a change's planned
//! outage notice alike (migration 0009).

use chrono::{DateTime, Utc};

use super::{to_ms, Conn, Result};
use crate::domain::change::ChangeId;
use crate::domain::outage::OutageId;
use crate::domain::UserId;

/// A notice subscribers are sent, and the record it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeRef {
    /// A row of `outage_notices` (a declaration, an update, a resolution).
    Outage { outage: OutageId, notice: i64 },
    /// A row of `change_notices` (the planned outage notice of a change).
    Change { change: ChangeId, notice: i64 },
}

impl NoticeRef {
    /// The delivery column that points at this kind of notice, and the notice's id.
    fn column(self) -> (&'static str, i64) {
        match self {
            Self::Outage { notice, .. } => ("outage_notice_id", notice),
            Self::Change { notice, .. } => ("change_notice_id", notice),
        }
    }
}

/// The planned outage notice of `change`, recorded the first time it is sent;
/// sent again, it is the same notice (so nobody is queued it twice).
pub async fn planned_outage(conn: &mut Conn, change: ChangeId, body: &str, now: DateTime<Utc>) -> Result<NoticeRef> {
    sqlx::query(
        "INSERT INTO change_notices (change_id, kind, body, created_at) VALUES ($1, 'planned_outage', $2, $3)
         ON CONFLICT (change_id, kind) DO NOTHING",
    )
    .bind(change.get())
    .bind(body)
    .bind(to_ms(now))
    .execute(&mut *conn)
    .await?;
    let (notice,): (i64,) =
        sqlx::query_as("SELECT id FROM change_notices WHERE change_id = $1 AND kind = 'planned_outage'")
            .bind(change.get())
            .fetch_one(conn)
            .await?;
    Ok(NoticeRef::Change { change, notice })
}

/// The reachable subscribers of `service` not yet queued `notice`, by user id.
pub async fn recipients(conn: &mut Conn, notice: NoticeRef, service: &str) -> Result<Vec<UserId>> {
    let (column, id) = notice.column();
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT s.user_id FROM outage_subscriptions s
          WHERE s.service = $1 AND s.unreachable_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM notice_deliveries d WHERE d.{column} = $2 AND d.user_id = s.user_id)
          ORDER BY s.user_id"
    ))
    .bind(service)
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| UserId::new(r.0 as u64)).collect())
}

/// Records that `outbox_id` carries `notice` to `user`. Fails (the whole
/// action with it) if that subscriber was already queued this notice.
pub async fn record_delivery(conn: &mut Conn, notice: NoticeRef, user: UserId, outbox_id: i64) -> Result<()> {
    let (column, id) = notice.column();
    sqlx::query(&format!(
        "INSERT INTO notice_deliveries ({column}, user_id, outbox_id) VALUES ($1, $2, $3)"
    ))
    .bind(id)
    .bind(user.get() as i64)
    .bind(outbox_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::change::{ChangeState, ChangeType, NewChange, Risk};
    use crate::domain::outage::{NewOutage, NoticeKind, OutageImpact};
    use crate::message::{Destination, OutMessage, Outgoing};
    use crate::store::testing::{self, temp_store};
    use crate::store::{changes, outages, outbox, subscriptions};

    #[tokio::test]
    async fn each_subscriber_is_queued_an_outage_or_change_notice_once_and_a_change_has_one_planned_notice() {
        let (store, _dir) = temp_store().await;
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let (a, b, c) = (UserId::new(1), UserId::new(2), UserId::new(3));
        let mut tx = store.begin().await.unwrap();
        for u in [a, b, c] {
            subscriptions::subscribe(&mut tx, "email", u, now).await.unwrap();
        }
        subscriptions::subscribe(&mut tx, "vpn", a, now).await.unwrap();
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
        let declared = outages::add_notice(&mut tx, o.id, NoticeKind::Declare, "down", UserId::new(9), now)
            .await
            .unwrap();
        let ch = changes::insert(
            &mut tx,
            &NewChange {
                title: "Restart the mail relay".into(),
                service: "email".into(),
                risk: Risk::Low,
                change_type: ChangeType::Standard,
                state: ChangeState::Scheduled,
                window: None,
                requester: UserId::new(9),
                implementer: None,
            },
            now,
        )
        .await
        .unwrap();
        let outage_notice = NoticeRef::Outage {
            outage: o.id,
            notice: declared,
        };
        let planned = planned_outage(&mut tx, ch.id, "Planned outage: Email", now)
            .await
            .unwrap();
        assert!(matches!(planned, NoticeRef::Change { change, .. } if change == ch.id));
        // Sent again, it is the same notice.
        assert_eq!(
            planned_outage(&mut tx, ch.id, "later words", now).await.unwrap(),
            planned
        );

        let dm = |u: UserId| Outgoing::post(Destination::Dm(u), OutMessage::text("notice"));
        assert_eq!(
            recipients(&mut tx, outage_notice, "email").await.unwrap(),
            vec![a, b, c]
        );
        for (notice, user) in [(outage_notice, a), (outage_notice, b), (planned, a)] {
            let id = outbox::enqueue_one(&mut tx, &dm(user), now).await.unwrap();
            record_delivery(&mut tx, notice, user, id).await.unwrap();
        }
        // Queued subscribers are left out, per notice; other services' are never in.
        assert_eq!(recipients(&mut tx, outage_notice, "email").await.unwrap(), vec![c]);
        assert_eq!(recipients(&mut tx, planned, "email").await.unwrap(), vec![b, c]);
        assert_eq!(recipients(&mut tx, planned, "vpn").await.unwrap(), Vec::<UserId>::new());
        // The same subscriber twice for one notice is refused, for either kind.
        for notice in [outage_notice, planned] {
            let again = outbox::enqueue_one(&mut tx, &dm(a), now).await.unwrap();
            assert!(record_delivery(&mut tx, notice, a, again).await.is_err());
        }
        tx.commit().await.unwrap();
        let rows = |sql: &'static str| testing::scalar(&store, sql);
        assert_eq!(rows("SELECT COUNT(*) FROM change_notices").await, 1);
        assert_eq!(
            rows("SELECT COUNT(*) FROM notice_deliveries WHERE change_notice_id IS NOT NULL").await,
            1
        );
        // The outage deliveries keep their old name, as a view.
        assert_eq!(rows("SELECT COUNT(*) FROM outage_deliveries").await, 2);
    }
}
