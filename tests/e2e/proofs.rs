//! Proofs of the reliability rules of DESIGN.md §4 (issue 7): tests that fail
//! when a rule is broken. Desk-level ones here; the ones that need Discord run
//! the real adapter (or the real binary) against the fake Discord.
//!
//! * parser: property tests over `command::parse` and `command::build`
//!   (`OPSDESK_FUZZ_ITERATIONS` / `OPSDESK_FUZZ_SEED` for a longer session);
//! * authorization matrix: every command × every ITIL role (and none, and the reporter);
//! * mention safety, faults, replay and crash consistency: see `proofs_discord`.

use opsdesk::command::{self, Args, Command, COMMANDS};
use opsdesk::config::Policy;
use opsdesk::desk::{Actor, Clock, Desk, Event, Inbound, Outcome};
use opsdesk::domain::party::{self, RecordParties, Standing};
use opsdesk::domain::{RoleKey, UserId};
use opsdesk::store::Store;

use crate::util::TestDb;

/// xorshift64*: deterministic, no crate needed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// One random word: command names, option syntax, ids at the edges of their
/// types, mention syntax, odd Unicode and whitespace, and very long runs.
fn word(rng: &mut Rng) -> String {
    const FIXED: &[&str] = &[
        "impact=high",
        "urgency=LOW",
        "impact=",
        "service=",
        "service=email",
        "category=security",
        "page=0",
        "page=1",
        "page=99999999999999999999999",
        "filter=open",
        "=",
        "==",
        "a=b=c",
        "INC-1",
        "inc-7",
        "INC-0",
        "INC-",
        "INC--1",
        "INC-18446744073709551616",
        "INC-4294967296",
        "1",
        "-1",
        "P1",
        "p9",
        "open",
        "mine",
        "all",
        "in_progress",
        "on_hold",
        "resolved",
        "<@123>",
        "<@!99999999999999999999999>",
        "<@&1>",
        "<@>",
        "<@!>",
        "@everyone",
        "@here",
        "@",
        "\u{200B}",
        "\u{200D}",
        "\u{FEFF}",
        "\u{202E}",
        "\u{0301}",
        "\u{3000}",
        "\u{85}",
        "\t",
        "\r\n",
        "\0",
        "🎫",
        "✋",
        "👍🏽",
        "é",
        "ß",
        "İ",
        "ﬁ",
        "!",
        "!!",
        "`",
        "```",
        "\\",
        "*",
        "(",
        "[",
        "$1",
        "(?i)",
    ];
    match rng.below(10) {
        0..=2 => {
            let spec = rng.pick(COMMANDS);
            let mut names = vec![spec.name];
            names.extend(spec.aliases);
            let name = *rng.pick(&names);
            match rng.below(4) {
                0 => name.to_uppercase(),
                1 if !spec.options.is_empty() => {
                    let opt = rng.pick(spec.options);
                    format!("{}={}", opt.name, rng.pick(FIXED))
                }
                _ => name.to_owned(),
            }
        }
        3..=6 => (*rng.pick(FIXED)).to_owned(),
        7 => {
            // Random scalar values from every plane (surrogates are not chars).
            let n = 1 + rng.below(12);
            (0..n)
                .filter_map(|_| char::from_u32((rng.next() % 0x11_0000) as u32))
                .collect()
        }
        8 => {
            let n = 1 + rng.below(8);
            (0..n).map(|_| (b'a' + rng.below(26) as u8) as char).collect()
        }
        // Long runs, up to about Discord's 4,000-character message limit.
        _ => rng.pick(FIXED).repeat(1 + rng.below(150)),
    }
}

fn random_line(rng: &mut Rng, prefix: &str) -> String {
    let mut line = match rng.below(8) {
        0 => String::new(),
        1 => format!(" {prefix}"),
        2 => format!("{prefix} "),
        _ => prefix.to_owned(),
    };
    let words = rng.below(10);
    for i in 0..words {
        if i > 0 {
            line.push_str(match rng.below(6) {
                0 => "  ",
                1 => "\n",
                2 => "\t",
                3 => "",
                _ => " ",
            });
        }
        line.push_str(&word(rng));
    }
    line
}

/// Whether `parse` must see a command in `line` (else it is ordinary chat).
fn is_command_line(prefix: &str, line: &str) -> bool {
    line.trim_start()
        .strip_prefix(prefix)
        .is_some_and(|body| body.chars().next().is_some_and(|c| !c.is_whitespace()))
}

#[test]
fn the_parser_never_panics_and_answers_every_line_consistently() {
    let iterations = env_number("OPSDESK_FUZZ_ITERATIONS", 40_000);
    let seed = env_number("OPSDESK_FUZZ_SEED", 0x0D5D_E5C0_FFEE);
    let mut rng = Rng::new(seed);
    for n in 0..iterations {
        let prefix = *rng.pick(&["!", "!", "!", "?", "ops!", "é"]);
        let line = random_line(&mut rng, prefix);
        let first = std::panic::catch_unwind(|| command::parse(prefix, &line)).unwrap_or_else(|_| {
            panic!("parse panicked (seed {seed}, iteration {n}) on prefix {prefix:?} line {line:?}")
        });
        assert_eq!(
            first,
            command::parse(prefix, &line),
            "parse is not deterministic on {line:?}"
        );
        assert_eq!(
            first.is_some(),
            is_command_line(prefix, &line),
            "prefix {prefix:?} line {line:?} → {first:?}"
        );
        match first {
            Some(Ok(Command::Unknown { name, suggestion })) => {
                assert!(name.chars().count() <= 40, "an unknown name is echoed whole: {name:?}");
                if let Some(s) = suggestion {
                    assert!(
                        command::spec(s).is_some(),
                        "suggested a command that does not exist: {s}"
                    );
                }
            }
            Some(Err(usage)) => {
                // A usage error never echoes a wall of what was typed.
                assert!(
                    usage.problem.chars().count() <= 120,
                    "problem too long for {line:?}: {}",
                    usage.problem
                );
            }
            _ => {}
        }
    }
}

#[test]
fn building_any_command_from_any_arguments_never_panics() {
    let iterations = env_number("OPSDESK_FUZZ_ITERATIONS", 40_000) / 4;
    let mut rng = Rng::new(env_number("OPSDESK_FUZZ_SEED", 0x0D5D_E5C0_FFEE) ^ 0xA5A5);
    for n in 0..iterations {
        let spec = rng.pick(COMMANDS);
        let mut args = Args::default();
        for _ in 0..rng.below(5) {
            args.positional.push(word(&mut rng));
        }
        for _ in 0..rng.below(3) {
            // Any name, even one the command does not take (`services` takes none).
            let name = match spec.options.is_empty() {
                true => "probe",
                false => rng.pick(spec.options).name,
            };
            args.named.insert(name.to_owned(), word(&mut rng));
        }
        let described = format!("{args:?}");
        let _ = std::panic::catch_unwind(|| command::build(spec, args))
            .unwrap_or_else(|_| panic!("build panicked (iteration {n}) for {}: {described}", spec.name));
        let rest = random_line(&mut rng, "");
        let split = std::panic::catch_unwind(|| command::split_args(spec, &rest))
            .unwrap_or_else(|_| panic!("split_args panicked for {}: {rest:?}", spec.name));
        let _ = command::build(spec, split);
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization matrix
// ---------------------------------------------------------------------------------------------

/// What an incident must be brought to (by an agent) before the command can succeed.
#[derive(Clone, Copy, Debug)]
enum Prep {
    Fresh,
    InProgress,
    Resolved,
}

/// A valid invocation of `name` on incident `id`, and the state it needs. `None`
/// for a command this matrix does not know how to invoke yet (it is then only
/// checked on the refused side).
fn invocation(name: &str, id: &str) -> Option<(String, Prep)> {
    Some(match name {
        "incident" => ("incident Matrix probe impact=low".to_owned(), Prep::Fresh),
        "show" => (format!("show {id}"), Prep::Fresh),
        "incidents" => ("incidents all".to_owned(), Prep::Fresh),
        "take" => (format!("take {id}"), Prep::Fresh),
        "assign" => (format!("assign {id} @sam"), Prep::Fresh),
        "status" => (format!("status {id} assigned triaged"), Prep::Fresh),
        "note" => (format!("note {id} still broken"), Prep::Fresh),
        "resolve" => (format!("resolve {id} replaced the cable"), Prep::InProgress),
        "close" => (format!("close {id}"), Prep::Resolved),
        "reopen" => (format!("reopen {id} it broke again"), Prep::Resolved),
        "cancel" => (format!("cancel {id} logged by mistake"), Prep::Fresh),
        "edit" => (format!("edit {id} title=Matrix probe corrected"), Prep::Fresh),
        // INC-1 is the first case's incident, still new: a second end for links.
        "link" => (format!("link {id} INC-1"), Prep::Fresh),
        "duplicate" => (format!("duplicate {id} of INC-1"), Prep::Fresh),
        "help" => ("help".to_owned(), Prep::Fresh),
        "raci" => ("raci".to_owned(), Prep::Fresh),
        "whois" => ("whois service_desk".to_owned(), Prep::Fresh),
        "whoami" => ("whoami".to_owned(), Prep::Fresh),
        "ack" => (format!("ack {id}"), Prep::Fresh),
        "escalate" => (format!("escalate {id} no progress"), Prep::Fresh),
        "major" => (format!("major {id} whole floor down"), Prep::Fresh),
        "priority" => (format!("priority {id} impact=high the whole floor now"), Prep::Fresh),
        "services" => ("services".to_owned(), Prep::Fresh),
        "changes" => ("changes".to_owned(), Prep::Fresh),
        _ => return None,
    })
}

/// An invocation built from the table row alone: every required option filled.
fn generic_invocation(spec: &command::CommandSpec, id: &str) -> String {
    let mut line = spec.name.to_owned();
    for opt in spec.options.iter().filter(|o| o.required && !o.named) {
        line.push(' ');
        line.push_str(&match opt.kind {
            command::OptionKind::Incident => id.to_owned(),
            command::OptionKind::Change => "CHG-1".to_owned(),
            command::OptionKind::User => "@rita".to_owned(),
            command::OptionKind::Choice(c) => c.first().copied().unwrap_or("x").to_owned(),
            command::OptionKind::Text | command::OptionKind::Phrase => "probe".to_owned(),
        });
    }
    line
}

/// Commands that change nothing (success is a reply, not an audit row).
fn read_only(name: &str) -> bool {
    matches!(
        name,
        "show" | "incidents" | "help" | "raci" | "whois" | "whoami" | "services" | "changes"
    )
}

struct Matrix {
    desk: Desk,
    seq: u64,
}

impl Matrix {
    async fn say(&mut self, who: &Actor, text: &str) -> Outcome {
        self.seq += 1;
        self.desk
            .handle(Inbound {
                key: format!("matrix:{}", self.seq),
                actor: who.clone(),
                channel: Some("general".into()),
                event: Event::Line(format!("!{text}")),
            })
            .await
    }

    async fn ok(&mut self, who: &Actor, text: &str) {
        let out = self.say(who, text).await;
        assert!(
            matches!(&out, Outcome::Reply(r) if !r.private),
            "setup `{text}` failed: {out:?}"
        );
    }

    /// Everything a refused command must leave as it was.
    async fn fingerprint(&self, id: i64) -> String {
        let mut conn = self.desk.store().read().await.expect("read");
        let (row,): (String,) = sqlx::query_as(
            "SELECT state || '|' || COALESCE(CAST(assignee AS TEXT), '-') || '|' || COALESCE(resolution, '-') || '|' || updated_at
               FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .expect("incident");
        let (counts,): (String,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM incidents) || '|' || (SELECT COUNT(*) FROM audit) || '|' ||
                    (SELECT COUNT(*) FROM outbox) || '|' || (SELECT COUNT(*) FROM incident_notes)",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("counts");
        format!("{row} / {counts}")
    }

    async fn audit_rows(&self) -> i64 {
        let mut conn = self.desk.store().read().await.expect("read");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
        n
    }
}

fn person(id: u64, name: &str, roles: Vec<RoleKey>) -> Actor {
    Actor {
        user: UserId::new(id),
        name: name.into(),
        roles,
    }
}

#[tokio::test]
async fn every_command_for_every_role_is_allowed_or_refused_exactly_as_configured() {
    let db = TestDb::new();
    let policy = Policy::defaults();
    let store = Store::open(&db.url()).await.expect("open");
    let mut m = Matrix {
        desk: Desk::new(store, policy.clone(), Clock::system()),
        seq: 0,
    };
    let reporter = person(7, "rita", vec![]);
    let setup = person(8, "sam", vec![RoleKey::parse("service_desk").unwrap()]);
    // sam is seen once, so `!assign … @sam` finds him.
    m.ok(&setup, "whoami").await;

    // Who acts: each ITIL role alone, nobody's role at all, and the incident's own reporter.
    let mut actors: Vec<(String, Actor)> = policy
        .roles
        .keys()
        .enumerate()
        .map(|(i, role)| {
            (
                format!("role {role}"),
                person(100 + i as u64, &format!("holder{i}"), vec![role.clone()]),
            )
        })
        .collect();
    actors.push(("no role".into(), person(99, "nobody", vec![])));
    actors.push(("the reporter".into(), reporter.clone()));

    let mut checked = 0;
    let mut escalations = Vec::new();
    let mut wrongly_refused = Vec::new();
    for spec in COMMANDS {
        for (label, actor) in &actors {
            // A fresh incident for every case, reported by rita.
            m.ok(&reporter, "incident Matrix target").await;
            let id: i64 = {
                let mut conn = m.desk.store().read().await.expect("read");
                sqlx::query_scalar("SELECT MAX(id) FROM incidents")
                    .fetch_one(&mut *conn)
                    .await
                    .expect("id")
            };
            let inc = format!("INC-{id}");
            // A command this matrix cannot invoke for sure (added since) is
            // built from its table row and checked on the refused side only.
            let known = invocation(spec.name, &inc);
            let (line, prep) = known
                .clone()
                .unwrap_or_else(|| (generic_invocation(spec, &inc), Prep::Fresh));
            if matches!(prep, Prep::InProgress | Prep::Resolved) {
                m.ok(&setup, &format!("take {inc}")).await;
                m.ok(&setup, &format!("status {inc} in_progress")).await;
            }
            if matches!(prep, Prep::Resolved) {
                m.ok(&setup, &format!("resolve {inc} rebooted")).await;
            }
            // Derived: the parties the actor holds towards this incident
            // (reported by rita, held by the service desk, taken by sam once
            // in progress), against the parties the parsed command declares.
            // A line the table's row alone builds may be a usage error: its
            // row's declaration then stands.
            let may = match command::parse("!", &format!("!{line}")).expect("a command") {
                Ok(cmd) => cmd.may(),
                Err(_) => spec.may,
            };
            let service_desk = RoleKey::parse("service_desk").unwrap();
            let record = RecordParties {
                reporter: Some(reporter.user),
                assignee: (!matches!(prep, Prep::Fresh)).then_some(setup.user),
                group: Some(&service_desk),
                owner: None,
            };
            let standing = Standing {
                agent: policy.is_agent(&actor.roles),
                outage_role: policy.may_declare_outages(&actor.roles),
                change_requester: policy.change.may_request(&actor.roles),
                change_authority: policy.change.is_authority(&actor.roles),
                report_reader: policy.reports.is_reader(&actor.roles),
                problem_role: actor.roles.iter().any(|r| policy.problem.roles.contains(r)),
                integration: false,
            };
            let held = party::held(actor.user, &actor.roles, standing, Some(&record));
            let expected = party::permits(may, &held);
            // A command this matrix has no sure invocation for is checked on
            // the refused side only (its own tests prove the allowed side).
            if expected && known.is_none() {
                continue;
            }
            let before = m.fingerprint(id).await;
            let audit_before = m.audit_rows().await;
            let out = m.say(actor, &line).await;
            let after = m.fingerprint(id).await;
            let reply = match &out {
                Outcome::Reply(r) => r.clone(),
                other => panic!("`{line}` by {label}: no reply: {other:?}"),
            };
            checked += 1;
            if expected {
                let changed = read_only(spec.name) || m.audit_rows().await > audit_before;
                if reply.private || !changed {
                    wrongly_refused.push(format!("`{line}` by {label}: {}", reply.text));
                }
            } else if !reply.private || before != after {
                escalations.push(format!(
                    "`{line}` by {label}: {} (before {before}, after {after})",
                    reply.text
                ));
            }
        }
    }
    assert!(checked >= COMMANDS.len() * 3, "the matrix ran: {checked} cases");
    assert!(
        escalations.is_empty(),
        "privilege escalations:\n{}",
        escalations.join("\n")
    );
    assert!(
        wrongly_refused.is_empty(),
        "allowed but refused:\n{}",
        wrongly_refused.join("\n")
    );
}

/// The permission outcomes the desk promises, written out by hand: a table
/// independent of the command table's declarations (which the matrix above
/// derives from). Systems support is made a support tier that is not an
/// agent role, so the assignment group and the assignee are parties of
/// their own and not agents in disguise.
#[tokio::test]
async fn the_reporter_assignee_group_and_service_owner_may_do_what_their_party_allows() {
    let db = TestDb::new();
    let mut policy = Policy::defaults();
    policy.agents.retain(|r| r.as_str() != "systems_support");
    let store = Store::open(&db.url()).await.expect("open");
    let mut m = Matrix {
        desk: Desk::new(store, policy, Clock::system()),
        seq: 0,
    };
    let role = |k: &str| vec![RoleKey::parse(k).unwrap()];
    let rita = person(7, "rita", vec![]);
    let sam = person(8, "sam", role("service_desk"));
    let olga = person(9, "olga", role("email_owner"));
    let gus = person(10, "gus", role("systems_support"));
    let nobody = person(11, "nobody", vec![]);
    // gus is seen by the desk once, so the desk knows his roles.
    m.ok(&gus, "whoami").await;

    // INC-1: email, held by the service desk. INC-2: email, escalated to systems support.
    m.ok(&rita, "incident mail bounces service=email").await;
    m.ok(&rita, "incident mailbox full service=email").await;
    m.ok(&sam, "escalate INC-2 needs systems support").await;

    // (who, command, allowed) — in order; each allowed line must be answered
    // publicly, each refused one privately.
    let cases: Vec<(&Actor, &str, bool)> = vec![
        // The service owner: show, note, escalate up; not the lifecycle, not taking.
        (&olga, "show INC-1", true),
        (&olga, "note INC-1 users in Paris affected", true),
        (&olga, "status INC-1 in_progress", false),
        (&olga, "resolve INC-1 fixed", false),
        (&olga, "take INC-1", false),
        (&olga, "assign INC-1 @sam", false),
        (&olga, "escalate INC-1 up customers complain", true),
        // Nobody in particular: not even seeing it.
        (&nobody, "show INC-1", false),
        (&nobody, "note INC-1 me too", false),
        // The group holding INC-2 (systems support, not agents): work it.
        (&gus, "show INC-2", true),
        (&gus, "status INC-2 assigned picking it up", true),
        (&gus, "note INC-2 looking at the quota", true),
        // ...but not INC-1, which the service desk holds.
        (&gus, "show INC-1", false),
        (&gus, "status INC-1 assigned", false),
        // Assigning: only to someone who could work the incident.
        (&sam, "assign INC-1 @gus", false),
        (&sam, "assign INC-2 @gus", true),
        (&gus, "status INC-2 in_progress", true),
        // The reporter: see, note, ask for escalation; not move it.
        (&rita, "show INC-2", true),
        (&rita, "note INC-2 still full", true),
        (&rita, "status INC-2 on_hold", false),
        (&rita, "resolve INC-2 fixed it myself", false),
        (&rita, "priority INC-2 impact=high", false),
        // The assignment group resolves; the reporter may then close.
        (&gus, "resolve INC-2 quota raised", true),
        (&rita, "close INC-2", true),
    ];
    let mut wrong = Vec::new();
    for (who, line, allowed) in cases {
        let out = m.say(who, line).await;
        let Outcome::Reply(reply) = &out else {
            panic!("`{line}` by {}: no reply: {out:?}", who.name);
        };
        if reply.private == allowed {
            wrong.push(format!(
                "`{line}` by {}: expected {}, got: {}",
                who.name,
                if allowed { "allowed" } else { "refused" },
                reply.text
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // `!incidents mine` lists what I reported and what is assigned to me.
    let Outcome::Reply(mine) = m.say(&gus, "incidents mine").await else {
        panic!("no reply")
    };
    assert!(
        mine.text.contains("INC-2") && !mine.text.contains("INC-1"),
        "{}",
        mine.text
    );
    let Outcome::Reply(refused) = m.say(&sam, "assign INC-1 @gus").await else {
        panic!("no reply")
    };
    assert!(refused.text.starts_with("gus cannot work INC-1"), "{}", refused.text);
    // `!whoami` says what the roles make you.
    let Outcome::Reply(me) = m.say(&olga, "whoami").await else {
        panic!("no reply")
    };
    assert!(me.text.contains("the owner of Email"), "{}", me.text);
}
