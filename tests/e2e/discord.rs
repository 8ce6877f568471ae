//! The real serenity client, through opsdesk's Discord adapter, against the
//! project's fake Discord on 127.0.0.1 and a real SQLite file.

use serde_json::Value;

use crate::bot::{self, assert_no_decode_problems, WAIT};
use crate::fake_discord::{FakeDiscord, Fault, GuildSpec, InteractionSpec};
use crate::util::{scalar, TestDb};

fn body(call: &crate::fake_discord::Call) -> Value {
    call.body.clone().unwrap_or(Value::Null)
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

/// Every message the bot created or edited sets allowed_mentions explicitly and
/// allows no @everyone/@here parsing, and pings only `roles`/`users` listed.
fn assert_mention_safe(fake: &FakeDiscord, allowed_roles: &[u64], allowed_users: &[u64]) {
    for call in fake.calls() {
        let creates = call.is("POST /channels/{c}/messages") || call.is("PATCH /channels/{c}/messages/{m}");
        if !creates || call.body.is_none() {
            continue;
        }
        let b = body(&call);
        let am = &b["allowed_mentions"];
        assert!(am.is_object(), "no allowed_mentions on {call}");
        let parse = am["parse"].as_array().cloned().unwrap_or_default();
        assert!(parse.is_empty(), "parse must be empty on {call}");
        for r in ids(&am["roles"]) {
            assert!(allowed_roles.contains(&r), "role {r} may ping on {call}");
        }
        for u in ids(&am["users"]) {
            assert!(allowed_users.contains(&u), "user {u} may ping on {call}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_incident_replies_posts_a_card_with_a_thread_and_stores_a_row() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, desk_ch, bob) = (
        spec.channel_id("general"),
        spec.channel_id("service-desk"),
        spec.user_id("bob"),
    );
    let sd_role = spec.role_id("Service Desk");

    let msg = fake.inject_message(
        general,
        bob,
        "!incident Mail is down @everyone <@&123> impact=high urgency=high service=email",
    );
    let reply = fake
        .wait_for(
            "the reply",
            |c| {
                c.iter()
                    .any(|c| c.is("POST /channels/{c}/messages") && c.id_at(1) == Some(general))
            },
            WAIT,
        )
        .await
        .unwrap();
    let reply = reply
        .iter()
        .find(|c| c.is("POST /channels/{c}/messages") && c.id_at(1) == Some(general))
        .unwrap();
    let b = body(reply);
    assert!(b["content"].as_str().unwrap().starts_with("INC-1 logged: P1"), "{b}");
    assert_eq!(
        b["message_reference"]["message_id"].as_str().map(str::to_owned),
        Some(msg.to_string())
    );

    bot::eventually(&fake, "the card", || {
        fake.bot_messages(desk_ch)
            .iter()
            .any(|m| m.content().contains("New incident INC-1"))
    })
    .await;
    let card = fake
        .bot_messages(desk_ch)
        .into_iter()
        .find(|m| m.content().contains("New incident INC-1"))
        .unwrap();
    let cb = card.create_body.clone().unwrap();
    let content = cb["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!("<@&{sd_role}> New incident INC-1 (P1)")),
        "{content}"
    );
    assert!(
        content.contains("@\u{200B}everyone") && !content.contains("<@&123>"),
        "{content}"
    );
    assert_eq!(ids(&cb["allowed_mentions"]["roles"]), vec![sd_role]);
    assert_eq!(
        cb["embeds"][0]["title"].as_str().unwrap(),
        "INC-1 · Mail is down @\u{200B}everyone <\u{200B}@\u{200B}&123>"
    );
    assert_eq!(cb["embeds"][0]["color"], 0xD0_30_30);
    assert!(cb["nonce"].is_string() && cb["enforce_nonce"] == true, "{cb}");

    // A thread from the card, where the reporter is mentioned (and may be pinged).
    bot::eventually(&fake, "the welcome in the thread", || {
        fake.threads().iter().any(|t| !fake.bot_messages(t.id).is_empty())
    })
    .await;
    let thread = fake
        .threads()
        .into_iter()
        .find(|t| t.parent_id == desk_ch)
        .expect("a thread on the card");
    let welcome = &fake.bot_messages(thread.id)[0];
    assert!(
        welcome
            .content()
            .starts_with(&format!("<@{bob}> bob, thanks for reporting INC-1")),
        "{}",
        welcome.content()
    );
    let wb = welcome.create_body.clone().unwrap();
    assert_eq!(ids(&wb["allowed_mentions"]["users"]), vec![bob]);

    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM incidents WHERE title LIKE 'Mail is down%' AND priority = 1"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&db, &format!("SELECT COUNT(*) FROM incidents WHERE reporter = {bob}")).await,
        1
    );
    assert_mention_safe(&fake, &[sd_role], &[bob]);
    assert!(fake.unknown_routes().is_empty(), "{:?}", fake.unknown_routes());
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_are_registered_from_the_table_and_answered_in_time() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;

    let commands = fake.commands();
    let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
    for expected in [
        "incident",
        "show",
        "incidents",
        "take",
        "assign",
        "status",
        "note",
        "resolve",
        "help",
        "raci",
        "whois",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let incident = commands.iter().find(|c| c["name"] == "incident").unwrap();
    let impact = incident["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "impact")
        .unwrap();
    assert_eq!(impact["choices"].as_array().unwrap().len(), 3);

    let (general, bob) = (spec.channel_id("general"), spec.user_id("bob"));
    let (id, _) = fake.inject_interaction(
        InteractionSpec::slash("incident", bob, general)
            .string("title", "VPN keeps dropping")
            .string("impact", "high")
            .string("service", "vpn"),
    );
    let record = fake.wait_for_interaction_response(id, WAIT).await.unwrap();
    assert!(
        record.rejected_callbacks.is_empty(),
        "answered within the deadline: {:?}",
        record.rejected_callbacks
    );
    let cb = record.callback.unwrap();
    assert!(
        cb["data"]["content"].as_str().unwrap().starts_with("INC-1 logged: P2"),
        "{cb}"
    );
    assert_eq!(cb["data"]["flags"].as_u64().unwrap_or(0) & 64, 0, "a success is public");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE service = 'vpn'").await,
        1
    );

    // Errors are ephemeral.
    let (id, _) = fake.inject_interaction(InteractionSpec::slash("take", bob, general).string("id", "INC-1"));
    let (text, private) = bot::slash_answer(&fake, id).await;
    assert!(private, "{text}");
    assert!(text.contains("Only agents"), "{text}");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE assignee IS NOT NULL").await,
        0
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_reactions_log_once_and_claims_by_non_agents_are_removed_and_explained() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, desk_ch) = (spec.channel_id("general"), spec.channel_id("service-desk"));
    let (alice, bob, irene) = (spec.user_id("alice"), spec.user_id("bob"), spec.user_id("irene"));

    let msg = fake.inject_message(general, bob, "the printer on floor 3 is on fire\nsecond line");
    fake.inject_reaction_add(general, msg, alice, "🎫");
    fake.wait_for(
        "the card",
        |c| {
            c.iter()
                .any(|c| c.is("POST /channels/{c}/messages") && c.id_at(1) == Some(desk_ch))
        },
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(
        scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM incidents WHERE reporter = {bob} AND title = 'the printer on floor 3 is on fire'"
            )
        )
        .await,
        1
    );
    // The same reaction replayed, and another agent's 🎫: still one incident.
    fake.inject_reaction_add(general, msg, alice, "🎫");
    fake.inject_reaction_add(general, msg, irene, "🎫");
    bot::eventually(&fake, "irene is told", || {
        fake.dm_channel(irene)
            .is_some_and(|dm| !fake.bot_messages(dm).is_empty())
    })
    .await;
    assert!(fake.bot_messages(fake.dm_channel(irene).unwrap())[0]
        .content()
        .contains("already logged as INC-1"));
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 1);

    let card = fake
        .bot_messages(desk_ch)
        .into_iter()
        .find(|m| m.content().contains("New incident INC-1"))
        .unwrap();
    let from = fake.calls().len();
    fake.inject_reaction_add(desk_ch, card.id, bob, "✋");
    let removal = fake
        .wait_for_call("DELETE /channels/{c}/messages/{m}/reactions/{e}/{u}", from, WAIT)
        .await
        .unwrap();
    assert_eq!(removal.id_at(6), Some(bob));
    bot::eventually(&fake, "bob is told why", || {
        fake.dm_channel(bob).is_some_and(|dm| {
            fake.bot_messages(dm)
                .iter()
                .any(|m| m.content().contains("Only agents may claim"))
        })
    })
    .await;
    // (bob's first DM is 🎫's private ask to complete the details.)
    assert!(fake
        .bot_messages(fake.dm_channel(bob).unwrap())
        .iter()
        .any(|m| m.content().contains("Only agents may claim")));
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE assignee IS NOT NULL").await,
        0
    );

    fake.inject_reaction_add(desk_ch, card.id, alice, "✋");
    bot::eventually(&fake, "the card is edited", || {
        fake.message(card.id).is_some_and(|m| !m.edit_bodies.is_empty())
    })
    .await;
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM incidents WHERE assignee = {alice} AND state = 'assigned'")
        )
        .await,
        1
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_send_failing_with_429_then_500_is_delivered_exactly_once() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let desk_ch = spec.channel_id("service-desk");
    let pattern = format!("POST /channels/{desk_ch}/messages");
    fake.fail_next(
        pattern.as_str(),
        Fault::RateLimited {
            retry_after_secs: 0.2,
            global: false,
        },
    );
    fake.fail_next(pattern.as_str(), Fault::ServerError);
    let bot = bot::start(&fake, &db).await;
    fake.inject_message(
        spec.channel_id("general"),
        spec.user_id("bob"),
        "!incident Payroll export fails service=payroll",
    );
    bot::eventually(&fake, "the card delivered", || {
        fake.bot_messages(desk_ch)
            .iter()
            .any(|m| m.content().contains("New incident INC-1"))
    })
    .await;
    bot::eventually(&fake, "the thread welcome", || {
        fake.threads().iter().any(|t| !fake.bot_messages(t.id).is_empty())
    })
    .await;
    let faults = fake.faults_served();
    assert_eq!((faults.rate_limited, faults.server_errors), (1, 1));
    let cards: Vec<_> = fake
        .bot_messages(desk_ch)
        .into_iter()
        .filter(|m| m.content().contains("INC-1"))
        .collect();
    assert_eq!(cards.len(), 1, "exactly one card");
    let im_ch = spec.channel_id("incident-management");
    bot::eventually(&fake, "the accountable's FYI", || {
        fake.bot_messages(im_ch).iter().any(|m| m.content().contains("INC-1"))
    })
    .await;
    // The FYI and the thread's rows drain in separate queues: wait for all of them.
    bot::drained(&fake, &db).await;
    bot.stop().await;
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );
    assert_eq!(scalar(&db, "SELECT attempts FROM outbox WHERE kind = 'card'").await, 3);
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_replayed_after_a_dropped_gateway_make_no_duplicates() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, bob) = (spec.channel_id("general"), spec.user_id("bob"));
    let replies = |fake: &FakeDiscord| fake.bot_messages(general).len();

    fake.inject_message(general, bob, "!incident first");
    bot::eventually(&fake, "first reply", || replies(&fake) == 1).await;
    // The same event delivered twice (a duplicate dispatch).
    fake.inject_duplicate_last();
    assert!(fake.drop_connection());
    fake.inject_message(general, bob, "!incident second");
    fake.inject_message(general, bob, "!incident third");
    fake.wait_for_gateway("a resume", |s| s.resumes >= 1 && s.connected, WAIT)
        .await
        .unwrap();
    bot::eventually(&fake, "three replies", || replies(&fake) >= 3).await;
    // One more round trip proves everything queued before it was handled.
    fake.inject_message(general, bob, "!incidents");
    bot::eventually(&fake, "the list", || {
        fake.bot_messages(general)
            .iter()
            .any(|m| m.content().contains("Open incidents you can see"))
    })
    .await;
    assert_eq!(
        replies(&fake),
        4,
        "no extra replies: {:?}",
        fake.bot_messages(general)
            .iter()
            .map(|m| m.content().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 3);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit").await, 3);
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_messages_are_delivered_once_after_a_restart() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let desk_ch = spec.channel_id("service-desk");
    {
        // Committed while the bot is not running: nothing delivered yet.
        let desk = bot::offline_desk(&fake, &db).await;
        let who = opsdesk::desk::Actor {
            user: opsdesk::domain::UserId::new(spec.user_id("bob")),
            name: "bob".into(),
            roles: vec![],
        };
        let inbound = opsdesk::desk::Inbound {
            key: "test:1".into(),
            actor: who,
            channel: None,
            event: opsdesk::desk::Event::Line("!incident Wi-Fi down in building B".into()),
        };
        assert!(matches!(desk.handle(inbound).await, opsdesk::desk::Outcome::Reply(_)));
        desk.store().close().await;
    }
    // The card, the thread's welcome, and the accountable incident manager told.
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        3
    );

    let bot = bot::start(&fake, &db).await;
    bot::eventually(&fake, "the card", || {
        fake.bot_messages(desk_ch).iter().any(|m| m.content().contains("INC-1"))
    })
    .await;
    bot::eventually(&fake, "the welcome", || {
        fake.threads().iter().any(|t| !fake.bot_messages(t.id).is_empty())
    })
    .await;
    let im_ch = spec.channel_id("incident-management");
    bot::eventually(&fake, "the accountable's FYI", || {
        fake.bot_messages(im_ch).iter().any(|m| m.content().contains("INC-1"))
    })
    .await;
    bot::drained(&fake, &db).await;
    bot.stop().await;
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").await,
        0
    );

    let sends = fake.calls_matching("POST /channels/{c}/messages").len();
    let bot = bot::start(&fake, &db).await;
    // A round trip through the restarted bot, then check nothing was re-sent.
    fake.inject_message(spec.channel_id("general"), spec.user_id("bob"), "!help");
    fake.wait_for(
        "the help reply",
        |c| c.iter().filter(|c| c.is("POST /channels/{c}/messages")).count() > sends,
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(fake.calls_matching("POST /channels/{c}/messages").len(), sends + 1);
    assert_eq!(
        fake.bot_messages(desk_ch)
            .iter()
            .filter(|m| m.content().contains("INC-1"))
            .count(),
        1
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_ends_the_adapter_with_a_clear_error() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let db = TestDb::new();
    let bot = bot::launch(&fake, &db, "not-the-token").await;
    let err = bot.finish().await.expect_err("a wrong token fails");
    assert!(err.to_string().contains("Discord rejected the token"), "{err}");
}

#[test]
fn the_binary_exits_non_zero_with_a_message_when_discord_rejects_the_token() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeDiscord::start(GuildSpec::service_desk_default()));
    let db = TestDb::new();
    let out = crate::util::opsdesk()
        .args(["--database", &db.url(), "run"])
        .env("DISCORD_TOKEN", "wrong")
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_GATEWAY_URL", fake.gateway_url())
        .current_dir(db.dir.path())
        .output()
        .unwrap();
    // EX_CONFIG: a rejected token is not worth a restart.
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opsdesk run: Discord rejected the token"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    drop(rt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_in_an_incidents_thread_becomes_a_note_acknowledged_with_a_reaction() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, desk_ch, bob, alice, dana) = (
        spec.channel_id("general"),
        spec.channel_id("service-desk"),
        spec.user_id("bob"),
        spec.user_id("alice"),
        spec.user_id("dana"),
    );
    fake.inject_message(general, bob, "!incident Scanner offline");
    bot::eventually(&fake, "the incident's thread", || {
        fake.threads().iter().any(|t| t.parent_id == desk_ch)
    })
    .await;
    let thread = fake.threads().into_iter().find(|t| t.parent_id == desk_ch).unwrap().id;
    bot::eventually(&fake, "the welcome", || !fake.bot_messages(thread).is_empty()).await;

    // The reporter and an agent write in the thread: each message is a note,
    // answered with 📝 on it; the reporter's pings the group working it.
    let by_bob = fake.inject_message(thread, bob, "still error 42 after a restart");
    let by_alice = fake.inject_message(thread, alice, "looking at it now");
    // Someone who neither reported nor works it chats there: left alone.
    let by_dana = fake.inject_message(thread, dana, "same here");
    for m in [by_bob, by_alice] {
        bot::eventually(&fake, "the 📝 reaction", || {
            fake.reactions(m).iter().any(|(e, _)| e == "📝")
        })
        .await;
    }
    bot::eventually(&fake, "the reporter's note in the thread", || {
        fake.bot_messages(thread).iter().any(|m| {
            m.content()
                .contains("bob (the reporter) added a note to INC-1: still error 42")
        })
    })
    .await;
    let sd_role = spec.role_id("Service Desk");
    let note = fake
        .bot_messages(thread)
        .into_iter()
        .find(|m| m.content().contains("(the reporter) added a note"))
        .unwrap();
    assert_eq!(
        ids(&note.create_body.clone().unwrap()["allowed_mentions"]["roles"]),
        vec![sd_role]
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incident_notes WHERE incident_id = 1").await,
        2
    );
    assert!(fake.reactions(by_dana).is_empty(), "{:?}", fake.reactions(by_dana));
    // No text reply is written for a note taken from the thread.
    assert!(
        !fake
            .bot_messages(thread)
            .iter()
            .any(|m| m.content().contains("Note added to INC-1")),
        "a thread note is answered by reaction only"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_never_spoke_can_be_named_in_a_command() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, carlos, dana) = (spec.channel_id("general"), spec.user_id("carlos"), spec.user_id("dana"));
    fake.inject_message(
        general,
        carlos,
        "!change Patch the mail relay service=email risk=low type=normal",
    );
    bot::eventually(&fake, "the change", || {
        fake.bot_messages(general).iter().any(|m| m.content().contains("CHG-1"))
    })
    .await;
    // dana has never written anything: the guild's member list names her.
    fake.inject_message(general, carlos, "!change implementer CHG-1 @dana");
    bot::eventually(&fake, "the implementer", || {
        fake.bot_messages(general)
            .iter()
            .any(|m| m.content().contains("carlos made dana the implementer of CHG-1"))
    })
    .await;
    assert_eq!(
        scalar(&db, &format!("SELECT COUNT(*) FROM changes WHERE implementer = {dana}")).await,
        1
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_refused_with_429_is_sent_again_only_after_discords_retry_after_and_once() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let general = spec.channel_id("general");
    let bot = bot::start(&fake, &db).await;
    let pattern = format!("POST /channels/{general}/messages");
    fake.fail_next(
        pattern.as_str(),
        Fault::RateLimited {
            retry_after_secs: 1.5,
            global: false,
        },
    );
    fake.inject_message(general, spec.user_id("bob"), "!help");
    fake.wait_for(
        "the help reply",
        |c| c.iter().any(|c| c.is(&pattern) && c.succeeded()),
        WAIT,
    )
    .await
    .unwrap();
    let sends: Vec<_> = fake.calls_matching(pattern.as_str());
    assert_eq!(sends.len(), 2, "refused once, then sent");
    assert_eq!(sends[0].status, 429);
    let waited = sends[1].at - sends[0].at;
    assert!(
        waited >= std::time::Duration::from_millis(1500),
        "tried again after {waited:?}, before Discord's 1.5 s"
    );
    assert_eq!(fake.bot_messages(general).len(), 1, "one reply");
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_commands_answer_refused_with_429_waits_for_retry_after_and_still_meets_the_deadline() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    fake.fail_next(
        "POST /interactions/{id}/{token}/callback",
        Fault::RateLimited {
            retry_after_secs: 0.6,
            global: false,
        },
    );
    let (id, _) = fake.inject_interaction(
        InteractionSpec::slash("incident", spec.user_id("bob"), spec.channel_id("general"))
            .string("title", "VPN drops every hour")
            .string("service", "vpn"),
    );
    bot::eventually(&fake, "the answer", || {
        fake.interaction(id).is_some_and(|r| r.callback.is_some())
    })
    .await;
    let record = fake.interaction(id).unwrap();
    let latency = record.callback_latency.unwrap();
    assert!(
        latency >= std::time::Duration::from_millis(600),
        "answered {latency:?} after the event, before Discord's 0.6 s wait"
    );
    assert!(latency < std::time::Duration::from_secs(3), "{latency:?}");
    assert_eq!(fake.faults_served().rate_limited, 1);
    assert_eq!(
        fake.calls_matching("POST /interactions/{id}/{token}/callback").len(),
        2,
        "refused once, answered once"
    );
    bot.stop().await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 1);
    assert_no_decode_problems();
}
