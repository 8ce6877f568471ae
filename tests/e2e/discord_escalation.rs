//! Escalation by reaction through the real Discord adapter, against the fake
//! Discord and a real SQLite file: ⬆️ on an incident card by an agent hands the
//! incident to the next support tier, re-posts its card in that tier's channel
//! (pinging its role; the old card points there) where ✋ claims it;
//! by anyone else the reaction is taken back and the person told why. `/priority`
//! re-prioritises through the same adapter and pings the role only when it rises.

use serde_json::Value;

use crate::bot::{self, assert_no_decode_problems, WAIT};
use crate::fake_discord::{FakeDiscord, GuildSpec, InteractionSpec, MemberSpec, StoredMessage};
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

/// The default guild with sid, a member of Systems Support (the second tier).
fn guild_with_second_tier() -> GuildSpec {
    let mut spec = GuildSpec::service_desk_default();
    let role = spec.role_id("Systems Support");
    spec.members.push(MemberSpec {
        user_id: 1_200_000_000_000_000_499,
        username: "sid".into(),
        role_ids: vec![role],
        dms_closed: false,
    });
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_by_an_agent_moves_the_card_to_the_next_tier_where_its_member_claims_it() {
    let fake = FakeDiscord::start(guild_with_second_tier()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, support_ch) = (spec.channel_id("service-desk"), spec.channel_id("systems-support"));
    let (alice, bob, sid) = (spec.user_id("alice"), spec.user_id("bob"), spec.user_id("sid"));
    let support_role = spec.role_id("Systems Support");
    let card = incident_card(&fake).await;
    assert_eq!(field(&card, "Handled by"), "Service Desk");
    let thread = fake
        .threads()
        .into_iter()
        .find(|t| t.message_id == Some(card.id))
        .unwrap();

    // alice claims it first, so the escalation visibly frees it for the next tier.
    fake.inject_reaction_add(desk_ch, card.id, alice, "✋");
    bot::eventually(&fake, "the claim on the card", || {
        fake.message(card.id).is_some_and(|m| m.edit_bodies.len() == 1)
    })
    .await;
    fake.inject_reaction_add(desk_ch, card.id, alice, "⬆️");

    // The card is posted anew in the new tier's channel, pinging its role, and only it.
    bot::eventually(&fake, "the card in #systems-support", || {
        !fake.bot_messages(support_ch).is_empty()
    })
    .await;
    let moved = fake.bot_messages(support_ch)[0].clone();
    assert_eq!(
        moved.content(),
        format!(
            "<@&{support_role}> ⬆️ alice escalated INC-1 (P1) from Service Desk to Systems Support (tier 2 of 3): Mail is down.\nUpdates and replies stay in the incident's thread: <#{}>",
            thread.id
        )
    );
    assert_eq!(field(&moved, "Handled by"), "Systems Support");
    assert_eq!(field(&moved, "Assignee"), "unassigned");
    let body = moved.create_body.clone().unwrap();
    assert_eq!(ids(&body["allowed_mentions"]["roles"]), vec![support_role]);
    assert!(ids(&body["allowed_mentions"]["users"]).is_empty());
    assert!(body["allowed_mentions"]["parse"].as_array().is_none_or(Vec::is_empty));

    // The old card points there, without its embed; alice reads the answer where she reacted.
    bot::eventually(&fake, "the answer and the old card edited", || {
        let answered = fake
            .bot_messages(desk_ch)
            .iter()
            .any(|m| m.content() == "INC-1 escalated to Systems Support (#systems-support), tier 2 of 3.");
        answered && fake.message(card.id).is_some_and(|m| m.edit_bodies.len() == 2)
    })
    .await;
    let old = fake.message(card.id).unwrap();
    assert_eq!(
        old.content(),
        "⬆️ Escalated to Systems Support — see #systems-support. INC-1 (P1): Mail is down"
    );
    assert!(old.embeds().is_empty(), "{:?}", old.embeds());
    assert!(ids(&old.edit_bodies[1]["allowed_mentions"]["roles"]).is_empty());
    // The thread stays on the first card and gets the story; #service-desk gets no FYI beside its edit.
    bot::eventually(&fake, "the thread message", || {
        fake.bot_messages(thread.id)
            .iter()
            .any(|m| m.content().starts_with("⬆️ alice escalated INC-1"))
    })
    .await;
    assert!(
        !fake
            .bot_messages(desk_ch)
            .iter()
            .any(|m| m.content().contains("alice escalated INC-1")),
        "no FYI beside the edited card: {:?}",
        fake.bot_messages(desk_ch)
            .iter()
            .map(|m| m.content().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(fake.threads().len(), 1, "no second thread");

    // ✋ on the new card by a member of the new tier assigns it to him.
    fake.inject_reaction_add(support_ch, moved.id, sid, "✋");
    bot::eventually(&fake, "the claim on the new card", || {
        fake.message(moved.id)
            .is_some_and(|m| m.edit_bodies.len() == 1 && field(&m, "Assignee") == "sid")
    })
    .await;
    bot::eventually(&fake, "the claim in the thread", || {
        fake.bot_messages(thread.id)
            .iter()
            .any(|m| m.content() == "sid took INC-1.")
    })
    .await;
    // The claim edits the card where it is now, still pointing at the thread; the old post stays a pointer.
    let claimed = fake.message(moved.id).unwrap();
    assert!(
        claimed.content().ends_with(&format!(
            "Updates and replies stay in the incident's thread: <#{}>",
            thread.id
        )),
        "{}",
        claimed.content()
    );
    assert_eq!(fake.message(card.id).unwrap().edit_bodies.len(), 2);
    // Agents' reactions stay.
    assert!(fake
        .calls_matching("DELETE /channels/{c}/messages/{m}/reactions/{e}/{u}")
        .is_empty());
    assert!(fake.dm_channel(bob).is_none(), "nobody is told privately");

    bot.stop().await;
    assert_eq!(scalar(&db, "SELECT tier FROM incidents WHERE id = 1").await, 1);
    assert_eq!(
        text(&db, "SELECT handler_role FROM incidents WHERE id = 1").await,
        "systems_support"
    );
    assert_eq!(
        text(&db, "SELECT CAST(assignee AS TEXT) FROM incidents WHERE id = 1").await,
        sid.to_string()
    );
    // The store traces the card to its new post, keeps the thread and the post left behind.
    assert_eq!(
        text(
            &db,
            "SELECT channel_id || ' ' || message_id || ' ' || thread_id || ' ' || previous_channel_id || ' ' || previous_message_id
               FROM cards WHERE subject = 'INC-1'"
        )
        .await,
        format!("{support_ch} {} {} {desk_ch} {}", moved.id, thread.id, card.id)
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

/// The same move through the console adapter: the card is posted anew in the
/// tier's channel and the old one points there, also when the outbox is
/// delivered by a later start; ✋ on the new card by the tier's member takes
/// it, ✋ on the post left behind does nothing.
#[tokio::test]
async fn in_the_console_the_card_follows_the_escalation_across_a_restart_and_is_claimed_there() {
    use crate::util::{console, lines_with, TestDb as Db};
    let db = Db::new();
    let held = console(
        &db,
        "\
:as alice
!incident Mail is down impact=high urgency=high service=email
:as sam Service Desk
!escalate INC-1 mailbox store corrupt
",
        &["--hold-outbox"],
    );
    assert!(!held.contains("[#systems-support"), "nothing delivered yet: {held}");
    // The next start delivers the card, its move and the pointer, in order.
    let out = console(&db, "", &[]);
    let card = lines_with(&out, "New incident INC-1 (P1) for Service Desk");
    assert_eq!(card.len(), 1, "{out}");
    assert!(card[0].starts_with("[#service-desk #"), "{out}");
    let old = card[0]["[#service-desk #".len()..]
        .split(']')
        .next()
        .unwrap()
        .to_owned();
    let moved = lines_with(
        &out,
        "] @Systems Support ⬆️ sam escalated INC-1 (P1) from Service Desk to Systems Support",
    );
    assert_eq!(moved.len(), 1, "{out}");
    assert!(moved[0].starts_with("[#systems-support #"), "{out}");
    let new = moved[0]["[#systems-support #".len()..]
        .split(']')
        .next()
        .unwrap()
        .to_owned();
    let pointer = format!("[#service-desk #{old} edited] ⬆️ Escalated to Systems Support — see #systems-support.");
    let (at_card, at_move, at_pointer) = (
        out.find(card[0]).unwrap(),
        out.find(moved[0]).unwrap(),
        out.find(&pointer).unwrap_or_else(|| panic!("{pointer}\n{out}")),
    );
    assert!(at_card < at_move && at_move < at_pointer, "{out}");
    assert!(
        !lines_with(&out, "[#service-desk #")
            .iter()
            .any(|l| l.contains("⬆️ sam escalated")),
        "no FYI beside the edited card: {out}"
    );

    let out = console(
        &db,
        &format!(
            "\
:as dana Systems Support
:react {old} ✋
:react {new} ✋
"
        ),
        &[],
    );
    assert_eq!(
        lines_with(&out, "INC-1 is assigned to dana").len(),
        1,
        "only the new card claims: {out}"
    );
    assert!(
        out.contains(&format!(
            "[#systems-support #{new} edited] Incident INC-1 (P1) for Systems Support"
        )),
        "{out}"
    );
    assert!(
        out.contains("[#service-desk/INC-1 #"),
        "the thread stays where it was: {out}"
    );
    assert!(!out.contains(&format!("[#service-desk #{old} edited]")), "{out}");
    assert_eq!(
        text(
            &db,
            "SELECT u.display_name FROM incidents i JOIN users u ON u.id = i.assignee WHERE i.id = 1"
        )
        .await,
        "dana"
    );
}
