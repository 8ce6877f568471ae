//! The real `opsdesk console` driven by piped scripts: what a user would read,
//! and what the database file holds afterwards.

use crate::util::{console, id_of_last, lines_with, opsdesk, run_with_input, scalar, text, TestDb};

#[tokio::test]
async fn an_incident_goes_through_its_whole_lifecycle_in_the_console() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Mail is down @everyone <@&42> impact=high urgency=high service=email
:as sam Service Desk
!take INC-1
!close INC-1
!status INC-1 in_progress
!note INC-1 restarting the MTA
!resolve INC-1 restarted the MTA
:as alice
!reopen INC-1 still bouncing
:as sam Service Desk
!resolve INC-1 fixed the DNS record
:as alice
!close INC-1
!reopen INC-1
";
    let out = console(&db, script, &[]);

    // Logged with priority and handler; the card pings the responsible role and shows (not fires) user mentions.
    assert!(
        out.contains("INC-1 logged: P1 (impact high × urgency high). Handled by Service Desk (#service-desk)."),
        "{out}"
    );
    let card = lines_with(&out, "@Service Desk New incident INC-1 (P1)");
    assert_eq!(card.len(), 1, "{out}");
    assert!(card[0].starts_with("[#service-desk #"), "{}", card[0]);
    assert!(
        card[0].contains("Mail is down @\u{200B}everyone <\u{200B}@\u{200B}&42>"),
        "{}",
        card[0]
    );
    // The reporter is mentioned in the incident's thread.
    assert_eq!(
        lines_with(&out, "[#service-desk/INC-1 #")
            .iter()
            .filter(|l| l.contains("@alice alice, thanks for reporting INC-1"))
            .count(),
        1,
        "{out}"
    );

    assert!(out.contains("INC-1 is assigned to sam (assigned)."), "{out}");
    assert!(
        out.contains(
            "INC-1 is assigned: resolve it with `!resolve INC-1 <resolution>` first, then close it with `!close INC-1`."
        ),
        "{out}"
    );
    assert!(out.contains("sam moved INC-1 from assigned to in progress."), "{out}");
    assert!(out.contains("Note on INC-1 by sam: restarting the MTA"), "{out}");
    assert!(
        out.contains("@alice alice: INC-1 was resolved by sam: restarted the MTA"),
        "{out}"
    );
    // The reporter reopening it pings the one working it.
    assert!(
        out.contains("@sam alice (the reporter) reopened INC-1: still bouncing."),
        "{out}"
    );
    assert!(out.contains("INC-1 is now closed."), "{out}");
    assert!(out.contains("INC-1 is closed: nothing more changes it."), "{out}");
    // The card is edited in place, never posted twice.
    assert_eq!(lines_with(&out, "New incident INC-1").len(), 1);
    assert!(lines_with(&out, " edited] Incident INC-1").len() >= 5, "{out}");

    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "closed");
    assert_eq!(
        text(&db, "SELECT title FROM incidents WHERE id = 1").await,
        "Mail is down @everyone <@&42>"
    );
    assert_eq!(
        text(&db, "SELECT resolution FROM incidents WHERE id = 1").await,
        "fixed the DNS record"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incident_notes WHERE incident_id = 1").await,
        1
    );
    // One audit row per change: log, take, in_progress, note, resolve, reopen, resolve, close.
    let actions: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit WHERE subject = 'INC-1' ORDER BY id")
        .fetch_all(&mut db.conn().await)
        .await
        .unwrap();
    let actions: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "log_incident",
            "assign_incident",
            "update_incident",
            "update_incident",
            "resolve_incident",
            "reopen_incident",
            "resolve_incident",
            "close_incident"
        ]
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );
}

#[tokio::test]
async fn refusals_and_bad_input_get_clear_replies_and_change_nothing() {
    let db = TestDb::new();
    let long = "x".repeat(201);
    let script = format!(
        "\
:as alice
!incident Printer on fire
:as bob
!show INC-1
!take INC-1
!note INC-1 me too
!close INC-1
!incidnet broken
!incident {long}
!incident VPN down service=vpm
!incident x impact=huge
!show INC-99
!assign INC-1 @nobody
!status INC-1
!raci make_coffee
!whois wizard
:as sam Service Desk
!assign INC-1 @nobody
!status INC-1 on_hold awaiting_caller
!incidents P9
"
    );
    let out = console(&db, &script, &[]);
    let expected = [
        "(only bob)] INC-1 is not yours: only its reporter, its assignee, its assignment group, its service's owner and agents may see or change it.",
        "(only bob)] Only agents (service desk, support groups, incident manager) may run `!take`.",
        "(only bob)] I don't know `!incidnet`. Did you mean `!incident`? Try `!help`.",
        "(only bob)] Title is 201 characters; the limit is 200.",
        "(only bob)] `vpm` is not a service. Did you mean `vpn`? Services: email, payroll, vpn.",
        "(only bob)] Impact must be high, medium or low, not `huge`. Usage: `!incident <title>",
        "(only bob)] Missing <state>. Usage: `!status INC-<n> <in_progress|on_hold|resolved|closed> [reason]",
        "(only bob)] `make_coffee` is not an action in the RACI matrix.",
        "(only bob)] `wizard` is not an ITIL role here.",
        "(only sam)] I don't know `nobody` yet: mention them, or have them say something first.",
        "(only sam)] INC-1 is new: take it with `!take INC-1` first, then put it on hold with `!status INC-1 on_hold awaiting_caller <why>`.",
        "(only sam)] `P9` is not a filter (nearest: `P1`). Usage: `!incidents [open|resolved|closed|cancelled|all] [unassigned]",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    // bob's INC-99 lookup as a non-agent still says it does not exist.
    assert!(out.contains("INC-99 does not exist."), "{out}");
    // Only alice's incident exists, untouched.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 1);
    assert_eq!(text(&db, "SELECT state FROM incidents").await, "new");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incident_notes").await, 0);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit").await, 1);
}

#[tokio::test]
async fn help_lists_only_what_the_caller_may_run() {
    let db = TestDb::new();
    let out = console(&db, ":as alice\n!help\n:as sam Service Desk\n!help\n!help inc\n", &[]);
    let (user, agent) = out.split_once("» :as sam").expect("two parts");
    assert!(
        user.contains("`!incident` — Report an incident") && !user.contains("`!take`"),
        "{user}"
    );
    assert!(
        agent.contains("`!take` — Claim") && agent.contains("`!assign` — Assign"),
        "{agent}"
    );
    // `!help <command>` gives the usage line.
    assert!(agent.contains("`!incident <title> [impact=high|medium|low]"), "{agent}");
    assert!(agent.contains("Also: `!inc`"), "{agent}");
}

#[tokio::test]
async fn security_incidents_route_to_the_security_manager_and_reactions_log_and_claim() {
    let db = TestDb::new();
    let script = "\
:as alice
my laptop shows a ransom note
!incident phishing mail category=security
:as sam Service Desk
:react 1 🎫
:react 1 🎫
:as bob
:react 8 ✋
:as sam Service Desk
:react 8 ✋
";
    let out = console(&db, script, &[]);
    assert!(
        out.contains("INC-1 logged: P3 (impact medium × urgency medium). Handled by IT Security Manager (#security)."),
        "{out}"
    );
    assert_eq!(
        lines_with(&out, "[#security #")
            .iter()
            .filter(|l| l.contains("@IT Security Manager New incident INC-1"))
            .count(),
        1,
        "{out}"
    );
    // 🎫 on alice's chat line logs it with alice as reporter, once.
    assert!(out.contains("INC-2 logged"), "{out}");
    assert!(out.contains("That message is already logged as INC-2."), "{out}");
    assert_eq!(
        text(&db, "SELECT title FROM incidents WHERE id = 2").await,
        "my laptop shows a ransom note"
    );
    let card_id: String = text(&db, "SELECT message_id FROM cards WHERE subject = 'INC-2'").await;
    assert_eq!(card_id, "8", "the script reacts to message #8: {out}");
    // ✋ by a non-agent is removed and explained; by an agent it claims.
    assert!(
        out.contains("(only bob)] [reaction removed] Only agents may claim incidents with ✋"),
        "{out}"
    );
    assert!(out.contains("INC-2 is assigned to sam (assigned)."), "{out}");
    let reporter: i64 = scalar(&db, "SELECT reporter FROM incidents WHERE id = 2").await;
    let alice: i64 = scalar(&db, "SELECT id FROM users WHERE display_name = 'alice'").await;
    assert_eq!(reporter, alice);
}

#[tokio::test]
async fn messages_committed_while_delivery_is_held_are_delivered_once_after_restart() {
    let db = TestDb::new();
    let out = console(
        &db,
        ":as alice\n!incident Payroll export fails service=payroll\n",
        &["--hold-outbox"],
    );
    assert!(out.contains("INC-1 logged"), "{out}");
    assert!(!out.contains("New incident INC-1"), "held: {out}");
    // The card, the thread's welcome, and the accountable incident manager told.
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        3
    );

    let out = console(&db, "", &[]);
    assert_eq!(lines_with(&out, "New incident INC-1").len(), 1, "{out}");
    assert_eq!(lines_with(&out, "thanks for reporting INC-1").len(), 1, "{out}");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );

    let out = console(&db, "", &[]);
    assert!(!out.contains("INC-1"), "nothing is delivered twice: {out}");
    // Message ids continue after a restart instead of starting over.
    let out = console(&db, ":as alice\n!incident second\n", &[]);
    let card = lines_with(&out, "New incident INC-2");
    assert_eq!(card.len(), 1);
    assert!(!card[0].starts_with("[#service-desk #1]"), "{out}");
}

#[test]
fn check_config_names_the_bad_key_and_start_up_refuses_it() {
    let db = TestDb::new();
    let bad = db.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[raci.cab_vote]\nresponsible = \"chnage_manager\"\naccountable = \"change_manager\"\n",
    )
    .unwrap();
    let bad = bad.display().to_string();
    for args in [
        vec!["--config", bad.as_str(), "check-config"],
        vec!["--config", bad.as_str(), "console"],
    ] {
        let out = run_with_input(&args, db.dir.path(), "");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("raci.cab_vote.responsible: unknown role `chnage_manager` (did you mean `change_manager`?)"),
            "{err}"
        );
    }
    let out = opsdesk()
        .args(["check-config"])
        .current_dir(db.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config ok:"));
}

#[test]
fn without_a_token_run_explains_and_the_default_starts_the_console() {
    let db = TestDb::new();
    let out = run_with_input(&["run"], db.dir.path(), "");
    // EX_CONFIG: a missing token is the configuration's problem.
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DISCORD_TOKEN is not set") && err.contains("opsdesk console"),
        "{err}"
    );

    let out = run_with_input(&[], db.dir.path(), "!incident hello\n");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("local console on sqlite://opsdesk.db") && err.contains("no DISCORD_TOKEN"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("INC-1 logged"));
    assert!(
        db.dir.path().join("opsdesk.db").exists(),
        "the default database is created in the working directory"
    );
}

#[tokio::test]
async fn the_reporter_answers_the_satisfaction_question_by_reaction_or_the_incident_closes_itself() {
    let db = TestDb::new();
    let out = console(
        &db,
        ":as alice\n!incident VPN drops every hour service=vpn\n:as sam Service Desk\n!take INC-1\n!status INC-1 in_progress\n!resolve INC-1 renewed the lease\n",
        &[],
    );
    // The question is the resolve notice in the thread (its first line carries the id).
    let first = id_of_last(&out, "INC-1 was resolved by sam");
    assert!(
        lines_with(&out, "INC-1 was resolved by sam")[0].contains("@alice alice: INC-1 was resolved by sam"),
        "{out}"
    );
    assert!(
        out.contains("Is it fixed? React 👍 if it is (it closes) or 👎 if not (it reopens)"),
        "{out}"
    );
    assert!(out.contains("+ reactions: 👍 👎"), "{out}");

    let out = console(
        &db,
        &format!(":as bob\n:react {first} 👍\n:as alice\n:react {first} 👎\n:as sam Service Desk\n!resolve INC-1 replaced the router\n"),
        &[],
    );
    assert!(
        out.contains("(only bob)] [reaction removed] Only the reporter of INC-1 answers"),
        "{out}"
    );
    assert!(
        out.contains("Sorry it is not fixed: INC-1 is reopened and back with Service Desk."),
        "{out}"
    );
    let second = id_of_last(&out, "INC-1 was resolved by sam: replaced the router");
    assert_ne!(first, second);

    let out = console(&db, &format!(":as alice\n:react {second} 👍\n:react {first} 👍\n"), &[]);
    assert!(out.contains("Thanks! INC-1 is closed."), "{out}");
    // A reaction on the question already answered changes nothing and says nothing.
    assert!(out.trim_end().ends_with(&format!("» :react {first} 👍")), "{out}");
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "closed");
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit WHERE subject = 'INC-1' AND action = 'close_incident'"
        )
        .await,
        1
    );
    let answers: Vec<(Option<String>,)> = sqlx::query_as("SELECT answer FROM surveys ORDER BY id")
        .fetch_all(&mut db.conn().await)
        .await
        .unwrap();
    assert_eq!(answers, vec![(Some("not_fixed".into()),), (Some("fixed".into()),)]);

    // Unanswered: it closes by itself after the timeout (3 days), once, even across restarts.
    let out = console(
        &db,
        ":as alice\n!incident printer jam\n:as sam Service Desk\n!take INC-2\n!status INC-2 in_progress\n!resolve INC-2 cleared the jam\n",
        &[],
    );
    assert!(out.contains("with no answer it closes in 3d"), "{out}");
    let out = console(&db, ":clock +2d\n", &[]);
    assert!(!out.contains("INC-2 from resolved to closed"), "{out}");
    let out = console(&db, ":clock +3d\n", &[]);
    let closed = "opsdesk moved INC-2 from resolved to closed: no answer to the satisfaction question within 3d.";
    assert_eq!(lines_with(&out, closed).len(), 1, "{out}");
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 2").await, "closed");
    let by_system =
        "SELECT COUNT(*) FROM audit WHERE subject = 'INC-2' AND action = 'close_incident' AND actor IS NULL";
    assert_eq!(scalar(&db, by_system).await, 1);
    let out = console(&db, ":clock +5d\n", &[]);
    assert!(!out.contains("INC-2"), "{out}");
}

#[tokio::test]
async fn closing_one_incident_by_hand_leaves_the_question_on_another_whose_id_starts_alike() {
    let db = TestDb::new();
    let mut script = String::from(":as alice\n");
    for n in 1..=10 {
        script.push_str(&format!("!incident broken thing {n}\n"));
    }
    script.push_str(":as sam Service Desk\n");
    for n in [10, 1] {
        script.push_str(&format!(
            "!take INC-{n}\n!status INC-{n} in_progress\n!resolve INC-{n} fixed it\n"
        ));
    }
    script.push_str("!close INC-1\n");
    console(&db, &script, &[]);
    let pending = "SELECT COUNT(*) FROM timers WHERE kind = 'survey' AND key = 'INC-10' AND cancelled = 0";
    assert_eq!(scalar(&db, pending).await, 1);
    let out = console(&db, ":clock +3d\n", &[]);
    assert!(
        out.contains("opsdesk moved INC-10 from resolved to closed: no answer to the satisfaction question"),
        "{out}"
    );
}
