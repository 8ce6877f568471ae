//! Discord's own controls, with the real serenity client against the fake
//! Discord: the buttons of an incident card (who may press them is decided
//! per press, by the same rules as the typed commands), the forms they open,
//! `/incident` with no title, 🎫's private "complete the details", and the
//! CAB vote card's "Why can't I vote?".

use serde_json::Value;

use crate::bot::{self, assert_no_decode_problems, WAIT};
use crate::fake_discord::{
    ComponentSpec, FakeDiscord, GuildSpec, InteractionRecord, InteractionSpec, ModalSpec, StoredMessage,
};
use crate::util::{scalar, text, TestDb};

/// The custom ids of a message's buttons, as it is now.
fn buttons(m: &StoredMessage) -> Vec<String> {
    m.json["components"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect()
}

/// The card of `id` (e.g. `INC-1`) in `channel`, once posted.
async fn card(fake: &FakeDiscord, channel: u64, id: &str) -> StoredMessage {
    let needle = format!("New incident {id} ");
    let find = || {
        fake.bot_messages(channel).into_iter().find(|m| {
            m.create_body
                .as_ref()
                .and_then(|b| b["content"].as_str())
                .is_some_and(|c| c.contains(&needle))
        })
    };
    bot::eventually(fake, &format!("the card of {id}"), || find().is_some()).await;
    find().unwrap()
}

/// Presses `custom_id` on `message` as `user` and waits for the bot's callback.
async fn press(fake: &FakeDiscord, channel: u64, message: u64, user: u64, custom_id: &str) -> InteractionRecord {
    let (id, _) = fake.inject_component_interaction(ComponentSpec::button(custom_id, user, channel, message));
    fake.wait_for_interaction_response(id, WAIT).await.unwrap()
}

/// Submits `modal` (a callback's data) as `user` with `values`; waits for the answer.
async fn submit(
    fake: &FakeDiscord,
    modal: &Value,
    user: u64,
    channel: u64,
    values: &[(&str, &str)],
) -> InteractionRecord {
    let (id, _) = fake.inject_modal_submit(ModalSpec::of(modal, user, channel, values));
    fake.wait_for_interaction_response(id, WAIT).await.unwrap()
}

/// A message answer's text and whether only the presser sees it.
fn answer(record: &InteractionRecord) -> (String, bool) {
    let cb = record.callback.clone().unwrap();
    assert_eq!(cb["type"], 4, "a message answer: {cb}");
    (
        cb["data"]["content"].as_str().unwrap_or_default().to_owned(),
        cb["data"]["flags"].as_u64().unwrap_or(0) & 64 == 64,
    )
}

/// Input custom ids of a modal.
fn inputs(modal: &Value) -> Vec<String> {
    modal["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["components"][0]["custom_id"].as_str().unwrap().to_owned())
        .collect()
}

/// bob reports `title` in #general; returns the card of INC-1 in #service-desk.
async fn reported(fake: &FakeDiscord, title: &str) -> StoredMessage {
    let spec = fake.spec();
    fake.inject_message(
        spec.channel_id("general"),
        spec.user_id("bob"),
        &format!("!incident {title}"),
    );
    card(fake, spec.channel_id("service-desk"), "INC-1").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_pressing_take_is_assigned_and_the_cards_buttons_change() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, alice) = (spec.channel_id("service-desk"), spec.user_id("alice"));

    let card = reported(&fake, "Mail is down service=email").await;
    assert_eq!(
        buttons(&card),
        ["opsdesk:take:INC-1", "opsdesk:resolve:INC-1", "opsdesk:escalate:INC-1"]
    );
    let labels: Vec<String> = card.json["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["label"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(labels, ["Take", "Resolve…", "Escalate"]);

    let record = press(&fake, desk_ch, card.id, alice, "opsdesk:take:INC-1").await;
    let (said, private) = answer(&record);
    assert!(!private && said.contains("INC-1"), "{said}");
    assert!(record.rejected_callbacks.is_empty(), "{:?}", record.rejected_callbacks);
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM incidents WHERE assignee = {alice} AND state = 'assigned'")
        )
        .await,
        1
    );
    bot::eventually(&fake, "the card's buttons to follow its state", || {
        fake.message(card.id)
            .is_some_and(|m| buttons(&m).first().map(String::as_str) == Some("opsdesk:start:INC-1"))
    })
    .await;
    assert_eq!(
        buttons(&fake.message(card.id).unwrap()),
        [
            "opsdesk:start:INC-1",
            "opsdesk:hold:INC-1",
            "opsdesk:resolve:INC-1",
            "opsdesk:escalate:INC-1"
        ]
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_press_does_nothing_twice() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, alice) = (spec.channel_id("service-desk"), spec.user_id("alice"));
    let card = reported(&fake, "VPN drops").await;

    let (first, _) =
        fake.inject_component_interaction(ComponentSpec::button("opsdesk:take:INC-1", alice, desk_ch, card.id));
    fake.inject_duplicate_last().expect("the press replayed");
    fake.wait_for_interaction_response(first, WAIT).await.unwrap();
    // A later press through the same path is answered: the replay was handled before it.
    let later = press(&fake, desk_ch, card.id, alice, "opsdesk:start:INC-1").await;
    assert!(answer(&later).0.contains("INC-1"));
    bot::eventually(&fake, "the card shows work started", || {
        fake.message(card.id)
            .is_some_and(|m| buttons(&m).first().map(String::as_str) == Some("opsdesk:hold:INC-1"))
    })
    .await;
    let record = fake.interaction(first).unwrap();
    assert!(
        record.rejected_callbacks.is_empty(),
        "the replay was not answered a second time: {:?}",
        record.rejected_callbacks
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit WHERE subject = 'INC-1' AND action = 'assign_incident'"
        )
        .await,
        1
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporter_pressing_take_is_refused_privately_and_nothing_changes() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, bob) = (spec.channel_id("service-desk"), spec.user_id("bob"));
    let card = reported(&fake, "Printer jams").await;

    let record = press(&fake, desk_ch, card.id, bob, "opsdesk:take:INC-1").await;
    let (said, private) = answer(&record);
    assert!(private, "a refusal is ephemeral: {said}");
    assert!(said.contains("Only agents"), "the command's refusal: {said}");
    // Resolve… is refused at once too, without a form.
    let record = press(&fake, desk_ch, card.id, bob, "opsdesk:resolve:INC-1").await;
    assert_eq!(record.callback_type(), Some(4));
    assert!(answer(&record).1);
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM incidents WHERE assignee IS NULL AND state = 'new'"
        )
        .await,
        1
    );
    assert!(
        fake.message(card.id).unwrap().edit_bodies.is_empty(),
        "the card is not edited"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_opens_a_form_whose_submit_resolves_with_that_resolution() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, alice) = (spec.channel_id("service-desk"), spec.user_id("alice"));
    let card = reported(&fake, "Certificate expired").await;

    let record = press(&fake, desk_ch, card.id, alice, "opsdesk:resolve:INC-1").await;
    let modal = record.modal().expect("a form");
    assert_eq!(modal["title"], "Resolve INC-1");
    assert_eq!(inputs(&modal), ["resolution"]);
    let done = submit(
        &fake,
        &modal,
        alice,
        desk_ch,
        &[("resolution", "renewed the certificate")],
    )
    .await;
    let (said, private) = answer(&done);
    assert!(!private, "{said}");
    assert_eq!(
        text(&db, "SELECT state || ': ' || resolution FROM incidents WHERE id = 1").await,
        "resolved: renewed the certificate"
    );
    bot::eventually(&fake, "the card offers Reopen", || {
        fake.message(card.id)
            .is_some_and(|m| buttons(&m) == ["opsdesk:reopen:INC-1"])
    })
    .await;
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_opens_a_form_whose_submit_puts_it_on_hold_with_the_reason() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, alice) = (spec.channel_id("service-desk"), spec.user_id("alice"));
    let card = reported(&fake, "Disk failing on the file server").await;
    press(&fake, desk_ch, card.id, alice, "opsdesk:take:INC-1").await;

    let record = press(&fake, desk_ch, card.id, alice, "opsdesk:hold:INC-1").await;
    let modal = record.modal().expect("a form");
    assert_eq!(modal["title"], "Put INC-1 on hold");
    assert_eq!(inputs(&modal), ["kind", "why"]);
    // A kind that is not one is refused with the command's words, and nothing moves.
    let wrong = submit(&fake, &modal, alice, desk_ch, &[("kind", "lunch")]).await;
    let (said, private) = answer(&wrong);
    assert!(private && said.contains("is not what it waits for"), "{said}");
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "assigned");

    let held = submit(
        &fake,
        &modal,
        alice,
        desk_ch,
        &[("kind", "vendor"), ("why", "RMA for the disk")],
    )
    .await;
    assert!(!answer(&held).1);
    assert_eq!(
        text(&db, "SELECT state || ' ' || hold_reason FROM incidents WHERE id = 1").await,
        "on_hold awaiting_vendor"
    );
    bot::eventually(&fake, "the card offers Resume", || {
        fake.message(card.id)
            .is_some_and(|m| buttons(&m).first().map(String::as_str) == Some("opsdesk:start:INC-1"))
    })
    .await;
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_with_no_title_opens_the_report_form_and_its_submit_logs_the_incident() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, bob) = (spec.channel_id("general"), spec.user_id("bob"));

    let incident = fake.commands().into_iter().find(|c| c["name"] == "incident").unwrap();
    let title = incident["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "title")
        .unwrap()
        .clone();
    assert_ne!(title["required"], true, "/incident may be given no title");

    let (id, _) = fake.inject_interaction(InteractionSpec::slash("incident", bob, general).string("impact", "high"));
    let record = fake.wait_for_interaction_response(id, WAIT).await.unwrap();
    let modal = record.modal().expect("the report form");
    assert_eq!(modal["title"], "Report an incident");
    assert_eq!(inputs(&modal), ["title", "description", "service", "impact", "urgency"]);
    assert_eq!(
        modal["components"][3]["components"][0]["value"], "high",
        "the option fills the form in"
    );

    // An unknown service is refused with the desk's words; nothing is logged.
    let refused = submit(
        &fake,
        &modal,
        bob,
        general,
        &[("title", "VPN is down"), ("service", "teleport")],
    )
    .await;
    assert!(answer(&refused).1);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM incidents").await, 0);

    let logged = submit(
        &fake,
        &modal,
        bob,
        general,
        &[
            ("title", "VPN is down"),
            ("description", "since 9am, nobody can connect"),
            ("service", "vpn"),
            ("impact", "high"),
            ("urgency", "high"),
        ],
    )
    .await;
    let (said, private) = answer(&logged);
    assert!(!private && said.starts_with("INC-1 logged: P1"), "{said}");
    assert_eq!(
        text(
            &db,
            &format!("SELECT title || '|' || service FROM incidents WHERE reporter = {bob}")
        )
        .await,
        "VPN is down|vpn"
    );
    assert_eq!(
        text(&db, "SELECT body FROM incident_notes WHERE incident_id = 1").await,
        "since 9am, nobody can connect"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_asks_the_reporter_privately_to_complete_the_details_and_the_form_edits_the_incident() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, alice, bob) = (spec.channel_id("general"), spec.user_id("alice"), spec.user_id("bob"));

    let msg = fake.inject_message(general, bob, "printer broken again");
    fake.inject_reaction_add(general, msg, alice, "🎫");
    let asked = || {
        fake.dm_channel(bob)
            .and_then(|dm| fake.bot_messages(dm).into_iter().find(|m| !buttons(m).is_empty()))
    };
    bot::eventually(&fake, "bob is asked privately", || asked().is_some()).await;
    let ask = asked().unwrap();
    assert_eq!(buttons(&ask), ["opsdesk:details:INC-1"]);
    assert!(ask.content().contains("INC-1"), "{}", ask.content());

    let dm = fake.dm_channel(bob).unwrap();
    let record = press(&fake, dm, ask.id, bob, "opsdesk:details:INC-1").await;
    let modal = record.modal().expect("the details form");
    assert_eq!(inputs(&modal), ["title", "description", "service"]);
    let done = submit(
        &fake,
        &modal,
        bob,
        dm,
        &[
            ("title", "Printer on floor 3 jams on every job"),
            ("description", "since the toner change"),
            ("service", "email"),
        ],
    )
    .await;
    assert!(!answer(&done).1, "{:?}", answer(&done));
    assert_eq!(
        text(&db, "SELECT title || '|' || service FROM incidents WHERE id = 1").await,
        "Printer on floor 3 jams on every job|email"
    );
    assert_eq!(
        text(&db, "SELECT body FROM incident_notes WHERE incident_id = 1").await,
        "since the toner change"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_cant_i_vote_answers_eligible_and_ineligible_members_privately() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, cab) = (spec.channel_id("general"), spec.channel_id("cab"));
    let (alice, bob, carlos, dana) = (
        spec.user_id("alice"),
        spec.user_id("bob"),
        spec.user_id("carlos"),
        spec.user_id("dana"),
    );
    let filed = fake.inject_message(
        general,
        alice,
        "!change Upgrade the MTA service=email risk=medium type=normal",
    );
    bot::reply_to(&fake, general, filed).await;
    let call = fake.inject_message(cab, carlos, "!cab CHG-1");
    bot::reply_to(&fake, cab, call).await;
    let find = || {
        fake.bot_messages(cab)
            .into_iter()
            .find(|m| buttons(m).contains(&"opsdesk:whyvote:CHG-1".to_owned()))
    };
    bot::eventually(&fake, "the vote card with its button", || find().is_some()).await;
    let vote = find().unwrap();

    let (said, private) = answer(&press(&fake, cab, vote.id, dana, "opsdesk:whyvote:CHG-1").await);
    assert!(private && said.starts_with("You may vote on CHG-1"), "{said}");
    let (said, private) = answer(&press(&fake, cab, vote.id, bob, "opsdesk:whyvote:CHG-1").await);
    assert!(
        private && said.starts_with("You cannot vote on CHG-1: voting needs one of these roles: CAB"),
        "{said}"
    );
    let (said, _) = answer(&press(&fake, cab, vote.id, alice, "opsdesk:whyvote:CHG-1").await);
    assert!(said.contains("you requested this change"), "{said}");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM cab_ballots").await,
        0,
        "asking is not voting"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_the_desk_is_slow_to_answer_is_deferred_within_the_deadline_and_answered_after() {
    use sqlx::Executor;

    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (desk_ch, alice) = (spec.channel_id("service-desk"), spec.user_id("alice"));
    let card = reported(&fake, "Wi-Fi keeps dropping").await;
    bot::eventually(&fake, "the card's thread", || !fake.threads().is_empty()).await;

    // Someone else holds the database's write lock: the desk waits for it.
    let mut blocker = db.conn().await;
    if db.is_postgres() {
        // The incident's row is what the press writes.
        blocker.execute("BEGIN").await.unwrap();
        blocker.execute("LOCK TABLE incidents IN EXCLUSIVE MODE").await.unwrap();
    } else {
        blocker.execute("BEGIN IMMEDIATE").await.unwrap();
    }
    let (id, _) =
        fake.inject_component_interaction(ComponentSpec::button("opsdesk:take:INC-1", alice, desk_ch, card.id));
    let deferred = fake.wait_for_interaction_response(id, WAIT).await.unwrap();
    assert_eq!(deferred.callback_type(), Some(5), "deferred: {:?}", deferred.callback);
    assert!(deferred.rejected_callbacks.is_empty(), "within the deadline");
    assert_eq!(text(&db, "SELECT state FROM incidents WHERE id = 1").await, "new");
    blocker.execute("COMMIT").await.unwrap();

    bot::eventually(&fake, "the deferred answer edited in", || {
        fake.interaction(id).is_some_and(|r| !r.original_edits.is_empty())
    })
    .await;
    let record = fake.interaction(id).unwrap();
    assert!(
        record.original_edits[0]["content"].as_str().unwrap().contains("INC-1"),
        "{:?}",
        record.original_edits
    );
    assert_eq!(
        scalar(&db, &format!("SELECT COUNT(*) FROM incidents WHERE assignee = {alice}")).await,
        1
    );
    bot.stop().await;
    assert_no_decode_problems();
}
