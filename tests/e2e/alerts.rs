//! Monitoring alerts against the real Prometheus Alertmanager (Debian's
//! `prometheus-alertmanager`): alerts posted to its v2 API reach the real
//! `opsdesk` binary's `/hooks/alertmanager` through its webhook receiver,
//! with its own grouping, repeats and resolved notifications. A second
//! receiver in the test records what Alertmanager sent, to replay it by hand.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::util::{opsdesk, scalar, text, until, TestDb};

const TOKEN: &str = "hook-secret-for-tests";
const WAIT: Duration = Duration::from_secs(60);

/// A free port on loopback (bound, then released for the process).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Alertmanager binary; `None` when not installed outside CI (under CI
/// its absence fails the test).
fn alertmanager_binary() -> Option<&'static str> {
    for name in ["prometheus-alertmanager", "alertmanager"] {
        if std::process::Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return Some(name);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("prometheus-alertmanager is required under CI (apt-get install prometheus-alertmanager)");
    }
    None
}

/// A loopback receiver recording every webhook body Alertmanager sends it.
async fn recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

/// Starts the real Alertmanager on loopback (no clustering, a temp storage
/// path, one-second grouping, repeats every 2 s) sending to opsdesk's hook at
/// `base` and to `rec_port`; returns it, its URL and its directory.
async fn start_alertmanager(
    am_bin: &str,
    base: &str,
    rec_port: u16,
    http: &reqwest::Client,
) -> (tokio::process::Child, String, tempfile::TempDir) {
    let am_port = free_port();
    let am_url = format!("http://127.0.0.1:{am_port}");
    let config = format!(
        r#"route:
  receiver: opsdesk
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: opsdesk
    webhook_configs:
      - url: {base}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {TOKEN}
      - url: http://127.0.0.1:{rec_port}/
        send_resolved: true
"#
    );
    let am_dir = tempfile::tempdir().unwrap();
    std::fs::write(am_dir.path().join("am.yml"), config).unwrap();
    let am = tokio::process::Command::new(am_bin)
        .arg(format!("--config.file={}", am_dir.path().join("am.yml").display()))
        .arg(format!("--storage.path={}", am_dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until("Alertmanager is ready", WAIT, || {
        let r = http.get(format!("{am_url}/-/ready")).send();
        async move { r.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    (am, am_url, am_dir)
}

/// The real binary's console with the HTTP listener and `hooks` enabled
/// (plus `extra` settings); returns it, its stdin (kept open) and its URL.
async fn start_desk(
    db: &TestDb,
    hooks: &str,
    extra: &[(&str, &str)],
    http: &reqwest::Client,
) -> (tokio::process::Child, tokio::process::ChildStdin, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut cmd = tokio::process::Command::from(opsdesk());
    cmd.args(["--database", &db.url(), "console"])
        .env("OPSDESK_HTTP__LISTEN", format!("\"{listen}\""))
        .env("OPSDESK_ALERTS__HOOKS", hooks)
        .env("OPSDESK_HOOK_TOKEN", TOKEN)
        .envs(extra.iter().copied())
        .current_dir(db.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut desk = cmd.spawn().unwrap();
    let stdin = desk.stdin.take().unwrap();
    until("opsdesk answers /healthz", WAIT, || {
        let r = http.get(format!("{base}/healthz")).send();
        async move { r.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    (desk, stdin, base)
}

async fn metric(http: &reqwest::Client, base: &str, needle: &str) -> f64 {
    let body = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_alerts_become_one_incident_each_repeats_and_replays_change_nothing_and_recovery_resolves() {
    let Some(am_bin) = alertmanager_binary() else {
        eprintln!("prometheus-alertmanager not installed: skipped (CI installs it)");
        return;
    };
    let db = TestDb::new();
    let http = reqwest::Client::new();
    let (mut desk, mut stdin, base) = start_desk(&db, "[\"alertmanager\"]", &[], &http).await;

    let (rec_port, recorded) = recorder().await;
    let (mut am, am_url, _am_dir) = start_alertmanager(am_bin, &base, rec_port, &http).await;

    let alert = |instance: &str, ends_at: Option<&str>| {
        let ends = ends_at.map(|e| format!(r#","endsAt":"{e}""#)).unwrap_or_default();
        format!(
            r#"{{"labels":{{"alertname":"DiskFull","severity":"critical","instance":"{instance}"}},
            "annotations":{{"summary":"Disk full on {instance}"}},
            "generatorURL":"http://prom.test/graph?g0.expr=disk"{ends}}}"#
        )
    };
    let post = |alerts: Vec<String>| {
        let req = http
            .post(format!("{am_url}/api/v2/alerts"))
            .header("content-type", "application/json")
            .body(format!("[{}]", alerts.join(",")));
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "Alertmanager took the alerts: {}", r.status());
        }
    };
    post(vec![alert("db1", None), alert("db2", None)]).await;

    until("one incident per alert", WAIT, || async {
        scalar(&db, "SELECT COUNT(*) FROM incidents").await == 2
    })
    .await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM alert_keys").await, 2);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE priority = 1").await,
        2,
        "severity=critical"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE reporter = 1").await,
        2,
        "reported by the Alertmanager actor"
    );
    assert!(text(&db, "SELECT generator_url FROM alert_keys LIMIT 1")
        .await
        .starts_with("http://prom.test/graph"));

    // Alertmanager resends the group every repeat_interval: deduplicated, nothing new.
    until("a repeat notification was deduplicated", WAIT, || {
        let m = metric(&http, &base, "opsdesk_alerts_deduplicated_total{hook=\"alertmanager\"}");
        async move { m.await >= 2.0 }
    })
    .await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 2);

    // A webhook replayed by hand (what Alertmanager sent, byte for byte) changes nothing.
    let sent = recorded
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("the recorder saw a notification");
    let (events, audit, outbox) = (
        scalar(&db, "SELECT COUNT(*) FROM inbound_events").await,
        scalar(&db, "SELECT COUNT(*) FROM audit").await,
        scalar(&db, "SELECT COUNT(*) FROM outbox").await,
    );
    let replay = http
        .post(format!("{base}/hooks/alertmanager"))
        .bearer_auth(TOKEN)
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    assert!(replay.text().await.unwrap().starts_with("already stored"));
    // A bad token (or none) is refused and stores nothing.
    for auth in [Some("wrong-token"), None] {
        let mut req = http
            .post(format!("{base}/hooks/alertmanager"))
            .body(sent.replace("db1", "db9"));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM inbound_events").await, events);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit").await, audit);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outbox").await, outbox);
    assert!(
        metric(
            &http,
            &base,
            "opsdesk_alerts_rejected_total{hook=\"alertmanager\",reason=\"unauthorized\"}"
        )
        .await
            >= 2.0
    );

    // endsAt in the past: Alertmanager sends the resolved notification; nobody took it, so it resolves.
    let past = (chrono::Utc::now() - chrono::TimeDelta::minutes(1)).to_rfc3339();
    post(vec![alert("db1", Some(&past))]).await;
    until("the recovered alert's incident is resolved", WAIT, || async {
        scalar(
            &db,
            "SELECT COUNT(*) FROM incidents i JOIN alert_keys a ON a.incident_id = i.id
             WHERE a.firing = 0 AND i.state = 'resolved'",
        )
        .await
            == 1
    })
    .await;
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM incidents WHERE state NOT IN ('resolved', 'closed')"
        )
        .await,
        1,
        "the other alert still fires"
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 2);

    am.kill().await.ok();
    stdin.shutdown().await.ok();
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), desk.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hooks_refuse_a_body_too_large_a_malformed_one_naming_the_field_and_serve_only_what_is_enabled() {
    let db = TestDb::new();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut cmd = tokio::process::Command::from(opsdesk());
    cmd.args(["--database", &db.url(), "console"])
        .env("OPSDESK_HTTP__LISTEN", format!("\"{listen}\""))
        .env("OPSDESK_ALERTS__HOOKS", "[\"alert\"]")
        .env("OPSDESK_ALERTS__BODY_LIMIT_KB", "1")
        .env("OPSDESK_HOOK_TOKEN", TOKEN)
        .current_dir(db.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut desk = cmd.spawn().unwrap();
    let stdin = desk.stdin.take().unwrap();
    let http = reqwest::Client::new();
    until("opsdesk answers /healthz", WAIT, || {
        let r = http.get(format!("{base}/healthz")).send();
        async move { r.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let hook = format!("{base}/hooks/alert");
    let big = format!(
        r#"{{"title":"{}","dedup_key":"k","status":"firing"}}"#,
        "x".repeat(2048)
    );
    let r = http.post(&hook).bearer_auth(TOKEN).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = http
        .post(&hook)
        .bearer_auth(TOKEN)
        .body(r#"{"title":"Backups failing","status":"firing"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("`dedup_key`: missing"));
    let r = http
        .post(format!("{base}/hooks/alertmanager"))
        .bearer_auth(TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not enabled");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM inbound_events").await, 0);
    let ok = r#"{"title":"Backups failing","service":"payroll","severity":"critical","dedup_key":"bk-1","status":"firing","link":"https://ci.test/42"}"#;
    let r = http.post(&hook).bearer_auth(TOKEN).body(ok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "fp:bk-1: INC-1 logged\n");
    assert_eq!(text(&db, "SELECT service FROM incidents WHERE id = 1").await, "payroll");
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), desk.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_alerts_group_an_alertmanager_group_is_one_incident_listing_its_alerts() {
    let Some(am_bin) = alertmanager_binary() else {
        eprintln!("prometheus-alertmanager not installed: skipped (CI installs it)");
        return;
    };
    let db = TestDb::new();
    let http = reqwest::Client::new();
    let (mut desk, stdin, base) =
        start_desk(&db, "[\"alertmanager\"]", &[("OPSDESK_ALERTS__GROUP", "true")], &http).await;
    let (rec_port, _recorded) = recorder().await;
    let (mut am, am_url, _am_dir) = start_alertmanager(am_bin, &base, rec_port, &http).await;
    let alerts: Vec<String> = ["db1", "db2", "db3"]
        .iter()
        .map(|i| format!(r#"{{"labels":{{"alertname":"DiskFull","severity":"warning","instance":"{i}"}}}}"#))
        .collect();
    let r = http
        .post(format!("{am_url}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(format!("[{}]", alerts.join(",")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    until("the group's incident lists its three alerts", WAIT, || async {
        scalar(
            &db,
            "SELECT COUNT(*) FROM alert_keys WHERE key LIKE 'group:%' AND alerts LIKE '%db3%'",
        )
        .await
            == 1
    })
    .await;
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents").await,
        1,
        "one incident for the group"
    );
    assert_eq!(text(&db, "SELECT title FROM incidents").await, "DiskFull (3 alerts)");
    am.kill().await.ok();
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), desk.wait()).await;
}
