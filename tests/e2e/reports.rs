//! Service reports end to end: `!report` in the console and `opsdesk report`
//! on the command line, over incidents worked by real commands.

use crate::util::{console, opsdesk, TestDb};

const SCRIPT: &str = "\
:as alice
!incident Mail is down service=email impact=high urgency=high
!incident VPN drops service=vpn
:as dee service_desk
!take INC-1
!resolve INC-1 restarted the relay
:as sam service_level_manager
!report 1d
:as alice
!report 1d
";

#[test]
fn report_in_the_console_and_on_the_command_line_gives_the_same_figures() {
    let db = TestDb::new();
    let out = console(&db, SCRIPT, &[]);
    assert!(out.contains("Service report"), "{out}");
    assert!(
        out.contains("2 logged, 1 resolved, 1 still open at the end, 0 cancelled"),
        "{out}"
    );
    assert!(out.contains("Only agents"), "alice is refused:\n{out}");
    // The chart is saved (in the current directory) and its path printed
    // under the card; alice's refusal saved nothing.
    let saved: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("┃ report.png saved to "))
        .collect();
    assert_eq!(saved.len(), 1, "{out}");
    let chart = std::path::Path::new(saved[0]);
    assert_eq!(chart.parent(), Some(db.dir.path()), "{out}");
    assert!(chart.file_name().unwrap().to_str().unwrap().starts_with("report-"));
    assert_eq!(png_size(&std::fs::read(chart).unwrap()), (1000, 500));

    let url = db.url();
    let run = |args: &[&str]| {
        let mut all = vec!["--database", url.as_str(), "report"];
        all.extend_from_slice(args);
        opsdesk().args(&all).current_dir(db.dir.path()).output().unwrap()
    };
    let text = run(&["1d"]);
    assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("2 logged, 1 resolved, 1 still open at the end"), "{text}");

    let json = run(&["1d", "--format", "json", "--service", "Email"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (v["logged"].as_u64(), v["resolved"].as_u64(), v["open"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(v["query"]["service"], "email");
    assert_eq!(v["by_priority"]["1"]["logged"], 1);

    let file = db.dir.path().join("report.csv");
    let csv = run(&[
        "1d",
        "--format",
        "csv",
        "--output",
        file.to_str().unwrap(),
        "--priority",
        "P1",
    ]);
    assert!(csv.status.success());
    assert_eq!(String::from_utf8_lossy(&csv.stdout).trim(), file.display().to_string());
    let body = std::fs::read_to_string(&file).unwrap();
    assert!(body.starts_with("section,key,value\n"), "{body}");
    assert!(body.contains("\"volume\",\"logged\",\"1\""), "{body}");

    // The chart as a file, and never over one.
    let png = db.dir.path().join("chart.png");
    let made = run(&["1d", "--format", "png", "--output", png.to_str().unwrap()]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert_eq!(String::from_utf8_lossy(&made.stdout).trim(), png.display().to_string());
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (1000, 500));
    let again = run(&["7d", "--format", "png", "--output", png.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists and is never replaced"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read(&png).unwrap(), bytes, "the first chart is intact");
    let csv_again = run(&["1d", "--format", "csv", "--output", file.to_str().unwrap()]);
    assert_eq!(csv_again.status.code(), Some(78));
    // Down a pipe (not a terminal) the picture goes to stdout.
    let piped = run(&["1d", "--format", "png"]);
    assert!(piped.status.success());
    assert_eq!(png_size(&piped.stdout), (1000, 500));

    let bad = run(&["fortnight"]);
    assert_eq!(bad.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`fortnight` is not a period"));
    let unknown = run(&["7d", "--service", "fax"]);
    assert_eq!(unknown.status.code(), Some(78));
}

/// A PNG's width and height, decoding every pixel (so a broken file fails).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a whole PNG frame");
    (info.width, info.height)
}

/// On Discord: the report is one message in the channel it was asked in,
/// one embed within Discord's embed limits with the chart attached as its
/// picture; a member with no standing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_discord_the_report_is_one_embed_within_the_limits_with_its_chart_attached() {
    use crate::bot;
    use crate::fake_discord::{FakeDiscord, GuildSpec, InteractionSpec};

    let fake = FakeDiscord::start(GuildSpec::service_desk_default()).await;
    let spec = fake.spec().clone();
    let db = TestDb::new();
    let bot = bot::start(&fake, &db).await;
    let (general, bob, irene) = (spec.channel_id("general"), spec.user_id("bob"), spec.user_id("irene"));
    for (i, title) in [
        "Mail is down service=email impact=high urgency=high",
        "VPN drops service=vpn",
    ]
    .iter()
    .enumerate()
    {
        let msg = fake.inject_message(general, bob, &format!("!incident {title}"));
        bot::reply_to(&fake, general, msg).await;
        assert!(i < 2);
    }
    fake.inject_message(general, irene, "!report 30d");
    bot::eventually(&fake, "the report card", || {
        fake.bot_messages(general).iter().any(|m| {
            m.embeds()
                .first()
                .is_some_and(|e| e["title"].as_str().unwrap_or("").starts_with("Service report"))
        })
    })
    .await;
    let posted = fake.bot_messages(general);
    let card = posted
        .iter()
        .find(|m| {
            m.embeds()
                .first()
                .is_some_and(|e| e["title"].as_str().unwrap_or("").starts_with("Service report"))
        })
        .unwrap();
    let reports = posted.iter().filter(|m| !m.embeds().is_empty()).count();
    assert_eq!(reports, 1, "one message for the report");
    // The chart is on the same message, as a file the embed shows.
    assert_eq!(card.files.len(), 1, "{:?}", card.json["attachments"]);
    let file = &card.files[0];
    assert_eq!(
        (file.filename.as_str(), file.content_type.as_deref()),
        ("report.png", Some("image/png"))
    );
    let (width, height) = png_size(&file.bytes);
    assert_eq!((width, height), (1000, 500));
    let sent = card.create_body.as_ref().unwrap();
    assert_eq!(sent["embeds"][0]["image"]["url"], "attachment://report.png", "{sent}");
    let embed = &card.embeds()[0];
    assert_eq!(embed["image"]["url"], card.json["attachments"][0]["url"], "{embed}");
    let fields = embed["fields"].as_array().unwrap();
    assert!(fields.len() <= 25, "{embed}");
    let mut total = embed["title"].as_str().unwrap().chars().count();
    for f in fields {
        let (name, value) = (f["name"].as_str().unwrap(), f["value"].as_str().unwrap());
        assert!(value.chars().count() <= 1024 && name.chars().count() <= 256, "{f}");
        total += name.chars().count() + value.chars().count();
    }
    assert!(total <= 6000, "{total}");
    let volume = fields.iter().find(|f| f["name"] == "Volume").unwrap();
    assert_eq!(
        volume["value"],
        "2 logged, 0 resolved, 2 still open at the end, 0 cancelled"
    );

    let refused = fake.inject_message(general, bob, "!report 30d");
    let answer = bot::reply_to(&fake, general, refused).await;
    assert!(answer.starts_with("Only agents"), "{answer}");

    // `/report` answers with the emoji (an interaction has no message to
    // react on) and posts a second card.
    let (id, _) = fake.inject_interaction(InteractionSpec::slash("report", irene, general).string("period", "7d"));
    let (text, private) = bot::slash_answer(&fake, id).await;
    assert_eq!((text.as_str(), private), ("📊", false));
    bot::eventually(&fake, "the second card", || {
        fake.bot_messages(general)
            .iter()
            .filter(|m| !m.embeds().is_empty())
            .count()
            == 2
    })
    .await;
    bot.stop().await;
}

#[test]
fn the_scheduled_digest_posts_in_its_channel_and_catches_up_once_after_a_long_gap() {
    let db = TestDb::new();
    let config = db.dir.path().join("digest.toml");
    std::fs::write(
        &config,
        "[reports.digest]\nchannel = \"service-level\"\nevery = \"7d\"\nat = \"Mon 09:00\"\n",
    )
    .expect("write config");
    let config = config.display().to_string();
    // Sixteen days on: two weekly postings fell due, one digest is posted.
    let out = console(
        &db,
        ":as alice\n!incident Mail is down service=email\n:clock +16d\n",
        &["--config", &config],
    );
    let posted = crate::util::lines_with(&out, "Scheduled report digest (every 7d, Mon 09:00 UTC)");
    assert_eq!(posted.len(), 1, "{out}");
    assert!(posted[0].starts_with("[#service-level #"), "{out}");
    assert_eq!(crate::util::lines_with(&out, "┃ Service report").len(), 1, "{out}");
    // A restart a week later: the next posting, once.
    let again = console(&db, ":clock +23d\n", &["--config", &config]);
    assert_eq!(crate::util::lines_with(&again, "┃ Service report").len(), 1, "{again}");
}
