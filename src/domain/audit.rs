//! The audit trail as the rules and the text read it: who did what, when, to
//! which record.
//!
//! Pure: no I/O. The store appends entries and reads a record's history back.

use chrono::{DateTime, Utc};

use super::UserId;

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// Who acted; `None` when the desk acted on its own.
    pub actor: Option<UserId>,
    /// The actor's display name as the desk last saw it, when known.
    pub actor_name: Option<String>,
    pub action: String,
    /// The record acted on, as its id reads (`INC-3`).
    pub subject: String,
    pub details: Details,
}

/// What an audit row says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    /// A phrase completing "<actor> …" (`took it`), written since the
    /// convention of `render::history`.
    Phrase(Phrase),
    /// Free text written before it (`assignee=sam state=assigned`): shown as
    /// stored, never parsed.
    Legacy(String),
}

/// A phrase completing "<actor> …": `took it`, `assigned it to erin`,
/// `moved it from new to in progress: waiting for logs`. Built by the
/// functions of `render::history` when the action is written, so the audit
/// trail reads as sentences without anyone parsing it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase(String);

impl Phrase {
    /// A phrase from its words (`render::history` builds them; the store reads them back).
    pub fn new(words: impl Into<String>) -> Self {
        Self(words.into())
    }

    /// The stored words.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an audit entry records: a RACI action, or one of the desk's own
/// steps that has no row in the matrix. Its word is the stored `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// An action of the RACI matrix (`log_incident`, `cab_vote`, …).
    Raci(super::raci::Action),
    /// `!ack`: the response clock stopped.
    Acknowledge,
    /// A ballot cast, switched or withdrawn on a CAB vote.
    CabBallot,
    /// A CAB vote closed with its outcome.
    CabClose,
    /// A change cancelled.
    ChangeCancel,
    /// A change moved by `!change status`.
    ChangeUpdate,
    /// A reporter asking for their incident to be escalated.
    EscalationRequest,
    /// A major incident reverted to an ordinary one.
    MajorIncidentOff,
    /// A planned change's outage notice sent.
    PlannedOutageNotice,
    Subscribe,
    Unsubscribe,
    /// A change found by reading the platform back after downtime.
    Reconcile,
    /// An incident's title, service or category corrected (`!edit`).
    IncidentEdit,
    /// Incidents linked (related, duplicate, parent) or an incident linked to an outage.
    IncidentLink,
    /// An incident cancelled: ended without an SLA result.
    IncidentCancel,
    /// A change's implementer set (`!change implementer`).
    ChangeImplementer,
    /// A change's post-implementation review note (`!change review`).
    ChangeReview,
    /// A change's window starting or ending (a stored timer's prompt).
    ChangeWindow,
    /// A CAB vote's reminder to members who have not voted.
    CabRemind,
    /// The scheduled report digest posted (`[reports.digest]`).
    ReportDigest,
}

impl AuditAction {
    /// The desk's own steps (every RACI action is one more).
    pub const OWN: [AuditAction; 19] = [
        AuditAction::Acknowledge,
        AuditAction::CabBallot,
        AuditAction::CabClose,
        AuditAction::ChangeCancel,
        AuditAction::ChangeUpdate,
        AuditAction::EscalationRequest,
        AuditAction::MajorIncidentOff,
        AuditAction::PlannedOutageNotice,
        AuditAction::Subscribe,
        AuditAction::Unsubscribe,
        AuditAction::Reconcile,
        AuditAction::IncidentEdit,
        AuditAction::IncidentLink,
        AuditAction::IncidentCancel,
        AuditAction::ChangeImplementer,
        AuditAction::ChangeReview,
        AuditAction::ChangeWindow,
        AuditAction::CabRemind,
        AuditAction::ReportDigest,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Raci(action) => action.as_str(),
            AuditAction::Acknowledge => "acknowledge",
            AuditAction::CabBallot => "cab_ballot",
            AuditAction::CabClose => "cab_close",
            AuditAction::ChangeCancel => "change_cancel",
            AuditAction::ChangeUpdate => "change_update",
            AuditAction::EscalationRequest => "escalation_request",
            AuditAction::MajorIncidentOff => "major_incident_off",
            AuditAction::PlannedOutageNotice => "planned_outage_notice",
            AuditAction::Subscribe => "subscribe",
            AuditAction::Unsubscribe => "unsubscribe",
            AuditAction::Reconcile => "reconcile",
            AuditAction::IncidentEdit => "incident_edit",
            AuditAction::IncidentLink => "incident_link",
            AuditAction::IncidentCancel => "incident_cancel",
            AuditAction::ChangeImplementer => "change_implementer",
            AuditAction::ChangeReview => "change_review",
            AuditAction::ChangeWindow => "change_window",
            AuditAction::CabRemind => "cab_remind",
            AuditAction::ReportDigest => "report_digest",
        }
    }

    /// The action a stored word names.
    pub fn parse(word: &str) -> Option<AuditAction> {
        super::raci::Action::parse(word)
            .map(AuditAction::Raci)
            .or_else(|| Self::OWN.into_iter().find(|a| a.as_str() == word))
    }
}

impl From<super::raci::Action> for AuditAction {
    fn from(action: super::raci::Action) -> Self {
        AuditAction::Raci(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_audit_action_reads_back_from_its_stored_word_and_none_shadows_a_raci_action() {
        for action in super::super::raci::Action::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(AuditAction::Raci(action)));
        }
        for own in AuditAction::OWN {
            assert_eq!(AuditAction::parse(own.as_str()), Some(own));
            assert!(super::super::raci::Action::parse(own.as_str()).is_none(), "{own:?}");
        }
        assert_eq!(AuditAction::parse("nonsense"), None);
    }
}
