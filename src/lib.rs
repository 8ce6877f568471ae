//! opsdesk: an IT service desk that lives in Discord.
//!
//! Layers, from the inside out: [`domain`] (pure rules), [`command`] (text →
//! typed commands), [`desk`] (the application layer: one transaction per
//! action), [`store`] (SQLite), [`outbox`] (delivery), and the adapters
//! [`console`] and `discord`.

pub mod command;
pub mod config;
pub mod console;
pub mod desk;
pub mod discord;
pub mod domain;
pub mod http;
pub mod message;
pub mod outbox;
pub mod render;
pub mod scheduler;
pub mod store;
pub mod telemetry;

/// Sets up logging to stderr from `RUST_LOG` (default: opsdesk at info, the rest at warn).
/// Text lines, coloured only on a terminal (see [`telemetry::init_logging`] for JSON).
pub fn init_tracing(default: &str) {
    telemetry::init_logging(default, telemetry::LogFormat::Text);
}
