//! The `graphql-ws` npm client, as frontends use it, against the gateway's WebSocket.
//!
//! Needs Node and `npm ci` in tests/browser (`.ci/run` does both). Without them the test
//! says so and skips, unless CONFAB_BROWSER_TESTS=1 demands it.

use std::path::Path;
use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::{self, TestApp};

async fn graphql_ws_client_subscribes_and_is_refused_with_a_bad_token(app: TestApp) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/graphql-ws").exists() {
        assert!(
            std::env::var("CONFAB_BROWSER_TESTS").as_deref() != Ok("1"),
            "CONFAB_BROWSER_TESTS=1 but tests/browser/node_modules is missing"
        );
        eprintln!("skipping the graphql-ws client test: run `npm ci` in tests/browser");
        return;
    }
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "From Node", None).await;
    let mut child = tokio::process::Command::new("node")
        .arg("realtime.mjs")
        .current_dir(&dir)
        .env("CONFAB_URL", &app.url)
        .env("CONFAB_TOKEN", &alice.token)
        .env("CONFAB_CHAT", chat.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the client answers in time")
            .unwrap()
            .expect("the client prints a line");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    };

    assert_eq!(next_line().await, json!({ "refused": 4403 }));
    assert_eq!(next_line().await, json!({ "subscribed": true }));
    app.wait_for_subscriptions(1).await;
    let sent = app.send(&alice, chat, "hello from a mutation").await;
    assert_eq!(
        next_line().await,
        json!({ "received": { "data": { "messageAdded": {
            "id": sent["id"],
            "sequence": 1,
            "role": "USER",
            "content": "hello from a mutation",
            "conversation": { "id": chat },
        } } } })
    );
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the client exits cleanly: {status}");
    app.wait_for_subscriptions(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_npm_client_sqlite() {
    graphql_ws_client_subscribes_and_is_refused_with_a_bad_token(harness::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_npm_client_postgres() {
    if let Some(app) = harness::postgres().await {
        graphql_ws_client_subscribes_and_is_refused_with_a_bad_token(app).await;
    }
}
