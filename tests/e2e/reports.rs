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
    assert!(out.contains("2 logged, 1 resolved, 1 still open at the end, 0 cancelled"), "{out}");
    assert!(out.contains("Only agents"), "alice is refused:\n{out}");

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
    assert_eq!((v["logged"].as_u64(), v["resolved"].as_u64(), v["open"].as_u64()), (Some(1), Some(1), Some(0)));
    assert_eq!(v["query"]["service"], "email");
    assert_eq!(v["by_priority"]["1"]["logged"], 1);

    let file = db.dir.path().join("report.csv");
    let csv = run(&["1d", "--format", "csv", "--output", file.to_str().unwrap(), "--priority", "P1"]);
    assert!(csv.status.success());
    assert_eq!(String::from_utf8_lossy(&csv.stdout).trim(), file.display().to_string());
    let body = std::fs::read_to_string(&file).unwrap();
    assert!(body.starts_with("section,key,value\n"), "{body}");
    assert!(body.contains("\"volume\",\"logged\",\"1\""), "{body}");

    let bad = run(&["fortnight"]);
    assert_eq!(bad.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`fortnight` is not a period"));
    let unknown = run(&["7d", "--service", "fax"]);
    assert_eq!(unknown.status.code(), Some(78));
}
