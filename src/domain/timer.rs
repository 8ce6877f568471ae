//! The kinds of stored timer, as a type. Each kind's stored word is the one
//! rows were written with before this type existed, so no migration is needed.

use std::fmt;

/// What a stored timer is for; the rule that owns the kind fires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// An SLA clock reaching a warning or its breach.
    Sla,
    /// A satisfaction question left unanswered.
    Survey,
    /// A CAB vote reaching its deadline.
    CabClose,
    /// An authorized change's planned-outage notice falling due.
    ChangeNotice,
    /// A scheduled change's window starting: the implementer is prompted.
    ChangeWindowStart,
    /// A change's window ending: review prompted, or reported missed.
    ChangeWindowEnd,
    /// A CAB vote's reminder to members who have not voted.
    CabRemind,
    /// The scheduled report digest's next posting (`[reports.digest]`).
    ReportDigest,
    /// An outage's grouped card edited with the reports counted since its
    /// last version (at most one edit per `outage.storm_card_every`).
    StormCard,
}

impl TimerKind {
    pub const ALL: [TimerKind; 9] = [
        TimerKind::Sla,
        TimerKind::Survey,
        TimerKind::CabClose,
        TimerKind::ChangeNotice,
        TimerKind::ChangeWindowStart,
        TimerKind::ChangeWindowEnd,
        TimerKind::CabRemind,
        TimerKind::ReportDigest,
        TimerKind::StormCard,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Sla => "sla",
            TimerKind::Survey => "survey",
            TimerKind::CabClose => "cab_close",
            TimerKind::ChangeNotice => "change_notice",
            TimerKind::ChangeWindowStart => "change_window_start",
            TimerKind::ChangeWindowEnd => "change_window_end",
            TimerKind::CabRemind => "cab_remind",
            TimerKind::ReportDigest => "report_digest",
            TimerKind::StormCard => "storm_card",
        }
    }

    /// The kind a stored word names; `None` for a word no rule owns.
    pub fn parse(word: &str) -> Option<TimerKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_word() {
        for kind in TimerKind::ALL {
            assert_eq!(TimerKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TimerKind::parse("nightly_report"), None);
    }
}
