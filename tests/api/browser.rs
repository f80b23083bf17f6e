//! GraphiQL in a real headless Chromium: the page loads from the binary alone, takes an
//! Authorization header, runs a query and a subscription and shows their results, keeps
//! its headers across a reload, and opens with the dev token in development mode. And a
//! page on another origin, which the browser lets call the gateway only when allowed.
//!
//! Needs Debian's `chromium` and `npm ci` in tests/browser (`.ci/run` does both). Without
//! them the test says so and skips, unless CONFAB_BROWSER_TESTS=1 demands it.

use std::path::Path;

use serde_json::json;

use crate::harness;

/// A Node script from tests/browser that prints one JSON object per line.
struct NodeScript {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl NodeScript {
    fn start(dir: &Path, script: &str, env: &[(&str, String)]) -> NodeScript {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new("node");
        command
            .arg(script)
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("node runs");
        let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        NodeScript { child, lines }
    }

    /// The next line's JSON (the script's stderr, inherited, says why when it fails).
    async fn next(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(90), self.lines.next_line())
            .await
            .expect("the browser answers in time")
            .unwrap()
            .expect("the browser prints a line (see its stderr above)");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    async fn succeeded(mut self) {
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "the browser run failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_and_a_subscription_in_headless_chromium() {
    let Some((dir, chromium)) = browser_ready("the GraphiQL browser test") else {
        return;
    };
    let app = harness::sqlite().await;
    let alice = harness::user("alice");
    let project = app.create_project(&alice, "Seen in GraphiQL", false).await;
    let chat = app.create_chat(&alice, "Watched", None).await;
    let query = format!("{{ project(id: \"{project}\") {{ title viewerAccess }} }}");
    let subscription = format!(
        "subscription Watch {{ messageAdded(conversationId: \"{chat}\") {{ sequence content }} }}"
    );
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("graphiql-subscription.png");
    std::fs::remove_file(&screenshot).ok();
    let mut page = NodeScript::start(
        &dir,
        "graphiql.mjs",
        &[
            ("CONFAB_URL", app.url.clone()),
            ("CONFAB_TOKEN", alice.token.clone()),
            ("CONFAB_QUERY", query),
            ("CONFAB_EXPECT", "Seen in GraphiQL".into()),
            ("CONFAB_SUBSCRIPTION", subscription),
            ("CONFAB_EVENT_EXPECT", "typed elsewhere".into()),
            ("CONFAB_CHECK_RELOAD", "1".into()),
            ("CHROMIUM_PATH", chromium),
            ("CONFAB_SCREENSHOT", screenshot.display().to_string()),
        ],
    );
    assert_eq!(
        page.next().await,
        json!({ "result": { "data": { "project": { "title": "Seen in GraphiQL", "viewerAccess": "OWNER" } } } })
    );
    assert_eq!(page.next().await, json!({ "explorer": true }));
    assert_eq!(page.next().await, json!({ "subscribed": true }));
    app.wait_for_subscriptions(1).await;
    app.send(&alice, chat, "typed elsewhere").await;
    assert_eq!(
        page.next().await,
        json!({ "event": { "data": { "messageAdded": { "sequence": 1, "content": "typed elsewhere" } } } })
    );
    let headers = format!("{{\"Authorization\":\"Bearer {}\"}}", alice.token);
    assert_eq!(page.next().await, json!({ "reloaded_headers": headers }));
    page.succeeded().await;
    assert!(
        std::fs::metadata(&screenshot).unwrap().len() > 10_000,
        "a screenshot at {}",
        screenshot.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_opens_with_the_dev_token_in_development_mode() {
    let Some((dir, chromium)) = browser_ready("the GraphiQL development-mode test") else {
        return;
    };
    let app = harness::sqlite_with(|s| s.jwt_secret = None).await;
    let mut page = NodeScript::start(
        &dir,
        "graphiql.mjs",
        &[
            ("CONFAB_URL", app.url.clone()),
            ("CONFAB_TOKEN_MODE", "prefilled".into()),
            ("CONFAB_QUERY", "{ viewer { id email } }".into()),
            ("CHROMIUM_PATH", chromium),
            ("CONFAB_SCREENSHOT", String::new()),
        ],
    );
    assert_eq!(
        page.next().await,
        json!({ "result": { "data": { "viewer": {
            "id": confab::seed::DEMO_USER, "email": confab::seed::DEMO_EMAIL
        } } } })
    );
    page.succeeded().await;
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
    let Some((dir, chromium)) = browser_ready("the CORS browser test") else {
        return;
    };
    let app = harness::sqlite_with(|s| s.cors_origins = vec!["http://localhost:*".into()]).await;
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "Across origins", None).await;
    let mut page = NodeScript::start(
        &dir,
        "cors.mjs",
        &[
            ("CONFAB_URL", app.url.clone()),
            ("CONFAB_TOKEN", alice.token.clone()),
            ("CONFAB_CHAT", chat.to_string()),
            ("CHROMIUM_PATH", chromium),
        ],
    );
    assert_eq!(
        page.next().await,
        json!({ "query": { "data": { "conversation": { "id": chat, "title": "Across origins" } } } })
    );
    assert_eq!(page.next().await, json!({ "subscribed": true }));
    app.wait_for_subscriptions(1).await;
    app.send(&alice, chat, "seen by another origin").await;
    assert_eq!(
        page.next().await,
        json!({ "received": { "data": { "messageAdded": {
            "sequence": 1, "role": "USER", "content": "seen by another origin"
        } } } })
    );
    assert_eq!(
        page.next().await,
        json!({ "blocked": { "fetch": "TypeError", "websocket": "refused" } })
    );
    page.succeeded().await;
}
