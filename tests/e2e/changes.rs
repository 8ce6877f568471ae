//! Changes and CAB votes through the real `opsdesk console`: filing, the
//! vote by `:react` / `:unreact`, early and deadline close (across a
//! restart, with `:clock`), authorization and the planned outage notice.

use chrono::{TimeDelta, Utc};

use crate::util::{console, lines_with, scalar, text, TestDb};

/// A window from `from` to `to` after now, as typed (UTC, minutes).
fn window(from: TimeDelta, to: TimeDelta) -> String {
    let f = |d: TimeDelta| (Utc::now() + d).format("%Y-%m-%dT%H:%M").to_string();
    format!("{}..{}", f(from), f(to))
}

#[tokio::test]
async fn a_cab_vote_by_reaction_runs_from_filing_to_the_planned_outage_notice() {
    let db = TestDb::new();
    let w = window(TimeDelta::days(2), TimeDelta::days(2) + TimeDelta::hours(3));
    let out = console(
        &db,
        &format!(
            "\
:as sue
!subscribe email
:as alice Systems Support
!change Upgrade the MTA @everyone service=email risk=medium type=normal window={w}
:as carl Change Manager
!cab CHG-1
"
        ),
        &[],
    );
    assert!(
        out.contains("CHG-1 filed: normal change to Email, risk medium"),
        "{out}"
    );
    // Filing tells the change manager (pinged) and consults the service owner (no ping).
    assert_eq!(
        lines_with(&out, "[#cab #")
            .iter()
            .filter(|l| l.contains("@Change Manager New normal change CHG-1 by alice"))
            .count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("Upgrade the MTA @\u{200B}everyone"),
        "user text never pings: {out}"
    );
    // The service owner is consulted on a change request: asked, not told.
    assert!(
        out.contains("Your input is asked (change_request): CHG-1 on Email"),
        "{out}"
    );
    // The vote card: in the CAB's channel, pinging the CAB, with the rules, and the bot's three reactions.
    let card = lines_with(&out, "@CAB CAB vote on CHG-1");
    assert_eq!(card.len(), 1, "{out}");
    assert!(card[0].starts_with("[#cab #"), "{}", card[0]);
    assert!(
        out.contains("quorum 3 of 5 ballots (abstentions count) · passes at 60% approve"),
        "{out}"
    );
    assert!(out.contains("Closes: "), "{out}");
    assert!(out.contains("  + reactions: ✅ ❌ ➖"), "{out}");
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "cab_vote");
    let vote = text(&db, "SELECT message_id FROM cards WHERE subject = 'CHG-1'").await;

    // A second run of the bot: members vote by reaction on the card.
    let out = console(
        &db,
        &format!(
            "\
:as alice CAB
:react {vote} ✅
:as dave
:react {vote} ➖
:as bob CAB
:react {vote} ❌
:react {vote} ✅
:as erin CAB
:react {vote} ➖
:unreact {vote} ➖
:react {vote} ✅
:as fred CAB
:react {vote} 👍
:react {vote} ✅
:as gina CAB
:react {vote} ❌
:as alice Change Manager
!authorize CHG-1
:as bob CAB
!authorize CHG-1
:as carl Change Manager
!authorize CHG-1
"
        ),
        &[],
    );
    let expected = [
        "(only alice)] [reaction removed] Your reaction on CHG-1 was removed: you requested this change, so you cannot vote on it.",
        "(only dave)] [reaction removed] Your reaction on CHG-1 was removed: voting needs one of these roles: cab.",
        "(only bob)] Your ballot on CHG-1 is counted: reject",
        "(only bob)] [your ❌ removed] Your ballot on CHG-1 is changed from reject to approve",
        "(only erin)] Your ballot on CHG-1 is counted: abstain",
        "(only erin)] Your ballot on CHG-1 is withdrawn",
        "(only fred)] Your ballot on CHG-1 is counted: approve (✅ 3 approve · ❌ 0 reject · ➖ 0 abstain). The vote is now closed: approved.",
        "(only gina)] [reaction removed] The vote on CHG-1 is closed: approved; reactions no longer count.",
        "(only alice)] You requested CHG-1, so you cannot authorize it (segregation of duties)",
        "(only bob)] Only the change authority (Change Manager) may run `!authorize`.",
        "carl authorized CHG-1; it is scheduled for",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    // 👍 is left alone: fred's only reply is for his ✅.
    assert_eq!(lines_with(&out, "(only fred)]").len(), 1, "{out}");
    // The outcome is edited into the card and posted to the change manager.
    assert!(
        !lines_with(&out, "edited] CAB vote on CHG-1 closed: approved").is_empty(),
        "{out}"
    );
    assert!(out.contains("Voters: "), "{out}");
    let closed = lines_with(&out, "@Change Manager CAB vote on CHG-1 closed: approved.");
    assert_eq!(closed.len(), 1, "{out}");
    assert!(
        closed[0].contains("It is a recommendation: `!authorize CHG-1`"),
        "{}",
        closed[0]
    );
    assert!(out.contains("FYI (change_authorize): CHG-1 on Email"), "{out}");

    assert_eq!(
        text(&db, "SELECT outcome FROM cab_votes WHERE change_id = 1").await,
        "approved"
    );
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "scheduled");
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM cab_ballots WHERE change_id = 1 AND choice = 'approve'"
        )
        .await,
        3
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM cab_ballots").await, 3);
    let actions: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit WHERE subject = 'CHG-1' ORDER BY id")
        .fetch_all(&mut db.conn().await)
        .await
        .unwrap();
    let actions: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "change_request",
            "cab_vote",
            "cab_ballot",
            "cab_ballot",
            "cab_ballot",
            "cab_ballot",
            "cab_ballot",
            "cab_ballot",
            "cab_close",
            "change_authorize"
        ]
    );

    // A day later (lead time 24 h before the window) the agreed outage is announced.
    let out = console(&db, ":clock +1d\n", &[]);
    let notice = lines_with(&out, "[#status #");
    assert_eq!(notice.len(), 1, "{out}");
    assert!(
        notice[0].contains("Planned outage: Email may be unavailable"),
        "{}",
        notice[0]
    );
    assert!(
        out.contains("[#service-desk #") && out.contains("Planned outage: Email"),
        "{out}"
    );
    // Subscribers of the service are told by DM, once.
    let dms = lines_with(&out, "[#dm/sue #");
    assert_eq!(dms.len(), 1, "{out}");
    assert!(dms[0].contains("Planned outage: Email"), "{}", dms[0]);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'planned_outage_notice'").await,
        1
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );
}

#[tokio::test]
async fn an_emergency_vote_closes_at_its_deadline_after_a_restart_and_a_standard_change_needs_none() {
    let db = TestDb::new();
    let w = window(TimeDelta::hours(6), TimeDelta::hours(7));
    let out = console(
        &db,
        &format!(
            "\
:as nora NOC
!change Patch the VPN concentrator service=vpn risk=high type=emergency window={w}
:as carl Change Manager
!cab CHG-1
!change Restart the mail relay service=email risk=low type=standard window={w}
!cab CHG-2
"
        ),
        &[],
    );
    assert!(lines_with(&out, "@ECAB ECAB vote on CHG-1").len() == 1, "{out}");
    assert!(out.contains("ECAB members (ECAB) may vote"), "{out}");
    assert!(out.contains("quorum 2 of 3 ballots"), "{out}");
    assert!(
        out.contains("It is a pre-approved standard change, so it is scheduled now."),
        "{out}"
    );
    assert!(
        out.contains("CHG-2 is a standard change: it is pre-approved and needs no vote."),
        "{out}"
    );
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 2").await, "scheduled");
    let vote = text(&db, "SELECT message_id FROM cards WHERE subject = 'CHG-1'").await;

    // The bot restarts; one ECAB member votes (a CAB member may not), then time passes the 4 h deadline.
    let out = console(
        &db,
        &format!(
            "\
:as olga ECAB
:react {vote} ✅
:as pete CAB
:react {vote} ✅
:clock +5h
:as olga ECAB
:unreact {vote} ✅
"
        ),
        &[],
    );
    assert!(
        out.contains("(only olga)] Your ballot on CHG-1 is counted: approve"),
        "{out}"
    );
    assert!(out.contains("(only pete)] [reaction removed] Your reaction on CHG-1 was removed: voting needs one of these roles: ecab."), "{out}");
    let closed = lines_with(
        &out,
        "@Change Manager ECAB vote on CHG-1 closed: no quorum (not approved)",
    );
    assert_eq!(closed.len(), 1, "{out}");
    assert!(closed[0].contains("late"), "{}", closed[0]);
    // After the close, withdrawing a reaction changes nothing.
    assert!(!out.contains("withdrawn"), "{out}");
    assert_eq!(
        text(&db, "SELECT outcome FROM cab_votes WHERE change_id = 1").await,
        "no_quorum"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM cab_ballots WHERE change_id = 1").await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM timers WHERE kind = 'cab_close' AND fired_at IS NOT NULL"
        )
        .await,
        1
    );

    // The change manager rejects on the recommendation; then the change is final.
    let out = console(
        &db,
        ":as carl Change Manager\n!reject CHG-1 no quorum, resubmit as normal\n!change cancel CHG-1\n!changes all\n",
        &[],
    );
    assert!(
        out.contains("carl rejected CHG-1: no quorum, resubmit as normal."),
        "{out}"
    );
    assert!(
        out.contains("CHG-1: an emergency change in rejected cannot move to cancelled; allowed: none."),
        "{out}"
    );
    assert!(out.contains("All changes (2):"), "{out}");
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "rejected");
}

/// The id of a user the desk has seen, by display name.
async fn user_id(db: &TestDb, name: &str) -> i64 {
    scalar(db, &format!("SELECT id FROM users WHERE display_name = '{name}'")).await
}

#[tokio::test]
async fn an_implementer_is_named_after_filing_and_bad_implementers_change_nothing() {
    let db = TestDb::new();
    let strict = db.dir.path().join("strict.toml");
    std::fs::write(&strict, "[change]\nrequester_may_implement = false\n").unwrap();
    let strict = strict.display().to_string();
    let w = window(TimeDelta::hours(6), TimeDelta::hours(7));
    let out = console(
        &db,
        &format!(
            "\
:as nina Systems Support
!status
:as nora NOC
!change Patch the VPN concentrator service=vpn risk=high type=emergency window={w}
!change Rotate the VPN keys service=vpn risk=low type=normal
!change cancel CHG-2 not needed
!change implementer CHG-1 @zed
!change implementer CHG-1 @nora
!change implementer CHG-2 @nina
:as alice Service Desk
!change implementer CHG-1 @nina
:as nora NOC
!change implementer CHG-1 @nina
!change implementer CHG-1 @nina
"
        ),
        &["--config", &strict],
    );
    let expected = [
        "(only nora)] I don't know `zed`: mention them with a real @mention",
        "(only nora)] You requested CHG-1, and config (change.requester_may_implement = false) keeps the requester and the implementer apart",
        "(only nora)] CHG-2 is cancelled: its implementer can be set only before work starts.",
        "(only alice)] ",
        "nora made nina the implementer of CHG-1 (Patch the VPN concentrator).",
        "(only nora)] That person is already the implementer of CHG-1.",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    // alice is neither requester nor change authority: refused, nothing changed.
    let alice = lines_with(&out, "(only alice)]");
    assert_eq!(alice.len(), 1, "{out}");
    // nina hears it, pinged in a direct message; the requester has the reply.
    let dm = lines_with(&out, "[#dm/nina #");
    assert_eq!(dm.len(), 1, "{out}");
    assert!(
        dm[0].contains("@nina nora made nina the implementer of CHG-1"),
        "{}",
        dm[0]
    );
    assert!(lines_with(&out, "[#dm/nora #").is_empty(), "{out}");
    let nina = user_id(&db, "nina").await;
    assert_eq!(scalar(&db, "SELECT implementer FROM changes WHERE id = 1").await, nina);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM changes WHERE id = 2 AND implementer IS NULL").await,
        1
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'change_implementer'").await,
        1
    );
    assert_eq!(
        text(&db, "SELECT details FROM audit WHERE action = 'change_implementer'").await,
        "made nina its implementer"
    );

    // Now the implementer may start it: the requester's side of the rule holds.
    let out = console(
        &db,
        ":as nina Systems Support\n!change status CHG-1 implementing\n",
        &["--config", &strict],
    );
    assert!(!out.contains("Only the change authority"), "{out}");
}

#[tokio::test]
async fn notes_go_on_changes_and_outages_where_their_people_read_and_incident_notes_are_unchanged() {
    let db = TestDb::new();
    let out = console(
        &db,
        "\
:as nina Systems Support
!status
:as nora NOC
!change Patch the VPN concentrator service=vpn risk=high type=emergency implementer=nina
!note CHG-1 patch staged on gw-1 @everyone
:as sam Service Desk
!outage email Mail delivery delayed
:as nora NOC
!note OUT-1 relay queue at 40k
:as alice
!incident Mail is slow service=email impact=low urgency=low
!note INC-1 still slow after lunch
!note CHG-1 me too
!note PRB-1 hello
",
        &[],
    );
    // The change note: in the change manager's channel (no vote yet) and to its implementer.
    let posted = lines_with(
        &out,
        "Note on CHG-1 (Patch the VPN concentrator) by nora: patch staged on gw-1",
    );
    assert_eq!(posted.len(), 2, "{out}");
    assert!(posted.iter().any(|l| l.starts_with("[#cab #")), "{out}");
    assert!(
        posted
            .iter()
            .any(|l| l.starts_with("[#dm/nina #") && l.contains("@nina")),
        "{out}"
    );
    assert!(
        posted[0].contains("@\u{200B}everyone"),
        "user text never pings: {}",
        posted[0]
    );
    assert!(
        out.contains("Note added to CHG-1; posted to 2 places its people read."),
        "{out}"
    );
    // The outage note: to the role working it and its declarer, not to #status.
    let posted = lines_with(&out, "Note on OUT-1");
    assert!(!posted.is_empty(), "{out}");
    assert!(posted.iter().all(|l| !l.starts_with("[#status")), "{out}");
    assert!(posted.iter().any(|l| l.starts_with("[#dm/sam #")), "{out}");
    // Incident notes work as before.
    assert!(out.contains("Note added to INC-1."), "{out}");
    // alice is nobody to CHG-1; an unknown kind of id says which ids work.
    assert!(out.contains("(only alice)]"), "{out}");
    assert!(
        out.contains("`PRB-1` is not an incident, change or outage id like INC-12, CHG-3 or OUT-2"),
        "{out}"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit WHERE subject = 'CHG-1' AND details LIKE 'added a note:%'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit WHERE subject = 'OUT-1' AND details LIKE 'added a note:%'"
        )
        .await,
        1
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incident_notes").await, 1);
}

#[tokio::test]
async fn windows_drive_changes_across_a_restart_and_an_emergency_change_closes_only_after_its_review() {
    let db = TestDb::new();
    let w1 = window(TimeDelta::hours(1), TimeDelta::hours(3));
    let w2 = window(TimeDelta::hours(1), TimeDelta::hours(2));
    console(
        &db,
        &format!(
            "\
:as nina Systems Support
!status
:as dana Systems Support
!change Upgrade the mail relay to v5 service=email risk=medium type=normal window={w1} implementer=nina
:as nora NOC
!change Patch the VPN concentrator service=vpn risk=high type=emergency window={w2} implementer=nina
:as carl Change Manager
!cab CHG-1
!cab CHG-2
"
        ),
        &[],
    );
    let cab = text(&db, "SELECT message_id FROM cards WHERE subject = 'CHG-1'").await;
    let ecab = text(&db, "SELECT message_id FROM cards WHERE subject = 'CHG-2'").await;
    let out = console(
        &db,
        &format!(
            "\
:as bob CAB
:react {cab} ✅
:as erin CAB
:react {cab} ✅
:as fred CAB
:react {cab} ✅
:as olga ECAB
:react {ecab} ✅
:as pete ECAB
:react {ecab} ✅
:as carl Change Manager
!authorize CHG-1
!authorize CHG-2
"
        ),
        &[],
    );
    // The requester and the implementer are pinged of the outcome and of the authorization.
    for (who, id) in [
        ("dana", "CHG-1"),
        ("nina", "CHG-1"),
        ("nora", "CHG-2"),
        ("nina", "CHG-2"),
    ] {
        let dms = lines_with(&out, &format!("[#dm/{who} #"));
        assert!(
            dms.iter()
                .any(|l| l.contains(&format!("@{who} CAB vote on {id} closed: approved"))
                    || l.contains(&format!("@{who} ECAB vote on {id} closed: approved"))),
            "{who} not told the outcome of {id}:\n{out}"
        );
        assert!(
            dms.iter()
                .any(|l| l.contains(&format!("@{who} carl authorized {id}; it is scheduled for"))),
            "{who} not told {id} is authorized:\n{out}"
        );
    }
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "scheduled");
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 2").await, "scheduled");

    // Into the windows: the implementer is prompted and `!status` shows the maintenance.
    let out = console(
        &db,
        ":clock +90m\n:as alice\n!status\n:as nina Systems Support\n!change status CHG-2 implementing\n",
        &[],
    );
    let prompts = lines_with(&out, "[#dm/nina #");
    assert_eq!(prompts.len(), 2, "{out}");
    assert!(
        prompts[0].contains("@nina The window of CHG-1 on Email has started")
            && prompts[0].contains("`!change status CHG-1 implementing`"),
        "{}",
        prompts[0]
    );
    // The end as typed in w1 (`<from>-<to>`), not the clock read again: a slow
    // machine may have crossed a minute since.
    let end = format!("{} UTC", &w1[w1.len() - 5..]);
    assert!(
        out.contains(&format!("🔧 Email: planned maintenance CHG-1 until {end}")),
        "{out}"
    );
    assert!(out.contains("🔧 VPN: planned maintenance CHG-2 until"), "{out}");
    assert!(out.contains("CHG-2 is now implementing."), "{out}");

    // The bot restarts; past both ends: one change missed its window, the other is asked for its review.
    let out = console(
        &db,
        "\
:clock +4h
:as nina Systems Support
!change status CHG-2 review
:as carl Change Manager
!change status CHG-2 closed
:as nina Systems Support
!change review CHG-1 went well
!change review CHG-2 patched gw-1 and gw-2; no user impact; keep the rollback script
:as carl Change Manager
!show CHG-2
!change status CHG-2 closed
:as alice
!status
",
        &[],
    );
    assert!(
        lines_with(&out, "has started").is_empty(),
        "a start prompt fires once: {out}"
    );
    let missed = lines_with(&out, "@Change Manager CHG-1 missed its window on Email");
    assert_eq!(missed.len(), 1, "{out}");
    assert!(
        missed[0].starts_with("[#cab #") && missed[0].contains("it is still scheduled"),
        "{}",
        missed[0]
    );
    let review = lines_with(&out, "@nina The window of CHG-2 has ended and it is still implementing");
    assert_eq!(review.len(), 1, "{out}");
    assert!(review[0].contains("`!change review CHG-2 <text>`"), "{}", review[0]);
    let refusals = [
        "(only carl)] CHG-2 is an emergency change: it closes only after its post-implementation review. Write it with `!change review CHG-2",
        "(only nina)] CHG-1 is a normal change: only emergency changes take a post-implementation review here",
    ];
    for e in refusals {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    assert!(
        out.contains("nina wrote the post-implementation review of CHG-2: patched gw-1"),
        "{out}"
    );
    assert!(out.contains("CHG-2 is now in review."), "{out}");
    assert!(
        out.contains("Post-implementation review: patched gw-1 and gw-2; no user impact; keep the rollback script"),
        "{out}"
    );
    assert!(
        out.contains("wrote its post-implementation review: patched gw-1"),
        "the history says who reviewed: {out}"
    );
    assert!(out.contains("CHG-2 is now closed."), "{out}");
    assert!(out.contains("✅ All services operational."), "{out}");
    assert!(!out.contains("🔧"), "the windows are over: {out}");
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 2").await, "closed");
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "scheduled");
    assert_eq!(
        text(&db, "SELECT review FROM changes WHERE id = 2").await,
        "patched gw-1 and gw-2; no user impact; keep the rollback script"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM changes WHERE id = 1 AND review IS NULL").await,
        1
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'change_window'").await,
        4,
        "two starts, one missed, one review prompt"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM timers WHERE kind LIKE 'change_window_%' AND fired_at IS NULL AND cancelled = 0"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_vote_reminds_who_has_not_voted_and_after_no_quorum_is_called_again_with_a_new_card() {
    let db = TestDb::new();
    console(
        &db,
        "\
:as olga ECAB
!status
:as pete ECAB
!status
:as quinn ECAB
!status
:as nora NOC
!change Patch the VPN concentrator service=vpn risk=high type=emergency
:as carl Change Manager
!cab CHG-1 deadline=4h
",
        &[],
    );
    let first = text(&db, "SELECT message_id FROM cards WHERE subject = 'CHG-1'").await;
    let out = console(
        &db,
        &format!(
            "\
:as olga ECAB
:react {first} ✅
:as carl Change Manager
!cab CHG-1
:clock +3h30m
"
        ),
        &[],
    );
    // Calling a vote twice while one is open: refused, nothing changed.
    assert!(out.contains("(only carl)] CHG-1 has a vote open until"), "{out}");
    // At 75 % of the deadline the ECAB members who have not voted are pinged; olga voted, nora requested.
    let reminders = lines_with(&out, "Reminder: the ECAB vote on CHG-1");
    assert_eq!(reminders.len(), 1, "{out}");
    assert!(reminders[0].starts_with("[#cab #"), "{}", reminders[0]);
    assert!(
        reminders[0].contains("@pete") && reminders[0].contains("@quinn"),
        "{}",
        reminders[0]
    );
    assert!(
        !reminders[0].contains("@olga") && !reminders[0].contains("@nora"),
        "{}",
        reminders[0]
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'cab_remind'").await,
        1
    );

    // The restarted bot finds the deadline passed: no quorum, said on the board and to the requester.
    let out = console(&db, ":clock +5h\n", &[]);
    let board = lines_with(&out, "ECAB vote on CHG-1 closed: no quorum (not approved)");
    assert!(board.iter().any(|l| l.starts_with("[#cab #")), "{out}");
    assert!(
        board
            .iter()
            .any(|l| l.starts_with("[#dm/nora #") && l.contains("@nora")),
        "{out}"
    );
    assert!(out.contains("`!cab CHG-1` calls the vote again"), "{out}");
    assert_eq!(
        text(&db, "SELECT outcome FROM cab_votes WHERE change_id = 1").await,
        "no_quorum"
    );

    // The change authority calls it again: a new card, no old ballots, a new deadline.
    let out = console(
        &db,
        &format!(
            "\
:as carl Change Manager
!cab CHG-1
!cab CHG-1
:as pete ECAB
:react {first} ✅
"
        ),
        &[],
    );
    assert!(out.contains("ECAB vote on CHG-1 is open until"), "{out}");
    assert_eq!(lines_with(&out, "@ECAB ECAB vote on CHG-1").len(), 1, "{out}");
    assert!(out.contains("(only carl)] CHG-1 has a vote open until"), "{out}");
    let second = text(&db, "SELECT message_id FROM cards WHERE subject = 'CHG-1'").await;
    assert_ne!(first, second, "the vote called again has its own card");
    assert_eq!(
        text(&db, "SELECT status FROM cab_votes WHERE change_id = 1").await,
        "open"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM cab_ballots WHERE change_id = 1").await,
        0
    );
    // Reactions on the old card count for nothing.
    assert!(!out.contains("(only pete)] Your ballot"), "{out}");
    let out = console(
        &db,
        &format!(":as pete ECAB\n:react {second} ✅\n:as quinn ECAB\n:react {second} ✅\n"),
        &[],
    );
    assert!(out.contains("The vote is now closed: approved."), "{out}");
    assert_eq!(
        text(&db, "SELECT outcome FROM cab_votes WHERE change_id = 1").await,
        "approved"
    );
    // The first round's timers are spent; the second round's are stopped with its close.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM timers WHERE kind IN ('cab_close', 'cab_remind') AND fired_at IS NULL AND cancelled = 0"
        )
        .await,
        0
    );
}
