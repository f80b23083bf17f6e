//! OpenTelemetry export of the built binary: a minimal OTLP/HTTP receiver in the test
//! decodes what the gateway sends and checks the span tree of one nested query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};

use crate::harness;
use crate::request_log::Gateway;

const CREATE_PROJECT: &str = r#"
    mutation($t: String!) { createProject(input: {title: $t}) { id } }
"#;

const CREATE_CHAT: &str = r#"
    mutation($t: String, $p: UUID) {
        createConversation(input: {title: $t, projectId: $p}) { id }
    }
"#;

const SEND_MESSAGE: &str = r#"
    mutation($c: UUID!, $m: String!) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m}) { id }
    }
"#;

const NESTED_TREE: &str = r#"
    query NestedTree {
        viewer {
            projects(first: 5) {
                nodes {
                    title
                    chats(first: 5) {
                        nodes { title messages(first: 5) { nodes { content } } }
                    }
                }
            }
        }
    }
"#;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// Every span the receiver was sent.
type Received = Arc<Mutex<Vec<Span>>>;

async fn receive(State(received): State<Received>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
    let mut spans = received.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            spans.extend(scope.spans);
        }
    }
    ""
}

/// Starts the receiver on a loopback port: its base URL and what it received.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (format!("http://{addr}"), received)
}

fn attribute(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

fn text(span: &Span, key: &str) -> String {
    match attribute(span, key) {
        Some(AnyValue::StringValue(s)) => s,
        other => panic!("{key} of {} is {other:?}", span.name),
    }
}

#[tokio::test]
async fn a_nested_query_exports_its_request_loader_and_sql_spans_under_the_traceparent() {
    let (endpoint, received) = receiver().await;
    let gateway = Gateway::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_SERVICE_NAME", "confab-otel-test"),
        ],
    );
    let client = reqwest::Client::new();
    let alice = harness::user("alice");
    let post = |query: &str, variables: Value, traceparent: Option<String>| {
        let mut request = client
            .post(format!("{}/graphql", gateway.url))
            .bearer_auth(&alice.token)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let title = "project-title-literal-5c1e";
    let content = "message-content-literal-9b2d";
    let project = post(CREATE_PROJECT, json!({ "t": title }), None).await;
    let project = project["createProject"]["id"].as_str().unwrap().to_owned();
    let chat = post(CREATE_CHAT, json!({ "t": "chat", "p": project }), None).await;
    let chat = chat["createConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(SEND_MESSAGE, json!({ "c": chat, "m": content }), None).await;
    let tree = post(
        NESTED_TREE,
        json!({}),
        Some(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")),
    )
    .await;
    let chats = &tree["viewer"]["projects"]["nodes"][0]["chats"]["nodes"];
    assert_eq!(chats[0]["messages"]["nodes"][0]["content"], content);

    // The batch processor sends every 200 ms; wait for the query's trace.
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let spans: Vec<Span> = loop {
        let spans: Vec<Span> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        // The request span ends after its children: once it is here, they are too.
        if spans.iter().any(|s| s.name == "request") || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // One request span, a child of the caller's span.
    let requests: Vec<&Span> = spans.iter().filter(|s| s.name == "request").collect();
    assert_eq!(requests.len(), 1, "{spans:#?}");
    let request = requests[0];
    assert_eq!(request.parent_span_id, hex::decode(PARENT_SPAN_ID).unwrap());
    assert_eq!(text(request, "operation_name"), "NestedTree");
    assert_eq!(text(request, "operation_type"), "query");
    assert_eq!(text(request, "viewer"), "user");
    assert_eq!(text(request, "method"), "POST");
    assert_eq!(attribute(request, "status"), Some(AnyValue::IntValue(200)));

    // Loader batches below it, one per nested list.
    let loaders: HashMap<Vec<u8>, String> = spans
        .iter()
        .filter(|s| s.name == "loader")
        .map(|s| {
            assert_eq!(s.parent_span_id, request.span_id, "{s:#?}");
            (s.span_id.clone(), text(s, "loader"))
        })
        .collect();
    let mut names: Vec<&str> = loaders.values().map(String::as_str).collect();
    names.sort_unstable();
    assert!(
        names.contains(&"PageLoader<ProjectChats>")
            && names.contains(&"PageLoader<ConversationMessages>"),
        "{names:?}"
    );

    // SQL statements: below the request (the projects page, authentication) and below
    // each loader batch, as text with placeholders and without the values.
    let statements: Vec<&Span> = spans.iter().filter(|s| s.name == "sql").collect();
    for statement in &statements {
        let sql = text(statement, "db.query.text");
        assert!(sql.contains('?') || sql.contains('$'), "{sql}");
        for literal in [title, content, &project, &chat, &alice.id.to_string()] {
            assert!(!sql.contains(literal), "{literal} in {sql}");
        }
    }
    assert!(statements
        .iter()
        .any(|s| s.parent_span_id == request.span_id));
    // The request's count of statements is the number of statement spans in its trace.
    assert_eq!(
        attribute(request, "sql_statements"),
        Some(AnyValue::IntValue(statements.len() as i64))
    );
    assert!(matches!(
        attribute(statements[0], "db.duration_ms"),
        Some(AnyValue::DoubleValue(ms)) if ms >= 0.0
    ));
    for (loader, name) in &loaders {
        assert!(
            statements.iter().any(|s| &s.parent_span_id == loader),
            "no statement below {name}"
        );
    }
    // Nothing but confab's own spans: no sea-orm events or spans with values.
    let all = received.lock().unwrap();
    assert!(
        all.iter()
            .all(|s| ["request", "loader", "sql"].contains(&s.name.as_str())),
        "{:?}",
        all.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert!(all.iter().all(|s| s.events.is_empty()));
}
