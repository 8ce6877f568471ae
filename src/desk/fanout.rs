//! The one RACI fan-out: who hears of an action, for every record kind.
//!
//! The rule (stated in the README's Routing section):
//! - **Responsible**: its channel gets the action's message, pinging the role
//!   when the action hands it work (the caller's `ping` list);
//! - **Accountable**: told in its channel, pinged where the caller's ping list
//!   (from the row's action or config, e.g. `escalation.major_ping`) says so;
//! - **Consulted**: *asked* for their input, in their channel;
//! - **Informed**: told in their channel.
//!
//! One message per channel: roles sharing a channel get one message, with the
//! pings of every role pinged there; the responsible role's message wins a
//! shared channel, and a question to a consulted role sharing it is added to
//! it. A channel that already receives the record's card (or its edit) for
//! the same action gets no FYI on top (`covered`); a role to be pinged there is
//! still pinged. `Party::Assignee` pings the incident's assignee in its thread.

use super::Desk;
use crate::domain::escalation::{audience, Party};
use crate::domain::raci::Route;
use crate::domain::{RoleKey, UserId};
use crate::message::{Destination, OutMessage, Outgoing};

/// One action's notice to its route.
pub(crate) struct Notice<'a> {
    pub route: &'a Route,
    /// What the messages are about (their outbox subject).
    pub subject: String,
    /// The parties pinged.
    pub ping: &'a [Party],
    /// The incident's assignee, for `Party::Assignee`.
    pub assignee: Option<UserId>,
    /// The responsible role's message.
    pub text: String,
    /// What the accountable and informed roles are told.
    pub tell: String,
    /// What the consulted roles are asked.
    pub ask: String,
    /// Channels that get the record's card for this action already.
    pub covered: Vec<String>,
}

/// What a role is in one notice, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Responsible,
    Consulted,
    Told,
}

struct Slot {
    channel: String,
    role: RoleKey,
    part: Part,
    asked: bool,
    pings: Vec<RoleKey>,
}

/// The messages of one notice, by the rule in the module documentation.
pub(crate) fn fan_out(desk: &Desk, n: Notice<'_>) -> Vec<Outgoing> {
    let policy = desk.policy();
    let pinged = audience(n.route, n.ping, &[], n.assignee.is_some()).ping_roles;
    let parts = std::iter::once((&n.route.responsible, Part::Responsible))
        .chain(std::iter::once((&n.route.accountable, Part::Told)))
        .chain(n.route.consulted.iter().map(|r| (r, Part::Consulted)))
        .chain(n.route.informed.iter().map(|r| (r, Part::Told)))
        .chain(pinged.iter().map(|r| (r, Part::Told)));
    let mut slots: Vec<Slot> = Vec::new();
    for (role, part) in parts {
        let ping = pinged.contains(role);
        let channel = policy
            .role(role)
            .map(|d| d.channel.clone())
            .unwrap_or_else(|| role.to_string());
        if n.covered.contains(&channel) && !ping {
            continue;
        }
        match slots.iter_mut().find(|s| s.channel == channel) {
            Some(slot) => {
                slot.part = slot.part.min(part);
                slot.asked |= part == Part::Consulted;
                if ping && !slot.pings.contains(role) {
                    slot.pings.push(role.clone());
                }
            }
            None => slots.push(Slot {
                channel,
                role: role.clone(),
                part,
                asked: part == Part::Consulted,
                pings: if ping { vec![role.clone()] } else { Vec::new() },
            }),
        }
    }
    let mut out: Vec<Outgoing> = slots
        .into_iter()
        .map(|slot| {
            let text = match (slot.part, slot.asked) {
                (Part::Consulted, _) => n.ask.clone(),
                (Part::Responsible, true) => format!("{}\n{}", n.text, n.ask),
                (Part::Responsible, false) => n.text.clone(),
                (Part::Told, true) => format!("{}\n{}", n.tell, n.ask),
                (Part::Told, false) => n.tell.clone(),
            };
            Outgoing::post(
                Destination::RoleChannel(slot.role),
                OutMessage::text(text).pinging_roles(slot.pings),
            )
            .about(n.subject.clone())
        })
        .collect();
    if let (true, Some(user)) = (n.ping.contains(&Party::Assignee), n.assignee) {
        let message = OutMessage::text(n.text.clone()).pinging_users([user]);
        out.push(Outgoing::in_thread(&n.subject, message));
    }
    out
}
