//! Problem management through the real `opsdesk console`: problem records
//! linked to incidents, the workaround reaching their threads, the
//! known-error database matching new incidents, the fix through change
//! resolving the problem and its incidents, the prompts to the problem
//! manager, and bad input leaving everything as it was.

use crate::util::{console, lines_with, scalar, text, TestDb};

/// Two email incidents, one taken by sam, and a problem opened from both.
const OPENED: &str = "\
:as erin
!incident Outlook crashes when opening attachments service=email
:as frank
!incident Outlook crash on PDF attachment service=email
:as sam Service Desk
!take INC-1
!status INC-1 in_progress
:as pia Problem Manager
!problem Outlook crashes on attachments from=INC-1,INC-2
";

#[tokio::test]
async fn a_problem_becomes_a_known_error_whose_workaround_reaches_its_incidents_and_matches_new_ones() {
    let db = TestDb::new();
    let script = format!(
        "{OPENED}\
!problem assess PRB-1
!problem rootcause PRB-1 The PDF preview add-in crashes on large files
!problem workaround PRB-1 Open attachments in webmail
:as sam Service Desk
!show INC-1
:as gus
!incident Outlook crashes opening attachments again service=email
!incident Outlook crashes opening attachments service=vpn
!incident VPN drops every hour service=email
:as pia Problem Manager
!show PRB-1
!problems known
!problems service=vpn
!kedb service=email webmail
!kedb crash
!history PRB-1
"
    );
    let out = console(&db, &script, &[]);

    // Logged from the incidents: the card in the problem manager's channel, pinging the role.
    assert!(
        out.contains("PRB-1 «Outlook crashes on attachments» logged · Email. Linked: INC-1, INC-2. Next: `!problem assess PRB-1`."),
        "{out}"
    );
    let card = lines_with(&out, "[#problem-management #");
    assert!(
        card[0].contains("@Problem Manager 🧩 PRB-1 «Outlook crashes on attachments» · Email · new"),
        "{out}"
    );
    assert!(out.contains("[#service-desk/INC-1 #"), "{out}");
    assert_eq!(lines_with(&out, "🧩 Linked to problem PRB-1").len(), 2, "{out}");

    // Root cause, then workaround: a known error, and every open linked thread told, its worker pinged.
    assert!(
        out.contains("Root cause of PRB-1 recorded; it is root cause known."),
        "{out}"
    );
    assert!(
        out.contains("PRB-1 is a known error; the workaround is in the known-error database. Told in the threads of INC-1, INC-2."),
        "{out}"
    );
    let told = lines_with(&out, "🩹 Known error PRB-1");
    assert_eq!(told.len(), 2, "{out}");
    assert!(
        told[0].starts_with("[#service-desk/INC-1 #") && told[0].contains("@sam "),
        "{out}"
    );
    assert!(
        told[1].starts_with("[#service-desk/INC-2 #") && told[1].contains("@Service Desk "),
        "{out}"
    );
    assert!(told[0].ends_with("— workaround: Open attachments in webmail"), "{out}");

    // The incident shows its problem and workaround.
    assert!(
        out.contains("Problem: PRB-1 · known error — workaround: Open attachments in webmail"),
        "{out}"
    );

    // A new incident on the same service with matching words is told, and its card shows it;
    // another service, or words that do not match, are not.
    let suggested = lines_with(&out, "🔎 This looks like known error PRB-1");
    assert_eq!(suggested.len(), 2, "reply and thread of INC-3 only: {out}");
    assert!(suggested[1].starts_with("[#service-desk/INC-3 #"), "{out}");
    assert!(
        out.contains("Reporter: gus · Assignee: unassigned · SLA targets: respond within 4 business hours · resolve within 24 business hours (3 business days) · Looks like known error: PRB-1 · known error — workaround: Open attachments in webmail"),
        "the card of INC-3: {out}"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM problem_suggestions").await,
        1,
        "INC-4 (vpn) and INC-5 (no match) get no suggestion"
    );

    // !show PRB-n lists its incidents with their states; the lists and the KEDB find it.
    assert!(
        out.contains("• INC-1 · in progress · Outlook crashes when opening attachments"),
        "{out}"
    );
    assert!(out.contains("• INC-2 · new · Outlook crash on PDF attachment"), "{out}");
    assert!(
        out.contains("Root cause: The PDF preview add-in crashes on large files"),
        "{out}"
    );
    assert!(
        out.contains("**Problems (known error)** · 1\n• PRB-1 «Outlook crashes on attachments» · Email · known error · 2 incidents"),
        "{out}"
    );
    assert!(out.contains("No open problems."), "{out}");
    assert!(
        out.contains("**Known errors on Email matching \"webmail\"** · 1"),
        "{out}"
    );
    assert!(out.contains("**Known errors matching \"crash\"** · 1"), "{out}");
    assert!(
        out.contains(
            "pia made it a known error with the workaround: Open attachments in webmail (told 2 open incidents)"
        ),
        "{out}"
    );

    assert_eq!(
        text(&db, "SELECT state FROM problems WHERE id = 1").await,
        "known_error"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM problem_incidents WHERE problem_id = 1").await,
        2
    );
}

#[tokio::test]
async fn closing_the_fixing_change_resolves_the_problem_and_its_open_incidents_and_tells_everyone() {
    let db = TestDb::new();
    let script = format!(
        "{OPENED}\
!problem assess PRB-1
!problem workaround PRB-1 Open attachments in webmail
:as erin
!cancel INC-1 logged twice
:as carl Change Manager
!change Restart the mail relay service=email risk=low type=standard window=2030-06-01T22:00..2030-06-02T01:00 problem=PRB-1
!change status CHG-1 implementing
!change status CHG-1 review
!change status CHG-1 closed
:as pia Problem Manager
!show PRB-1
!problem close PRB-1
!problems all
"
    );
    let out = console(&db, &script, &[]);

    assert!(
        out.contains("It is raised to fix PRB-1 «Outlook crashes on attachments»: closing it resolves the problem."),
        "{out}"
    );
    assert!(
        out.contains("CHG-1 is now closed. PRB-1 resolved. Resolved with it: INC-2."),
        "{out}"
    );
    // The reporter of the open linked incident is told in its thread, with the fix.
    assert!(
        out.contains("@frank frank: INC-2 was resolved by carl: fixed by CHG-1 (PRB-1)"),
        "{out}"
    );
    // The problem manager is told, pinged.
    assert!(
        lines_with(&out, "[#problem-management #")
            .iter()
            .any(|l| l.contains("@Problem Manager ✅ CHG-1 closed: PRB-1 «Outlook crashes on attachments» · Email is resolved. Linked incidents resolved: INC-2.")),
        "{out}"
    );
    assert!(out.contains("Fix: CHG-1"), "{out}");
    assert!(out.contains("PRB-1 closed."), "{out}");

    assert_eq!(text(&db, "SELECT state FROM problems WHERE id = 1").await, "closed");
    assert_eq!(
        text(&db, "SELECT resolution FROM problems WHERE id = 1").await,
        "fixed by CHG-1 (PRB-1)"
    );
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "cancelled");
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 2").await, "resolved");
    assert_eq!(
        text(&db, "SELECT resolution FROM incidents WHERE id = 2").await,
        "fixed by CHG-1 (PRB-1)"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM problem_changes WHERE change_id = 1 AND problem_id = 1"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn with_resolve_linked_incidents_off_the_fix_tells_the_handlers_and_leaves_them_open() {
    let db = TestDb::new();
    let config = db.dir.path().join("problem.toml");
    std::fs::write(&config, "[problem]\nresolve_linked_incidents = false\n").expect("write config");
    let script = format!(
        "{OPENED}\
!problem assess PRB-1
!problem resolve PRB-1 Add-in updated on every desktop
"
    );
    let out = console(&db, &script, &["--config", config.to_str().expect("utf-8 path")]);
    assert!(
        out.contains("PRB-1 resolved. Their handlers were told: INC-1, INC-2."),
        "{out}"
    );
    let told = lines_with(&out, "is fixed (Add-in updated on every desktop): check that");
    assert_eq!(told.len(), 2, "{out}");
    assert!(
        told[0].contains("@sam") && told[0].contains("@erin"),
        "assignee and reporter: {out}"
    );
    assert_eq!(
        text(&db, "SELECT state FROM incidents WHERE id = 1").await,
        "in_progress"
    );
    assert_eq!(text(&db, "SELECT state FROM problems WHERE id = 1").await, "resolved");
}

#[tokio::test]
async fn bad_input_gets_a_clear_reply_and_changes_nothing() {
    let db = TestDb::new();
    let script = format!(
        "{OPENED}\
!problem VPN drops every hour service=vpn
!problem link PRB-2 INC-1
!problem workaround PRB-2 reconnect
!problem close PRB-1
!problem link PRB-9 INC-1
!problem link PRB-2 INC-99
!problem rootcause PRB-9 x
!show PRB-9
!problem Mail slow service=nosuch
!problem Mail slow from=INC-1
:as zoe
!problem Something broke
:as pia Problem Manager
!problem assess PRB-1
!problem resolve PRB-1 add-in fixed
!problem close PRB-1
!problem cancel PRB-2 not a defect
!problem link PRB-2 INC-2
"
    );
    let out = console(&db, &script, &[]);
    // An incident has one problem: linking it to a second is refused, naming the first.
    assert!(
        out.contains("INC-1 is already linked to PRB-1: an incident has one underlying problem"),
        "{out}"
    );
    assert!(
        out.contains("PRB-2 is new: `!problem assess PRB-2` first, then `!problem workaround PRB-2 <text>`."),
        "{out}"
    );
    assert!(
        out.contains(
            "PRB-1 is new and cannot become closed: `!problem assess PRB-1` or `!problem cancel PRB-1 <reason>`."
        ),
        "closing a new problem names the way: {out}"
    );
    assert_eq!(lines_with(&out, "PRB-9 does not exist.").len(), 3, "{out}");
    assert!(out.contains("INC-99"), "{out}");
    assert!(out.contains("nosuch"), "{out}");
    assert!(
        out.contains("(only zoe)] Only Problem Manager and agents may run `!problem`."),
        "{out}"
    );
    // After resolving by hand (its incidents resolved with it), it closes.
    assert!(out.contains("PRB-1 resolved. Resolved with it: INC-1, INC-2."), "{out}");
    assert!(out.contains("PRB-1 closed."), "{out}");
    assert!(
        out.contains("PRB-2 is cancelled: incidents are linked to problems still being worked."),
        "{out}"
    );

    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM problems").await,
        2,
        "refused logs wrote nothing"
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM problem_incidents").await, 2);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM problem_incidents WHERE problem_id = 2").await,
        0
    );
    assert_eq!(text(&db, "SELECT state FROM problems WHERE id = 2").await, "cancelled");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE subject = 'PRB-2'").await,
        2,
        "logged and cancelled only"
    );
}

#[tokio::test]
async fn closing_a_problem_with_open_linked_incidents_is_refused() {
    let db = TestDb::new();
    let script = format!(
        "{OPENED}\
!problem assess PRB-1
!problem workaround PRB-1 webmail
"
    );
    let config = db.dir.path().join("problem.toml");
    std::fs::write(&config, "[problem]\nresolve_linked_incidents = false\n").expect("write config");
    let script = format!("{script}!problem resolve PRB-1 patched\n!problem close PRB-1\n");
    let out = console(&db, &script, &["--config", config.to_str().expect("utf-8 path")]);
    assert!(
        out.contains(
            "PRB-1 still has 2 open linked incidents: resolve or cancel them first (`!show PRB-1` lists them)."
        ),
        "{out}"
    );
    assert_eq!(text(&db, "SELECT state FROM problems WHERE id = 1").await, "resolved");
}

#[tokio::test]
async fn a_resolved_major_incident_and_one_reopened_twice_ask_the_problem_manager_once() {
    let db = TestDb::new();
    let out = console(
        &db,
        "\
:as erin
!incident Payroll export fails service=payroll impact=high urgency=high
!incident Mail bounces service=email
:as ian Incident Manager
!major INC-1 payroll run blocked
!resolve INC-1 export job restarted
!reopen INC-1 still failing
!resolve INC-1 restarted again
:as sam Service Desk
!resolve INC-2 queue flushed
!reopen INC-2 bounced again
!resolve INC-2 flushed again
!reopen INC-2 and again
!resolve INC-2 flushed
!reopen INC-2 once more
",
        &[],
    );
    let major = lines_with(
        &out,
        "Major incident INC-1 «Payroll export fails» is resolved. Open a problem",
    );
    assert_eq!(major.len(), 1, "asked once: {out}");
    assert!(
        major[0].starts_with("[#problem-management #") && major[0].contains("@Problem Manager"),
        "{out}"
    );
    assert!(
        major[0].contains("`!problem Payroll export fails service=payroll from=INC-1`"),
        "{out}"
    );
    let reopened = lines_with(
        &out,
        "INC-2 «Mail bounces» has been reopened 2 times: it may be a problem.",
    );
    assert_eq!(reopened.len(), 1, "asked once, at the second reopen: {out}");
    assert!(
        reopened[0].contains("`!problem Mail bounces service=email from=INC-2`"),
        "{out}"
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM problem_prompts").await, 2);
}

/// The workaround reaches a linked incident's thread through the real serenity
/// client against the fake Discord, pinging its assignee only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_discord_the_workaround_reaches_the_linked_incident_thread_pinging_its_assignee() {
    use crate::bot::{self, assert_no_decode_problems};
    use crate::fake_discord::{FakeDiscord, GuildSpec};

    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, desk_ch, problems_ch) = (
        spec.channel_id("general"),
        spec.channel_id("service-desk"),
        spec.channel_id("problem-management"),
    );
    let (alice, bob) = (spec.user_id("alice"), spec.user_id("bob"));

    fake.inject_message(general, bob, "!incident Outlook crashes on attachments service=email");
    bot::eventually(&fake, "the incident's thread", || {
        fake.threads()
            .iter()
            .any(|t| t.parent_id == desk_ch && !fake.bot_messages(t.id).is_empty())
    })
    .await;
    for line in [
        "!take INC-1",
        "!problem Outlook crashes on attachments from=INC-1",
        "!problem assess PRB-1",
        "!problem workaround PRB-1 Open attachments in webmail @everyone",
    ] {
        // One at a time, as a person types them: each waits for its answer.
        let msg = fake.inject_message(general, alice, line);
        let answer = bot::reply_to(&fake, general, msg).await;
        assert!(!answer.contains("may run"), "{line}: {answer}");
    }
    let thread = fake
        .threads()
        .into_iter()
        .find(|t| t.parent_id == desk_ch)
        .expect("a thread on the card");
    bot::eventually(&fake, "the workaround in the thread", || {
        fake.bot_messages(thread.id)
            .iter()
            .any(|m| m.content().contains("🩹 Known error PRB-1"))
    })
    .await;
    let told = fake
        .bot_messages(thread.id)
        .into_iter()
        .find(|m| m.content().contains("🩹 Known error PRB-1"))
        .expect("the workaround");
    assert_eq!(
        told.content(),
        format!(
            "<@{alice}> 🩹 Known error PRB-1 «Outlook crashes on attachments» — workaround: Open attachments in webmail @\u{200B}everyone"
        )
    );
    let body = told.create_body.clone().expect("a body");
    assert_eq!(
        body["allowed_mentions"]["users"],
        serde_json::json!([alice.to_string()])
    );
    assert!(
        body["allowed_mentions"]["parse"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{body}"
    );
    // The problem card is in the problem manager's channel.
    bot::eventually(&fake, "the problem card", || {
        fake.bot_messages(problems_ch)
            .iter()
            .any(|m| m.content().contains("PRB-1 «Outlook crashes on attachments»"))
    })
    .await;
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM problem_incidents WHERE problem_id = 1").await,
        1
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test]
async fn the_service_report_counts_problems_known_errors_and_linked_incidents() {
    let db = TestDb::new();
    let script = format!(
        "{OPENED}\
!problem assess PRB-1
!problem workaround PRB-1 Open attachments in webmail
!problem Printer queue stalls
!problem cancel PRB-2 not a defect
:as sam Service Desk
!report 7d
"
    );
    let out = console(&db, &script, &[]);
    assert!(
        out.contains("Problems: 2 logged; 1 open, 1 of them known errors; 2 incidents linked to a problem"),
        "{out}"
    );
}
