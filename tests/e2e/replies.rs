//! Answers longer than one Discord message arrive whole: split into several
//! messages of at most 2,000 characters, each but the last marked as
//! continued, nothing cut; a satisfaction question split off a long
//! resolution takes its 👍/👎 (and its record) on the part that asks. Through
//! the real `opsdesk console` and the real adapter against the fake Discord.

use opsdesk::desk::{Clock, Desk};
use opsdesk::render::{MESSAGE_LIMIT, MORE};
use opsdesk::store::Store;

use crate::bot::{self, assert_no_decode_problems};
use crate::fake_discord::{FakeDiscord, GuildSpec, InteractionSpec};
use crate::util::{console, scalar, text, TestDb};

/// A note body of about 250 characters that names its number.
fn note(n: usize) -> String {
    format!(
        "note {n:02}: {}",
        "checked the spooler queue and the driver again; ".repeat(5).trim_end()
    )
}

/// A resolution of about 3,000 characters, on one line.
fn long_resolution() -> String {
    "the resolver cache was flushed and the zone reloaded on both servers, "
        .repeat(43)
        .trim_end()
        .to_owned()
}

/// The messages of a console transcript: each starts with a `[#…]` line and
/// runs until the next one (or a `»` echo).
fn messages(out: &str) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for line in out.lines() {
        if line.starts_with("[#") || line.starts_with("» ") {
            all.push(line.to_owned());
        } else if let Some(last) = all.last_mut() {
            last.push('\n');
            last.push_str(line);
        }
    }
    all
}

/// A console message without its `[#channel #id …] ` head: what a chat shows.
fn body(message: &str) -> &str {
    message.split_once("] ").map_or(message, |(_, b)| b)
}

/// The id in a console message's head: `[#general #12] …` → "12".
fn id(message: &str) -> &str {
    let head = message.split(']').next().unwrap_or_default();
    head.rsplit('#')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
}

/// Checks that `parts` are one answer split as a chat shows it (every part
/// within the limit, all but the last marked) and returns it put together.
fn whole(parts: &[&str]) -> String {
    assert!(parts.len() > 1, "a long answer is several messages: {parts:?}");
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        let n = p.chars().count();
        assert!(n <= MESSAGE_LIMIT, "part {i} has {n} characters");
        if i + 1 < parts.len() {
            s.push_str(
                p.strip_suffix(MORE)
                    .unwrap_or_else(|| panic!("part {i} is not marked: {p}")),
            );
        } else {
            assert!(!p.ends_with(MORE), "the last part is marked");
            s.push_str(p);
        }
    }
    s
}

/// The consecutive messages of one answer: from the one starting with `head`
/// to the first without the continuation marker.
fn answer<'a>(all: &'a [String], head: &str) -> Vec<&'a str> {
    let start = all
        .iter()
        .position(|m| body(m).starts_with(head))
        .unwrap_or_else(|| panic!("no answer starting {head:?}"));
    let mut parts = Vec::new();
    for m in &all[start..] {
        parts.push(body(m));
        if !body(m).ends_with(MORE) {
            break;
        }
    }
    parts
}

#[tokio::test]
async fn a_long_show_in_the_console_lists_every_note_and_the_history_across_marked_messages() {
    let db = TestDb::new();
    let mut script = String::from(":as bob\n!incident Printer on fire\n:as sam Service Desk\n!take INC-1\n");
    for n in 1..=44 {
        script.push_str(&format!("!note INC-1 {}\n", note(n)));
    }
    script.push_str("!show INC-1\n");
    let out = console(&db, &script, &[]);
    let all = messages(&out);
    let parts = answer(&all, "**INC-1**");
    let shown = whole(&parts);
    println!(
        "!show with 44 notes: {} characters in {} messages",
        shown.chars().count(),
        parts.len()
    );
    assert!(shown.contains("\nNotes:\n"), "{shown}");
    for n in 1..=44 {
        assert!(
            shown.contains(&format!(" sam: {}\n", note(n))),
            "note {n} is missing:\n{shown}"
        );
    }
    // 46 entries (logged, taken, 44 notes): the latest 8, and what is left out.
    assert!(
        shown.contains("\nHistory (38 earlier entries left out; `!history INC-1` shows the whole trail):\n"),
        "{shown}"
    );
    let last = shown.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains(" · sam added a note: note 44: "),
        "the history runs to the end: {shown}"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incident_notes WHERE incident_id = 1").await,
        44
    );
}

#[tokio::test]
async fn a_long_outage_show_keeps_its_delivery_status_and_a_long_status_board_its_operational_list() {
    let db = TestDb::new();
    // Twelve more services, so the board has many outages and an operational list.
    let mut cfg = String::new();
    for n in 1..=12 {
        cfg.push_str(&format!(
            "[services.svc{n:02}]\nname = \"Service {n:02}\"\nowner = \"email_owner\"\ntiers = [\"service_desk\"]\n"
        ));
    }
    let cfg_path = db.dir.path().join("services.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let cfg_path = cfg_path.display().to_string();

    let summary = |s: &str| {
        format!(
            "{s} is down for everyone: {}",
            "mail queues back up and users see timeouts; ".repeat(5)
        )
    };
    let news = |n: usize| {
        format!(
            "update {n:02}: {}",
            "the vendor is rebuilding the cluster node by node; ".repeat(3)
        )
    };
    let mut script = String::from(":as alice\n!subscribe email\n:as sam Service Desk\n");
    script.push_str(&format!("!outage email {} impact=major\n", summary("Email")));
    for n in 1..=12 {
        script.push_str(&format!("!outage update OUT-1 {}\n", news(n)));
    }
    for n in 1..=6 {
        script.push_str(&format!("!outage svc{n:02} {}\n", summary(&format!("Service {n:02}"))));
        script.push_str(&format!("!outage update OUT-{} {}\n", n + 1, news(n)));
    }
    script.push_str("!outage show OUT-1\n!status\n");
    let out = console(&db, &script, &["--config", &cfg_path]);
    let all = messages(&out);

    let parts = answer(&all, "**🔴 OUT-1");
    let shown = whole(&parts);
    println!(
        "!outage show with 12 updates: {} characters in {} messages",
        shown.chars().count(),
        parts.len()
    );
    for n in 1..=12 {
        assert!(
            shown.contains(&format!("update {n:02}:")),
            "update {n} is missing:\n{shown}"
        );
    }
    assert!(shown.contains("\nSubscribers: 1 reachable, 0 unreachable\n"), "{shown}");
    assert!(shown.contains("\nDirect messages: "), "{shown}");

    let parts = answer(&all, "Current outages:");
    let board = whole(&parts);
    println!(
        "!status with 7 outages: {} characters in {} messages",
        board.chars().count(),
        parts.len()
    );
    assert_eq!(board.matches(" outage: ").count(), 7, "{board}");
    assert!(
        board
            .trim_end()
            .ends_with("Operational: payroll, svc07, svc08, svc09, svc10, svc11, svc12, vpn."),
        "{board}"
    );
}

#[tokio::test]
async fn a_question_split_off_a_long_resolution_takes_its_reactions_on_the_part_that_asks_in_the_console() {
    let db = TestDb::new();
    let cfg = db.dir.path().join("long.toml");
    std::fs::write(&cfg, "[limits]\nnote_max = 4000\n").unwrap();
    let cfg = cfg.display().to_string();
    let script = format!(
        ":as bob\n!incident DNS lookups fail\n:as sam Service Desk\n!take INC-1\n!status INC-1 in_progress\n!resolve INC-1 {}\n",
        long_resolution()
    );
    let out = console(&db, &script, &["--config", &cfg]);
    let all = messages(&out);
    let parts = answer(&all, "@bob bob: INC-1 was resolved by sam:");
    let notice = whole(&parts);
    assert!(notice.contains(&long_resolution()), "{notice}");
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    assert!(!first.contains("+ reactions"), "{first}");
    assert!(
        last.contains("Is it fixed? React 👍") && last.ends_with("+ reactions: 👍 👎"),
        "{last}"
    );
    let asking = all.iter().find(|m| body(m) == last).unwrap();
    let opening = all.iter().find(|m| body(m) == first).unwrap();

    // The answer is read from the message that asks; the other part is not the question.
    let out = console(
        &db,
        &format!(":as bob\n:react {} 👍\n:react {} 👍\n", id(opening), id(asking)),
        &["--config", &cfg],
    );
    assert_eq!(out.matches("Thanks! INC-1 is closed.").count(), 1, "{out}");
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "closed");
    assert_eq!(
        text(&db, "SELECT answer FROM surveys WHERE incident_id = 1").await,
        "fixed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_discord_a_long_show_is_several_messages_and_a_split_question_takes_its_reactions_where_it_asks() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let (general, desk_ch) = (spec.channel_id("general"), spec.channel_id("service-desk"));
    let (alice, bob) = (spec.user_id("alice"), spec.user_id("bob"));
    // Long resolutions allowed; the 44 thread posts prepared below delivered at once.
    let policy = || {
        bot::policy_with(
            &fake,
            &[
                ("OPSDESK_LIMITS__NOTE_MAX", "4000"),
                ("OPSDESK_DISCORD__CHANNEL_MESSAGES_PER_5S", "500"),
            ],
        )
    };
    {
        let desk = Desk::new(Store::open(&db.url()).await.unwrap(), policy(), Clock::system());
        let sd = ["Service Desk"];
        bot::say(&desk, "log", bob, "bob", &[], "!incident Printer on fire").await;
        bot::say(&desk, "take", alice, "alice", &sd, "!take INC-1").await;
        bot::say(&desk, "work", alice, "alice", &sd, "!status INC-1 in_progress").await;
        for n in 1..=44 {
            let reply = bot::say(
                &desk,
                &format!("note{n}"),
                alice,
                "alice",
                &sd,
                &format!("!note INC-1 {}", note(n)),
            )
            .await;
            assert_eq!(reply, "Note added to INC-1.");
        }
        desk.store().close().await;
    }
    let bot = bot::start_with(&fake, &db, policy()).await;

    let asked = fake.inject_message(general, alice, "!show INC-1");
    bot::eventually(&fake, "the whole answer to !show", || {
        let sent = fake.bot_messages(general);
        sent.len() > 1 && sent.last().is_some_and(|m| !m.content().ends_with(MORE))
    })
    .await;
    let sent = fake.bot_messages(general);
    let parts: Vec<&str> = sent.iter().map(|m| m.content()).collect();
    let shown = whole(&parts);
    println!(
        "!show on Discord: {} characters in {} messages",
        shown.chars().count(),
        parts.len()
    );
    assert_eq!(
        sent[0].json["message_reference"]["message_id"].as_str(),
        Some(asked.to_string().as_str()),
        "the first part answers the command"
    );
    for n in 1..=44 {
        assert!(shown.contains(&format!(" alice: {}\n", note(n))), "note {n} is missing");
    }
    assert!(
        shown.contains("\nHistory (39 earlier entries left out; `!history INC-1` shows the whole trail):\n"),
        "{shown}"
    );

    // As a slash command: the first part is the response, the rest follow it up.
    let (interaction, _) =
        fake.inject_interaction(InteractionSpec::slash("show", alice, general).string("id", "INC-1"));
    let (first, private) = bot::slash_answer(&fake, interaction).await;
    assert!(!private && first.starts_with("**INC-1**"), "{first}");
    let followups = || {
        let rec = fake.interaction(interaction).unwrap();
        rec.followup_message_ids
            .iter()
            .filter_map(|id| fake.message(*id))
            .collect::<Vec<_>>()
    };
    bot::eventually(&fake, "the follow-ups", || {
        followups().last().is_some_and(|m| !m.content().ends_with(MORE))
    })
    .await;
    let rest = followups();
    let mut parts = vec![first.as_str()];
    parts.extend(rest.iter().map(|m| m.content()));
    assert_eq!(whole(&parts), shown, "the same answer as to !show");
    assert!(rest
        .iter()
        .all(|m| m.create_body.as_ref().unwrap()["flags"].as_u64().unwrap_or(0) & 64 == 0));

    // A resolution too long to share a message with the question.
    let resolution = long_resolution();
    fake.inject_message(general, alice, &format!("!resolve INC-1 {resolution}"));
    let thread = fake
        .threads()
        .into_iter()
        .find(|t| t.parent_id == desk_ch)
        .expect("the incident's thread")
        .id;
    let asks = |m: &crate::fake_discord::StoredMessage| m.content().contains("Is it fixed? React 👍");
    bot::eventually(&fake, "the question with the bot's 👍 and 👎", || {
        fake.bot_messages(thread).iter().any(|m| {
            asks(m) && m.reactors("👍").contains(&spec.bot_user_id) && m.reactors("👎").contains(&spec.bot_user_id)
        })
    })
    .await;
    let posts = fake.bot_messages(thread);
    let start = posts
        .iter()
        .position(|m| m.content().contains("INC-1 was resolved by alice"))
        .unwrap();
    let end = posts.iter().position(asks).unwrap();
    let question: Vec<&str> = posts[start..=end].iter().map(|m| m.content()).collect();
    let notice = whole(&question);
    assert!(
        notice.starts_with(&format!("<@{bob}> bob: INC-1 was resolved by alice: ")),
        "{notice}"
    );
    assert!(notice.contains(&resolution));
    for m in &posts[start..end] {
        assert!(
            m.reactions.is_empty(),
            "only the asking part has reactions: {:?}",
            m.reactions
        );
    }
    // Each part has its own nonce, so a redelivery finds every part.
    let nonces: Vec<String> = posts[start..=end]
        .iter()
        .map(|m| m.create_body.as_ref().unwrap()["nonce"].as_str().unwrap().to_owned())
        .collect();
    assert!(nonces.iter().all(|n| n.len() <= 25), "{nonces:?}");
    assert_eq!(
        nonces.iter().collect::<std::collections::HashSet<_>>().len(),
        nonces.len()
    );

    // The reporter answers on the message that asks.
    let asking = posts[end].id;
    fake.inject_reaction_add(thread, asking, bob, "👍");
    bot::eventually(&fake, "the thanks", || {
        fake.bot_messages(thread)
            .iter()
            .any(|m| m.content() == "Thanks! INC-1 is closed.")
    })
    .await;
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "closed");
    bot.stop().await;
    assert_no_decode_problems();
}
