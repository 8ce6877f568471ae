//! The desk's reactions, as a type: what each emoji asks of the desk. The
//! desk and the Discord adapter read the same list, so a reaction the desk
//! acts on is never filtered out by the adapter (or the other way round).

use crate::domain::cab::Choice;

/// A reaction the desk acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emoji {
    /// 🎫 on any message: log it as an incident.
    Ticket,
    /// ✋ on an incident card: take it.
    Claim,
    /// ⬆️ on a card or in its thread: escalate to the next tier.
    Escalate,
    /// 👍 on a satisfaction question: fixed.
    Fixed,
    /// 👎 on a satisfaction question: not fixed.
    NotFixed,
    /// ✅ ❌ ➖ on a vote card: a ballot.
    Ballot(Choice),
}

/// What the desk reacts with on a thread message it took as a note: the
/// desk posts it, and never acts on it.
pub const NOTED: &str = "📝";

/// Discord and keyboards add U+FE0F to some emoji; the desk ignores it.
const VARIATION_SELECTOR_16: char = '\u{FE0F}';

impl Emoji {
    /// The incidents' reactions (ballots are [`Choice::ALL`]).
    pub const INCIDENT: [Emoji; 5] = [
        Emoji::Ticket,
        Emoji::Claim,
        Emoji::Escalate,
        Emoji::Fixed,
        Emoji::NotFixed,
    ];

    /// The emoji as the desk posts it.
    pub fn as_str(self) -> &'static str {
        match self {
            Emoji::Ticket => "🎫",
            Emoji::Claim => "✋",
            Emoji::Escalate => "⬆",
            Emoji::Fixed => "👍",
            Emoji::NotFixed => "👎",
            Emoji::Ballot(choice) => choice.emoji(),
        }
    }

    /// The desk's reaction a platform's emoji text names, if any.
    pub fn parse(text: &str) -> Option<Emoji> {
        if let Some(choice) = Choice::from_emoji(text) {
            return Some(Emoji::Ballot(choice));
        }
        let bare = text.trim_end_matches(VARIATION_SELECTOR_16);
        Self::INCIDENT.into_iter().find(|e| e.as_str() == bare)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reaction_reads_back_with_or_without_the_variation_selector() {
        for e in Emoji::INCIDENT
            .into_iter()
            .chain(Choice::ALL.into_iter().map(Emoji::Ballot))
        {
            assert_eq!(Emoji::parse(e.as_str()), Some(e));
            assert_eq!(Emoji::parse(&format!("{}\u{FE0F}", e.as_str())), Some(e));
        }
        assert_eq!(Emoji::parse("🎉"), None);
    }
}
