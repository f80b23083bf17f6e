//! Schema controls for production: introspection off (`__schema`/`__type` refused,
//! GraphiQL says so, no published SDL) and persisted-only mode (only trusted documents
//! run, over HTTP and WebSocket; a bad manifest stops the start).

use std::process::Command;

use confab::config::{Introspection, Settings};
use confab::http::apq::hash_of;
use serde_json::{json, Value};

use crate::documents::VIEWER_ID;
use crate::harness::{self, TestApp};
use crate::ws;

const INTROSPECT_SCHEMA: &str = "{ __schema { types { name } } }";
const INTROSPECT_TYPE: &str = r#"{ __type(name: "Query") { name } }"#;
const TYPENAME: &str = "{ __typename }";
const VIEWER_EMAIL: &str = "{ viewer { email } }";
const CREATE_TASK_SHIP: &str = r#"mutation { createTask(input: {prompt: "ship"}) { id prompt } }"#;
const ON_TASK_UPDATED: &str = "subscription { taskUpdated { id prompt } }";
const ON_TASK_PROGRESS: &str = "subscription { taskUpdated { id progress } }";

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn introspection_off(settings: &mut Settings) {
    settings.introspection = Introspection::Off;
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

impl TestApp {
    async fn post_body(&self, token: &str, body: Value, accept: Option<&str>) -> harness::Reply {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.url))
            .bearer_auth(token)
            .json(&body);
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        let response = request.send().await.expect("request reaches the gateway");
        let status = response.status().as_u16();
        let body = response.json().await.expect("a JSON body");
        harness::Reply { status, body }
    }

    async fn get_query(&self, token: &str, params: &[(&str, String)]) -> harness::Reply {
        let response = self
            .client
            .get(format!("{}/graphql", self.url))
            .query(params)
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the gateway");
        let status = response.status().as_u16();
        let body = response.json().await.expect("a JSON body");
        harness::Reply { status, body }
    }

    async fn graphiql_page(&self) -> String {
        let response = self
            .client
            .get(format!("{}/graphql", self.url))
            .header("Accept", "text/html")
            .send()
            .await
            .expect("request reaches the gateway");
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.expect("the page")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn introspection_off_refuses_schema_and_type_and_keeps_typename() {
    let app = harness::sqlite_with(introspection_off).await;
    let alice = harness::user("alice");
    for document in [INTROSPECT_SCHEMA, INTROSPECT_TYPE] {
        let reply = app.as_user(&alice, document, json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.code(), "GRAPHQL_VALIDATION_FAILED");
        assert_eq!(
            reply.body["errors"][0]["message"],
            json!("introspection is off on this server: `__schema` and `__type` are not answered")
        );
        assert_eq!(reply.body["data"], Value::Null, "{}", reply.body);
        let strict = app
            .post_body(
                &alice.token,
                json!({ "query": document }),
                Some(GRAPHQL_RESPONSE),
            )
            .await;
        assert_eq!(strict.status, 400, "{}", strict.body);
        assert_eq!(strict.code(), "GRAPHQL_VALIDATION_FAILED");
    }
    let reply = app.as_user(&alice, TYPENAME, json!({})).await;
    assert_eq!(reply.data(), &json!({ "__typename": "Query" }));
    let reply = app.as_user(&alice, VIEWER_ID, json!({})).await;
    assert_eq!(reply.data()["viewer"]["id"], json!(alice.id.to_string()));

    // The default answers both.
    let open = harness::sqlite().await;
    let reply = open.as_user(&alice, INTROSPECT_TYPE, json!({})).await;
    assert_eq!(reply.data(), &json!({ "__type": { "name": "Query" } }));
    let reply = open.as_user(&alice, INTROSPECT_SCHEMA, json!({})).await;
    let types = reply.data()["__schema"]["types"]
        .as_array()
        .expect("a list of types");
    assert!(types.contains(&json!({ "name": "Viewer" })), "{types:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graphiql_says_when_introspection_is_off() {
    const NOTICE: &str =
        "introspection is off on this server: docs and autocompletion are unavailable";
    let closed = harness::sqlite_with(introspection_off).await;
    let page = closed.graphiql_page().await;
    assert!(page.contains(&format!("<p>{NOTICE}</p>")), "{page}");
    assert!(page.contains(r#""introspection":false"#), "{page}");

    let open = harness::sqlite().await;
    let page = open.graphiql_page().await;
    assert!(!page.contains(NOTICE), "{page}");
    assert!(!page.contains("confab-notice"), "{page}");
    assert!(page.contains(r#""introspection":true"#), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schema_sdl_is_published_only_with_introspection() {
    let open = harness::sqlite().await;
    let response = open
        .client
        .get(format!("{}/graphql/schema.graphql", open.url))
        .send()
        .await
        .expect("request reaches the gateway");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let body = response.text().await.expect("the SDL");
    assert_eq!(body, confab::graphql::sdl());
    assert!(body.contains("type Query"), "{body}");

    let closed = harness::sqlite_with(introspection_off).await;
    let response = closed
        .client
        .get(format!("{}/graphql/schema.graphql", closed.url))
        .send()
        .await
        .expect("request reaches the gateway");
    assert_eq!(response.status().as_u16(), 404);
}

/// A gateway in persisted-only mode whose manifest trusts `documents` (the directory
/// holding the manifest lives as long as the gateway).
async fn persisted_only(documents: &[&str]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let manifest: serde_json::Map<String, Value> =
        documents.iter().map(|d| (hash_of(d), json!(d))).collect();
    let path = dir.path().join("trusted-documents.json");
    std::fs::write(&path, Value::Object(manifest).to_string()).expect("write the manifest");
    let app = harness::sqlite_with(|settings| {
        settings.persisted_only = true;
        settings.trusted_documents = Some(path);
    })
    .await;
    (app, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn persisted_only_runs_trusted_documents_over_http() {
    let (app, _manifest) = persisted_only(&[VIEWER_ID, CREATE_TASK_SHIP]).await;
    let alice = harness::user("alice");
    let me = json!(alice.id.to_string());
    let trusted = persisted(&hash_of(VIEWER_ID));

    // By hash, over GET and POST.
    let reply = app
        .get_query(&alice.token, &[("extensions", trusted.to_string())])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.data()["viewer"]["id"], me);
    let reply = app
        .post_body(&alice.token, json!({ "extensions": trusted }), None)
        .await;
    assert_eq!(reply.data()["viewer"]["id"], me);
    // A trusted mutation by hash writes.
    let reply = app
        .post_body(
            &alice.token,
            json!({ "extensions": persisted(&hash_of(CREATE_TASK_SHIP)) }),
            None,
        )
        .await;
    assert_eq!(reply.data()["createTask"]["prompt"], json!("ship"));

    // The exact text of a trusted document runs too, alone or with its hash.
    let reply = app.as_user(&alice, VIEWER_ID, json!({})).await;
    assert_eq!(reply.data()["viewer"]["id"], me);
    let reply = app
        .post_body(
            &alice.token,
            json!({ "query": VIEWER_ID, "extensions": trusted }),
            None,
        )
        .await;
    assert_eq!(reply.data()["viewer"]["id"], me);

    // Any other text is refused, over POST and GET.
    let reply = app.as_user(&alice, VIEWER_EMAIL, json!({})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.code(), "PERSISTED_QUERY_REQUIRED");
    assert_eq!(
        reply.body["errors"][0]["message"],
        json!("this server runs only trusted documents: send a trusted document's extensions.persistedQuery.sha256Hash (or its exact text)")
    );
    assert_eq!(reply.body.get("data"), None);
    let reply = app
        .get_query(&alice.token, &[("query", VIEWER_EMAIL.to_owned())])
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "PERSISTED_QUERY_REQUIRED");

    // Registering an automatic persisted query is refused, and nothing is stored.
    let untrusted = persisted(&hash_of(VIEWER_EMAIL));
    let reply = app
        .post_body(
            &alice.token,
            json!({ "query": VIEWER_EMAIL, "extensions": untrusted }),
            None,
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "PERSISTED_QUERY_REQUIRED");
    assert_eq!(
        reply.body["errors"][0]["message"],
        json!("this server runs only trusted documents: registering a persisted query is refused")
    );
    let reply = app
        .post_body(&alice.token, json!({ "extensions": untrusted }), None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.code(), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(
        reply.body["errors"][0]["message"],
        json!("PersistedQueryNotFound")
    );

    // GraphiQL says so.
    let page = app.graphiql_page().await;
    assert!(
        page.contains("persisted-only mode: this server runs only its trusted documents"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn persisted_only_applies_to_subscriptions() {
    let (app, _manifest) = persisted_only(&[CREATE_TASK_SHIP, ON_TASK_UPDATED]).await;
    let alice = harness::user("alice");
    let mut socket = ws::connect_as(&app.url, &alice.token).await;

    // An untrusted subscription text: refused before it runs; the connection stays open.
    socket
        .subscribe("untrusted", ON_TASK_PROGRESS, json!({}))
        .await;
    assert_eq!(
        socket.refusal_code("untrusted").await,
        "PERSISTED_QUERY_REQUIRED"
    );

    // A trusted one by hash alone: delivers events.
    socket
        .send(json!({
            "id": "trusted",
            "type": "subscribe",
            "payload": { "extensions": persisted(&hash_of(ON_TASK_UPDATED)) }
        }))
        .await;
    app.wait_for_subscriptions(1).await;
    let created = app
        .post_body(
            &alice.token,
            json!({ "extensions": persisted(&hash_of(CREATE_TASK_SHIP)) }),
            None,
        )
        .await;
    let task = created.data()["createTask"]["id"].clone();
    let event = socket.data("trusted").await;
    assert_eq!(
        event["taskUpdated"],
        json!({ "id": task, "prompt": "ship" })
    );

    // A registration over the socket is refused too.
    socket
        .send(json!({
            "id": "register",
            "type": "subscribe",
            "payload": {
                "query": ON_TASK_PROGRESS,
                "extensions": persisted(&hash_of(ON_TASK_PROGRESS))
            }
        }))
        .await;
    assert_eq!(
        socket.refusal_code("register").await,
        "PERSISTED_QUERY_REQUIRED"
    );
}

fn confab_serve(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
    command
        .current_dir(dir)
        .env_remove("CONFAB_TRUSTED_DOCUMENTS")
        .env_remove("CONFAB_PERSISTED_ONLY")
        .env_remove("CONFAB_JWKS_URL")
        .env_remove("CONFAB_JWKS_FILE")
        .env("DATABASE_URL", "sqlite://confab.db?mode=rwc")
        .env("CONFAB_JWT_SECRET", harness::SECRET)
        .env("CONFAB_LISTEN", "127.0.0.1:0")
        .arg("serve");
    command
}

/// Runs `confab serve` expecting it to stop at once; returns its stderr.
fn refused_start(command: &mut Command) -> String {
    let output = command.output().expect("the binary runs");
    assert!(!output.status.success(), "{output:?}");
    String::from_utf8(output.stderr).expect("UTF-8 stderr")
}

#[test]
fn a_bad_manifest_stops_the_start() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wrong_hash = hash_of(VIEWER_EMAIL);
    let manifest = dir.path().join("trusted.json");
    std::fs::write(
        &manifest,
        json!({ wrong_hash.clone(): VIEWER_ID }).to_string(),
    )
    .expect("write the manifest");

    let stderr = refused_start(
        confab_serve(dir.path())
            .env("CONFAB_PERSISTED_ONLY", "1")
            .env("CONFAB_TRUSTED_DOCUMENTS", &manifest),
    );
    assert!(
        stderr.contains(&format!(
            "the hash {wrong_hash} does not match its document (its SHA-256 is {})",
            hash_of(VIEWER_ID)
        )),
        "{stderr}"
    );

    let stderr = refused_start(confab_serve(dir.path()).env("CONFAB_PERSISTED_ONLY", "1"));
    assert!(
        stderr.contains(
            "--persisted-only (CONFAB_PERSISTED_ONLY) needs --trusted-documents FILE (CONFAB_TRUSTED_DOCUMENTS)"
        ),
        "{stderr}"
    );

    let missing = dir.path().join("missing.json");
    let stderr = refused_start(
        confab_serve(dir.path())
            .arg("--persisted-only")
            .arg("--trusted-documents")
            .arg(&missing),
    );
    assert!(
        stderr.contains(&format!(
            "cannot read the trusted documents file {}",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(
        !dir.path().join("confab.db").exists(),
        "the start stops before touching the database"
    );
}

#[test]
fn readme_lists_every_error_code() {
    let readme = include_str!("../../README.md");
    for code in confab::error::ErrorCode::ALL {
        assert!(
            readme.contains(&format!("`{}`", code.as_str())),
            "README.md does not list {code}"
        );
    }
}
