//! GraphQL over HTTP: tokens, methods, content types, limits and error codes.

use serde_json::{json, Value};

use crate::documents::{VIEWER_ID, VIEWER_PROJECT_IDS};
use crate::harness::{self, mint, TestApp, SECRET};
use crate::on_both;

const VIEWER_AND_PROJECT_ACCESS: &str = r#"
    query($p: UUID!) {
        viewer { id }
        project(id: $p) { title viewerAccess }
    }
"#;

const CREATE_PROJECT_X: &str = r#"mutation { createProject(input: {title: "x"}) { id } }"#;
const CREATE_UNTITLED_CHAT: &str = "mutation { createConversation(input: {}) { id } }";
const PROJECT_ID: &str = "query($id: UUID!) { project(id: $id) { id } }";

const VIEWER_PROJECT_COUNT_FIRST_N: &str = r#"
    query($n: Int) {
        viewer { projects(first: $n) { totalCount } }
    }
"#;

const PROJECT_BAD_UUID: &str = r#"{ project(id: "not-a-uuid") { id } }"#;

const VIEWER_PROJECT_COUNT_FIRST_X: &str = r#"
    query($x: Int) {
        viewer { projects(first: $x) { totalCount } }
    }
"#;

const VIEWER_PROJECT_COUNT: &str = "{ viewer { projects { totalCount } } }";
const VIEWER_PROJECT_COUNT_FIRST_101: &str = "{ viewer { projects(first: 101) { totalCount } } }";
const VIEWER_PROJECT_COUNT_FIRST_100: &str = "{ viewer { projects(first: 100) { totalCount } } }";

const REFERENCE_SHAPE: &str = r#"
    {
        viewer {
            projects(first: 20) {
                totalCount
                pageInfo { hasNextPage endCursor }
                edges {
                    cursor
                    node {
                        id title updatedAt viewerAccess
                        owner { id displayName }
                        chats(first: 10) {
                            totalCount
                            edges {
                                cursor
                                node {
                                    id title messageCount updatedAt
                                    lastMessage { id content }
                                    messages(last: 20) {
                                        pageInfo { hasPreviousPage startCursor }
                                        edges {
                                            cursor
                                            node { id sequence role content metadata createdAt }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
"#;

const TOO_COMPLEX: &str = r#"
    {
        viewer {
            projects(first: 100) {
                nodes {
                    chats(first: 100) { nodes { messages(first: 100) { nodes { id content } } } }
                }
            }
        }
    }
"#;

const VIEWER_PROFILE_ID: &str = "{ viewer { profile { id } } }";

const VIEWER_WITH_PROFILE: &str = r#"
    {
        viewer { id email profile { id email displayName fullName avatarUrl } }
    }
"#;

const VIEWER_EMAIL: &str = "{ viewer { email } }";
const UNKNOWN_FIELD: &str = "{ nope }";
const VIEWER_AND_PROFILE_EMAIL: &str = "{ viewer { email profile { email } } }";

async fn raw_post(
    app: &TestApp,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app.client.post(format!("{}/graphql", app.url)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

fn encode(header: Value, claims: Value, signature: &str) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", b64(&header), b64(&claims), signature)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hs256(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

on_both!(
    bad_tokens_get_401_never_anonymous_access,
    |app: TestApp| async move {
        let id = uuid::Uuid::new_v4().to_string();
        let good = json!({ "sub": id, "role": "authenticated", "aud": "authenticated", "exp": now() + 600 });
        let with = |patch: Value| {
            let mut claims = good.clone();
            for (k, v) in patch.as_object().unwrap() {
                claims[k] = v.clone();
            }
            claims
        };
        let valid = hs256(good.clone(), SECRET);
        let mut tampered_parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        tampered_parts[1] = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(with(json!({ "role": "service_role" })).to_string())
        };
        let cases: Vec<(&str, String)> = vec![
            (
                "wrong key",
                hs256(good.clone(), "another-secret-that-is-also-long-enough-0000"),
            ),
            (
                "expired",
                hs256(with(json!({ "exp": now() - 3600 })), SECRET),
            ),
            (
                "not yet valid",
                hs256(with(json!({ "nbf": now() + 3600 })), SECRET),
            ),
            (
                "wrong audience",
                hs256(with(json!({ "aud": "someone-else" })), SECRET),
            ),
            (
                "alg none",
                encode(json!({ "alg": "none", "typ": "JWT" }), good.clone(), ""),
            ),
            ("tampered payload", tampered_parts.join(".")),
            ("garbage", "not.a.jwt".to_owned()),
            (
                "sub not a UUID",
                hs256(with(json!({ "sub": "user-1" })), SECRET),
            ),
            (
                "unknown role",
                hs256(with(json!({ "role": "admin" })), SECRET),
            ),
            (
                "exp as a string",
                hs256(with(json!({ "exp": (now() + 600).to_string() })), SECRET),
            ),
        ];
        for (what, token) in cases {
            let reply = app.post(Some(&token), VIEWER_ID, json!({})).await;
            assert_eq!(reply.status, 401, "{what}");
            assert_eq!(reply.code(), "UNAUTHENTICATED", "{what}");
            assert!(
                reply.body.get("data").is_none(),
                "{what}: no data with a refused token"
            );
        }
        let reply = app.post(Some(&valid), VIEWER_ID, json!({})).await;
        assert_eq!(reply.data()["viewer"]["id"], json!(id));
    }
);

on_both!(
    project_keys_and_the_apikey_header,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let project = app.create_project(&alice, "Private", false).await;
        let send = |headers: Vec<(&'static str, String)>| {
            let app = &app;
            async move {
                let mut request = app.client.post(format!("{}/graphql", app.url)).json(
                    &json!({ "query": VIEWER_AND_PROJECT_ACCESS, "variables": { "p": project } }),
                );
                for (k, v) in headers {
                    request = request.header(k, v);
                }
                let response = request.send().await.unwrap();
                (
                    response.status().as_u16(),
                    response.json::<Value>().await.unwrap(),
                )
            }
        };
        let (status, body) = send(vec![("apikey", harness::service_token())]).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"],
            json!({"viewer": null, "project": {"title": "Private", "viewerAccess": "OWNER"}})
        );
        let (_, body) = send(vec![("apikey", harness::anon_key())]).await;
        assert_eq!(body["data"], json!({"viewer": null, "project": null}));
        // Authorization wins over apikey.
        let (_, body) = send(vec![
            ("apikey", harness::service_token()),
            ("authorization", format!("Bearer {}", alice.token)),
        ])
        .await;
        assert_eq!(body["data"]["viewer"]["id"], json!(alice.id.to_string()));
        // A bad apikey is refused like a bad bearer token.
        let (status, body) = send(vec![("apikey", "garbage".to_owned())]).await;
        assert_eq!(status, 401);
        assert_eq!(code(&body), "UNAUTHENTICATED");
        // No token at all: anonymous, and mutations need a user.
        let reply = app.post(None, CREATE_PROJECT_X, json!({})).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.code(), "UNAUTHENTICATED");
        let reply = app
            .post(Some(&harness::anon_key()), CREATE_UNTITLED_CHAT, json!({}))
            .await;
        assert_eq!(reply.code(), "UNAUTHENTICATED");
    }
);

on_both!(
    transport_errors_have_statuses_and_codes,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let auth = format!("Bearer {}", alice.token);
        let json_ct = ("content-type", "application/json");
        let (status, _, body) =
            raw_post(&app, &[json_ct, ("authorization", &auth)], "{not json").await;
        assert_eq!(status, 400);
        assert_eq!(code(&body), "BAD_USER_INPUT");
        let (status, _, body) = raw_post(
            &app,
            &[json_ct, ("authorization", &auth)],
            r#"{"query": "{ viewer { id "}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(code(&body), "GRAPHQL_PARSE_FAILED");
        let (status, _, body) = raw_post(
            &app,
            &[json_ct, ("authorization", &auth)],
            r#"{"variables": {}}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(code(&body), "BAD_USER_INPUT");
        let (status, _, body) = raw_post(
            &app,
            &[json_ct, ("authorization", &auth)],
            r#"{"query": "{ viewer { nope } }"}"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED");
        let (status, headers, body) = raw_post(
            &app,
            &[
                json_ct,
                ("authorization", &auth),
                ("accept", "application/graphql-response+json"),
            ],
            r#"{"query": "{ viewer { nope } }"}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(headers["content-type"], "application/graphql-response+json");
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED");
        let (status, headers, _) = raw_post(
            &app,
            &[
                json_ct,
                ("authorization", &auth),
                ("accept", "application/graphql-response+json"),
            ],
            r#"{"query": "{ viewer { id } }"}"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/graphql-response+json");
        let (status, headers, _) =
            raw_post(&app, &[json_ct], r#"{"query": "{ viewer { id } }"}"#).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/json");
        // Larger than the body limit.
        let big = format!(
            r#"{{"query": "{{ viewer {{ id }} }}", "variables": {{"pad": "{}"}}}}"#,
            "x".repeat(2 * 1024 * 1024)
        );
        let (status, _, body) = raw_post(&app, &[json_ct, ("authorization", &auth)], big).await;
        assert_eq!(status, 413);
        assert_eq!(code(&body), "BAD_USER_INPUT");
    }
);

on_both!(
    variables_that_do_not_coerce_are_bad_user_input,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let reply = app
            .as_user(&alice, PROJECT_ID, json!({ "id": "nope" }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let message = reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase();
        assert!(
            !message.contains("select") && !message.contains("sqlx"),
            "{message}"
        );
        let reply = app
            .as_user(&alice, VIEWER_PROJECT_COUNT_FIRST_N, json!({ "n": "ten" }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let reply = app.as_user(&alice, PROJECT_BAD_UUID, json!({})).await;
        // A string literal that is not a UUID is refused as input.
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT".to_owned()]);
    }
);

on_both!(
    get_runs_queries_and_refuses_mutations,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let response = app
            .client
            .get(format!("{}/graphql", app.url))
            .query(&[
                ("query", VIEWER_PROJECT_COUNT_FIRST_X),
                ("variables", r#"{"x": 5}"#),
            ])
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["viewer"]["projects"]["totalCount"], json!(0));
        let response = app
            .client
            .get(format!("{}/graphql", app.url))
            .query(&[("query", CREATE_PROJECT_X)])
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "BAD_USER_INPUT");
        let data = app.ok(&alice, VIEWER_PROJECT_COUNT, json!({})).await;
        assert_eq!(
            data["viewer"]["projects"]["totalCount"],
            json!(0),
            "nothing was created"
        );
    }
);

on_both!(
    page_size_depth_and_complexity_limits,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let reply = app
            .as_user(&alice, VIEWER_PROJECT_COUNT_FIRST_101, json!({}))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let data = app
            .ok(&alice, VIEWER_PROJECT_COUNT_FIRST_100, json!({}))
            .await;
        assert_eq!(data["viewer"]["projects"]["totalCount"], json!(0));
        // The reference shape of DESIGN.md fits the default complexity limit.
        let project = app.create_project(&alice, "P", false).await;
        let chat = app.create_chat(&alice, "C", Some(project)).await;
        app.send(&alice, chat, "hello").await;
        let reply = app.as_user(&alice, REFERENCE_SHAPE, json!({})).await;
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
        let projects = &reply.body["data"]["viewer"]["projects"];
        assert_eq!(projects["totalCount"], json!(1), "{}", reply.body);
        assert_eq!(projects["pageInfo"]["hasNextPage"], json!(false));
        let node = &projects["edges"][0]["node"];
        assert_eq!(node["id"], json!(project.to_string()));
        assert_eq!(node["title"], json!("P"));
        assert_eq!(node["viewerAccess"], json!("OWNER"));
        assert_eq!(node["owner"]["id"], json!(alice.id.to_string()));
        let chats = &node["chats"];
        assert_eq!(chats["totalCount"], json!(1));
        let chat_node = &chats["edges"][0]["node"];
        assert_eq!(chat_node["id"], json!(chat.to_string()));
        assert_eq!(chat_node["title"], json!("C"));
        assert_eq!(chat_node["messageCount"], json!(1));
        assert_eq!(chat_node["lastMessage"]["content"], json!("hello"));
        let messages = chat_node["messages"]["edges"].as_array().unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["node"]["content"], json!("hello"));
        assert_eq!(messages[0]["node"]["sequence"], json!(1));
        assert_eq!(messages[0]["node"]["role"], json!("USER"));
        let reply = app.as_user(&alice, TOO_COMPLEX, json!({})).await;
        assert_eq!(reply.code(), "QUERY_TOO_COMPLEX");
        let mut deep = String::from("{ viewer { conversations(first: 1) { nodes { id ");
        for _ in 0..8 {
            deep.push_str("lastMessage { conversation { ");
        }
        deep.push_str("id");
        for _ in 0..8 {
            deep.push_str(" } }");
        }
        deep.push_str(" } } } }");
        let reply = app.as_user(&alice, &deep, json!({})).await;
        assert_eq!(reply.code(), "QUERY_TOO_COMPLEX");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_and_complexity_limits_are_configurable() {
    let app = harness::sqlite_with(|s| {
        s.max_depth = 3;
        s.max_complexity = 5;
    })
    .await;
    let alice = harness::user("alice");
    let reply = app.as_user(&alice, VIEWER_PROFILE_ID, json!({})).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body["data"]["viewer"]["profile"]["id"],
        json!(alice.id.to_string()),
        "{}",
        reply.body
    );
    let reply = app.as_user(&alice, VIEWER_PROJECT_IDS, json!({})).await;
    assert_eq!(reply.code(), "QUERY_TOO_COMPLEX");
    let reply = app.as_user(&alice, VIEWER_WITH_PROFILE, json!({})).await;
    assert_eq!(reply.code(), "QUERY_TOO_COMPLEX");
}

on_both!(persisted_queries_by_hash, |app: TestApp| async move {
    use sha2::Digest;
    let alice = harness::user("alice");
    let hash = hex::encode(sha2::Sha256::digest(VIEWER_ID.as_bytes()));
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let post = |body: Value| {
        let app = &app;
        let token = alice.token.clone();
        async move {
            let response = app
                .client
                .post(format!("{}/graphql", app.url))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (_, body) = post(json!({ "extensions": ext })).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(
        body["errors"][0]["message"],
        json!("PersistedQueryNotFound")
    );
    let (_, body) = post(json!({ "query": VIEWER_ID, "extensions": ext })).await;
    assert_eq!(body["data"]["viewer"]["id"], json!(alice.id.to_string()));
    let response = app
        .client
        .get(format!("{}/graphql", app.url))
        .query(&[("extensions", ext.to_string())])
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["id"], json!(alice.id.to_string()));
    let (status, body) = post(json!({ "query": VIEWER_EMAIL, "extensions": ext })).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body), "BAD_USER_INPUT");
});

on_both!(
    health_readiness_metrics_and_graphiql,
    |app: TestApp| async move {
        let get = |path: &'static str, accept: &'static str| {
            let app = &app;
            async move {
                let response = app
                    .client
                    .get(format!("{}{}", app.url, path))
                    .header("accept", accept)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                (status, content_type, response.text().await.unwrap())
            }
        };
        assert_eq!(get("/healthz", "*/*").await.0, 200);
        assert_eq!(get("/readyz", "*/*").await.0, 200);
        let alice = harness::user("alice");
        app.ok(&alice, VIEWER_ID, json!({})).await;
        app.as_user(&alice, UNKNOWN_FIELD, json!({})).await;
        let (status, _, metrics) = get("/metrics", "*/*").await;
        assert_eq!(status, 200);
        for name in [
            "confab_http_requests_total",
            "confab_graphql_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"}",
            "confab_request_duration_seconds_bucket",
            "confab_sql_statements_total",
        ] {
            assert!(metrics.contains(name), "{name} missing from /metrics");
        }
        let (status, content_type, page) = get("/graphql", "text/html,application/xhtml+xml").await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(page.contains("graphiql"), "the page loads GraphiQL");
        assert!(
            !page.contains("unpkg.com") && !page.contains("jsdelivr"),
            "no CDN"
        );
        let (status, content_type, _) = get("/graphiql/assets/graphiql.min.js", "*/*").await;
        assert_eq!(status, 200);
        assert!(content_type.contains("javascript"), "{content_type}");
        assert_eq!(get("/graphiql/assets/..%2FCargo.toml", "*/*").await.0, 404);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_carry_email_into_the_profile() {
    let app = harness::sqlite().await;
    let id = uuid::Uuid::new_v4();
    let token = mint(Some(id), "authenticated", Some("first@example.com"));
    let reply = app
        .post(Some(&token), VIEWER_AND_PROFILE_EMAIL, json!({}))
        .await;
    assert_eq!(
        reply.data()["viewer"],
        json!({"email": "first@example.com", "profile": {"email": "first@example.com"}})
    );
}

on_both!(
    a_batch_is_refused_whole_with_a_clear_400,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let response = app
            .client
            .post(format!("{}/graphql", app.url))
            .bearer_auth(&alice.token)
            .json(&json!([
                { "query": CREATE_PROJECT_X },
                { "query": VIEWER_PROJECT_IDS },
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "errors": [{
                "message": "batched requests (a JSON array of operations) are not accepted: send one operation per request (Apollo Client: HttpLink, not BatchHttpLink)",
                "extensions": { "code": "BAD_USER_INPUT" }
            }] })
        );
        let projects = app.ok(&alice, VIEWER_PROJECT_IDS, json!({})).await;
        assert_eq!(
            projects["viewer"]["projects"]["nodes"],
            json!([]),
            "nothing ran"
        );
    }
);
