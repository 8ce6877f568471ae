//! History in words through the real `opsdesk console`: `!show` lines say who
//! did what with readable dates and no internal keys, `!show` says how many
//! earlier entries it left out, and `!history` pages the whole trail of an
//! incident and a change; bad input gets clear replies.

use chrono::{TimeDelta, Utc};

use crate::util::{console, lines_with, scalar, text, TestDb};

/// The bot's answer that starts with `head`, with the lines that follow it
/// up to the next console message.
fn answer_from<'a>(out: &'a str, head: &str) -> Vec<&'a str> {
    let mut lines = out.lines().skip_while(|l| !l.contains(head));
    let Some(first) = lines.next() else {
        panic!("no answer starting {head:?} in:\n{out}");
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| !l.starts_with("[#") && !l.starts_with("» ") && !l.starts_with("you are ")))
        .collect()
}

/// Whether a history line shows a stored key or a machine timestamp.
fn speaks_in_keys(line: &str) -> bool {
    let keys = [
        "service_desk",
        "systems_support",
        "in_progress",
        "assign_incident",
        "update_incident",
    ];
    let rfc3339 = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}").unwrap();
    keys.iter().any(|k| line.contains(k)) || rfc3339.is_match(line)
}

#[tokio::test]
async fn show_and_history_say_who_did_what_in_words_and_page_the_whole_trail() {
    let db = TestDb::new();
    let mut script = String::from(
        "\
:as alice
!incident Mail is down service=email impact=medium urgency=high
:as sam Service Desk
!take INC-1
!status INC-1 in_progress waiting for logs
",
    );
    for n in 1..=12 {
        script.push_str(&format!("!note INC-1 check {n:02}\n"));
    }
    script.push_str(
        "\
!escalate INC-1 mailbox store corrupt
!show INC-1
!history INC-1
!history INC-1 page=2
!history INC-1 page=3
!history INC-9
!history INC-1 page=0
!history nonsense
:as bob
!history INC-1
:as alice
!history INC-1 page=2
",
    );
    let out = console(&db, &script, &[]);
    // 16 entries: logged, taken, moved, 12 notes, escalated.
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE subject = 'INC-1'").await,
        16
    );

    let show = answer_from(&out, "] **INC-1** · P2");
    let heading = show
        .iter()
        .position(|l| l.starts_with("History"))
        .expect("a history part");
    assert_eq!(
        show[heading], "History (8 earlier entries left out; `!history INC-1` shows the whole trail):",
        "{out}"
    );
    let lines = &show[heading + 1..];
    assert_eq!(lines.len(), 8, "{out}");
    let stamp =
        regex::Regex::new(r"^• (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{2}:\d{2} UTC · ").unwrap();
    for l in lines {
        assert!(stamp.is_match(l), "a readable date, then who: {l}");
        assert!(!speaks_in_keys(l), "{l}");
    }
    assert!(lines[0].ends_with(" · sam added a note: check 06"), "{}", lines[0]);
    assert!(
        lines[7].ends_with(
            " · sam escalated it to Systems Support (tier 2 of 3, from Service Desk): mailbox store corrupt"
        ),
        "{}",
        lines[7]
    );

    // Page 1: the start of the trail, oldest first, and where the rest is.
    let page1 = answer_from(
        &out,
        "] History of INC-1, oldest first: entries 1–15 of 16 (page 1 of 2)",
    );
    assert_eq!(page1.len(), 17, "heading, 15 lines, more: {page1:#?}");
    assert!(
        page1[1].ends_with(" · alice logged it as P2 (impact medium × urgency high) on Email, for Service Desk"),
        "{}",
        page1[1]
    );
    assert!(page1[2].ends_with(" · sam took it"), "{}", page1[2]);
    assert!(
        page1[3].ends_with(" · sam moved it from assigned to in progress: waiting for logs"),
        "{}",
        page1[3]
    );
    assert_eq!(page1[16], "More: `!history INC-1 page=2`.");
    assert!(page1[1..16].iter().all(|l| !speaks_in_keys(l)), "{page1:#?}");
    let page2 = answer_from(
        &out,
        "] History of INC-1, oldest first: entries 16–16 of 16 (page 2 of 2)",
    );
    assert_eq!(page2.len(), 2, "the last page says nothing follows: {page2:#?}");
    assert!(
        page2[1].contains(" · sam escalated it to Systems Support"),
        "{}",
        page2[1]
    );
    // The reporter reads the same trail.
    assert_eq!(
        lines_with(
            &out,
            "] History of INC-1, oldest first: entries 16–16 of 16 (page 2 of 2)"
        )
        .len(),
        2,
        "{out}"
    );

    // Bad input: clear, private replies.
    for refusal in [
        "(only sam)] INC-1 has 2 pages of history; there is no page 3. Try `!history INC-1 page=2`.",
        "(only sam)] INC-9 does not exist.",
        "(only sam)] Page must be a number from 1, not `0`. Usage: `!history INC-<n>|CHG-<n>|OUT-<n>|PRB-<n> [page=<n>]`",
        "(only sam)] `nonsense` is not an incident, change or outage id like INC-12, CHG-3 or OUT-2.",
        "(only bob)] INC-1 is not yours: only its reporter, its assignee, its assignment group, its service's owner and agents may see or change it.",
    ] {
        assert_eq!(lines_with(&out, refusal).len(), 1, "{refusal}\n{out}");
    }
    assert!(!out.contains("(only bob)] History of"), "{out}");
    // Reading changed nothing.
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE subject = 'INC-1'").await,
        16
    );
}

#[tokio::test]
async fn a_change_history_names_the_voters_and_their_ballots() {
    let db = TestDb::new();
    let from = (Utc::now() + TimeDelta::days(2)).format("%Y-%m-%dT%H:%M");
    let to = (Utc::now() + TimeDelta::days(2) + TimeDelta::hours(3)).format("%Y-%m-%dT%H:%M");
    console(
        &db,
        &format!(
            "\
:as alice Systems Support
!change Upgrade the MTA service=email risk=medium type=normal window={from}..{to}
:as carl Change Manager
!cab CHG-1
"
        ),
        &[],
    );
    let vote = text(&db, "SELECT message_id FROM cards WHERE subject = 'CHG-1'").await;
    let out = console(
        &db,
        &format!(
            "\
:as erin CAB
:react {vote} ✅
:as bob CAB
:react {vote} ❌
:react {vote} ✅
:as gina CAB
:react {vote} ➖
:unreact {vote} ➖
!history CHG-1
!show CHG-1
"
        ),
        &[],
    );
    let page = answer_from(&out, "] History of CHG-1, oldest first:");
    let said: Vec<&str> = page[1..].iter().map(|l| l.split(" · ").nth(1).unwrap_or(l)).collect();
    assert_eq!(
        said[2..],
        [
            "erin voted ✅ approve",
            "bob voted ❌ reject",
            "bob changed their vote from ❌ reject to ✅ approve",
            "gina voted ➖ abstain",
            "gina withdrew their ➖ abstain vote",
        ],
        "{out}"
    );
    assert!(
        said[0].starts_with("alice filed it: a normal change, risk medium, on Email, window "),
        "{}",
        said[0]
    );
    assert!(
        said[1].starts_with("carl called a CAB vote: quorum 3 of 5, 60% approval to pass, closes "),
        "{}",
        said[1]
    );
    assert!(page[1..].iter().all(|l| !speaks_in_keys(l)), "{page:#?}");
    // `!show CHG-1` lists the same entries, all of them (none left out).
    let show = answer_from(&out, "] **CHG-1**");
    assert!(show.contains(&"History:"), "{show:#?}");
    assert!(
        show.iter().any(|l| l.ends_with(" · erin voted ✅ approve")),
        "{show:#?}"
    );
}
