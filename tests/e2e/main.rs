//! End-to-end tests: the real `opsdesk` binary and the real adapters on real
//! SQLite files. One test crate so everything links once.

mod console;
// The fake offers more than any one test uses (it is a small Discord).
#[allow(dead_code)]
mod fake_discord;
mod util;
