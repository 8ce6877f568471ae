//! What the outbox says when it cannot deliver a message the way it was meant.

/// A message meant for a record's thread, sent by direct message because the
/// record's card (and so its thread) cannot be posted.
pub fn without_thread(subject: &str, text: &str) -> String {
    format!("{text}\n-# Sent to you directly: {subject}'s thread cannot be opened yet.")
}
