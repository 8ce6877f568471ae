//! Queues, search and SLA time in the real console: `!incidents` filters alone
//! and combined, `!search` over titles, notes and resolutions, what a
//! non-agent and a service owner see, and business-hours wording under `:clock`.

use crate::util::{console, lines_with, scalar, text, TestDb};

/// Writes a config overlay into the test's directory and returns its path.
fn overlay(db: &TestDb, name: &str, toml: &str) -> String {
    let path = db.dir.path().join(name);
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

/// Business hours that never close, so business time runs with the clock and
/// what a test sees does not depend on the hour it runs at (a business day is
/// then 24 hours).
const ALWAYS_OPEN_OFFICE: &str = "[sla.business_hours]\n\
    days = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\n\
    open = \"00:00\"\nclose = \"24:00\"\ntz = \"UTC\"\n";

/// The answers to every run of `command`, in order: the bot's line after the
/// echoed command, with the lines that follow it up to the next printed message.
fn answers(out: &str, command: &str) -> Vec<String> {
    let lines: Vec<&str> = out.lines().collect();
    let runs: Vec<String> = (0..lines.len())
        .filter(|&i| lines[i].ends_with(&format!("> {command}")) && i + 1 < lines.len())
        .map(|at| {
            let mut reply = vec![lines[at + 1]];
            reply.extend(
                lines[at + 2..]
                    .iter()
                    .take_while(|l| !l.starts_with('[') && !l.starts_with('»')),
            );
            reply.join("\n")
        })
        .collect();
    assert!(!runs.is_empty(), "`{command}` was not run:\n{out}");
    runs
}

/// The answer to the first run of `command`.
fn answer(out: &str, command: &str) -> String {
    answers(out, command).remove(0)
}

/// The incident ids listed in an answer, in order.
fn ids(answer: &str) -> Vec<String> {
    answer
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.starts_with("INC-"))
        .map(str::to_owned)
        .collect()
}

const QUEUE: &str = "\
:as alice
!incident Mail is down impact=high urgency=high service=email
!incident Payroll totals wrong service=payroll
:as bob
!incident VPN drops hourly impact=low urgency=low service=vpn
:as carol
!incident Shared mailbox missing impact=high urgency=medium service=email
:as sam Service Desk
!take INC-1
!escalate INC-4 needs a mail admin
:clock +1h
!incidents
!incidents unassigned
!incidents breaching
!incidents unassigned breaching P2
!incidents unassigned breaching P1
!incidents mine open
!incidents service=email
!incidents service=email tier=2
!incidents tier=systems_support unassigned
!incidents P5
!incidents open resolved
!incidents opne
!incidents breaching closed
!incidents P1 P2
!incidents service=emial
!incidents tier=cab
!status INC-1 in_progress
!resolve INC-1 restarted the relay
!incidents resolved
!incidents closed
!incidents all
!incidents all page=2
:as dana Systems Support
!incidents mine
!incidents unassigned
:as alice
!incidents all
!incidents
:as olga Payroll Service Owner
!incidents service=payroll
:as bob
!incidents mine all
";

#[tokio::test]
async fn queue_filters_combine_and_each_line_shows_assignee_age_and_next_due() {
    let db = TestDb::new();
    let cfg = overlay(&db, "office.toml", ALWAYS_OPEN_OFFICE);
    let out = console(&db, QUEUE, &["--config", &cfg]);
    let a = |command: &str| answer(&out, command);

    // The whole open queue, newest first, each line with assignee, age and what falls due next.
    let all = a("!incidents");
    assert!(
        all.contains("] Open incidents (page 1 of 1, 4 in all), newest first:\n"),
        "{all}"
    );
    assert_eq!(ids(&all), ["INC-4", "INC-3", "INC-2", "INC-1"], "{all}");
    let line = |inc: &str| {
        all.lines()
            .find(|l| l.starts_with(&format!("{inc} ")))
            .unwrap()
            .to_owned()
    };
    assert!(
        line("INC-1").starts_with("INC-1 P1 assigned · Mail is down [email] · sam · opened 1h ago · resolve by "),
        "{all}"
    );
    assert!(
        line("INC-1").ends_with(" UTC (3h left)"),
        "a 24×7 clock in calendar time: {all}"
    );
    assert!(
        line("INC-2")
            .starts_with("INC-2 P3 new · Payroll totals wrong [payroll] · unassigned · opened 1h ago · respond by "),
        "{all}"
    );
    assert!(
        line("INC-2").ends_with(" UTC (3 business hours left)"),
        "business time: {all}"
    );
    assert_eq!(
        line("INC-4"),
        "INC-4 P2 new · Shared mailbox missing [email] · unassigned · opened 1h ago · ⚠ response breached by 30m",
        "{all}"
    );

    // Each filter alone, and combined.
    assert_eq!(ids(&a("!incidents unassigned")), ["INC-4", "INC-3", "INC-2"]);
    let breaching = a("!incidents breaching");
    assert!(
        breaching.contains("] Open incidents breaching an SLA target (page 1 of 1, 1 in all)"),
        "{breaching}"
    );
    assert_eq!(ids(&breaching), ["INC-4"]);
    assert_eq!(ids(&a("!incidents unassigned breaching P2")), ["INC-4"]);
    assert!(
        a("!incidents unassigned breaching P1").ends_with("] No open unassigned P1 incidents breaching an SLA target.")
    );
    let mine = a("!incidents mine open");
    assert!(
        mine.contains("Open incidents assigned to you or reported by you (page 1 of 1, 1 in all)"),
        "{mine}"
    );
    assert_eq!(ids(&mine), ["INC-1"]);
    let email = a("!incidents service=email");
    assert!(
        email.contains("Open incidents on Email (page 1 of 1, 2 in all)"),
        "{email}"
    );
    assert_eq!(ids(&email), ["INC-4", "INC-1"]);
    let tier = a("!incidents service=email tier=2");
    assert!(
        tier.contains("Open incidents on Email at tier 2 (Systems Support) (page 1"),
        "{tier}"
    );
    assert_eq!(ids(&tier), ["INC-4"]);
    let held = a("!incidents tier=systems_support unassigned");
    assert!(
        held.contains("Open unassigned incidents held by Systems Support (page 1"),
        "{held}"
    );
    assert_eq!(ids(&held), ["INC-4"]);
    assert_eq!(ids(&a("!incidents P5")), ["INC-3"]);

    // Bad input is answered privately, naming the problem, and changes nothing.
    let refused = |command: &str, expected: &str| {
        let r = a(command);
        assert!(r.contains("(only sam)] "), "{command}: {r}");
        assert!(r.contains(expected), "{command}: {r}");
    };
    refused(
        "!incidents open resolved",
        "`open` and `resolved` cannot both hold: give one of open, resolved, closed, cancelled or all.",
    );
    refused(
        "!incidents opne",
        "`opne` is not a filter (nearest: `open`). Usage: `!incidents [open|resolved|closed|cancelled|all] [unassigned]",
    );
    refused(
        "!incidents breaching closed",
        "`breaching` means an SLA clock is still running past its target",
    );
    refused("!incidents P1 P2", "Give one priority, not both P1 and P2.");
    refused(
        "!incidents service=emial",
        "`emial` is not a service. Did you mean `email`?",
    );
    refused(
        "!incidents tier=cab",
        "`cab` is not a support tier: give its number from 1 (first line) or one of",
    );

    // Resolved, closed and every state.
    let resolved = a("!incidents resolved");
    assert_eq!(ids(&resolved), ["INC-1"]);
    assert!(
        resolved.contains("INC-1 P1 resolved · Mail is down [email] · sam · opened 1h ago"),
        "{resolved}"
    );
    assert!(
        !resolved.contains("resolve by"),
        "a resolved incident has nothing due: {resolved}"
    );
    assert!(a("!incidents closed").ends_with("] No closed incidents."));
    assert_eq!(
        ids(&answers(&out, "!incidents all")[0]),
        ["INC-4", "INC-3", "INC-2", "INC-1"]
    );
    assert!(a("!incidents all page=2").ends_with("] No incidents on page 2: there is 1 page."));

    // Another agent, with nothing of their own.
    assert!(a("!incidents mine").contains("] No incidents assigned to you or reported by you."));
    assert_eq!(
        ids(&answers(&out, "!incidents unassigned")[1]),
        ["INC-4", "INC-3", "INC-2"]
    );

    // A reporter asking for everything is told they see their own.
    let alice_all = answers(&out, "!incidents all")[1].clone();
    assert!(
        alice_all.contains("] Only agents see every incident; you see the ones you reported, are assigned, or that your support group or service holds.\nIncidents you can see (page 1 of 1, 2 in all)"),
        "{alice_all}"
    );
    assert_eq!(ids(&alice_all), ["INC-2", "INC-1"]);
    let alice_open = answers(&out, "!incidents")[1].clone();
    assert!(
        alice_open.contains("Open incidents you can see (page 1 of 1, 1 in all)"),
        "{alice_open}"
    );
    assert!(!alice_open.contains("Your"), "{alice_open}");
    // The service owner sees the incidents of the service they own.
    let owner = a("!incidents service=payroll");
    assert!(
        owner.contains("Open incidents on Payroll you can see (page 1 of 1, 1 in all)"),
        "{owner}"
    );
    assert_eq!(ids(&owner), ["INC-2"]);
    assert_eq!(ids(&a("!incidents mine all")), ["INC-3"]);

    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 4);
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "resolved");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE id > 1 AND state = 'new'").await,
        3
    );
}

const SEARCH: &str = "\
:as alice
!incident Mail relay down service=email
!incident Printer 1 jammed
!incident Printer 2 jammed
!incident Printer 3 jammed
:as bob
!incident VPN drops every hour service=vpn
!note INC-5 it started after the certificate rotation
:as sam Service Desk
!note INC-1 restarted the relay @everyone
!take INC-1
!status INC-1 in_progress
!resolve INC-1 flushed the DNS cache on the relay host
!search relay
!search dns
!search restarting
!search certificate
!search printer
!search printer page=2
!search printer page=3
!search \"dns
!search dns* OR NEAR(relay
!search title:dns
!search *** \"\" ^
!search
:as alice
!search certificate
!search relay
:as bob
!search relay
!search certificate
";

#[tokio::test]
async fn search_finds_titles_notes_and_resolutions_paged_and_only_what_the_caller_may_see() {
    let db = TestDb::new();
    let cfg = overlay(&db, "pages.toml", "[incident]\npage_size = 2\n");
    let out = console(&db, SEARCH, &["--config", &cfg]);
    let a = |command: &str| answer(&out, command);

    let relay = a("!search relay");
    assert!(
        relay.contains("] 1 incident matches `relay` (page 1 of 1), best match first:"),
        "{relay}"
    );
    assert!(
        relay.contains("\nINC-1 P3 resolved · Mail relay down [email]"),
        "{relay}"
    );
    // The note's mention is shown, never fired.
    assert!(
        relay.contains("\n  ↳ note: restarted the **relay** @\u{200B}everyone"),
        "{relay}"
    );
    assert!(
        relay.contains("\n  ↳ resolution: flushed the DNS cache on the **relay** host"),
        "{relay}"
    );
    let dns = a("!search dns");
    assert!(dns.contains("\n  ↳ resolution: flushed the **DNS** cache"), "{dns}");
    assert!(!dns.contains("↳ note"), "{dns}");
    // Words are stemmed: "restarting" finds "restarted".
    assert_eq!(ids(&a("!search restarting")), ["INC-1"]);
    assert_eq!(ids(&a("!search certificate")), ["INC-5"]);

    // Paged.
    let page1 = a("!search printer");
    assert!(
        page1.contains("] 3 incidents match `printer` (page 1 of 2), best match first:"),
        "{page1}"
    );
    assert_eq!(ids(&page1).len(), 2, "{page1}");
    assert!(page1.ends_with("\nMore: add page=2"), "{page1}");
    let page2 = a("!search printer page=2");
    assert_eq!(ids(&page2).len(), 1, "{page2}");
    let mut seen = ids(&page1);
    seen.extend(ids(&page2));
    seen.sort();
    assert_eq!(seen, ["INC-2", "INC-3", "INC-4"]);
    assert!(a("!search printer page=3").ends_with("] No more incidents match `printer` on page 3: there are 2 pages."));

    // Query syntax in the words is only words: answered, never an error.
    assert_eq!(ids(&a("!search \"dns")), ["INC-1"]);
    assert!(
        a("!search dns* OR NEAR(relay")
            .ends_with("] No incidents match `dns or near relay` in their titles, notes or resolutions."),
        "{out}"
    );
    assert!(a("!search title:dns").ends_with("] No incidents match `title dns` in their titles, notes or resolutions."));
    let empty = a("!search *** \"\" ^");
    assert!(
        empty.contains("(only sam)] `*** \"\" ^` has no words to search for: give words of letters or digits. Usage: `!search <words> [page=<n>]`"),
        "{empty}"
    );
    assert!(a("!search").contains("(only sam)] Missing <words>. Usage: `!search <words> [page=<n>]`"));
    assert!(!out.contains("Something went wrong"), "{out}");

    // A reporter finds only what they may see.
    let (certificate, relay) = (answers(&out, "!search certificate"), answers(&out, "!search relay"));
    assert!(
        certificate[1].contains("] No incidents you can see match `certificate`"),
        "alice: {out}"
    );
    assert!(
        relay[1].contains("] 1 incident you can see matches `relay`"),
        "alice: {out}"
    );
    assert!(
        relay[2].contains("] No incidents you can see match `relay`"),
        "bob: {out}"
    );
    assert_eq!(ids(&certificate[2]), ["INC-5"], "bob: {out}");

    // The index holds every incident, its notes and its resolution.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incident_search").await, 5);
    assert_eq!(
        text(&db, "SELECT resolution FROM incident_search WHERE rowid = 1").await,
        "flushed the DNS cache on the relay host"
    );
    assert_eq!(
        text(&db, "SELECT notes FROM incident_search WHERE rowid = 5").await,
        "it started after the certificate rotation"
    );
}

#[tokio::test]
async fn business_hours_targets_and_time_left_are_told_in_business_time_and_24x7_in_calendar_time() {
    // The default hours: targets are worded the same whenever the test runs.
    let db = TestDb::new();
    let script = "\
:as alice
!incident Payroll slow impact=low urgency=low service=payroll
!incident Mail is down impact=high urgency=high service=email
:as sam Service Desk
!show INC-1
!show INC-2
";
    let out = console(&db, script, &[]);
    let p5 = answer(&out, "!show INC-1");
    assert!(
        p5.contains("\n• Response: target 8 business hours (1 business day) · "),
        "{p5}"
    );
    assert!(
        p5.contains("\n• Resolution: target 80 business hours (10 business days) · "),
        "a P5 says its 10 business days: {p5}"
    );
    let p1 = answer(&out, "!show INC-2");
    // The console runs on the wall clock: a loaded machine may show a second gone.
    let response = p1
        .lines()
        .find(|l| l.starts_with("• Response: target 15m · elapsed "))
        .unwrap_or_else(|| panic!("{p1}"));
    assert!(
        response.contains(" · running · ") && response.contains(" left · due "),
        "{p1}"
    );
    assert!(p1.contains("\n• Resolution: target 4h · "), "{p1}");
    assert!(!p1.contains("business"), "{p1}");
    // The card gives the targets, the reporter when to expect a first response.
    assert!(
        out.contains("SLA targets: respond within 8 business hours (1 business day) · resolve within 80 business hours (10 business days)"),
        "{out}"
    );
    assert!(
        out.contains("SLA targets: respond within 15m · resolve within 4h"),
        "{out}"
    );
    let logged = lines_with(&out, "INC-2 logged: P1");
    assert!(logged[0].contains(". Expect a first response within 15m, by "), "{out}");

    // Hours that never close, so the clock is business time: time left, the
    // warnings and the acknowledgement speak of business hours.
    let db = TestDb::new();
    let cfg = overlay(&db, "office.toml", ALWAYS_OPEN_OFFICE);
    let script = "\
:as alice
!incident Payroll totals wrong service=payroll
:clock +150m
:as sam Service Desk
!show INC-1
!ack INC-1
";
    let out = console(&db, script, &["--config", &cfg]);
    let logged = lines_with(&out, "INC-1 logged: P3");
    assert!(
        logged[0].contains(". Expect a first response within 4 business hours, by "),
        "{out}"
    );
    let show = answer(&out, "!show INC-1");
    // The console reads the clock a moment after `:clock`, so the time left may
    // have lost its last second (a minute, as it is worded).
    let left = |whole: &str, less: &str| {
        [whole, less]
            .iter()
            .any(|l| show.contains(&format!("· elapsed 2 business hours 30m · running · {l} left · due ")))
    };
    assert!(
        show.contains(
            "\n• Response: target 4 business hours · elapsed 2 business hours 30m · running · 1 business hour"
        ),
        "{show}"
    );
    assert!(left("1 business hour 30m", "1 business hour 29m"), "{show}");
    assert!(
        show.contains("\n• Resolution: target 24 business hours (1 business day) · elapsed 2 business hours 30m · running · 21 business hours"),
        "{show}"
    );
    assert!(left("21 business hours 30m", "21 business hours 29m"), "{show}");
    let warned = lines_with(
        &out,
        "SLA warning: INC-1 (P3) has used 50% of its 4 business hours response target (1 business hour ",
    );
    assert!(
        !warned.is_empty() && warned.iter().all(|l| l.contains("m left · due ")),
        "{out}"
    );
    assert!(
        out.contains("INC-1 acknowledged after 2 business hours 30m, within the 4 business hours response target."),
        "{out}"
    );
}
