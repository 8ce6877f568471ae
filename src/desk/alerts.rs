//! Monitoring alerts become incidents: one delivery of a hook (`/hooks/*`)
//! is one inbound event with an identity (its hook and a hash of its body),
//! run through the spine like any command, so a replayed delivery changes
//! nothing and the sender's 2xx follows the COMMIT.
//!
//! Each problem of a delivery (an alert's fingerprint, a group's key, a
//! `dedup_key`) maps to one incident through `alert_keys`: a repeat while it
//! is open updates its card; a re-fire soon after it was resolved reopens
//! it; a recovery notes it and, when nobody has taken it and
//! `alerts.auto_resolve` is set, resolves it. Logging, moving and noting go
//! through `incidents` (`log`, `move_incident`, `note`), so RACI routing, SLA
//! clocks, the card and the thread behave as for a reported incident.

use super::act::{Act, Body, Claim};
use super::incidents::{self, LogRequest, Move};
use super::{Actor, Desk, DeskResult, Event, Inbound, Outcome, Reply};
use crate::domain::alert::{AlertKey, AlertStatus, Hook, Notification, Problem};
use crate::domain::incident::{IncidentId, State};
use crate::domain::raci::Action;
use crate::domain::UserId;
use crate::render::{self, HookEffect};
use crate::store;

/// How many open alert incidents `!alerts` lists.
const LIST_MAX: u32 = 25;

/// The system actor reporting what `hook` raises.
pub(crate) fn hook_actor(hook: Hook) -> Actor {
    Actor {
        user: UserId::new(hook.reporter_id()),
        name: hook.reporter_name().to_owned(),
        roles: Vec::new(),
    }
}

/// A delivery's identity: the hook and a stable 128-bit FNV-1a hash of the
/// exact body, so the same notification sent twice is one event.
pub fn delivery_key(hook: Hook, body: &[u8]) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in body {
        h ^= u128::from(*b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("hook:{hook}:{h:032x}:{}", body.len())
}

/// The inbound event of one delivery.
pub fn delivery(hook: Hook, body: &[u8], notification: Notification) -> Inbound {
    Inbound {
        key: delivery_key(hook, body),
        actor: hook_actor(hook),
        channel: None,
        event: Event::Alert(notification),
    }
}

impl Desk {
    /// Stores one hook delivery (an [`Event::Alert`]); answers once it is
    /// committed. A store error is returned, not turned into a reply, so the
    /// hook can answer 503 and the sender retries.
    pub(crate) async fn receive_alert(&self, inbound: &Inbound) -> DeskResult<Outcome> {
        let started = std::time::Instant::now();
        let _in_flight = crate::telemetry::metrics().begin_command();
        let result = receive(self, inbound).await;
        let outcome = match &result {
            Ok(Outcome::Duplicate) => "duplicate",
            Ok(_) => "ok",
            Err(super::DeskError::Store(_)) => "error",
            Err(_) => "rejected",
        };
        crate::telemetry::metrics().command(
            "alert",
            outcome,
            started.elapsed(),
            self.clock().now().timestamp_millis(),
        );
        result
    }
}

/// Runs a delivery through the spine.
pub(crate) async fn receive(desk: &Desk, inbound: &Inbound) -> DeskResult<Outcome> {
    let Event::Alert(notification) = &inbound.event else {
        return Ok(Outcome::Ignored);
    };
    let hook = notification.hook;
    let alerts = notification.alerts.len() as u64;
    let problems = notification.problems(desk.policy().alerts.group);
    let d = desk.clone();
    let actor = inbound.actor.clone();
    let body: Body = Box::new(move |act| {
        let (desk, actor, problems) = (d.clone(), actor.clone(), problems.clone());
        Box::pin(async move {
            let mut effects = Vec::with_capacity(problems.len());
            for p in &problems {
                let (inc, effect) = problem(&desk, act, &actor, hook, p).await?;
                effects.push((p.key.clone(), inc, effect));
            }
            Ok(Outcome::Reply(Reply::public(render::hook_answer(&effects))))
        })
    });
    let outcome = desk.transact(Claim::Event(inbound.clone()), body).await?;
    let m = crate::telemetry::metrics();
    match &outcome {
        Outcome::Duplicate => m.alerts_deduplicated(hook.as_str(), alerts),
        Outcome::Reply(r) => {
            m.alerts_received(hook.as_str(), alerts);
            let repeats = r.text.lines().filter(|l| l.ends_with(" updated")).count() as u64;
            if repeats > 0 {
                m.alerts_deduplicated(hook.as_str(), repeats);
            }
        }
        Outcome::Ignored => {}
    }
    Ok(outcome)
}

/// What one problem of a delivery does to its incident.
async fn problem(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    hook: Hook,
    p: &Problem,
) -> DeskResult<(Option<IncidentId>, HookEffect)> {
    let settings = &desk.policy().alerts;
    let now = tx.now;
    let existing = store::alerts::get(tx, hook.as_str(), &p.key).await?;
    let inc = match &existing {
        Some(a) => store::incidents::get(tx, a.incident).await?,
        None => None,
    };
    // What the card shows is what the latest notification said.
    let refresh = |a: &mut AlertKey, firing: bool| {
        a.firing = firing;
        a.last_seen = now;
        a.labels = p.labels();
        a.alerts = p.alert_lines();
        a.generator_url = p.generator_url().map(str::to_owned).or(a.generator_url.take());
        a.link = p.link().map(str::to_owned).or(a.link.take());
    };
    match (p.status, existing, inc) {
        (AlertStatus::Firing, Some(mut a), Some(inc)) if inc.state.is_open() => {
            a.count += 1;
            refresh(&mut a, true);
            store::alerts::put(tx, &a).await?;
            let card = incidents::card(desk, tx, &inc, false).await?;
            tx.record(
                Some(actor.user),
                Action::UpdateIncident,
                &inc.id.to_string(),
                render::history::alert_repeated(a.count),
                &[card],
            );
            Ok((Some(inc.id), HookEffect::Updated))
        }
        (AlertStatus::Firing, Some(mut a), Some(inc))
            if inc.state == State::Resolved && now - inc.updated_at <= settings.reopen_within =>
        {
            a.count += 1;
            refresh(&mut a, true);
            store::alerts::put(tx, &a).await?;
            let id = inc.id;
            let reason = render::alert_refired(&a);
            incidents::move_incident(desk, tx, actor, inc, Move::to(State::InProgress, Some(reason))).await?;
            Ok((Some(id), HookEffect::Reopened))
        }
        (AlertStatus::Firing, _, _) => {
            let labels = p.labels();
            let route = crate::domain::alert::route(&settings.routes, &labels);
            // A route's service, else a `service` label naming a known one, else the default.
            let policy = desk.policy();
            let labelled = labels
                .get("service")
                .and_then(|s| policy.service(s))
                .map(|s| s.key.clone());
            let service = route
                .and_then(|r| r.service.clone())
                .or(labelled)
                .or_else(|| settings.default_service.clone());
            let mut a = AlertKey {
                hook: hook.as_str().to_owned(),
                key: p.key.clone(),
                incident: IncidentId::from_row(0),
                firing: true,
                count: 1,
                labels: Default::default(),
                alerts: Vec::new(),
                generator_url: None,
                link: None,
                first_seen: now,
                last_seen: now,
            };
            refresh(&mut a, true);
            let req = LogRequest {
                title: render::truncate(&p.title(), desk.policy().limits.title_max),
                impact: route.map(|r| r.impact),
                urgency: route.map(|r| r.urgency),
                service,
                category: None,
                source: None,
                alert: Some(a.clone()),
            };
            let (inc, _) = incidents::log(desk, tx, actor, req).await?;
            a.incident = inc.id;
            store::alerts::put(tx, &a).await?;
            Ok((Some(inc.id), HookEffect::Logged))
        }
        (AlertStatus::Resolved, Some(mut a), Some(inc)) if inc.state.is_open() && a.firing => {
            refresh(&mut a, false);
            store::alerts::put(tx, &a).await?;
            let id = inc.id;
            if inc.assignee.is_none() && settings.auto_resolve {
                let resolution = render::alert_auto_resolved(&a);
                incidents::move_incident(desk, tx, actor, inc, Move::to(State::Resolved, Some(resolution))).await?;
                Ok((Some(id), HookEffect::Resolved))
            } else {
                // The reporter's note pings whoever works it (`incidents::note`).
                let text = if inc.assignee.is_some() {
                    render::alert_recovered_left_to_assignee(&a)
                } else {
                    render::alert_recovered(&a)
                };
                incidents::note(desk, tx, actor, id, &text).await?;
                Ok((Some(id), HookEffect::Noted))
            }
        }
        (AlertStatus::Resolved, Some(mut a), inc) => {
            // Already told, or its incident is no longer open: only remember it.
            let id = inc.map(|i| i.id);
            let effect = if a.firing {
                HookEffect::Unknown
            } else {
                HookEffect::Updated
            };
            refresh(&mut a, false);
            store::alerts::put(tx, &a).await?;
            Ok((id, effect))
        }
        (AlertStatus::Resolved, None, _) => Ok((None, HookEffect::Unknown)),
    }
}

/// `!alerts`: the open incidents raised by alerts, with their keys and counts.
pub(crate) async fn list(tx: &mut Act<'_>) -> DeskResult<Reply> {
    let rows = store::alerts::open(tx, LIST_MAX).await?;
    let mut listed = Vec::with_capacity(rows.len());
    for a in rows {
        let title = store::incidents::get(tx, a.incident)
            .await?
            .map(|i| i.title)
            .unwrap_or_default();
        listed.push((a, title));
    }
    Ok(Reply::public(render::alerts_list(&listed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::desk::testkit::say;
    use crate::desk::Clock;
    use crate::domain::alert;
    use crate::store::testing::{self, temp_store};
    use chrono::TimeDelta;

    async fn desk_with(edit: impl FnOnce(&mut Policy)) -> (Desk, Clock, tempfile::TempDir) {
        let (store, dir) = temp_store().await;
        let mut policy = Policy::defaults();
        edit(&mut policy);
        let clock = Clock::fixed(chrono::Utc::now());
        (Desk::new(store, policy, clock.clone()), clock, dir)
    }

    async fn n(desk: &Desk, sql: &str) -> i64 {
        testing::scalar(desk.store(), sql).await
    }

    async fn text(desk: &Desk, sql: &str) -> String {
        testing::text(desk.store(), sql).await
    }

    /// An Alertmanager delivery of `alerts` (fingerprint, status, instance);
    /// `nonce` makes otherwise equal deliveries distinct (a new annotation).
    fn am(alerts: &[(&str, &str, &str)], nonce: u32) -> Vec<u8> {
        let list: Vec<String> = alerts
            .iter()
            .map(|(fp, status, instance)| {
                format!(
                    r#"{{"status":"{status}","labels":{{"alertname":"DiskFull","severity":"critical","instance":"{instance}"}},
                    "annotations":{{"summary":"Disk full on {instance}","n":"{nonce}"}},"startsAt":"2026-12-01T10:00:00Z",
                    "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom.test/graph?g0.expr=disk","fingerprint":"{fp}"}}"#
                )
            })
            .collect();
        let status = if alerts.iter().any(|a| a.1 == "firing") {
            "firing"
        } else {
            "resolved"
        };
        format!(
            r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"DiskFull\"}}","truncatedAlerts":0,"status":"{status}",
            "receiver":"opsdesk","groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},
            "externalURL":"http://am.test","alerts":[{}]}}"#,
            list.join(",")
        )
        .into_bytes()
    }

    async fn deliver(desk: &Desk, hook: Hook, body: &[u8]) -> Outcome {
        let notification = alert::parse(hook, body).unwrap();
        desk.receive_alert(&delivery(hook, body, notification)).await.unwrap()
    }

    fn answer(outcome: Outcome) -> String {
        match outcome {
            Outcome::Reply(r) => r.text,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_firing_alert_logs_one_incident_routed_by_labels_and_repeats_only_update_its_card() {
        let (desk, _, _dir) = desk_with(|_| {}).await;
        let first = answer(deliver(&desk, Hook::Alertmanager, &am(&[("a1", "firing", "db1")], 0)).await);
        assert_eq!(first, "fp:a1: INC-1 logged\n");
        assert_eq!(
            n(&desk, "SELECT priority FROM incidents WHERE id = 1").await,
            1,
            "severity=critical → high/high"
        );
        assert_eq!(
            n(&desk, "SELECT reporter FROM incidents WHERE id = 1").await,
            1,
            "the Alertmanager actor"
        );
        assert_eq!(
            text(&desk, "SELECT display_name FROM users WHERE id = 1").await,
            "Alertmanager"
        );
        assert_eq!(
            n(
                &desk,
                "SELECT COUNT(*) FROM audit WHERE action = 'alert_incident' AND subject = 'INC-1'"
            )
            .await,
            1
        );
        let card = text(
            &desk,
            "SELECT payload FROM outbox WHERE kind = 'card' ORDER BY id LIMIT 1",
        )
        .await;
        for shown in [
            "alertname=DiskFull",
            "instance=db1",
            "http://prom.test/graph",
            "seen 1 time",
        ] {
            assert!(card.contains(shown), "{shown} missing from the card: {card}");
        }
        let posts = n(&desk, "SELECT COUNT(*) FROM outbox WHERE kind = 'post'").await;
        // A repeat (Alertmanager resends with the alert changed): the card, not a new incident or post.
        let again = answer(deliver(&desk, Hook::Alertmanager, &am(&[("a1", "firing", "db1")], 1)).await);
        assert_eq!(again, "fp:a1: INC-1 updated\n");
        assert_eq!(n(&desk, "SELECT COUNT(*) FROM incidents").await, 1);
        assert_eq!(n(&desk, "SELECT count FROM alert_keys").await, 2);
        assert_eq!(
            n(&desk, "SELECT COUNT(*) FROM outbox WHERE kind = 'post'").await,
            posts,
            "no new message"
        );
        let card = text(
            &desk,
            "SELECT payload FROM outbox WHERE kind = 'card' ORDER BY id DESC LIMIT 1",
        )
        .await;
        assert!(card.contains("seen 2 times"), "{card}");
        // The same delivery replayed changes nothing at all.
        let (audit, outbox) = (
            n(&desk, "SELECT COUNT(*) FROM audit").await,
            n(&desk, "SELECT COUNT(*) FROM outbox").await,
        );
        assert_eq!(
            deliver(&desk, Hook::Alertmanager, &am(&[("a1", "firing", "db1")], 1)).await,
            Outcome::Duplicate
        );
        assert_eq!(n(&desk, "SELECT count FROM alert_keys").await, 2);
        assert_eq!(n(&desk, "SELECT COUNT(*) FROM audit").await, audit);
        assert_eq!(n(&desk, "SELECT COUNT(*) FROM outbox").await, outbox);
        // Another fingerprint is another problem.
        let other = answer(deliver(&desk, Hook::Alertmanager, &am(&[("b2", "firing", "db2")], 0)).await);
        assert_eq!(other, "fp:b2: INC-2 logged\n");
        let agent = crate::desk::testkit::actor("ann", &["service_desk"]);
        let listed = say(&desk, "k:alerts", &agent, "!alerts").await.text;
        assert!(listed.starts_with("Open alert incidents (2):"), "{listed}");
        assert!(
            listed.contains("INC-1") && listed.contains("`fp:a1`") && listed.contains("seen 2×"),
            "{listed}"
        );
    }

    #[tokio::test]
    async fn recovery_resolves_an_untaken_incident_a_refire_reopens_it_and_a_late_one_logs_anew() {
        let (desk, clock, _dir) = desk_with(|_| {}).await;
        deliver(&desk, Hook::Alertmanager, &am(&[("a1", "firing", "db1")], 0)).await;
        let resolved = answer(deliver(&desk, Hook::Alertmanager, &am(&[("a1", "resolved", "db1")], 0)).await);
        assert_eq!(resolved, "fp:a1: INC-1 resolved\n");
        assert_eq!(
            text(&desk, "SELECT state FROM incidents WHERE id = 1").await,
            "resolved"
        );
        clock.advance(TimeDelta::minutes(30));
        let back = answer(deliver(&desk, Hook::Alertmanager, &am(&[("a1", "firing", "db1")], 1)).await);
        assert_eq!(back, "fp:a1: INC-1 reopened\n");
        assert_eq!(
            text(&desk, "SELECT state FROM incidents WHERE id = 1").await,
            "in_progress"
        );
        deliver(&desk, Hook::Alertmanager, &am(&[("a1", "resolved", "db1")], 1)).await;
        clock.advance(TimeDelta::hours(2));
        let late = answer(deliver(&desk, Hook::Alertmanager, &am(&[("a1", "firing", "db1")], 2)).await);
        assert_eq!(late, "fp:a1: INC-2 logged\n", "past alerts.reopen_within");
        assert_eq!(n(&desk, "SELECT incident_id FROM alert_keys").await, 2);
    }

    #[tokio::test]
    async fn recovery_of_a_taken_incident_tells_its_assignee_and_leaves_it_open() {
        let (desk, _, _dir) = desk_with(|_| {}).await;
        deliver(&desk, Hook::Alertmanager, &am(&[("a1", "firing", "db1")], 0)).await;
        let agent = crate::desk::testkit::actor("ann", &["service_desk"]);
        say(&desk, "k:take", &agent, "!take INC-1").await;
        let noted = answer(deliver(&desk, Hook::Alertmanager, &am(&[("a1", "resolved", "db1")], 0)).await);
        assert_eq!(noted, "fp:a1: INC-1 told of the recovery\n");
        assert_eq!(
            text(&desk, "SELECT state FROM incidents WHERE id = 1").await,
            "assigned"
        );
        let note = text(&desk, "SELECT body FROM incident_notes ORDER BY id DESC LIMIT 1").await;
        assert!(note.contains("recovered") && note.contains("stays open"), "{note}");
        let told = text(
            &desk,
            "SELECT payload FROM outbox WHERE kind = 'post' ORDER BY id DESC LIMIT 1",
        )
        .await;
        let ann = crate::console::console_user_id("ann").get().to_string();
        assert!(told.contains(&ann), "the assignee is pinged: {told}");
    }

    #[tokio::test]
    async fn a_group_is_one_incident_listing_its_alerts() {
        let (desk, _, _dir) = desk_with(|p| p.alerts.group = true).await;
        let body = am(&[("a1", "firing", "db1"), ("b2", "firing", "db2")], 0);
        let out = answer(deliver(&desk, Hook::Alertmanager, &body).await);
        assert_eq!(out, "group:{}:{alertname=\"DiskFull\"}: INC-1 logged\n");
        assert_eq!(n(&desk, "SELECT COUNT(*) FROM incidents").await, 1);
        assert_eq!(text(&desk, "SELECT title FROM incidents").await, "DiskFull (2 alerts)");
        let card = text(
            &desk,
            "SELECT payload FROM outbox WHERE kind = 'card' ORDER BY id LIMIT 1",
        )
        .await;
        assert!(
            card.contains("Disk full on db1") && card.contains("Disk full on db2"),
            "{card}"
        );
    }

    #[tokio::test]
    async fn grafana_and_the_generic_hook_raise_incidents_from_their_documented_payloads() {
        let (desk, _, _dir) = desk_with(|_| {}).await;
        // Grafana's webhook contact point (grafana.com docs, "Webhook notifier": version 1 payload).
        let grafana = br#"{
          "receiver": "opsdesk", "status": "firing", "orgId": 1,
          "alerts": [{
            "status": "firing",
            "labels": {"alertname": "High CPU", "grafana_folder": "Infra", "severity": "warning"},
            "annotations": {"summary": "CPU above 90% on web1"},
            "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.test/alerting/grafana/abc/view",
            "fingerprint": "57c6d9296de2ad39",
            "silenceURL": "https://grafana.test/alerting/silence/new",
            "dashboardURL": "https://grafana.test/d/web", "panelURL": "https://grafana.test/d/web?viewPanel=1",
            "values": {"B": 93.2, "C": 1}, "valueString": "[ var='B' value=93.2 ]"
          }],
          "groupLabels": {"alertname": "High CPU"}, "commonLabels": {"alertname": "High CPU"},
          "commonAnnotations": {}, "externalURL": "https://grafana.test/",
          "version": "1", "groupKey": "{}:{alertname=\"High CPU\"}", "truncatedAlerts": 0,
          "title": "[FIRING:1] High CPU", "state": "alerting", "message": "CPU above 90%"
        }"#;
        assert_eq!(
            answer(deliver(&desk, Hook::Grafana, grafana).await),
            "fp:57c6d9296de2ad39: INC-1 logged\n"
        );
        assert_eq!(
            text(&desk, "SELECT title FROM incidents WHERE id = 1").await,
            "CPU above 90% on web1"
        );
        assert_eq!(
            n(&desk, "SELECT priority FROM incidents WHERE id = 1").await,
            3,
            "warning → medium/medium"
        );
        assert_eq!(n(&desk, "SELECT reporter FROM incidents WHERE id = 1").await, 2);
        let card = text(
            &desk,
            "SELECT payload FROM outbox WHERE kind = 'card' ORDER BY id LIMIT 1",
        )
        .await;
        assert!(card.contains("https://grafana.test/d/web"), "the source link: {card}");
        let generic = br#"{"title":"Nightly backup failed","service":"payroll","severity":"critical",
                          "dedup_key":"backup-2026-12-01","status":"firing","link":"https://ci.test/jobs/42"}"#;
        assert_eq!(
            answer(deliver(&desk, Hook::Generic, generic).await),
            "fp:backup-2026-12-01: INC-2 logged\n"
        );
        assert_eq!(n(&desk, "SELECT reporter FROM incidents WHERE id = 2").await, 3);
        let resolved = br#"{"title":"Nightly backup failed","dedup_key":"backup-2026-12-01","status":"resolved"}"#;
        assert_eq!(
            answer(deliver(&desk, Hook::Generic, resolved).await),
            "fp:backup-2026-12-01: INC-2 resolved\n"
        );
    }

    #[test]
    fn the_same_body_is_the_same_delivery_and_another_is_not() {
        assert_eq!(delivery_key(Hook::Generic, b"{}"), delivery_key(Hook::Generic, b"{}"));
        assert_ne!(delivery_key(Hook::Generic, b"{}"), delivery_key(Hook::Grafana, b"{}"));
        assert_ne!(
            delivery_key(Hook::Generic, b"{\"a\":1}"),
            delivery_key(Hook::Generic, b"{\"a\":2}")
        );
    }
}
