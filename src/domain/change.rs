//! Change records for ITIL change enablement: the kind of change, its risk,
//! its lifecycle state machine, and the window in which it may be carried out.
//!
//! This module owns the rules a change follows on its own: which state may
//! follow which, what a valid implementation window is, how windows collide
//! with each other and with freeze periods, and how a window is read from the
//! text a user types. The CAB vote lives in [`super::cab`].
//!
//! It must stay pure: no I/O, no async, no clock. The current time is always
//! a parameter, so every rule can be tested with fixed instants.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// How much of a user's word is echoed back in an error message.
const ECHO_LIMIT: usize = 64;

/// Returns at most [`ECHO_LIMIT`] characters of `text`, marking a cut with `…`.
fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(ECHO_LIMIT).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Lowercases a typed word and treats `-` and spaces as `_`, so that
/// `CAB-vote`, `cab vote` and `cab_vote` all read the same.
fn normalize(word: &str) -> String {
    word.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A word the user typed that names none of the expected values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{word}` is not a {what}; use one of: {expected}")]
pub struct UnknownWord {
    /// What was being parsed, such as `change type`.
    pub what: &'static str,
    /// The word as typed, cut to a reasonable length.
    pub word: String,
    /// The accepted words, comma separated.
    pub expected: &'static str,
}

impl UnknownWord {
    fn new(what: &'static str, word: &str, expected: &'static str) -> Self {
        Self {
            what,
            word: echo(word.trim()),
            expected,
        }
    }
}

/// The ITIL kind of a change, which decides how it is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    /// A pre-approved, low-risk, routine change that skips assessment and
    /// the CAB and goes straight from `new` to `scheduled`.
    Standard,
    /// A change that is assessed and then authorized by the CAB.
    Normal,
    /// An urgent change that is assessed and then authorized by the
    /// emergency CAB (ECAB), which has a smaller quorum and a short deadline.
    Emergency,
}

impl ChangeType {
    /// Every change type, in the order they are listed to users.
    pub const ALL: [ChangeType; 3] = [Self::Standard, Self::Normal, Self::Emergency];

    /// Reads a change type from the word a user typed, ignoring case and
    /// surrounding spaces.
    pub fn parse(word: &str) -> Result<Self, UnknownWord> {
        match normalize(word).as_str() {
            "standard" => Ok(Self::Standard),
            "normal" => Ok(Self::Normal),
            "emergency" => Ok(Self::Emergency),
            _ => Err(UnknownWord::new("change type", word, "standard, normal, emergency")),
        }
    }

    /// Returns the lowercase word for this change type.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Normal => "normal",
            Self::Emergency => "emergency",
        }
    }

    /// Tells whether the change is pre-approved and needs no CAB vote.
    pub const fn is_pre_approved(self) -> bool {
        matches!(self, Self::Standard)
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The assessed risk of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Little impact if the change goes wrong.
    Low,
    /// Noticeable but contained impact if the change goes wrong.
    Medium,
    /// Wide or severe impact if the change goes wrong.
    High,
}

impl Risk {
    /// Every risk level, from lowest to highest.
    pub const ALL: [Risk; 3] = [Self::Low, Self::Medium, Self::High];

    /// Reads a risk level from the word a user typed, ignoring case and
    /// surrounding spaces.
    pub fn parse(word: &str) -> Result<Self, UnknownWord> {
        match normalize(word).as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            _ => Err(UnknownWord::new("risk", word, "low, medium, high")),
        }
    }

    /// Returns the lowercase word for this risk level.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a change is in its lifecycle.
///
/// Normal and emergency changes go
/// `new → assessment → cab_vote → authorized → scheduled → implementing →
/// review → closed`, and the vote may instead end in `rejected`.
/// Standard changes are pre-approved and go `new → scheduled` directly.
///
/// A change may be `cancelled` from `new`, `assessment`, `cab_vote`,
/// `authorized` and `scheduled`, that is, at any point before work starts.
/// Once `implementing`, it can no longer be cancelled: a change that fails
/// is backed out and still goes through `review`, so that the failure is
/// recorded. `rejected`, `closed` and `cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Just raised, not yet looked at.
    New,
    /// Being assessed for impact and risk before the vote.
    Assessment,
    /// Waiting for the CAB (or ECAB) vote.
    CabVote,
    /// Approved by the board, waiting to be scheduled.
    Authorized,
    /// Turned down by the board; final.
    Rejected,
    /// Has an agreed implementation window.
    Scheduled,
    /// Being carried out.
    Implementing,
    /// Carried out (or backed out) and under post-implementation review.
    Review,
    /// Reviewed and done; final.
    Closed,
    /// Withdrawn before work started; final.
    Cancelled,
}

impl ChangeState {
    /// Every state, in lifecycle order.
    pub const ALL: [ChangeState; 10] = [
        Self::New,
        Self::Assessment,
        Self::CabVote,
        Self::Authorized,
        Self::Rejected,
        Self::Scheduled,
        Self::Implementing,
        Self::Review,
        Self::Closed,
        Self::Cancelled,
    ];

    /// Reads a state from its snake_case word, ignoring case and surrounding
    /// spaces; `-` or a space may stand for `_`, and `canceled` is accepted.
    pub fn parse(word: &str) -> Result<Self, UnknownWord> {
        match normalize(word).as_str() {
            "new" => Ok(Self::New),
            "assessment" => Ok(Self::Assessment),
            "cab_vote" => Ok(Self::CabVote),
            "authorized" => Ok(Self::Authorized),
            "rejected" => Ok(Self::Rejected),
            "scheduled" => Ok(Self::Scheduled),
            "implementing" => Ok(Self::Implementing),
            "review" => Ok(Self::Review),
            "closed" => Ok(Self::Closed),
            "cancelled" | "canceled" => Ok(Self::Cancelled),
            _ => Err(UnknownWord::new(
                "change state",
                word,
                "new, assessment, cab_vote, authorized, rejected, scheduled, \
                 implementing, review, closed, cancelled",
            )),
        }
    }

    /// Returns the snake_case word for this state.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Assessment => "assessment",
            Self::CabVote => "cab_vote",
            Self::Authorized => "authorized",
            Self::Rejected => "rejected",
            Self::Scheduled => "scheduled",
            Self::Implementing => "implementing",
            Self::Review => "review",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state in words, for people (`CAB vote`, not `cab_vote`).
    pub const fn label(self) -> &'static str {
        match self {
            Self::CabVote => "CAB vote",
            other => other.as_str(),
        }
    }

    /// The state after "is" in a sentence: `in review`, `scheduled`.
    pub const fn predicate(self) -> &'static str {
        match self {
            Self::Assessment => "in assessment",
            Self::CabVote => "in CAB vote",
            Self::Review => "in review",
            other => other.label(),
        }
    }

    /// Tells whether no state may follow this one.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Rejected | Self::Closed | Self::Cancelled)
    }
}

/// Shown in words (`CAB vote`); `as_str` is the stored key.
impl fmt::Display for ChangeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Returns the states a change of the given type may move to next from
/// `state`, in the order they should be offered to users.
///
/// The type matters only in `new`: a standard change goes to `scheduled`,
/// the others go to `assessment`. A final state allows nothing.
pub const fn allowed_next(change_type: ChangeType, state: ChangeState) -> &'static [ChangeState] {
    use ChangeState as S;
    match state {
        S::New => match change_type {
            ChangeType::Standard => &[S::Scheduled, S::Cancelled],
            ChangeType::Normal | ChangeType::Emergency => &[S::Assessment, S::Cancelled],
        },
        S::Assessment => &[S::CabVote, S::Cancelled],
        S::CabVote => &[S::Authorized, S::Rejected, S::Cancelled],
        S::Authorized => &[S::Scheduled, S::Cancelled],
        S::Scheduled => &[S::Implementing, S::Cancelled],
        S::Implementing => &[S::Review],
        S::Review => &[S::Closed],
        S::Rejected | S::Closed | S::Cancelled => &[],
    }
}

/// Lists states for a reply, such as `authorized, rejected, cancelled`, or
/// `none` when the list is empty.
pub fn list_states(states: &[ChangeState]) -> String {
    if states.is_empty() {
        return "none".to_owned();
    }
    states.iter().map(|s| s.label()).collect::<Vec<_>>().join(", ")
}

/// `a` or `an` before a change type's word (`an emergency change`).
pub const fn article(change_type: ChangeType) -> &'static str {
    match change_type {
        ChangeType::Emergency => "an",
        ChangeType::Standard | ChangeType::Normal => "a",
    }
}

/// A requested state change that the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} {change_type} change in {} cannot move to {}; allowed: {}",
    article(*change_type),
    from.label(),
    to.label(),
    list_states(allowed)
)]
pub struct InvalidTransition {
    /// The type of the change.
    pub change_type: ChangeType,
    /// The state the change is in.
    pub from: ChangeState,
    /// The state that was asked for.
    pub to: ChangeState,
    /// The states that may follow `from`, possibly none.
    pub allowed: &'static [ChangeState],
}

impl InvalidTransition {
    /// Lists the allowed next states for a reply such as
    /// `CHG-3 is in cab_vote; allowed: authorized, rejected, cancelled`.
    pub fn allowed_list(&self) -> String {
        list_states(self.allowed)
    }
}

/// Checks that a change of the given type may move from `from` to `to`.
///
/// Staying in the same state is not a transition and is refused.
pub fn transition(change_type: ChangeType, from: ChangeState, to: ChangeState) -> Result<(), InvalidTransition> {
    let allowed = allowed_next(change_type, from);
    if allowed.contains(&to) {
        Ok(())
    } else {
        Err(InvalidTransition {
            change_type,
            from,
            to,
            allowed,
        })
    }
}

/// Why a window was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The window ends at or before its start, so it has no length.
    #[error("the window must end after it starts ({start} .. {end})")]
    EndNotAfterStart {
        /// The requested start.
        start: DateTime<Utc>,
        /// The requested end.
        end: DateTime<Utc>,
    },
    /// The window starts before the current time.
    #[error("the window starts at {start}, which is in the past (now is {now})")]
    StartsInPast {
        /// The requested start.
        start: DateTime<Utc>,
        /// The time the request was checked at.
        now: DateTime<Utc>,
    },
}

/// A half-open span of time `[start, end)` in UTC in which a change is
/// carried out, or in which changes are frozen.
///
/// A window always ends after it starts. New windows are made with
/// [`Window::new`], which also refuses a start in the past; windows that were
/// already accepted (loaded from storage) and freeze periods (which may
/// already be under way) are made with [`Window::existing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Window {
    /// Makes a window for a new request, refusing one that does not end after
    /// it starts or that starts before `now`. A window starting exactly at
    /// `now` is accepted.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self, WindowError> {
        let window = Self::existing(start, end)?;
        if start < now {
            return Err(WindowError::StartsInPast { start, now });
        }
        Ok(window)
    }

    /// Makes a window without looking at the clock: for windows that were
    /// accepted earlier and are being loaded again, and for freeze periods,
    /// which may already have started. It still refuses a window that does
    /// not end after it starts.
    pub fn existing(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, WindowError> {
        if end <= start {
            return Err(WindowError::EndNotAfterStart { start, end });
        }
        Ok(Self { start, end })
    }

    /// Returns the first instant of the window.
    pub const fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Returns the instant just after the window: it is not part of it.
    pub const fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Returns how long the window lasts, which is always positive.
    pub fn duration(&self) -> chrono::TimeDelta {
        self.end - self.start
    }

    /// Tells whether `instant` falls inside the window; the end is excluded.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end
    }

    /// Tells whether the two windows share any instant. Windows that only
    /// touch, where one ends exactly when the other starts, do not overlap.
    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl fmt::Display for Window {
    /// Writes the window as `start..end` in RFC 3339, which
    /// [`parse_window`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}..{}",
            self.start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            self.end.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    }
}

impl<'de> Deserialize<'de> for Window {
    /// Reads a stored window, refusing one that does not end after it starts.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            start: DateTime<Utc>,
            end: DateTime<Utc>,
        }
        let raw = Raw::deserialize(d)?;
        Window::existing(raw.start, raw.end).map_err(serde::de::Error::custom)
    }
}

/// A named period in which no change may be carried out, such as a
/// year-end freeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    /// The name shown to users, such as `year-end close`.
    pub name: String,
    /// When the freeze applies.
    pub window: Window,
}

/// Returns the first freeze period that overlaps `window`, if any.
pub fn freeze_conflict<'a>(window: &Window, freezes: &'a [Freeze]) -> Option<&'a Freeze> {
    freezes.iter().find(|freeze| freeze.window.overlaps(window))
}

/// Returns the ids of the existing windows that overlap `new`, in the order
/// they were given.
pub fn conflicts<'a, Id>(new: &Window, existing: impl IntoIterator<Item = (Id, &'a Window)>) -> Vec<Id> {
    existing
        .into_iter()
        .filter(|(_, window)| window.overlaps(new))
        .map(|(id, _)| id)
        .collect()
}

/// Which end of a typed window an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The part before `..`.
    Start,
    /// The part after `..`.
    End,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Start => "start",
            Self::End => "end",
        })
    }
}

/// Why the text of a window could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseWindowError {
    /// The text has no `..` between the start and the end.
    #[error("write the window as <start>..<end>, for example 2030-05-01 22:00..2030-05-02 01:00")]
    MissingSeparator,
    /// One side is not a time in an accepted form.
    #[error(
        "the {side} `{text}` is not a time; use RFC 3339 \
         (2030-05-01T22:00:00Z), YYYY-MM-DDTHH:MM or YYYY-MM-DD HH:MM (UTC)"
    )]
    BadTime {
        /// Which side could not be read.
        side: Side,
        /// That side as typed, cut to a reasonable length.
        text: String,
    },
    /// Both sides were read but do not make a valid window.
    #[error(transparent)]
    Window(#[from] WindowError),
}

/// Reads one instant: RFC 3339 with any offset, or a minute-precision
/// date and time without offset, taken as UTC.
fn parse_instant(text: &str, side: Side) -> Result<DateTime<Utc>, ParseWindowError> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
        .ok_or_else(|| ParseWindowError::BadTime { side, text: echo(text) })
}

/// Reads a window typed as `<start>..<end>`, for a new request checked
/// against `now`.
///
/// Each side is RFC 3339 (`2030-05-01T22:00:00Z`, `2030-05-01T23:00:00+01:00`)
/// or a date and time to the minute without offset, `2030-05-01T22:00` or
/// `2030-05-01 22:00`, which is taken as UTC. Spaces around either side are
/// ignored.
pub fn parse_window(text: &str, now: DateTime<Utc>) -> Result<Window, ParseWindowError> {
    let (start, end) = text.split_once("..").ok_or(ParseWindowError::MissingSeparator)?;
    let start = parse_instant(start, Side::Start)?;
    let end = parse_instant(end, Side::End)?;
    Ok(Window::new(start, end, now)?)
}

/// Reads a window typed as `<start>..<end>` in the same forms as
/// [`parse_window`], without looking at the clock: for freeze periods in
/// config, which may already have started.
pub fn parse_existing_window(text: &str) -> Result<Window, ParseWindowError> {
    let (start, end) = text.split_once("..").ok_or(ParseWindowError::MissingSeparator)?;
    let start = parse_instant(start, Side::Start)?;
    let end = parse_instant(end, Side::End)?;
    Ok(Window::existing(start, end)?)
}

/// The id of a change record, shown as `CHG-12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangeId(i64);

impl ChangeId {
    /// Parses `CHG-12` or `chg-12`; the prefix is required so a change is
    /// never mistaken for an incident.
    pub fn parse(s: &str) -> Option<Self> {
        let digits = match s.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("CHG-") => &s[4..],
            _ => return None,
        };
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i64>().ok().filter(|n| *n > 0).map(ChangeId)
    }

    /// Wraps a database row id (always positive there).
    pub fn from_row(id: i64) -> Self {
        ChangeId(id)
    }

    /// Returns the number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CHG-{}", self.0)
    }
}

/// A change record as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: ChangeId,
    pub title: String,
    /// The service key (config `services.<key>`).
    pub service: String,
    pub risk: Risk,
    pub change_type: ChangeType,
    pub state: ChangeState,
    pub window: Option<Window>,
    pub requester: crate::domain::UserId,
    pub implementer: Option<crate::domain::UserId>,
    /// Why it was rejected or cancelled.
    pub reason: Option<String>,
    /// The post-implementation review note (`!change review`).
    pub review: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Change {
    /// Moves the change to `to` if its lifecycle allows it; returns the state
    /// it left. (The check and its write are one call.)
    pub fn move_to(&mut self, to: ChangeState) -> Result<ChangeState, InvalidTransition> {
        transition(self.change_type, self.state, to)?;
        Ok(std::mem::replace(&mut self.state, to))
    }

    /// Whether moving to `to` waits for a post-implementation review note:
    /// an emergency change does not close without one (seed: the change
    /// manager "participating in the change review before changes are
    /// closed").
    pub fn review_missing_for(&self, to: ChangeState) -> bool {
        to == ChangeState::Closed && self.change_type == ChangeType::Emergency && self.review.is_none()
    }

    /// Records the post-implementation review note; only an emergency change
    /// in implementing or review takes one. The check and its write are one call.
    pub fn set_review(&mut self, note: String) -> Result<(), ReviewRefused> {
        if self.change_type != ChangeType::Emergency {
            return Err(ReviewRefused::NotEmergency(self.change_type));
        }
        if !matches!(self.state, ChangeState::Implementing | ChangeState::Review) {
            return Err(ReviewRefused::NotImplemented(self.state));
        }
        self.review = Some(note);
        Ok(())
    }

    /// Sets who carries the change out; only before work starts. The check
    /// and its write are one call.
    pub fn set_implementer(
        &mut self,
        user: crate::domain::UserId,
        requester_may_implement: bool,
    ) -> Result<(), ImplementerRefused> {
        if self.state.is_terminal() || matches!(self.state, ChangeState::Implementing | ChangeState::Review) {
            return Err(ImplementerRefused::TooLate(self.state));
        }
        if user == self.requester && !requester_may_implement {
            return Err(ImplementerRefused::Requester);
        }
        if self.implementer == Some(user) {
            return Err(ImplementerRefused::Already);
        }
        self.implementer = Some(user);
        Ok(())
    }
}

/// Why a review note was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewRefused {
    /// Only emergency changes hold a post-implementation review here.
    NotEmergency(ChangeType),
    /// The change has not been carried out (or is final).
    NotImplemented(ChangeState),
}

/// Why an implementer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplementerRefused {
    /// Work has started, or the change is final.
    TooLate(ChangeState),
    /// Config (`change.requester_may_implement = false`) keeps the requester apart.
    Requester,
    /// That person is the implementer already.
    Already,
}

/// What a new change record holds before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub title: String,
    pub service: String,
    pub risk: Risk,
    pub change_type: ChangeType,
    pub state: ChangeState,
    pub window: Option<Window>,
    pub requester: crate::domain::UserId,
    pub implementer: Option<crate::domain::UserId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid test time")
    }

    fn now() -> DateTime<Utc> {
        at(2030, 5, 1, 12, 0)
    }

    #[test]
    fn a_change_moves_only_where_its_lifecycle_allows_and_says_where_it_was() {
        let mut ch = Change {
            id: ChangeId::parse("CHG-1").unwrap(),
            title: "t".into(),
            service: "email".into(),
            risk: Risk::Low,
            change_type: ChangeType::Normal,
            state: ChangeState::New,
            window: None,
            requester: crate::domain::UserId::new(1),
            implementer: None,
            reason: None,
            review: None,
            created_at: now(),
            updated_at: now(),
        };
        assert!(ch.move_to(ChangeState::Implementing).is_err());
        assert_eq!(ch.state, ChangeState::New, "a refused move changes nothing");
        assert_eq!(ch.move_to(ChangeState::Assessment), Ok(ChangeState::New));
        assert_eq!(ch.state, ChangeState::Assessment);
    }

    fn window(start_hour: u32, end_hour: u32) -> Window {
        Window::existing(at(2030, 6, 1, start_hour, 0), at(2030, 6, 1, end_hour, 0)).expect("valid test window")
    }

    #[test]
    fn change_ids_need_their_prefix_and_a_positive_number() {
        assert_eq!(ChangeId::parse("CHG-7").map(ChangeId::get), Some(7));
        assert_eq!(ChangeId::parse("chg-42").map(ChangeId::get), Some(42));
        assert_eq!(ChangeId::parse("CHG-3").unwrap().to_string(), "CHG-3");
        for bad in [
            "7",
            "INC-7",
            "CHG-",
            "CHG-0",
            "CHG--1",
            "CHG-1a",
            "",
            "CHG-99999999999999999999",
            "ÇHG-1",
        ] {
            assert_eq!(ChangeId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn change_types_parse_from_any_case_and_round_trip() {
        for kind in ChangeType::ALL {
            assert_eq!(ChangeType::parse(kind.as_str()), Ok(kind));
            assert_eq!(ChangeType::parse(&kind.as_str().to_uppercase()), Ok(kind));
        }
        assert_eq!(ChangeType::parse("  Emergency "), Ok(ChangeType::Emergency));
    }

    #[test]
    fn an_unknown_change_type_lists_the_accepted_words() {
        let err = ChangeType::parse("urgent").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`urgent` is not a change type; use one of: standard, normal, emergency"
        );
    }

    #[test]
    fn risks_parse_from_any_case_and_round_trip() {
        for risk in Risk::ALL {
            assert_eq!(Risk::parse(risk.as_str()), Ok(risk));
            assert_eq!(Risk::parse(&risk.as_str().to_uppercase()), Ok(risk));
        }
        assert!(Risk::parse("").is_err());
        assert!(Risk::parse("severe").is_err());
    }

    #[test]
    fn a_very_long_unknown_word_is_cut_in_the_error() {
        let long = "é".repeat(500);
        let err = Risk::parse(&long).unwrap_err();
        assert_eq!(err.word.chars().count(), ECHO_LIMIT + 1);
        assert!(err.word.ends_with('…'));
    }

    #[test]
    fn states_parse_from_snake_case_words_and_round_trip() {
        for state in ChangeState::ALL {
            assert_eq!(ChangeState::parse(state.as_str()), Ok(state));
            assert_eq!(state.to_string(), state.label());
        }
        assert_eq!(ChangeState::parse("CAB-Vote"), Ok(ChangeState::CabVote));
        assert_eq!(ChangeState::parse("cab vote"), Ok(ChangeState::CabVote));
        assert_eq!(ChangeState::parse("canceled"), Ok(ChangeState::Cancelled));
        assert!(ChangeState::parse("done").is_err());
    }

    #[test]
    fn state_words_match_their_serde_names() {
        for state in ChangeState::ALL {
            let value = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(state.as_str());
            assert_eq!(ChangeState::deserialize(value), Ok(state));
        }
    }

    #[test]
    fn a_normal_change_follows_the_full_path_to_closed() {
        use ChangeState as S;
        let path = [
            S::New,
            S::Assessment,
            S::CabVote,
            S::Authorized,
            S::Scheduled,
            S::Implementing,
            S::Review,
            S::Closed,
        ];
        for kind in [ChangeType::Normal, ChangeType::Emergency] {
            for pair in path.windows(2) {
                assert_eq!(transition(kind, pair[0], pair[1]), Ok(()), "{kind} {pair:?}");
            }
        }
    }

    #[test]
    fn a_standard_change_goes_from_new_straight_to_scheduled() {
        use ChangeState as S;
        assert_eq!(transition(ChangeType::Standard, S::New, S::Scheduled), Ok(()));
        assert!(transition(ChangeType::Standard, S::New, S::Assessment).is_err());
    }

    #[test]
    fn a_normal_or_emergency_change_cannot_skip_the_vote() {
        use ChangeState as S;
        for kind in [ChangeType::Normal, ChangeType::Emergency] {
            let err = transition(kind, S::New, S::Scheduled).unwrap_err();
            assert_eq!(err.allowed, &[S::Assessment, S::Cancelled]);
            assert!(transition(kind, S::Assessment, S::Authorized).is_err());
        }
    }

    #[test]
    fn a_vote_ends_in_authorized_or_rejected() {
        use ChangeState as S;
        assert_eq!(transition(ChangeType::Normal, S::CabVote, S::Rejected), Ok(()));
        assert!(transition(ChangeType::Normal, S::Rejected, S::Scheduled).is_err());
    }

    #[test]
    fn cancelling_is_allowed_only_before_implementation() {
        use ChangeState as S;
        let cancellable = [S::New, S::Assessment, S::CabVote, S::Authorized, S::Scheduled];
        for kind in ChangeType::ALL {
            for state in ChangeState::ALL {
                let ok = transition(kind, state, S::Cancelled).is_ok();
                let expected = cancellable.contains(&state) && state != S::Cancelled;
                assert_eq!(ok, expected, "{kind} {state} -> cancelled");
            }
        }
    }

    #[test]
    fn final_states_allow_nothing() {
        for kind in ChangeType::ALL {
            for state in ChangeState::ALL {
                assert_eq!(
                    state.is_terminal(),
                    allowed_next(kind, state).is_empty(),
                    "{kind} {state}"
                );
            }
        }
    }

    #[test]
    fn transition_agrees_with_allowed_next_for_every_pair() {
        for kind in ChangeType::ALL {
            for from in ChangeState::ALL {
                for to in ChangeState::ALL {
                    let allowed = allowed_next(kind, from).contains(&to);
                    assert_eq!(transition(kind, from, to).is_ok(), allowed);
                    assert!(!(allowed && from == to), "self-loop {from}");
                }
            }
        }
    }

    #[test]
    fn an_invalid_transition_names_the_allowed_next_states() {
        let err = transition(ChangeType::Normal, ChangeState::CabVote, ChangeState::Closed).unwrap_err();
        assert_eq!(err.allowed_list(), "authorized, rejected, cancelled");
        assert_eq!(
            err.to_string(),
            "a normal change in CAB vote cannot move to closed; \
             allowed: authorized, rejected, cancelled"
        );
        let err = transition(ChangeType::Emergency, ChangeState::Scheduled, ChangeState::Closed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "an emergency change in scheduled cannot move to closed; allowed: implementing, cancelled"
        );
    }

    #[test]
    fn an_invalid_transition_from_a_final_state_says_none_are_allowed() {
        let err = transition(ChangeType::Normal, ChangeState::Closed, ChangeState::New).unwrap_err();
        assert_eq!(err.allowed_list(), "none");
    }

    #[test]
    fn a_window_must_end_after_it_starts() {
        let start = at(2030, 6, 1, 10, 0);
        assert_eq!(
            Window::new(start, start, now()),
            Err(WindowError::EndNotAfterStart { start, end: start })
        );
        let earlier = at(2030, 6, 1, 9, 0);
        assert!(matches!(
            Window::new(start, earlier, now()),
            Err(WindowError::EndNotAfterStart { .. })
        ));
    }

    #[test]
    fn a_new_window_may_not_start_in_the_past() {
        let start = at(2030, 5, 1, 11, 59);
        assert_eq!(
            Window::new(start, at(2030, 5, 1, 13, 0), now()),
            Err(WindowError::StartsInPast { start, now: now() })
        );
    }

    #[test]
    fn a_new_window_may_start_exactly_now() {
        let window = Window::new(now(), at(2030, 5, 1, 13, 0), now()).expect("starts now");
        assert_eq!(window.duration(), chrono::TimeDelta::hours(1));
    }

    #[test]
    fn an_existing_window_may_lie_in_the_past() {
        assert!(Window::existing(at(2020, 1, 1, 0, 0), at(2020, 1, 2, 0, 0)).is_ok());
    }

    #[test]
    fn windows_that_share_time_overlap() {
        assert!(window(10, 12).overlaps(&window(11, 13)));
        assert!(window(11, 13).overlaps(&window(10, 12)));
        assert!(window(10, 14).overlaps(&window(11, 12)));
        assert!(window(10, 12).overlaps(&window(10, 12)));
    }

    #[test]
    fn windows_that_only_touch_do_not_overlap() {
        assert!(!window(10, 12).overlaps(&window(12, 14)));
        assert!(!window(12, 14).overlaps(&window(10, 12)));
        assert!(!window(10, 11).overlaps(&window(13, 14)));
    }

    #[test]
    fn a_window_contains_its_start_but_not_its_end() {
        let w = window(10, 12);
        assert!(w.contains(w.start()));
        assert!(!w.contains(w.end()));
    }

    #[test]
    fn the_first_overlapping_freeze_is_reported() {
        let freezes = vec![
            Freeze {
                name: "morning".into(),
                window: window(6, 9),
            },
            Freeze {
                name: "launch".into(),
                window: window(11, 15),
            },
            Freeze {
                name: "late".into(),
                window: window(12, 20),
            },
        ];
        let hit = freeze_conflict(&window(10, 13), &freezes).map(|f| f.name.as_str());
        assert_eq!(hit, Some("launch"));
        assert_eq!(freeze_conflict(&window(9, 11), &freezes), None);
        assert_eq!(freeze_conflict(&window(9, 11), &[]), None);
    }

    #[test]
    fn conflicts_returns_the_ids_of_overlapping_windows_in_order() {
        let existing = [
            (1, window(8, 10)),
            (2, window(9, 11)),
            (3, window(11, 12)),
            (4, window(10, 13)),
        ];
        let ids = conflicts(&window(10, 11), existing.iter().map(|(id, w)| (*id, w)));
        assert_eq!(ids, vec![2, 4]);
        let none = conflicts::<u32>(&window(1, 2), std::iter::empty());
        assert!(none.is_empty());
    }

    #[test]
    fn a_window_parses_from_minute_precision_times_in_utc() {
        let expected = Window::existing(at(2030, 6, 1, 22, 0), at(2030, 6, 2, 1, 30)).unwrap();
        for text in [
            "2030-06-01T22:00..2030-06-02T01:30",
            "2030-06-01 22:00..2030-06-02 01:30",
            " 2030-06-01 22:00 .. 2030-06-02T01:30 ",
        ] {
            assert_eq!(parse_window(text, now()), Ok(expected), "{text}");
        }
    }

    #[test]
    fn a_window_parses_from_rfc3339_with_offsets_converted_to_utc() {
        let w = parse_window("2030-06-01T23:00:00+01:00..2030-06-02T01:30:00.5Z", now()).expect("rfc 3339");
        assert_eq!(w.start(), at(2030, 6, 1, 22, 0));
        assert_eq!(w.end(), at(2030, 6, 2, 1, 30) + chrono::TimeDelta::milliseconds(500));
    }

    #[test]
    fn a_window_displays_in_a_form_it_parses_back_from() {
        let w = window(10, 12);
        assert_eq!(w.to_string(), "2030-06-01T10:00:00Z..2030-06-01T12:00:00Z");
        assert_eq!(parse_window(&w.to_string(), now()), Ok(w));
    }

    #[test]
    fn window_text_without_a_separator_is_refused() {
        assert_eq!(
            parse_window("2030-06-01 22:00", now()),
            Err(ParseWindowError::MissingSeparator)
        );
        assert_eq!(parse_window("", now()), Err(ParseWindowError::MissingSeparator));
    }

    #[test]
    fn window_text_names_the_side_that_is_not_a_time() {
        assert_eq!(
            parse_window("tonight..2030-06-02 01:00", now()),
            Err(ParseWindowError::BadTime {
                side: Side::Start,
                text: "tonight".into()
            })
        );
        assert_eq!(
            parse_window("2030-06-01 22:00..", now()),
            Err(ParseWindowError::BadTime {
                side: Side::End,
                text: String::new()
            })
        );
        assert!(matches!(
            parse_window("2030-06-01 22:00..2030-02-30 01:00", now()),
            Err(ParseWindowError::BadTime { side: Side::End, .. })
        ));
        assert!(matches!(
            parse_window("2030-06-01 22:00..2030-06-02 01:00..2030-06-03 00:00", now()),
            Err(ParseWindowError::BadTime { side: Side::End, .. })
        ));
    }

    #[test]
    fn an_existing_window_may_be_parsed_in_the_past_but_must_still_end_after_it_starts() {
        let w = parse_existing_window("2020-06-01 22:00..2020-06-02T01:00").expect("past window");
        assert_eq!(w.start(), at(2020, 6, 1, 22, 0));
        assert!(matches!(
            parse_existing_window("2020-06-01 22:00..2020-06-01 21:00"),
            Err(ParseWindowError::Window(WindowError::EndNotAfterStart { .. }))
        ));
        assert_eq!(
            parse_existing_window("tomorrow"),
            Err(ParseWindowError::MissingSeparator)
        );
    }

    #[test]
    fn parsed_windows_are_checked_like_new_ones() {
        assert!(matches!(
            parse_window("2030-06-01 22:00..2030-06-01 21:00", now()),
            Err(ParseWindowError::Window(WindowError::EndNotAfterStart { .. }))
        ));
        assert!(matches!(
            parse_window("2020-06-01 22:00..2020-06-01 23:00", now()),
            Err(ParseWindowError::Window(WindowError::StartsInPast { .. }))
        ));
    }

    #[test]
    fn odd_window_text_is_refused_without_panicking() {
        for text in [
            "..",
            "....",
            "\u{0}..\u{0}",
            "9999999999-01-01 00:00..9999999999-01-02 00:00",
            "2030-06-01 24:00..2030-06-01 25:00",
            "２０３０-06-01 22:00..2030-06-02 01:00",
            "+262143-12-31T23:59:59Z..+262143-12-31T23:59:59Z",
        ] {
            assert!(parse_window(text, now()).is_err(), "{text}");
        }
    }

    #[test]
    fn a_stored_window_deserializes_only_if_it_ends_after_it_starts() {
        use serde::de::value::{Error, MapDeserializer};
        let read = |start: &str, end: &str| {
            let map =
                MapDeserializer::<_, Error>::new([("start", start.to_owned()), ("end", end.to_owned())].into_iter());
            Window::deserialize(map)
        };
        assert_eq!(
            read("2030-06-01T10:00:00Z", "2030-06-01T12:00:00Z").ok(),
            Some(window(10, 12))
        );
        assert!(read("2030-06-01T12:00:00Z", "2030-06-01T10:00:00Z").is_err());
    }
}
