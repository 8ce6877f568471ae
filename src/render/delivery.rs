//! What the outbox says when it cannot deliver a message the way it was meant.

/// A message meant for a record's thread, sent by direct message because the
/// record's card (and so its thread) cannot be posted.
pub fn without_thread(subject: &str, text: &str) -> String {
    format!("{text}\n-# Sent to you directly: {subject}'s thread cannot be opened yet.")
}

/// The console's line under a message whose file it saved (the report's chart).
pub fn file_saved(name: &str, path: &std::path::Path) -> String {
    format!("{name} saved to {}", path.display())
}

/// The console's line under a message whose file it could not save.
pub fn file_not_saved(name: &str, dir: &std::path::Path, why: &str) -> String {
    format!("{name} not saved in {}: {why}", dir.display())
}
