//! What one `sendMessage` costs in statements, and the end of the sequence range.

use confab::config::Switch;
use serde_json::json;

use crate::harness::{self, TestApp};

const SEND_AT: &str = r#"
    mutation($c: UUID!, $m: String!, $s: Int) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m, sequence: $s}) { sequence }
    }
"#;

async fn appends_cost_five_statements_and_stop_at_the_last_sequence(app: TestApp) {
    let alice = harness::user("alice");
    let project = app.create_project(&alice, "project", false).await;
    let chat = app.create_chat(&alice, "chat", Some(project)).await;
    app.send(&alice, chat, "first").await;
    let before = app.statement_count();
    let sent = app.send(&alice, chat, "second").await;
    // The user-rows lookup, the chat (checked and locked), the insert at the next
    // sequence, the chat's counters, its projects' `updatedAt`.
    assert_eq!(app.statement_count() - before, 5);
    assert_eq!(sent["sequence"], json!(2));

    let reply = app
        .as_user(
            &alice,
            SEND_AT,
            json!({ "c": chat, "m": "last", "s": i32::MAX }),
        )
        .await;
    assert_eq!(reply.data()["sendMessage"]["sequence"], json!(i32::MAX));
    let reply = app
        .as_user(&alice, SEND_AT, json!({ "c": chat, "m": "one more" }))
        .await;
    assert_eq!(reply.code(), "CONFLICT");
    let chats = app
        .ok(
            &alice,
            "query($c: UUID!) { conversation(id: $c) { messageCount } }",
            json!({ "c": chat }),
        )
        .await;
    assert_eq!(chats["conversation"]["messageCount"], json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let app = harness::sqlite_with(|s| s.realtime = Switch::Off).await;
    appends_cost_five_statements_and_stop_at_the_last_sequence(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    if let Some(app) = harness::postgres_with(|s| s.realtime = Switch::Off).await {
        appends_cost_five_statements_and_stop_at_the_last_sequence(app).await;
    }
}
