//! The SLA clocks of incidents, as plain columns, and the thresholds each clock
//! has announced (once per run).

use std::collections::BTreeSet;

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::incident::IncidentId;
use crate::domain::sla::{Clock, ClockColumns, ClockKind, StoredClock, Threshold};
use crate::domain::UserId;
use chrono::{DateTime, TimeDelta, Utc};

/// Adds clocks (a new incident's) in one statement; thresholds are recorded
/// as they fire, by [`mark_fired`].
pub async fn insert(conn: &mut Conn, clocks: &[StoredClock]) -> Result<()> {
    if clocks.is_empty() {
        return Ok(());
    }
    let mut insert = super::Sql::new(
        "INSERT INTO incident_clocks (incident_id, kind, run, target_secs, started_at, accumulated_secs,
                                      running_since, stopped_at, stopped_by) ",
    );
    insert.push_values(clocks, |mut row, stored| {
        let c = stored.clock.to_columns();
        row.push_bind(stored.incident.get())
            .push_bind(stored.kind.key())
            .push_bind(stored.run)
            .push_bind(c.target_secs)
            .push_bind(to_ms(c.started_at))
            .push_bind(c.accumulated_secs)
            .push_bind(c.running_since.map(to_ms))
            .push_bind(c.stopped_at.map(to_ms))
            .push_bind(stored.stopped_by.map(|u| u.get() as i64));
    });
    insert.build().execute(&mut *conn).await?;
    Ok(())
}

/// Writes back a clock's columns, its run and who stopped it.
pub async fn save(conn: &mut Conn, stored: &StoredClock) -> Result<()> {
    let c = stored.clock.to_columns();
    sqlx::query(
        "UPDATE incident_clocks SET run = $1, target_secs = $2, started_at = $3, accumulated_secs = $4,
                                    running_since = $5, stopped_at = $6, stopped_by = $7
          WHERE incident_id = $8 AND kind = $9",
    )
    .bind(stored.run)
    .bind(c.target_secs)
    .bind(to_ms(c.started_at))
    .bind(c.accumulated_secs)
    .bind(c.running_since.map(to_ms))
    .bind(c.stopped_at.map(to_ms))
    .bind(stored.stopped_by.map(|u| u.get() as i64))
    .bind(stored.incident.get())
    .bind(stored.kind.key())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    incident_id: i64,
    kind: String,
    run: i64,
    target_secs: i64,
    started_at: i64,
    accumulated_secs: i64,
    running_since: Option<i64>,
    stopped_at: Option<i64>,
    stopped_by: Option<i64>,
}

/// A clock row; its fired thresholds are another table's, so they start empty.
impl TryFrom<Row> for StoredClock {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "incident_clocks",
            detail,
        };
        let kind = ClockKind::from_key(&r.kind).ok_or_else(|| corrupt(format!("clock kind {}", r.kind)))?;
        let columns = ClockColumns {
            target_secs: r.target_secs,
            started_at: from_ms("incident_clocks", r.started_at)?,
            accumulated_secs: r.accumulated_secs,
            running_since: r.running_since.map(|ms| from_ms("incident_clocks", ms)).transpose()?,
            stopped_at: r.stopped_at.map(|ms| from_ms("incident_clocks", ms)).transpose()?,
        };
        let clock = Clock::from_columns(columns).map_err(|e| corrupt(e.to_string()))?;
        Ok(StoredClock {
            incident: IncidentId::from_row(r.incident_id),
            kind,
            run: r.run,
            clock,
            stopped_by: r.stopped_by.map(|u| UserId::new(u as u64)),
            fired: BTreeSet::new(),
        })
    }
}

/// The clocks of an incident (response first), each with the thresholds fired in its run.
pub async fn for_incident(conn: &mut Conn, incident: IncidentId) -> Result<Vec<StoredClock>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT incident_id, kind, run, target_secs, started_at, accumulated_secs, running_since, stopped_at,
                stopped_by
           FROM incident_clocks WHERE incident_id = $1 ORDER BY kind DESC",
    )
    .bind(incident.get())
    .fetch_all(&mut *conn)
    .await?;
    let mut clocks = Vec::with_capacity(rows.len());
    for r in rows {
        let mut clock = StoredClock::try_from(r)?;
        clock.fired = fired(conn, incident, clock.kind, clock.run).await?;
        clocks.push(clock);
    }
    Ok(clocks)
}

/// One clock of an incident.
pub async fn get(conn: &mut Conn, incident: IncidentId, kind: ClockKind) -> Result<Option<StoredClock>> {
    Ok(for_incident(conn, incident).await?.into_iter().find(|c| c.kind == kind))
}

/// The thresholds a clock announced in one run.
pub async fn fired(conn: &mut Conn, incident: IncidentId, kind: ClockKind, run: i64) -> Result<BTreeSet<Threshold>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT threshold FROM clock_thresholds WHERE incident_id = $1 AND kind = $2 AND run = $3 ORDER BY fired_at",
    )
    .bind(incident.get())
    .bind(kind.key())
    .bind(run)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(t,)| {
            Threshold::from_key(&t).map_err(|e| StoreError::Corrupt {
                table: "clock_thresholds",
                detail: e.to_string(),
            })
        })
        .collect()
}

/// Records that a clock announced a threshold in a run; false when it already
/// had (the notice must not be sent twice).
pub async fn mark_fired(
    conn: &mut Conn,
    stored: &StoredClock,
    threshold: Threshold,
    at: DateTime<Utc>,
    late_by: Option<TimeDelta>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO clock_thresholds (incident_id, kind, run, threshold, fired_at, late_ms)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(stored.incident.get())
    .bind(stored.kind.key())
    .bind(stored.run)
    .bind(threshold.key())
    .bind(to_ms(at))
    .bind(late_by.map(|d| d.num_milliseconds()))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::NewIncident;
    use crate::domain::priority::{Impact, Priority, Urgency};
    use crate::domain::sla::Calendar;
    use crate::domain::RoleKey;
    use crate::store::testing::temp_store;

    async fn an_incident(conn: &mut Conn, now: DateTime<Utc>) -> IncidentId {
        let new = NewIncident {
            title: "mail down".into(),
            impact: Impact::High,
            urgency: Urgency::High,
            priority: Priority::parse("P1").unwrap(),
            service: Some("email".into()),
            category: None,
            reporter: UserId::new(1),
            handler_role: RoleKey::parse("service_desk").unwrap(),
            source_link: None,
            source_message: None,
        };
        crate::store::incidents::insert(conn, &new, now).await.unwrap().id
    }

    #[tokio::test]
    async fn clocks_round_trip_and_thresholds_fire_once_per_run() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let id = an_incident(&mut tx, now).await;
        let response = Clock::start(TimeDelta::minutes(15), now).unwrap();
        let resolution = Clock::start(TimeDelta::hours(4), now).unwrap();
        let new = |kind, clock: Clock| StoredClock {
            incident: id,
            kind,
            run: 0,
            clock,
            stopped_by: None,
            fired: BTreeSet::new(),
        };
        // Inserted out of order, in one statement: read back in kind order.
        insert(
            &mut tx,
            &[
                new(ClockKind::Resolution, resolution),
                new(ClockKind::Response, response),
            ],
        )
        .await
        .unwrap();
        insert(&mut tx, &[]).await.unwrap();

        let clocks = for_incident(&mut tx, id).await.unwrap();
        let kinds: Vec<ClockKind> = clocks.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ClockKind::Response, ClockKind::Resolution]);
        assert_eq!(clocks[0].clock, response);
        assert_eq!((clocks[0].run, clocks[0].stopped_by), (0, None));
        assert!(clocks[0].fired.is_empty());
        assert_eq!(
            get(&mut tx, IncidentId::from_row(99), ClockKind::Response)
                .await
                .unwrap(),
            None
        );

        // Stop the response clock and save who stopped it.
        let mut stored = get(&mut tx, id, ClockKind::Response).await.unwrap().unwrap();
        stored
            .clock
            .stop(now + TimeDelta::minutes(3), &Calendar::AlwaysOpen)
            .unwrap();
        stored.stopped_by = Some(UserId::new(7));
        save(&mut tx, &stored).await.unwrap();
        let back = get(&mut tx, id, ClockKind::Response).await.unwrap().unwrap();
        assert!(back.clock.is_stopped());
        assert_eq!(back.clock.accumulated(), TimeDelta::minutes(3));
        assert_eq!(back.stopped_by, Some(UserId::new(7)));

        // Each threshold fires once per run.
        let mut res = get(&mut tx, id, ClockKind::Resolution).await.unwrap().unwrap();
        let warn50 = Threshold::warning(50).unwrap();
        assert!(mark_fired(&mut tx, &res, warn50, now, None).await.unwrap());
        assert!(!mark_fired(&mut tx, &res, warn50, now, None).await.unwrap());
        assert!(
            mark_fired(&mut tx, &res, Threshold::Breach, now, Some(TimeDelta::hours(1)))
                .await
                .unwrap()
        );
        let fired_now = get(&mut tx, id, ClockKind::Resolution).await.unwrap().unwrap().fired;
        assert_eq!(fired_now, BTreeSet::from([warn50, Threshold::Breach]));
        // A restart is a new run with nothing fired yet.
        res.run += 1;
        res.clock.restart(now + TimeDelta::hours(5));
        save(&mut tx, &res).await.unwrap();
        let restarted = get(&mut tx, id, ClockKind::Resolution).await.unwrap().unwrap();
        assert_eq!(restarted.run, 1);
        assert!(restarted.fired.is_empty());
        assert!(mark_fired(&mut tx, &restarted, warn50, now, None).await.unwrap());
        assert_eq!(fired(&mut tx, id, ClockKind::Resolution, 0).await.unwrap().len(), 2);
        tx.commit().await.unwrap();
    }
}
