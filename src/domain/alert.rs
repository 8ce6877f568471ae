//! Monitoring alerts as the desk sees them: the three webhook payloads
//! (Alertmanager version 4, Grafana's webhook contact point, the small
//! generic hook) parsed into one [`Notification`], the problems a
//! notification is about (one per fingerprint, or one per group), and the
//! label routes that give an alert its service, impact and urgency.
//!
//! Pure: serde_json and std only; no I/O, no SQL.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::priority::{Impact, Urgency};

/// Which receiver a notification came through; each is its own reporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Alertmanager,
    Grafana,
    Generic,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Hook::Alertmanager, Hook::Grafana, Hook::Generic];

    /// The path segment under `/hooks/` and the config key.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Alertmanager => "alertmanager",
            Hook::Grafana => "grafana",
            Hook::Generic => "alert",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Hook::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The system actor that reports what this hook raises: a reserved user
    /// id (Discord ids are far larger) named after the hook.
    pub fn reporter_id(self) -> u64 {
        match self {
            Hook::Alertmanager => 1,
            Hook::Grafana => 2,
            Hook::Generic => 3,
        }
    }

    /// The reporter's name as the cards show it.
    pub fn reporter_name(self) -> &'static str {
        match self {
            Hook::Alertmanager => "Alertmanager",
            Hook::Grafana => "Grafana",
            Hook::Generic => "alert hook",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an alert (or a whole notification) is firing or has recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The sender's identity of the alert (`fingerprint`, or `dedup_key`).
    pub fingerprint: String,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Where the alert is computed (Prometheus' expression browser, a Grafana panel).
    pub generator_url: Option<String>,
    /// A link the sender gave (the generic hook's `link`, Grafana's dashboard).
    pub link: Option<String>,
    /// The generic hook's title (the others take theirs from annotations and labels).
    pub title: Option<String>,
}

impl Alert {
    /// A one-line name: the summary, or the alert name, or the fingerprint.
    pub fn name(&self) -> String {
        self.title
            .clone()
            .or_else(|| self.annotations.get("summary").cloned())
            .or_else(|| self.annotations.get("title").cloned())
            .or_else(|| self.labels.get("alertname").cloned())
            .unwrap_or_else(|| format!("alert {}", self.fingerprint))
    }
}

/// One webhook delivery, whichever hook it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub hook: Hook,
    /// Alertmanager's and Grafana's `groupKey`.
    pub group_key: Option<String>,
    pub status: AlertStatus,
    pub alerts: Vec<Alert>,
    /// The sender's own page (Alertmanager's `externalURL`).
    pub external_url: Option<String>,
}

/// What a notification is about: one alert, or a group of them, under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `fp:<fingerprint>` or `group:<groupKey>`, unique within a hook.
    pub key: String,
    pub status: AlertStatus,
    pub alerts: Vec<Alert>,
}

impl Problem {
    /// The labels shared by every alert of the problem (all of one alert's).
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut alerts = self.alerts.iter();
        let Some(first) = alerts.next() else {
            return BTreeMap::new();
        };
        let mut common = first.labels.clone();
        for a in alerts {
            common.retain(|k, v| a.labels.get(k) == Some(v));
        }
        common
    }

    /// The incident's title: the alert's name, or the group's with its size.
    pub fn title(&self) -> String {
        match self.alerts.as_slice() {
            [one] => one.name(),
            many => {
                let labels = self.labels();
                let name = labels
                    .get("alertname")
                    .cloned()
                    .unwrap_or_else(|| many.first().map(Alert::name).unwrap_or_default());
                format!("{name} ({} alerts)", many.len())
            }
        }
    }

    /// One line per alert: its name and the labels it does not share with the rest.
    pub fn alert_lines(&self) -> Vec<String> {
        let common = self.labels();
        self.alerts
            .iter()
            .map(|a| {
                let own: Vec<String> = a
                    .labels
                    .iter()
                    .filter(|(k, _)| !common.contains_key(*k))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if own.is_empty() {
                    a.name()
                } else {
                    format!("{} ({})", a.name(), own.join(", "))
                }
            })
            .collect()
    }

    pub fn generator_url(&self) -> Option<&str> {
        self.alerts.iter().find_map(|a| a.generator_url.as_deref())
    }

    pub fn link(&self) -> Option<&str> {
        self.alerts.iter().find_map(|a| a.link.as_deref())
    }
}

impl Notification {
    /// The problems this notification reports: one per alert by fingerprint,
    /// or the whole notification under its `groupKey` when `group` is set
    /// (and the hook sends one).
    pub fn problems(&self, group: bool) -> Vec<Problem> {
        match (&self.group_key, group) {
            (Some(key), true) if !self.alerts.is_empty() => vec![Problem {
                key: format!("group:{key}"),
                status: self.status,
                alerts: self.alerts.clone(),
            }],
            _ => self
                .alerts
                .iter()
                .map(|a| Problem {
                    key: format!("fp:{}", a.fingerprint),
                    status: a.status,
                    alerts: vec![a.clone()],
                })
                .collect(),
        }
    }
}

/// A body that is not the payload its hook expects, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {problem}")]
pub struct PayloadError {
    pub field: String,
    pub problem: String,
}

fn bad<T>(field: impl Into<String>, problem: impl Into<String>) -> Result<T, PayloadError> {
    Err(PayloadError {
        field: field.into(),
        problem: problem.into(),
    })
}

/// The longest key a sender may give (PagerDuty's `dedup_key` limit).
pub const KEY_MAX: usize = 255;

/// Parses a webhook body for `hook`.
pub fn parse(hook: Hook, body: &[u8]) -> Result<Notification, PayloadError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad("body", format!("not JSON ({e})")),
    };
    let Value::Object(obj) = value else {
        return bad("body", "must be a JSON object");
    };
    match hook {
        Hook::Alertmanager | Hook::Grafana => grouped(hook, &obj),
        Hook::Generic => generic(&obj),
    }
}

/// Alertmanager's webhook (version 4) and Grafana's contact point, which
/// follows the same shape.
fn grouped(hook: Hook, obj: &Map<String, Value>) -> Result<Notification, PayloadError> {
    if hook == Hook::Alertmanager {
        match obj.get("version") {
            Some(Value::String(v)) if v == "4" => {}
            Some(_) => return bad("version", "must be \"4\" (the Alertmanager webhook payload version)"),
            None => return bad("version", "missing"),
        }
    }
    let overall = status(obj, "status")?;
    let group_key = optional_str(obj, "groupKey")?;
    let external_url = optional_str(obj, "externalURL")?;
    let Some(list) = obj.get("alerts") else {
        return bad("alerts", "missing");
    };
    let Value::Array(list) = list else {
        return bad("alerts", "must be a list");
    };
    let mut alerts = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let at = |f: &str| format!("alerts[{i}].{f}");
        let Value::Object(a) = item else {
            return bad(format!("alerts[{i}]"), "must be an object");
        };
        let fingerprint = match a.get("fingerprint") {
            Some(Value::String(f)) if !f.trim().is_empty() && f.len() <= KEY_MAX => f.trim().to_owned(),
            Some(Value::String(_)) => return bad(at("fingerprint"), format!("must be 1 to {KEY_MAX} characters")),
            Some(_) => return bad(at("fingerprint"), "must be a string"),
            None => return bad(at("fingerprint"), "missing"),
        };
        let link = match hook {
            Hook::Grafana => optional_str(a, "dashboardURL")
                .map_err(|e| PayloadError {
                    field: at(&e.field),
                    ..e
                })?
                .or(optional_str(a, "panelURL").ok().flatten()),
            _ => None,
        };
        alerts.push(Alert {
            fingerprint,
            status: status(a, "status").map_err(|e| PayloadError {
                field: at(&e.field),
                ..e
            })?,
            labels: string_map(a, "labels").map_err(|e| PayloadError {
                field: at(&e.field),
                ..e
            })?,
            annotations: string_map(a, "annotations").map_err(|e| PayloadError {
                field: at(&e.field),
                ..e
            })?,
            generator_url: optional_str(a, "generatorURL").map_err(|e| PayloadError {
                field: at(&e.field),
                ..e
            })?,
            link,
            title: None,
        });
    }
    Ok(Notification {
        hook,
        group_key,
        status: overall,
        alerts,
        external_url,
    })
}

/// The generic hook: `{title, service?, severity?, dedup_key, status, link?}`.
fn generic(obj: &Map<String, Value>) -> Result<Notification, PayloadError> {
    let title = match obj.get("title") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_owned(),
        Some(_) => return bad("title", "must be a non-empty string"),
        None => return bad("title", "missing"),
    };
    let dedup_key = match obj.get("dedup_key") {
        Some(Value::String(k)) if !k.trim().is_empty() && k.len() <= KEY_MAX => k.trim().to_owned(),
        Some(_) => return bad("dedup_key", format!("must be a string of 1 to {KEY_MAX} characters")),
        None => return bad("dedup_key", "missing"),
    };
    let status = status(obj, "status")?;
    let mut labels = BTreeMap::new();
    for field in ["service", "severity"] {
        if let Some(v) = optional_str(obj, field)? {
            labels.insert(field.to_owned(), v);
        }
    }
    let link = optional_str(obj, "link")?;
    let alert = Alert {
        fingerprint: dedup_key,
        status,
        labels,
        annotations: BTreeMap::new(),
        generator_url: None,
        link,
        title: Some(title),
    };
    Ok(Notification {
        hook: Hook::Generic,
        group_key: None,
        status,
        alerts: vec![alert],
        external_url: None,
    })
}

fn status(obj: &Map<String, Value>, field: &str) -> Result<AlertStatus, PayloadError> {
    match obj.get(field) {
        Some(Value::String(s)) => match AlertStatus::parse(s) {
            Some(st) => Ok(st),
            None => bad(field, format!("`{s}` is neither \"firing\" nor \"resolved\"")),
        },
        Some(_) => bad(field, "must be \"firing\" or \"resolved\""),
        None => bad(field, "missing"),
    }
}

fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, PayloadError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => bad(field, "must be a string"),
    }
}

fn string_map(obj: &Map<String, Value>, field: &str) -> Result<BTreeMap<String, String>, PayloadError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => bad(format!("{field}.{k}"), "must be a string"),
            })
            .collect(),
        Some(_) => bad(field, "must be an object of strings"),
    }
}

/// One `alerts.routes` entry: every matcher must hold (`label = value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRoute {
    pub matchers: BTreeMap<String, String>,
    /// A key of `[services]` (checked at start), or none.
    pub service: Option<String>,
    pub impact: Impact,
    pub urgency: Urgency,
}

impl AlertRoute {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// The first route whose matchers all hold for `labels`.
pub fn route<'a>(routes: &'a [AlertRoute], labels: &BTreeMap<String, String>) -> Option<&'a AlertRoute> {
    routes.iter().find(|r| r.matches(labels))
}

/// One problem a hook reported, and its incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertKey {
    pub hook: String,
    pub key: String,
    pub incident: super::incident::IncidentId,
    pub firing: bool,
    pub count: i64,
    pub labels: BTreeMap<String, String>,
    /// The names of the alerts in it (one, or a group's).
    pub alerts: Vec<String>,
    pub generator_url: Option<String>,
    pub link: Option<String>,
    pub first_seen: chrono::DateTime<chrono::Utc>,
    pub last_seen: chrono::DateTime<chrono::Utc>,
}

/// Compares a presented secret with the expected one in time that does not
/// depend on where they differ.
pub fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = presented.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(0);
        diff |= usize::from(p ^ e);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const AM: &str = r#"{
      "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
      "status": "firing", "receiver": "opsdesk",
      "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {"alertname": "DiskFull"},
      "commonAnnotations": {}, "externalURL": "http://am.example:9093",
      "alerts": [
        {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical"},
         "annotations": {"summary": "Disk full on db1"}, "startsAt": "2026-12-01T10:00:00Z",
         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom.example/graph?g0.expr=x", "fingerprint": "a1"},
        {"status": "resolved", "labels": {"alertname": "DiskFull", "instance": "db2", "severity": "critical"},
         "annotations": {}, "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T10:05:00Z",
         "generatorURL": "", "fingerprint": "b2"}
      ]
    }"#;

    #[test]
    fn an_alertmanager_payload_gives_one_problem_per_fingerprint_or_one_per_group() {
        let n = parse(Hook::Alertmanager, AM.as_bytes()).unwrap();
        assert_eq!(n.status, AlertStatus::Firing);
        let each = n.problems(false);
        assert_eq!(each.len(), 2);
        assert_eq!(each[0].key, "fp:a1");
        assert_eq!(each[0].title(), "Disk full on db1");
        assert_eq!(each[0].generator_url(), Some("http://prom.example/graph?g0.expr=x"));
        assert_eq!(each[1].status, AlertStatus::Resolved);
        let group = n.problems(true);
        assert_eq!(group.len(), 1);
        assert_eq!(group[0].key, "group:{}:{alertname=\"DiskFull\"}");
        assert_eq!(group[0].title(), "DiskFull (2 alerts)");
        assert_eq!(group[0].labels().get("instance"), None, "only the shared labels");
        assert_eq!(
            group[0].alert_lines(),
            ["Disk full on db1 (instance=db1)", "DiskFull (instance=db2)"]
        );
        assert_eq!(group[0].labels().get("severity").map(String::as_str), Some("critical"));
    }

    #[test]
    fn a_malformed_body_is_refused_naming_the_field() {
        let cases = [
            ("not json", Hook::Alertmanager, "body"),
            (r#"{"status":"firing","alerts":[]}"#, Hook::Alertmanager, "version"),
            (
                r#"{"version":"4","status":"burning","alerts":[]}"#,
                Hook::Alertmanager,
                "status",
            ),
            (r#"{"version":"4","status":"firing"}"#, Hook::Alertmanager, "alerts"),
            (
                r#"{"version":"4","status":"firing","alerts":[{"status":"firing"}]}"#,
                Hook::Alertmanager,
                "alerts[0].fingerprint",
            ),
            (
                r#"{"version":"4","status":"firing","alerts":[{"status":"firing","fingerprint":"x","labels":{"a":1}}]}"#,
                Hook::Alertmanager,
                "alerts[0].labels.a",
            ),
            (r#"{"title":"t","status":"firing"}"#, Hook::Generic, "dedup_key"),
            (r#"{"dedup_key":"k","status":"firing"}"#, Hook::Generic, "title"),
            (
                r#"{"title":"t","dedup_key":"k","status":"open"}"#,
                Hook::Generic,
                "status",
            ),
            (r#"[1]"#, Hook::Grafana, "body"),
        ];
        for (body, hook, field) in cases {
            let e = parse(hook, body.as_bytes()).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e}");
        }
    }

    #[test]
    fn the_generic_hook_takes_service_and_severity_as_labels() {
        let body = r#"{"title":"Backups failing","service":"payroll","severity":"critical",
                      "dedup_key":"backup-42","status":"firing","link":"https://ci.example/42"}"#;
        let n = parse(Hook::Generic, body.as_bytes()).unwrap();
        let p = &n.problems(true)[0];
        assert_eq!(p.key, "fp:backup-42", "no group key: grouping does not apply");
        assert_eq!(p.title(), "Backups failing");
        assert_eq!(p.labels().get("service").map(String::as_str), Some("payroll"));
        assert_eq!(p.link(), Some("https://ci.example/42"));
    }

    #[test]
    fn the_first_matching_route_wins() {
        let r = |m: &[(&str, &str)], impact| AlertRoute {
            matchers: m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            service: None,
            impact,
            urgency: Urgency::High,
        };
        let routes = [
            r(&[("severity", "critical"), ("team", "db")], Impact::High),
            r(&[("severity", "critical")], Impact::Medium),
        ];
        let labels = |m: &[(&str, &str)]| m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(
            route(&routes, &labels(&[("severity", "critical"), ("team", "db")]))
                .unwrap()
                .impact,
            Impact::High
        );
        assert_eq!(
            route(&routes, &labels(&[("severity", "critical")])).unwrap().impact,
            Impact::Medium
        );
        assert!(route(&routes, &labels(&[("severity", "warning")])).is_none());
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cres", b"s3cret"));
        assert!(!same_secret(b"s3cret-and-more", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
