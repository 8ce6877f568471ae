//! End-to-end tests: the real `opsdesk` binary and the real adapters on real
//! SQLite files. One test crate so everything links once.

mod alerts;
mod bot;
mod changes;
mod console;
mod day;
mod discord;
mod discord_buttons;
mod discord_cab;
mod discord_escalation;
mod discord_guard;
mod discord_outage;
mod fake_discord;
mod ha;
mod history;
mod ops;
mod outage;
mod pg;
mod problems;
mod proofs;
mod proofs_discord;
mod queues;
mod replies;
mod reports;
mod sla;
mod storage_faults;
mod util;
