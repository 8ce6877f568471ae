//! The operator's HTTP listener (`http.listen`, off by default): `/healthz`
//! (the process answers), `/readyz` (the database takes writes, the gateway is
//! connected, the outbox is not stuck; 503 naming what is not, and naming the
//! active while this process is a PostgreSQL standby) and `/metrics`
//! (the Prometheus text format), and the monitoring webhooks enabled in
//! `alerts.hooks`: `POST /hooks/alertmanager`, `/hooks/grafana` and
//! `/hooks/alert`. A hook answers 401 without the bearer token
//! (`OPSDESK_HOOK_TOKEN`, compared in constant time), 413 past
//! `alerts.body_limit_kb`, 400 naming the field of a malformed body, 503
//! when the desk could not store it or this process is a standby (the
//! sender retries) and 200 only after
//! the delivery is committed. Unknown paths get 404 and other methods 405;
//! only the hooks change data, through the desk. It must not import sqlx or
//! serenity.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::TimeDelta;

use crate::desk::{Clock, Desk, Outcome};
use crate::domain::alert::{self, Hook};
use crate::store::{self, Store};
use crate::telemetry::{metrics, Standing};

/// What the handlers read.
#[derive(Clone)]
pub struct Ops {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    stuck_after: TimeDelta,
    hooks: Option<Hooks>,
}

/// The webhook receivers' secret, never printed.
#[derive(Clone)]
pub struct HookToken(String);

impl HookToken {
    /// The token, when set and not blank.
    pub fn new(token: &str) -> Option<Self> {
        let t = token.trim();
        (!t.is_empty()).then(|| Self(t.to_owned()))
    }
}

impl std::fmt::Debug for HookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookToken(<redacted>)")
    }
}

/// What the hooks need: the desk they deliver to and the token they require.
struct Hooks {
    desk: Desk,
    token: HookToken,
}

impl Ops {
    /// The listener's view of a desk's store; the outbox counts as stuck when
    /// a message queued `stuck_after` ago is still undelivered.
    pub fn new(store: Store, clock: Clock, stuck_after: TimeDelta) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                stuck_after,
                hooks: None,
            }),
        }
    }

    /// The same listener serving the hooks `desk.policy().alerts.hooks`
    /// enables, delivering to `desk` and requiring `token`.
    pub fn with_hooks(store: Store, clock: Clock, stuck_after: TimeDelta, desk: Desk, token: HookToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                stuck_after,
                hooks: Some(Hooks { desk, token }),
            }),
        }
    }
}

/// Why the listener did not start.
#[derive(Debug, thiserror::Error)]
#[error("http.listen: cannot listen on {addr}: {source}")]
pub struct ListenError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Binds the listener now, so a port in use stops start-up with a clear message.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })
}

/// Every route the listener serves.
pub fn router(ops: Ops) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
    if let Some(hooks) = &ops.inner.hooks {
        let alerts = &hooks.desk.policy().alerts;
        for hook in alerts.hooks.iter().copied() {
            let path = format!("/hooks/{hook}");
            router = router.route(
                &path,
                post(move |state, headers, body| receive(hook, state, headers, body))
                    .layer(axum::extract::DefaultBodyLimit::max(alerts.body_limit)),
            );
        }
    }
    router.fallback(not_found).with_state(ops)
}

/// One webhook delivery: authenticate, parse, hand to the desk, answer
/// after the COMMIT.
async fn receive(
    hook: Hook,
    State(ops): State<Ops>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let m = metrics();
    let Some(hooks) = &ops.inner.hooks else {
        return not_found().await;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !alert::same_secret(presented.trim().as_bytes(), hooks.token.0.as_bytes()) {
        m.alert_rejected(hook.as_str(), "unauthorized");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorized: send `Authorization: Bearer <OPSDESK_HOOK_TOKEN>`\n",
        )
            .into_response();
    }
    if let Standing::Standby { active } = m.standing() {
        // One process writes the desk; the sender retries, and reaches the
        // active through whatever routes to it (or this one once it takes over).
        m.alert_rejected(hook.as_str(), "standby");
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not stored: this opsdesk is a standby ({active} is active); send it again\n"),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "malformed"
            };
            m.alert_rejected(hook.as_str(), reason);
            return text(status, format!("{}\n", e.body_text()));
        }
    };
    let notification = match alert::parse(hook, &body) {
        Ok(n) => n,
        Err(e) => {
            m.alert_rejected(hook.as_str(), "malformed");
            return text(StatusCode::BAD_REQUEST, format!("malformed {hook} payload: {e}\n"));
        }
    };
    let inbound = crate::desk::delivery(hook, &body, notification);
    match hooks.desk.receive_alert(&inbound).await {
        Ok(Outcome::Duplicate) => text(StatusCode::OK, "already stored: this delivery changed nothing\n".into()),
        Ok(Outcome::Reply(r)) => text(StatusCode::OK, r.text),
        Ok(Outcome::Ignored) => text(StatusCode::OK, "stored\n".into()),
        Err(crate::desk::DeskError::Rejected(why) | crate::desk::DeskError::RejectedReaction(why)) => {
            m.alert_rejected(hook.as_str(), "refused");
            text(StatusCode::UNPROCESSABLE_ENTITY, format!("refused: {why}\n"))
        }
        Err(e) => {
            m.alert_rejected(hook.as_str(), "unsaved");
            tracing::warn!(hook = %hook, error = %e, "alert delivery not stored");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not stored, send it again: {e}\n"),
            )
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "not found: this listener serves /healthz, /readyz, /metrics and the hooks enabled in alerts.hooks\n".into(),
    )
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok\n".into())
}

/// The reasons the desk is not ready, empty when it is.
async fn not_ready(ops: &Ops) -> Vec<String> {
    let mut why = Vec::new();
    if let Standing::Standby { active } = metrics().standing() {
        // Nothing else is this process's to report: it runs nothing yet.
        why.push(format!(
            "standby: {active} holds the desk's lock; this process takes over when its session ends"
        ));
        return why;
    }
    if let Err(fault) = ops.inner.store.writable() {
        why.push(format!("database not writable: {}", fault.as_str()));
    }
    if metrics().gateway_connected() == Some(false) {
        why.push("Discord gateway not connected".to_owned());
    }
    let cutoff = ops.inner.clock.now() - ops.inner.stuck_after;
    let stuck = match ops.inner.store.read().await {
        Ok(mut conn) => store::ops::outbox_stuck_since(&mut conn, cutoff).await,
        Err(e) => Err(e),
    };
    match stuck {
        Ok(None) => {}
        Ok(Some(since)) => why.push(format!(
            "outbox stuck: a message queued at {} is still undelivered (outbox.stuck_after)",
            since.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        Err(e) => why.push(format!("database not readable: {e}")),
    }
    why
}

async fn readyz(State(ops): State<Ops>) -> Response {
    let why = not_ready(&ops).await;
    if why.is_empty() {
        let body = match metrics().standing() {
            Standing::Active => "ready: active (this process holds the desk's lock)\n",
            _ => "ready\n",
        };
        text(StatusCode::OK, body.into())
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", why.join("; ")),
        )
    }
}

/// Sets a counter to a total read elsewhere (it only ever grows).
fn catch_up(counter: &prometheus_client::metrics::counter::Counter, total: i64) {
    let total = u64::try_from(total).unwrap_or(0);
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// Reads what the database holds into the gauges.
async fn refresh(ops: &Ops) -> Result<(), store::StoreError> {
    let m = metrics();
    let mut conn = ops.inner.store.read().await?;
    let by_priority = store::ops::open_incidents_by_priority(&mut conn).await?;
    for p in 1..=5 {
        let n = by_priority.iter().find(|(q, _)| *q == p).map_or(0, |(_, n)| *n);
        m.open_incidents
            .get_or_create(&vec![("priority".to_owned(), format!("P{p}"))])
            .set(n);
    }
    let outbox = store::ops::outbox_status(&mut conn).await?;
    for (state, n) in [
        ("pending", outbox.pending),
        ("blocked", outbox.blocked),
        ("failed", outbox.failed),
        ("dead", outbox.dead),
    ] {
        m.outbox_rows
            .get_or_create(&vec![("state".to_owned(), state.to_owned())])
            .set(n);
    }
    let age = outbox
        .oldest_pending
        .map_or(0, |t| (ops.inner.clock.now() - t).num_seconds().max(0));
    m.outbox_oldest.set(age);
    let (warnings, breaches) = store::ops::sla_notices(&mut conn).await?;
    for (kind, n) in [("warning", warnings), ("breach", breaches)] {
        catch_up(
            &m.sla_notices.get_or_create(&vec![("kind".to_owned(), kind.to_owned())]),
            n,
        );
    }
    Ok(())
}

async fn metrics_text(State(ops): State<Ops>) -> Response {
    if let Err(e) = refresh(&ops).await {
        tracing::warn!(error = %e, "metrics: could not read the database");
        return text(StatusCode::SERVICE_UNAVAILABLE, format!("database not readable: {e}\n"));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics().encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Destination, OutMessage, Outgoing};
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn readiness_names_an_outbox_stuck_past_its_threshold() {
        let (store, _dir) = temp_store().await;
        let clock = Clock::fixed(chrono::Utc::now());
        let ops = Ops::new(store.clone(), clock.clone(), TimeDelta::minutes(10));
        assert!(not_ready(&ops).await.is_empty());
        let mut tx = store.begin().await.unwrap();
        let item = Outgoing::post(Destination::Channel("status".into()), OutMessage::text("x"));
        store::outbox::enqueue(&mut tx, &[item], clock.now()).await.unwrap();
        tx.commit().await.unwrap();
        clock.advance(TimeDelta::minutes(9));
        assert!(not_ready(&ops).await.is_empty(), "behind, not stuck");
        clock.advance(TimeDelta::minutes(2));
        let why = not_ready(&ops).await;
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].starts_with("outbox stuck: a message queued at "), "{why:?}");
        let response = readyz(State(ops)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
