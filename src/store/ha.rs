//! Which of several `opsdesk run` processes on one PostgreSQL database runs
//! the desk: the one whose session holds the desk's advisory lock
//! ([`LOCK_CLASS`], keyed by the schema the desk's tables are in, so desks in
//! two schemas of one database do not wait for each other). This module owns
//! that lock, the session that holds it and the catalogue query that says
//! who holds it.
//!
//! The lock is session-level, on a connection of its own (not the writer's:
//! a pool may replace that one). It goes when the session goes: a killed
//! process's socket is closed by its kernel at once; a machine that drops off
//! the network is found dead by the server's TCP keepalives, which this
//! session sets to notice it within two thirds of `ha.takeover_within`. A
//! standby waits in `pg_advisory_lock`, so it holds the lock the moment the
//! server lets the old session go.
//!
//! The active checks its own session every second (every fifteenth of
//! `ha.takeover_within` when that is shorter; [`Lease::lost`]). When the
//! server does not answer within a fifth of `ha.takeover_within` (network
//! loss: found within 4 s at the default 15 s, before the server's 9 s
//! keepalive ends the session and a standby is given the lock), or the lock
//! is no longer its own (its session was ended: a standby may hold it
//! already, for at most that second), the caller stops at once. Within that
//! second both may send; Discord's nonces and the inbound events' unique ids
//! keep a message or a command from counting twice. SQLite has none of this:
//! one process owns the file.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use super::Result;

/// The desk's advisory lock is the pair (`LOCK_CLASS` = `opsd`,
/// `hashtext(current_schema())`); `pg_locks` shows it as `classid`, `objid`
/// and `objsubid = 2`.
pub const LOCK_CLASS: i32 = 0x6f70_7364;

/// This session's entry for the desk's lock in `pg_locks` (alias `l`), `$1` the class.
const THE_LOCK: &str = "l.locktype = 'advisory' AND l.classid::bigint = $1 \
     AND l.objid = hashtext(current_schema())::oid AND l.objsubid = 2 \
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// A process that holds or waits for the desk's lock, from `pg_locks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The session's `application_name`: `opsdesk run on <host>, pid <pid>`.
    pub name: String,
    /// The client's address, none over a Unix socket.
    pub addr: Option<String>,
    /// When its session started.
    pub since: DateTime<Utc>,
    /// It holds the lock (the active); else it waits for it (a standby).
    pub active: bool,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(addr) = &self.addr {
            write!(f, " from {addr}")?;
        }
        Ok(())
    }
}

/// The desk's lock, held by this process's session: it runs the desk.
#[derive(Debug)]
pub struct Lease {
    conn: PgConnection,
    takeover_within: Duration,
}

/// A session waiting for the lock another process holds.
#[derive(Debug)]
pub struct Standby {
    conn: PgConnection,
    takeover_within: Duration,
    active: Option<Holder>,
}

/// What [`Lease::claim`] found.
#[derive(Debug)]
pub enum Claim {
    Active(Lease),
    Standby(Standby),
}

/// The name this process's lock session shows in `pg_stat_activity`.
fn session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unnamed host".to_owned());
    // The server cuts application_name at 63 bytes: shorten the host, keep the pid.
    let host: String = host.chars().take(32).collect();
    format!("opsdesk run on {host}, pid {}", std::process::id())
}

/// How often the active checks its lock session, and how long it waits for an answer.
fn checks(takeover_within: Duration) -> (Duration, Duration) {
    let every = (takeover_within / 15).clamp(Duration::from_millis(200), Duration::from_secs(1));
    (every, (takeover_within / 5).max(every))
}

/// The session settings that make the server notice a vanished peer within
/// two thirds of `takeover_within`, and never time the session out itself.
fn session_settings(takeover_within: Duration) -> String {
    let secs = takeover_within.as_secs().max(2);
    let idle = (secs / 3).max(1);
    let interval = (secs / 6).max(1);
    format!(
        "SET tcp_keepalives_idle = {idle}; SET tcp_keepalives_interval = {interval}; \
         SET tcp_keepalives_count = 2; SET statement_timeout = 0; \
         SET idle_in_transaction_session_timeout = 0; SET idle_session_timeout = 0"
    )
}

impl Lease {
    /// Connects a session of its own to the PostgreSQL database at `url` and
    /// takes the desk's lock if nobody holds it; else that session becomes a
    /// [`Standby`] naming the active.
    pub async fn claim(url: &str, takeover_within: Duration) -> Result<Claim> {
        let mut conn = PgConnectOptions::from_str(url)?
            .application_name(&session_name())
            .connect()
            .await?;
        sqlx::raw_sql(&session_settings(takeover_within))
            .execute(&mut conn)
            .await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))")
            .bind(LOCK_CLASS)
            .fetch_one(&mut conn)
            .await?;
        if got {
            return Ok(Claim::Active(Self { conn, takeover_within }));
        }
        let active = holders_on(&mut conn).await?.into_iter().find(|h| h.active);
        Ok(Claim::Standby(Standby {
            conn,
            takeover_within,
            active,
        }))
    }

    /// Resolves when this process may no longer run the desk: its session
    /// does not answer within a check interval, or no longer holds the lock.
    /// The reason is for the log.
    pub async fn lost(&mut self) -> String {
        loop {
            let (every, within) = checks(self.takeover_within);
            tokio::time::sleep(every).await;
            let sql =
                format!("SELECT COUNT(*) FROM pg_locks l WHERE {THE_LOCK} AND l.pid = pg_backend_pid() AND l.granted");
            let held = sqlx::query_scalar::<_, i64>(&sql)
                .bind(i64::from(LOCK_CLASS))
                .fetch_one(&mut self.conn);
            match tokio::time::timeout(within, held).await {
                Ok(Ok(1)) => {}
                Ok(Ok(_)) => return "the desk's lock is no longer this session's".to_owned(),
                Ok(Err(e)) => return format!("the lock session failed: {e}"),
                Err(_) => return format!("the lock session did not answer within {} ms", within.as_millis()),
            }
        }
    }

    /// Gives the lock up (at a clean stop), so a standby takes over at once.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1, hashtext(current_schema()))")
            .bind(LOCK_CLASS)
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}

impl Standby {
    /// The process holding the lock when this one asked, if the catalogue showed it.
    pub fn active(&self) -> Option<&Holder> {
        self.active.as_ref()
    }

    /// Waits for the lock (the server grants it when the active's session
    /// ends) and holds it from then on.
    pub async fn wait(mut self) -> Result<Lease> {
        sqlx::query("SELECT pg_advisory_lock($1, hashtext(current_schema()))")
            .bind(LOCK_CLASS)
            .execute(&mut self.conn)
            .await?;
        Ok(Lease {
            conn: self.conn,
            takeover_within: self.takeover_within,
        })
    }
}

/// A `pg_locks` row of the desk's lock: application name, client address,
/// session start, granted.
type LockRow = (Option<String>, Option<String>, Option<DateTime<Utc>>, bool);

/// Who holds and who waits for the desk's lock, the active first.
async fn holders_on(conn: &mut PgConnection) -> Result<Vec<Holder>> {
    let sql = format!(
        "SELECT a.application_name, host(a.client_addr), a.backend_start, l.granted
           FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE {THE_LOCK}
          ORDER BY l.granted DESC, a.backend_start"
    );
    let rows: Vec<LockRow> = sqlx::query_as(&sql).bind(i64::from(LOCK_CLASS)).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(name, addr, since, active)| Holder {
            name: name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "an unnamed session".to_owned()),
            addr,
            since: since.unwrap_or_else(Utc::now),
            active,
        })
        .collect())
}

/// Who holds and who waits for the desk's lock on the PostgreSQL database at
/// `url` (for `opsdesk status`), the active first.
pub async fn holders(url: &str) -> Result<Vec<Holder>> {
    let mut conn = PgConnectOptions::from_str(url)?
        .application_name("opsdesk status")
        .connect()
        .await?;
    let found = holders_on(&mut conn).await;
    let _ = conn.close().await;
    found
}

#[cfg(test)]
mod tests {
    use super::super::testing_postgres::TestPostgres;
    use super::*;

    #[tokio::test]
    async fn one_session_holds_the_lock_a_second_waits_and_takes_it_the_moment_the_first_session_ends() {
        let test = "one_session_holds_the_lock_a_second_waits_and_takes_it_the_moment_the_first_session_ends";
        let Some(pg) = TestPostgres::start(test).await else {
            return;
        };
        let takeover = Duration::from_secs(2);
        let Claim::Active(mut first) = Lease::claim(pg.url(), takeover).await.unwrap() else {
            panic!("nobody held the lock, so the first claim holds it");
        };
        let Claim::Standby(standby) = Lease::claim(pg.url(), takeover).await.unwrap() else {
            panic!("the second claim must wait");
        };
        let active = standby.active().expect("the standby names the active").clone();
        assert!(active.name.starts_with("opsdesk run on "), "{active:?}");
        assert!(active.active);
        let waiting = tokio::spawn(standby.wait());
        // The waiting session shows in the catalogue beside the active.
        let mut listed = Vec::new();
        for _ in 0..50 {
            listed = holders(pg.url()).await.unwrap();
            if listed.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(listed.iter().map(|h| h.active).collect::<Vec<_>>(), [true, false]);
        assert_eq!(listed[0], active);
        // While it holds the lock the active keeps it.
        assert!(tokio::time::timeout(Duration::from_secs(1), first.lost())
            .await
            .is_err());
        assert!(
            !waiting.is_finished(),
            "the standby waits while the active's session lives"
        );

        // The server ends the active's session, as it does a dead peer's.
        let mut admin = pg.connect().await;
        let ended: Vec<bool> = sqlx::query_scalar(&format!(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE {THE_LOCK} AND l.granted"
        ))
        .bind(i64::from(LOCK_CLASS))
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert_eq!(ended, [true]);
        let lease = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the standby takes the lock at once")
            .unwrap()
            .expect("the standby holds the lock");
        let why = tokio::time::timeout(Duration::from_secs(3), first.lost())
            .await
            .expect("the old active notices within two checks");
        assert!(why.contains("failed"), "{why}");
        let listed = holders(pg.url()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].active);
        assert!(
            listed[0].since > active.since,
            "the standby's (later) session holds it now"
        );
        lease.release().await;
        assert!(
            holders(pg.url()).await.unwrap().is_empty(),
            "a released lock is nobody's"
        );
        admin.close().await.ok();
        pg.finish().await;
    }

    #[test]
    fn the_server_notices_a_vanished_peer_within_two_thirds_of_the_takeover() {
        let s = session_settings(Duration::from_secs(15));
        assert!(s.contains("tcp_keepalives_idle = 5;"), "{s}");
        assert!(s.contains("tcp_keepalives_interval = 2;"), "{s}");
        assert!(s.contains("tcp_keepalives_count = 2;"), "{s}");
        // 5 s idle + 2 probes 2 s apart = 9 s < 10 s.
        let s = session_settings(Duration::from_secs(2));
        assert!(s.contains("tcp_keepalives_idle = 1;") && s.contains("tcp_keepalives_interval = 1;"));
    }

    #[test]
    fn the_active_finds_a_silent_session_before_the_server_gives_its_lock_away() {
        for secs in [2, 15, 60, 600] {
            let t = Duration::from_secs(secs);
            let (every, within) = checks(t);
            assert!(every <= Duration::from_secs(1), "{secs}: {every:?}");
            // The server ends a silent peer's session after idle + 2 × interval.
            let idle = (secs / 3).max(1);
            let server = Duration::from_secs(idle + 2 * (secs / 6).max(1));
            assert!(every + within < server, "{secs}: {every:?} + {within:?} vs {server:?}");
        }
    }

    #[test]
    fn the_session_name_fits_the_servers_limit_and_names_the_pid() {
        let n = session_name();
        assert!(n.len() <= 63, "{n}");
        assert!(n.starts_with("opsdesk run on "), "{n}");
    }

    #[test]
    fn a_holder_reads_as_its_name_and_address() {
        let h = Holder {
            name: "opsdesk run on a, pid 7".into(),
            addr: Some("127.0.0.1".into()),
            since: Utc::now(),
            active: true,
        };
        assert_eq!(h.to_string(), "opsdesk run on a, pid 7 from 127.0.0.1");
    }
}
