//! Outage notices through the real Discord adapter, against the fake Discord
//! and a real SQLite file: the status card edited in place and the status
//! posts, one direct message per subscriber per notice (300 subscribers), under
//! injected 429/500 faults, across a restart in the middle of the fan-out, for a
//! subscriber whose DMs are closed, and within Discord's request budgets.
//!
//! Paced at about 45 requests a second, a DM to a new subscriber costs two
//! requests (opening the DM channel, then the message) and one to a known
//! subscriber costs one, so 300 subscribers take about 14 s per fresh notice.
//! Only the budget test fans out to 300; the lifecycle and the restart tests use
//! fewer subscribers so the suite stays quick.

use std::collections::HashSet;
use std::time::Duration;

use chrono::TimeDelta;
use opsdesk::desk::{Actor, Clock, Event, Inbound, Outcome};
use opsdesk::domain::UserId;
use serde_json::Value;

use crate::bot::{self, assert_no_decode_problems};
use crate::fake_discord::{Call, CallMatcher, FakeDiscord, GuildSpec, MemberSpec, RoleSpec};
use crate::util::TestDb;

/// How long a whole fan-out may take before a test fails (it is paced, and the
/// machine may be busy with other tests).
const FAN_OUT: Duration = Duration::from_secs(90);

/// The email service's subscriber role (config `services.email.subscriber_role`).
const SUBSCRIBER_ROLE: &str = "Email Subscribers";

/// Outbox rows that carry an outage notice to a subscriber.
const DM_ROW: &str = "id IN (SELECT outbox_id FROM outage_deliveries)";

async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    n
}

/// The service desk guild with the email subscriber role and `n` more plain
/// members (`sub000`, `sub001`, …).
pub(crate) fn guild_with_members(n: u64) -> GuildSpec {
    let mut spec = GuildSpec::service_desk_default();
    spec.roles.push(RoleSpec {
        id: 1_200_000_000_000_000_299,
        name: SUBSCRIBER_ROLE.to_owned(),
    });
    spec.members.extend((0..n).map(|i| MemberSpec {
        user_id: 1_200_000_000_000_010_000 + i,
        username: format!("sub{i:03}"),
        role_ids: Vec::new(),
        dms_closed: false,
    }));
    spec
}

/// The extra members' user ids.
pub(crate) fn extra_members(spec: &GuildSpec) -> Vec<u64> {
    spec.members
        .iter()
        .filter(|m| m.username.starts_with("sub"))
        .map(|m| m.user_id)
        .collect()
}

/// Subscribes each user to email with `!subscribe email` through the desk, as
/// they would in chat, before the bot connects.
pub(crate) async fn subscribe(fake: &FakeDiscord, db: &TestDb, users: &[u64]) {
    let desk = bot::offline_desk(fake, db).await;
    for &user in users {
        let member = fake.spec().members.iter().find(|m| m.user_id == user).unwrap();
        let inbound = Inbound {
            key: format!("test:subscribe:{user}"),
            actor: Actor {
                user: UserId::new(user),
                name: member.username.clone(),
                roles: Vec::new(),
            },
            channel: None,
            event: Event::Line("!subscribe email".into()),
        };
        match desk.handle(inbound).await {
            Outcome::Reply(r) => assert!(r.text.starts_with("Subscribed to Email"), "{}", r.text),
            other => panic!("no reply to !subscribe: {other:?}"),
        }
    }
    desk.store().close().await;
}

/// Message creates in channels that are not the guild's text channels: the
/// DMs (nothing in these tests posts in a thread; each test checks that every
/// fault served went to a DM channel).
fn dm_sends(spec: &GuildSpec) -> CallMatcher {
    let guild: HashSet<u64> = spec.channels.iter().map(|c| c.id).collect();
    CallMatcher::custom(move |method, path| {
        let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
        method == "POST"
            && seg.len() == 3
            && seg[0] == "channels"
            && seg[2] == "messages"
            && seg[1].parse::<u64>().is_ok_and(|c| !guild.contains(&c))
    })
}

/// Distinct messages created in DM channels so far, read from the calls alone
/// (cheap to re-check after every call, and a send repeated with the same
/// nonce counts once).
pub(crate) fn dms_created(calls: &[Call]) -> usize {
    let dm_channels: HashSet<&str> = calls
        .iter()
        .filter(|c| c.is("POST /users/@me/channels") && c.succeeded())
        .filter_map(|c| c.response.as_ref()?["id"].as_str())
        .collect();
    calls
        .iter()
        .filter(|c| {
            c.is("POST /channels/{c}/messages")
                && c.succeeded()
                && c.segment(1).is_some_and(|s| dm_channels.contains(s))
        })
        .filter_map(|c| c.response.as_ref()?["id"].as_str())
        .collect::<HashSet<_>>()
        .len()
}

/// Waits until `n` distinct direct messages have been created.
async fn wait_for_dms(fake: &FakeDiscord, n: usize) {
    fake.wait_for(&format!("{n} direct messages"), |c| dms_created(c) >= n, FAN_OUT)
        .await
        .unwrap();
}

/// What a user has received by direct message, oldest first.
pub(crate) fn dms(fake: &FakeDiscord, user: u64) -> Vec<String> {
    fake.dm_channel(user)
        .map(|c| fake.bot_messages(c).iter().map(|m| m.content().to_owned()).collect())
        .unwrap_or_default()
}

/// The calls that posted to a user's DM channel, in order.
fn sends_to(fake: &FakeDiscord, user: u64) -> Vec<Call> {
    let Some(dm) = fake.dm_channel(user) else {
        return Vec::new();
    };
    fake.calls_matching("POST /channels/{c}/messages")
        .into_iter()
        .filter(|c| c.id_at(1) == Some(dm))
        .collect()
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Injects a command and waits for the bot's answer in the same channel.
async fn command(fake: &FakeDiscord, channel: u64, user: u64, line: &str, answer: &str) -> String {
    let msg = fake.inject_message(channel, user, line);
    let found = |fake: &FakeDiscord| {
        fake.bot_messages(channel)
            .into_iter()
            .find(|m| m.json["message_reference"]["message_id"].as_str() == Some(msg.to_string().as_str()))
    };
    bot::eventually(fake, &format!("the answer to {line:?}"), || found(fake).is_some()).await;
    let reply = found(fake).unwrap().content().to_owned();
    assert!(reply.contains(answer), "{line:?} answered {reply:?}");
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_subscribers_get_the_declaration_once_each_within_discords_budgets() {
    let fake = FakeDiscord::start(guild_with_members(300)).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let (alice, gus) = (spec.user_id("alice"), spec.user_id("gus"));
    let (desk_ch, status) = (spec.channel_id("service-desk"), spec.channel_id("status"));
    let subscribers = extra_members(&spec);
    let mut everyone = subscribers.clone();
    everyone.push(gus);
    subscribe(&fake, &db, &everyone).await;

    fake.enforce_budgets(true);
    let bot = bot::start(&fake, &db).await;
    command(
        &fake,
        desk_ch,
        alice,
        "!outage email Mail is down impact=major",
        "OUT-1 declared: Email major outage. Posted in #status; 301 subscribers will be messaged.",
    )
    .await;
    wait_for_dms(&fake, 300).await;
    bot::eventually(&fake, "the DM to gus refused", || {
        sends_to(&fake, gus).iter().any(|c| c.status == 403)
    })
    .await;
    recorded_unreachable(&fake, &db).await;
    assert_eq!(
        fake.budget_violations(),
        0,
        "the fan-out stays within Discord's budgets"
    );

    // Every subscriber reads the declaration exactly once.
    for &user in &subscribers {
        let got = dms(&fake, user);
        assert_eq!(got.len(), 1, "user {user} got {got:?}");
        assert!(
            got[0].starts_with("🔴 OUT-1 · Email · major outage: Mail is down\nStarted ")
                && got[0].ends_with("`!unsubscribe email` stops it."),
            "{}",
            got[0]
        );
    }
    // gus's DMs are closed: one attempt, refused, never repeated.
    assert!(dms(&fake, gus).is_empty());
    let to_gus = sends_to(&fake, gus);
    assert_eq!(to_gus.len(), 1, "{to_gus:?}");
    assert_eq!(to_gus[0].response.as_ref().unwrap()["code"], 50007, "{}", to_gus[0]);

    // The status channel has the card, pinging the subscriber role and nobody else.
    let role = spec.role_id(SUBSCRIBER_ROLE);
    let posted = fake.bot_messages(status);
    assert_eq!(posted.len(), 1, "only the card");
    let card = &posted[0];
    assert!(
        card.content()
            .starts_with(&format!("<@&{role}> 🔴 OUT-1 · Email · major outage: Mail is down")),
        "{}",
        card.content()
    );
    let body = card.create_body.clone().unwrap();
    assert_eq!(ids(&body["allowed_mentions"]["roles"]), vec![role]);
    assert_eq!(card.embeds()[0]["title"], "OUT-1 · Email outage");

    // Stopping finishes the delivery in hand, so the bookkeeping is committed.
    bot.stop().await;
    fake.enforce_budgets(false);
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM outbox WHERE {DM_ROW} AND delivered_at IS NOT NULL")
        )
        .await,
        300
    );
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM outage_subscriptions WHERE unreachable_at IS NOT NULL AND user_id = {gus}")
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM outage_subscriptions WHERE unreachable_at IS NULL"
        )
        .await,
        300
    );

    // After a restart the desk reports one unreachable, none lost, and nothing is sent again.
    let sends = fake.calls_matching(dm_sends(&spec)).len();
    let bot = bot::start(&fake, &db).await;
    let show = command(&fake, desk_ch, alice, "!outage show OUT-1", "Subscribers:").await;
    assert!(
        show.contains("Subscribers: 300 reachable, 1 unreachable\nDirect messages: 301 queued · 300 delivered · 0 pending · 1 unreachable (DMs closed) · 0 lost"),
        "{show}"
    );
    assert_eq!(fake.calls_matching(dm_sends(&spec)).len(), sends);
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_notice_reaches_every_subscriber_once_though_a_fifth_of_dm_sends_fail() {
    let fake = FakeDiscord::start(guild_with_members(30)).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let (alice, gus) = (spec.user_id("alice"), spec.user_id("gus"));
    let (desk_ch, status) = (spec.channel_id("service-desk"), spec.channel_id("status"));
    let subscribers = extra_members(&spec);
    let mut everyone = subscribers.clone();
    everyone.push(gus);
    subscribe(&fake, &db, &everyone).await;

    // 429 and 500, half each, on about 20 % of the DM sends. The fake's draws
    // are deterministic; with this seed no more than three sends in a row fail,
    // so no message waits for more than 0.5 + 1 + 2 s of backoff (a longer
    // streak on one message would only make the test slow, not wrong).
    fake.fail_randomly(dm_sends(&spec), 0.2, 7);
    let bot = bot::start(&fake, &db).await;
    command(
        &fake,
        desk_ch,
        alice,
        "!outage email Mail is down impact=major",
        "31 subscribers will be messaged",
    )
    .await;
    // gus comes first (the lowest user id); once his DMs are found closed he
    // is skipped. The next notices follow without waiting for the rest of the
    // fan-out, so each subscriber's messages must also keep their order.
    bot::eventually(&fake, "the DM to gus refused", || {
        sends_to(&fake, gus).iter().any(|c| c.status == 403)
    })
    .await;
    recorded_unreachable(&fake, &db).await;
    command(
        &fake,
        desk_ch,
        alice,
        "!outage update OUT-1 Queue draining impact=partial",
        "OUT-1 updated (partial impact); 30 subscribers will be messaged.",
    )
    .await;
    command(
        &fake,
        desk_ch,
        alice,
        "!outage resolve OUT-1 MTA restarted",
        "OUT-1 resolved after",
    )
    .await;
    wait_for_dms(&fake, 90).await;
    bot::eventually(&fake, "the card edited twice and the all-clear", || {
        let posted = fake.bot_messages(status);
        posted.len() == 3 && posted[0].edit_bodies.len() == 2
    })
    .await;
    bot.stop().await;

    // The faults really happened, and only on DM sends.
    let faults = fake.faults_served();
    assert!(faults.rate_limited > 0 && faults.server_errors > 0, "{faults:?}");
    let dm_channels: HashSet<u64> = everyone.iter().filter_map(|u| fake.dm_channel(*u)).collect();
    for call in fake.calls().iter().filter(|c| c.fault.is_some()) {
        assert!(
            call.is("POST /channels/{c}/messages") && dm_channels.contains(&call.id_at(1).unwrap()),
            "fault outside the DM sends: {call}"
        );
    }

    // Every subscriber read each notice once, in order.
    for &user in &subscribers {
        let got = dms(&fake, user);
        assert_eq!(got.len(), 3, "user {user} got {got:?}");
        assert!(
            got[0].starts_with("🔴 OUT-1 · Email · major outage: Mail is down\n"),
            "{}",
            got[0]
        );
        assert!(
            got[1].starts_with("Update on 🟠 OUT-1 · Email · partial outage: Queue draining\n"),
            "{}",
            got[1]
        );
        assert!(
            got[2].starts_with("✅ Email is back: OUT-1 resolved after ") && got[2].contains(": MTA restarted\n"),
            "{}",
            got[2]
        );
    }
    // gus: tried for the declaration until Discord said his DMs are closed, then never again.
    assert!(dms(&fake, gus).is_empty());
    let to_gus = sends_to(&fake, gus);
    let refused: Vec<usize> = to_gus
        .iter()
        .enumerate()
        .filter(|(_, c)| c.status == 403)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(refused, vec![to_gus.len() - 1], "{to_gus:?}");

    // The status channel: one card edited in place, the update and the all-clear.
    let role = spec.role_id(SUBSCRIBER_ROLE);
    let posted = fake.bot_messages(status);
    let (card, update, all_clear) = (&posted[0], &posted[1], &posted[2]);
    // Edits carry no ping: the update and the all-clear posts do the pinging.
    assert_eq!(card.content(), "✅ OUT-1 · Email is back (was: Mail is down)");
    assert!(
        card.create_body.as_ref().unwrap()["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<@&{role}> 🔴 OUT-1 · Email · major outage: Mail is down")),
        "{:?}",
        card.create_body
    );
    assert_eq!(card.embeds()[0]["title"], "OUT-1 · Email outage (resolved)");
    assert_eq!(card.edit_bodies.len(), 2);
    assert!(
        card.edit_bodies[0]["content"]
            .as_str()
            .unwrap()
            .contains("🟠 OUT-1 · Email · partial outage: Mail is down"),
        "{}",
        card.edit_bodies[0]
    );
    assert_eq!(
        update.content(),
        format!("<@&{role}> Update on 🟠 OUT-1 · Email · partial outage: Queue draining — alice")
    );
    assert!(
        all_clear.content().starts_with(&format!(
            "<@&{role}> ✅ All clear: Email is back. OUT-1 is resolved after "
        )) && all_clear.content().ends_with(": MTA restarted"),
        "{}",
        all_clear.content()
    );
    for m in [update, all_clear] {
        let body = m.create_body.clone().unwrap();
        assert_eq!(ids(&body["allowed_mentions"]["roles"]), vec![role]);
    }

    // The database: each subscriber queued once per notice, all delivered;
    // gus queued once, marked unreachable, not lost.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outage_deliveries").await, 91);
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(DISTINCT o.platform_message_id) FROM outage_deliveries d
               JOIN outbox o ON o.id = d.outbox_id WHERE o.delivered_at IS NOT NULL"
        )
        .await,
        90
    );
    assert_eq!(
        scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM outage_deliveries d JOIN outbox o ON o.id = d.outbox_id
                  WHERE d.user_id = {gus} AND o.failed_at IS NOT NULL AND o.last_error LIKE '%50007%'"
            )
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM outage_subscriptions WHERE unreachable_at IS NOT NULL AND user_id = {gus}")
        )
        .await,
        1
    );
    assert!(
        scalar(&db, &format!("SELECT MAX(attempts) FROM outbox WHERE {DM_ROW}")).await > 1,
        "some DMs needed retries"
    );
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_the_fan_out_delivers_the_rest_and_nobody_twice() {
    let fake = FakeDiscord::start(guild_with_members(120)).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let alice = spec.user_id("alice");
    let (desk_ch, status) = (spec.channel_id("service-desk"), spec.channel_id("status"));
    let subscribers = extra_members(&spec);
    subscribe(&fake, &db, &subscribers).await;

    let bot = bot::start(&fake, &db).await;
    command(
        &fake,
        desk_ch,
        alice,
        "!outage email Mail is down",
        "120 subscribers will be messaged",
    )
    .await;
    wait_for_dms(&fake, 20).await;
    bot.stop().await;

    // Stopped part-way: what went out is recorded as delivered, the rest is still due.
    let sent = dms_created(&fake.calls());
    assert!(sent < 120, "the bot stopped before the fan-out ended ({sent} sent)");
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM outbox WHERE {DM_ROW} AND delivered_at IS NOT NULL")
        )
        .await,
        i64::try_from(sent).unwrap()
    );
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM outbox WHERE {DM_ROW} AND delivered_at IS NULL AND failed_at IS NULL")
        )
        .await,
        i64::try_from(120 - sent).unwrap()
    );

    let bot = bot::start(&fake, &db).await;
    wait_for_dms(&fake, 120).await;
    bot.stop().await;
    for &user in &subscribers {
        let got = dms(&fake, user);
        assert_eq!(got.len(), 1, "user {user} got {got:?}");
        assert!(
            got[0].starts_with("🟠 OUT-1 · Email · partial outage: Mail is down\n"),
            "{}",
            got[0]
        );
    }
    assert_eq!(fake.nonce_dedups(), 0, "nothing was sent a second time");
    assert_eq!(fake.bot_messages(status).len(), 1, "the card was posted once");
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM outbox WHERE {DM_ROW} AND delivered_at IS NOT NULL")
        )
        .await,
        120
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );
    assert_no_decode_problems();
}

/// A change's planned outage notice reaches the subscribers through the same
/// path as an outage's notices: gus's closed DMs mark him unreachable, and the
/// next notice of the service skips him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_change_notice_that_finds_dms_closed_marks_the_subscriber_and_the_next_notice_skips_him() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let (alice, bob, gus) = (spec.user_id("alice"), spec.user_id("bob"), spec.user_id("gus"));
    let desk_ch = spec.channel_id("service-desk");
    subscribe(&fake, &db, &[bob, gus]).await;
    let clock = Clock::system();
    let bot = bot::start_with_clock(&fake, &db, clock.clone()).await;

    // A standard change is scheduled at once; its notice is due a day before the window.
    let at = |d: TimeDelta| (clock.now() + d).format("%Y-%m-%dT%H:%M").to_string();
    let window = format!(
        "{}..{}",
        at(TimeDelta::days(2)),
        at(TimeDelta::days(2) + TimeDelta::hours(1))
    );
    command(
        &fake,
        desk_ch,
        alice,
        &format!("!change Restart the mail relay service=email risk=low type=standard window={window}"),
        "scheduled now",
    )
    .await;
    clock.advance(TimeDelta::hours(24));
    bot.desk.timers_changed().notify_one();
    bot::eventually(&fake, "the planned outage notice to bob", || {
        !dms(&fake, bob).is_empty()
    })
    .await;
    assert!(
        dms(&fake, bob)[0].starts_with("Planned outage: Email may be unavailable"),
        "{:?}",
        dms(&fake, bob)
    );
    bot::eventually(&fake, "the DM to gus refused", || {
        sends_to(&fake, gus).iter().any(|c| c.status == 403)
    })
    .await;
    recorded_unreachable(&fake, &db).await;

    command(
        &fake,
        desk_ch,
        alice,
        "!outage email Mail is down",
        "; 1 subscriber will be messaged.",
    )
    .await;
    bot::eventually(&fake, "the outage notice to bob", || dms(&fake, bob).len() == 2).await;
    assert!(dms(&fake, gus).is_empty());
    let to_gus = sends_to(&fake, gus);
    assert_eq!(to_gus.len(), 1, "{to_gus:?}");
    assert_eq!(to_gus[0].response.as_ref().unwrap()["code"], 50007, "{}", to_gus[0]);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE failure = 'unreachable'").await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM notice_deliveries WHERE change_notice_id IS NOT NULL"
        )
        .await,
        2
    );
    bot.stop().await;
    assert_no_decode_problems();
}

/// Waits until the desk has recorded a subscriber as unreachable (after
/// Discord refused the DM): a notice counts its audience only then.
async fn recorded_unreachable(fake: &FakeDiscord, db: &TestDb) {
    crate::proofs_discord::until(fake, "the closed DM recorded", bot::WAIT, || async {
        scalar(
            db,
            "SELECT COUNT(*) FROM outage_subscriptions WHERE unreachable_at IS NOT NULL",
        )
        .await
            > 0
    })
    .await;
}

/// The bot's messages in a channel whose text says `needle`.
fn posts_saying(fake: &FakeDiscord, channel: u64, needle: &str) -> Vec<String> {
    fake.bot_messages(channel)
        .iter()
        .map(|m| m.content().to_owned())
        .filter(|c| c.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_during_an_outage_post_one_grouped_card_in_the_desk_channel_and_no_card_each() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let alice = spec.user_id("alice");
    let (desk_ch, general) = (spec.channel_id("service-desk"), spec.channel_id("general"));
    let policy = bot::policy_with(&fake, &[("OPSDESK_OUTAGE__STORM_CARD_EVERY", "1s")]);
    let bot = bot::start_with(&fake, &db, policy).await;
    command(
        &fake,
        desk_ch,
        alice,
        "!outage email Mail is down impact=major",
        "OUT-1 declared",
    )
    .await;

    let reporters = ["bob", "irene", "carlos", "dana"];
    for (i, who) in reporters.iter().enumerate() {
        command(
            &fake,
            general,
            spec.user_id(who),
            "!incident Mail bounces service=email",
            &format!("INC-{} logged", i + 1),
        )
        .await;
    }
    // The card is edited in place (at most once a second here) until it counts all four.
    bot::eventually(&fake, "the grouped card counting four reports", || {
        !posts_saying(&fake, desk_ch, "4 reports linked to OUT-1").is_empty()
    })
    .await;
    let grouped = posts_saying(&fake, desk_ch, "reports linked to OUT-1");
    assert_eq!(grouped.len(), 1, "one grouped card: {grouped:?}");
    let card = fake
        .bot_messages(desk_ch)
        .into_iter()
        .find(|m| m.content().contains("reports linked to OUT-1"))
        .unwrap();
    assert_eq!(card.embeds()[0]["title"], "OUT-1 · Email · reports");
    let embed = card.embeds()[0].to_string();
    assert!(embed.contains("INC-4 · dana"), "{embed}");
    // No per-incident card in the channel, and no thread but the grouped card's.
    assert!(
        posts_saying(&fake, desk_ch, "Incident INC-").is_empty(),
        "{:?}",
        fake.bot_messages(desk_ch)
            .iter()
            .map(|m| m.content().to_owned())
            .collect::<Vec<_>>()
    );
    let threads: Vec<_> = fake.threads().into_iter().filter(|t| t.parent_id == desk_ch).collect();
    assert!(
        threads.iter().all(|t| t.message_id == Some(card.id)),
        "{:?}",
        threads.iter().map(|t| t.name.clone()).collect::<Vec<_>>()
    );

    // Taking one gives it its own card (with its thread) there.
    command(&fake, desk_ch, alice, "!take INC-2", "INC-2").await;
    bot::eventually(&fake, "INC-2's own card", || {
        !posts_saying(&fake, desk_ch, "Incident INC-2").is_empty()
    })
    .await;
    let own = fake
        .bot_messages(desk_ch)
        .into_iter()
        .find(|m| m.content().contains("Incident INC-2"))
        .unwrap();
    bot::eventually(&fake, "INC-2's thread with its welcome", || {
        fake.threads().iter().any(|t| t.message_id == Some(own.id))
            && !posts_saying(&fake, own.id, "thanks for reporting INC-2").is_empty()
    })
    .await;
    assert!(posts_saying(&fake, desk_ch, "Incident INC-1").is_empty());
    bot.stop().await;
    assert_no_decode_problems();
}
