//! Outage notices through the real `opsdesk console`: declare, update and
//! resolve; subscriptions; incidents linked to a known outage; what users read
//! and what the database holds.

use crate::util::{console, lines_with, scalar, text, TestDb};

async fn column(db: &TestDb, sql: &str) -> Vec<String> {
    let mut conn = db.conn().await;
    let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&mut conn).await.expect(sql);
    rows.into_iter().map(|r| r.0).collect()
}

const LIFECYCLE: &str = "\
:as alice
!subscribe email
:as bob
!sub Email
:as carol
!subscribe vpn
:as dave
!subscribe email
!unsubscribe email
!status
:as sam Service Desk
!outage email Mail delivery delayed @everyone impact=major
:as erin
!incident Cannot send mail service=email
:as sam Service Desk
!take INC-1
!status INC-1 in_progress
:as frank
!incident Outlook errors service=email
!status
!services
:as nina NOC
!outage update OUT-1 Queue draining impact=partial
:clock +2h
:as sam Service Desk
!outage resolve OUT-1 MTA restarted
!status
!outage show OUT-1
";

#[tokio::test]
async fn an_outage_is_declared_updated_and_resolved_and_subscribers_are_told_once_each() {
    let db = TestDb::new();
    let out = console(&db, LIFECYCLE, &[]);

    // Before: nothing is down.
    assert!(out.contains("✅ All services operational."), "{out}");
    assert!(out.contains("(only dave)] Unsubscribed from Email"), "{out}");

    // Declared: reply, status card pinging the subscriber role, RACI routing, DMs.
    assert!(
        out.contains("OUT-1 declared: Email major outage. Posted in #status; 2 subscribers will be messaged."),
        "{out}"
    );
    let card = lines_with(&out, "[#status #");
    assert!(
        card[0].contains("@Email Subscribers 🔴 OUT-1 · Email · major outage: Mail delivery delayed @\u{200B}everyone"),
        "{out}"
    );
    assert!(
        out.contains("[#service-desk #")
            && out.contains("@Service Desk 🔴 OUT-1 · Email · major outage declared by sam"),
        "{out}"
    );
    assert!(
        out.contains("FYI (outage_declare): 🔴 OUT-1"),
        "the owner and informed roles are told: {out}"
    );
    for who in ["alice", "bob"] {
        let dms = lines_with(&out, &format!("[#dm/{who} #"));
        assert_eq!(dms.len(), 3, "{who}: declare, update, resolve: {out}");
        assert!(
            dms[0].contains("🔴 OUT-1 · Email · major outage: Mail delivery delayed"),
            "{}",
            dms[0]
        );
        assert!(
            dms[1].contains("Update on 🟠 OUT-1 · Email · partial outage: Queue draining"),
            "{}",
            dms[1]
        );
        assert!(
            dms[2].contains("✅ Email is back: OUT-1 resolved after 2h: MTA restarted"),
            "{}",
            dms[2]
        );
    }
    assert!(lines_with(&out, "[#dm/carol").is_empty(), "carol follows vpn only");
    assert!(lines_with(&out, "[#dm/dave").is_empty(), "dave unsubscribed");

    // While it lasts: status board and services list.
    assert!(
        out.contains("Current outages:\n🔴 OUT-1 · Email · major outage: Mail delivery delayed"),
        "{out}"
    );
    assert!(
        out.contains("Email (`email`) · owner Email Service Owner · 🔴 major outage (OUT-1)"),
        "{out}"
    );
    assert!(
        out.contains("VPN (`vpn`) · owner VPN Service Owner · ✅ operational"),
        "{out}"
    );

    // The update (by a NOC holder) edits the card and is posted.
    assert!(
        out.contains("OUT-1 updated (partial impact); 2 subscribers will be messaged."),
        "{out}"
    );
    let card_id = card[0]
        .trim_start_matches("[#status #")
        .split(']')
        .next()
        .unwrap()
        .to_owned();
    let edits = lines_with(&out, &format!("[#status #{card_id} edited]"));
    assert_eq!(edits.len(), 2, "{out}");
    assert!(edits[0].contains("🟠 OUT-1 · Email · partial outage"), "{}", edits[0]);
    assert!(edits[1].contains("✅ OUT-1 · Email is back"), "{}", edits[1]);
    assert!(
        out.contains("@Email Subscribers Update on 🟠 OUT-1 · Email · partial outage: Queue draining — nina"),
        "{out}"
    );
    assert!(
        out.contains("@Email Subscribers ✅ All clear: Email is back. OUT-1 is resolved after 2h: MTA restarted"),
        "{out}"
    );
    assert_eq!(out.matches("✅ All services operational.").count(), 2, "{out}");
    // What was said, and where the direct messages stand.
    assert!(
        out.contains("**✅ OUT-1 · Email · partial outage** · resolved"),
        "{out}"
    );
    assert!(out.contains("update by nina: Queue draining"), "{out}");
    assert!(
        out.contains("Direct messages: 6 queued · 6 delivered · 0 pending · 0 unreachable (DMs closed) · 0 lost"),
        "{out}"
    );
    assert!(out.contains("Linked incidents: INC-1, INC-2"), "{out}");

    // The database: one outage, three notices, one DM row per subscriber per
    // notice, all delivered, and the audit trail.
    assert_eq!(text(&db, "SELECT state FROM outages WHERE id = 1").await, "resolved");
    assert_eq!(text(&db, "SELECT impact FROM outages WHERE id = 1").await, "partial");
    assert_eq!(
        column(&db, "SELECT kind FROM outage_notices ORDER BY id").await,
        ["declare", "update", "resolve"]
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outage_deliveries").await, 6);
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM outbox o JOIN outage_deliveries d ON d.outbox_id = o.id WHERE o.delivered_at IS NOT NULL"
        )
        .await,
        6
    );
    // (frank's report, counted on the grouped card and never worked, is
    // settled by direct message too: one more DM, about INC-2.)
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE destination LIKE '{\"to\":\"dm\"%' AND subject LIKE 'OUT-1:dm:%'"
        )
        .await,
        6
    );
    assert_eq!(
        column(&db, "SELECT action FROM audit WHERE subject = 'OUT-1' ORDER BY id").await,
        ["outage_declare", "outage_update", "outage_resolve"]
    );
    assert_eq!(
        column(
            &db,
            "SELECT action FROM audit WHERE subject = 'service:email' ORDER BY id"
        )
        .await,
        ["subscribe", "subscribe", "subscribe", "unsubscribe"]
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );
}

#[tokio::test]
async fn incidents_during_an_outage_are_linked_and_settled_when_it_ends() {
    let db = TestDb::new();
    let out = console(&db, LIFECYCLE, &[]);

    // The reporter is told it is known.
    // (the first response it is told to expect depends on the hour it runs at).
    let logged = lines_with(&out, "INC-1 logged: P3");
    assert_eq!(logged.len(), 1, "{out}");
    assert!(
        logged[0].contains(
            "INC-1 logged: P3 (impact medium × urgency medium). Handled by Service Desk (#service-desk). \
             Expect a first response within 4 business hours, by "
        ) && logged[0]
            .contains(" UTC. This is a known outage: OUT-1 (Email, major): Mail delivery delayed @\u{200B}everyone."),
        "{out}"
    );
    // Reports during the outage are counted on its one grouped card in the
    // handler's channel; INC-2, never worked, gets no card or thread of its own.
    assert!(
        out.contains("1 report so far; reports linked to OUT-1 are counted here"),
        "{out}"
    );
    assert!(out.contains("2 reports linked to OUT-1"), "{out}");
    assert!(!out.contains("[#service-desk/INC-2 #"), "{out}");
    // INC-1, taken, got its card and thread with the outage named there.
    assert!(
        out.contains("INC-1 is part of known outage OUT-1 (Email, major)"),
        "{out}"
    );
    // The existing incident form of !status still works.
    assert!(out.contains("INC-1 is now in progress."), "{out}");

    // On resolve: INC-1 (in progress) and INC-2 (new: any open incident may
    // be resolved) are resolved with the outage; both reporters are told.
    assert!(
        out.contains(
            "OUT-1 resolved after 2h; 2 subscribers will be messaged. Linked incidents: INC-1, INC-2 resolved with it; \
             their reporters are told."
        ),
        "{out}"
    );
    assert!(
        out.contains("@erin erin: INC-1 was resolved by sam: Resolved with outage OUT-1 (Email): MTA restarted"),
        "{out}"
    );
    // INC-2 has no thread: frank is told by direct message.
    assert!(
        lines_with(&out, "[#dm/frank #").iter().any(|l| l
            .contains("@frank frank: INC-2 was resolved by sam: Resolved with outage OUT-1 (Email): MTA restarted")),
        "{out}"
    );
    assert!(
        out.contains("✅ OUT-1 · Email is back: 2 reports linked to OUT-1, settled with it."),
        "{out}"
    );

    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "resolved");
    assert_eq!(
        text(&db, "SELECT resolution FROM incidents WHERE id = 1").await,
        "Resolved with outage OUT-1 (Email): MTA restarted"
    );
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 2").await, "resolved");
    assert_eq!(
        column(&db, "SELECT outcome FROM outage_incidents ORDER BY incident_id").await,
        ["resolved", "resolved"]
    );
    assert_eq!(
        column(&db, "SELECT action FROM audit WHERE subject = 'INC-1' ORDER BY id").await,
        ["log_incident", "assign_incident", "update_incident", "resolve_incident"]
    );
    assert_eq!(
        // SLA rows depend on the wall clock the console starts at (2h of
        // business hours reach INC-2's 50% response warning only during them).
        column(
            &db,
            "SELECT action FROM audit WHERE subject = 'INC-2' AND action NOT LIKE 'sla%' ORDER BY id"
        )
        .await,
        ["log_incident", "resolve_incident"]
    );
}

#[tokio::test]
async fn config_can_keep_linked_incidents_open_when_an_outage_ends() {
    let db = TestDb::new();
    let cfg = db.dir.path().join("outage.toml");
    std::fs::write(&cfg, "[outage]\nresolve_linked_incidents = false\n").unwrap();
    let cfg = cfg.display().to_string();
    let script = "\
:as sam Service Desk
!outage vpn Tunnel drops
:as erin
!incident VPN keeps dropping service=vpn
:as sam Service Desk
!take INC-1
!status INC-1 in_progress
!outage resolve OUT-1
";
    let out = console(&db, script, &["--config", &cfg]);
    assert!(
        out.contains("Linked incidents: INC-1 (in_progress) left open for their handlers"),
        "{out}"
    );
    assert!(
        out.contains("INC-1 stays in_progress until Service Desk confirms it is fixed."),
        "{out}"
    );
    assert_eq!(
        text(&db, "SELECT state FROM incidents WHERE id = 1").await,
        "in_progress"
    );
    assert_eq!(text(&db, "SELECT outcome FROM outage_incidents").await, "left_open");
}

#[tokio::test]
async fn bad_outage_input_gets_clear_replies_and_changes_nothing() {
    let db = TestDb::new();
    let script = "\
:as alice
!outage email Mail is down
!subscribe emial
!unsubscribe email
!subscriptions
:as sam Service Desk
!outage emial Mail is down
!outage email    impact=major
!outage email down impact=total
!outage update OUT-7 hello
:as nina NOC
!outage email Mail is down
:as alice
!outage update OUT-1 it is fine
!outage resolve OUT-1
:as sam Service Desk
!outage email again
!outage resolve OUT-1 fixed
!outage resolve OUT-1
!outage update OUT-1 late news
";
    let out = console(&db, script, &[]);
    let expected = [
        "(only alice)] Only Service Desk, Incident Manager and Network Operations may declare outages (config `outage.roles`).",
        "(only alice)] `emial` is not a service. Did you mean `email`? Services: email, payroll, vpn.",
        "(only alice)] You are not subscribed to Email; `!subscriptions` lists yours.",
        "(only alice)] You have no subscriptions.",
        "(only sam)] `emial` is not a service. Did you mean `email`?",
        "(only sam)] Missing <summary>. Usage: `!outage <service> <summary> [impact=partial|major]",
        "(only sam)] Impact must be partial or major, not `total`.",
        "(only sam)] OUT-7 does not exist.",
        "(only alice)] OUT-1 was declared by someone else: only they and Service Desk, Incident Manager and Network Operations may update or resolve it.",
        "(only sam)] Email already has an active outage, OUT-1: Mail is down. Post news with `!outage update OUT-1 <text>`.",
        "(only sam)] OUT-1 is already resolved (since ",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    assert_eq!(out.matches("OUT-1 is already resolved").count(), 2, "{out}");
    // Only nina's declaration and sam's resolve changed anything.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outages").await, 1);
    assert_eq!(
        column(&db, "SELECT kind FROM outage_notices ORDER BY id").await,
        ["declare", "resolve"]
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outage_subscriptions").await, 0);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit").await, 2);
}

#[tokio::test]
async fn a_fan_out_held_at_a_restart_is_delivered_once_to_every_subscriber() {
    let db = TestDb::new();
    let mut script = String::new();
    for i in 0..300 {
        script.push_str(&format!(":as user{i}\n!subscribe payroll\n"));
    }
    script.push_str(":as sam Service Desk\n!outage payroll Payslips unavailable impact=major\n");
    let out = console(&db, &script, &["--hold-outbox"]);
    assert!(out.contains("300 subscribers will be messaged"), "{out}");
    assert!(lines_with(&out, "[#dm/").is_empty(), "held");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outage_deliveries").await, 300);

    // The next start delivers every DM once; the one after, nothing more.
    let out = console(&db, "", &[]);
    let dms = lines_with(&out, "[#dm/user");
    assert_eq!(dms.len(), 300, "{out}");
    let mut who: Vec<&str> = dms
        .iter()
        .map(|l| l.trim_start_matches("[#dm/").split(' ').next().unwrap())
        .collect();
    who.sort_unstable();
    who.dedup();
    assert_eq!(who.len(), 300);
    // The DMs, the card (its text and its summary field), the responsible role, the FYI.
    assert_eq!(lines_with(&out, "Payslips unavailable").len(), 300 + 4, "{out}");
    let out = console(&db, "", &[]);
    assert!(!out.contains("Payslips"), "nothing is delivered twice: {out}");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );
}
