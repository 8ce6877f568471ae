//! What an operator sees of a running desk: the log format (text, coloured
//! only on a terminal, or JSON lines) and the process's metrics, exported in
//! the Prometheus text format by [`crate::http`]. (Database URLs are redacted
//! for logs by [`crate::store::redact_url`], beside the engines they name.)
//!
//! The metrics are one process-wide registry, the exception to "no globals"
//! that every Prometheus client makes: counters are incremented where things
//! happen (the desk, the outbox, the Discord adapter) without threading a
//! handle through every constructor. Values that live in the database (open
//! incidents, outbox backlog, SLA notices) are read from it at each scrape
//! instead (see [`crate::http`]). It must not import sqlx or serenity.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// How log lines are written (`OPSDESK_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines; coloured only when stderr is a terminal.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

impl LogFormat {
    /// `text` or `json`; anything else is an error naming the value.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!("OPSDESK_LOG_FORMAT: `{s}` must be \"text\" or \"json\"")),
        }
    }
}

/// Sets up logging to stderr from `RUST_LOG` (else `default`), in `format`.
pub fn init_logging(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
}

type Labels = Vec<(String, String)>;

/// The process's counters and what the readiness check needs to know of the gateway.
pub struct Metrics {
    registry: Registry,
    commands: Family<Labels, Counter>,
    latency: Histogram,
    failures: Family<Labels, Counter>,
    rate_limited: Counter,
    reconnects: Counter,
    /// Gauges and counters set from the database at each scrape.
    pub(crate) open_incidents: Family<Labels, Gauge>,
    pub(crate) outbox_rows: Family<Labels, Gauge>,
    pub(crate) outbox_oldest: Gauge,
    pub(crate) sla_notices: Family<Labels, Counter>,
    /// Monitoring alerts by hook: received, deduplicated (a repeat or a
    /// replayed delivery) and rejected (by reason).
    alerts_received: Family<Labels, Counter>,
    alerts_deduplicated: Family<Labels, Counter>,
    alerts_rejected: Family<Labels, Counter>,
    /// 1 while this process runs the desk, 0 while it waits as a standby.
    active: Gauge,
    standing: std::sync::Mutex<Standing>,
    gateway_connected: AtomicBool,
    gateway_used: AtomicBool,
    ever_connected: AtomicBool,
    last_inbound_ms: AtomicI64,
    /// Inbound events the desk is handling now, and a wake-up when none is.
    in_flight: AtomicI64,
    idle: tokio::sync::Notify,
}

/// One inbound event in the desk's hands; dropped when it is answered.
pub struct InFlight(&'static Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Whether this process runs the desk (issue 21's standby).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The only process there can be (SQLite, the console).
    Alone,
    /// It holds the desk's lock on PostgreSQL.
    Active,
    /// It waits for the lock; `active` names the process holding it.
    Standby { active: String },
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let commands = Family::<Labels, Counter>::default();
        registry.register(
            "opsdesk_commands",
            "Inbound events handled by the desk, by command kind and outcome",
            commands.clone(),
        );
        // 1 ms … about 16 s.
        let latency = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.001, 2.0, 15,
        ));
        registry.register(
            "opsdesk_command_duration_seconds",
            "Time from an inbound event to the desk's answer",
            latency.clone(),
        );
        let failures = Family::<Labels, Counter>::default();
        registry.register(
            "opsdesk_outbox_failures",
            "Failed delivery attempts, by reason (retry, blocked, permanent, unreachable, dead)",
            failures.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "opsdesk_discord_rate_limited",
            "HTTP 429 answers from Discord",
            rate_limited.clone(),
        );
        let reconnects = Counter::default();
        registry.register(
            "opsdesk_gateway_reconnects",
            "Gateway connections made again after the first",
            reconnects.clone(),
        );
        let open_incidents = Family::<Labels, Gauge>::default();
        registry.register(
            "opsdesk_open_incidents",
            "Incidents not resolved, closed or cancelled, by priority",
            open_incidents.clone(),
        );
        let outbox_rows = Family::<Labels, Gauge>::default();
        registry.register(
            "opsdesk_outbox_messages",
            "Outbox messages not delivered, by state (pending, blocked, failed, dead)",
            outbox_rows.clone(),
        );
        let outbox_oldest = Gauge::default();
        registry.register(
            "opsdesk_outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox message (0 when none)",
            outbox_oldest.clone(),
        );
        let sla_notices = Family::<Labels, Counter>::default();
        registry.register(
            "opsdesk_sla_notices",
            "SLA thresholds announced, by kind (warning, breach)",
            sla_notices.clone(),
        );
        let alerts_received = Family::<Labels, Counter>::default();
        registry.register(
            "opsdesk_alerts_received",
            "Monitoring alerts in deliveries the desk stored, by hook",
            alerts_received.clone(),
        );
        let alerts_deduplicated = Family::<Labels, Counter>::default();
        registry.register(
            "opsdesk_alerts_deduplicated",
            "Alerts that raised nothing new: repeats of an open incident's alert and replayed deliveries, by hook",
            alerts_deduplicated.clone(),
        );
        let alerts_rejected = Family::<Labels, Counter>::default();
        registry.register(
            "opsdesk_alerts_rejected",
            "Hook deliveries refused, by hook and reason (unauthorized, malformed, too_large, refused, unsaved, standby)",
            alerts_rejected.clone(),
        );
        let active = Gauge::default();
        active.set(1);
        registry.register(
            "opsdesk_active",
            "1 while this process runs the desk (the only one, or the active on PostgreSQL), 0 while it waits as a standby",
            active.clone(),
        );
        Self {
            active,
            standing: std::sync::Mutex::new(Standing::Alone),
            registry,
            commands,
            alerts_received,
            alerts_deduplicated,
            alerts_rejected,
            latency,
            failures,
            rate_limited,
            reconnects,
            open_incidents,
            outbox_rows,
            outbox_oldest,
            sla_notices,
            gateway_connected: AtomicBool::new(false),
            gateway_used: AtomicBool::new(false),
            ever_connected: AtomicBool::new(false),
            last_inbound_ms: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            idle: tokio::sync::Notify::new(),
        }
    }

    /// Counts an inbound event as in flight until the guard is dropped.
    pub fn begin_command(&'static self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// Resolves once no inbound event is in the desk's hands (shutdown waits for it).
    pub async fn idle(&self) {
        loop {
            let woken = self.idle.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) <= 0 {
                return;
            }
            woken.await;
        }
    }

    /// One inbound event handled: its command kind, outcome and duration.
    pub fn command(&self, kind: &str, outcome: &str, took: Duration, at_ms: i64) {
        self.commands
            .get_or_create(&vec![
                ("kind".to_owned(), kind.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
        self.latency.observe(took.as_secs_f64());
        self.last_inbound_ms.fetch_max(at_ms, Ordering::Relaxed);
    }

    /// `n` alerts of a stored delivery through `hook`.
    pub fn alerts_received(&self, hook: &str, n: u64) {
        self.alerts_received
            .get_or_create(&vec![("hook".to_owned(), hook.to_owned())])
            .inc_by(n);
    }

    /// `n` alerts that raised nothing new.
    pub fn alerts_deduplicated(&self, hook: &str, n: u64) {
        self.alerts_deduplicated
            .get_or_create(&vec![("hook".to_owned(), hook.to_owned())])
            .inc_by(n);
    }

    /// One refused delivery.
    pub fn alert_rejected(&self, hook: &str, reason: &str) {
        self.alerts_rejected
            .get_or_create(&vec![
                ("hook".to_owned(), hook.to_owned()),
                ("reason".to_owned(), reason.to_owned()),
            ])
            .inc();
    }

    /// One failed delivery attempt.
    pub fn outbox_failure(&self, reason: &str) {
        self.failures
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .inc();
    }

    /// Discord answered 429.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// The gateway connected (`true`) or dropped (`false`).
    pub fn gateway(&self, connected: bool) {
        self.gateway_used.store(true, Ordering::Relaxed);
        let was = self.gateway_connected.swap(connected, Ordering::Relaxed);
        if connected && !was && self.ever_connected.swap(true, Ordering::Relaxed) {
            self.reconnects.inc();
        }
    }

    /// When the desk last handled an inbound event (ms since the epoch), if it did.
    pub fn last_inbound_ms(&self) -> Option<i64> {
        Some(self.last_inbound_ms.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }

    /// `None` when this process has no gateway (the console), else whether it is connected.
    pub fn gateway_connected(&self) -> Option<bool> {
        self.gateway_used
            .load(Ordering::Relaxed)
            .then(|| self.gateway_connected.load(Ordering::Relaxed))
    }

    /// Notes whether this process runs the desk or waits for another's lock.
    pub fn stand(&self, standing: Standing) {
        self.active
            .set(i64::from(!matches!(standing, Standing::Standby { .. })));
        *self.standing.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = standing;
    }

    /// Whether this process runs the desk, for `/readyz`.
    pub fn standing(&self) -> Standing {
        self.standing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Notes that this process serves a gateway (not yet connected).
    pub fn expect_gateway(&self) {
        self.gateway_used.store(true, Ordering::Relaxed);
    }

    /// The Prometheus text format (version 0.0.4) of every metric.
    pub fn encode(&self) -> String {
        let mut open = String::new();
        if prometheus_client::encoding::text::encode(&mut open, &self.registry).is_err() {
            return String::new();
        }
        classic_text(&open)
    }
}

/// OpenMetrics text (what prometheus-client writes) as the classic Prometheus
/// text format that every scraper and `promtool check metrics` read: a
/// counter's HELP and TYPE name its `_total` sample, and there is no `# EOF`.
fn classic_text(open_metrics: &str) -> String {
    let counters: Vec<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 64);
    for line in open_metrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(&name).then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_total_sample_in_the_classic_format() {
        let open =
            "# HELP a_b Things.\n# TYPE a_b counter\na_b_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# EOF\n";
        assert_eq!(
            classic_text(open),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n"
        );
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(""), Ok(LogFormat::Text));
        assert!(LogFormat::parse("xml").unwrap_err().contains("`xml`"));
    }
}
