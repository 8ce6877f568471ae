//! Proofs that need Discord: the real adapter (or the real binary) against the
//! fake Discord on 127.0.0.1, on real SQLite files.
//!
//! * mention safety: hostile text in every user-text field pings nobody;
//! * faults: 429/500 on 20 % of sends, every message delivered exactly once;
//! * replay: every gateway event twice, duplicates shuffled in later → the same
//!   database and the same replies as delivering each once;
//! * crash consistency: `kill -9` of `opsdesk run` at random points while
//!   more than 1,000 incidents are created and their notices sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Stdio};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::bot::{self, assert_no_decode_problems, WAIT};
use crate::fake_discord::{CallMatcher, FakeDiscord, GuildSpec, InteractionSpec, MemberSpec};
use crate::proofs::Rng;
use crate::util::TestDb;

/// Pacing off for the tests that push many messages through one channel (the
/// fake does not enforce Discord's budgets unless asked).
const FAST: &[(&str, &str)] = &[
    ("OPSDESK_DISCORD__REQUESTS_PER_SECOND", "100000"),
    ("OPSDESK_DISCORD__CHANNEL_MESSAGES_PER_5S", "100000"),
];

async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    n
}

/// Waits until the async `check` holds, re-checking after every REST call the
/// bot makes (no polling, no sleeps); `within` bounds the wait.
pub(crate) async fn until<F, Fut>(fake: &FakeDiscord, what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = fake.call_count();
        if check().await {
            return;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        // The bot commits what a call did (an outbox row's mark) after the
        // call itself, so the last change comes with no call after it: look
        // again at least every 100 ms.
        let _ = fake
            .wait_for_call(CallMatcher::any(), seen, left.min(Duration::from_millis(100)))
            .await;
    }
}

async fn text(db: &TestDb, sql: &str) -> String {
    let (t,): (String,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    t
}

async fn outbox_drained(db: &TestDb) -> bool {
    scalar(
        db,
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
    )
    .await
        == 0
}

fn is_send(call: &crate::fake_discord::Call) -> bool {
    call.is("POST /channels/{c}/messages")
        || call.is("PATCH /channels/{c}/messages/{m}")
        || call.is("POST /interactions/{i}/{t}/callback")
        || call.is("PATCH /webhooks/{a}/{t}/messages/{m}")
        || call.is("POST /webhooks/{a}/{t}")
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().and_then(|s| s.parse().ok()).or_else(|| x.as_u64()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every string a user would read in a message body: content and embed text.
fn visible_text(body: &Value, out: &mut Vec<String>) {
    if let Some(c) = body["content"].as_str() {
        out.push(c.to_owned());
    }
    for e in body["embeds"].as_array().into_iter().flatten() {
        for key in ["title", "description"] {
            if let Some(t) = e[key].as_str() {
                out.push(t.to_owned());
            }
        }
        if let Some(t) = e["footer"]["text"].as_str() {
            out.push(t.to_owned());
        }
        for f in e["fields"].as_array().into_iter().flatten() {
            for key in ["name", "value"] {
                if let Some(t) = f[key].as_str() {
                    out.push(t.to_owned());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mention safety
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_in_every_user_field_pings_nobody_the_bot_did_not_mean_to() {
    let mut spec = GuildSpec::service_desk_default();
    let (cab, eli, guild) = (spec.role_id("CAB"), spec.user_id("eli"), spec.guild_id);
    let sd = spec.role_id("Service Desk");
    // Display names are user text too.
    let mallory = 1_200_000_000_000_000_499u64;
    let mal_agent = 1_200_000_000_000_000_498u64;
    spec.members.push(MemberSpec {
        user_id: mallory,
        username: format!("@everyone <@&{cab}> <@{eli}>"),
        role_ids: vec![],
        dms_closed: false,
    });
    spec.members.push(MemberSpec {
        user_id: mal_agent,
        username: format!("@here<@!{eli}>"),
        role_ids: vec![sd],
        dms_closed: false,
    });
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let bot = bot::start_with(&fake, &db, bot::policy_with(&fake, FAST)).await;
    let general = spec.channel_id("general");

    let corpus: Vec<String> = vec![
        "@everyone".into(),
        "@here".into(),
        "@\u{200B}everyone".into(),
        "@\u{200D}here".into(),
        "@\u{2060}everyone".into(),
        "＠everyone".into(),
        "@@everyone".into(),
        "@everyone@here".into(),
        format!("<@&{cab}>"),
        format!("<@&{guild}>"),
        format!("<@{eli}>"),
        format!("<@!{eli}>"),
        format!("<\u{200B}@&{cab}>"),
        format!("<@\u{200D}{eli}>"),
        format!("<@&\u{200B}{cab}>"),
        // Not mentions: shown as typed.
        "bob@example.com".into(),
        "@bob".into(),
        "@alice,".into(),
        // Bidirectional overrides and isolates: shown neutralised.
        "\u{202E}gnp.exe\u{202C}".into(),
        "\u{202A}\u{202B}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}".into(),
    ];
    let hostile = corpus.join(" ");
    let half = corpus.len() / 2;
    let (first, second) = (corpus[..half].join(" "), corpus[half..].join(" "));

    let replies = |fake: &FakeDiscord| fake.bot_messages(general).len();
    let mut expected_replies = 0;
    let mut say = |who: u64, text: String| {
        fake.inject_message(general, who, &text);
        expected_replies += 1;
        expected_replies
    };
    // Titles, services, categories, unknown commands and bad arguments (echoed back).
    for (who, text) in [
        (mallory, format!("!incident {first}")),
        (mallory, format!("!incident {second} impact=high")),
        (mallory, format!("!incident x service=<@&{cab}>")),
        (mallory, "!incident x service=@everyone".to_owned()),
        (mallory, "!incident x category=@here".to_owned()),
        (mallory, format!("!<@&{cab}>")),
        (mallory, "!@everyone".to_owned()),
        (mallory, format!("!show <@&{cab}>")),
        (mallory, "!status INC-1 @everyone".to_owned()),
    ] {
        let n = say(who, text);
        bot::eventually(&fake, "a reply", || replies(&fake) >= n).await;
    }
    // Notes, reasons, resolutions, assignment, by a hostile-named agent and reporter.
    for (who, text) in [
        (mal_agent, "!take INC-1".to_owned()),
        (mal_agent, format!("!assign INC-2 <@{mallory}>")),
        (mal_agent, format!("!note INC-1 {hostile}")),
        (mallory, format!("!note INC-1 {hostile}")),
        (mal_agent, format!("!status INC-1 in_progress {first}")),
        (mal_agent, format!("!status INC-1 on_hold {second}")),
        (mal_agent, "!status INC-1 in_progress".to_owned()),
        (mal_agent, format!("!resolve INC-1 {hostile}")),
        (mallory, format!("!reopen INC-1 {first}")),
        (mal_agent, format!("!resolve INC-1 {second}")),
        (mallory, "!close INC-1".to_owned()),
        (mal_agent, "!show INC-1".to_owned()),
        (mal_agent, "!incidents all".to_owned()),
        (mal_agent, format!("!whois {first}")),
        (mal_agent, format!("!raci {first}")),
        (mal_agent, format!("!help {first}")),
    ] {
        let n = say(who, text);
        bot::eventually(&fake, "a reply", || replies(&fake) >= n).await;
    }
    // 🎫 on a hostile message logs it with its first line as the title.
    let msg = fake.inject_message(general, mallory, &format!("{first}\n{second}"));
    fake.inject_reaction_add(general, msg, spec.user_id("alice"), "🎫");
    // Slash commands carry user text too.
    let (slash, _) = fake.inject_interaction(
        InteractionSpec::slash("incident", mallory, general)
            .string("title", second.clone())
            .string("category", "@everyone"),
    );
    fake.wait_for_interaction_response(slash, WAIT)
        .await
        .expect("slash answered");
    let (slash, _) = fake.inject_interaction(
        InteractionSpec::slash("note", mallory, general)
            .string("id", "INC-2")
            .string("text", hostile.clone()),
    );
    fake.wait_for_interaction_response(slash, WAIT)
        .await
        .expect("slash answered");
    // Everything committed is delivered before the payloads are judged.
    until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
    assert!(scalar(&db, "SELECT COUNT(*) FROM incidents").await >= 4);

    // The bot means to ping: the responsible role on new cards, the reporter and assignee.
    let intended_roles = [sd];
    let intended_users = [mallory, mal_agent];
    let role_mention = Regex::new(r"<@&(\d+)>").unwrap();
    let user_mention = Regex::new(r"<@!?(\d+)>").unwrap();
    let mut judged = 0;
    let mut problems = Vec::new();
    let mut addresses_as_typed = 0;
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    for call in fake.calls().into_iter().filter(|c| is_send(c) && c.body.is_some()) {
        let body = call.body.clone().unwrap();
        let payload = if call.is("POST /interactions/{i}/{t}/callback") {
            body["data"].clone()
        } else {
            body
        };
        judged += 1;
        let am = &payload["allowed_mentions"];
        if !am.is_object() {
            problems.push(format!("no allowed_mentions: {call}"));
            continue;
        }
        if !am["parse"].as_array().is_some_and(|p| p.is_empty()) {
            problems.push(format!("allowed_mentions.parse is not empty: {call}"));
        }
        if am["replied_user"].as_bool() == Some(true) {
            problems.push(format!("replied_user pings: {call}"));
        }
        for r in ids(&am["roles"]) {
            if !intended_roles.contains(&r) {
                problems.push(format!("role {r} may ping: {call}"));
            }
        }
        for u in ids(&am["users"]) {
            if !intended_users.contains(&u) {
                problems.push(format!("user {u} may ping: {call}"));
            }
        }
        let mut texts = Vec::new();
        visible_text(&payload, &mut texts);
        for t in texts {
            if t.contains("bob@example.com @bob @alice,") {
                addresses_as_typed += 1;
            }
            if t.chars().any(bidi) {
                problems.push(format!("a bidirectional override in {t:?}: {call}"));
            }
            if t.contains("@everyone") || t.contains("@here") {
                problems.push(format!("unbroken @everyone/@here in {t:?}: {call}"));
            }
            for c in role_mention.captures_iter(&t) {
                if !intended_roles.contains(&c[1].parse::<u64>().unwrap_or(0)) {
                    problems.push(format!("role mention {} in {t:?}: {call}", &c[0]));
                }
            }
            for c in user_mention.captures_iter(&t) {
                if !intended_users.contains(&c[1].parse::<u64>().unwrap_or(0)) {
                    problems.push(format!("user mention {} in {t:?}: {call}", &c[0]));
                }
            }
        }
    }
    assert!(judged >= 40, "only {judged} payloads were judged");
    assert!(
        addresses_as_typed >= 5,
        "`bob@example.com @bob @alice,` shown as typed in only {addresses_as_typed} texts"
    );
    assert!(
        problems.is_empty(),
        "{} unsafe payloads:\n{}",
        problems.len(),
        problems.join("\n")
    );
    bot.stop().await;
    assert_no_decode_problems();
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/// Bot messages by the outbox nonce they were created with (`opsdesk-<row>`).
fn by_nonce(fake: &FakeDiscord, channels: &[u64]) -> HashMap<String, Vec<u64>> {
    let mut out: HashMap<String, Vec<u64>> = HashMap::new();
    for ch in channels {
        for m in fake.bot_messages(*ch) {
            if let Some(n) = m.create_body.as_ref().and_then(|b| b["nonce"].as_str()) {
                out.entry(n.to_owned()).or_default().push(m.id);
            }
        }
    }
    out
}

/// Every channel the bot could have written to: the guild's, threads and DMs.
fn all_channels(fake: &FakeDiscord) -> Vec<u64> {
    let spec = fake.spec();
    let mut chans: Vec<u64> = spec.channels.iter().map(|c| c.id).collect();
    chans.extend(fake.threads().iter().map(|t| t.id));
    chans.extend(spec.members.iter().filter_map(|m| fake.dm_channel(m.user_id)));
    chans
}

/// Each outbox row delivered, and seen by Discord users exactly once, in the
/// right place (a thread message in its incident's card thread).
async fn assert_outbox_delivered_once(fake: &FakeDiscord, db: &TestDb) {
    let mut conn = db.conn().await;
    type Row = (i64, String, Option<String>, String, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, subject, destination, platform_message_id FROM outbox WHERE delivered_at IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending, 0, "undelivered outbox rows");
    let cards: HashMap<String, (String, Option<String>)> =
        sqlx::query_as::<_, (String, String, Option<String>)>("SELECT subject, message_id, thread_id FROM cards")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|(s, m, t)| (s, (m, t)))
            .collect();
    let seen = by_nonce(fake, &all_channels(fake));
    let mut problems = Vec::new();
    for (id, kind, subject, destination, platform) in &rows {
        let nonce = format!("opsdesk-{id}");
        let copies = seen.get(&nonce).map_or(0, Vec::len);
        // A card edit is a PATCH of the card's message, not a new message.
        let edited = kind == "card"
            && copies == 0
            && platform
                .as_deref()
                .and_then(|p| p.parse::<u64>().ok())
                .and_then(|p| fake.message(p))
                .is_some_and(|m| !m.edit_bodies.is_empty());
        if !edited && copies != 1 {
            problems.push(format!("outbox {id} ({kind} {destination}) is seen {copies} times"));
        }
        if destination.contains("Thread") {
            let subject = subject.clone().unwrap_or_default();
            let (card, thread) = cards.get(&subject).cloned().unwrap_or_default();
            let msg = platform
                .as_deref()
                .and_then(|p| p.parse::<u64>().ok())
                .and_then(|p| fake.message(p));
            let channel = msg.map(|m| m.channel_id.to_string());
            if thread.is_none() || channel != thread {
                problems.push(format!(
                    "outbox {id} for {subject} landed in {channel:?}, not its card {card}'s thread {thread:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let nonces: BTreeSet<&String> = seen.keys().filter(|n| n.starts_with("opsdesk-")).collect();
    assert!(nonces.len() <= rows.len(), "messages no outbox row asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fifth_of_sends_failing_every_message_is_delivered_exactly_once() {
    let spec = GuildSpec::service_desk_default();
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let bot = bot::start_with(&fake, &db, bot::policy_with(&fake, FAST)).await;
    fake.fail_randomly(
        CallMatcher::custom(|method, path| {
            (method == "POST" || method == "PATCH")
                && path.starts_with("/channels/")
                && (path.ends_with("/messages") || path.contains("/messages/") || path.ends_with("/threads"))
        }),
        0.2,
        0x5EED_0007,
    );
    let (general, bob, alice) = (spec.channel_id("general"), spec.user_id("bob"), spec.user_id("alice"));
    let n = 12;
    let mut asked = Vec::new();
    for i in 1..=n {
        asked.push(fake.inject_message(general, bob, &format!("!incident Fault test {i}")));
    }
    for i in 1..=4 {
        asked.push(fake.inject_message(general, alice, &format!("!take INC-{i}")));
        asked.push(fake.inject_message(general, alice, &format!("!note INC-{i} looking")));
    }
    let answered = |fake: &FakeDiscord| -> BTreeMap<u64, usize> {
        let mut m = BTreeMap::new();
        for msg in fake.bot_messages(general) {
            if let Some(r) = msg.json["message_reference"]["message_id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
            {
                *m.entry(r).or_insert(0) += 1;
            }
        }
        m
    };
    bot::eventually(&fake, "every command answered", || answered(&fake).len() >= asked.len()).await;
    until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
    let faults = fake.faults_served();
    assert!(faults.total() >= 5, "the faults were served: {faults:?}");
    let replies = answered(&fake);
    for m in &asked {
        assert_eq!(
            replies.get(m),
            Some(&1),
            "command message {m} answered once: {replies:?}"
        );
    }
    bot.stop().await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, n);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL").await,
        0
    );
    assert_outbox_delivered_once(&fake, &db).await;
    assert_no_decode_problems();
}

// ---------------------------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------------------------

/// What the database says happened, without the ids and times that differ between runs.
async fn db_state(db: &TestDb) -> Vec<String> {
    let mut conn = db.conn().await;
    let mut out = Vec::new();
    for sql in [
        "SELECT 'incident ' || id || '|' || title || '|' || impact || '|' || urgency || '|' || priority || '|' ||
                COALESCE(service, '-') || '|' || COALESCE(category, '-') || '|' || state || '|' || reporter || '|' ||
                COALESCE(CAST(assignee AS TEXT), '-') || '|' || handler_role || '|' || tier || '|' || COALESCE(resolution, '-') || '|' ||
                (source_message IS NOT NULL) FROM incidents ORDER BY id",
        "SELECT 'audit ' || COALESCE(CAST(actor AS TEXT), '-') || '|' || action || '|' || subject || '|' || details FROM audit ORDER BY id",
        "SELECT 'outbox ' || kind || '|' || COALESCE(subject, '-') || '|' || destination || '|' || (delivered_at IS NOT NULL)
           FROM outbox ORDER BY id",
        "SELECT 'note ' || incident_id || '|' || author || '|' || body FROM incident_notes ORDER BY id",
        "SELECT 'user ' || id || '|' || display_name FROM users ORDER BY id",
        "SELECT 'events ' || COUNT(*) FROM inbound_events",
        "SELECT 'card ' || subject || '|' || (thread_id IS NOT NULL) FROM cards ORDER BY subject",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await.expect(sql);
        out.extend(rows);
    }
    out
}

/// What users read: each channel's bot messages (by channel name, thread name or DM user),
/// with clock times masked (two runs straddle a minute).
fn transcript(fake: &FakeDiscord) -> BTreeMap<String, Vec<String>> {
    // Stamps, due times (`Wed 2 Dec 04:09 UTC`), ages (`opened 1m ago`) and,
    // in business hours, the SLA clocks' spans (`elapsed 1 business second`,
    // `3 business hours 59m left`) move with the wall clock.
    let times = Regex::new(
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC|<t:\d+:R>|[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d{2}:\d{2} UTC|opened [^·\n]+ ago|elapsed [^·\n]+|\d[^·()\n]* left",
    )
    .unwrap();
    let mut out = transcript_raw(fake);
    for lines in out.values_mut() {
        for l in lines.iter_mut() {
            *l = times.replace_all(l, "<time>").into_owned();
        }
    }
    out
}

fn transcript_raw(fake: &FakeDiscord) -> BTreeMap<String, Vec<String>> {
    let spec = fake.spec();
    let mut out = BTreeMap::new();
    for c in &spec.channels {
        out.insert(
            format!("#{}", c.name),
            fake.bot_messages(c.id).iter().map(|m| m.content().to_owned()).collect(),
        );
    }
    for t in fake.threads() {
        out.insert(
            format!("thread {}", t.name),
            fake.bot_messages(t.id).iter().map(|m| m.content().to_owned()).collect(),
        );
    }
    for m in &spec.members {
        if let Some(dm) = fake.dm_channel(m.user_id) {
            out.insert(
                format!("dm {}", m.username),
                fake.bot_messages(dm).iter().map(|m| m.content().to_owned()).collect(),
            );
        }
    }
    let answered: Vec<String> = fake
        .interactions()
        .iter()
        .map(|i| {
            format!(
                "{} → {}",
                i.name,
                i.callback
                    .as_ref()
                    .map_or("-".into(), |c| c["data"]["content"].to_string())
            )
        })
        .collect();
    out.insert("interactions".into(), answered);
    out
}

/// Runs one scenario, each event delivered once, or (`duplicates`) each delivered a
/// second time later, the duplicates shuffled in among the events that follow.
async fn replay_run(duplicates: bool, seed: u64) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let spec = GuildSpec::service_desk_default();
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let bot = bot::start_with(&fake, &db, bot::policy_with(&fake, FAST)).await;
    let (general, bob, alice) = (spec.channel_id("general"), spec.user_id("bob"), spec.user_id("alice"));
    let mut rng = Rng::new(seed);
    let mut pool: Vec<(String, Value)> = Vec::new();
    let mut replies = 0;
    let replies_in = |fake: &FakeDiscord| fake.bot_messages(general).len();

    enum Step {
        Say(u64, &'static str),
        Chat(u64, &'static str),
        Ticket(u64),
        Slash(u64, &'static str),
    }
    let steps = [
        Step::Say(bob, "!incident Printer on fire impact=high urgency=high"),
        Step::Say(bob, "!incident VPN flaky service=vpn"),
        Step::Say(alice, "!take INC-1"),
        Step::Say(alice, "!note INC-1 checked the toner"),
        Step::Say(bob, "!frob"),
        Step::Chat(bob, "the wifi is down on floor 2"),
        Step::Ticket(alice),
        Step::Slash(bob, "Mail is slow"),
        Step::Say(alice, "!status INC-1 in_progress"),
        Step::Say(alice, "!resolve INC-1 new toner"),
        Step::Say(bob, "!close INC-1"),
        Step::Say(bob, "!show INC-2"),
    ];
    let mut last_chat = 0;
    for step in steps {
        match step {
            Step::Say(who, text) => {
                fake.inject_message(general, who, text);
                replies += 1;
            }
            Step::Chat(who, text) => last_chat = fake.inject_message(general, who, text),
            Step::Ticket(who) => {
                fake.inject_reaction_add(general, last_chat, who, "🎫");
                replies += 1;
            }
            Step::Slash(who, title) => {
                let (id, _) =
                    fake.inject_interaction(InteractionSpec::slash("incident", who, general).string("title", title));
                pool.push(fake.last_injected().expect("injected"));
                fake.wait_for_interaction_response(id, WAIT).await.expect("answered");
                // The response is a message in the channel too.
                replies += 1;
                continue;
            }
        }
        pool.push(fake.last_injected().expect("injected"));
        bot::eventually(&fake, "the step's reply", || replies_in(&fake) >= replies).await;
        if duplicates {
            // Some earlier events come again now, in random order; the rest later.
            rng.shuffle(&mut pool);
            let k = rng.below(pool.len() + 1);
            for (t, d) in pool.drain(..k) {
                fake.inject_raw(&t, d);
            }
        } else {
            pool.clear();
        }
    }
    for (t, d) in pool.drain(..) {
        if duplicates {
            fake.inject_raw(&t, d);
        }
    }
    // Round trips after the last duplicate, then everything delivered, then one more.
    fake.inject_message(general, bob, "!incidents");
    replies += 1;
    bot::eventually(&fake, "the list", || replies_in(&fake) >= replies).await;
    until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
    fake.inject_message(general, bob, "!help");
    replies += 1;
    bot::eventually(&fake, "the help", || replies_in(&fake) >= replies).await;
    bot.stop().await;
    (db_state(&db).await, transcript(&fake))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_delivered_twice_in_shuffled_duplicates_changes_nothing_and_says_nothing_more() {
    let (once_db, once_said) = replay_run(false, 1).await;
    let (twice_db, twice_said) = replay_run(true, 0xD0_0B1E).await;
    assert!(
        once_db.iter().any(|r| r.starts_with("incident 3|the wifi is down")),
        "{once_db:#?}"
    );
    assert_eq!(once_db, twice_db, "the database differs when every event comes twice");
    // Messages about different records may share a channel in either order
    // (an urgent record's go first: the outbox's lanes); a record's own
    // messages keep theirs (each thread is compared as it is).
    let shared_channels_sorted = |mut said: BTreeMap<String, Vec<String>>| {
        for (channel, lines) in said.iter_mut() {
            if channel.starts_with('#') {
                lines.sort();
            }
        }
        said
    };
    let (once_said, twice_said) = (shared_channels_sorted(once_said), shared_channels_sorted(twice_said));
    assert_eq!(
        once_said, twice_said,
        "users read something different when every event comes twice"
    );
    assert_no_decode_problems();
}

// ---------------------------------------------------------------------------------------------
// Crash consistency
// ---------------------------------------------------------------------------------------------

/// `opsdesk run` as an operator starts it, against the fake, logs in the test dir.
/// Odd rounds run with `database_durability = "normal"`: a commit that is not
/// fsynced must still survive the process being killed.
fn spawn_bot(fake: &FakeDiscord, db: &TestDb, round: usize) -> Child {
    spawn_bot_with(fake, db, round, &[])
}

/// [`spawn_bot`] with more settings (`OPSDESK_…` names).
fn spawn_bot_with(fake: &FakeDiscord, db: &TestDb, round: usize, extra: &[(&str, &str)]) -> Child {
    let log = std::fs::File::create(db.dir.path().join(format!("bot-{round}.log"))).expect("log file");
    crate::util::opsdesk()
        .args(["--database", &db.url(), "run"])
        .env("DISCORD_TOKEN", &fake.spec().token)
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_GATEWAY_URL", fake.gateway_url())
        .envs(FAST.iter().copied())
        .env(
            "OPSDESK_DATABASE_DURABILITY",
            if round % 2 == 1 { "normal" } else { "full" },
        )
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .current_dir(db.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn opsdesk run")
}

/// Title → incident id, as committed.
async fn committed(db: &TestDb) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>("SELECT title, id FROM incidents")
        .fetch_all(&mut db.conn().await)
        .await
        .expect("incidents")
        .into_iter()
        .collect()
}

/// Every committed incident carries its audit row and its outbox rows, and the file is sound.
async fn assert_consistent(db: &TestDb, when: &str) {
    let mut conn = db.conn().await;
    // SQLite's file is checked page by page; PostgreSQL's server checks its own.
    if !db.is_postgres() {
        let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(ok, "ok", "integrity_check {when}");
    }
    let orphans: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM incidents i WHERE
            NOT EXISTS (SELECT 1 FROM audit a WHERE a.subject = 'INC-' || i.id AND a.action = 'log_incident')
         OR (SELECT COUNT(*) FROM outbox o WHERE o.subject = 'INC-' || i.id) < 2",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        orphans.is_empty(),
        "{when}: incidents missing audit or outbox rows: {orphans:?}"
    );
    let stray: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit a WHERE a.action = 'log_incident'
           AND NOT EXISTS (SELECT 1 FROM incidents i WHERE 'INC-' || i.id = a.subject)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(stray, 0, "{when}: audit rows for incidents that do not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_random_points_loses_no_committed_incident_and_sends_nothing_twice() {
    let total = crate::proofs::env_number("OPSDESK_CRASH_INCIDENTS", 1_000) as usize;
    let kills = 4;
    let spec = GuildSpec::service_desk_default();
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let (general, bob) = (spec.channel_id("general"), spec.user_id("bob"));
    let mut rng = Rng::new(crate::proofs::env_number("OPSDESK_CRASH_SEED", 0x00C4_A511));
    let titles: Vec<String> = (0..total).map(|i| format!("Crash test incident {i:04}")).collect();
    let mut asked: HashMap<u64, usize> = HashMap::new();
    let mut known: BTreeMap<String, i64> = BTreeMap::new();
    let mut next = 0;
    let per_round = total.div_ceil(kills + 1);
    for round in 0..=kills {
        let mut child = spawn_bot(&fake, &db, round);
        fake.wait_for_gateway("the bot's session", |s| s.identifies > round && s.connected, WAIT)
            .await
            .expect("the bot connects");
        // Messages the dead bot never committed are typed again (their gateway
        // session is gone: a fresh process IDENTIFYs, it does not RESUME).
        let again: Vec<usize> = (0..next).filter(|i| !known.contains_key(&titles[*i])).collect();
        let fresh = next..(next + per_round).min(total);
        next = fresh.end;
        let from = fake.call_count();
        for i in again.into_iter().chain(fresh) {
            let id = fake.inject_message(general, bob, &format!("!incident {}", titles[i]));
            asked.insert(id, i);
        }
        if round < kills {
            // A random point: after a random number of the bot's REST calls.
            let k = 20 + rng.below(per_round * 3);
            fake.wait_for_call(CallMatcher::any(), from + k, Duration::from_secs(60))
                .await
                .expect("the bot makes progress");
        } else {
            until(
                &fake,
                "every incident committed and delivered",
                Duration::from_secs(180),
                || async { committed(&db).await.len() == total && outbox_drained(&db).await },
            )
            .await;
        }
        child.kill().expect("kill -9");
        child.wait().expect("the bot is gone");
        let now = committed(&db).await;
        for (title, id) in &known {
            assert_eq!(
                now.get(title),
                Some(id),
                "round {round}: committed incident {title} was lost"
            );
        }
        assert_consistent(&db, &format!("after kill {round}")).await;
        eprintln!(
            "crash proof: kill {round}: {} incidents committed, {} messages typed so far",
            now.len(),
            asked.len()
        );
        known = now;
    }

    // Every incident once; every acknowledgement true.
    assert_eq!(known.len(), total, "every incident committed");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents").await as usize,
        total,
        "no incident twice"
    );
    let by_id: HashMap<i64, &String> = known.iter().map(|(t, id)| (*id, t)).collect();
    let logged = Regex::new(r"^INC-(\d+) logged").unwrap();
    let mut acknowledged: HashMap<u64, usize> = HashMap::new();
    for m in fake.bot_messages(general) {
        let Some(asked_id) = m.json["message_reference"]["message_id"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        *acknowledged.entry(asked_id).or_default() += 1;
        let n: i64 = logged.captures(m.content()).expect("an incident reply")[1]
            .parse()
            .unwrap();
        let title = &titles[asked[&asked_id]];
        assert_eq!(
            by_id.get(&n).copied(),
            Some(title),
            "the reply to {asked_id} named INC-{n}"
        );
    }
    assert!(acknowledged.values().all(|n| *n == 1), "a command answered twice");
    assert!(
        acknowledged.len() >= total * 9 / 10,
        "most commands were answered: {}",
        acknowledged.len()
    );
    assert_outbox_delivered_once(&fake, &db).await;
}

// ---------------------------------------------------------------------------------------------
// Authorization through Discord: impostor roles, other bots, another guild
// ---------------------------------------------------------------------------------------------

/// Everything a privileged action could change, as one comparable line.
async fn desk_fingerprint(db: &TestDb) -> String {
    let mut conn = db.conn().await;
    let mut out = Vec::new();
    for sql in [
        "SELECT 'incident ' || id || '|' || state || '|' || COALESCE(CAST(assignee AS TEXT), '-') || '|' || priority || '|' ||
                handler_role || '|' || tier || '|' || COALESCE(resolution, '-') || '|' || updated_at FROM incidents ORDER BY id",
        "SELECT 'change ' || id || '|' || state FROM changes ORDER BY id",
        "SELECT 'counts ' || (SELECT COUNT(*) FROM incidents) || '|' || (SELECT COUNT(*) FROM audit) || '|' ||
                (SELECT COUNT(*) FROM outbox) || '|' || (SELECT COUNT(*) FROM incident_notes) || '|' ||
                (SELECT COUNT(*) FROM outages) || '|' || (SELECT COUNT(*) FROM cab_ballots) || '|' ||
                (SELECT COUNT(*) FROM changes)",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await.expect(sql);
        out.extend(rows);
    }
    out.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impostor_roles_other_bots_and_another_guild_escalate_no_privilege() {
    let mut spec = GuildSpec::service_desk_default();
    spec.other_guilds.push(GuildSpec::look_alike(1_000_000));
    let privileged: Vec<u64> = ["Service Desk", "Incident Manager", "Change Manager", "CAB"]
        .iter()
        .map(|r| spec.role_id(r))
        .collect();
    let (robo, mallet) = (1_200_000_000_000_000_491u64, 1_200_000_000_000_000_492u64);
    spec.members.push(MemberSpec {
        user_id: robo,
        username: "robo".into(),
        role_ids: privileged.clone(),
        dms_closed: false,
    });
    spec.bot_members.push(robo);
    spec.members.push(MemberSpec {
        user_id: mallet,
        username: "mallet".into(),
        role_ids: vec![],
        dms_closed: false,
    });
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let desk_id = spec.guild_id.to_string();
    let mut env = FAST.to_vec();
    env.push(("DISCORD_GUILD_ID", desk_id.as_str()));
    let bot = bot::start_with(&fake, &db, bot::policy_with(&fake, &env)).await;
    let (general, cab, sd) = (
        spec.channel_id("general"),
        spec.channel_id("cab"),
        spec.channel_id("service-desk"),
    );
    let reply_to = |fake: &FakeDiscord, channel: u64, to: u64| {
        fake.bot_messages(channel).into_iter().find(|m| {
            m.create_body
                .as_ref()
                .and_then(|b| b["message_reference"]["message_id"].as_str())
                == Some(to.to_string().as_str())
        })
    };
    let say = |channel: u64, who: u64, text: &str| {
        let id = fake.inject_message(channel, who, text);
        let fake = fake.clone();
        async move {
            bot::eventually(&fake, "a reply", || reply_to(&fake, channel, id).is_some()).await;
            reply_to(&fake, channel, id).unwrap().content().to_owned()
        }
    };

    // The records to attack: an incident with its card, a change under a CAB vote.
    let (bob, alice, carlos) = (spec.user_id("bob"), spec.user_id("alice"), spec.user_id("carlos"));
    assert!(say(general, bob, "!incident Printer down")
        .await
        .starts_with("INC-1 logged"));
    let filed = say(
        general,
        alice,
        "!change Upgrade the MTA service=email risk=medium type=normal",
    )
    .await;
    assert!(filed.starts_with("CHG-1"), "{filed}");
    let opened = say(cab, carlos, "!cab CHG-1").await;
    assert!(opened.starts_with("CAB vote on CHG-1 is open"), "{opened}");
    until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
    let card = fake.bot_messages(sd)[0].id;
    let vote = fake
        .bot_messages(cab)
        .into_iter()
        .find(|m| {
            m.embeds()
                .first()
                .is_some_and(|e| e["title"].as_str().unwrap_or("").starts_with("CHG-1"))
        })
        .expect("the vote card")
        .id;

    // Impostor roles: a moderator makes roles named like the desk's and gives them to mallet.
    for name in ["Service Desk", "Incident Manager", "Change Manager", "CAB", "NOC"] {
        let role = fake.create_role(name);
        fake.give_role(mallet, role);
    }
    // And one made under a harmless name, then renamed to the desk's.
    let renamed = fake.create_role("Gamers");
    fake.give_role(mallet, renamed);
    fake.rename_role(renamed, "Service Desk");
    let other = &spec.other_guilds[0];
    let x_general = other.channel_id("general");
    let attackers: Vec<(&str, u64, u64)> = vec![
        ("impostor", mallet, general),
        ("bot", robo, general),
        ("other guild's agent", other.user_id("x-alice"), x_general),
        ("other guild's incident manager", other.user_id("x-irene"), x_general),
        ("other guild's change manager", other.user_id("x-carlos"), x_general),
        ("other guild's CAB member", other.user_id("x-dana"), x_general),
    ];
    let commands = [
        "!take INC-1",
        &format!("!assign INC-1 <@{mallet}>"),
        "!status INC-1 in_progress pwned",
        "!note INC-1 pwned",
        "!resolve INC-1 pwned",
        "!close INC-1",
        "!reopen INC-1 pwned",
        "!ack INC-1",
        "!escalate INC-1 pwned",
        "!escalate INC-1 up pwned",
        "!major INC-1 pwned",
        "!priority INC-1 impact=high pwned",
        "!outage email Mail is down impact=major",
        "!authorize CHG-1",
        "!reject CHG-1 pwned",
        "!cab CHG-1",
    ];
    let reactions = [(sd, card, "✋"), (sd, card, "⬆️"), (cab, vote, "✅"), (cab, vote, "❌")];
    let mut attempts = 0;
    let mut escalations = Vec::new();
    for (label, who, channel) in &attackers {
        let mut steps: Vec<(String, Box<dyn Fn()>)> = Vec::new();
        for c in &commands {
            let (fake, who, channel, c) = (fake.clone(), *who, *channel, c.to_string());
            steps.push((
                c.clone(),
                Box::new(move || {
                    fake.inject_message(channel, who, &c);
                }),
            ));
        }
        for (react_channel, message, emoji) in reactions {
            // From another guild the reaction names the desk's message but comes from its own channel.
            let react_channel = if *channel == x_general {
                x_general
            } else {
                react_channel
            };
            let (fake, who) = (fake.clone(), *who);
            steps.push((
                format!("{emoji} on {message}"),
                Box::new(move || fake.inject_reaction_add(react_channel, message, who, emoji)),
            ));
        }
        for (what, act) in steps {
            let before = desk_fingerprint(&db).await;
            act();
            attempts += 1;
            // A read-only round trip through the desk, then everything delivered.
            say(general, alice, "!show INC-1").await;
            until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
            let after = desk_fingerprint(&db).await;
            if before != after {
                escalations.push(format!("{what} by the {label}:\n{before}\n→\n{after}"));
            }
        }
    }
    eprintln!(
        "authorization proof (Discord): privilege escalations {} of {attempts} attempts",
        escalations.len()
    );
    assert!(attempts >= 100, "{attempts} attempts");
    assert!(
        escalations.is_empty(),
        "{} privilege escalations:\n{}",
        escalations.len(),
        escalations.join("\n\n")
    );
    // Nothing was ever posted to the other guild.
    let posted: usize = other.channels.iter().map(|c| fake.bot_messages(c.id).len()).sum();
    assert_eq!(posted, 0, "messages posted in the other guild");
    // The impostor was told no in the desk's channel, like anyone without the role.
    let told: Vec<String> = fake
        .bot_messages(general)
        .iter()
        .map(|m| m.content().to_owned())
        .filter(|t| t.starts_with("Only agents"))
        .collect();
    assert!(!told.is_empty(), "the impostor's commands were refused aloud");
    bot.stop().await;
    assert_no_decode_problems();
}

// ---------------------------------------------------------------------------------------------
// Catching up after downtime
// ---------------------------------------------------------------------------------------------

const APPROVE: &str = "✅";
const REJECT: &str = "❌";
const ABSTAIN: &str = "➖";

/// The service-desk guild with a CAB of eight (the issue's erin, frank, judy, kim, lee added).
fn board_of_eight() -> GuildSpec {
    let mut spec = GuildSpec::service_desk_default();
    spec.add_members_with_role(
        "CAB",
        &[("erin", 421), ("frank", 422), ("judy", 423), ("kim", 424), ("lee", 425)],
    );
    spec
}

/// A board this large stays open however the eight vote (no early close).
const LARGE_BOARD: &[(&str, &str)] = &[("OPSDESK_CHANGE__CAB__EXPECTED_MEMBERS", "30")];

/// Ballots as the database holds them: voter → choice.
async fn ballots_of(db: &TestDb) -> BTreeMap<u64, String> {
    sqlx::query_as::<_, (i64, String)>("SELECT voter, choice FROM cab_ballots WHERE change_id = 1")
        .fetch_all(&mut db.conn().await)
        .await
        .expect("ballots")
        .into_iter()
        .map(|(v, c)| (v as u64, c))
        .collect()
}

/// The ballots the vote card shows: each person's reaction on it (the bot's own excluded).
fn ballots_on_card(fake: &FakeDiscord, vote: u64) -> BTreeMap<u64, String> {
    let me = fake.spec().bot_user_id;
    fake.reactions(vote)
        .into_iter()
        .filter(|(_, u)| *u != me)
        .filter_map(|(e, u)| {
            let choice = match e.as_str() {
                APPROVE => "approve",
                REJECT => "reject",
                ABSTAIN => "abstain",
                _ => return None,
            };
            Some((u, choice.to_owned()))
        })
        .collect()
}

/// The bot's reply to message `to` in `channel`.
async fn answer(fake: &FakeDiscord, channel: u64, to: u64) -> String {
    let find = || {
        fake.bot_messages(channel).into_iter().find(|m| {
            m.create_body
                .as_ref()
                .and_then(|b| b["message_reference"]["message_id"].as_str())
                == Some(to.to_string().as_str())
        })
    };
    bot::eventually(fake, "an answer", || find().is_some()).await;
    find().unwrap().content().to_owned()
}

async fn tell(fake: &FakeDiscord, channel: u64, who: u64, text: &str) -> String {
    let id = fake.inject_message(channel, who, text);
    answer(fake, channel, id).await
}

/// Opens CHG-1's vote; returns the vote card once the bot's reactions are on it.
async fn open_vote_card(fake: &FakeDiscord) -> u64 {
    let spec = fake.spec();
    let (general, cab) = (spec.channel_id("general"), spec.channel_id("cab"));
    let filed = tell(
        fake,
        general,
        spec.user_id("alice"),
        "!change Upgrade the MTA service=email risk=medium type=normal",
    )
    .await;
    assert!(filed.starts_with("CHG-1"), "{filed}");
    let opened = tell(fake, cab, spec.user_id("carlos"), "!cab CHG-1").await;
    assert!(opened.starts_with("CAB vote on CHG-1 is open"), "{opened}");
    let me = spec.bot_user_id;
    let card = || {
        fake.bot_messages(cab).into_iter().find(|m| {
            m.embeds()
                .first()
                .is_some_and(|e| e["title"].as_str().unwrap_or("").starts_with("CHG-1"))
        })
    };
    bot::eventually(fake, "the vote card with the bot's reactions", || {
        card().is_some_and(|m| [APPROVE, REJECT, ABSTAIN].iter().all(|e| m.reactors(e).contains(&me)))
    })
    .await;
    card().unwrap().id
}

/// While the bot is away: reactions added, switched and removed (and one ineligible).
fn vote_while_away(fake: &FakeDiscord, vote: u64) {
    let spec = fake.spec();
    let cab = spec.channel_id("cab");
    let u = |n: &str| spec.user_id(n);
    fake.inject_reaction_add(cab, vote, u("erin"), APPROVE);
    fake.inject_reaction_add(cab, vote, u("frank"), REJECT);
    fake.inject_reaction_remove(cab, vote, u("frank"), REJECT);
    fake.inject_reaction_add(cab, vote, u("frank"), APPROVE);
    fake.inject_reaction_remove(cab, vote, u("eli"), REJECT);
    fake.inject_reaction_add(cab, vote, u("eli"), APPROVE);
    fake.inject_reaction_remove(cab, vote, u("dana"), APPROVE);
    fake.inject_reaction_add(cab, vote, u("judy"), APPROVE);
    fake.inject_reaction_add(cab, vote, u("lee"), REJECT);
    fake.inject_reaction_add(cab, vote, u("kim"), ABSTAIN);
    // Bob holds no CAB role: his ballot is taken back and explained.
    fake.inject_reaction_add(cab, vote, u("bob"), APPROVE);
}

fn expected_after_away(spec: &GuildSpec) -> BTreeMap<u64, String> {
    [
        ("eli", "approve"),
        ("erin", "approve"),
        ("frank", "approve"),
        ("judy", "approve"),
        ("kim", "abstain"),
        ("lee", "reject"),
    ]
    .into_iter()
    .map(|(n, c)| (spec.user_id(n), c.to_owned()))
    .collect()
}

async fn reconciled(db: &TestDb) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM audit WHERE action = 'reconcile'").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_during_a_vote_the_restarted_bot_reads_back_votes_claims_and_answers() {
    let spec = board_of_eight();
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let u = |n: &str| spec.user_id(n);
    let (cab, general) = (spec.channel_id("cab"), spec.channel_id("general"));
    let mut child = spawn_bot_with(&fake, &db, 0, LARGE_BOARD);
    fake.wait_for_gateway("the bot's session", |s| s.identifies >= 1 && s.connected, WAIT)
        .await
        .expect("the bot connects");
    bot::eventually(&fake, "commands registered", || !fake.commands().is_empty()).await;
    let vote = open_vote_card(&fake).await;
    // Live ballots, and two incidents: one left unclaimed, one resolved and asking its reporter.
    fake.inject_reaction_add(cab, vote, u("dana"), APPROVE);
    fake.inject_reaction_add(cab, vote, u("eli"), REJECT);
    assert!(tell(&fake, general, u("bob"), "!incident Printer down")
        .await
        .starts_with("INC-1 logged"));
    assert!(tell(&fake, general, u("bob"), "!incident Mail slow")
        .await
        .starts_with("INC-2 logged"));
    tell(&fake, general, u("alice"), "!take INC-2").await;
    tell(&fake, general, u("alice"), "!status INC-2 in_progress").await;
    tell(&fake, general, u("alice"), "!resolve INC-2 restarted the MTA").await;
    until(&fake, "two ballots and everything delivered", WAIT, || async {
        ballots_of(&db).await.len() == 2 && outbox_drained(&db).await
    })
    .await;
    let card_of = |subject: &'static str| {
        let db = &db;
        async move {
            let (c, m): (String, String) =
                sqlx::query_as("SELECT COALESCE(thread_id, channel_id), message_id FROM cards WHERE subject = $1")
                    .bind(subject)
                    .fetch_one(&mut db.conn().await)
                    .await
                    .expect("card");
            (c.parse::<u64>().unwrap(), m.parse::<u64>().unwrap())
        }
    };
    let (_, inc1_card) = card_of("INC-1").await;
    let inc1_channel: u64 = text(&db, "SELECT channel_id FROM cards WHERE subject = 'INC-1'")
        .await
        .parse()
        .unwrap();
    let (inc2_thread, _) = card_of("INC-2").await;
    let question: u64 = text(
        &db,
        "SELECT o.platform_message_id FROM surveys s JOIN outbox o ON o.id = s.outbox_id WHERE s.incident_id = 2",
    )
    .await
    .parse()
    .unwrap();

    child.kill().expect("kill -9");
    child.wait().expect("the bot is gone");
    vote_while_away(&fake, vote);
    fake.inject_reaction_add(inc1_channel, inc1_card, u("alice"), "✋");
    fake.inject_reaction_add(inc2_thread, question, u("bob"), "👍");

    let mut child = spawn_bot_with(&fake, &db, 1, LARGE_BOARD);
    fake.wait_for_gateway("a new session", |s| s.identifies >= 2 && s.connected, WAIT)
        .await
        .expect("the bot connects again");
    let expected = expected_after_away(&spec);
    until(&fake, "the tally to equal the card", WAIT, || async {
        ballots_of(&db).await == expected && ballots_on_card(&fake, vote) == expected
    })
    .await;
    until(&fake, "the claim and the answer read back", WAIT, || async {
        text(
            &db,
            "SELECT state || ' ' || COALESCE(CAST(assignee AS TEXT), '-') FROM incidents WHERE id = 1",
        )
        .await
            == format!("assigned {}", u("alice"))
            && text(&db, "SELECT state FROM incidents WHERE id = 2").await == "closed"
    })
    .await;
    // Bob was told why his ballot was taken back.
    until(&fake, "bob told", WAIT, || async {
        fake.dm_channel(u("bob"))
            .is_some_and(|dm| fake.bot_messages(dm).iter().any(|m| m.content().contains("CHG-1")))
    })
    .await;
    until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
    // Seven vote changes (dana withdrawn, eli switched, erin, frank, judy, lee, kim),
    // bob's refused ballot, alice's claim and bob's answer.
    let changes = reconciled(&db).await;
    assert_eq!(changes, 10, "reconciliations audited");
    let tally = text(
        &db,
        "SELECT details FROM audit WHERE action = 'cab_ballot' ORDER BY id DESC LIMIT 1",
    )
    .await;
    assert!(
        ["voted ", "changed their vote ", "withdrew their "]
            .iter()
            .any(|p| tally.starts_with(p)),
        "{tally}"
    );
    assert_eq!(
        text(&db, "SELECT status FROM cab_votes WHERE change_id = 1").await,
        "open"
    );

    // Counted once: another restart with nothing new changes nothing.
    child.kill().expect("kill -9");
    child.wait().expect("the bot is gone");
    let reads = fake
        .calls_matching("GET /channels/{c}/messages/{m}/reactions/{e}")
        .len();
    let mut child = spawn_bot_with(&fake, &db, 2, LARGE_BOARD);
    fake.wait_for_gateway("a third session", |s| s.identifies >= 3 && s.connected, WAIT)
        .await
        .expect("the bot connects a third time");
    bot::eventually(&fake, "the vote card read back again", || {
        fake.calls_matching("GET /channels/{c}/messages/{m}/reactions/{e}")
            .len()
            >= reads + 3
    })
    .await;
    assert!(tell(&fake, general, u("bob"), "!incident Round trip")
        .await
        .starts_with("INC-3 logged"));
    until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
    assert_eq!(reconciled(&db).await, changes, "nothing is reconciled twice");
    assert_eq!(ballots_of(&db).await, expected);
    eprintln!("catch-up proof: {changes} reconciliations after kill -9; tally equals the card");
    child.kill().expect("kill -9");
    child.wait().expect("the bot is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_forced_invalid_session_the_bot_reads_back_the_votes_of_the_gap() {
    let mut spec = board_of_eight();
    spec.drop_events_without_session = true;
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let u = |n: &str| spec.user_id(n);
    let cab = spec.channel_id("cab");
    let mut env = FAST.to_vec();
    env.extend_from_slice(LARGE_BOARD);
    let bot = bot::start_with(&fake, &db, bot::policy_with(&fake, &env)).await;
    let vote = open_vote_card(&fake).await;
    fake.inject_reaction_add(cab, vote, u("dana"), APPROVE);
    fake.inject_reaction_add(cab, vote, u("eli"), REJECT);
    until(&fake, "two ballots", WAIT, || async {
        ballots_of(&db).await.len() == 2
    })
    .await;

    let identifies = fake.identify_count();
    assert!(fake.invalidate_session());
    // The gap: Discord drops these events, the bot must read them back.
    vote_while_away(&fake, vote);
    fake.wait_for_gateway("a new session", |s| s.identifies > identifies && s.connected, WAIT)
        .await
        .expect("the bot identifies again");
    let expected = expected_after_away(&spec);
    until(&fake, "the tally to equal the card", WAIT, || async {
        ballots_of(&db).await == expected && ballots_on_card(&fake, vote) == expected
    })
    .await;
    until(&fake, "the outbox delivered", WAIT, || outbox_drained(&db)).await;
    assert_eq!(reconciled(&db).await, 8, "seven vote changes and bob's refused ballot");
    bot.stop().await;
    assert_no_decode_problems();
}
