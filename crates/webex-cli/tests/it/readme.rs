//! The README's walkthrough ("Running the server" to the lobby) runs as
//! written: `scripts/readme-check` against this build's `webex`.

use crate::support::WEBEX;

#[test]
fn readme_walkthrough_runs_as_written() {
    let has = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(has("jq") && has("curl")) {
        // CI installs jq (.ci/run); elsewhere a missing tool skips.
        assert!(
            !webex_server::testing::in_ci(),
            "the README check needs jq and curl"
        );
        eprintln!("jq or curl missing: README check skipped (apt-get install -y jq curl)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/readme-check");
    let out = std::process::Command::new("bash")
        .arg(script)
        .env("WEBEX_BIN", WEBEX)
        .env_remove("WEBEX_ADMIN_TOKEN")
        .env_remove("WEBEX_SERVER")
        .env_remove("WEBEX_DATABASE_URL")
        .output()
        .expect("run scripts/readme-check");
    assert!(
        out.status.success(),
        "scripts/readme-check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
