//! What the desk asks transports to deliver: destinations and messages, in a
//! platform-neutral form stored as JSON in the outbox.
//!
//! Text here is raw: it may contain user-typed mention syntax. Transports make it
//! safe (see `render::neutralize`) and ping only `ping_roles` / `ping_users`.
//!
//! A message may carry one file ([`Attachment`], the report's chart): its name
//! is part of the JSON, its bytes are not: the outbox keeps them in a column of
//! their own until the message is delivered (`store::outbox`).

use serde::{Deserialize, Serialize};

use crate::domain::change::ChangeId;
use crate::domain::incident::IncidentId;
use crate::domain::{RoleKey, UserId};

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "to", content = "id")]
pub enum Destination {
    /// The working channel of an ITIL role (config `roles.<key>.channel`).
    RoleChannel(RoleKey),
    /// A channel by platform id or name (e.g. where a command came from).
    Channel(String),
    /// The thread of a record's card (`INC-3`); falls back to the card's channel.
    Thread(String),
    /// A direct message to a user.
    Dm(UserId),
}

impl Destination {
    /// The delivery queue of this destination: each is delivered on its own
    /// (a busy channel never holds up another); every direct message shares
    /// the one `dm` queue, which the dispatcher works several at a time.
    pub fn queue(&self) -> String {
        match self {
            Destination::RoleChannel(role) => format!("role:{role}"),
            Destination::Channel(channel) => format!("channel:{channel}"),
            Destination::Thread(subject) => format!("thread:{subject}"),
            Destination::Dm(_) => DM_QUEUE.to_owned(),
        }
    }
}

/// The queue of every direct message (see [`Destination::queue`]).
pub const DM_QUEUE: &str = "dm";

/// How urgent a message is: within its queue, the dispatcher delivers the
/// urgent lane first, then the normal one, then bulk (a record's own
/// messages keep their order whatever their lanes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// What P1/P2 and major incidents send to channels and threads: their
    /// cards, role pings, FYIs and thread posts.
    Urgent,
    /// Other cards, their edits, posts and thread posts.
    Normal,
    /// Direct messages: subscriber notices, reporters' surveys.
    Bulk,
}

impl Lane {
    /// The `outbox.lane` value: lower goes first.
    pub fn level(self) -> i64 {
        match self {
            Lane::Urgent => 0,
            Lane::Normal => 1,
            Lane::Bulk => 2,
        }
    }

    /// The usual lane of a message to `destination`: bulk for direct
    /// messages, normal otherwise (the desk raises an urgent record's).
    pub fn of(destination: &Destination) -> Self {
        match destination {
            Destination::Dm(_) => Lane::Bulk,
            _ => Lane::Normal,
        }
    }
}

/// Colours of a card, by meaning; transports pick the actual colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    P1,
    P2,
    P3,
    P4,
    P5,
    Done,
}

/// A structured card (a Discord embed; a block of lines on the console).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub title: String,
    pub tone: Tone,
    /// `(name, value)` pairs, values may hold user text.
    pub fields: Vec<(String, String)>,
    /// Times shown relative to now (`<t:…:R>` on Discord), Unix seconds.
    pub times: Vec<(String, i64)>,
    pub footer: Option<String>,
}

/// A file sent with a message. Only its name and use are serialized; the
/// bytes travel beside the JSON (the outbox's `attachment` column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file name people see and download (`report.png`).
    pub name: String,
    /// Shown as the card's picture (on Discord the embed's image is
    /// `attachment://<name>`); otherwise a plain file with the message.
    #[serde(default)]
    pub card_image: bool,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// One outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMessage {
    pub text: String,
    #[serde(default)]
    pub ping_roles: Vec<RoleKey>,
    #[serde(default)]
    pub ping_users: Vec<UserId>,
    /// Chat roles (names or ids) that are not ITIL roles, e.g. a service's
    /// subscriber role (`services.<key>.subscriber_role`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ping_chat_roles: Vec<String>,
    #[serde(default)]
    pub card: Option<Card>,
    /// Emoji the bot adds to the message once it is first posted (the vote
    /// options ✅ ❌ ➖); never added again when a card is edited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<String>,
    /// Where a card row puts the card (cards only; posts ignore it).
    #[serde(default, skip_serializing_if = "CardStep::is_in_place")]
    pub step: CardStep,
    /// Rows of buttons under the message (a card's controls). An edited
    /// card carries the buttons of its new state: none clears them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ButtonRow>,
    /// A file posted with the message, on the same message as its card. An
    /// edit of a card that carries one replaces the card's file; an edit
    /// without one leaves the file the card has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
}

/// What pressing a button asks for: typed here, so a transport encodes it in
/// its own way (a Discord `custom_id`) and decodes it back into this type at
/// its edge, never into a string the desk parses later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "do", content = "on")]
pub enum CardAction {
    /// `!take INC-n`.
    #[serde(with = "incident_id")]
    Take(IncidentId),
    /// `!status INC-n in_progress` (start work, or resume it from hold).
    #[serde(with = "incident_id")]
    Start(IncidentId),
    /// `!status INC-n on_hold <reason kind> <why>`, asked for in a form.
    #[serde(with = "incident_id")]
    Hold(IncidentId),
    /// `!resolve INC-n <resolution>`, asked for in a form.
    #[serde(with = "incident_id")]
    Resolve(IncidentId),
    /// `!escalate INC-n`.
    #[serde(with = "incident_id")]
    Escalate(IncidentId),
    /// `!reopen INC-n`.
    #[serde(with = "incident_id")]
    Reopen(IncidentId),
    /// The report form for an incident logged from a message (🎫), whose
    /// submit corrects it (`!edit INC-n …`).
    #[serde(with = "incident_id")]
    CompleteDetails(IncidentId),
    /// Whether, and why not, the presser may vote on a change's CAB vote.
    #[serde(with = "change_id")]
    WhyNoVote(ChangeId),
}

/// How a button looks, by meaning; transports pick the actual style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    /// The usual next step.
    Primary,
    Secondary,
    /// Ends the work well (resolve).
    Success,
    /// Raises the alarm (escalate).
    Danger,
}

/// One button: what it does and what it says (`render` words the label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub action: CardAction,
    pub label: String,
    pub style: ButtonStyle,
}

/// One row of buttons.
pub type ButtonRow = Vec<Button>;

/// Record ids in the outbox's JSON as they are shown (`INC-12`, `CHG-3`).
mod incident_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::incident::IncidentId;

    pub fn serialize<S: Serializer>(id: &IncidentId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IncidentId, D::Error> {
        let raw = String::deserialize(d)?;
        IncidentId::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("not an incident id: {raw}")))
    }
}

mod change_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::change::ChangeId;

    pub fn serialize<S: Serializer>(id: &ChangeId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChangeId, D::Error> {
        let raw = String::deserialize(d)?;
        ChangeId::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("not a change id: {raw}")))
    }
}

/// Where a card row puts its record's card. A card follows the work: when
/// the record moves to a group with another channel, one row posts it anew
/// there ([`CardStep::Move`]) and the next edits the post left behind into a
/// pointer ([`CardStep::Leave`]). Two rows, so a restart between them
/// resumes from the outbox; the post left behind is kept in `store::cards`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStep {
    /// Posted the first time, edited where it is after.
    #[default]
    InPlace,
    /// Posted anew at the row's destination and remembered as the card; the
    /// post it replaces is kept as the card's previous post. Its thread stays.
    Move,
    /// Edits the card's previous post (left by a [`CardStep::Move`]) into this
    /// message, without the card; nothing to do when there is none.
    Leave,
}

impl CardStep {
    fn is_in_place(&self) -> bool {
        *self == CardStep::InPlace
    }
}

impl OutMessage {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ping_roles: Vec::new(),
            ping_users: Vec::new(),
            ping_chat_roles: Vec::new(),
            card: None,
            reactions: Vec::new(),
            step: CardStep::InPlace,
            buttons: Vec::new(),
            attachment: None,
        }
    }

    /// Puts `rows` of buttons under the message, in place of any it had.
    pub fn with_buttons(mut self, rows: Vec<ButtonRow>) -> Self {
        self.buttons = rows;
        self
    }

    /// Sends `bytes` as the file `name` with the message, shown as its card's picture.
    pub fn with_card_image(mut self, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.attachment = Some(Attachment {
            name: name.into(),
            card_image: true,
            bytes,
        });
        self
    }

    pub fn with_reactions(mut self, emoji: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.reactions.extend(emoji.into_iter().map(Into::into));
        self
    }

    pub fn pinging_roles(mut self, roles: impl IntoIterator<Item = RoleKey>) -> Self {
        for r in roles {
            if !self.ping_roles.contains(&r) {
                self.ping_roles.push(r);
            }
        }
        self
    }

    pub fn pinging_users(mut self, users: impl IntoIterator<Item = UserId>) -> Self {
        for u in users {
            if !self.ping_users.contains(&u) {
                self.ping_users.push(u);
            }
        }
        self
    }

    pub fn pinging_chat_roles(mut self, roles: impl IntoIterator<Item = String>) -> Self {
        for r in roles {
            if !self.ping_chat_roles.contains(&r) {
                self.ping_chat_roles.push(r);
            }
        }
        self
    }

    pub fn with_card(mut self, card: Card) -> Self {
        self.card = Some(card);
        self
    }
}

/// How an outbox row is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// A new message.
    Post,
    /// The card of `subject`: created the first time (with a thread), edited after.
    Card,
}

impl OutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutKind::Post => "post",
            OutKind::Card => "card",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "post" => Some(OutKind::Post),
            "card" => Some(OutKind::Card),
            _ => None,
        }
    }
}

/// A message the desk wants sent, before it has an outbox id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub kind: OutKind,
    pub subject: Option<String>,
    pub destination: Destination,
    pub message: OutMessage,
    /// Its lane ([`Lane::of`] its destination unless the desk raised it).
    pub lane: Lane,
}

impl Outgoing {
    pub fn post(destination: Destination, message: OutMessage) -> Self {
        Self {
            kind: OutKind::Post,
            subject: None,
            lane: Lane::of(&destination),
            destination,
            message,
        }
    }

    /// A post in the thread of `subject`'s card, about that subject (so it
    /// is delivered after the card, in order with the record's other rows).
    pub fn in_thread(subject: impl std::fmt::Display, message: OutMessage) -> Self {
        let subject = subject.to_string();
        Self::post(Destination::Thread(subject.clone()), message).about(subject)
    }

    pub fn card(subject: impl Into<String>, destination: Destination, message: OutMessage) -> Self {
        Self {
            kind: OutKind::Card,
            subject: Some(subject.into()),
            lane: Lane::of(&destination),
            destination,
            message,
        }
    }

    /// The card of `subject`, posted anew at `destination` (see [`CardStep::Move`]).
    pub fn card_moved(subject: impl Into<String>, destination: Destination, mut message: OutMessage) -> Self {
        message.step = CardStep::Move;
        Self::card(subject, destination, message)
    }

    /// The post the card of `subject` left behind, edited into `message` (see
    /// [`CardStep::Leave`]); `destination` is where that post is.
    pub fn card_left(subject: impl Into<String>, destination: Destination, mut message: OutMessage) -> Self {
        message.step = CardStep::Leave;
        message.card = None;
        message.buttons.clear();
        Self::card(subject, destination, message)
    }

    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}
