//! Who was last seen holding which ITIL role: a board's members are the
//! people seen with its roles (a chat platform does not list a role's
//! members without privileged access, so the desk learns them as people act).

use super::{to_ms, Conn, Result};
use crate::domain::{RoleKey, UserId};
use chrono::{DateTime, Utc};

/// Replaces what is known of a user's roles with the roles they hold now
/// (two statements whatever the number of roles: it runs on every command).
pub async fn refresh(conn: &mut Conn, user: UserId, roles: &[RoleKey], now: DateTime<Utc>) -> Result<()> {
    let user = user.get() as i64;
    sqlx::query("DELETE FROM role_holders WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    if roles.is_empty() {
        return Ok(());
    }
    let mut insert = super::Sql::new("INSERT INTO role_holders (user_id, role, seen_at) ");
    insert.push_values(roles, |mut row, role| {
        row.push_bind(user).push_bind(role.as_str()).push_bind(to_ms(now));
    });
    insert.push(" ON CONFLICT DO NOTHING");
    insert.build().execute(&mut *conn).await?;
    Ok(())
}

/// The ITIL roles `user` was last seen holding (none if never seen).
pub async fn roles_of(conn: &mut Conn, user: UserId) -> Result<Vec<RoleKey>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT role FROM role_holders WHERE user_id = $1 ORDER BY role")
        .bind(user.get() as i64)
        .fetch_all(&mut *conn)
        .await?;
    // A role no longer configured reads as no role.
    Ok(rows.into_iter().filter_map(|(r,)| RoleKey::parse(&r).ok()).collect())
}

/// How many people were seen holding any of `roles`, leaving out `except`.
pub async fn count_holders(conn: &mut Conn, roles: &[RoleKey], except: &[UserId]) -> Result<u32> {
    let roles: Vec<String> = roles.iter().map(|r| format!("'{}'", r.as_str())).collect();
    let except: Vec<String> = except.iter().map(|u| (u.get() as i64).to_string()).collect();
    // Role keys are checked to be [a-z0-9_] and user ids are numbers, so
    // building the lists inline cannot inject anything.
    let sql = format!(
        "SELECT COUNT(DISTINCT user_id) FROM role_holders WHERE role IN ({}) AND user_id NOT IN ({})",
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
    let (n,): (i64,) = sqlx::query_as(&sql).fetch_one(conn).await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn holders_are_counted_once_each_and_follow_role_changes() {
        let (store, _dir) = temp_store().await;
        let mut tx = store.begin().await.unwrap();
        let now = Utc::now();
        let role = |s: &str| RoleKey::parse(s).unwrap();
        let (cab, ecab, sd) = ([role("cab")], [role("ecab")], [role("service_desk")]);
        refresh(&mut tx, UserId::new(1), &[cab[0].clone(), ecab[0].clone()], now)
            .await
            .unwrap();
        refresh(&mut tx, UserId::new(2), &cab, now).await.unwrap();
        refresh(&mut tx, UserId::new(3), &sd, now).await.unwrap();
        let both = [cab[0].clone(), ecab[0].clone()];
        assert_eq!(count_holders(&mut tx, &both, &[]).await.unwrap(), 2);
        assert_eq!(count_holders(&mut tx, &ecab, &[]).await.unwrap(), 1);
        assert_eq!(count_holders(&mut tx, &cab, &[UserId::new(2)]).await.unwrap(), 1);
        assert_eq!(count_holders(&mut tx, &[], &[]).await.unwrap(), 0);
        // User 2 lost the CAB role.
        refresh(&mut tx, UserId::new(2), &sd, now).await.unwrap();
        assert_eq!(count_holders(&mut tx, &cab, &[]).await.unwrap(), 1);
        assert_eq!(count_holders(&mut tx, &sd, &[]).await.unwrap(), 2);
        // A role listed twice is held once; no roles at all forgets the user.
        refresh(&mut tx, UserId::new(4), &[sd[0].clone(), sd[0].clone()], now)
            .await
            .unwrap();
        assert_eq!(count_holders(&mut tx, &sd, &[]).await.unwrap(), 3);
        refresh(&mut tx, UserId::new(4), &[], now).await.unwrap();
        assert_eq!(count_holders(&mut tx, &sd, &[]).await.unwrap(), 2);
    }
}
