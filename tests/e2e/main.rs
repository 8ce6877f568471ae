//! End-to-end tests: the real `opsdesk` binary and the real adapters on real
//! SQLite files. One test crate so everything links once.

mod console;
mod fake_discord;
mod sla;
mod util;
