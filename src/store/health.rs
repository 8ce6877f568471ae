//! Whether the database can be written, and whether the writer connection is
//! in a state that may be reused.
//!
//! Two facts live here. First, a storage fault (disk full, a lock held
//! elsewhere, an I/O error, a read-only file) is a *state* of the database, not
//! an event per command: it is logged once when it begins and once when it
//! clears, and every caller in between is told "not saved". Second, after any
//! failed statement, RELEASE, COMMIT or ROLLBACK, sqlx's count of open
//! transactions on a connection can disagree with the database's own (SQLite rolls a
//! whole transaction back by itself on SQLITE_FULL at COMMIT, and sqlx's
//! follow-up ROLLBACK then fails and leaves its count at one). A connection in
//! that state turns the next BEGIN into a SAVEPOINT nested inside a transaction
//! that never ends, so later commands "commit" into nothing. The store
//! therefore hands out a writer connection only when both agree it is outside
//! any transaction, and replaces it otherwise.

use std::sync::atomic::{AtomicU8, Ordering};

use sqlx::Connection;

use super::{Conn, Engine, Result, StoreError};
use crate::domain::fault::WriteFault;

/// What the store knows of a fault: which SQLite result codes mean it, and
/// how it is kept in [`Health`].
impl WriteFault {
    const ALL: [WriteFault; 4] = [Self::DiskFull, Self::Locked, Self::Io, Self::ReadOnly];

    /// The fault behind an SQLite result code (primary or extended), if it is one.
    pub fn from_sqlite_code(code: i64) -> Option<Self> {
        match code & 0xff {
            13 => Some(Self::DiskFull),
            5 | 6 => Some(Self::Locked),
            10 | 14 => Some(Self::Io),
            8 => Some(Self::ReadOnly),
            _ => None,
        }
    }

    /// The fault behind a PostgreSQL SQLSTATE, if it is one: class 53
    /// (insufficient resources: disk full, out of memory, too many
    /// connections), class 08 (connection lost) and 57P0x (the server shutting
    /// down) as I/O, 25006 (a read-only transaction, as on a standby) as read
    /// only, 55P03 (lock not available) as locked.
    pub fn from_sqlstate(code: &str) -> Option<Self> {
        match code {
            "53100" => Some(Self::DiskFull),
            "25006" => Some(Self::ReadOnly),
            "55P03" => Some(Self::Locked),
            c if c.starts_with("53") || c.starts_with("08") || c.starts_with("57P0") => Some(Self::Io),
            _ => None,
        }
    }

    fn index(self) -> u8 {
        Self::ALL.iter().position(|f| *f == self).unwrap_or(0) as u8
    }
}

impl StoreError {
    /// The storage fault behind this error, when it is one (and not, say, a
    /// constraint or a corrupt row, which are bugs to log every time).
    pub fn write_fault(&self) -> Option<WriteFault> {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => match e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                Some(pg) => WriteFault::from_sqlstate(pg.code()),
                None => e
                    .code()
                    .and_then(|c| c.parse::<i64>().ok())
                    .and_then(WriteFault::from_sqlite_code),
            },
            StoreError::Db(sqlx::Error::Io(_)) => Some(WriteFault::Io),
            StoreError::BatchFailed { fault, .. } => *fault,
            _ => None,
        }
    }
}

/// The database's writability, shared by every clone of the store: `0` while
/// writes commit, else one more than the index of the fault that stops them.
#[derive(Debug, Default)]
pub(crate) struct Health(AtomicU8);

impl Health {
    /// Records a failed write. True when `e` is a storage fault: then it is
    /// logged here, once per change of state, and the caller should not log
    /// it again; false for any other error.
    pub(crate) fn fault(&self, e: &StoreError) -> bool {
        let Some(fault) = e.write_fault() else {
            return false;
        };
        let now = fault.index() + 1;
        if self.0.swap(now, Ordering::AcqRel) != now {
            tracing::error!(
                fault = fault.as_str(),
                error = %e,
                "the database cannot be written; commands are answered \"not saved\" until it can"
            );
        }
        true
    }

    /// Records a write that committed; logs once when a fault has cleared.
    pub(crate) fn written(&self) {
        if self.0.swap(0, Ordering::AcqRel) != 0 {
            tracing::warn!("the database can be written again");
        }
    }

    /// `Ok` while writes commit, else the last fault seen.
    pub(crate) fn state(&self) -> std::result::Result<(), WriteFault> {
        match usize::from(self.0.load(Ordering::Acquire)) {
            0 => Ok(()),
            n => Err(WriteFault::ALL[n - 1]),
        }
    }
}

/// True when the connection is outside any transaction by both sqlx's count and
/// the database's own. SQLite is asked with a `BEGIN`, which it refuses inside
/// a transaction (and which is rolled back at once when accepted);
/// PostgreSQL with a `SAVEPOINT`, which it refuses outside a transaction
/// block with 25P01 (inside a live or a failed block it is accepted or
/// refused otherwise, and the connection is closed anyway).
pub(crate) async fn is_settled(conn: &mut Conn) -> Result<bool> {
    if conn.is_in_transaction() {
        return Ok(false);
    }
    match Engine::of(conn) {
        Engine::Sqlite => {
            if sqlx::query("BEGIN").execute(&mut *conn).await.is_err() {
                return Ok(false);
            }
            sqlx::query("ROLLBACK").execute(&mut *conn).await?;
            Ok(true)
        }
        Engine::Postgres => Ok(
            match sqlx::query("SAVEPOINT opsdesk_settled").execute(&mut *conn).await {
                // 25P01 no_active_sql_transaction: a savepoint needs a transaction block.
                Err(sqlx::Error::Database(e)) => e.code().as_deref() == Some("25P01"),
                _ => false,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_map_to_the_fault_an_operator_can_fix() {
        let cases = [
            ("SQLITE_FULL", 13, Some(WriteFault::DiskFull)),
            ("SQLITE_BUSY", 5, Some(WriteFault::Locked)),
            ("SQLITE_BUSY_SNAPSHOT (extended)", 517, Some(WriteFault::Locked)),
            ("SQLITE_LOCKED", 6, Some(WriteFault::Locked)),
            ("SQLITE_IOERR_WRITE (extended)", 778, Some(WriteFault::Io)),
            ("SQLITE_READONLY", 8, Some(WriteFault::ReadOnly)),
            ("SQLITE_CONSTRAINT_TRIGGER is a bug, not a fault", 1811, None),
            ("SQLITE_CORRUPT is not fixed by waiting", 11, None),
        ];
        for (what, code, want) in cases {
            assert_eq!(WriteFault::from_sqlite_code(code), want, "{what}");
        }
    }

    #[test]
    fn sqlstates_map_to_the_fault_an_operator_can_fix() {
        let cases = [
            ("disk_full", "53100", Some(WriteFault::DiskFull)),
            ("too_many_connections", "53300", Some(WriteFault::Io)),
            ("connection_failure", "08006", Some(WriteFault::Io)),
            ("admin_shutdown", "57P01", Some(WriteFault::Io)),
            ("read_only_sql_transaction", "25006", Some(WriteFault::ReadOnly)),
            ("lock_not_available", "55P03", Some(WriteFault::Locked)),
            ("unique_violation is a bug, not a fault", "23505", None),
            ("check_violation", "23514", None),
        ];
        for (what, code, want) in cases {
            assert_eq!(WriteFault::from_sqlstate(code), want, "{what}");
        }
    }

    #[test]
    fn a_fault_is_a_state_that_begins_and_clears_once() {
        let health = Health::default();
        assert_eq!(health.state(), Ok(()));
        let full = StoreError::BatchFailed {
            fault: Some(WriteFault::DiskFull),
            cause: "disk".into(),
        };
        assert!(health.fault(&full));
        assert!(health.fault(&full));
        assert_eq!(health.state(), Err(WriteFault::DiskFull));
        let bug = StoreError::Corrupt {
            table: "t",
            detail: "x".into(),
        };
        assert!(!health.fault(&bug), "a corrupt row is not a storage fault");
        assert_eq!(health.state(), Err(WriteFault::DiskFull));
        health.written();
        assert_eq!(health.state(), Ok(()));
    }
}
