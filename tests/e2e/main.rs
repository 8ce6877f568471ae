//! End-to-end tests: the real `opsdesk` binary and the real adapters on real
//! SQLite files. One test crate so everything links once.

mod changes;
mod console;
mod fake_discord;
mod util;
