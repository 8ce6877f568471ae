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
pub mod message;
pub mod outbox;
pub mod render;
pub mod scheduler;
pub mod store;

/// Sets up logging to stderr from `RUST_LOG` (default: opsdesk at info, the rest at warn).
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
