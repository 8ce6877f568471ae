//! Changes and CAB votes by reaction over Discord: the real serenity client,
//! through opsdesk's adapter, against the fake Discord and a real SQLite file.
//! A change manager calls the vote with `!cab`; the board votes ✅ ❌ ➖ on the
//! vote card; the bot removes what does not count, says why by DM, edits the
//! card as the tally moves and posts the outcome.

use std::time::Duration;

use chrono::TimeDelta;
use opsdesk::desk::Clock;
use serde_json::Value;

use crate::bot::{self, assert_no_decode_problems, reply_to, WAIT};
use crate::fake_discord::{CallMatcher, FakeDiscord, GuildSpec, StoredMessage};
use crate::util::TestDb;

const APPROVE: &str = "✅";
const REJECT: &str = "❌";
const ABSTAIN: &str = "➖";

async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    n
}

async fn text(db: &TestDb, sql: &str) -> String {
    let (s,): (String,) = sqlx::query_as(sql).fetch_one(&mut db.conn().await).await.expect(sql);
    s
}

/// The ballots of a change as (voter, choice), by voter.
async fn ballots(db: &TestDb, change: i64) -> Vec<(u64, String)> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT voter, choice FROM cab_ballots WHERE change_id = $1 ORDER BY voter")
            .bind(change)
            .fetch_all(&mut db.conn().await)
            .await
            .expect("ballots");
    rows.into_iter().map(|(v, c)| (v as u64, c)).collect()
}

/// Waits until `sql` (one integer) reads `expected`. The desk may commit
/// after the last REST call of an action, so between calls this re-checks
/// every 50 ms until the deadline.
async fn until_db(fake: &FakeDiscord, db: &TestDb, sql: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = fake.calls().len();
        if scalar(db, sql).await == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {sql} = {expected}"
        );
        let _ = fake
            .wait_for_call(CallMatcher::any(), seen, Duration::from_millis(50))
            .await;
    }
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

/// Every message the bot created or edited sets allowed_mentions explicitly,
/// parses nothing, pings only the roles in `allowed_roles`, and a user only
/// in that user's own DM (the requester or implementer told of their change).
fn assert_mention_safe(fake: &FakeDiscord, allowed_roles: &[u64]) {
    for call in fake.calls() {
        let writes = call.is("POST /channels/{c}/messages") || call.is("PATCH /channels/{c}/messages/{m}");
        let Some(b) = call.body.as_ref().filter(|_| writes) else {
            continue;
        };
        let am = &b["allowed_mentions"];
        assert!(am.is_object(), "no allowed_mentions on {call}");
        assert!(
            am["parse"].as_array().map_or(true, |p| p.is_empty()),
            "parse must be empty on {call}"
        );
        for r in ids(&am["roles"]) {
            assert!(allowed_roles.contains(&r), "role {r} may ping on {call}");
        }
        for u in ids(&am["users"]) {
            assert_eq!(fake.dm_channel(u), call.id_at(1), "user {u} may ping on {call}");
        }
    }
}

/// What the bot said to `user` by DM, oldest first.
fn dms(fake: &FakeDiscord, user: u64) -> Vec<String> {
    fake.dm_channel(user)
        .map(|dm| fake.bot_messages(dm).iter().map(|m| m.content().to_owned()).collect())
        .unwrap_or_default()
}

/// Waits until the bot has sent `user` `n` DMs; returns them all.
async fn wait_dms(fake: &FakeDiscord, user: u64, n: usize) -> Vec<String> {
    bot::eventually(fake, &format!("{n} DMs to user {user}"), || dms(fake, user).len() >= n).await;
    dms(fake, user)
}

/// `user` says `line` in `channel`; returns the bot's reply.
async fn say(fake: &FakeDiscord, channel: u64, user: u64, line: &str) -> String {
    let id = fake.inject_message(channel, user, line);
    reply_to(fake, channel, id).await
}

/// The vote card of `change` (e.g. `CHG-1`) in `channel`, once posted.
async fn vote_card(fake: &FakeDiscord, channel: u64, change: &str) -> u64 {
    let title = format!("{change} · ");
    let find = || {
        fake.bot_messages(channel)
            .into_iter()
            .find(|m| {
                m.create_body
                    .as_ref()
                    .and_then(|b| b["embeds"][0]["title"].as_str())
                    .is_some_and(|t| t.starts_with(&title))
            })
            .map(|m| m.id)
    };
    bot::eventually(fake, &format!("the vote card of {change}"), || find().is_some()).await;
    find().unwrap()
}

/// Waits until the bot's own ✅ ❌ ➖ are on the card, as members see it.
async fn wait_bot_reactions(fake: &FakeDiscord, vote: u64) {
    let me = fake.spec().bot_user_id;
    bot::eventually(fake, "the bot's three reactions", || {
        fake.message(vote)
            .is_some_and(|m| [APPROVE, REJECT, ABSTAIN].iter().all(|e| m.reactors(e).contains(&me)))
    })
    .await;
}

/// `requester` files a change in #general and carlos calls its vote in #cab;
/// returns the vote card once the bot's reactions are on it.
async fn open_vote(fake: &FakeDiscord, requester: &str, change: &str, cab_args: &str) -> u64 {
    let spec = fake.spec();
    let filed = say(
        fake,
        spec.channel_id("general"),
        spec.user_id(requester),
        &format!("!change {change}"),
    )
    .await;
    assert!(filed.contains(" filed: "), "{filed}");
    let id = filed.split_whitespace().next().unwrap().to_owned();
    let cab = spec.channel_id("cab");
    let opened = say(fake, cab, spec.user_id("carlos"), &format!("!cab {id} {cab_args}")).await;
    assert!(
        opened.starts_with(&format!("CAB vote on {id} is open until")),
        "{opened}"
    );
    let vote = vote_card(fake, cab, &id).await;
    wait_bot_reactions(fake, vote).await;
    vote
}

/// The value of the embed field `name` on a message as it is now.
fn field(m: &StoredMessage, name: &str) -> String {
    m.embeds()
        .first()
        .and_then(|e| e["fields"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Waits until the vote card's field `name` reads `value`.
async fn wait_field(fake: &FakeDiscord, vote: u64, name: &str, value: &str) {
    bot::eventually(fake, &format!("the card's {name} to read {value:?}"), || {
        fake.message(vote).is_some_and(|m| field(&m, name) == value)
    })
    .await;
}

/// The bot's DELETE calls taking back `user`'s reactions on `message`, as emoji.
fn removed_reactions(fake: &FakeDiscord, message: u64, user: u64) -> Vec<String> {
    fake.calls_matching("DELETE /channels/{c}/messages/{m}/reactions/{e}/{u}")
        .iter()
        .filter(|c| c.id_at(3) == Some(message) && c.id_at(6) == Some(user))
        .map(|c| c.segment(5).unwrap_or_default().to_owned())
        .collect()
}

async fn wait_removed(fake: &FakeDiscord, message: u64, user: u64, emoji: &str) {
    bot::eventually(fake, &format!("the bot removes {emoji} of user {user}"), || {
        removed_reactions(fake, message, user).iter().any(|e| e == emoji)
    })
    .await;
}

const TALLY_NONE: &str = "✅ 0 approve · ❌ 0 reject · ➖ 0 abstain";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_card_pings_only_the_cab_carries_the_bots_reactions_and_counts_eligible_ballots() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, cab) = (spec.channel_id("general"), spec.channel_id("cab"));
    let (alice, carlos) = (spec.user_id("alice"), spec.user_id("carlos"));
    let (dana, eli, fay) = (spec.user_id("dana"), spec.user_id("eli"), spec.user_id("fay"));
    let (cab_role, cm_role) = (spec.role_id("CAB"), spec.role_id("Change Manager"));
    let me = spec.bot_user_id;

    let filed = say(
        &fake,
        general,
        alice,
        "!change Upgrade the MTA @everyone service=email risk=medium type=normal",
    )
    .await;
    assert!(
        filed.starts_with("CHG-1 filed: normal change to Email, risk medium"),
        "{filed}"
    );
    let from = fake.calls().len();
    let call = fake.inject_message(cab, carlos, "!cab CHG-1");
    // A member clicks the bot's ✅ the moment it appears, before the bot has
    // added ❌ ➖ or started the card's thread: the ballot counts.
    let first = fake
        .wait_for_call("PUT /channels/{c}/messages/{m}/reactions/{e}/@me", from, WAIT)
        .await
        .unwrap();
    let vote = first.id_at(3).unwrap();
    fake.inject_reaction_add(cab, vote, dana, APPROVE);
    assert_eq!(
        wait_dms(&fake, dana, 1).await,
        ["Your ballot on CHG-1 is counted: approve (✅ 1 approve · ❌ 0 reject · ➖ 0 abstain)."]
    );
    let opened = reply_to(&fake, cab, call).await;
    assert!(opened.starts_with("CAB vote on CHG-1 is open until"), "{opened}");
    assert!(
        opened.contains("quorum 3 of 5 ballots (abstentions count) · passes at 60% approve"),
        "{opened}"
    );

    // The vote card: in #cab, pinging the CAB role and nobody else.
    assert_eq!(vote_card(&fake, cab, "CHG-1").await, vote);
    let card = fake.message(vote).unwrap();
    assert_eq!(card.channel_id, cab);
    let cb = card.create_body.clone().unwrap();
    assert_eq!(
        cb["content"].as_str().unwrap(),
        format!(
            "<@&{cab_role}> CAB vote on CHG-1: Upgrade the MTA @\u{200B}everyone — react ✅ approve, ❌ reject, ➖ abstain."
        )
    );
    assert_eq!(ids(&cb["allowed_mentions"]["roles"]), vec![cab_role]);
    assert!(ids(&cb["allowed_mentions"]["users"]).is_empty(), "{cb}");
    assert_eq!(cb["allowed_mentions"]["parse"], serde_json::json!([]));
    let embed = &cb["embeds"][0];
    assert_eq!(embed["title"], "CHG-1 · Upgrade the MTA @\u{200B}everyone");
    assert_eq!(embed["color"], 0x34_98_DB);
    let posted = |name: &str| {
        embed["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["value"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(posted("Requester"), "alice");
    assert_eq!(posted("Tally"), TALLY_NONE);
    assert_eq!(posted("Voters"), "nobody yet");
    assert_eq!(posted("Vote"), "open");
    assert!(posted("Rules").starts_with("CAB members (CAB) may vote"), "{embed}");

    // The bot adds ✅ ❌ ➖ itself, in that order, once each, then starts a thread.
    wait_bot_reactions(&fake, vote).await;
    let puts: Vec<_> = fake
        .calls_matching("PUT /channels/{c}/messages/{m}/reactions/{e}/@me")
        .into_iter()
        .filter(|c| c.id_at(3) == Some(vote))
        .collect();
    assert!(puts.iter().all(|c| c.succeeded()), "{puts:?}");
    let emoji: Vec<&str> = puts.iter().map(|c| c.segment(5).unwrap()).collect();
    assert_eq!(emoji, [APPROVE, REJECT, ABSTAIN]);
    bot::eventually(&fake, "the card's thread", || {
        fake.threads().iter().any(|t| t.message_id == Some(vote))
    })
    .await;

    fake.inject_reaction_add(cab, vote, eli, REJECT);
    fake.inject_reaction_add(cab, vote, fay, ABSTAIN);
    assert!(wait_dms(&fake, eli, 1).await[0].starts_with("Your ballot on CHG-1 is counted: reject"));
    assert!(wait_dms(&fake, fay, 1).await[0].starts_with("Your ballot on CHG-1 is counted: abstain"));
    wait_field(&fake, vote, "Tally", "✅ 1 approve · ❌ 1 reject · ➖ 1 abstain").await;
    let card = fake.message(vote).unwrap();
    assert_eq!(field(&card, "Voters"), "dana ✅, eli ❌, fay ➖");
    assert_eq!(field(&card, "Vote"), "open", "one approve in three cannot decide yet");
    // One edit per ballot; edits ping nobody.
    assert_eq!(card.edit_bodies.len(), 3);
    for edit in &card.edit_bodies {
        assert!(ids(&edit["allowed_mentions"]["roles"]).is_empty(), "{edit}");
    }

    assert_eq!(
        ballots(&db, 1).await,
        [
            (dana, "approve".to_owned()),
            (eli, "reject".to_owned()),
            (fay, "abstain".to_owned())
        ]
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'cab_ballot'").await,
        3
    );
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "cab_vote");
    assert_eq!(
        text(&db, "SELECT status FROM cab_votes WHERE change_id = 1").await,
        "open"
    );
    // The bot's own reactions came back as gateway events and were no ballots:
    // the desk never saw them, nothing was removed, nobody (the bot) was told.
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM reaction_state WHERE user_id = {me}")
        )
        .await,
        0
    );
    assert!(fake
        .calls_matching("DELETE /channels/{c}/messages/{m}/reactions/{e}/{u}")
        .is_empty());
    assert_eq!(fake.dm_channel(me), None);
    assert_mention_safe(&fake, &[cab_role, cm_role]);
    assert!(fake.unknown_routes().is_empty(), "{:?}", fake.unknown_routes());
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_and_members_without_a_cab_role_are_removed_and_told_why() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let cab = spec.channel_id("cab");
    let (bob, carlos, gus) = (spec.user_id("bob"), spec.user_id("carlos"), spec.user_id("gus"));
    let (dana, eli, fay) = (spec.user_id("dana"), spec.user_id("eli"), spec.user_id("fay"));
    let me = spec.bot_user_id;

    // carlos files the change himself, then calls its vote.
    let vote = open_vote(
        &fake,
        "carlos",
        "Rotate the relay keys service=email risk=low type=normal",
        "",
    )
    .await;
    fake.inject_reaction_add(cab, vote, carlos, APPROVE);
    fake.inject_reaction_add(cab, vote, bob, REJECT);
    fake.inject_reaction_add(cab, vote, gus, ABSTAIN);
    wait_removed(&fake, vote, carlos, APPROVE).await;
    wait_removed(&fake, vote, bob, REJECT).await;
    wait_removed(&fake, vote, gus, ABSTAIN).await;
    assert_eq!(
        wait_dms(&fake, carlos, 1).await,
        ["Your reaction on CHG-1 was removed: you requested this change, so you cannot vote on it."]
    );
    assert_eq!(
        wait_dms(&fake, bob, 1).await,
        ["Your reaction on CHG-1 was removed: voting needs one of these roles: cab."]
    );
    // gus has closed his DMs: his reaction goes all the same, and the bot tries once to say why.
    bot::eventually(&fake, "the attempt to tell gus", || {
        fake.dm_channel(gus).is_some_and(|dm| {
            fake.calls_matching("POST /channels/{c}/messages")
                .iter()
                .any(|c| c.id_at(1) == Some(dm))
        })
    })
    .await;
    let gus_dm = fake.dm_channel(gus).unwrap();
    let tries: Vec<u16> = fake
        .calls_matching("POST /channels/{c}/messages")
        .iter()
        .filter(|c| c.id_at(1) == Some(gus_dm))
        .map(|c| c.status)
        .collect();
    assert_eq!(tries, [403]);

    // The board votes; the requester's attempt never counted.
    for member in [dana, eli, fay] {
        fake.inject_reaction_add(cab, vote, member, APPROVE);
        wait_dms(&fake, member, 1).await;
    }
    assert!(
        dms(&fake, fay)[0].ends_with("The vote is now closed: approved."),
        "{:?}",
        dms(&fake, fay)
    );
    let mut left = fake.reactions(vote);
    left.sort();
    let mut expected: Vec<(String, u64)> = [ABSTAIN, APPROVE, APPROVE, APPROVE, APPROVE, REJECT]
        .iter()
        .zip([me, dana, eli, fay, me, me])
        .map(|(e, u)| ((*e).to_owned(), u))
        .collect();
    expected.sort();
    assert_eq!(
        left, expected,
        "only the board's ballots and the bot's own reactions remain"
    );
    assert_eq!(
        ballots(&db, 1).await.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        [dana, eli, fay]
    );
    // The removals the bot made came back as events and said nothing more.
    assert_eq!(dms(&fake, carlos).len(), 1);
    assert_eq!(dms(&fake, bob).len(), 1);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'cab_ballot'").await,
        3
    );

    // Segregation of duties holds after the vote too: carlos cannot authorize his own change.
    let refused = say(&fake, cab, carlos, "!authorize CHG-1").await;
    assert_eq!(
        refused,
        "You requested CHG-1, so you cannot authorize it (segregation of duties): another change manager must."
    );
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "cab_vote");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'change_authorize'").await,
        0
    );
    bot.stop().await;
    assert_no_decode_problems();
}

/// The default guild with three more CAB members: a board of six.
fn board_of_six() -> GuildSpec {
    let mut spec = GuildSpec::service_desk_default();
    spec.add_members_with_role("CAB", &[("hal", 409), ("ida", 410), ("jon", 411)]);
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_withdrawing_and_re_adding_a_reaction_keeps_one_ballot_and_the_board_whole() {
    let fake = FakeDiscord::start(board_of_six()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let cab = spec.channel_id("cab");
    let board: Vec<u64> = ["dana", "eli", "fay", "hal", "ida", "jon"]
        .iter()
        .map(|n| spec.user_id(n))
        .collect();
    let (dana, eli, hal, jon) = (board[0], board[1], board[3], board[5]);
    let me = spec.bot_user_id;

    // The board's six members are seen (the desk learns a board as people act).
    for member in &board {
        let list = say(&fake, cab, *member, "!changes").await;
        assert!(list.contains("changes"), "{list}");
    }
    let vote = open_vote(
        &fake,
        "alice",
        "Upgrade the MTA service=email risk=medium type=normal",
        "",
    )
    .await;
    assert!(field(&fake.message(vote).unwrap(), "Rules").contains("quorum 3 of 6 ballots"));

    // jon abstains, then takes it back.
    fake.inject_reaction_add(cab, vote, jon, ABSTAIN);
    wait_dms(&fake, jon, 1).await;
    fake.inject_reaction_remove(cab, vote, jon, ABSTAIN);
    assert_eq!(
        wait_dms(&fake, jon, 2).await[1],
        format!("Your ballot on CHG-1 is withdrawn ({TALLY_NONE}).")
    );
    assert!(ballots(&db, 1).await.is_empty());

    // dana rejects, then switches to approve: the bot takes back her ❌.
    fake.inject_reaction_add(cab, vote, dana, REJECT);
    wait_dms(&fake, dana, 1).await;
    fake.inject_reaction_add(cab, vote, dana, APPROVE);
    assert_eq!(
        wait_dms(&fake, dana, 2).await[1],
        "Your ballot on CHG-1 is changed from reject to approve (✅ 1 approve · ❌ 0 reject · ➖ 0 abstain)."
    );
    wait_removed(&fake, vote, dana, REJECT).await;
    bot::eventually(&fake, "dana's ❌ gone", || {
        fake.message(vote).is_some_and(|m| m.reactors(REJECT) == [me])
    })
    .await;
    assert_eq!(ballots(&db, 1).await, [(dana, "approve".to_owned())]);

    // She removes her ✅ (withdrawn), and a replay of that removal changes nothing.
    fake.inject_reaction_remove(cab, vote, dana, APPROVE);
    assert_eq!(
        wait_dms(&fake, dana, 3).await[2],
        format!("Your ballot on CHG-1 is withdrawn ({TALLY_NONE}).")
    );
    assert!(ballots(&db, 1).await.is_empty());
    fake.inject_duplicate_last();
    // She adds ✅ again: the same Discord event as her first ✅, and a new ballot.
    fake.inject_reaction_add(cab, vote, dana, APPROVE);
    assert_eq!(
        wait_dms(&fake, dana, 4).await[3],
        "Your ballot on CHG-1 is counted: approve (✅ 1 approve · ❌ 0 reject · ➖ 0 abstain)."
    );
    fake.inject_duplicate_last();

    // Two more approvals: three of six, and three members could still reject,
    // so the vote stays open (a withdrawn ballot did not shrink the board).
    fake.inject_reaction_add(cab, vote, eli, APPROVE);
    wait_dms(&fake, eli, 1).await;
    fake.inject_reaction_add(cab, vote, hal, APPROVE);
    assert_eq!(
        wait_dms(&fake, hal, 1).await,
        ["Your ballot on CHG-1 is counted: approve (✅ 3 approve · ❌ 0 reject · ➖ 0 abstain)."]
    );
    wait_field(&fake, vote, "Tally", "✅ 3 approve · ❌ 0 reject · ➖ 0 abstain").await;
    let card = fake.message(vote).unwrap();
    assert_eq!(field(&card, "Vote"), "open");
    assert_eq!(field(&card, "Voters"), "dana ✅, eli ✅, hal ✅");
    assert!(field(&card, "Rules").contains("quorum 3 of 6 ballots"), "{card:?}");
    assert_eq!(
        text(&db, "SELECT status FROM cab_votes WHERE change_id = 1").await,
        "open"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM role_holders WHERE role = 'cab'").await,
        6
    );
    assert_eq!(
        text(&db, &format!("SELECT display_name FROM users WHERE id = {jon}")).await,
        "jon"
    );

    // One ballot each, the replays said nothing, and each counted change is one audit row.
    assert_eq!(
        ballots(&db, 1).await,
        [
            (dana, "approve".to_owned()),
            (eli, "approve".to_owned()),
            (hal, "approve".to_owned())
        ]
    );
    assert_eq!(dms(&fake, dana).len(), 4, "{:#?}", dms(&fake, dana));
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'cab_ballot'").await,
        8
    );
    assert_eq!(
        scalar(
            &db,
            &format!(
                "SELECT generation FROM reaction_state WHERE user_id = {dana} AND emoji = '{APPROVE}' AND present = 1"
            )
        )
        .await,
        3
    );
    assert_eq!(fake.message(vote).unwrap().reactors(APPROVE), [me, dana, eli, hal]);
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_closes_early_once_certain_later_reactions_do_not_count_and_only_the_authority_decides() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let cab = spec.channel_id("cab");
    let (bob, carlos) = (spec.user_id("bob"), spec.user_id("carlos"));
    let (dana, eli, fay) = (spec.user_id("dana"), spec.user_id("eli"), spec.user_id("fay"));
    let (cab_role, cm_role) = (spec.role_id("CAB"), spec.role_id("Change Manager"));
    let start = (chrono::Utc::now() + TimeDelta::days(2)).format("%Y-%m-%dT%H:%M");
    let end = (chrono::Utc::now() + TimeDelta::days(2) + TimeDelta::hours(2)).format("%Y-%m-%dT%H:%M");

    let vote = open_vote(
        &fake,
        "alice",
        &format!("Upgrade the MTA service=email risk=medium type=normal window={start}..{end}"),
        "",
    )
    .await;
    fake.inject_reaction_add(cab, vote, dana, APPROVE);
    fake.inject_reaction_add(cab, vote, eli, APPROVE);
    wait_dms(&fake, dana, 1).await;
    wait_dms(&fake, eli, 1).await;
    assert_eq!(
        text(&db, "SELECT status FROM cab_votes WHERE change_id = 1").await,
        "open"
    );
    // The third approval of five: the two left cannot overturn it.
    fake.inject_reaction_add(cab, vote, fay, APPROVE);
    assert_eq!(
        wait_dms(&fake, fay, 1).await,
        ["Your ballot on CHG-1 is counted: approve (✅ 3 approve · ❌ 0 reject · ➖ 0 abstain). The vote is now closed: approved."]
    );

    // The outcome is posted for the chair, pinging the Change Manager role only.
    let is_outcome = |m: &StoredMessage| m.content().contains("CAB vote on CHG-1 closed: approved.");
    bot::eventually(&fake, "the outcome in #cab", || {
        fake.bot_messages(cab).iter().any(is_outcome)
    })
    .await;
    let outcome = fake.bot_messages(cab).into_iter().find(is_outcome).unwrap();
    assert_eq!(
        outcome.content(),
        format!(
            "<@&{cm_role}> CAB vote on CHG-1 closed: approved. ✅ 3 approve · ❌ 0 reject · ➖ 0 abstain (quorum 3 of 5). \
             Voters: dana ✅, eli ✅, fay ✅. It is a recommendation: `!authorize CHG-1` or `!reject CHG-1 <reason>`."
        )
    );
    assert_eq!(
        ids(&outcome.create_body.clone().unwrap()["allowed_mentions"]["roles"]),
        vec![cm_role]
    );
    // ... and edited into the vote card.
    wait_field(&fake, vote, "Vote", "closed: approved").await;
    let card = fake.message(vote).unwrap();
    assert_eq!(
        card.content(),
        "CAB vote on CHG-1 closed: approved — Upgrade the MTA. The change is in CAB vote; the vote is closed and takes no more ballots."
    );
    assert_eq!(field(&card, "Tally"), "✅ 3 approve · ❌ 0 reject · ➖ 0 abstain");
    assert_eq!(card.embeds()[0]["color"], 0x2E_CC_71);
    assert_eq!(card.edit_bodies.len(), 3, "two tally edits, then the closing edit");
    assert_eq!(
        text(&db, "SELECT outcome FROM cab_votes WHERE change_id = 1").await,
        "approved"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM timers WHERE kind = 'cab_close' AND key = 'CHG-1' AND cancelled = 1 AND fired_at IS NULL"
        )
        .await,
        1
    );

    // After the close: new reactions are taken back and explained, a removed one changes nothing.
    let closed = "The vote on CHG-1 is closed: approved; reactions no longer count. Your reaction was removed.";
    fake.inject_reaction_add(cab, vote, bob, REJECT);
    fake.inject_reaction_add(cab, vote, eli, REJECT);
    wait_removed(&fake, vote, bob, REJECT).await;
    wait_removed(&fake, vote, eli, REJECT).await;
    assert_eq!(wait_dms(&fake, bob, 1).await, [closed]);
    assert_eq!(wait_dms(&fake, eli, 2).await[1], closed);
    fake.inject_reaction_remove(cab, vote, dana, APPROVE);
    until_db(
        &fake,
        &db,
        &format!("SELECT present FROM reaction_state WHERE user_id = {dana} AND emoji = '{APPROVE}'"),
        0,
    )
    .await;
    assert_eq!(dms(&fake, dana).len(), 1, "nothing to say to dana");
    assert_eq!(ballots(&db, 1).await.len(), 3);
    assert_eq!(
        text(&db, &format!("SELECT display_name FROM users WHERE id = {dana}")).await,
        "dana"
    );

    // Only the change authority decides.
    assert_eq!(
        say(&fake, cab, bob, "!authorize CHG-1").await,
        "Only the change authority (Change Manager) may run `!authorize`."
    );
    assert_eq!(
        say(&fake, cab, dana, "!reject CHG-1 too risky").await,
        "Only the change authority (Change Manager) may run `!reject`."
    );
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "cab_vote");
    let authorized = say(&fake, cab, carlos, "!authorize CHG-1").await;
    assert!(
        authorized.starts_with("carlos authorized CHG-1; it is scheduled for "),
        "{authorized}"
    );
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "scheduled");
    wait_field(&fake, vote, "State", "scheduled").await;
    assert_eq!(field(&fake.message(vote).unwrap(), "Voters"), "dana ✅, eli ✅, fay ✅");
    let decisions: Vec<(String,)> =
        sqlx::query_as("SELECT action FROM audit WHERE subject = 'CHG-1' AND action LIKE 'change_%' ORDER BY id")
            .fetch_all(&mut db.conn().await)
            .await
            .unwrap();
    assert_eq!(
        decisions.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        ["change_request", "change_authorize"]
    );
    // The requester is pinged by DM of the outcome and of the authorization.
    let alice = spec.user_id("alice");
    let told = wait_dms(&fake, alice, 2).await;
    assert!(
        told[0].starts_with(&format!("<@{alice}> CAB vote on CHG-1 closed: approved.")),
        "{told:?}"
    );
    assert!(
        told[1].starts_with(&format!("<@{alice}> carlos authorized CHG-1; it is scheduled for ")),
        "{told:?}"
    );
    let dm = fake.dm_channel(alice).unwrap();
    for m in fake.bot_messages(dm) {
        assert_eq!(
            ids(&m.create_body.clone().unwrap()["allowed_mentions"]["users"]),
            vec![alice]
        );
    }
    assert_mention_safe(&fake, &[cab_role, cm_role]);
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_who_have_not_voted_are_reminded_before_the_deadline_across_a_restart() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let clock = Clock::system();
    let bot = bot::start_with_clock(&fake, &db, clock.clone()).await;
    let (general, cab) = (spec.channel_id("general"), spec.channel_id("cab"));
    let (alice, dana, eli, fay) = (
        spec.user_id("alice"),
        spec.user_id("dana"),
        spec.user_id("eli"),
        spec.user_id("fay"),
    );
    // eli and fay have been seen holding the CAB role.
    for who in [eli, fay] {
        say(&fake, general, who, "!status").await;
    }
    let vote = open_vote(
        &fake,
        "alice",
        "Upgrade the MTA service=email risk=medium type=normal",
        "deadline=4h",
    )
    .await;
    fake.inject_reaction_add(cab, vote, dana, APPROVE);
    wait_dms(&fake, dana, 1).await;
    // The reminder is a stored timer at 75 % of the deadline.
    assert_eq!(
        scalar(
            &db,
            "SELECT t.due_at - v.opened_at FROM timers t JOIN cab_votes v ON t.key = 'CHG-' || v.change_id
              WHERE t.kind = 'cab_remind' AND t.fired_at IS NULL AND t.cancelled = 0"
        )
        .await,
        3 * 3600 * 1000
    );
    bot.stop().await;

    // Down past the reminder, back before the deadline: the reminder goes out once.
    clock.advance(TimeDelta::hours(3) + TimeDelta::minutes(10));
    let bot = bot::start_with_clock(&fake, &db, clock.clone()).await;
    let is_reminder = |m: &StoredMessage| m.content().contains("Reminder: the CAB vote on CHG-1");
    bot::eventually(&fake, "the reminder in #cab", || {
        fake.bot_messages(cab).iter().any(is_reminder)
    })
    .await;
    let reminders: Vec<StoredMessage> = fake.bot_messages(cab).into_iter().filter(is_reminder).collect();
    assert_eq!(reminders.len(), 1);
    let r = &reminders[0];
    assert!(
        r.content().contains(&format!("<@{eli}>")) && r.content().contains(&format!("<@{fay}>")),
        "{}",
        r.content()
    );
    assert!(
        !r.content().contains(&format!("<@{dana}>")),
        "dana voted: {}",
        r.content()
    );
    assert!(
        !r.content().contains(&format!("<@{alice}>")),
        "the requester may not vote: {}",
        r.content()
    );
    let mut pinged = ids(&r.create_body.clone().unwrap()["allowed_mentions"]["users"]);
    pinged.sort_unstable();
    let mut expected = vec![eli, fay];
    expected.sort_unstable();
    assert_eq!(pinged, expected);
    assert_eq!(
        text(&db, "SELECT status FROM cab_votes WHERE change_id = 1").await,
        "open"
    );
    until_db(&fake, &db, "SELECT COUNT(*) FROM audit WHERE action = 'cab_remind'", 1).await;
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_left_open_closes_at_its_deadline_when_the_bot_comes_back() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let clock = Clock::system();
    let bot = bot::start_with_clock(&fake, &db, clock.clone()).await;
    let cab = spec.channel_id("cab");
    let (carlos, dana, eli) = (spec.user_id("carlos"), spec.user_id("dana"), spec.user_id("eli"));
    let cm_role = spec.role_id("Change Manager");

    let vote = open_vote(
        &fake,
        "alice",
        "Upgrade the MTA service=email risk=medium type=normal",
        "deadline=2h",
    )
    .await;
    // The deadline is a stored timer, two hours after the vote opened.
    assert_eq!(
        scalar(
            &db,
            "SELECT t.due_at - v.opened_at FROM timers t JOIN cab_votes v ON t.key = 'CHG-' || v.change_id
              WHERE t.kind = 'cab_close' AND t.fired_at IS NULL AND t.cancelled = 0"
        )
        .await,
        2 * 3600 * 1000
    );
    fake.inject_reaction_add(cab, vote, dana, APPROVE);
    wait_dms(&fake, dana, 1).await;
    wait_field(&fake, vote, "Tally", "✅ 1 approve · ❌ 0 reject · ➖ 0 abstain").await;
    bot.stop().await;

    // The bot is down while the deadline passes; back up, it closes the vote at once.
    clock.advance(TimeDelta::hours(3));
    let bot = bot::start_with_clock(&fake, &db, clock.clone()).await;
    let notice = format!("<@&{cm_role}> CAB vote on CHG-1 closed:");
    let is_outcome = |m: &StoredMessage| m.content().starts_with(&notice);
    bot::eventually(&fake, "the outcome in #cab", || {
        fake.bot_messages(cab).iter().any(is_outcome)
    })
    .await;
    let outcome = fake.bot_messages(cab).into_iter().find(is_outcome).unwrap();
    assert!(
        outcome.content().starts_with(&format!(
            "<@&{cm_role}> CAB vote on CHG-1 closed: no quorum (not approved) (closed 1h late: the bot was not running at the deadline). \
             ✅ 1 approve · ❌ 0 reject · ➖ 0 abstain (quorum 3 of 5). Voters: dana ✅."
        )),
        "{}",
        outcome.content()
    );
    wait_field(&fake, vote, "Vote", "closed: no quorum (not approved)").await;
    assert_eq!(
        fake.message(vote).unwrap().content(),
        "CAB vote on CHG-1 closed: no quorum (not approved) — Upgrade the MTA. The change is in CAB vote; the vote is closed and takes no more ballots."
    );
    assert_eq!(
        text(&db, "SELECT outcome FROM cab_votes WHERE change_id = 1").await,
        "no_quorum"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM timers WHERE kind = 'cab_close' AND key = 'CHG-1' AND fired_at IS NOT NULL"
        )
        .await,
        1
    );
    assert!(text(
        &db,
        "SELECT details FROM audit WHERE action = 'cab_close' AND subject = 'CHG-1'"
    )
    .await
    .starts_with("closed the vote: no quorum (not approved); 1 approve, 0 reject, 0 abstain of 5 eligible, 1h late"),);

    // A ballot after the deadline is taken back; the chair rejects on the recommendation.
    fake.inject_reaction_add(cab, vote, eli, APPROVE);
    wait_removed(&fake, vote, eli, APPROVE).await;
    assert_eq!(
        wait_dms(&fake, eli, 1).await,
        ["The vote on CHG-1 is closed: no quorum (not approved); reactions no longer count. Your reaction was removed."]
    );
    assert_eq!(ballots(&db, 1).await, [(dana, "approve".to_owned())]);
    assert_eq!(
        say(&fake, cab, carlos, "!reject CHG-1 no quorum, bring it to the next CAB").await,
        "carlos rejected CHG-1: no quorum, bring it to the next CAB."
    );
    assert_eq!(text(&db, "SELECT state FROM changes WHERE id = 1").await, "rejected");
    wait_field(&fake, vote, "State", "rejected").await;
    assert_eq!(
        field(&fake.message(vote).unwrap(), "Reason"),
        "no quorum, bring it to the next CAB"
    );
    bot.stop().await;
    assert_no_decode_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_resumed_reaction_events_are_counted_once() {
    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let cab = spec.channel_id("cab");
    let (dana, eli, fay) = (spec.user_id("dana"), spec.user_id("eli"), spec.user_id("fay"));

    let vote = open_vote(
        &fake,
        "alice",
        "Upgrade the MTA service=email risk=medium type=normal",
        "",
    )
    .await;
    fake.inject_reaction_add(cab, vote, dana, APPROVE);
    wait_dms(&fake, dana, 1).await;
    // The same dispatch delivered twice.
    fake.inject_duplicate_last();

    // The gateway drops; a ballot cast meanwhile arrives once, on RESUME.
    let resumes = fake.resume_count();
    assert!(fake.drop_connection());
    fake.inject_reaction_add(cab, vote, eli, REJECT);
    fake.wait_for_gateway("a resume", |s| s.resumes > resumes && s.connected, WAIT)
        .await
        .unwrap();
    wait_dms(&fake, eli, 1).await;
    fake.inject_duplicate_last();

    // A withdrawal replayed is one withdrawal.
    fake.inject_reaction_add(cab, vote, fay, ABSTAIN);
    wait_dms(&fake, fay, 1).await;
    fake.inject_reaction_remove(cab, vote, fay, ABSTAIN);
    wait_dms(&fake, fay, 2).await;
    fake.inject_duplicate_last();

    // One more ballot as a round trip, then count.
    fake.inject_reaction_add(cab, vote, fay, APPROVE);
    wait_dms(&fake, fay, 3).await;
    wait_field(&fake, vote, "Tally", "✅ 2 approve · ❌ 1 reject · ➖ 0 abstain").await;
    assert_eq!(dms(&fake, dana).len(), 1);
    assert_eq!(dms(&fake, eli).len(), 1);
    assert_eq!(
        dms(&fake, fay),
        [
            "Your ballot on CHG-1 is counted: abstain (✅ 1 approve · ❌ 1 reject · ➖ 1 abstain).",
            "Your ballot on CHG-1 is withdrawn (✅ 1 approve · ❌ 1 reject · ➖ 0 abstain).",
            "Your ballot on CHG-1 is counted: approve (✅ 2 approve · ❌ 1 reject · ➖ 0 abstain)."
        ]
    );
    assert_eq!(
        ballots(&db, 1).await,
        [
            (dana, "approve".to_owned()),
            (eli, "reject".to_owned()),
            (fay, "approve".to_owned())
        ]
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM audit WHERE action = 'cab_ballot'").await,
        5
    );
    assert_eq!(
        fake.message(vote).unwrap().edit_bodies.len(),
        5,
        "one card edit per counted change"
    );
    bot.stop().await;
    assert_no_decode_problems();
}
