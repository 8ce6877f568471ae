//! What an action, an audit row, a card or a message is about, as a type.
//! Its text is the stored form (`INC-3`, `CHG-2`, `OUT-1`, `service:email`),
//! so rows written before this type existed read back unchanged.

use std::fmt;

use super::change::ChangeId;
use super::incident::IncidentId;
use super::outage::OutageId;
use super::problem::ProblemId;
use super::UserId;

/// A record the desk acts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Incident(IncidentId),
    Change(ChangeId),
    Outage(OutageId),
    Problem(ProblemId),
    /// A configured service (subscriptions).
    Service(String),
    /// One subscriber's direct messages about a record (`OUT-1:dm:42`): a
    /// subject per recipient, so one closed inbox never holds back the others.
    Dm(Box<Subject>, UserId),
    /// An outage's grouped card in the handler's channel (`OUT-1:reports`),
    /// counting the reports linked to it as they were logged.
    Reports(OutageId),
}

impl Subject {
    /// Reads a stored subject back; `None` for text that names no record.
    pub fn parse(text: &str) -> Option<Subject> {
        if let Some((record, user)) = text.split_once(":dm:") {
            let user = user.parse::<u64>().ok()?;
            return Some(Subject::Dm(Box::new(Subject::parse(record)?), UserId::new(user)));
        }
        if let Some(outage) = text.strip_suffix(":reports") {
            return OutageId::parse(outage).map(Subject::Reports);
        }
        if let Some(key) = text.strip_prefix("service:") {
            return (!key.is_empty()).then(|| Subject::Service(key.to_owned()));
        }
        let upper = text.to_ascii_uppercase();
        if upper.starts_with("INC-") {
            IncidentId::parse(text).map(Subject::Incident)
        } else if upper.starts_with("CHG-") {
            ChangeId::parse(text).map(Subject::Change)
        } else if upper.starts_with("OUT-") {
            OutageId::parse(text).map(Subject::Outage)
        } else if upper.starts_with("PRB-") {
            ProblemId::parse(text).map(Subject::Problem)
        } else {
            None
        }
    }

    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Subject::Incident(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Incident(id) => id.fmt(f),
            Subject::Change(id) => id.fmt(f),
            Subject::Outage(id) => id.fmt(f),
            Subject::Problem(id) => id.fmt(f),
            Subject::Service(key) => write!(f, "service:{key}"),
            Subject::Dm(record, user) => write!(f, "{record}:dm:{user}"),
            Subject::Reports(outage) => write!(f, "{outage}:reports"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_reads_back_as_it_is_stored() {
        for text in [
            "INC-3",
            "CHG-12",
            "OUT-1",
            "PRB-4",
            "service:email",
            "OUT-1:dm:42",
            "CHG-2:dm:7",
            "OUT-3:reports",
        ] {
            let subject = Subject::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(subject.to_string(), text);
        }
        assert_eq!(Subject::parse("OUT-1:dm:x"), None);
        assert_eq!(Subject::parse("nothing:dm:42"), None);
        assert_eq!(Subject::parse("INC-x"), None);
        assert_eq!(Subject::parse("service:"), None);
        assert_eq!(Subject::parse("message 17"), None);
        assert_eq!(Subject::parse("INC-1:reports"), None);
    }
}
