//! Realtime delivery benchmark (not a test): `cargo bench --bench realtime`.
//!
//! Starts the release `confab serve` as its own process (SQLite in a temporary directory,
//! or a fresh Postgres database when CONFAB_BENCH_POSTGRES names a server), signs up
//! CONFAB_BENCH_SUBSCRIBERS users (default 1000) into one team, connects each over
//! WebSocket (graphql-transport-ws) and subscribes it to `messageAdded` on the team's chat,
//! then sends CONFAB_BENCH_MESSAGES messages (default 50) one at a time, each once every
//! subscriber has the previous one, and then a burst of CONFAB_BENCH_BURST (default 20)
//! back to back.
//!
//! Reports, per delivered event, the latency from the message's commit to the client's
//! receipt: `createdAt` is stamped inside the writing transaction just before it commits,
//! so the figure is an upper bound on commit → receipt (same machine, same clock). Also the
//! gateway process's resident memory before, with and after the subscribers.

use std::time::{Duration, Instant, SystemTime};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

mod common;

use common::{
    create_postgres_database, drop_postgres_database, env_number, graphql, ms, percentile, start,
};

const SECRET: &str = "bench-secret-that-is-long-enough-for-hs256-0123456789";

fn token(id: Uuid) -> String {
    common::token(SECRET, id)
}

async fn subscriber_count(url: &str) -> usize {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("confab_subscriptions "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One subscriber: connects, subscribes, and reports (sequence, latency) per event.
async fn subscriber(
    url: String,
    token: String,
    chat: Uuid,
    expected: usize,
    report: mpsc::UnboundedSender<(i64, Duration)>,
) {
    let ws_url = format!("{}/graphql", url.replacen("http://", "ws://", 1));
    let mut request = ws_url.into_client_request().expect("a WebSocket request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(
            json!({ "type": "connection_init", "payload": { "authorization": token } }),
        ))
        .await
        .expect("init");
    socket
        .send(send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": "subscription($c: UUID!) { messageAdded(conversationId: $c) { sequence createdAt } }",
                "variables": { "c": chat },
            }
        })))
        .await
        .expect("subscribe");
    let mut received = 0;
    while received < expected {
        let Some(Ok(message)) = socket.next().await else {
            panic!("a subscriber's connection ended early");
        };
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).expect("JSON");
        match value["type"].as_str() {
            Some("ping") => {
                socket.send(send(json!({ "type": "pong" }))).await.ok();
            }
            Some("next") => {
                let at = SystemTime::now();
                let event = &value["payload"]["data"]["messageAdded"];
                let created: chrono::DateTime<chrono::Utc> = event["createdAt"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .expect("createdAt");
                let latency = at
                    .duration_since(SystemTime::from(created))
                    .unwrap_or(Duration::ZERO);
                report
                    .send((event["sequence"].as_i64().unwrap_or(0), latency))
                    .ok();
                received += 1;
            }
            _ => {}
        }
    }
    socket.close(None).await.ok();
}

async fn send_message(http: &reqwest::Client, url: &str, token: &str, chat: Uuid, i: usize) {
    graphql(
        http,
        url,
        token,
        "mutation($c: UUID!, $m: String!) { sendMessage(input: {conversationId: $c, role: USER, content: $m}) { id } }",
        json!({ "c": chat, "m": format!("message {i}") }),
    )
    .await;
}

#[tokio::main]
async fn main() {
    let subscribers = env_number("CONFAB_BENCH_SUBSCRIBERS", 1000);
    let messages = env_number("CONFAB_BENCH_MESSAGES", 50);
    let burst = env_number("CONFAB_BENCH_BURST", 20);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut created_database = None;
    let (database_url, backend) = match std::env::var("CONFAB_BENCH_POSTGRES") {
        Ok(server) => {
            let (url, name) = create_postgres_database(&server).await;
            created_database = Some((server.clone(), name));
            (url, "Postgres")
        }
        Err(_) => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
            "SQLite",
        ),
    };
    let gateway = start(
        &database_url,
        SECRET,
        // Room for every subscriber's WebSocket beside the HTTP clients.
        &[("CONFAB_MAX_CONNECTIONS", "8192")],
    )
    .await;
    let http = reqwest::Client::new();
    let owner = Uuid::new_v4();
    let owner_token = token(owner);
    println!(
        "confab realtime bench: {subscribers} subscribers, {messages} paced messages and a burst of {burst}, {backend}"
    );

    // One team holding every subscriber, and a chat in the team's project.
    let team = graphql(
        &http,
        &gateway.url,
        &owner_token,
        "mutation { createTeam(name: \"Bench\") { id } }",
        json!({}),
    )
    .await["createTeam"]["id"]
        .clone();
    let project = graphql(
        &http,
        &gateway.url,
        &owner_token,
        "mutation($t: UUID!) { createProject(input: {title: \"Bench\", teamId: $t}) { id } }",
        json!({ "t": team }),
    )
    .await["createProject"]["id"]
        .clone();
    let chat: Uuid = graphql(&http, &gateway.url, &owner_token, "mutation($p: UUID!) { createConversation(input: {title: \"Bench\", projectId: $p}) { id } }", json!({ "p": project })).await["createConversation"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a chat id");
    let members: Vec<Uuid> = (0..subscribers).map(|_| Uuid::new_v4()).collect();
    let setup = Instant::now();
    futures::stream::iter(members.iter().copied())
        .for_each_concurrent(16, |member| {
            let http = http.clone();
            let url = gateway.url.clone();
            let owner_token = owner_token.clone();
            let team = team.clone();
            async move {
                graphql(&http, &url, &token(member), "{ viewer { id } }", json!({})).await;
                graphql(&http, &url, &owner_token, "mutation($t: UUID!, $e: String!) { addTeamMember(teamId: $t, email: $e) { userId } }", json!({ "t": team, "e": format!("{member}@bench.test") })).await;
            }
        })
        .await;
    println!(
        "setup: {subscribers} team members in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let idle_rss = gateway.rss_mib();

    let (report, mut reports) = mpsc::unbounded_channel();
    let connect = Instant::now();
    let mut clients = Vec::new();
    for member in &members {
        clients.push(tokio::spawn(subscriber(
            gateway.url.clone(),
            token(*member),
            chat,
            messages + burst,
            report.clone(),
        )));
        if clients.len() % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    drop(report);
    while subscriber_count(&gateway.url).await < subscribers {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "connected and subscribed: {subscribers} in {:.1} s",
        connect.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected_rss = gateway.rss_mib();

    // Paced: each message is delivered to every subscriber before the next is sent, so
    // the figures are the fan-out latency of one event, not the length of a queue.
    let mut latencies = Vec::with_capacity(subscribers * messages);
    for i in 1..=messages {
        send_message(&http, &gateway.url, &owner_token, chat, i).await;
        for _ in 0..subscribers {
            let (_, latency) = reports.recv().await.expect("a subscriber report");
            latencies.push(latency);
        }
    }
    latencies.sort();
    println!(
        "paced, one message at a time to {subscribers} subscribers ({} deliveries): commit → receipt p50 {}  p90 {}  p99 {}  max {}",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("at least one event")),
    );
    let connected_after_paced = gateway.rss_mib();

    // Burst: messages back to back, then the time until every subscriber has them all.
    let sending = Instant::now();
    for i in 1..=burst {
        send_message(&http, &gateway.url, &owner_token, chat, messages + i).await;
    }
    let mut burst_latencies = Vec::with_capacity(subscribers * burst);
    while let Some((_, latency)) = reports.recv().await {
        burst_latencies.push(latency);
    }
    let elapsed = sending.elapsed();
    for client in clients {
        client.await.expect("a subscriber finished");
    }
    burst_latencies.sort();
    assert_eq!(
        burst_latencies.len(),
        subscribers * burst,
        "every event was delivered"
    );
    println!(
        "burst of {burst} messages: {} deliveries in {:.2} s ({:.0} deliveries/s); commit → receipt p50 {}  p99 {}",
        burst_latencies.len(),
        elapsed.as_secs_f64(),
        burst_latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&burst_latencies, 0.50)),
        ms(percentile(&burst_latencies, 0.99)),
    );
    let peak_rss = gateway.rss_mib().max(connected_after_paced);
    println!(
        "gateway RSS: {idle_rss:.1} MiB before connections, {connected_rss:.1} MiB with {subscribers} subscribers connected ({:.1} KiB each), {peak_rss:.1} MiB at most while delivering",
        (connected_rss - idle_rss) * 1024.0 / subscribers as f64
    );
    drop(gateway);
    if let Some((server, name)) = created_database {
        drop_postgres_database(&server, &name).await;
    }
}
