//! Hostile documents benchmark (not a test): `cargo bench --bench hostile_documents`.
//!
//! Starts the gateway in this process (SQLite in a temporary directory, default settings)
//! and sends each hostile document of issue 10 CONFAB_BENCH_ROUNDS times (default 20) over
//! HTTP and over a WebSocket, one at a time, printing per document and transport the
//! answer's code and the time to it (median and maximum, milliseconds): the fragment
//! fan-out (30 fragments each spreading the previous one twice), a fragment cycle, a
//! selection nested too deep, 15,000 aliased `project(id:)` lookups (469 KB) and 30,000
//! aliased anonymous `recordSiteVisit` (0.9 MB). Each must be refused well under 100 ms.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const SECRET: &str = "bench-secret-that-is-long-enough-for-hs256-0123456789";

fn fan_out(levels: usize) -> String {
    let mut doc =
        format!("query {{ viewer {{ ...F{levels} }} }}\nfragment F0 on Viewer {{ id }}\n");
    for i in 1..=levels {
        doc.push_str(&format!(
            "fragment F{i} on Viewer {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    doc
}

fn aliased(n: usize, head: &str, field: &str) -> String {
    let mut doc = head.to_owned();
    for i in 0..n {
        doc.push_str(&format!(" a{i}: {field}"));
    }
    doc + " }"
}

fn milliseconds(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
    )
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("CONFAB_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let mut settings = confab::config::Settings::for_database(&url);
    settings.jwt_secret = Some(SECRET.to_owned());
    // The bench sends many documents as one caller: no request bucket.
    settings.rate_limit_requests = 0;
    let app = confab::app::build(&settings)
        .await
        .expect("the gateway starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .ok();
    });
    let id = Uuid::new_v4();
    let token = confab::auth::mint_token(
        SECRET.as_bytes(),
        &confab::auth::MintClaims::user(id, format!("{id}@bench.test")),
    )
    .expect("a token");

    let deep =
        "{ viewer ".to_owned() + &"{ projects { nodes ".repeat(10) + &"} } ".repeat(10) + "}";
    let cases: Vec<(&str, String, Value, bool)> = vec![
        ("fragment fan-out 30 x 2", fan_out(30), json!({}), true),
        (
            "fragment cycle",
            "query { viewer { ...A } } fragment A on Viewer { id ...B ...B } fragment B on Viewer { email ...A ...A }".to_owned(),
            json!({}),
            true,
        ),
        ("selection 21 deep", deep, json!({}), true),
        (
            "15,000 aliased project(id:)",
            aliased(15_000, "query($id: UUID!) {", "project(id: $id) { id title }"),
            json!({ "id": Uuid::new_v4() }),
            true,
        ),
        (
            "30,000 aliased recordSiteVisit (anonymous)",
            aliased(30_000, "mutation($i: SiteVisitInput!) {", "recordSiteVisit(input: $i)"),
            json!({ "i": { "path": "/" } }),
            false,
        ),
    ];
    let client = reqwest::Client::new();
    println!("{rounds} rounds each; milliseconds to the answer (median / max)");
    println!("| document | bytes | code | HTTP | WebSocket |");
    println!("|---|---|---|---|---|");
    for (name, document, variables, signed_in) in &cases {
        let mut http = Vec::new();
        let mut code = String::new();
        for _ in 0..rounds {
            let mut request = client
                .post(format!("http://{addr}/graphql"))
                .json(&json!({ "query": document, "variables": variables }));
            if *signed_in {
                request = request.bearer_auth(&token);
            }
            let started = Instant::now();
            let body: Value = request
                .send()
                .await
                .expect("an answer")
                .json()
                .await
                .expect("JSON");
            http.push(started.elapsed());
            code = body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("none")
                .to_owned();
        }
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade");
        let init = if *signed_in {
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
        } else {
            json!({ "type": "connection_init", "payload": {} })
        };
        socket
            .send(Message::Text(init.to_string().into()))
            .await
            .expect("send");
        socket
            .next()
            .await
            .expect("connection_ack")
            .expect("a frame");
        let mut websocket = Vec::new();
        for round in 0..rounds {
            let message = json!({ "id": round.to_string(), "type": "subscribe", "payload": { "query": document, "variables": variables } });
            let started = Instant::now();
            socket
                .send(Message::Text(message.to_string().into()))
                .await
                .expect("send");
            loop {
                let frame = socket.next().await.expect("an answer").expect("a frame");
                let Message::Text(text) = frame else { continue };
                let value: Value = serde_json::from_str(&text).expect("JSON");
                if value["type"] == "error" || value["type"] == "next" {
                    break;
                }
            }
            websocket.push(started.elapsed());
        }
        let (http_median, http_max) = milliseconds(http);
        let (ws_median, ws_max) = milliseconds(websocket);
        println!(
            "| {name} | {} | {code} | {http_median:.1} / {http_max:.1} | {ws_median:.1} / {ws_max:.1} |",
            document.len()
        );
    }
}
