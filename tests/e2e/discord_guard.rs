//! Whom the desk trusts, through the real adapter against the fake Discord:
//! only the desk's guild (another guild that adds the bot, in either
//! GUILD_CREATE order, changes nothing and is never posted to), roles bound by
//! id (two roles of one name refuse start-up), and people (bots and webhooks
//! never act, but an allowed alerting bot may log incidents).

use opsdesk::discord::DiscordError;

use crate::bot::{self, assert_no_decode_problems, reply_to};
use crate::fake_discord::{FakeDiscord, GuildSpec, InteractionSpec, MemberSpec, RoleSpec};
use crate::util::TestDb;

/// The look-alike guild's ids are the desk's shifted by this.
const SHIFT: u64 = 1_000_000;

async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    n
}

async fn texts(db: &TestDb, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql)
        .fetch_all(&mut db.conn().await)
        .await
        .expect(sql)
}

async fn say(fake: &FakeDiscord, channel: u64, user: u64, line: &str) -> String {
    let id = fake.inject_message(channel, user, line);
    reply_to(fake, channel, id).await
}

fn dms(fake: &FakeDiscord, user: u64) -> Vec<String> {
    fake.dm_channel(user)
        .map(|c| fake.bot_messages(c).iter().map(|m| m.content().to_owned()).collect())
        .unwrap_or_default()
}

/// The desk guild with a look-alike second guild (same names, other ids).
fn two_guilds(other_first: bool) -> GuildSpec {
    let mut spec = GuildSpec::service_desk_default();
    spec.other_guilds.push(GuildSpec::look_alike(SHIFT));
    spec.other_guilds_first = other_first;
    spec
}

/// Messages the bot wrote anywhere in the look-alike guild.
fn posted_in_other_guild(fake: &FakeDiscord) -> usize {
    let other = &fake.spec().other_guilds[0];
    let mut n: usize = other.channels.iter().map(|c| fake.bot_messages(c.id).len()).sum();
    n += fake
        .threads()
        .iter()
        .filter(|t| other.channels.iter().any(|c| c.id == t.parent_id))
        .count();
    n
}

async fn run_against_two_guilds(other_first: bool, leave: bool) {
    let spec = two_guilds(other_first);
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let desk_id = spec.guild_id.to_string();
    let leave_flag = if leave { "true" } else { "false" };
    let policy = bot::policy_with(
        &fake,
        &[
            ("DISCORD_GUILD_ID", desk_id.as_str()),
            ("OPSDESK_DISCORD__LEAVE_OTHER_GUILDS", leave_flag),
        ],
    );
    let bot = bot::start_with(&fake, &db, policy).await;
    let other = &spec.other_guilds[0];
    let (x_general, x_bob, x_alice, x_carlos) = (
        other.channel_id("general"),
        other.user_id("x-bob"),
        other.user_id("x-alice"),
        other.user_id("x-carlos"),
    );
    // The other guild tries everything first: a report, an agent's moves, the change manager's.
    let typed = fake.inject_message(x_general, x_bob, "!incident Foreign takeover impact=high");
    fake.inject_message(x_general, x_alice, "!take INC-1");
    fake.inject_message(
        x_general,
        x_carlos,
        "!change Backdoor service=email risk=low type=normal",
    );
    fake.inject_reaction_add(x_general, typed, x_alice, "🎫");
    let (slash, _) =
        fake.inject_interaction(InteractionSpec::slash("incident", x_bob, x_general).string("title", "Slash takeover"));
    // Then the desk's own people.
    let (general, bob, alice) = (spec.channel_id("general"), spec.user_id("bob"), spec.user_id("alice"));
    let logged = say(&fake, general, bob, "!incident Printer down").await;
    assert!(logged.starts_with("INC-1 logged"), "{logged}");
    let taken = say(&fake, general, alice, "!take INC-1").await;
    assert!(taken.contains("INC-1"), "{taken}");
    bot::eventually(&fake, "the card's thread", || !fake.threads().is_empty()).await;
    if leave {
        bot::eventually(&fake, "leaving the other guild", || !fake.left_guilds().is_empty()).await;
        assert_eq!(fake.left_guilds(), [other.guild_id]);
    }
    // A last round trip through the desk, after everything else was handed over.
    let shown = say(&fake, general, bob, "!show INC-1").await;
    assert!(shown.contains("Printer down"), "{shown}");
    assert_eq!(
        texts(&db, "SELECT title FROM incidents").await,
        ["Printer down"],
        "order other_first={other_first}"
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM changes").await, 0);
    assert_eq!(posted_in_other_guild(&fake), 0, "nothing is posted to the other guild");
    assert!(fake.dm_channel(x_bob).is_none() && fake.dm_channel(x_alice).is_none());
    // The desk's card is in the desk's #service-desk, its thread under it.
    let sd = spec.channel_id("service-desk");
    assert_eq!(fake.bot_messages(sd).len(), 1);
    assert!(fake.threads().iter().all(|t| t.parent_id == sd));
    // Slash commands are registered in the desk's guild only.
    let registered: Vec<String> = fake
        .calls_matching("PUT /applications/{app}/guilds/{guild}/commands")
        .iter()
        .map(|c| c.segment(3).unwrap_or_default().to_owned())
        .collect();
    assert!(registered.iter().all(|g| *g == desk_id), "{registered:?}");
    if !leave {
        assert!(fake.left_guilds().is_empty());
    }
    let answered = fake.interaction(slash).and_then(|i| i.callback);
    assert!(
        answered.is_none(),
        "the other guild's slash command is not answered: {answered:?}"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_guild_is_ignored_when_its_guild_create_comes_last() {
    run_against_two_guilds(false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_guild_is_ignored_and_left_when_its_guild_create_comes_first() {
    run_against_two_guilds(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_guild_configured_two_guilds_refuse_to_guess_and_name_the_setting() {
    let fake = FakeDiscord::start(two_guilds(false)).await;
    let db = TestDb::new();
    let bot = bot::launch(&fake, &db, &fake.spec().token.clone()).await;
    match bot.finish().await {
        Err(DiscordError::Refused(why)) => {
            assert!(
                why.contains("discord.guild_id") && why.contains("DISCORD_GUILD_ID"),
                "{why}"
            );
            assert!(why.contains(&fake.spec().guild_id.to_string()), "{why}");
            assert!(why.contains(&(fake.spec().guild_id + SHIFT).to_string()), "{why}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(fake.commands().is_empty(), "no guild was served");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_roles_named_service_desk_refuse_start_up_naming_both_unless_config_gives_the_id() {
    let mut spec = GuildSpec::service_desk_default();
    let real = spec.role_id("Service Desk");
    let twin = 1_200_000_000_000_000_299;
    spec.roles.push(RoleSpec {
        id: twin,
        name: "Service Desk".into(),
    });
    spec.members.push(MemberSpec {
        user_id: 1_200_000_000_000_000_481,
        username: "twin".into(),
        role_ids: vec![twin],
        dms_closed: false,
    });
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let bot = bot::launch(&fake, &db, &spec.token).await;
    match bot.finish().await {
        Err(DiscordError::Refused(why)) => {
            assert!(
                why.contains(&format!(
                    "role `Service Desk` (roles.service_desk.chat_role) names 2 roles: {real} and {twin}"
                )),
                "{why}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Config gives the id: that role, and only it, is the service desk.
    let fake = FakeDiscord::start(spec.clone()).await;
    let id = format!("\"{real}\"");
    let policy = bot::policy_with(&fake, &[("OPSDESK_ROLES__SERVICE_DESK__CHAT_ROLE", id.as_str())]);
    let bot = bot::start_with(&fake, &db, policy).await;
    let general = spec.channel_id("general");
    say(&fake, general, spec.user_id("bob"), "!incident Printer down").await;
    let refused = say(&fake, general, spec.user_id("twin"), "!take INC-1").await;
    assert!(refused.starts_with("Only agents"), "{refused}");
    let taken = say(&fake, general, spec.user_id("alice"), "!take INC-1").await;
    assert!(taken.contains("alice"), "{taken}");
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_and_webhooks_never_act_and_an_allowed_bot_only_logs_incidents() {
    let mut spec = GuildSpec::service_desk_default();
    let (sd, cab) = (spec.role_id("Service Desk"), spec.role_id("CAB"));
    let (robo, alerts) = (1_200_000_000_000_000_491u64, 1_200_000_000_000_000_492u64);
    for (user_id, username) in [(robo, "robo"), (alerts, "alertbot")] {
        spec.members.push(MemberSpec {
            user_id,
            username: username.into(),
            role_ids: vec![sd, cab],
            dms_closed: false,
        });
        spec.bot_members.push(user_id);
    }
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let allowed = format!("[\"{alerts}\"]");
    let policy = bot::policy_with(&fake, &[("OPSDESK_DISCORD__ALLOWED_BOTS", allowed.as_str())]);
    let bot = bot::start_with(&fake, &db, policy).await;
    let (general, bob, alice) = (spec.channel_id("general"), spec.user_id("bob"), spec.user_id("alice"));

    // Another bot types and reacts; a webhook posts a command.
    fake.inject_message(general, robo, "!incident Bot takeover");
    let chat = fake.inject_message(general, bob, "the wifi is down");
    fake.inject_reaction_add(general, chat, robo, "🎫");
    let webhook = fake.inject_message(general, bob, "placeholder");
    let (t, mut d) = fake.last_injected().unwrap();
    d["content"] = "!incident Webhook takeover".into();
    d["webhook_id"] = "1200000000000000777".into();
    d["id"] = (webhook + 1).to_string().into();
    d.as_object_mut().unwrap().remove("member");
    fake.inject_raw(&t, d);

    // The allowed bot logs an incident, and can do nothing else.
    let logged = say(&fake, general, alerts, "!incident Disk full on db1 impact=high").await;
    assert!(logged.starts_with("INC-1 logged"), "{logged}");
    fake.inject_message(general, alerts, "!take INC-1");
    let card = {
        let sd_channel = spec.channel_id("service-desk");
        bot::eventually(&fake, "the card", || !fake.bot_messages(sd_channel).is_empty()).await;
        (sd_channel, fake.bot_messages(sd_channel)[0].id)
    };
    fake.inject_reaction_add(card.0, card.1, robo, "✋");

    // 🎫 on opsdesk's own message: refused, taken back, and the person told where to react.
    let reply = fake
        .bot_messages(general)
        .into_iter()
        .find(|m| m.content().starts_with("INC-1 logged"))
        .unwrap()
        .id;
    fake.inject_reaction_add(general, reply, alice, "🎫");
    bot::eventually(&fake, "alice is told", || !dms(&fake, alice).is_empty()).await;
    assert_eq!(
        dms(&fake, alice),
        ["That message was written by a bot, so there is nobody to log it for: react 🎫 on the original message, or use `!incident`."]
    );
    bot::eventually(&fake, "the 🎫 taken back", || {
        !fake.reactions(reply).contains(&("🎫".to_owned(), alice))
    })
    .await;

    // A round trip, then what the database holds.
    let shown = say(&fake, general, alice, "!show INC-1").await;
    assert!(shown.contains("Disk full on db1"), "{shown}");
    assert_eq!(texts(&db, "SELECT title FROM incidents").await, ["Disk full on db1"]);
    assert_eq!(
        texts(
            &db,
            "SELECT state || ' ' || reporter || ' ' || COALESCE(CAST(assignee AS TEXT), '-') FROM incidents"
        )
        .await,
        [format!("new {alerts} -")]
    );
    let bot_events = scalar(
        &db,
        &format!(
            "SELECT COUNT(*) FROM audit WHERE actor IN ('{robo}', '{}')",
            spec.bot_user_id
        ),
    )
    .await;
    assert_eq!(bot_events, 0, "no bot acted");
    assert_eq!(
        scalar(&db, &format!("SELECT COUNT(*) FROM audit WHERE actor = '{alerts}'")).await,
        1,
        "the alerting bot logged one incident and did nothing else"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_from_someone_outside_the_desk_guild_is_not_served() {
    let spec = two_guilds(false);
    let fake = FakeDiscord::start(spec.clone()).await;
    let db = TestDb::new();
    let desk_id = spec.guild_id.to_string();
    let policy = bot::policy_with(&fake, &[("DISCORD_GUILD_ID", desk_id.as_str())]);
    let bot = bot::start_with(&fake, &db, policy).await;
    let stranger = spec.other_guilds[0].user_id("x-bob");
    let (x_dm, _) = fake.inject_dm(stranger, "!incident From outside");
    let bob = spec.user_id("bob");
    let (dm, asked) = fake.inject_dm(bob, "!incident From a member");
    bot::eventually(&fake, "bob's answer", || !fake.bot_messages(dm).is_empty()).await;
    assert!(
        fake.bot_messages(dm)[0].content().starts_with("INC-1 logged"),
        "{asked}"
    );
    // A round trip after the stranger's DM.
    let (dm2, _) = fake.inject_dm(bob, "!show INC-1");
    bot::eventually(&fake, "bob's second answer", || fake.bot_messages(dm2).len() >= 2).await;
    assert!(fake.bot_messages(x_dm).is_empty(), "the stranger gets no answer");
    assert_eq!(texts(&db, "SELECT title FROM incidents").await, ["From a member"]);
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_with_a_token_refuses_a_role_name_two_roles_share_in_the_live_guild() {
    let check = |fake: &FakeDiscord, db: &TestDb| {
        crate::util::opsdesk()
            .args(["check-config"])
            .env("DISCORD_TOKEN", &fake.spec().token)
            .env("DISCORD_API_BASE", fake.api_base())
            .current_dir(db.dir.path())
            .output()
            .expect("opsdesk check-config")
    };
    let db = TestDb::new();
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let out = tokio::task::block_in_place(|| check(&fake, &db));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "guild {}: every role config names resolves to exactly one role",
            fake.spec().guild_id
        )),
        "{stdout}"
    );

    let mut spec = GuildSpec::service_desk_default();
    let real = spec.role_id("CAB");
    spec.roles.push(RoleSpec {
        id: 1_200_000_000_000_000_298,
        name: "cab".into(),
    });
    let fake = FakeDiscord::start(spec).await;
    let out = tokio::task::block_in_place(|| check(&fake, &db));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("names 2 roles: {real} and 1200000000000000298"))
            && stderr.contains("roles.cab.chat_role"),
        "{stderr}"
    );

    // Two guilds and none configured: the setting is named.
    let fake = FakeDiscord::start(two_guilds(false)).await;
    let out = tokio::task::block_in_place(|| check(&fake, &db));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("discord.guild_id"), "{stderr}");
}
