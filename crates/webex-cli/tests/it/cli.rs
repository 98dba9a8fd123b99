//! The `webex` binary as users run it.

use crate::support::webex;

#[test]
fn demo_runs_the_whole_flow_with_no_services() {
    let out = webex().arg("demo").output().expect("run webex demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let order = [
        "server listening",
        "event meetings:ready",
        "meetings.register() resolved",
        "event event:demo.hello",
        "meeting.join() resolved: demo is in the meeting",
        "bob: meeting.join() resolved",
        "each roster shows the other in the meeting",
        "both added media: demo sends a 440 Hz tone, bob 660 Hz",
        "demo hears bob: 50 packets, dominant frequency 660 Hz",
        "bob hears demo: 50 packets, dominant frequency 440 Hz",
        "bob: meeting.leave() resolved",
        "meeting.end_for_all() resolved",
        "both saw meeting:removed",
        "meetings.unregister() resolved",
        "no devices left",
        "next: `webex serve --dev`",
    ];
    let mut at = 0;
    for want in order {
        let found = stdout[at..]
            .find(want)
            .unwrap_or_else(|| panic!("`{want}` missing or out of order in:\n{stdout}"));
        at += found;
    }
}

#[test]
fn token_create_prints_exactly_one_webex_shaped_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.sqlite").display());
    let out = webex()
        .args([
            "token",
            "create",
            "--email",
            "Bob@Example.com",
            "--database",
            &db,
        ])
        .args(["--expires-in", "12h", "--type", "bot"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let parts: webex_wire::token::AccessTokenParts = lines[0].parse().unwrap();
    assert!(parts.secret().len() >= 43);
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let out = webex()
        .args(["token", "create", "--email", "not-an-email", "--database"])
        .arg(format!(
            "sqlite://{}",
            tempfile::tempdir()
                .unwrap()
                .path()
                .join("w.sqlite")
                .display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error:"), "{stderr}");
}

#[test]
fn token_create_never_makes_the_default_database_silently() {
    // Run from a directory without ./webex-data: before, this created a new
    // database and printed a token the running server then rejected.
    let dir = tempfile::tempdir().unwrap();
    let out = webex()
        .args(["token", "create", "--email", "alice@example.com"])
        .env_remove("WEBEX_DATABASE_URL")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--database"), "{stderr}");
    assert!(!dir.path().join("webex-data").exists(), "nothing created");

    // An explicit database is created as asked, and named on stderr.
    let out = webex()
        .args([
            "token",
            "create",
            "--email",
            "alice@example.com",
            "--database",
        ])
        .arg(format!(
            "sqlite://{}",
            dir.path().join("w.sqlite").display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("w.sqlite"), "{stderr}");
}
