//! End-to-end tests: the real `opsdesk` binary and the real adapters on real
//! SQLite files. One test crate so everything links once.

mod bot;
mod console;
mod discord;
mod fake_discord;
mod proofs;
mod proofs_discord;
mod util;
