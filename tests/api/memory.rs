//! Memory is bounded: subscriptions per connection on both subprotocols, the persisted-query
//! store in bytes, subscriber queues in bytes, and the size of a response.

use std::time::Duration;

use serde_json::json;

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
