//! Memory is bounded: subscriptions per connection on both subprotocols, the persisted-query
//! store in bytes, subscriber queues in bytes, and the size of a response.

use std::time::Duration;

use serde_json::json;

use crate::documents::VIEWER_ID;
use crate::harness;
use crate::ws::{self, LEGACY_WS, TRANSPORT_WS};

const CONVERSATIONS: &str = "subscription { conversationUpdated { id } }";

/// `--max-subscriptions-per-connection 3`: ten subscriptions sent at once on one
/// connection get three running and seven refused with `RATE_LIMITED`, on both
/// subprotocols; so do ten aliased root fields of one subscription (each field is a
/// subscription).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_subscription_cap_holds_on_both_subprotocols() {
    let app = harness::sqlite_with(|s| s.max_subscriptions_per_connection = 3).await;
    let alice = harness::user("alice");
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut socket = ws::open(&app.url, protocol, None).await;
        socket
            .init(json!({ "Authorization": format!("Bearer {}", alice.token) }))
            .await;
        let ack = socket.next().await.unwrap();
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        for i in 0..10 {
            socket
                .subscribe(&i.to_string(), CONVERSATIONS, json!({}))
                .await;
        }
        let mut refused = 0;
        while let Some(message) = socket.next_within(Duration::from_millis(500)).await {
            let text = message.to_string();
            if text.contains("RATE_LIMITED") {
                refused += 1;
            }
        }
        assert_eq!(refused, 7, "{protocol}");
        app.wait_for_subscriptions(3).await;
        drop(socket);
        app.wait_for_subscriptions(0).await;

        let mut socket = ws::open(&app.url, protocol, None).await;
        socket
            .init(json!({ "Authorization": format!("Bearer {}", alice.token) }))
            .await;
        socket.next().await.unwrap();
        let fields: String = (0..10)
            .map(|i| format!("a{i}: conversationUpdated {{ id }} "))
            .collect();
        let many = format!("subscription {{ {fields} }}");
        socket.subscribe("many", &many, json!({})).await;
        let mut refused = 0;
        while let Some(message) = socket.next_within(Duration::from_millis(500)).await {
            refused += message.to_string().matches("RATE_LIMITED").count();
        }
        assert_eq!(refused, 7, "{protocol}");
        app.wait_for_subscriptions(3).await;
        drop(socket);
        app.wait_for_subscriptions(0).await;
    }
}

const CHAT_MESSAGES: &str =
    "query($c: UUID!) { conversation(id: $c) { messages { nodes { content } } } }";

/// `--max-response-bytes 4000`: a read of 3 messages of 1,500 characters is refused with
/// `QUERY_TOO_COMPLEX` (400 on `application/graphql-response+json`) instead of being sent;
/// a small answer still goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn responses_over_the_size_limit_are_refused_with_a_code() {
    let app = harness::sqlite_with(|s| s.max_response_bytes = 4000).await;
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "big", None).await;
    let content = "x".repeat(1500);
    app.send(&alice, chat, &content).await;
    app.send(&alice, chat, &content).await;
    let reply = app
        .as_user(&alice, CHAT_MESSAGES, json!({ "c": chat }))
        .await;
    assert_eq!(
        reply.data()["conversation"]["messages"]["nodes"][1]["content"],
        content.as_str()
    );
    app.send(&alice, chat, &content).await;
    let reply = app
        .as_user(&alice, CHAT_MESSAGES, json!({ "c": chat }))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.codes(), ["QUERY_TOO_COMPLEX"], "{}", reply.body);
    assert_eq!(
        reply.body["errors"][0]["message"],
        "the response would be larger than 4000 bytes: ask for fewer fields or smaller pages \
         (mutations in the request have run)"
    );
    assert!(reply.body.get("data").is_none(), "{}", reply.body);
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(&alice.token)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": CHAT_MESSAGES, "variables": { "c": chat } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let data = app.ok(&alice, VIEWER_ID, json!({})).await;
    assert_eq!(data["viewer"]["id"], alice.id.to_string());
}
