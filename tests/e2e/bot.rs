//! Starts the real Discord adapter (`opsdesk::discord::run`) against the fake
//! Discord on 127.0.0.1, on a real SQLite file, and watches serenity's logs for
//! events it could not decode (so an incomplete fake cannot pass silently).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opsdesk::config::Policy;
use opsdesk::desk::{Actor, Clock, Desk, Event, Inbound, Outcome};
use opsdesk::discord::{DiscordError, Token};
use opsdesk::domain::UserId;
use opsdesk::store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::fake_discord::{CallMatcher, FakeDiscord, StoredMessage};
use crate::util::TestDb;

/// How long any one condition may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(20);

static DECODE_PROBLEMS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct DecodeProblemDetector;

struct MessageText(String);

impl tracing::field::Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for DecodeProblemDetector {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if !event.metadata().target().starts_with("serenity") {
            return;
        }
        let mut text = MessageText(String::new());
        event.record(&mut text);
        if text.0.contains("An unknown event was received") || text.0.contains("Err deserializing") {
            DECODE_PROBLEMS.lock().unwrap().push(text.0);
        }
    }
}

/// serenity's dispatch at DEBUG (that is where decode failures are logged);
/// printed output only when `TEST_LOG` is set.
fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new("warn,opsdesk=info,serenity::client::dispatch=debug");
        let show = std::env::var_os("TEST_LOG").is_some();
        let fmt = show.then(|| tracing_subscriber::fmt::layer().with_test_writer());
        tracing_subscriber::registry()
            .with(filter)
            .with(DecodeProblemDetector)
            .with(fmt)
            .init();
    });
}

/// Fails the test if serenity dropped any event it could not decode.
pub fn assert_no_decode_problems() {
    let problems = DECODE_PROBLEMS.lock().unwrap().clone();
    assert!(
        problems.is_empty(),
        "serenity could not decode some events:\n{}",
        problems.join("\n")
    );
}

/// The policy a bot under test runs with: the defaults, pointed at the fake.
pub fn policy_for(fake: &FakeDiscord) -> Policy {
    let env = [
        ("DISCORD_API_BASE".to_owned(), fake.api_base()),
        ("DISCORD_GATEWAY_URL".to_owned(), fake.gateway_url()),
    ];
    Policy::load(None, env).expect("config")
}

/// The policy pointed at the fake, with more settings (`OPSDESK_…` names).
pub fn policy_with(fake: &FakeDiscord, extra: &[(&str, &str)]) -> Policy {
    let mut env = vec![
        ("DISCORD_API_BASE".to_owned(), fake.api_base()),
        ("DISCORD_GATEWAY_URL".to_owned(), fake.gateway_url()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Policy::load(None, env).expect("config")
}

/// A desk on the test database, not connected to anything (to prepare state).
pub async fn offline_desk(fake: &FakeDiscord, db: &TestDb) -> Desk {
    desk_with_clock(fake, db, Clock::system()).await
}

async fn desk_with_clock(fake: &FakeDiscord, db: &TestDb, clock: Clock) -> Desk {
    let store = Store::open(&db.url()).await.expect("open store");
    Desk::new(store, policy_for(fake), clock)
}

/// A running bot.
pub struct Bot {
    pub desk: Desk,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), DiscordError>>,
}

/// Starts the adapter with `token` and returns at once.
pub async fn launch(fake: &FakeDiscord, db: &TestDb, token: &str) -> Bot {
    launch_with(db, token, policy_for(fake)).await
}

/// Like [`launch`], with a desk clock the test can advance (shared by clones,
/// so it can outlive one bot and be given to the next).
pub async fn launch_with_clock(fake: &FakeDiscord, db: &TestDb, token: &str, clock: Clock) -> Bot {
    launch_custom(db, token, policy_for(fake), clock).await
}

/// Starts the adapter with `token` and `policy` and returns at once.
pub async fn launch_with(db: &TestDb, token: &str, policy: Policy) -> Bot {
    launch_custom(db, token, policy, Clock::system()).await
}

async fn launch_custom(db: &TestDb, token: &str, policy: Policy, clock: Clock) -> Bot {
    init_tracing();
    let store = Store::open(&db.url()).await.expect("open store");
    let desk = Desk::new(store, policy, clock);
    let (tx, rx) = oneshot::channel::<()>();
    let settings = desk.policy().discord.clone();
    let run_desk = desk.clone();
    let token = Token::new(token);
    let task = tokio::spawn(async move {
        opsdesk::discord::run(run_desk, &settings, token, async {
            let _ = rx.await;
        })
        .await
    });
    Bot {
        desk,
        stop: Some(tx),
        task,
    }
}

/// Starts the adapter and waits until it has loaded the guild and registered its commands.
pub async fn start(fake: &FakeDiscord, db: &TestDb) -> Bot {
    start_with_clock(fake, db, Clock::system()).await
}

/// Like [`start`], with a desk clock the test can advance.
pub async fn start_with_clock(fake: &FakeDiscord, db: &TestDb, clock: Clock) -> Bot {
    let from = fake.calls().len();
    let bot = launch_with_clock(fake, db, &fake.spec().token, clock).await;
    fake.wait_for_call("PUT /applications/{app}/guilds/{guild}/commands", from, WAIT)
        .await
        .expect("commands registered");
    bot
}

/// Like [`start`], with `policy`.
pub async fn start_with(fake: &FakeDiscord, db: &TestDb, policy: Policy) -> Bot {
    let from = fake.calls().len();
    let bot = launch_with(db, &fake.spec().token, policy).await;
    fake.wait_for_call("PUT /applications/{app}/guilds/{guild}/commands", from, WAIT)
        .await
        .expect("commands registered");
    bot
}

impl Bot {
    /// Stops the bot and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("bot stops in time")
            .expect("bot task");
        result.expect("bot ran without error");
        self.desk.store().close().await;
    }

    /// Waits for the adapter to end by itself (e.g. a rejected token).
    pub async fn finish(mut self) -> Result<(), DiscordError> {
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("bot ends in time")
            .expect("bot task")
    }
}

/// A slash command's answer: its text, and whether only the caller sees it.
pub async fn slash_answer(fake: &FakeDiscord, id: u64) -> (String, bool) {
    let cb = fake
        .wait_for_interaction_response(id, WAIT)
        .await
        .unwrap()
        .callback
        .unwrap();
    (
        cb["data"]["content"].as_str().unwrap_or_default().to_owned(),
        cb["data"]["flags"].as_u64().unwrap_or(0) & 64 == 64,
    )
}

/// Waits until `condition` holds, re-checking after every REST call the bot
/// makes (no polling, no sleeps). Use this, not `FakeDiscord::wait_for`, when the
/// condition reads the fake's state: `wait_for` runs its predicate under the
/// fake's lock.
pub async fn eventually(fake: &FakeDiscord, description: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = fake.calls().len();
        if condition() {
            return;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            let recent: Vec<String> = fake.calls().iter().rev().take(15).map(|c| c.to_string()).collect();
            panic!(
                "timed out waiting for {description}; recent calls (newest first):\n{}",
                recent.join("\n")
            );
        }
        let _ = fake.wait_for_call(CallMatcher::any(), seen, left).await;
    }
}

/// Waits until the outbox holds nothing still to deliver: every row delivered
/// or failed. Delivery marks a row after its REST call returns, so the last
/// row can settle without another call; the check is therefore repeated after
/// each call and at least every 50 ms.
pub async fn drained(fake: &FakeDiscord, db: &TestDb) {
    const PENDING: &str = "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL";
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = fake.calls().len();
        let pending = crate::util::scalar(db, PENDING).await;
        if pending == 0 {
            return;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "{pending} outbox row(s) still waiting after {WAIT:?}");
        let _ = fake
            .wait_for_call(CallMatcher::any(), seen, left.min(Duration::from_millis(50)))
            .await;
    }
}

/// The bot's reply to message `to` in `channel`, once sent.
pub async fn reply_to(fake: &FakeDiscord, channel: u64, to: u64) -> String {
    let is_reply = |m: &StoredMessage| {
        m.create_body
            .as_ref()
            .and_then(|b| b["message_reference"]["message_id"].as_str())
            == Some(to.to_string().as_str())
    };
    eventually(fake, &format!("the reply to message {to}"), || {
        fake.bot_messages(channel).iter().any(is_reply)
    })
    .await;
    let reply = fake.bot_messages(channel).into_iter().find(is_reply).unwrap();
    reply.content().to_owned()
}

/// A line said to the desk before the bot connects, as the user would in chat.
pub async fn say(desk: &Desk, key: &str, user: u64, name: &str, chat_roles: &[&str], line: &str) -> String {
    let inbound = Inbound {
        key: format!("test:{key}"),
        actor: Actor {
            user: UserId::new(user),
            name: name.to_owned(),
            roles: desk.policy().itil_roles(chat_roles.iter().copied()),
        },
        channel: None,
        event: Event::Line(line.to_owned()),
    };
    match desk.handle(inbound).await {
        Outcome::Reply(r) => r.text,
        other => panic!("no reply to {line:?}: {other:?}"),
    }
}
