//! CAB votes and their ballots.

use super::{from_ms, to_ms, Conn, Result, StoreError};
use crate::domain::cab::{Ballots, Board, Choice, Outcome, Quorum, Vote, VoteRules, VoteStatus};
use crate::domain::change::ChangeId;
use crate::domain::{RoleKey, UserId};
use chrono::{DateTime, Utc};

const COLUMNS: &str = "change_id, board, eligible_roles, quorum, threshold, expected_members, opened_by, opened_at, \
                       closes_at, status, outcome, closed_at";

#[derive(sqlx::FromRow)]
struct Row {
    change_id: i64,
    board: String,
    eligible_roles: String,
    quorum: String,
    threshold: f64,
    expected_members: i64,
    opened_by: i64,
    opened_at: i64,
    closes_at: i64,
    status: String,
    outcome: Option<String>,
    closed_at: Option<i64>,
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "cab_votes",
        detail,
    }
}

impl TryFrom<Row> for Vote {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self> {
        let board = Board::parse(&r.board).ok_or_else(|| corrupt(format!("board {}", r.board)))?;
        let eligible_roles = r
            .eligible_roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| RoleKey::parse(s).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let quorum: Quorum =
            serde_json::from_str(&r.quorum).map_err(|e| corrupt(format!("quorum {}: {e}", r.quorum)))?;
        let outcome = match r.outcome.as_deref() {
            None => None,
            Some(words) => Some(Outcome::parse(words).ok_or_else(|| corrupt(format!("outcome {words}")))?),
        };
        let status = match (r.status.as_str(), outcome) {
            ("open", None) => VoteStatus::Open,
            ("closed", Some(o)) => VoteStatus::Closed(o),
            ("cancelled", None) => VoteStatus::Cancelled,
            (s, o) => return Err(corrupt(format!("status {s} with outcome {o:?}"))),
        };
        let opened_at = from_ms("cab_votes", r.opened_at)?;
        let closes_at = from_ms("cab_votes", r.closes_at)?;
        Ok(Vote {
            change: ChangeId::from_row(r.change_id),
            board,
            rules: VoteRules {
                eligible_roles,
                quorum,
                threshold: r.threshold,
                deadline: closes_at - opened_at,
            },
            expected_members: u32::try_from(r.expected_members)
                .map_err(|_| corrupt(format!("expected_members {}", r.expected_members)))?,
            opened_by: UserId::new(r.opened_by as u64),
            opened_at,
            closes_at,
            status,
            closed_at: r.closed_at.map(|t| from_ms("cab_votes", t)).transpose()?,
        })
    }
}

/// Opens a vote on a change; fails if the change already had one.
pub async fn open(conn: &mut Conn, v: &Vote) -> Result<()> {
    let roles: Vec<&str> = v.rules.eligible_roles.iter().map(RoleKey::as_str).collect();
    let quorum = serde_json::to_string(&v.rules.quorum).map_err(|e| corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO cab_votes (change_id, board, eligible_roles, quorum, threshold, expected_members, opened_by,
                                opened_at, closes_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open')",
    )
    .bind(v.change.get())
    .bind(v.board.as_str())
    .bind(roles.join(","))
    .bind(quorum)
    .bind(v.rules.threshold)
    .bind(i64::from(v.expected_members))
    .bind(v.opened_by.get() as i64)
    .bind(to_ms(v.opened_at))
    .bind(to_ms(v.closes_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// The vote on a change, if one was called.
pub async fn get(conn: &mut Conn, change: ChangeId) -> Result<Option<Vote>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM cab_votes WHERE change_id = $1"))
        .bind(change.get())
        .fetch_optional(conn)
        .await?;
    row.map(Vote::try_from).transpose()
}

/// Closes an open vote with an outcome, or marks it cancelled; false if it
/// was not open any more.
pub async fn close(conn: &mut Conn, change: ChangeId, status: VoteStatus, at: DateTime<Utc>) -> Result<bool> {
    let (status, outcome) = match status {
        VoteStatus::Open => return Ok(false),
        VoteStatus::Closed(o) => ("closed", Some(o.as_str())),
        VoteStatus::Cancelled => ("cancelled", None),
    };
    let done = sqlx::query(
        "UPDATE cab_votes SET status = $1, outcome = $2, closed_at = $3 WHERE change_id = $4 AND status = 'open'",
    )
    .bind(status)
    .bind(outcome)
    .bind(to_ms(at))
    .bind(change.get())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Calls a vote again after one that closed without quorum: the row takes
/// the new rules and times, and the old ballots are dropped (a new round).
/// False when the vote is not one closed for no quorum.
pub async fn reopen(conn: &mut Conn, v: &Vote) -> Result<bool> {
    let roles: Vec<&str> = v.rules.eligible_roles.iter().map(RoleKey::as_str).collect();
    let quorum = serde_json::to_string(&v.rules.quorum).map_err(|e| corrupt(e.to_string()))?;
    let done = sqlx::query(
        "UPDATE cab_votes SET board = $1, eligible_roles = $2, quorum = $3, threshold = $4, expected_members = $5,
                opened_by = $6, opened_at = $7, closes_at = $8, status = 'open', outcome = NULL, closed_at = NULL
          WHERE change_id = $9 AND status = 'closed' AND outcome = 'no_quorum'",
    )
    .bind(v.board.as_str())
    .bind(roles.join(","))
    .bind(quorum)
    .bind(v.rules.threshold)
    .bind(i64::from(v.expected_members))
    .bind(v.opened_by.get() as i64)
    .bind(to_ms(v.opened_at))
    .bind(to_ms(v.closes_at))
    .bind(v.change.get())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM cab_ballots WHERE change_id = $1")
        .bind(v.change.get())
        .execute(conn)
        .await?;
    Ok(true)
}

/// The people seen holding one of the vote's eligible roles who have no
/// ballot on it, leaving out `except` (requester, implementer): whom a
/// reminder pings.
pub async fn pending_voters(conn: &mut Conn, v: &Vote, except: &[UserId]) -> Result<Vec<UserId>> {
    let roles: Vec<String> = v
        .rules
        .eligible_roles
        .iter()
        .map(|r| format!("'{}'", r.as_str()))
        .collect();
    let except: Vec<String> = except.iter().map(|u| (u.get() as i64).to_string()).collect();
    // Role keys are checked to be [a-z0-9_] and user ids are numbers, so
    // building the lists inline cannot inject anything.
    let sql = format!(
        "SELECT DISTINCT h.user_id FROM role_holders h
          WHERE h.role IN ({}) AND h.user_id NOT IN ({})
            AND NOT EXISTS (SELECT 1 FROM cab_ballots b WHERE b.change_id = $1 AND b.voter = h.user_id)
          ORDER BY h.user_id",
        if roles.is_empty() {
            "''".to_owned()
        } else {
            roles.join(",")
        },
        if except.is_empty() {
            "-1".to_owned()
        } else {
            except.join(",")
        },
    );
    let rows: Vec<(i64,)> = sqlx::query_as(&sql).bind(v.change.get()).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(u,)| UserId::new(u as u64)).collect())
}

/// Stores a voter's ballot, replacing any earlier one.
pub async fn put_ballot(
    conn: &mut Conn,
    change: ChangeId,
    voter: UserId,
    choice: Choice,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO cab_ballots (change_id, voter, choice, cast_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (change_id, voter) DO UPDATE SET choice = excluded.choice, cast_at = excluded.cast_at",
    )
    .bind(change.get())
    .bind(voter.get() as i64)
    .bind(choice.as_str())
    .bind(to_ms(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a voter's ballot.
pub async fn remove_ballot(conn: &mut Conn, change: ChangeId, voter: UserId) -> Result<()> {
    sqlx::query("DELETE FROM cab_ballots WHERE change_id = $1 AND voter = $2")
        .bind(change.get())
        .bind(voter.get() as i64)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every ballot of a vote.
pub async fn ballots(conn: &mut Conn, change: ChangeId) -> Result<Ballots> {
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT voter, choice FROM cab_ballots WHERE change_id = $1")
        .bind(change.get())
        .fetch_all(conn)
        .await?;
    let mut ballots = Ballots::new();
    for (voter, choice) in rows {
        let choice = Choice::parse(&choice).ok_or_else(|| StoreError::Corrupt {
            table: "cab_ballots",
            detail: format!("choice {choice}"),
        })?;
        ballots.cast(UserId::new(voter as u64), choice);
    }
    Ok(ballots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::change::{ChangeState, ChangeType, NewChange, Risk};
    use crate::store::testing::temp_store;
    use chrono::TimeDelta;

    #[tokio::test]
    async fn a_vote_keeps_its_rules_and_ballots_and_closes_once() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let change = crate::store::changes::insert(
            &mut tx,
            &NewChange {
                title: "t".into(),
                service: "email".into(),
                risk: Risk::Low,
                change_type: ChangeType::Emergency,
                state: ChangeState::CabVote,
                window: None,
                requester: UserId::new(1),
                implementer: None,
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(get(&mut tx, change.id).await.unwrap(), None);
        let v = Vote {
            change: change.id,
            board: Board::Ecab,
            rules: VoteRules {
                eligible_roles: vec![RoleKey::parse("ecab").unwrap(), RoleKey::parse("cab").unwrap()],
                quorum: Quorum::Fraction(0.5),
                threshold: 0.6,
                deadline: TimeDelta::hours(4),
            },
            expected_members: 3,
            opened_by: UserId::new(7),
            opened_at: now,
            closes_at: now + TimeDelta::hours(4),
            status: VoteStatus::Open,
            closed_at: None,
        };
        open(&mut tx, &v).await.unwrap();
        assert_eq!(get(&mut tx, change.id).await.unwrap(), Some(v.clone()));
        // A second vote on the same change is refused by the database.
        assert!(open(&mut tx, &v).await.is_err());

        put_ballot(&mut tx, change.id, UserId::new(3), Choice::Approve, now)
            .await
            .unwrap();
        put_ballot(&mut tx, change.id, UserId::new(4), Choice::Reject, now)
            .await
            .unwrap();
        put_ballot(&mut tx, change.id, UserId::new(3), Choice::Abstain, now)
            .await
            .unwrap();
        remove_ballot(&mut tx, change.id, UserId::new(4)).await.unwrap();
        let b = ballots(&mut tx, change.id).await.unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![(UserId::new(3), Choice::Abstain)]);

        let later = now + TimeDelta::hours(1);
        assert!(close(&mut tx, change.id, VoteStatus::Closed(Outcome::NoQuorum), later)
            .await
            .unwrap());
        assert!(!close(&mut tx, change.id, VoteStatus::Cancelled, later).await.unwrap());
        let closed = get(&mut tx, change.id).await.unwrap().unwrap();
        assert_eq!(
            (closed.status, closed.closed_at),
            (VoteStatus::Closed(Outcome::NoQuorum), Some(later))
        );

        // Members seen holding an eligible role, without a ballot, not the requester.
        for (user, role) in [(1, "ecab"), (3, "ecab"), (5, "cab"), (6, "network_operations")] {
            crate::store::roster::refresh(&mut tx, UserId::new(user), &[RoleKey::parse(role).unwrap()], now)
                .await
                .unwrap();
        }
        let pending = pending_voters(&mut tx, &closed, &[UserId::new(1)]).await.unwrap();
        assert_eq!(pending, vec![UserId::new(5)], "3 voted, 1 requested, 6 is not eligible");

        // A vote without quorum is called again: new times, no ballots; only once it is closed so.
        let again = Vote {
            opened_at: later,
            closes_at: later + TimeDelta::hours(4),
            ..v.clone()
        };
        assert!(reopen(&mut tx, &again).await.unwrap());
        assert_eq!(get(&mut tx, change.id).await.unwrap(), Some(again.clone()));
        assert!(ballots(&mut tx, change.id).await.unwrap().iter().next().is_none());
        assert!(
            !reopen(&mut tx, &again).await.unwrap(),
            "an open vote is not called again"
        );
        assert!(close(&mut tx, change.id, VoteStatus::Closed(Outcome::Approved), later)
            .await
            .unwrap());
        assert!(!reopen(&mut tx, &again).await.unwrap(), "nor one that passed");
    }
}
