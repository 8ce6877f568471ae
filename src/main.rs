//! The `opsdesk` binary: `run` (Discord), `console`, `migrate`, `check-config`.
//! With no subcommand it runs on Discord when `DISCORD_TOKEN` is set, and
//! otherwise starts the local console and says so.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::{Parser, Subcommand};

use opsdesk::config::Policy;
use opsdesk::desk::{Clock, Desk};
use opsdesk::store::Store;

#[derive(Parser)]
#[command(name = "opsdesk", version, about = "An IT service desk that lives in Discord")]
struct Cli {
    /// A TOML file merged over config/default.toml.
    #[arg(long, global = true, env = "OPSDESK_CONFIG")]
    config: Option<PathBuf>,
    /// The SQLite database (created if missing).
    #[arg(long, global = true, env = "OPSDESK_DATABASE_URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Connect to Discord (needs DISCORD_TOKEN).
    Run,
    /// The local console: type commands, or pipe a script.
    Console {
        /// Commit but do not deliver outbound messages (a later start delivers them).
        #[arg(long, hide = true)]
        hold_outbox: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Check the configuration and exit, naming the first bad key.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The console's stdout is the conversation: keep logs to warnings there.
    let console = matches!(cli.command, Some(Cmd::Console { .. }))
        || (cli.command.is_none() && std::env::var_os("DISCORD_TOKEN").is_none());
    opsdesk::init_tracing(if console { "warn" } else { "opsdesk=info,warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("opsdesk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(real_main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("opsdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env_settings() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k != "OPSDESK_CONFIG" && k != "OPSDESK_DATABASE_URL")
        .collect()
}

async fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(cli.config.as_deref(), env_settings()).context("configuration is invalid")?;
    let database = cli.database.clone().unwrap_or_else(|| policy.database_url.clone());
    let token = std::env::var("DISCORD_TOKEN").ok().filter(|t| !t.trim().is_empty());
    match cli.command {
        Some(Cmd::CheckConfig) => {
            println!(
                "config ok: {} roles, {} services, {} RACI rows, prefix `{}`",
                policy.roles.len(),
                policy.services.len(),
                policy.raci.rows().count(),
                policy.prefix
            );
            // With a token, also against the live guild: the checks start-up makes.
            if let Some(token) = token {
                match opsdesk::discord::check_guild(&policy, opsdesk::discord::Token::new(token)).await {
                    Ok(checked) => println!("{checked}"),
                    Err(e) => {
                        eprintln!("opsdesk check-config: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Migrate) => {
            let store = Store::open(&database)
                .await
                .with_context(|| format!("cannot open {database}"))?;
            store.close().await;
            println!("migrations applied to {database}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Console { hold_outbox }) => console(policy, &database, hold_outbox, false).await,
        Some(Cmd::Run) => match token {
            Some(token) => run_discord(policy, &database, token).await,
            None => {
                eprintln!(
                    "opsdesk run: DISCORD_TOKEN is not set.\n\
                     Set it to your bot's token to connect to Discord, or try the local console: `opsdesk console`."
                );
                Ok(ExitCode::from(2))
            }
        },
        None => match token {
            Some(token) => run_discord(policy, &database, token).await,
            None => console(policy, &database, false, true).await,
        },
    }
}

async fn console(policy: Policy, database: &str, hold_outbox: bool, announce: bool) -> anyhow::Result<ExitCode> {
    let store = Store::open_with(database, policy.database_durability)
        .await
        .with_context(|| format!("cannot open {database}"))?;
    let interactive = std::io::stdin().is_terminal();
    if announce || interactive {
        eprintln!(
            "opsdesk local console on {database}{}. Type `{}help` for commands, `:help` for directives; Ctrl-D to quit.",
            if announce { " (no DISCORD_TOKEN, so not connecting to Discord)" } else { "" },
            policy.prefix
        );
    }
    let desk = Desk::new(store.clone(), policy, Clock::system());
    let out: opsdesk::console::Output = Arc::new(Mutex::new(Box::new(std::io::stdout())));
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    let opts = opsdesk::console::Options {
        echo: !interactive,
        hold_outbox,
    };
    opsdesk::console::run(desk, input, out, opts).await?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn run_discord(policy: Policy, database: &str, token: String) -> anyhow::Result<ExitCode> {
    let store = Store::open_with(database, policy.database_durability)
        .await
        .with_context(|| format!("cannot open {database}"))?;
    let settings = policy.discord.clone();
    tracing::info!(
        database,
        durability = ?policy.database_durability,
        api = settings.api_base.as_deref().unwrap_or("Discord"),
        gateway = settings.gateway_url.as_deref().unwrap_or("Discord"),
        "starting the Discord adapter"
    );
    let desk = Desk::new(store.clone(), policy, Clock::system());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    let result = opsdesk::discord::run(desk, &settings, opsdesk::discord::Token::new(token), shutdown).await;
    store.close().await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("opsdesk run: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
