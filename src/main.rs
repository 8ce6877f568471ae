//! The `opsdesk` binary: `run` (Discord), `console`, `migrate`, `check-config`,
//! the operator commands `status`, `backup`, `export` and `report`, and
//! `copy` (a SQLite desk into an empty PostgreSQL). With no
//! subcommand it runs on Discord when `DISCORD_TOKEN` is set, and otherwise
//! starts the local console and says so.
//!
//! Signals: SIGTERM and SIGINT (also as PID 1) stop taking events, let the
//! commands in flight and the delivery in hand finish, checkpoint the WAL and
//! exit 0, within `shutdown.grace`; past it, or on a second signal, the
//! process exits 1 saying what it abandoned. Exit codes: 0 done, 1 a
//! transient failure (worth a restart), 2 a usage error, 78 (EX_CONFIG) a
//! configuration error, a token Discord rejects, or a copy refused (a
//! non-empty target, a source not at this schema): a restart cannot help.
//!
//! On PostgreSQL `run` first takes the desk's lock ([`opsdesk::store::ha`]) or
//! waits for it as a standby, and exits 1 at once if it loses it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;

use opsdesk::config::Policy;
use opsdesk::desk::{Clock, Desk};
use opsdesk::store::ha::{Claim, Lease};
use opsdesk::store::ops::{ExportKind, Snapshot};
use opsdesk::store::{redact_url, Engine, Store};
use opsdesk::telemetry::{self, LogFormat, Standing};

/// EX_CONFIG (sysexits.h): the configuration or the token is wrong; restarting will not help.
const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "opsdesk",
    version,
    about = "An IT service desk that lives in Discord",
    after_help = "Environment: DISCORD_TOKEN (the bot token), RUST_LOG (log filter), OPSDESK_LOG_FORMAT=json \
                  (JSON log lines), DISCORD_API_BASE / DISCORD_GATEWAY_URL (another Discord-compatible server), \
                  OPSDESK_<SECTION>__<KEY> (any config key).\n\
                  Exit codes: 0 done; 1 a transient failure; 2 a usage error; 78 a configuration error, a \
                  rejected token or a refused copy."
)]
struct Cli {
    /// A TOML file merged over config/default.toml.
    #[arg(long, global = true, env = "OPSDESK_CONFIG")]
    config: Option<PathBuf>,
    /// The database: an SQLite file (created if missing) or a postgres:// URL.
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
        /// Where to save the files messages carry (the report's chart); default: the current directory.
        #[arg(long, value_name = "DIR")]
        files_dir: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Check the configuration and exit, naming the first bad key.
    CheckConfig,
    /// Show the outbox, timers, open incidents and database size (safe while the bot runs).
    Status,
    /// Write a consistent, verified copy of the database to FILE (safe while the bot runs).
    Backup {
        /// Where to write the copy; it must not exist yet.
        file: PathBuf,
    },
    /// Write records to stdout as CSV or JSON lines (safe while the bot runs).
    Export {
        /// What to export.
        kind: Kind,
        /// Only records changed on or after this date (YYYY-MM-DD) or time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// The output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
    },
    /// Service figures for a period, as `!report` gives them (safe while the bot runs).
    Report {
        /// 7d, 30d, a month (2026-11) or days (2026-11-01..2026-11-15).
        #[arg(default_value = "7d")]
        period: String,
        /// Only this service (key or name).
        #[arg(long)]
        service: Option<String>,
        /// Only incidents of this priority (P1..P5).
        #[arg(long)]
        priority: Option<String>,
        /// The output format (png: the chart, which needs --output).
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
        /// Write to this new file instead of stdout (an existing file is never replaced).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Copy a SQLite desk's whole history into an empty PostgreSQL database, checked by row counts.
    Copy {
        /// The SQLite desk: a `sqlite:` URL or a file path (read only; the bot may keep running).
        #[arg(long, value_name = "SQLITE")]
        from: String,
        /// The PostgreSQL database (`postgres://…`): migrated first, and it must hold no desk rows.
        #[arg(long, value_name = "POSTGRES")]
        to: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    Csv,
    Png,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Incidents,
    Changes,
    Outages,
    Audit,
}

impl From<Kind> for ExportKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Incidents => ExportKind::Incidents,
            Kind::Changes => ExportKind::Changes,
            Kind::Outages => ExportKind::Outages,
            Kind::Audit => ExportKind::Audit,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Jsonl,
}

/// How the process ends: its code, and the message for stderr.
enum Fail {
    /// A configuration error or a rejected token.
    Config(anyhow::Error),
    /// Anything a restart may fix.
    Transient(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Transient(e.into())
    }
}

type Outcome = Result<ExitCode, Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match LogFormat::parse(&std::env::var("OPSDESK_LOG_FORMAT").unwrap_or_default()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("opsdesk: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    // The console's stdout is the conversation: keep logs to warnings there.
    let console = matches!(cli.command, Some(Cmd::Console { .. }))
        || (cli.command.is_none() && std::env::var_os("DISCORD_TOKEN").is_none());
    let quiet = console
        || matches!(
            cli.command,
            Some(Cmd::Export { .. } | Cmd::Report { .. } | Cmd::Status | Cmd::Backup { .. } | Cmd::Copy { .. })
        );
    telemetry::init_logging(if quiet { "warn" } else { "opsdesk=info,warn" }, format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("opsdesk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(real_main(cli));
    // A console read of stdin may still sit in a blocking thread: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(Fail::Config(e)) => {
            report(&e, format);
            ExitCode::from(EX_CONFIG)
        }
        Err(Fail::Transient(e)) => {
            report(&e, format);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error once, with each cause in its chain that says something new
/// (a thiserror variant often displays its source already).
fn report(e: &anyhow::Error, format: LogFormat) {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    // A log collector reading JSON gets it as a log line; anyone else as one line of text.
    match format {
        LogFormat::Json => tracing::error!(error = %text, "opsdesk stopped"),
        LogFormat::Text => eprintln!("opsdesk: {text}"),
    }
}

/// The environment the config reads (`OPSDESK_*`, `DISCORD_*`), less what the CLI reads itself.
fn env_settings() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "OPSDESK_CONFIG" | "OPSDESK_DATABASE_URL" | "OPSDESK_DATABASE_READERS" | "OPSDESK_LOG_FORMAT"
            )
        })
        .collect()
}

async fn real_main(cli: Cli) -> Outcome {
    let (policy, stray) = Policy::load_noting(cli.config.as_deref(), env_settings())
        .map_err(|e| Fail::Config(anyhow::Error::new(e).context("configuration is invalid")))?;
    for name in &stray {
        tracing::warn!(variable = %name, "ignoring an environment variable that names no configuration key");
        if matches!(cli.command, Some(Cmd::CheckConfig)) {
            eprintln!("warning: {name} names no configuration key; it is ignored");
        }
    }
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
                        return Ok(ExitCode::from(EX_CONFIG));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Migrate) => {
            let store = open(&database, &policy).await?;
            store.close().await;
            println!("migrations applied to {}", redact_url(&database));
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Status) => status(&database, &policy).await,
        Some(Cmd::Backup { file }) => backup(&database, &file).await,
        Some(Cmd::Export { kind, since, format }) => export(&database, kind.into(), since.as_deref(), format).await,
        Some(Cmd::Report {
            period,
            service,
            priority,
            format,
            output,
        }) => {
            service_report(
                &database,
                &policy,
                &period,
                service.as_deref(),
                priority.as_deref(),
                format,
                output,
            )
            .await
        }
        Some(Cmd::Copy { from, to }) => copy(&from, &to).await,
        Some(Cmd::Console { hold_outbox, files_dir }) => {
            console(policy, &database, hold_outbox, files_dir, false).await
        }
        Some(Cmd::Run) => match token {
            Some(token) => run_discord(policy, &database, token).await,
            None => {
                eprintln!(
                    "opsdesk run: DISCORD_TOKEN is not set.\n\
                     Set it to your bot's token to connect to Discord, or try the local console: `opsdesk console`."
                );
                Ok(ExitCode::from(EX_CONFIG))
            }
        },
        None => match token {
            Some(token) => run_discord(policy, &database, token).await,
            None => console(policy, &database, false, None, true).await,
        },
    }
}

async fn open(database: &str, policy: &Policy) -> Result<Store, Fail> {
    Store::open_with(database, policy.database_durability)
        .await
        .with_context(|| format!("cannot open {}", redact_url(database)))
        .map_err(Fail::Transient)
}

/// The first signal's name once SIGTERM or SIGINT arrives; a second one exits at once.
fn signals() -> watch::Receiver<Option<&'static str>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                None
            }
        };
        let mut count = 0;
        loop {
            #[cfg(unix)]
            let name = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => "SIGTERM",
            };
            #[cfg(not(unix))]
            let name = {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            };
            count += 1;
            if count > 1 {
                tracing::error!(
                    signal = name,
                    "a second signal: exiting now, abandoning the shutdown in progress"
                );
                std::process::exit(1);
            }
            let _ = tx.send(Some(name));
        }
    });
    rx
}

/// Resolves when the first signal arrives.
async fn signalled(mut rx: watch::Receiver<Option<&'static str>>) -> &'static str {
    loop {
        if let Some(name) = *rx.borrow_and_update() {
            return name;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Stdin that ends (reads as EOF) once a signal arrives, so the console
/// finishes the line in hand and stops as it does at the end of a script.
struct UntilSignal<R> {
    inner: R,
    stop: Pin<Box<dyn std::future::Future<Output = &'static str> + Send>>,
    stopped: bool,
}

impl<R: AsyncRead + Unpin> AsyncRead for UntilSignal<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.stopped || self.stop.as_mut().poll(cx).is_ready() {
            self.stopped = true;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

async fn console(
    policy: Policy,
    database: &str,
    hold_outbox: bool,
    files_dir: Option<PathBuf>,
    announce: bool,
) -> Outcome {
    let signal = signals();
    let grace = policy.ops.shutdown_grace;
    let store = open(database, &policy).await?;
    let interactive = std::io::stdin().is_terminal();
    if announce || interactive {
        eprintln!(
            "opsdesk local console on {}{}. Type `{}help` for commands, `:help` for directives; Ctrl-D to quit.",
            redact_url(database),
            if announce {
                " (no DISCORD_TOKEN, so not connecting to Discord)"
            } else {
                ""
            },
            policy.prefix
        );
    }
    let desk = Desk::new(store.clone(), policy, Clock::system());
    let http = start_http(&desk, signal.clone()).await?;
    let out: opsdesk::console::Output = Arc::new(Mutex::new(Box::new(std::io::stdout())));
    let input = tokio::io::BufReader::new(UntilSignal {
        inner: tokio::io::stdin(),
        stop: Box::pin(signalled(signal.clone())),
        stopped: false,
    });
    // Saved files' paths are printed whole, so a script can find them.
    let files_dir = match files_dir {
        Some(dir) => dir,
        None => std::env::current_dir().context("the current directory cannot be read")?,
    };
    let opts = opsdesk::console::Options {
        echo: !interactive,
        hold_outbox,
        files_dir: Some(files_dir),
    };
    let run = opsdesk::console::run(desk, input, out, opts);
    tokio::pin!(run);
    let result = tokio::select! {
        r = &mut run => r,
        name = async { let name = signalled(signal.clone()).await; tokio::time::sleep(grace).await; name } => {
            return abandon(&store, name, grace).await;
        }
    };
    if let Some(http) = http {
        http.abort();
    }
    result?;
    finish(&store).await;
    Ok(ExitCode::SUCCESS)
}

/// Starts the HTTP listener when `http.listen` is set, with the alert hooks
/// `alerts.hooks` enables; it stops at the first signal.
async fn start_http(
    desk: &Desk,
    signal: watch::Receiver<Option<&'static str>>,
) -> Result<Option<tokio::task::JoinHandle<()>>, Fail> {
    let policy = desk.policy();
    let store = desk.store();
    let hooks = &policy.alerts.hooks;
    let Some(addr) = policy.ops.listen else {
        if !hooks.is_empty() {
            return Err(Fail::Config(anyhow::anyhow!(
                "alerts.hooks: the hooks are served on the HTTP listener; set http.listen"
            )));
        }
        return Ok(None);
    };
    let ops = if hooks.is_empty() {
        opsdesk::http::Ops::new(store.clone(), Clock::system(), policy.outbox.stuck_after)
    } else {
        let token = std::env::var("OPSDESK_HOOK_TOKEN").ok();
        let Some(token) = token.as_deref().and_then(opsdesk::http::HookToken::new) else {
            return Err(Fail::Config(anyhow::anyhow!(
                "alerts.hooks: set OPSDESK_HOOK_TOKEN, the bearer token every hook request must carry"
            )));
        };
        opsdesk::http::Ops::with_hooks(
            store.clone(),
            Clock::system(),
            policy.outbox.stuck_after,
            desk.clone(),
            token,
        )
    };
    // A port in use is the configuration's problem: say so and stop.
    let listener = opsdesk::http::bind(addr).await.map_err(|e| Fail::Config(e.into()))?;
    let router = opsdesk::http::router(ops);
    let served: Vec<String> = hooks.iter().map(|h| format!("/hooks/{h}")).collect();
    tracing::info!(listen = %addr, hooks = %served.join(" "), "serving /healthz, /readyz and /metrics");
    Ok(Some(tokio::spawn(async move {
        let stop = async move {
            signalled(signal).await;
        };
        if let Err(e) = opsdesk::http::serve(listener, router, stop).await {
            tracing::error!(error = %e, "the HTTP listener failed");
        }
    })))
}

/// The shutdown took longer than its grace: say what is left and exit 1.
async fn abandon(store: &Store, signal: &str, grace: Duration) -> Outcome {
    let queued = match store.read().await {
        Ok(mut conn) => opsdesk::store::ops::outbox_status(&mut conn)
            .await
            .map(|s| s.pending + s.blocked)
            .unwrap_or(-1),
        Err(_) => -1,
    };
    tracing::error!(
        signal,
        grace_s = grace.as_secs_f64(),
        queued_messages = queued,
        "shutdown did not finish within shutdown.grace: abandoning the commands in flight and the delivery in hand \
         (what committed stays; queued messages are delivered at the next start)"
    );
    Err(Fail::Transient(anyhow::anyhow!(
        "shutdown after {signal} took longer than {}s; abandoned the work in flight ({queued} messages stay queued)",
        grace.as_secs()
    )))
}

/// Checkpoints the WAL into the database file and closes it.
async fn finish(store: &Store) {
    if let Err(e) = store.checkpoint().await {
        tracing::warn!(error = %e, "could not checkpoint the write-ahead log; it is replayed at the next start");
    }
    store.close().await;
}

async fn run_discord(policy: Policy, database: &str, token: String) -> Outcome {
    let signal = signals();
    let grace = policy.ops.shutdown_grace;
    let store = open(database, &policy).await?;
    let settings = policy.discord.clone();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        database = %redact_url(database),
        guild = settings.guild_id.map_or_else(|| "the one the bot is in".to_owned(), |g| g.to_string()),
        durability = ?policy.database_durability,
        api = settings.api_base.as_deref().unwrap_or("Discord"),
        gateway = settings.gateway_url.as_deref().unwrap_or("Discord"),
        "starting opsdesk on Discord"
    );
    let takeover = policy.ops.takeover_within;
    let desk = Desk::new(store.clone(), policy, Clock::system());
    // The listener answers a standby's /readyz too (503, naming the active).
    let http = start_http(&desk, signal.clone()).await?;
    telemetry::metrics().expect_gateway();
    let mut lease = match store.engine() {
        Engine::Postgres => match lead(database, takeover, signal.clone()).await? {
            Some(lease) => Some(lease),
            None => {
                // Stopped while a standby: it ran nothing.
                if let Some(http) = http {
                    http.abort();
                }
                store.close().await;
                tracing::info!("stopped");
                return Ok(ExitCode::SUCCESS);
            }
        },
        Engine::Sqlite => None,
    };
    let shutdown = {
        let signal = signal.clone();
        async move {
            let name = signalled(signal).await;
            tracing::info!(
                signal = name,
                "shutting down: no new events; finishing commands in flight and the delivery in hand"
            );
        }
    };
    let run = async {
        let result = opsdesk::discord::run(desk, &settings, opsdesk::discord::Token::new(token), shutdown).await;
        // Commands still in the desk's hands finish (their replies may no longer go out).
        telemetry::metrics().idle().await;
        result
    };
    tokio::pin!(run);
    let result = tokio::select! {
        r = &mut run => r,
        name = async { let name = signalled(signal.clone()).await; tokio::time::sleep(grace).await; name } => {
            return abandon(&store, name, grace).await;
        }
        reason = async { match lease.as_mut() { Some(l) => l.lost().await, None => std::future::pending().await } } => {
            // A standby may hold the lock by now: stop at once, finishing nothing.
            tracing::error!(
                reason = %reason,
                "lost the desk's lock: stopping at once so that only the standby runs the desk \
                 (what committed stays; what is queued is the new active's to deliver)"
            );
            return Err(Fail::Transient(anyhow::anyhow!("lost the desk's lock on PostgreSQL: {reason}")));
        }
    };
    if let Some(http) = http {
        http.abort();
    }
    finish(&store).await;
    if let Some(lease) = lease {
        lease.release().await;
    }
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(
            e @ (opsdesk::discord::DiscordError::TokenRejected
            | opsdesk::discord::DiscordError::IntentsRefused
            | opsdesk::discord::DiscordError::Refused(_)),
        ) => {
            eprintln!("opsdesk run: {e}");
            Ok(ExitCode::from(EX_CONFIG))
        }
        Err(e) => {
            eprintln!("opsdesk run: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// On PostgreSQL: takes the desk's lock, or waits for it as a standby until
/// the active's session ends. `None` when a signal came first.
async fn lead(
    database: &str,
    takeover: Duration,
    signal: watch::Receiver<Option<&'static str>>,
) -> Result<Option<Lease>, Fail> {
    let m = telemetry::metrics();
    let claim = Lease::claim(database, takeover)
        .await
        .with_context(|| format!("cannot ask {} for the desk's lock", redact_url(database)))
        .map_err(Fail::Transient)?;
    let standby = match claim {
        Claim::Active(lease) => {
            m.stand(Standing::Active);
            tracing::info!("active: this process holds the desk's lock and runs the desk");
            return Ok(Some(lease));
        }
        Claim::Standby(standby) => standby,
    };
    let active = standby
        .active()
        .map_or_else(|| "another opsdesk".to_owned(), ToString::to_string);
    m.stand(Standing::Standby { active: active.clone() });
    tracing::info!(
        active = %active,
        takeover_within_s = takeover.as_secs(),
        "standby: another process runs the desk; this one takes over when that process's database session ends"
    );
    tokio::select! {
        lease = standby.wait() => {
            let lease = lease
                .context("lost the database while waiting as a standby")
                .map_err(Fail::Transient)?;
            m.stand(Standing::Active);
            tracing::warn!(was_active = %active, "taking over: the active's session ended; this process now runs the desk");
            Ok(Some(lease))
        }
        name = signalled(signal) => {
            tracing::info!(signal = name, "shutting down a standby");
            Ok(None)
        }
    }
}

/// Opens the database for an operator command: read-only, and it must exist.
async fn snapshot(database: &str) -> Result<Snapshot, Fail> {
    if let Some(path) = sqlite_path(database) {
        if !path.exists() {
            return Err(Fail::Config(anyhow::anyhow!(
                "no database at {} (give --database or OPSDESK_DATABASE_URL)",
                path.display()
            )));
        }
    }
    Snapshot::open(database)
        .await
        .with_context(|| format!("cannot open {}", redact_url(database)))
        .map_err(Fail::Transient)
}

/// The file of a `sqlite:` URL.
fn sqlite_path(database: &str) -> Option<PathBuf> {
    let rest = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn ago(now: chrono::DateTime<chrono::Utc>, t: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs < 0 {
        return format!(
            "in {}",
            opsdesk::domain::sla::format_duration(chrono::TimeDelta::seconds(-secs))
        );
    }
    if secs == 0 {
        return "now".into();
    }
    format!(
        "{} ago",
        opsdesk::domain::sla::format_duration(chrono::TimeDelta::seconds(secs))
    )
}

async fn status(database: &str, policy: &Policy) -> Outcome {
    use opsdesk::store::ops as q;
    let snap = snapshot(database).await?;
    let mut conn = snap.conn().await?;
    let now = chrono::Utc::now();
    let outbox = q::outbox_status(&mut conn).await?;
    let timers = q::next_timers(&mut conn, 5).await?;
    let open = q::open_incidents_by_priority(&mut conn).await?;
    let last = q::last_inbound(&mut conn).await?;
    let bytes = q::database_bytes(&mut conn).await?;
    drop(conn);
    snap.close().await;
    // On PostgreSQL: which process holds the desk's lock, and who waits for it.
    let lock = match Engine::of_url(database) {
        Some(Engine::Postgres) => Some(opsdesk::store::ha::holders(database).await?),
        _ => None,
    };
    let mut out = String::new();
    out.push_str(&format!("database   {} ({} KiB)\n", redact_url(database), bytes / 1024));
    out.push_str(&format!(
        "outbox     {} pending, {} blocked, {} failed, {} dead{}\n",
        outbox.pending,
        outbox.blocked,
        outbox.failed,
        outbox.dead,
        outbox.oldest_pending.map_or(String::new(), |t| format!(
            "; oldest undelivered queued {}",
            ago(now, t)
        ))
    ));
    for (state, reason, n) in &outbox.reasons {
        out.push_str(&format!("  {n:>5} {state}: {reason}\n"));
    }
    for (id, subject, reason) in &outbox.blocked_rows {
        out.push_str(&format!("  blocked #{id} ({subject}): {reason}\n"));
    }
    if outbox.blocked > 0 {
        out.push_str(
            "  (blocked messages are tried again when the guild's channels or permissions change, and at start)\n",
        );
    }
    let open_text: Vec<String> = open.iter().map(|(p, n)| format!("P{p}: {n}")).collect();
    out.push_str(&format!(
        "incidents  {} open{}\n",
        open.iter().map(|(_, n)| n).sum::<i64>(),
        if open_text.is_empty() {
            String::new()
        } else {
            format!(" ({})", open_text.join(", "))
        }
    ));
    out.push_str(&format!(
        "timers     {}\n",
        if timers.is_empty() { "none due" } else { "next due:" }
    ));
    for (kind, subject, due) in &timers {
        out.push_str(&format!("  {kind} {subject} {}\n", ago(now, *due)));
    }
    if let Some(holders) = &lock {
        match holders.iter().find(|h| h.active) {
            Some(h) => out.push_str(&format!("desk       active: {h}, connected {}\n", ago(now, h.since))),
            None => out.push_str("desk       no opsdesk run holds the desk's lock: nothing runs the desk\n"),
        }
        for h in holders.iter().filter(|h| !h.active) {
            out.push_str(&format!("  standby: {h}, waiting since {}\n", ago(now, h.since)));
        }
    }
    out.push_str(&format!(
        "inbound    {}\n",
        last.map_or("no event yet".to_owned(), |t| format!("last event {}", ago(now, t)))
    ));
    out.push_str(&format!(
        "give up    after {}\n",
        opsdesk::domain::sla::format_duration(policy.outbox.give_up_after)
    ));
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `opsdesk copy`: one line per table copied and a total; a target that
/// holds rows, or a source that is not a desk at this schema, exits 78
/// (nothing written); a failed or unverified copy exits 1 (rolled back).
async fn copy(from: &str, to: &str) -> Outcome {
    use opsdesk::store::copy::CopyError;
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        eprintln!(
            "opsdesk copy: --to must be a PostgreSQL URL (postgres://user@host/db), not {}",
            redact_url(to)
        );
        return Ok(ExitCode::from(2));
    }
    let file = sqlite_path(from).or_else(|| (!from.contains(':')).then(|| PathBuf::from(from)));
    if let Some(path) = file {
        if !path.exists() {
            return Err(Fail::Config(anyhow::anyhow!(
                "opsdesk copy: no SQLite desk at {}",
                path.display()
            )));
        }
    }
    match opsdesk::store::copy::copy(from, to).await {
        Ok(copied) => {
            for (table, rows) in &copied.tables {
                let unit = if *rows == 1 { "row" } else { "rows" };
                println!("{table}: {} {unit}", thousands(*rows));
            }
            println!(
                "total: {} rows in {} tables copied from {} to {}; row counts verified",
                thousands(copied.total()),
                copied.tables.len(),
                redact_url(from),
                redact_url(to)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(
            e @ (CopyError::NotEmpty { .. }
            | CopyError::Source { .. }
            | CopyError::NoPlace { .. }
            | CopyError::Value { .. }),
        ) => Err(Fail::Config(anyhow::Error::new(e).context("copy refused"))),
        Err(e) => Err(Fail::Transient(
            anyhow::Error::new(e).context(format!("copy to {} failed", redact_url(to))),
        )),
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

async fn backup(database: &str, file: &std::path::Path) -> Outcome {
    let snap = snapshot(database).await?;
    let mut conn = snap.conn().await?;
    let result = opsdesk::store::ops::backup(&mut conn, file).await;
    drop(conn);
    snap.close().await;
    match result {
        Ok(r) => {
            println!(
                "backup written to {} ({} KiB, {} migrations, {} incidents); integrity_check: ok",
                file.display(),
                r.bytes / 1024,
                r.migrations,
                r.incidents
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(opsdesk::store::ops::BackupError::Store(e)) => Err(Fail::Transient(e.into())),
        Err(e) => Err(Fail::Config(anyhow::Error::new(e).context("backup failed"))),
    }
}

/// `--since`: a date (midnight UTC) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| format!("--since: `{text}` is not a date (2026-12-01) or an RFC 3339 time (2026-12-01T09:00:00Z)"))
}

#[allow(clippy::too_many_arguments)]
async fn service_report(
    database: &str,
    policy: &Policy,
    period: &str,
    service: Option<&str>,
    priority: Option<&str>,
    format: ReportFormat,
    output: Option<PathBuf>,
) -> Outcome {
    use opsdesk::domain::report::{PeriodSpec, ReportQuery};
    use std::io::Write;
    let bad = |m: String| Fail::Config(anyhow::anyhow!("opsdesk report: {m}"));
    // A picture is not for a terminal: it goes to a file, or down a pipe.
    if matches!(format, ReportFormat::Png) && output.is_none() && std::io::stdout().is_terminal() {
        eprintln!("opsdesk report: --format png writes a PNG picture; give --output <file> (or redirect stdout)");
        return Ok(ExitCode::from(2));
    }
    let spec = PeriodSpec::parse(period).map_err(|e| bad(e.to_string()))?;
    let service = match service {
        None => None,
        Some(name) => match policy.service(name) {
            Some(def) => Some(def.key.clone()),
            None => return Err(bad(opsdesk::render::unknown_service(policy, name))),
        },
    };
    let priority = match priority {
        None => None,
        Some(p) => Some(
            opsdesk::domain::priority::Priority::parse(p)
                .ok_or_else(|| bad(format!("`{p}` is not a priority: P1 to P5")))?,
        ),
    };
    let query = ReportQuery {
        period: spec.resolve(chrono::Utc::now()),
        service,
        priority,
    };
    let snap = snapshot(database).await?;
    let mut conn = snap.conn().await?;
    let figures = opsdesk::store::reports::report(&mut conn, &query).await?;
    drop(conn);
    snap.close().await;
    let bytes = match format {
        ReportFormat::Text => format!("{}\n", opsdesk::render::report_text(&figures)).into_bytes(),
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&figures)?).into_bytes(),
        ReportFormat::Csv => opsdesk::render::report_csv(&figures).into_bytes(),
        ReportFormat::Png => opsdesk::render::report_chart(&figures)?,
    };
    match output {
        // A new file only: a report never replaces a file (another report,
        // or anything else, that is there).
        Some(path) => {
            let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
            let mut file = match created {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(bad(format!(
                        "{} exists and is never replaced: remove it or name a new file",
                        path.display()
                    )))
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot write {}", path.display()))
                        .into())
                }
            };
            file.write_all(&bytes)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}", path.display());
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(database: &str, kind: ExportKind, since: Option<&str>, format: Format) -> Outcome {
    use opsdesk::store::ops::Cell;
    use std::io::Write;
    let since = since
        .map(parse_since)
        .transpose()
        .map_err(|e| Fail::Config(anyhow::anyhow!(e)))?;
    let snap = snapshot(database).await?;
    let mut conn = snap.conn().await?;
    let table = opsdesk::store::ops::export(&mut conn, kind, since).await?;
    drop(conn);
    snap.close().await;
    // Times are stored as milliseconds: exported as RFC 3339.
    let is_time = |c: &str| c == "at" || c.ends_with("_at") || c == "window_start" || c == "window_end";
    let cell = |col: &str, c: &Cell| -> serde_json::Value {
        match c {
            Cell::Null => serde_json::Value::Null,
            Cell::Int(ms) if is_time(col) => chrono::DateTime::from_timestamp_millis(*ms)
                .map_or(serde_json::Value::from(*ms), |t| {
                    serde_json::Value::from(t.to_rfc3339())
                }),
            Cell::Int(n) => serde_json::Value::from(*n),
            Cell::Real(x) => serde_json::Value::from(*x),
            Cell::Text(s) => serde_json::Value::from(s.clone()),
        }
    };
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Jsonl => {
            for row in &table.rows {
                let obj: serde_json::Map<String, serde_json::Value> = table
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(col, c)| (col.clone(), cell(col, c)))
                    .collect();
                writeln!(w, "{}", serde_json::Value::Object(obj))?;
            }
        }
        Format::Csv => {
            let quote = |s: &str| {
                if s.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_owned()
                }
            };
            if !table.columns.is_empty() {
                writeln!(
                    w,
                    "{}",
                    table.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",")
                )?;
            }
            for row in &table.rows {
                let fields: Vec<String> = table
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(col, c)| match cell(col, c) {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => quote(&s),
                        v => v.to_string(),
                    })
                    .collect();
                writeln!(w, "{}", fields.join(","))?;
            }
        }
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}
