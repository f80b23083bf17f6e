//! Memory soak (not a test): `cargo bench --bench soak`.
//!
//! Starts the release `confab serve` as its own process on SQLite in a temporary
//! directory, writes CONFAB_SOAK_CHATS (default 20) chats of one 900 KB message each, then
//! sends CONFAB_SOAK_REQUESTS (default 10,000) hostile requests, CONFAB_SOAK_CONCURRENCY
//! (default 32) at a time, in a fixed rotation: a valid small query, a document that does
//! not parse, a query nested too deep, a batch (a JSON array of 50 queries), a body over the
//! 1 MiB limit, and a read of ten 900 KB messages (9 MB of answer). Prints the gateway's
//! resident memory at the start of the mix, its peak (sampled every 20 ms) and
//! CONFAB_SOAK_SETTLE seconds (default 30) after the last answer, and the answers' statuses.
//! Goal: after ≤ start + 50 MiB.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use uuid::Uuid;

mod common;

use common::{env_number, graphql, rss_mib, start};

const SECRET: &str = "soak-secret-that-is-long-enough-for-hs256-0123456789";

/// The hostile requests, as bodies: one per kind, sent in rotation.
fn request_kinds(chats: &[Uuid]) -> Vec<(&'static str, String)> {
    let deep = format!(
        "{{ viewer {{ {} id {} }} }}",
        "projects { nodes { chats { nodes { projects { nodes { ".repeat(5),
        "} } } } } } ".repeat(5)
    );
    let batch: Vec<Value> = (0..50)
        .map(|_| json!({ "query": "{ viewer { id } }" }))
        .collect();
    let big_read: String = chats
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, id)| {
            format!("c{i}: conversation(id: \"{id}\") {{ messages {{ nodes {{ content }} }} }} ")
        })
        .collect();
    vec![
        ("valid", json!({ "query": "{ viewer { id } }" }).to_string()),
        ("invalid", json!({ "query": "{ viewer { id " }).to_string()),
        ("deep", json!({ "query": deep }).to_string()),
        ("batched", Value::Array(batch).to_string()),
        (
            "oversized",
            json!({ "query": format!("{{ viewer {{ id }} }} # {}", "x".repeat(1100 * 1024)) })
                .to_string(),
        ),
        (
            "big read",
            json!({ "query": format!("{{ {big_read} }}") }).to_string(),
        ),
    ]
}

#[tokio::main]
async fn main() {
    let requests = env_number("CONFAB_SOAK_REQUESTS", 10_000);
    let concurrency = env_number("CONFAB_SOAK_CONCURRENCY", 32);
    let chat_count = env_number("CONFAB_SOAK_CHATS", 20).max(10);
    let settle = Duration::from_secs(env_number("CONFAB_SOAK_SETTLE", 30) as u64);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("soak.db").display());
    let gateway = start(&url, SECRET, &[("RUST_LOG", "error")]).await;
    let pid = gateway.child.id();
    let client = reqwest::Client::new();
    let user = Uuid::new_v4();
    let token = common::token(SECRET, user);

    let content = "m".repeat(900 * 1024);
    let mut chats = Vec::new();
    for i in 0..chat_count {
        let data = graphql(
            &client,
            &gateway.url,
            &token,
            "mutation($t: String) { createConversation(input: {title: $t}) { id } }",
            json!({ "t": format!("chat {i}") }),
        )
        .await;
        let id: Uuid = data["createConversation"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a chat id");
        graphql(
            &client,
            &gateway.url,
            &token,
            "mutation($c: UUID!, $m: String!) { sendMessage(input: {conversationId: $c, role: USER, content: $m}) { id } }",
            json!({ "c": id, "m": content }),
        )
        .await;
        chats.push(id);
    }
    let kinds = Arc::new(request_kinds(&chats));

    let start_rss = rss_mib(pid);
    let peak = Arc::new(Mutex::new(start_rss));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let now = rss_mib(pid);
                {
                    let mut peak = peak.lock().expect("the peak lock");
                    if now > *peak {
                        *peak = now;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let statuses: BTreeMap<(&'static str, u16), usize> = futures::stream::iter(0..requests)
        .map(|i| {
            let (client, url, token, kinds) = (
                client.clone(),
                gateway.url.clone(),
                token.clone(),
                kinds.clone(),
            );
            async move {
                let (kind, body) = &kinds[i % kinds.len()];
                let status = client
                    .post(format!("{url}/graphql"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (*kind, status)
            }
        })
        .buffer_unordered(concurrency)
        .fold(BTreeMap::new(), |mut counts, key| async move {
            *counts.entry(key).or_insert(0) += 1;
            counts
        })
        .await;
    let took = started.elapsed();
    running.store(false, Ordering::Relaxed);
    sampler.await.ok();
    let peak = *peak.lock().expect("the peak lock");
    let end_rss = rss_mib(pid);
    tokio::time::sleep(settle).await;
    let after = rss_mib(pid);

    println!(
        "soak: {requests} requests ({concurrency} at a time) in {:.1} s",
        took.as_secs_f64()
    );
    for ((kind, status), n) in &statuses {
        println!("  {kind:>10} -> {status}: {n}");
    }
    println!(
        "RSS: start {start_rss:.1} MiB, peak {peak:.1} MiB, at the end {end_rss:.1} MiB, \
         {} s after {after:.1} MiB ({:+.1} MiB; goal: at most +50)",
        settle.as_secs(),
        after - start_rss
    );
}
