//! The Change Advisory Board vote, held by emoji reactions on the change's
//! message.
//!
//! This module owns who may vote (the eligible roles and segregation of
//! duties), how reactions become ballots (one ballot per voter, switched or
//! withdrawn by reactions), how ballots are counted, and when a vote closes
//! and with what outcome. Normal changes are voted on by the CAB, emergency
//! changes by the ECAB; the config layer supplies a [`VoteRules`] for each.
//!
//! It must stay pure: no I/O, no async, no clock. The current time is always
//! a parameter, so every rule can be tested with fixed instants.
//!
//! # Counting rules
//!
//! - **Quorum** counts every ballot, abstentions included. A
//!   [`Quorum::Fraction`] is `ceil(fraction × eligible members)`, and any
//!   quorum is at least 1.
//! - **Threshold** is taken over the ballots that are not abstentions:
//!   the change is approved when `approve / (approve + reject) ≥ threshold`.
//!   Reaching the threshold exactly passes.
//! - With quorum met but no approve or reject ballot at all (everyone
//!   abstained), the change is **rejected**: nobody approved it.
//! - Without quorum, the outcome is [`Outcome::NoQuorum`], which is not an
//!   approval.
//!
//! # Closing
//!
//! A vote closes at its deadline, or earlier as soon as the outcome can no
//! longer change **through the eligible members who have not voted yet,
//! assuming the ballots already cast stand**. Ballots can still be switched
//! or withdrawn while the vote is open, so an early close is a decision of
//! the board: once [`evaluate`] returns [`Evaluation::Closed`], the adapter
//! records the outcome and ignores any later reaction. This is what CAB
//! chairs expect: when enough members have approved that the rest cannot
//! overturn it, the change is approved.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::change::{ChangeId, ChangeType};
use super::ids::{RoleKey, UserId};

/// The board that votes on a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Board {
    /// The Change Advisory Board, for normal changes.
    Cab,
    /// The Emergency CAB, for emergency changes: smaller quorum, short
    /// deadline.
    Ecab,
}

impl Board {
    /// Both boards.
    pub const ALL: [Board; 2] = [Self::Cab, Self::Ecab];

    /// Reads a board from its word ([`Board::as_str`]); any other text is `None`.
    pub fn parse(word: &str) -> Option<Board> {
        Self::ALL.into_iter().find(|b| b.as_str() == word)
    }

    /// Returns the board that votes on a change of the given type, or `None`
    /// for a standard change, which is pre-approved.
    pub const fn for_change(change_type: ChangeType) -> Option<Board> {
        match change_type {
            ChangeType::Standard => None,
            ChangeType::Normal => Some(Self::Cab),
            ChangeType::Emergency => Some(Self::Ecab),
        }
    }

    /// Returns the lowercase name of the board.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cab => "cab",
            Self::Ecab => "ecab",
        }
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A ballot: what one voter chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// For the change, shown as ✅.
    Approve,
    /// Against the change, shown as ❌.
    Reject,
    /// Present but not taking a side, shown as ➖. It counts for quorum
    /// but not for the threshold.
    Abstain,
}

/// The variation selector that some clients add after an emoji.
const VARIATION_SELECTOR_16: char = '\u{FE0F}';

impl Choice {
    /// Every choice, in the order their reactions are added to a vote.
    pub const ALL: [Choice; 3] = [Self::Approve, Self::Reject, Self::Abstain];

    /// Reads the choice a reaction stands for: ✅ approve, ❌ reject,
    /// ➖ abstain, with or without a trailing emoji variation selector.
    /// Any other emoji is `None`: it is ignored and not counted.
    pub fn from_emoji(emoji: &str) -> Option<Choice> {
        match emoji.strip_suffix(VARIATION_SELECTOR_16).unwrap_or(emoji) {
            "\u{2705}" => Some(Self::Approve),
            "\u{274C}" => Some(Self::Reject),
            "\u{2796}" => Some(Self::Abstain),
            _ => None,
        }
    }

    /// Returns the emoji a voter reacts with for this choice.
    pub const fn emoji(self) -> &'static str {
        match self {
            Self::Approve => "\u{2705}",
            Self::Reject => "\u{274C}",
            Self::Abstain => "\u{2796}",
        }
    }

    /// Returns the lowercase word for this choice.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Abstain => "abstain",
        }
    }

    /// Reads a choice from its word ([`Choice::as_str`]); any other text is `None`.
    pub fn parse(word: &str) -> Option<Choice> {
        Self::ALL.into_iter().find(|c| c.as_str() == word)
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many ballots a vote needs before its outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quorum {
    /// A fixed number of ballots.
    Count(u32),
    /// A share of the eligible members, in `(0, 1]`, rounded up.
    Fraction(f64),
}

/// The rules of one board's votes, supplied by the config layer.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteRules {
    /// The roles whose members may vote; holding any one of them is enough.
    pub eligible_roles: Vec<RoleKey>,
    /// How many ballots, abstentions included, the vote needs.
    pub quorum: Quorum,
    /// The share of approve ballots among approve and reject ballots that
    /// approves the change, in `(0, 1]`; reaching it exactly passes.
    pub threshold: f64,
    /// How long the vote stays open.
    pub deadline: TimeDelta,
}

/// A field of [`VoteRules`] that is out of range.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum RulesError {
    /// No role may vote, so no vote could ever reach quorum.
    #[error("eligible_roles is empty: name at least one role whose members may vote")]
    NoEligibleRoles,
    /// A quorum of zero ballots would decide a vote nobody took part in.
    #[error("quorum count is 0: it must be at least 1")]
    ZeroQuorum,
    /// A quorum fraction must be more than 0 and at most 1.
    #[error("quorum fraction {0} is out of range: it must be more than 0 and at most 1")]
    QuorumFractionOutOfRange(f64),
    /// A threshold must be more than 0 and at most 1.
    #[error("threshold {0} is out of range: it must be more than 0 and at most 1")]
    ThresholdOutOfRange(f64),
    /// A vote must stay open for some time.
    #[error("deadline {0} is not positive: a vote must stay open for some time")]
    DeadlineNotPositive(TimeDelta),
}

/// Tells whether `x` lies in `(0, 1]`; NaN does not.
fn in_unit_range(x: f64) -> bool {
    x > 0.0 && x <= 1.0
}

impl VoteRules {
    /// Checks every field, returning the first one that is out of range, in
    /// the order eligible roles, quorum, threshold, deadline.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.eligible_roles.is_empty() {
            return Err(RulesError::NoEligibleRoles);
        }
        match self.quorum {
            Quorum::Count(0) => return Err(RulesError::ZeroQuorum),
            Quorum::Count(_) => {}
            Quorum::Fraction(f) if !in_unit_range(f) => return Err(RulesError::QuorumFractionOutOfRange(f)),
            Quorum::Fraction(_) => {}
        }
        if !in_unit_range(self.threshold) {
            return Err(RulesError::ThresholdOutOfRange(self.threshold));
        }
        if self.deadline <= TimeDelta::zero() {
            return Err(RulesError::DeadlineNotPositive(self.deadline));
        }
        Ok(())
    }

    /// Returns when a vote opened at `opened_at` reaches its deadline, or
    /// `None` if that instant is beyond what can be represented.
    pub fn closes_at(&self, opened_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        opened_at.checked_add_signed(self.deadline)
    }

    /// Returns how many ballots the vote needs with this many eligible
    /// members; see [`required_quorum`].
    pub fn required_quorum(&self, eligible_member_count: u32) -> u32 {
        required_quorum(self.quorum, eligible_member_count)
    }
}

/// Returns how many ballots a vote needs: the count itself, or
/// `ceil(fraction × eligible members)`, and at least 1 either way.
///
/// The product is rounded down by a tiny margin before rounding up, so that
/// a fraction such as 0.7 of 10 members asks for 7 ballots and not 8 because
/// of binary floating point. A fraction that is not a number asks for 1.
pub fn required_quorum(quorum: Quorum, eligible_member_count: u32) -> u32 {
    let needed = match quorum {
        Quorum::Count(n) => n,
        Quorum::Fraction(f) => {
            let exact = f * f64::from(eligible_member_count);
            // `as` saturates and maps NaN to 0, so this cannot panic.
            (exact - 1e-9).ceil() as u32
        }
    };
    needed.max(1)
}

/// Why a member may not vote on a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ineligible {
    /// Segregation of duties: the requester does not approve their own
    /// change.
    #[error("you requested this change, so you cannot vote on it")]
    IsRequester,
    /// Segregation of duties: the implementer does not approve the change
    /// they will carry out.
    #[error("you are implementing this change, so you cannot vote on it")]
    IsImplementer,
    /// The member holds none of the roles that may vote.
    #[error("voting needs one of these roles: {}", list_roles(eligible))]
    MissingRole {
        /// The roles that may vote.
        eligible: Vec<RoleKey>,
    },
}

/// Lists role keys for a reply, such as `cab, change_manager`.
fn list_roles(roles: &[RoleKey]) -> String {
    roles.iter().map(RoleKey::as_str).collect::<Vec<_>>().join(", ")
}

/// Checks that `voter` may vote on a change raised by `requester` and to be
/// carried out by `implementer`.
///
/// The requester and the implementer may never vote, whatever roles they
/// hold (segregation of duties); anyone else needs at least one of the
/// eligible roles. The checks run in that order, so the most specific reason
/// is given.
pub fn eligibility(
    voter: UserId,
    voter_roles: &[RoleKey],
    rules: &VoteRules,
    requester: UserId,
    implementer: Option<UserId>,
) -> Result<(), Ineligible> {
    if voter == requester {
        return Err(Ineligible::IsRequester);
    }
    if implementer == Some(voter) {
        return Err(Ineligible::IsImplementer);
    }
    if voter_roles.iter().any(|role| rules.eligible_roles.contains(role)) {
        Ok(())
    } else {
        Err(Ineligible::MissingRole {
            eligible: rules.eligible_roles.clone(),
        })
    }
}

/// What casting a ballot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastOutcome {
    /// The voter had no ballot and now has one.
    New,
    /// The voter's ballot changed; the adapter removes the reaction for
    /// `from`, and removing it does not withdraw the new ballot.
    Switched {
        /// The choice the voter had before.
        from: Choice,
    },
    /// The voter already had this ballot.
    Unchanged,
}

/// The ballots of one vote: at most one per voter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ballots(BTreeMap<UserId, Choice>);

impl Ballots {
    /// Makes an empty set of ballots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `choice` as the voter's ballot, replacing any earlier one.
    pub fn cast(&mut self, voter: UserId, choice: Choice) -> CastOutcome {
        match self.0.insert(voter, choice) {
            None => CastOutcome::New,
            Some(from) if from == choice => CastOutcome::Unchanged,
            Some(from) => CastOutcome::Switched { from },
        }
    }

    /// Removes the voter's ballot if it is `choice`, and tells whether it
    /// did.
    ///
    /// A removed reaction for any other choice is ignored: after a switch
    /// from ✅ to ❌, removing the old ✅ reaction keeps the ❌ ballot.
    pub fn withdraw(&mut self, voter: UserId, choice: Choice) -> bool {
        if self.0.get(&voter) == Some(&choice) {
            self.0.remove(&voter);
            true
        } else {
            false
        }
    }

    /// Returns the voter's current ballot, if any.
    pub fn get(&self, voter: UserId) -> Option<Choice> {
        self.0.get(&voter).copied()
    }

    /// Returns every ballot, ordered by voter.
    pub fn iter(&self) -> impl Iterator<Item = (UserId, Choice)> + '_ {
        self.0.iter().map(|(voter, choice)| (*voter, *choice))
    }

    /// Returns how many members have a ballot.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Tells whether nobody has a ballot.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Counts the ballots.
    pub fn tally(&self) -> Tally {
        self.0.values().fold(Tally::default(), |mut tally, choice| {
            match choice {
                Choice::Approve => tally.approve = tally.approve.saturating_add(1),
                Choice::Reject => tally.reject = tally.reject.saturating_add(1),
                Choice::Abstain => tally.abstain = tally.abstain.saturating_add(1),
            }
            tally.voters = tally.voters.saturating_add(1);
            tally
        })
    }
}

/// The count of a vote's ballots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Approve ballots.
    pub approve: u32,
    /// Reject ballots.
    pub reject: u32,
    /// Abstain ballots.
    pub abstain: u32,
    /// Members with a ballot: the sum of the three counts.
    pub voters: u32,
}

/// How a closed vote ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Quorum was met and the approve share reached the threshold.
    Approved,
    /// Quorum was met and the approve share fell short of the threshold,
    /// or every ballot was an abstention.
    Rejected,
    /// Too few ballots were cast; the change is not approved.
    NoQuorum,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Self::Approved, Self::Rejected, Self::NoQuorum];

    /// Reads an outcome from its words ([`Outcome::as_str`]); any other text is `None`.
    pub fn parse(words: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == words)
    }

    /// Tells whether the change may go ahead.
    pub const fn is_approved(self) -> bool {
        matches!(self, Self::Approved)
    }

    /// Returns the lowercase words for this outcome.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::NoQuorum => "no_quorum",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a vote stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// Ballots may still change the outcome.
    Open,
    /// The vote is over with this outcome.
    Closed(Outcome),
}

/// Tells whether `approve` of `approve + reject` reaches the threshold.
/// No approve or reject ballot at all does not.
fn reaches(approve: u64, reject: u64, threshold: f64) -> bool {
    let decided = approve + reject;
    // Division is correctly rounded, so a share that equals the threshold
    // exactly (3 of 5 against 0.6) compares equal.
    decided > 0 && approve as f64 / decided as f64 >= threshold
}

/// The outcome of a final count against a quorum and a threshold.
fn final_outcome(approve: u64, reject: u64, abstain: u64, quorum: u32, threshold: f64) -> Outcome {
    if approve + reject + abstain < u64::from(quorum) {
        Outcome::NoQuorum
    } else if reaches(approve, reject, threshold) {
        Outcome::Approved
    } else {
        Outcome::Rejected
    }
}

/// Decides where a vote stands at `now`.
///
/// At or after `closes_at` the vote is closed with the outcome of the
/// ballots cast. Before it, the vote closes early when every way the
/// eligible members who have not voted could still vote (or not vote) gives
/// the same outcome, with the ballots already cast standing:
///
/// - it is approved early when quorum is met and it would still pass if
///   every remaining member rejected;
/// - it is rejected early when quorum is met and it would still fail if
///   every remaining member approved;
/// - it closes early without quorum when quorum could not be reached even
///   if every remaining member voted.
///
/// The ballots are the tally's approve, reject and abstain counts; its
/// `voters` field is not read. Every counted voter is taken to be one of the
/// `eligible_member_count` members; if more have voted than there are
/// members, none remain.
/// See the module documentation for the counting rules.
pub fn evaluate(
    tally: Tally,
    eligible_member_count: u32,
    rules: &VoteRules,
    now: DateTime<Utc>,
    closes_at: DateTime<Utc>,
) -> Evaluation {
    let quorum = required_quorum(rules.quorum, eligible_member_count);
    let (approve, reject, abstain) = (
        u64::from(tally.approve),
        u64::from(tally.reject),
        u64::from(tally.abstain),
    );
    let cast = approve + reject + abstain;
    if now >= closes_at {
        return Evaluation::Closed(final_outcome(approve, reject, abstain, quorum, rules.threshold));
    }

    let remaining = u64::from(eligible_member_count).saturating_sub(cast);
    if cast < u64::from(quorum) {
        return if cast + remaining < u64::from(quorum) {
            Evaluation::Closed(Outcome::NoQuorum)
        } else {
            Evaluation::Open
        };
    }
    // Quorum is met and stays met, since cast ballots stand.
    // The lowest approve share comes from every remaining member rejecting,
    // the highest from every remaining member approving.
    let worst_approves = approve + reject > 0 && reaches(approve, reject + remaining, rules.threshold);
    if worst_approves {
        return Evaluation::Closed(Outcome::Approved);
    }
    let best_approves = reaches(approve + remaining, reject, rules.threshold);
    if !best_approves {
        return Evaluation::Closed(Outcome::Rejected);
    }
    Evaluation::Open
}

/// Where a vote stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteStatus {
    Open,
    Closed(Outcome),
    /// The change was cancelled while the vote was open.
    Cancelled,
}

/// A vote with the rules it was opened under.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub change: ChangeId,
    pub board: Board,
    pub rules: VoteRules,
    pub expected_members: u32,
    pub opened_by: UserId,
    pub opened_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub status: VoteStatus,
    pub closed_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_choice_and_outcome_reads_back_from_its_word() {
        for b in Board::ALL {
            assert_eq!(Board::parse(b.as_str()), Some(b), "{b}");
        }
        for c in Choice::ALL {
            assert_eq!(Choice::parse(c.as_str()), Some(c), "{c}");
        }
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o), "{o}");
        }
        for bad in ["", "CAB", "approved ", "no quorum", "yes"] {
            assert_eq!(
                (Board::parse(bad), Choice::parse(bad), Outcome::parse(bad)),
                (None, None, None),
                "{bad:?}"
            );
        }
    }
    use chrono::TimeZone;

    fn role(key: &str) -> RoleKey {
        RoleKey::parse(key).expect("valid test role")
    }

    fn user(id: u64) -> UserId {
        UserId::new(id)
    }

    /// A CAB for normal changes: half the members, 60 % approval, two days.
    fn cab() -> VoteRules {
        VoteRules {
            eligible_roles: vec![role("cab"), role("change_manager")],
            quorum: Quorum::Fraction(0.5),
            threshold: 0.6,
            deadline: TimeDelta::hours(48),
        }
    }

    /// An ECAB for emergency changes: two ballots, simple majority, two hours.
    fn ecab() -> VoteRules {
        VoteRules {
            eligible_roles: vec![role("ecab")],
            quorum: Quorum::Count(2),
            threshold: 0.5,
            deadline: TimeDelta::hours(2),
        }
    }

    fn with_threshold(threshold: f64) -> VoteRules {
        VoteRules { threshold, ..cab() }
    }

    fn with_quorum(quorum: Quorum) -> VoteRules {
        VoteRules { quorum, ..cab() }
    }

    fn opened() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 5, 1, 9, 0, 0)
            .single()
            .expect("valid test time")
    }

    fn tally(approve: u32, reject: u32, abstain: u32) -> Tally {
        Tally {
            approve,
            reject,
            abstain,
            voters: approve.saturating_add(reject).saturating_add(abstain),
        }
    }

    #[derive(Clone, Copy)]
    /// When a case is evaluated, relative to the vote's deadline.
    enum When {
        /// One second before the deadline.
        Early,
        /// Exactly at the deadline.
        Deadline,
        /// An hour after the deadline.
        Late,
    }

    struct Case {
        what: &'static str,
        rules: VoteRules,
        eligible: u32,
        tally: Tally,
        when: When,
        expect: Evaluation,
    }

    fn case(
        what: &'static str,
        rules: VoteRules,
        eligible: u32,
        (approve, reject, abstain): (u32, u32, u32),
        when: When,
        expect: Evaluation,
    ) -> Case {
        Case {
            what,
            rules,
            eligible,
            tally: tally(approve, reject, abstain),
            when,
            expect,
        }
    }

    #[test]
    fn the_tally_rules_hold_for_every_case_in_the_table() {
        use Evaluation::{Closed, Open};
        use Outcome::{Approved, NoQuorum, Rejected};
        use When::{Deadline, Early, Late};
        #[rustfmt::skip]
        let cases = [
            case("quorum met and threshold passed at the deadline approves",
                cab(), 10, (4, 1, 0), Deadline, Closed(Approved)),
            case("quorum not met at the deadline is no quorum even if all approve",
                cab(), 10, (4, 0, 0), Deadline, Closed(NoQuorum)),
            case("a vote past its deadline is closed like one at it",
                cab(), 10, (4, 0, 0), Late, Closed(NoQuorum)),
            case("quorum met but the approve share below threshold rejects",
                cab(), 10, (2, 3, 0), Deadline, Closed(Rejected)),
            case("exactly at the threshold passes (3 of 5 against 0.6)",
                cab(), 10, (3, 2, 0), Deadline, Closed(Approved)),
            case("just below the threshold fails (5 of 9 against 0.6)",
                cab(), 10, (5, 4, 0), Deadline, Closed(Rejected)),
            case("exactly at a two-thirds threshold passes (2 of 3)",
                with_threshold(2.0 / 3.0), 6, (2, 1, 0), Deadline, Closed(Approved)),
            case("just below a two-thirds threshold fails (5 of 8)",
                with_threshold(2.0 / 3.0), 10, (5, 3, 0), Deadline, Closed(Rejected)),
            case("exactly at a 0.7 threshold passes (7 of 10)",
                with_threshold(0.7), 20, (7, 3, 0), Deadline, Closed(Approved)),
            case("a unanimous threshold of 1 fails with a single reject",
                with_threshold(1.0), 10, (9, 1, 0), Deadline, Closed(Rejected)),
            case("abstentions count for quorum",
                cab(), 10, (2, 1, 3), Deadline, Closed(Approved)),
            case("the same ballots without the abstentions lack quorum",
                cab(), 10, (2, 1, 0), Deadline, Closed(NoQuorum)),
            case("abstentions do not count for the threshold (3 of 5, 4 abstaining)",
                cab(), 10, (3, 2, 4), Deadline, Closed(Approved)),
            case("quorum met with only abstentions rejects",
                cab(), 10, (0, 0, 5), Deadline, Closed(Rejected)),
            case("early close for approval when the remaining cannot overturn it",
                cab(), 10, (8, 0, 0), Early, Closed(Approved)),
            case("early close for approval exactly at the edge (3 of 5 if both remaining reject)",
                cab(), 5, (3, 0, 0), Early, Closed(Approved)),
            case("early close for rejection when even the remaining approving cannot pass it",
                cab(), 10, (0, 6, 0), Early, Closed(Rejected)),
            case("early close for rejection when only abstentions are cast and nobody remains",
                cab(), 4, (0, 0, 4), Early, Closed(Rejected)),
            case("early close without quorum when even everyone voting cannot reach it",
                with_quorum(Quorum::Count(5)), 4, (2, 0, 0), Early, Closed(NoQuorum)),
            case("early close when every eligible member has voted",
                cab(), 3, (1, 1, 1), Early, Closed(Rejected)),
            case("no eligible members closes at once without quorum",
                cab(), 0, (0, 0, 0), Early, Closed(NoQuorum)),
            case("no early close while quorum is not met but still reachable",
                cab(), 10, (4, 0, 0), Early, Open),
            case("no early close while two remaining could flip approval to rejection",
                cab(), 6, (3, 1, 0), Early, Open),
            case("no early close one approval short of a certain approval",
                cab(), 6, (3, 0, 0), Early, Open),
            case("early close once that one more approval is cast",
                cab(), 6, (4, 0, 0), Early, Closed(Approved)),
            case("no early close while remaining approvals could still pass it",
                cab(), 10, (0, 4, 0), Early, Open),
            case("no early close with only abstentions while members remain",
                cab(), 6, (0, 0, 3), Early, Open),
            case("deadline close without quorum",
                cab(), 10, (1, 1, 1), Deadline, Closed(NoQuorum)),
            case("deadline close without any ballot",
                cab(), 10, (0, 0, 0), Deadline, Closed(NoQuorum)),
            case("a fraction quorum rounds up (half of 5 needs 3)",
                cab(), 5, (2, 0, 0), Deadline, Closed(NoQuorum)),
            case("ECAB with a count quorum approves a tie at a 0.5 threshold at the deadline",
                ecab(), 4, (1, 1, 0), Deadline, Closed(Approved)),
            case("ECAB approves early once half of all members approve",
                ecab(), 4, (2, 0, 0), Early, Closed(Approved)),
            case("ECAB stays open with one ballot when its quorum of 2 is reachable",
                ecab(), 4, (1, 0, 0), Early, Open),
            case("ECAB without its count quorum at the deadline is no quorum",
                ecab(), 4, (1, 0, 0), Deadline, Closed(NoQuorum)),
            case("ECAB count quorum is reached with an abstention",
                ecab(), 4, (1, 0, 1), Deadline, Closed(Approved)),
            case("ECAB rejects early when the rejections cannot be outvoted",
                ecab(), 5, (0, 3, 0), Early, Closed(Rejected)),
            case("more voters than eligible members leaves nobody remaining",
                cab(), 2, (3, 0, 0), Early, Closed(Approved)),
        ];
        for c in cases {
            let closes_at = opened() + c.rules.deadline;
            let now = match c.when {
                When::Early => closes_at - TimeDelta::seconds(1),
                When::Deadline => closes_at,
                When::Late => closes_at + TimeDelta::hours(1),
            };
            assert_eq!(c.rules.validate(), Ok(()), "{}", c.what);
            let got = evaluate(c.tally, c.eligible, &c.rules, now, closes_at);
            assert_eq!(got, c.expect, "{}", c.what);
        }
    }

    /// Every outcome the vote could end with, trying every way the members
    /// who have not voted could still vote or stay away.
    fn reachable_outcomes(t: Tally, eligible: u32, rules: &VoteRules) -> Vec<Outcome> {
        let remaining = eligible.saturating_sub(t.voters);
        let closes_at = opened();
        let mut outcomes = Vec::new();
        for more_approve in 0..=remaining {
            for more_reject in 0..=remaining - more_approve {
                for more_abstain in 0..=remaining - more_approve - more_reject {
                    let end = tally(
                        t.approve + more_approve,
                        t.reject + more_reject,
                        t.abstain + more_abstain,
                    );
                    if let Evaluation::Closed(o) = evaluate(end, eligible, rules, closes_at, closes_at) {
                        if !outcomes.contains(&o) {
                            outcomes.push(o);
                        }
                    }
                }
            }
        }
        outcomes
    }

    #[test]
    fn a_vote_closes_early_exactly_when_no_remaining_member_can_change_the_outcome() {
        let thresholds = [0.5, 0.6, 2.0 / 3.0, 0.7, 0.75, 1.0];
        let quorums = [
            Quorum::Count(1),
            Quorum::Count(2),
            Quorum::Count(4),
            Quorum::Count(9),
            Quorum::Fraction(0.3),
            Quorum::Fraction(0.5),
            Quorum::Fraction(2.0 / 3.0),
            Quorum::Fraction(1.0),
        ];
        let mut checked = 0_u32;
        for threshold in thresholds {
            for quorum in quorums {
                let rules = VoteRules {
                    quorum,
                    threshold,
                    ..cab()
                };
                for eligible in 0..=8 {
                    for a in 0..=eligible {
                        for r in 0..=eligible - a {
                            for x in 0..=eligible - a - r {
                                let t = tally(a, r, x);
                                let before = opened() - TimeDelta::seconds(1);
                                let got = evaluate(t, eligible, &rules, before, opened());
                                let reachable = reachable_outcomes(t, eligible, &rules);
                                let expect = match reachable.as_slice() {
                                    [only] => Evaluation::Closed(*only),
                                    _ => Evaluation::Open,
                                };
                                assert_eq!(
                                    got, expect,
                                    "{quorum:?} threshold {threshold} eligible {eligible} {t:?}: \
                                     reachable {reachable:?}"
                                );
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 5_000);
    }

    #[test]
    fn a_fraction_quorum_is_rounded_up_and_at_least_one() {
        assert_eq!(required_quorum(Quorum::Fraction(0.5), 5), 3);
        assert_eq!(required_quorum(Quorum::Fraction(0.5), 4), 2);
        assert_eq!(required_quorum(Quorum::Fraction(0.1), 3), 1);
        assert_eq!(required_quorum(Quorum::Fraction(0.5), 0), 1);
        assert_eq!(required_quorum(Quorum::Fraction(1.0), 7), 7);
        assert_eq!(cab().required_quorum(9), 5);
    }

    #[test]
    fn a_fraction_quorum_is_not_pushed_up_by_floating_point_error() {
        assert_eq!(required_quorum(Quorum::Fraction(0.7), 10), 7);
        assert_eq!(required_quorum(Quorum::Fraction(0.7), 20), 14);
        assert_eq!(required_quorum(Quorum::Fraction(0.3), 10), 3);
        assert_eq!(required_quorum(Quorum::Fraction(2.0 / 3.0), 9), 6);
    }

    #[test]
    fn a_count_quorum_is_used_as_given_but_never_below_one() {
        assert_eq!(required_quorum(Quorum::Count(3), 100), 3);
        assert_eq!(required_quorum(Quorum::Count(3), 1), 3);
        assert_eq!(required_quorum(Quorum::Count(0), 5), 1);
    }

    #[test]
    fn nonsense_rules_are_evaluated_without_panicking() {
        let weird = [
            Quorum::Fraction(f64::NAN),
            Quorum::Fraction(f64::INFINITY),
            Quorum::Fraction(-1.0),
            Quorum::Count(0),
            Quorum::Count(u32::MAX),
        ];
        for quorum in weird {
            for threshold in [f64::NAN, -1.0, 0.0, 2.0, f64::INFINITY] {
                let rules = VoteRules {
                    quorum,
                    threshold,
                    ..cab()
                };
                for t in [tally(0, 0, 0), tally(u32::MAX, u32::MAX, u32::MAX), tally(1, 2, 3)] {
                    for eligible in [0, 3, u32::MAX] {
                        let _ = evaluate(t, eligible, &rules, opened(), opened());
                        let _ = evaluate(t, eligible, &rules, opened(), opened() + TimeDelta::hours(1));
                    }
                }
            }
        }
    }

    #[test]
    fn a_vote_closes_at_its_opening_plus_the_deadline() {
        assert_eq!(cab().closes_at(opened()), Some(opened() + TimeDelta::hours(48)));
        assert_eq!(cab().closes_at(DateTime::<Utc>::MAX_UTC), None);
    }

    #[test]
    fn well_formed_cab_and_ecab_rules_validate() {
        assert_eq!(cab().validate(), Ok(()));
        assert_eq!(ecab().validate(), Ok(()));
        assert_eq!(with_threshold(1.0).validate(), Ok(()));
        assert_eq!(with_quorum(Quorum::Fraction(1.0)).validate(), Ok(()));
    }

    #[test]
    fn validation_names_the_bad_field() {
        let cases = [
            (
                VoteRules {
                    eligible_roles: vec![],
                    ..cab()
                },
                RulesError::NoEligibleRoles,
                "eligible_roles",
            ),
            (with_quorum(Quorum::Count(0)), RulesError::ZeroQuorum, "quorum"),
            (
                with_quorum(Quorum::Fraction(0.0)),
                RulesError::QuorumFractionOutOfRange(0.0),
                "quorum fraction",
            ),
            (
                with_quorum(Quorum::Fraction(1.5)),
                RulesError::QuorumFractionOutOfRange(1.5),
                "quorum fraction",
            ),
            (with_threshold(0.0), RulesError::ThresholdOutOfRange(0.0), "threshold"),
            (with_threshold(1.01), RulesError::ThresholdOutOfRange(1.01), "threshold"),
            (with_threshold(-0.5), RulesError::ThresholdOutOfRange(-0.5), "threshold"),
            (
                VoteRules {
                    deadline: TimeDelta::zero(),
                    ..cab()
                },
                RulesError::DeadlineNotPositive(TimeDelta::zero()),
                "deadline",
            ),
            (
                VoteRules {
                    deadline: TimeDelta::hours(-1),
                    ..cab()
                },
                RulesError::DeadlineNotPositive(TimeDelta::hours(-1)),
                "deadline",
            ),
        ];
        for (rules, error, field) in cases {
            assert_eq!(rules.validate(), Err(error), "{field}");
            assert!(error.to_string().starts_with(field), "{error}");
        }
    }

    #[test]
    fn a_threshold_or_fraction_that_is_not_a_number_is_refused() {
        assert!(matches!(
            with_threshold(f64::NAN).validate(),
            Err(RulesError::ThresholdOutOfRange(_))
        ));
        assert!(matches!(
            with_quorum(Quorum::Fraction(f64::NAN)).validate(),
            Err(RulesError::QuorumFractionOutOfRange(_))
        ));
    }

    /// A segregation-of-duties case: description, voter, the voter's roles,
    /// the implementer, and the expected answer.
    type SodCase<'a> = (
        &'static str,
        UserId,
        &'a [RoleKey],
        Option<UserId>,
        Result<(), Ineligible>,
    );

    #[test]
    fn segregation_of_duties_and_roles_decide_who_may_vote() {
        let rules = cab();
        let cab_role = [role("cab")];
        let requester = user(1);
        let implementer = user(2);
        #[rustfmt::skip]
        let cases: [SodCase; 7] = [
            ("a CAB member who is neither requester nor implementer may vote",
                user(3), &cab_role, Some(implementer), Ok(())),
            ("a change manager may vote too, any one eligible role is enough",
                user(3), &[role("service_desk"), role("change_manager")], None, Ok(())),
            ("the requester may not vote even as a CAB member",
                requester, &cab_role, Some(implementer), Err(Ineligible::IsRequester)),
            ("the implementer may not vote even as a CAB member",
                implementer, &cab_role, Some(implementer), Err(Ineligible::IsImplementer)),
            ("a requester who is also the implementer is reported as requester",
                requester, &cab_role, Some(requester), Err(Ineligible::IsRequester)),
            ("a member without an eligible role may not vote",
                user(3), &[role("service_desk")], None,
                Err(Ineligible::MissingRole { eligible: rules.eligible_roles.clone() })),
            ("a member without any role may not vote",
                user(3), &[], Some(implementer),
                Err(Ineligible::MissingRole { eligible: rules.eligible_roles.clone() })),
        ];
        for (what, voter, roles, implementer, expect) in cases {
            assert_eq!(
                eligibility(voter, roles, &rules, requester, implementer),
                expect,
                "{what}"
            );
        }
    }

    #[test]
    fn a_missing_role_error_lists_the_eligible_roles() {
        let err = eligibility(user(3), &[], &cab(), user(1), None).unwrap_err();
        assert_eq!(err.to_string(), "voting needs one of these roles: cab, change_manager");
    }

    #[test]
    fn each_choice_maps_to_its_emoji_and_back() {
        for choice in Choice::ALL {
            assert_eq!(Choice::from_emoji(choice.emoji()), Some(choice));
        }
        assert_eq!(Choice::from_emoji("✅"), Some(Choice::Approve));
        assert_eq!(Choice::from_emoji("❌"), Some(Choice::Reject));
        assert_eq!(Choice::from_emoji("➖"), Some(Choice::Abstain));
    }

    #[test]
    fn an_emoji_with_a_variation_selector_still_counts() {
        assert_eq!(Choice::from_emoji("✅\u{FE0F}"), Some(Choice::Approve));
        assert_eq!(Choice::from_emoji("➖\u{FE0F}"), Some(Choice::Abstain));
    }

    #[test]
    fn other_emoji_are_ignored() {
        for emoji in [
            "👍", "👎", "✔️", "✖️", "❎", "➕", "-", "", "✅✅", "\u{FE0F}", "approve",
        ] {
            assert_eq!(Choice::from_emoji(emoji), None, "{emoji}");
        }
    }

    #[test]
    fn the_first_ballot_is_new_and_the_same_again_is_unchanged() {
        let mut ballots = Ballots::new();
        assert_eq!(ballots.cast(user(3), Choice::Approve), CastOutcome::New);
        assert_eq!(ballots.cast(user(3), Choice::Approve), CastOutcome::Unchanged);
        assert_eq!(ballots.len(), 1);
        assert_eq!(ballots.get(user(3)), Some(Choice::Approve));
    }

    #[test]
    fn switching_replaces_the_ballot_and_names_the_old_choice() {
        let mut ballots = Ballots::new();
        ballots.cast(user(3), Choice::Approve);
        assert_eq!(
            ballots.cast(user(3), Choice::Reject),
            CastOutcome::Switched { from: Choice::Approve }
        );
        assert_eq!(ballots.tally(), tally(0, 1, 0));
    }

    #[test]
    fn switching_then_removing_the_old_reaction_keeps_the_new_ballot() {
        let mut ballots = Ballots::new();
        ballots.cast(user(3), Choice::Approve);
        let CastOutcome::Switched { from } = ballots.cast(user(3), Choice::Reject) else {
            panic!("expected a switch");
        };
        // The adapter removes the old reaction, and the gateway reports it.
        assert!(!ballots.withdraw(user(3), from));
        assert_eq!(ballots.get(user(3)), Some(Choice::Reject));
        assert_eq!(ballots.tally(), tally(0, 1, 0));
    }

    #[test]
    fn removing_the_current_reaction_withdraws_the_ballot() {
        let mut ballots = Ballots::new();
        ballots.cast(user(3), Choice::Abstain);
        assert!(ballots.withdraw(user(3), Choice::Abstain));
        assert!(ballots.is_empty());
        assert_eq!(ballots.tally(), Tally::default());
        assert!(!ballots.withdraw(user(3), Choice::Abstain));
    }

    #[test]
    fn withdrawing_for_someone_without_a_ballot_does_nothing() {
        let mut ballots = Ballots::new();
        ballots.cast(user(3), Choice::Approve);
        assert!(!ballots.withdraw(user(4), Choice::Approve));
        assert_eq!(ballots.tally(), tally(1, 0, 0));
    }

    /// A reaction event as the adapter sees it: who, which emoji, added or
    /// removed.
    fn apply(ballots: &mut Ballots, voter: u64, emoji: &str, added: bool) {
        if let Some(choice) = Choice::from_emoji(emoji) {
            if added {
                ballots.cast(user(voter), choice);
            } else {
                ballots.withdraw(user(voter), choice);
            }
        }
    }

    #[test]
    fn a_sequence_of_reactions_leaves_one_ballot_per_voter() {
        let mut ballots = Ballots::new();
        let events = [
            (3, "✅", true),
            (4, "❌", true),
            (5, "👍", true),
            (3, "❌", true),
            (3, "✅", false),
            (4, "❌", false),
            (4, "➖", true),
            (6, "✅", true),
            (6, "🎉", false),
            (5, "👍", false),
            (7, "❌", false),
        ];
        for (voter, emoji, added) in events {
            apply(&mut ballots, voter, emoji, added);
        }
        let got: Vec<_> = ballots.iter().collect();
        assert_eq!(
            got,
            vec![
                (user(3), Choice::Reject),
                (user(4), Choice::Abstain),
                (user(6), Choice::Approve),
            ]
        );
        assert_eq!(ballots.tally(), tally(1, 1, 1));
    }

    #[test]
    fn the_tally_counts_each_choice_and_the_voters() {
        let mut ballots = Ballots::new();
        for (voter, choice) in [
            (1, Choice::Approve),
            (2, Choice::Approve),
            (3, Choice::Reject),
            (4, Choice::Abstain),
            (5, Choice::Abstain),
            (6, Choice::Abstain),
        ] {
            ballots.cast(user(voter), choice);
        }
        assert_eq!(
            ballots.tally(),
            Tally {
                approve: 2,
                reject: 1,
                abstain: 3,
                voters: 6
            }
        );
    }

    #[test]
    fn normal_changes_go_to_the_cab_and_emergencies_to_the_ecab() {
        assert_eq!(Board::for_change(ChangeType::Normal), Some(Board::Cab));
        assert_eq!(Board::for_change(ChangeType::Emergency), Some(Board::Ecab));
        assert_eq!(Board::for_change(ChangeType::Standard), None);
    }

    #[test]
    fn only_an_approved_outcome_lets_the_change_go_ahead() {
        assert!(Outcome::Approved.is_approved());
        assert!(!Outcome::Rejected.is_approved());
        assert!(!Outcome::NoQuorum.is_approved());
    }
}
