//! Hardening against cheap hostile requests: tokens from the future and non-string tokens
//! at `connection_init`, validation that is never exponential, the cost model and its
//! caps, rate limits, and input the database cannot store. Each test plays the attacker.

use serde_json::{json, Value};

use crate::harness;
use crate::ws;

/// A user token signed with the test secret whose `iat` is `iat_offset` seconds from now.
fn token_issued_at(iat_offset: i64) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = json!({
        "sub": uuid::Uuid::new_v4().to_string(),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": now + 3600,
        "iat": now + iat_offset,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(harness::SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_token_issued_a_year_ahead_is_refused_with_401() {
    let app = harness::sqlite().await;
    let year_ahead = token_issued_at(365 * 24 * 3600);
    let reply = app
        .post(Some(&year_ahead), "{ viewer { id } }", json!({}))
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.code(), "UNAUTHENTICATED");
    assert_eq!(
        reply.body["errors"][0]["message"],
        "token issued in the future"
    );
    // On a WebSocket: closed with 4403.
    let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, None).await;
    socket.init(json!({ "Authorization": year_ahead })).await;
    let closed = socket.closed().await;
    assert_eq!(closed.code, 4403, "{closed:?}");
    // Ten seconds ahead is clock skew within the leeway: accepted.
    let skewed = token_issued_at(10);
    let reply = app
        .post(Some(&skewed), "{ viewer { __typename } }", json!({}))
        .await;
    assert_eq!(reply.data()["viewer"]["__typename"], "Viewer");
}

/// A token key that holds a number, an object, an array or a boolean is a malformed
/// token: closed with 4403 on both subprotocols, never taken as anonymous.
#[tokio::test]
async fn a_non_string_token_at_connection_init_closes_with_4403() {
    let app = harness::sqlite().await;
    for protocol in [ws::TRANSPORT_WS, ws::LEGACY_WS] {
        for key in ["Authorization", "authorization", "authToken"] {
            for value in [json!(12345), json!({}), json!([]), json!(true)] {
                let mut payload = serde_json::Map::new();
                payload.insert(key.to_owned(), value.clone());
                let mut socket = ws::open(&app.url, protocol, None).await;
                socket.init(Value::Object(payload)).await;
                let closed = socket.closed().await;
                assert_eq!(closed.code, 4403, "{protocol} {key}: {value}: {closed:?}");
                if protocol == ws::TRANSPORT_WS {
                    assert_eq!(closed.reason, "Forbidden: malformed token");
                }
            }
        }
    }
    // `null` is no token: the anonymous viewer, acknowledged.
    let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, None).await;
    socket.init(json!({ "Authorization": null })).await;
    assert_eq!(socket.next().await.unwrap()["type"], "connection_ack");
}
