//! Escalation by reaction through the real Discord adapter, against the fake
//! Discord and a real SQLite file: ⬆️ on an incident card by an agent hands the
//! incident to the next support tier and pings that tier's role in its channel;
//! by anyone else the reaction is taken back and the person told why. `/priority`
//! re-prioritises through the same adapter and pings the role only when it rises.

use serde_json::Value;

use crate::bot::{self, assert_no_decode_problems, WAIT};
use crate::fake_discord::{FakeDiscord, GuildSpec, InteractionSpec, StoredMessage};
use crate::util::TestDb;

async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    n
}

async fn text(db: &TestDb, sql: &str) -> String {
    let (s,): (String,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    s
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

/// The value of a field of a card's embed.
fn field(card: &StoredMessage, name: &str) -> String {
    card.embeds()[0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Logs INC-1 against email as bob and returns its card in #service-desk.
async fn incident_card(fake: &FakeDiscord) -> StoredMessage {
    let spec = fake.spec();
    let desk_ch = spec.channel_id("service-desk");
    fake.inject_message(
        spec.channel_id("general"),
        spec.user_id("bob"),
        "!incident Mail is down impact=high urgency=high service=email",
    );
    let card = || {
        fake.bot_messages(desk_ch)
            .into_iter()
            .find(|m| m.content().contains("New incident INC-1"))
    };
    bot::eventually(fake, "the card", || card().is_some()).await;
    // The thread too, so later thread messages have somewhere to go.
    bot::eventually(fake, "the card's thread", || {
        fake.threads().iter().any(|t| !fake.bot_messages(t.id).is_empty())
    })
    .await;
    card().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_by_a_non_agent_is_removed_and_explained_and_changes_nothing() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, support_ch) = (spec.channel_id("service-desk"), spec.channel_id("systems-support"));
    let bob = spec.user_id("bob");
    let card = incident_card(&fake).await;

    let from = fake.calls().len();
    fake.inject_reaction_add(desk_ch, card.id, bob, "⬆️");
    let removal = fake
        .wait_for_call("DELETE /channels/{c}/messages/{m}/reactions/{e}/{u}", from, WAIT)
        .await
        .unwrap();
    assert_eq!(
        (removal.id_at(1), removal.id_at(3), removal.segment(5), removal.id_at(6)),
        (Some(desk_ch), Some(card.id), Some("⬆️"), Some(bob))
    );
    bot::eventually(&fake, "bob is told why", || {
        fake.dm_channel(bob).is_some_and(|dm| !fake.bot_messages(dm).is_empty())
    })
    .await;
    let told = fake.bot_messages(fake.dm_channel(bob).unwrap());
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].content(),
        "Only agents may escalate incidents with ⬆️; your reaction was removed. To ask for escalation, use `!escalate INC-1 <why>`."
    );
    assert!(
        fake.reactions(card.id).iter().all(|(_, u)| *u != bob),
        "bob's ⬆️ is gone from the card"
    );

    // A round trip through the bot, then check nothing else happened.
    fake.inject_message(spec.channel_id("general"), bob, "!show INC-1");
    let shown = || {
        fake.bot_messages(spec.channel_id("general"))
            .into_iter()
            .find(|m| m.content().starts_with("**INC-1**"))
    };
    bot::eventually(&fake, "the !show reply", || shown().is_some()).await;
    let shown = shown().unwrap();
    assert!(
        shown.content().contains("handled by Service Desk (#service-desk)"),
        "{}",
        shown.content()
    );
    assert!(fake.bot_messages(support_ch).is_empty(), "nobody is pinged");
    assert!(
        fake.message(card.id).unwrap().edit_bodies.is_empty(),
        "the card is unchanged"
    );
    bot.stop().await;
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM incidents WHERE id = 1 AND tier = 0 AND handler_role = 'service_desk'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action LIKE 'escalat%'").await,
        0
    );
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_by_an_agent_hands_the_incident_to_the_next_tier_and_pings_its_role() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, support_ch) = (spec.channel_id("service-desk"), spec.channel_id("systems-support"));
    let (alice, bob) = (spec.user_id("alice"), spec.user_id("bob"));
    let support_role = spec.role_id("Systems Support");
    let card = incident_card(&fake).await;
    assert_eq!(field(&card, "Handled by"), "Service Desk");

    // alice claims it first, so the escalation visibly frees it for the next tier.
    fake.inject_reaction_add(desk_ch, card.id, alice, "✋");
    bot::eventually(&fake, "the claim on the card", || {
        fake.message(card.id).is_some_and(|m| m.edit_bodies.len() == 1)
    })
    .await;
    fake.inject_reaction_add(desk_ch, card.id, alice, "⬆️");

    // The new tier's role is pinged in its own channel, and only it.
    bot::eventually(&fake, "the ping in #systems-support", || {
        !fake.bot_messages(support_ch).is_empty()
    })
    .await;
    let ping = &fake.bot_messages(support_ch)[0];
    assert_eq!(
        ping.content(),
        format!(
            "<@&{support_role}> ⬆️ alice escalated INC-1 (P1) from Service Desk to Systems Support (tier 2 of 3): Mail is down."
        )
    );
    let body = ping.create_body.clone().unwrap();
    assert_eq!(ids(&body["allowed_mentions"]["roles"]), vec![support_role]);
    assert!(ids(&body["allowed_mentions"]["users"]).is_empty());
    assert!(body["allowed_mentions"]["parse"].as_array().is_none_or(Vec::is_empty));

    // alice reads the answer where she reacted; the card shows the new handler.
    bot::eventually(&fake, "the answer and the card edit", || {
        let answered = fake
            .bot_messages(desk_ch)
            .iter()
            .any(|m| m.content() == "INC-1 escalated to Systems Support (#systems-support), tier 2 of 3.");
        answered && fake.message(card.id).is_some_and(|m| m.edit_bodies.len() == 2)
    })
    .await;
    let edited = fake.message(card.id).unwrap();
    assert_eq!(field(&edited, "Handled by"), "Systems Support");
    assert_eq!(field(&edited, "Assignee"), "unassigned");
    // The service desk is told without a ping; the thread gets the story.
    let informed = || {
        fake.bot_messages(desk_ch)
            .into_iter()
            .find(|m| m.content().starts_with("⬆️ alice escalated INC-1"))
    };
    bot::eventually(&fake, "the service desk told", || informed().is_some()).await;
    let informed = informed().unwrap();
    assert!(ids(&informed.create_body.unwrap()["allowed_mentions"]["roles"]).is_empty());
    let thread = fake
        .threads()
        .into_iter()
        .find(|t| t.message_id == Some(card.id))
        .unwrap();
    bot::eventually(&fake, "the thread message", || {
        fake.bot_messages(thread.id)
            .iter()
            .any(|m| m.content().starts_with("⬆️ alice escalated INC-1"))
    })
    .await;
    // An agent's reaction stays.
    assert!(fake
        .calls_matching("DELETE /channels/{c}/messages/{m}/reactions/{e}/{u}")
        .is_empty());
    assert!(fake.reactions(card.id).contains(&("⬆️".to_owned(), alice)));
    assert!(fake.dm_channel(bob).is_none(), "nobody is told privately");

    bot.stop().await;
    assert_eq!(scalar(&db, "SELECT tier FROM incidents WHERE id = 1").await, 1);
    assert_eq!(
        text(&db, "SELECT handler_role FROM incidents WHERE id = 1").await,
        "systems_support"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM incidents WHERE id = 1 AND assignee IS NULL").await,
        1
    );
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM audit WHERE action = 'escalate_functional' AND actor = {alice}")
        )
        .await,
        1
    );
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_priority_by_an_agent_edits_the_card_and_pings_the_role_only_when_it_rises() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, desk_role) = (spec.channel_id("general"), spec.role_id("Service Desk"));
    let (alice, bob) = (spec.user_id("alice"), spec.user_id("bob"));
    let card = incident_card(&fake).await;
    assert_eq!(field(&card, "Priority"), "P1");
    let thread = fake
        .threads()
        .into_iter()
        .find(|t| t.message_id == Some(card.id))
        .unwrap();
    // The reporter may not change it: a private answer, nothing changed.
    let (id, _) = fake.inject_interaction(
        InteractionSpec::slash("priority", bob, general)
            .string("id", "INC-1")
            .string("impact", "low"),
    );
    let (text, private) = bot::slash_answer(&fake, id).await;
    assert!(private && text.starts_with("Only agents"), "{text}");

    // An agent lowers it: a public answer, the card edited, no ping.
    let (id, _) = fake.inject_interaction(
        InteractionSpec::slash("priority", alice, general)
            .string("id", "INC-1")
            .string("impact", "low")
            .string("reason", "only <@&1> @everyone one mailbox"),
    );
    let (text, private) = bot::slash_answer(&fake, id).await;
    assert_eq!(
        (text.as_str(), private),
        (
            "INC-1 is now P3 (impact low × urgency high, was P1); its SLA clocks moved to the new targets.",
            false
        )
    );
    bot::eventually(&fake, "the card edit", || {
        fake.message(card.id).is_some_and(|m| !m.edit_bodies.is_empty())
    })
    .await;
    assert_eq!(field(&fake.message(card.id).unwrap(), "Priority"), "P3");
    let story = |from: &'static str| {
        let fake = &fake;
        move || {
            fake.bot_messages(thread.id)
                .into_iter()
                .find(|m| m.content().contains(&format!("alice re-prioritised INC-1 from {from}")))
        }
    };
    bot::eventually(&fake, "the thread told of P1 → P3", || story("P1")().is_some()).await;
    let lowered = story("P1")().unwrap();
    let body = lowered.create_body.clone().unwrap();
    assert!(ids(&body["allowed_mentions"]["roles"]).is_empty(), "{body}");
    assert!(body["allowed_mentions"]["parse"].as_array().is_none_or(Vec::is_empty));
    assert!(!lowered.content().contains("<@&1>") && !lowered.content().contains("@everyone"));

    // Raising it again pings the handling role in the thread.
    let (id, _) = fake.inject_interaction(
        InteractionSpec::slash("priority", alice, general)
            .string("id", "INC-1")
            .string("impact", "high"),
    );
    let (text, _) = bot::slash_answer(&fake, id).await;
    assert!(text.starts_with("INC-1 is now P1"), "{text}");
    bot::eventually(&fake, "the thread told of P3 → P1", || story("P3")().is_some()).await;
    let raised = story("P3")().unwrap();
    assert!(raised
        .content()
        .starts_with(&format!("<@&{desk_role}> alice re-prioritised")));
    assert_eq!(
        ids(&raised.create_body.unwrap()["allowed_mentions"]["roles"]),
        vec![desk_role]
    );

    bot.stop().await;
    assert_eq!(scalar(&db, "SELECT priority FROM incidents WHERE id = 1").await, 1);
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM audit WHERE details LIKE 're-prioritised %' AND actor = {alice}")
        )
        .await,
        2
    );
    assert_no_decode_problems();
}
