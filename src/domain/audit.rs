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
    pub action: String,
    /// The record acted on, as its id reads (`INC-3`).
    pub subject: String,
    pub details: String,
}
