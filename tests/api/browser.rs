//! GraphiQL in a real headless Chromium: the page loads from the binary alone, takes an
//! Authorization header, runs a query and shows the result.
//!
//! Needs Debian's `chromium` and `npm ci` in tests/browser (`.ci/run` does both). Without
//! them the test says so and skips, unless CONFAB_BROWSER_TESTS=1 demands it.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_in_headless_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var("CONFAB_BROWSER_TESTS").as_deref() != Ok("1"),
            "CONFAB_BROWSER_TESTS=1 but chromium or tests/browser/node_modules is missing"
        );
        eprintln!("skipping the GraphiQL browser test: install chromium and run `npm ci` in tests/browser");
        return;
    }
    let app = harness::sqlite().await;
    let alice = harness::user("alice");
    let project = app.create_project(&alice, "Seen in GraphiQL", false).await;
    let query = format!("{{ project(id: \"{project}\") {{ title viewerAccess }} }}");
    let url = app.url.clone();
    let token = alice.token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("graphiql.mjs")
            .current_dir(&dir)
            .env("CONFAB_URL", url)
            .env("CONFAB_TOKEN", token)
            .env("CONFAB_QUERY", query)
            .env("CONFAB_EXPECT", "Seen in GraphiQL")
            .env("CHROMIUM_PATH", chromium)
            .env(
                "CONFAB_SCREENSHOT",
                std::env::temp_dir().join("confab-graphiql.png"),
            )
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the result pane holds JSON");
    assert_eq!(
        result,
        json!({"data": {"project": {"title": "Seen in GraphiQL", "viewerAccess": "OWNER"}}})
    );
}

/// Whether Chromium and the npm packages are there; skips (or fails when
/// CONFAB_BROWSER_TESTS=1) otherwise.
fn browser_ready(what: &str) -> Option<(std::path::PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists() {
        return Some((dir, chromium));
    }
    assert!(
        std::env::var("CONFAB_BROWSER_TESTS").as_deref() != Ok("1"),
        "CONFAB_BROWSER_TESTS=1 but chromium or tests/browser/node_modules is missing"
    );
    eprintln!("skipping {what}: install chromium and run `npm ci` in tests/browser");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_an_allowed_origin_queries_and_subscribes_and_another_is_blocked() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let Some((dir, chromium)) = browser_ready("the CORS browser test") else {
        return;
    };
    let app = harness::sqlite_with(|s| s.cors_origins = vec!["http://localhost:*".into()]).await;
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "Across origins", None).await;
    let mut child = tokio::process::Command::new("node")
        .arg("cors.mjs")
        .current_dir(&dir)
        .env("CONFAB_URL", &app.url)
        .env("CONFAB_TOKEN", &alice.token)
        .env("CONFAB_CHAT", chat.to_string())
        .env("CHROMIUM_PATH", chromium)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || -> serde_json::Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the page answers in time")
            .unwrap()
            .expect("the page prints a line");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    };
    assert_eq!(
        next_line().await,
        json!({ "query": { "data": { "conversation": { "id": chat, "title": "Across origins" } } } })
    );
    assert_eq!(next_line().await, json!({ "subscribed": true }));
    app.wait_for_subscriptions(1).await;
    app.send(&alice, chat, "seen by another origin").await;
    assert_eq!(
        next_line().await,
        json!({ "received": { "data": { "messageAdded": {
            "sequence": 1, "role": "USER", "content": "seen by another origin"
        } } } })
    );
    assert_eq!(
        next_line().await,
        json!({ "blocked": { "fetch": "TypeError", "websocket": "refused" } })
    );
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the browser run failed");
}
