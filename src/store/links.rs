//! Links between incidents: related pairs, duplicates and parent/child.
//!
//! A related pair is stored once, lower id first; `duplicate_of` and
//! `child_of` point from the duplicate (the child) to the original (the
//! parent). An incident duplicates or is the child of one other at most (a
//! unique index says so); which links are allowed is the desk's rule.

use super::{to_ms, Conn, Result};
use crate::domain::incident::{IncidentId, LinkKind, State};
use crate::domain::UserId;
use chrono::{DateTime, Utc};

/// A link as seen from one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The incident at the other end.
    pub other: IncidentId,
    pub other_state: State,
    pub kind: LinkKind,
    /// True when this incident is the link's source (the duplicate, the
    /// child); false when the other one points at it (the original, the parent).
    pub outgoing: bool,
}

/// Stores a link; `false` when those two incidents are already linked.
pub async fn add(
    conn: &mut Conn,
    from: IncidentId,
    to: IncidentId,
    kind: LinkKind,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (a, b) = match kind {
        LinkKind::Related if to < from => (to, from),
        _ => (from, to),
    };
    let done = sqlx::query(
        "INSERT INTO incident_links (incident_id, other_id, kind, linked_by, linked_at)
         SELECT $1, $2, $3, $4, $5
          WHERE NOT EXISTS (SELECT 1 FROM incident_links
                             WHERE (incident_id = $1 AND other_id = $2) OR (incident_id = $2 AND other_id = $1))",
    )
    .bind(a.get())
    .bind(b.get())
    .bind(kind.as_str())
    .bind(by.get() as i64)
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every link of an incident, in id order of the other end.
pub async fn of(conn: &mut Conn, id: IncidentId) -> Result<Vec<Link>> {
    let rows: Vec<(i64, String, String, super::Flag)> = sqlx::query_as(
        "SELECT l.other_id, i.state, l.kind, TRUE FROM incident_links l JOIN incidents i ON i.id = l.other_id
          WHERE l.incident_id = $1
         UNION ALL
         SELECT l.incident_id, i.state, l.kind, FALSE FROM incident_links l JOIN incidents i ON i.id = l.incident_id
          WHERE l.other_id = $1
         ORDER BY 1",
    )
    .bind(id.get())
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(other, state, kind, outgoing)| {
            let corrupt = |detail: String| super::StoreError::Corrupt {
                table: "incident_links",
                detail,
            };
            Ok(Link {
                other: IncidentId::from_row(other),
                other_state: State::parse(&state).ok_or_else(|| corrupt(format!("state {state}")))?,
                kind: LinkKind::parse(&kind).ok_or_else(|| corrupt(format!("kind {kind}")))?,
                // A related pair has no direction: both ends see it the same way.
                outgoing: outgoing.0 && kind != LinkKind::Related.as_str(),
            })
        })
        .collect()
}

/// The incident `id` duplicates or is a child of (its one outgoing
/// non-related link), if any.
pub async fn upward(conn: &mut Conn, id: IncidentId) -> Result<Option<(IncidentId, LinkKind)>> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT other_id, kind FROM incident_links WHERE incident_id = $1 AND kind <> 'related'")
            .bind(id.get())
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(other, kind)| Some((IncidentId::from_row(other), LinkKind::parse(&kind)?))))
}

/// The incidents pointing at `id` with `kind` (its duplicates, its children).
pub async fn pointing_at(conn: &mut Conn, id: IncidentId, kind: LinkKind) -> Result<Vec<IncidentId>> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT incident_id FROM incident_links WHERE other_id = $1 AND kind = $2 ORDER BY incident_id")
            .bind(id.get())
            .bind(kind.as_str())
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(i,)| IncidentId::from_row(i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn links_are_stored_once_per_pair_and_seen_from_both_ends() {
        let (store, _dir) = temp_store().await;
        let mut conn = store.write().await.unwrap();
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let ids = crate::store::testing::incidents(&mut conn, 3, now).await;
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        let by = UserId::new(7);
        assert!(add(&mut conn, b, a, LinkKind::Related, by, now).await.unwrap());
        assert!(
            !add(&mut conn, a, b, LinkKind::Related, by, now).await.unwrap(),
            "same pair"
        );
        assert!(
            !add(&mut conn, a, b, LinkKind::DuplicateOf, by, now).await.unwrap(),
            "already linked"
        );
        assert!(add(&mut conn, c, a, LinkKind::ChildOf, by, now).await.unwrap());
        let from_a = of(&mut conn, a).await.unwrap();
        assert_eq!(
            from_a.iter().map(|l| (l.other, l.kind, l.outgoing)).collect::<Vec<_>>(),
            vec![(b, LinkKind::Related, false), (c, LinkKind::ChildOf, false)]
        );
        assert_eq!(of(&mut conn, b).await.unwrap()[0].other, a);
        assert_eq!(upward(&mut conn, c).await.unwrap(), Some((a, LinkKind::ChildOf)));
        assert_eq!(upward(&mut conn, b).await.unwrap(), None, "related is not upward");
        assert_eq!(pointing_at(&mut conn, a, LinkKind::ChildOf).await.unwrap(), vec![c]);
        // One parent at most, whatever the desk asks.
        assert!(add(&mut conn, c, b, LinkKind::DuplicateOf, by, now).await.is_err());
    }
}
