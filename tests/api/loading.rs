//! Nested reads cost one statement per level for all parents together.

use serde_json::json;

use crate::harness::{self, TestApp};
use crate::on_both;

const NESTED: &str = "query($n: Int!) { viewer { projects(first: $n) { nodes { id title chats(first: 10) { totalCount nodes { id title lastMessage { content sequence } messages(last: 20) { nodes { sequence content } } } } } } } }";

/// Statements one request sends, and its data.
async fn measure(app: &TestApp, user: &harness::User, n: i64) -> (u64, serde_json::Value) {
    let before = app.statement_count();
    let data = app.ok(user, NESTED, json!({ "n": n })).await;
    (app.statement_count() - before, data)
}

on_both!(
    nested_page_windows_cost_the_same_for_2_and_20_parents,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        for p in 0..20 {
            let project = app
                .create_project(&alice, &format!("project {p:02}"), false)
                .await;
            for c in 0..3 {
                let chat = app
                    .create_chat(&alice, &format!("chat {p}-{c}"), Some(project))
                    .await;
                for m in 0..(c + 1) {
                    app.send(&alice, chat, &format!("message {p}-{c}-{m}"))
                        .await;
                }
            }
        }
        let (small, small_data) = measure(&app, &alice, 2).await;
        let (large, large_data) = measure(&app, &alice, 20).await;
        let projects = large_data["viewer"]["projects"]["nodes"]
            .as_array()
            .unwrap();
        assert_eq!(projects.len(), 20);
        assert_eq!(
            small_data["viewer"]["projects"]["nodes"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        for project in projects {
            let chats = &project["chats"];
            assert_eq!(chats["totalCount"], json!(3));
            for chat in chats["nodes"].as_array().unwrap() {
                let messages = chat["messages"]["nodes"].as_array().unwrap();
                assert!(!messages.is_empty());
                assert_eq!(chat["lastMessage"], messages[messages.len() - 1]);
            }
        }
        // ensure-user lookup, projects page, chat windows, chat counts, last messages,
        // message windows.
        assert_eq!(small, 6, "statements for 2 projects");
        assert_eq!(large, 6, "statements for 20 projects");
    }
);

on_both!(
    a_nested_cursor_adds_one_grouped_probe,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "c", None).await;
        for i in 0..5 {
            app.send(&alice, chat, &format!("m{i}")).await;
        }
        let data = app
        .ok(
            &alice,
            "query($c: UUID!) { conversation(id: $c) { messages(first: 2) { pageInfo { endCursor } } } }",
            json!({ "c": chat }),
        )
        .await;
        let cursor = data["conversation"]["messages"]["pageInfo"]["endCursor"].clone();
        let before = app.statement_count();
        let data = app
        .ok(
            &alice,
            "query($c: UUID!, $a: String) { conversation(id: $c) { messages(first: 2, after: $a) { nodes { sequence } pageInfo { hasPreviousPage hasNextPage } } } }",
            json!({ "c": chat, "a": cursor }),
        )
        .await;
        // ensure-user lookup, the conversation, the window, the has-previous probe.
        assert_eq!(app.statement_count() - before, 4);
        assert_eq!(
            data["conversation"]["messages"],
            json!({"nodes": [{"sequence": 3}, {"sequence": 4}], "pageInfo": {"hasPreviousPage": true, "hasNextPage": true}})
        );
    }
);
