//! Who is calling, over HTTP and WebSocket: the answer to a refused token, what about a
//! request is checked before its token, and the rows a user's first request makes.

use sea_orm::EntityTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::VIEWER_ID;
use crate::harness::{self, TestApp};
use crate::on_both;
use crate::ws;

/// A token whose header is not JSON: refused as "malformed token".
const BAD_TOKEN: &str = "not.a.jwt";

struct Answer {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    body: Value,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let www_authenticate = header("www-authenticate");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        www_authenticate,
        body,
    }
}

async fn has_rows(app: &TestApp, user: Uuid) -> (bool, bool) {
    let profile = entity::profile::Entity::find_by_id(user)
        .one(&app.db)
        .await
        .unwrap();
    let settings = entity::settings::Entity::find_by_id(user)
        .one(&app.db)
        .await
        .unwrap();
    (profile.is_some(), settings.is_some())
}

on_both!(
    a_refused_token_is_answered_alike_on_get_and_post,
    |app: TestApp| async move {
        let url = format!("{}/graphql", app.url);
        let refusal = json!({
            "errors": [{ "message": "malformed token", "extensions": { "code": "UNAUTHENTICATED" } }]
        });
        let post = app
            .client
            .post(&url)
            .bearer_auth(BAD_TOKEN)
            .json(&json!({ "query": VIEWER_ID }));
        let get = app
            .client
            .get(&url)
            .header("apikey", BAD_TOKEN)
            .header("accept", "application/graphql-response+json")
            .query(&[("query", VIEWER_ID)]);
        for (what, request, content_type) in [
            ("POST", post, "application/json"),
            ("GET", get, "application/graphql-response+json"),
        ] {
            let answer = answer(request).await;
            assert_eq!(answer.status, 401, "{what}");
            assert_eq!(answer.content_type, content_type, "{what}");
            assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"), "{what}");
            assert_eq!(answer.body, refusal, "{what}");
        }

        // The token is refused before the body is read as a GraphQL request.
        let answer = answer(
            app.client
                .post(&url)
                .bearer_auth(BAD_TOKEN)
                .json(&json!({ "query": 42 })),
        )
        .await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body, refusal);
    }
);

on_both!(
    a_request_that_cannot_be_read_is_refused_before_its_token,
    |app: TestApp| async move {
        let url = format!("{}/graphql", app.url);
        let not_json = answer(
            app.client
                .post(&url)
                .bearer_auth(BAD_TOKEN)
                .header("content-type", "application/json")
                .body("{"),
        )
        .await;
        assert_eq!(not_json.status, 400);
        assert_eq!(
            not_json.body,
            json!({ "errors": [{
                "message": "the request body is not valid JSON",
                "extensions": { "code": "BAD_USER_INPUT" }
            }] })
        );
        assert_eq!(not_json.www_authenticate, None);

        let wrong_media = answer(
            app.client
                .post(&url)
                .bearer_auth(BAD_TOKEN)
                .header("content-type", "text/plain")
                .body(VIEWER_ID),
        )
        .await;
        assert_eq!(wrong_media.status, 415);
        assert_eq!(
            wrong_media.body["errors"][0]["extensions"]["code"],
            "BAD_USER_INPUT"
        );

        let bad_variables = answer(
            app.client
                .get(&url)
                .bearer_auth(BAD_TOKEN)
                .query(&[("query", VIEWER_ID), ("variables", "nope")]),
        )
        .await;
        assert_eq!(bad_variables.status, 400);
        assert_eq!(
            bad_variables.body["errors"][0]["message"],
            "`variables` and `extensions` must be JSON"
        );

        // The GraphiQL page is served whatever the token.
        let page = answer(
            app.client
                .get(&url)
                .bearer_auth(BAD_TOKEN)
                .header("accept", "text/html"),
        )
        .await;
        assert_eq!(page.status, 200);
        assert!(
            page.content_type.starts_with("text/html"),
            "{}",
            page.content_type
        );
    }
);

on_both!(
    a_users_first_request_makes_their_rows_over_http_and_websocket,
    |app: TestApp| async move {
        let url = format!("{}/graphql", app.url);
        let alice = harness::user("alice");
        assert_eq!(has_rows(&app, alice.id).await, (false, false));
        let reply = answer(
            app.client
                .get(&url)
                .bearer_auth(&alice.token)
                .query(&[("query", VIEWER_ID)]),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["data"]["viewer"]["id"], json!(alice.id));
        assert_eq!(has_rows(&app, alice.id).await, (true, true));

        // A token on the upgrade request counts when connection_init brings none.
        let bob = harness::user("bob");
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, Some(&bob.token)).await;
        socket.init(json!({})).await;
        assert_eq!(socket.next().await.unwrap()["type"], "connection_ack");
        assert_eq!(has_rows(&app, bob.id).await, (true, true));

        // A token in connection_init wins over a bad one on the upgrade request.
        let carol = harness::user("carol");
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, Some(BAD_TOKEN)).await;
        socket
            .init(json!({ "authToken": carol.token.clone() }))
            .await;
        assert_eq!(socket.next().await.unwrap()["type"], "connection_ack");
        assert_eq!(has_rows(&app, carol.id).await, (true, true));

        // A refused token makes no rows, and closes the connection with its reason.
        let dave = harness::user("dave");
        let forged = format!("{}x", dave.token);
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, Some(&forged)).await;
        socket.init(json!({})).await;
        let closed = socket.closed().await;
        assert_eq!(closed.code, 4403, "{closed:?}");
        assert_eq!(closed.reason, "Forbidden: invalid token signature");
        assert_eq!(has_rows(&app, dave.id).await, (false, false));
    }
);
