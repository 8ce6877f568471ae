//! A service desk's working day in the real `opsdesk console`: correcting an
//! incident, linking related ones, duplicates and parents, linking incidents
//! to an outage, a lifecycle that leads, and the reporter being heard.
//! Replies as a user reads them, rows as the database file holds them.

use crate::util::{console, id_of_last, lines_with, scalar, text, TestDb};

#[tokio::test]
async fn mistakes_are_corrected_and_options_are_never_swallowed() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Mail broken priority=P1
!incident Mail broken service = email
!incident VPN drops
!edit INC-2 service=vpn title=VPN drops every hour
:as sam Service Desk
!take INC-2
:as alice
!edit INC-2 title=VPN is fine now
:as sam Service Desk
!edit INC-2 title = VPN drops every hour
!edit INC-2 category=security
!edit INC-2 service=vpm
!edit INC-99 title=nothing
!edit INC-2 owner=me
!resolve INC-2 rotated the certificate
!edit INC-2 title=too late
";
    let out = console(&db, script, &[]);

    // `priority=` is refused with what to use instead; spaces around `=` are understood.
    assert!(
        out.contains("`priority=` is not an option: priority comes from impact × urgency, so use impact= and urgency="),
        "{out}"
    );
    assert!(out.contains("INC-1 logged: P3"), "{out}");
    assert_eq!(
        text(&db, "SELECT title FROM incidents WHERE id = 1").await,
        "Mail broken"
    );
    assert_eq!(text(&db, "SELECT service FROM incidents WHERE id = 1").await, "email");

    // The reporter corrects a new incident; the thread is told old → new.
    assert!(
        out.contains("INC-2 corrected: title “VPN drops” → “VPN drops every hour” and service “—” → “VPN”."),
        "{out}"
    );
    assert!(
        lines_with(&out, "[#service-desk/INC-2 #")
            .iter()
            .any(|l| l.contains("alice corrected INC-2: title “VPN drops” → “VPN drops every hour”")),
        "{out}"
    );
    // Once it is being worked, only its workers may correct it.
    assert!(
        out.contains("INC-2 is assigned: only those working it can correct it now. Add a note instead: `!note INC-2 <what is wrong>`."),
        "{out}"
    );
    assert!(out.contains("INC-2 already says that: nothing changed."), "{out}");
    // A security category re-routes it as logging it would have, and pings the new group.
    assert!(
        out.contains("INC-2 corrected: category “—” → “security”. Handed to IT Security Manager"),
        "{out}"
    );
    assert!(
        lines_with(&out, "[#service-desk/INC-2 #")
            .iter()
            .any(|l| l.contains("@IT Security Manager sam corrected INC-2: category")),
        "{out}"
    );
    // The card follows it to the security channel; the old post points there.
    assert!(
        lines_with(&out, "[#security #")
            .iter()
            .any(|l| l.contains("@IT Security Manager sam corrected INC-2")),
        "{out}"
    );
    assert!(
        out.contains("↪️ Handed to IT Security Manager — see #security. INC-2 (P3): VPN drops every hour"),
        "{out}"
    );
    assert_eq!(
        text(&db, "SELECT channel_id FROM cards WHERE subject = 'INC-2'").await,
        "security"
    );
    assert!(out.contains("`vpm` is not a service. Did you mean `vpn`?"), "{out}");
    assert!(out.contains("INC-99 does not exist."), "{out}");
    assert!(out.contains("`owner=` is not an option of edit"), "{out}");
    assert!(
        out.contains("INC-2 is resolved: it can no longer be corrected (add a note with `!note INC-2 <text>`)."),
        "{out}"
    );

    assert_eq!(
        text(&db, "SELECT title FROM incidents WHERE id = 2").await,
        "VPN drops every hour"
    );
    assert_eq!(text(&db, "SELECT service FROM incidents WHERE id = 2").await, "vpn");
    assert_eq!(
        text(&db, "SELECT category FROM incidents WHERE id = 2").await,
        "security"
    );
    assert_eq!(
        text(&db, "SELECT handler_role FROM incidents WHERE id = 2").await,
        "it_security_manager"
    );
    // sam is an agent, who may work any group's incidents: he keeps it.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM incidents WHERE id = 2 AND assignee IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit WHERE action = 'incident_edit' AND subject = 'INC-2'"
        )
        .await,
        2
    );
    // Refusals wrote nothing: two incidents, not three.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 2);
}

#[tokio::test]
async fn related_duplicate_and_outage_links_connect_incidents_and_refuse_loops() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Mail slow service=email
:as bob
!incident Outlook cannot send
!incident Mail down again service=email
:clock +3h
:as carol
!incident Email bounces service=email
:clock +30m
:as sam Service Desk
!outage email Mail delivery delayed
!outage link OUT-1 INC-1
!outage link OUT-1 INC-1
!link INC-1 INC-2
!link INC-2 INC-1
!link INC-1 INC-1
!duplicate INC-3 of INC-1
!duplicate INC-2 of INC-3
!duplicate INC-1 of INC-1
!show INC-1
!show INC-3
!take INC-1
!resolve INC-1 restarted the MTA
";
    let out = console(&db, script, &[]);

    // Declaring links the service's open incidents of the last 2h, and says so.
    assert!(
        out.contains("Linked 1 open incident of the service logged in the last 2h: INC-4."),
        "{out}"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outage_incidents WHERE outage_id = 1").await,
        2,
        "INC-4 by the declaration, INC-1 by hand; INC-3 (3½ h old) is not linked"
    );
    assert!(
        out.contains("INC-1 is linked to OUT-1; it is settled when the outage is resolved."),
        "{out}"
    );
    assert!(out.contains("INC-1 is already linked to OUT-1."), "{out}");

    assert!(
        out.contains("INC-1 and INC-2 are linked: each shows the other."),
        "{out}"
    );
    assert!(out.contains("INC-2 and INC-1 are already related."), "{out}");
    assert!(out.contains("INC-1 cannot be linked to itself."), "{out}");

    // The duplicate ends, its reporter told; a duplicate of a duplicate is refused.
    assert!(
        out.contains("INC-3 is closed as a duplicate of INC-1; its reporter will be told of INC-1's progress."),
        "{out}"
    );
    assert!(
        lines_with(&out, "[#service-desk/INC-3 #")
            .iter()
            .any(|l| l.contains("@bob sam closed INC-3 as a duplicate of INC-1 (Mail slow)")),
        "{out}"
    );
    assert!(
        out.contains("INC-3 is itself a duplicate of INC-1: mark INC-2 a duplicate of INC-1."),
        "{out}"
    );
    assert!(
        out.contains("Related: INC-2 (new) · Duplicates: INC-3 (cancelled)"),
        "{out}"
    );
    assert!(out.contains("Duplicate of INC-1 (new)"), "{out}");
    assert!(out.contains("Resolution: Duplicate of INC-1"), "{out}");

    // The duplicate's reporter hears how the original goes, in their own thread.
    assert!(
        lines_with(&out, "[#service-desk/INC-3 #")
            .iter()
            .any(|l| l.contains("@bob INC-1 (which INC-3 duplicates) is now resolved: restarted the MTA.")),
        "{out}"
    );
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 3").await, "cancelled");
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 2").await, "new");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incident_links").await,
        2,
        "one related pair and one duplicate"
    );
}

#[tokio::test]
async fn children_follow_their_parent_and_parents_are_one_level_deep() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Printer on floor 2 jammed
:as bob
!incident Printer on floor 2 offline
:as carol
!incident Printer on floor 2 out of toner
:as dave
!incident Projector broken
:as sam Service Desk
!parent INC-1 INC-2, INC-3
!parent INC-2 INC-4
!parent INC-4 INC-1
!parent INC-4 INC-2
!parent INC-4 INC-4
!parent INC-1 INC-99
!take INC-1
!resolve INC-1 replaced the fuser
";
    let out = console(&db, script, &[]);

    assert!(out.contains("INC-2, INC-3 now follow INC-1."), "{out}");
    assert!(
        out.contains("INC-2 is itself a child of INC-1: make them children of INC-1 instead (one level of parents)."),
        "{out}"
    );
    assert!(
        out.contains("INC-1 has children of its own: it cannot become a child (one level of parents)."),
        "{out}"
    );
    assert!(out.contains("INC-2 is already a child of INC-1."), "{out}");
    assert!(out.contains("INC-4 cannot be linked to itself."), "{out}");
    assert!(out.contains("INC-99 does not exist."), "{out}");

    // Resolving the parent resolves its children with its resolution; each reporter is asked.
    for (id, who) in [(2, "bob"), (3, "carol")] {
        assert_eq!(
            text(&db, &format!("SELECT state FROM incidents WHERE id = {id}")).await,
            "resolved"
        );
        assert_eq!(
            text(&db, &format!("SELECT resolution FROM incidents WHERE id = {id}")).await,
            "Resolved with INC-1: replaced the fuser"
        );
        assert!(
            out.contains(&format!(
                "@{who} {who}: INC-{id} was resolved by sam: Resolved with INC-1: replaced the fuser"
            )),
            "{out}"
        );
    }
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 4").await, "new");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incident_links WHERE kind = 'child_of'").await,
        2
    );
}

#[tokio::test]
async fn the_lifecycle_leads_and_the_people_working_an_incident_hear_the_reporter() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Laptop will not boot
!incident Wrong ticket
!incident Monitor flickers
:as sam Service Desk
!status INC-1 in_progress
!take INC-1
!take INC-1
!status INC-1 on_hold
!status INC-1 on_hold awaiting_caller waiting for a screenshot
:as alice
!note INC-1 here is the screenshot
!cancel INC-2 logged by mistake
!cancel INC-2 again
!show INC-2
:as sam Service Desk
!resolve INC-3 cable reseated at the desk
!close INC-1
!resolve INC-1 reseated the RAM
!incidents cancelled
";
    let out = console(&db, script, &[]);

    // Refusals name the command that gets there.
    assert!(
        out.contains(
            "INC-1 is new: take it with `!take INC-1` first, then start work with `!status INC-1 in_progress`."
        ),
        "{out}"
    );
    assert!(out.contains("You already hold INC-1 (assigned)."), "{out}");
    assert_eq!(
        lines_with(&out, "sam took INC-1.").len(),
        1,
        "a second !take posts nothing: {out}"
    );
    assert!(
        out.contains(
            "Say what it waits for: on_hold awaiting_caller, awaiting_change, awaiting_problem or awaiting_vendor"
        ),
        "{out}"
    );
    // On hold straight from assigned, with what it waits for.
    assert!(
        out.contains("sam put INC-1 on hold, awaiting the caller: waiting for a screenshot. The resolution clock is paused; a note from the reporter resumes it."),
        "{out}"
    );
    // The reporter's note pings the assignee and resumes the incident.
    assert!(
        out.contains("@sam alice (the reporter) added a note to INC-1: here is the screenshot"),
        "{out}"
    );
    assert!(
        out.contains("alice replied, so INC-1 is back in progress (the resolution clock runs again)."),
        "{out}"
    );
    // Cancelled by its reporter: ended without an SLA result.
    assert!(
        out.contains("INC-2 is cancelled; its SLA clocks are stopped and not counted."),
        "{out}"
    );
    assert!(out.contains("INC-2 is cancelled: there is nothing to cancel."), "{out}");
    assert!(out.contains("SLA: not counted (cancelled)."), "{out}");
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM incident_clocks WHERE incident_id = 2 AND stopped_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit WHERE action = 'incident_cancel' AND subject = 'INC-2'"
        )
        .await,
        1
    );
    // Resolved straight from new: the passage through in progress is recorded.
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 3").await, "resolved");
    assert_eq!(
        text(
            &db,
            "SELECT details FROM audit WHERE action = 'resolve_incident' AND subject = 'INC-3'"
        )
        .await,
        "resolved it straight from new (passing through in progress): cable reseated at the desk"
    );
    assert!(
        out.contains("INC-1 is in progress: resolve it with `!resolve INC-1 <resolution>` first, then close it with `!close INC-1`."),
        "{out}"
    );
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "resolved");
    // The cancelled queue lists it; the open queue does not.
    assert!(
        out.contains("Cancelled incidents (page 1 of 1, 1 in all), newest first:\nINC-2 P3 cancelled · Wrong ticket"),
        "{out}"
    );

    // 👎 on the satisfaction question reopens it and pings the one working it.
    let question = id_of_last(&out, "alice: INC-1 was resolved by sam");
    let out = console(&db, &format!(":as alice\n:react {question} 👎\n"), &[]);
    assert!(
        out.contains("@sam alice (the reporter) reopened INC-1: the reporter says it is not fixed (👎)."),
        "{out}"
    );
    assert_eq!(
        text(&db, "SELECT state FROM incidents WHERE id = 1").await,
        "in_progress"
    );
}

#[tokio::test]
async fn a_plain_message_in_an_incidents_thread_becomes_a_note_from_those_who_may_add_one() {
    let db = TestDb::new();
    let script = "\
:as alice
!incident Scanner offline
:in #service-desk/INC-1
it still shows error 42 after a restart
:as zoe
I have the same problem
:as sam Service Desk
looking at it now
:in #general
just chatting here
";
    let out = console(&db, script, &[]);
    assert_eq!(lines_with(&out, "📝 on your message").len(), 2, "{out}");
    assert!(
        out.contains(
            "@Service Desk alice (the reporter) added a note to INC-1: it still shows error 42 after a restart"
        ),
        "{out}"
    );
    assert!(out.contains("Note on INC-1 by sam: looking at it now"), "{out}");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incident_notes WHERE incident_id = 1").await,
        2,
        "zoe's chat and #general's are not notes"
    );
}
