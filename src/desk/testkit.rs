//! What every desk test needs: a chat actor with ITIL roles, an inbound
//! chat line, and the reply the desk gives it. One copy for all the desk's
//! test modules.

use super::{Actor, Desk, Event, Inbound, Outcome, Reply};
use crate::domain::RoleKey;

/// A console user holding these ITIL roles.
pub(crate) fn actor(name: &str, roles: &[&str]) -> Actor {
    Actor {
        user: crate::console::console_user_id(name),
        name: name.into(),
        roles: roles.iter().map(|r| RoleKey::parse(r).unwrap()).collect(),
    }
}

/// A chat line in #general with its event identity.
pub(crate) fn line(key: &str, who: &Actor, text: &str) -> Inbound {
    Inbound {
        key: key.into(),
        actor: who.clone(),
        channel: Some("general".into()),
        event: Event::Line(text.into()),
    }
}

/// Sends a chat line and returns the reply (refusals included); any other
/// outcome fails the test.
pub(crate) async fn say(desk: &Desk, key: &str, who: &Actor, text: &str) -> Reply {
    match desk.handle(line(key, who, text)).await {
        Outcome::Reply(r) => r,
        other => panic!("{text}: {other:?}"),
    }
}
