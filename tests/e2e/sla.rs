//! SLA clocks and escalation through the real `opsdesk console`: what each role
//! reads in which channel, and what the database holds afterwards.

use crate::util::{console, lines_with, run_with_input, scalar, text, TestDb};

/// The one line containing `needle`; fails (showing the transcript) unless exactly one does.
fn one<'a>(out: &'a str, needle: &str) -> &'a str {
    let found = lines_with(out, needle);
    assert_eq!(found.len(), 1, "expected one line with {needle:?} in:\n{out}");
    found[0]
}

#[tokio::test]
async fn a_p1_warns_at_half_and_three_quarters_then_breaches_once_each_to_the_routed_channels() {
    let db = TestDb::new();
    // Each step overshoots its threshold by 30s, so no notice counts as late.
    let script = "\
:as alice
!incident Mail is down impact=high urgency=high service=email
:clock +8m
:clock +3m45s
:clock +3m45s
:as sam Service Desk
!take INC-1
:clock +1h45m
:clock +1h
:clock +1h
:clock +1d
!show INC-1
";
    let out = console(&db, script, &[]);

    // Response clock (15m), nobody assigned yet: 50 % goes to the tier holding it.
    // The incident manager (the row's Accountable) is told, unpinged.
    let r50s = lines_with(&out, "has used 50% of its 15m response target");
    assert_eq!(r50s.len(), 2, "{out}");
    let r50 = r50s[0];
    assert!(
        r50.starts_with("[#service-desk #") && r50.contains("] @Service Desk ⚠️ SLA warning: INC-1 (P1)"),
        "{r50}"
    );
    assert!(
        r50s[1].starts_with("[#incident-management #") && r50s[1].contains("] ⚠️ SLA warning"),
        "{}",
        r50s[1]
    );
    // 75 %: the tier and the incident manager (the sla_warning row's R and A).
    let r75 = lines_with(&out, "has used 75% of its 15m response target");
    assert_eq!(r75.len(), 2, "{out}");
    assert!(
        r75[0].starts_with("[#service-desk #") && r75[0].contains("] @Service Desk ⚠️"),
        "{}",
        r75[0]
    );
    assert!(
        r75[1].starts_with("[#incident-management #") && r75[1].contains("] @Incident Manager ⚠️"),
        "{}",
        r75[1]
    );
    // Breach: the incident manager is pinged (hierarchical escalation); the service
    // level manager works in the same channel and reads the same message.
    let rb = one(&out, "missed its 15m response target");
    assert!(
        rb.starts_with("[#incident-management #") && rb.contains("] @Incident Manager 🚨 SLA breached: INC-1 (P1)"),
        "{rb}"
    );
    assert!(rb.contains("escalated to Incident Manager"), "{rb}");

    // Resolution clock (4h), assigned to sam: 50 % pings sam in the incident's thread.
    // The tier (Responsible) and the incident manager (Accountable) are told, unpinged.
    let s50s = lines_with(&out, "has used 50% of its 4h resolution target");
    assert_eq!(s50s.len(), 3, "{out}");
    assert!(
        s50s[0].starts_with("[#service-desk #") && s50s[0].contains("] ⚠️ SLA warning"),
        "{}",
        s50s[0]
    );
    assert!(
        s50s[1].starts_with("[#incident-management #") && s50s[1].contains("] ⚠️ SLA warning"),
        "{}",
        s50s[1]
    );
    let s50 = s50s[2];
    assert!(
        s50.starts_with("[#service-desk/INC-1 #") && s50.contains("] @sam ⚠️ SLA warning"),
        "{s50}"
    );
    let s75 = lines_with(&out, "has used 75% of its 4h resolution target");
    assert_eq!(s75.len(), 2, "{out}");
    assert!(
        s75[0].starts_with("[#service-desk #") && s75[0].contains("@Service Desk"),
        "{}",
        s75[0]
    );
    assert!(
        s75[1].starts_with("[#incident-management #") && s75[1].contains("@Incident Manager"),
        "{}",
        s75[1]
    );
    let sb = one(&out, "missed its 4h resolution target");
    assert!(
        sb.starts_with("[#incident-management #") && sb.contains("@Incident Manager"),
        "{sb}"
    );

    // The card shows the nearest deadline: to respond, then (once taken) to resolve.
    let times = lines_with(&out, "┃ Opened: ");
    assert!(times[0].contains(" · Respond by: "), "{}", times[0]);
    assert!(
        times
            .iter()
            .any(|l| l.contains(" · Resolve by: ") && !l.contains("Respond by")),
        "{out}"
    );

    // Exactly these notices, once each, in order, none of them late.
    assert_eq!(lines_with(&out, "SLA warning").len(), 9, "{out}");
    assert_eq!(lines_with(&out, "🚨 SLA breached").len(), 2, "{out}");
    assert!(!out.contains("(late:"), "{out}");
    let order: Vec<usize> = [r50, r75[0], rb, s50, s75[0], sb]
        .iter()
        .map(|l| out.find(l).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");

    // !show reports both clocks.
    assert!(out.contains("SLA (P1, 24×7):"), "{out}");
    // (Real time runs on under the script, so the last seconds may differ by one.)
    let response = one(&out, "• Response: target 15m · elapsed 15m 3");
    assert!(
        response.contains(" · acknowledged ") && response.contains(" · breached by 3"),
        "{response}"
    );
    let resolution = one(&out, "• Resolution: target 4h · elapsed 1d 4h ");
    assert!(resolution.contains(" · running · breached by 1d "), "{resolution}");
    assert!(
        out.contains("Escalation: tier 1 of 3 · escalated up to Incident Manager"),
        "{out}"
    );

    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM clock_thresholds").await, 6);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM clock_thresholds WHERE late_ms IS NOT NULL").await,
        0
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'sla_warning'").await,
        4
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'sla_breach'").await,
        2
    );
    assert_eq!(
        scalar(&db, "SELECT level FROM incident_escalation WHERE incident_id = 1").await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM timers WHERE kind = 'sla' AND fired_at IS NULL AND cancelled = 0"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );
}

#[tokio::test]
async fn thresholds_missed_while_the_bot_was_stopped_fire_once_in_order_after_a_restart() {
    let db = TestDb::new();
    let out = console(
        &db,
        ":as alice\n!incident VPN down for everyone impact=high urgency=high service=vpn\n:as sam Service Desk\n!ack INC-1\n",
        &[],
    );
    assert!(out.contains("INC-1 acknowledged after "), "{out}");
    assert!(out.contains("within the 15m response target."), "{out}");
    assert!(!out.contains("SLA warning"), "{out}");

    // Stopped for 3h10m: past 50 % (2h) and 75 % (3h) of the 4h resolution target.
    let out = console(&db, ":clock +3h10m\n", &[]);
    // Each warning reaches the tier and, told, the incident manager (Accountable).
    let w50s = lines_with(&out, "has used 50% of its 4h resolution target");
    assert_eq!(w50s.len(), 2, "{out}");
    assert!(w50s[1].starts_with("[#incident-management #"), "{}", w50s[1]);
    let w50 = w50s[0];
    let w75 = lines_with(&out, "has used 75% of its 4h resolution target");
    assert_eq!(w75.len(), 2, "{out}");
    assert!(out.find(w50).unwrap() < out.find(w75[0]).unwrap(), "in order: {out}");
    assert!(w50.contains("(late: this fell due 1h 10m"), "{w50}");
    assert!(w75.iter().all(|l| l.contains("(late: this fell due 10m")), "{out}");
    assert!(!out.contains("SLA breached"), "{out}");

    // Started again at the same moment: nothing fires twice.
    let out = console(&db, ":clock +3h10m\n", &[]);
    assert!(!out.contains("SLA"), "{out}");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM clock_thresholds").await, 2);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM clock_thresholds WHERE late_ms IS NOT NULL").await,
        2
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'sla_warning'").await,
        2
    );
}

#[tokio::test]
async fn escalation_walks_the_tiers_then_climbs_to_the_owner_and_major_pings_the_configured_roles() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Mail is down impact=high urgency=high service=email
:as sam Service Desk
!take INC-1
!escalate INC-1 mailbox store corrupt
!escalate INC-1 needs the network team
!escalate INC-1 please
!escalate INC-1 up still down after an hour
!escalate INC-1 up
!escalate INC-1 up again
!major INC-1 whole company without mail
!major INC-1
!major INC-1 off contained to one site
";
    let out = console(&db, script, &[]);

    // Functional: the card follows the work. It is posted anew in the new
    // tier's channel, pinging the tier; the thread and the accountable
    // incident manager hear of it; the old card points to the new one, and
    // its channel (the informed service desk's) gets no FYI beside it.
    let to_ss = lines_with(&out, "escalated INC-1 (P1) from Service Desk to Systems Support (tier 2 of 3): Mail is down. Reason: mailbox store corrupt.");
    assert_eq!(
        to_ss.len(),
        3,
        "the card in the new tier's channel, the thread, the incident manager: {out}"
    );
    assert!(
        to_ss[0].starts_with("[#systems-support #") && to_ss[0].contains("] @Systems Support ⬆️"),
        "{}",
        to_ss[0]
    );
    assert!(to_ss[1].starts_with("[#service-desk/INC-1 #"), "{}", to_ss[1]);
    assert!(
        to_ss[2].starts_with("[#incident-management #") && !to_ss[2].contains('@'),
        "{}",
        to_ss[2]
    );
    assert!(
        out.contains(
            "\nUpdates and replies stay in the incident's thread: #service-desk/INC-1\n  ┃ INC-1 · Mail is down"
        ),
        "the moved card says where the thread is: {out}"
    );
    assert!(
        out.contains("[#service-desk #3 edited] ⬆️ Escalated to Systems Support — see #systems-support. INC-1 (P1): Mail is down"),
        "{out}"
    );
    let moved_to_ss = to_ss[0]["[#systems-support #".len()..].split(']').next().unwrap();
    // The next tier shares #incident-management with the incident manager: one card there, no FYI.
    let to_no = lines_with(&out, "escalated INC-1 (P1) from Systems Support to Network Operations (tier 3 of 3): Mail is down. Reason: needs the network team.");
    assert_eq!(to_no.len(), 3, "{out}");
    assert!(
        to_no[0].starts_with("[#incident-management #") && to_no[0].contains("] @Network Operations ⬆️"),
        "{}",
        to_no[0]
    );
    assert!(to_no[1].starts_with("[#service-desk/INC-1 #"), "{}", to_no[1]);
    assert!(
        to_no[2].starts_with("[#service-desk #") && !to_no[2].contains('@'),
        "the informed service desk no longer holds the card: {}",
        to_no[2]
    );
    assert!(
        out.contains(&format!("[#systems-support #{moved_to_ss} edited] ⬆️ Escalated to Network Operations — see #incident-management. INC-1 (P1): Mail is down")),
        "{out}"
    );
    assert!(
        out.contains("INC-1 escalated to Systems Support (#systems-support), tier 2 of 3."),
        "{out}"
    );
    assert!(
        out.contains("INC-1 escalated to Network Operations (#incident-management), tier 3 of 3."),
        "{out}"
    );
    assert!(
        out.contains("(only sam)] INC-1 is already with Network Operations (#incident-management), the last support tier for Email. To escalate further, use `!escalate INC-1 up [reason]`"),
        "{out}"
    );
    // Later edits go to the card where it is now.
    let moved_to_no = to_no[0]["[#incident-management #".len()..].split(']').next().unwrap();
    assert!(
        out.contains(&format!(
            "[#incident-management #{moved_to_no} edited] Incident INC-1 (P1) for Network Operations"
        )),
        "{out}"
    );
    assert!(
        lines_with(&out, "[#service-desk #3 edited] Incident INC-1")
            .iter()
            .all(|l| l.contains(" for Service Desk: ")),
        "the old post is not edited as a card after the move: {out}"
    );
    assert_eq!(
        text(&db, "SELECT previous_message_id FROM cards WHERE subject = 'INC-1'").await,
        moved_to_ss
    );

    // Hierarchical: the incident manager, then the service owner; informs, does not reassign.
    let im = lines_with(&out, "⏫ sam escalated INC-1 (P1) to Incident Manager");
    assert_eq!(im.len(), 2, "{out}");
    assert!(im[0].starts_with("[#service-desk/INC-1 #"), "{}", im[0]);
    assert!(
        lines_with(
            &out,
            "@Incident Manager ⏫ sam escalated INC-1 (P1) to Incident Manager"
        )
        .len()
            == 1,
        "{out}"
    );
    assert!(
        out.contains("INC-1 escalated to Incident Manager (#incident-management); it stays with Network Operations."),
        "{out}"
    );
    assert_eq!(
        lines_with(
            &out,
            "@Email Service Owner ⏫ sam escalated INC-1 (P1) to Email Service Owner"
        )
        .len(),
        1,
        "{out}"
    );
    assert!(
        out.contains("(only sam)] INC-1 is already escalated to Email Service Owner (#incident-management), the top of the escalation ladder."),
        "{out}"
    );

    // Major: the incident manager, the service owner and the informed roles are pinged.
    let major = lines_with(&out, "🚨 MAJOR INCIDENT: sam declared INC-1 (P1) a major incident");
    assert_eq!(major.len(), 4, "{out}");
    assert!(
        major.iter().any(|l| l.starts_with("[#incident-management #")
            && l.contains("@Incident Manager")
            && l.contains("@Email Service Owner")
            && l.contains("@Service Level Manager")),
        "{out}"
    );
    assert!(
        major
            .iter()
            .any(|l| l.starts_with("[#service-desk #") && l.contains("@Service Desk")),
        "{out}"
    );
    assert!(
        major
            .iter()
            .any(|l| l.starts_with("[#problem-management #") && !l.contains('@')),
        "consulted, told: {out}"
    );
    assert!(out.contains("(only sam)] INC-1 is already a major incident."), "{out}");
    assert!(out.contains("INC-1 is no longer a major incident."), "{out}");
    assert_eq!(
        lines_with(
            &out,
            "sam reverted INC-1 to an ordinary P1 incident: Mail is down. Reason: contained to one site."
        )
        .len(),
        4,
        "{out}"
    );

    assert_eq!(
        text(&db, "SELECT handler_role FROM incidents WHERE id = 1").await,
        "network_operations"
    );
    assert_eq!(scalar(&db, "SELECT tier FROM incidents WHERE id = 1").await, 2);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE id = 1 AND assignee IS NULL").await,
        1
    );
    assert_eq!(
        scalar(&db, "SELECT level FROM incident_escalation WHERE incident_id = 1").await,
        2
    );
    assert_eq!(
        scalar(&db, "SELECT major FROM incident_escalation WHERE incident_id = 1").await,
        0
    );
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT action, details FROM audit WHERE subject = 'INC-1' AND action NOT IN ('log_incident', 'assign_incident') ORDER BY id")
            .fetch_all(&mut db.conn().await)
            .await
            .unwrap();
    let actions: Vec<(&str, &str)> = actions.iter().map(|(a, d)| (a.as_str(), d.as_str())).collect();
    assert_eq!(
        actions,
        [
            (
                "escalate_functional",
                "escalated it to Systems Support (tier 2 of 3, from Service Desk): mailbox store corrupt"
            ),
            (
                "escalate_functional",
                "escalated it to Network Operations (tier 3 of 3, from Systems Support): needs the network team"
            ),
            (
                "escalate_hierarchical",
                "escalated it up to Incident Manager: still down after an hour"
            ),
            ("escalate_hierarchical", "escalated it up to Email Service Owner"),
            (
                "major_incident",
                "declared it a major incident: whole company without mail"
            ),
            (
                "major_incident_off",
                "reverted it to an ordinary incident: contained to one site"
            ),
        ]
    );
}

#[tokio::test]
async fn bad_escalation_input_gets_clear_replies_and_changes_nothing() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Printer jam
!incident Old ticket
:as sam Service Desk
!take INC-2
!status INC-2 in_progress
!resolve INC-2 cleared
!close INC-2
:as alice
!ack INC-1
!major INC-1
!escalate INC-1 up nobody has looked at it
:as bob
!escalate INC-1
:as sam Service Desk
!escalate INC-9
!ack INC-9
!escalate INC-2
!major INC-2
!ack INC-2
!ack INC-1
!ack INC-1
!major INC-1 off
!escalate INC-1 up x
!major INC-1
!major INC-1 off
";
    let out = console(&db, script, &[]);
    let expected = [
        "(only alice)] Only agents (service desk, support groups, incident manager) may run `!ack`.",
        "(only alice)] Only agents (service desk, support groups, incident manager) may run `!major`.",
        "I've asked Service Desk (#service-desk) to consider escalating INC-1; they decide whether it goes further.",
        "(only bob)] INC-1 is not yours: only its reporter, its assignee, its assignment group, its service's owner and agents may see or change it.",
        "(only sam)] INC-9 does not exist.",
        "(only sam)] INC-2 is closed: only open incidents can be escalated.",
        "(only sam)] INC-2 is closed: only open incidents can be declared major.",
        "(only sam)] INC-2 is closed: only open incidents can be acknowledged.",
        "within the 4 business hours response target.",
        "(only sam)] INC-1 was already acknowledged at ",
        "(only sam)] INC-1 is not a major incident.",
        "(only sam)] Say why INC-1 is no longer major: `!major INC-1 off <reason>`.",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    assert_eq!(lines_with(&out, "INC-9 does not exist.").len(), 2, "{out}");
    // The reporter's request reaches the current tier only.
    let request = one(&out, "who reported INC-1 (P3), asks for it to be escalated");
    assert!(
        request.starts_with("[#service-desk #") && request.contains("] @Service Desk alice, who reported"),
        "{request}"
    );
    assert!(request.contains("Reason: nobody has looked at it."), "{request}");

    // Nothing was escalated or reassigned by the refusals.
    assert_eq!(
        text(&db, "SELECT handler_role FROM incidents WHERE id = 1").await,
        "service_desk"
    );
    assert_eq!(scalar(&db, "SELECT tier FROM incidents WHERE id = 1").await, 0);
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 2").await, "closed");
    assert_eq!(
        scalar(&db, "SELECT major FROM incident_escalation WHERE incident_id = 1").await,
        1
    );
    let actions: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit WHERE subject = 'INC-1' ORDER BY id")
        .fetch_all(&mut db.conn().await)
        .await
        .unwrap();
    let actions: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "log_incident",
            "escalation_request",
            "acknowledge",
            "escalate_hierarchical",
            "major_incident"
        ]
    );
}

#[tokio::test]
async fn the_escalate_reaction_works_for_agents_on_the_card_and_in_the_thread_and_is_removed_for_others() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Mail is down service=email
:as bob
:react 3 ⬆️
:as sam Service Desk
:react 3 ⬆️
:in #service-desk/INC-1
:react 4 ⬆️
:react 4 ⬆️
";
    let out = console(&db, script, &[]);
    assert!(
        out.contains("[#service-desk #3] @Service Desk New incident INC-1"),
        "{out}"
    );
    assert!(
        out.contains("(only bob)] [reaction removed] Only agents may escalate incidents with ⬆️; your reaction was removed. To ask for escalation, use `!escalate INC-1 <why>`."),
        "{out}"
    );
    assert!(
        out.contains("INC-1 escalated to Systems Support (#systems-support), tier 2 of 3."),
        "{out}"
    );
    assert!(
        out.contains("INC-1 escalated to Network Operations (#incident-management), tier 3 of 3."),
        "{out}"
    );
    assert!(
        out.contains("(only sam)] [reaction removed] INC-1 is already with Network Operations (#incident-management), the last support tier for Email."),
        "{out}"
    );
    assert_eq!(scalar(&db, "SELECT tier FROM incidents WHERE id = 1").await, 2);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'escalate_functional'").await,
        2
    );
}

#[test]
fn a_duration_that_does_not_parse_is_named_at_start_up() {
    let db = TestDb::new();
    let bad = db.dir.path().join("bad.toml");
    std::fs::write(&bad, "[sla.targets.p1]\nrespond = \"15 minutes\"\n").unwrap();
    let bad = bad.display().to_string();
    for args in [
        vec!["--config", bad.as_str(), "check-config"],
        vec!["--config", bad.as_str(), "console"],
    ] {
        let out = run_with_input(&args, db.dir.path(), "");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("sla.targets.p1.respond: \"15 minutes\" is not a duration"),
            "{err}"
        );
    }
}
