//! Memory soak (not a test): `cargo bench --bench soak`.
//!
//! Starts the release `confab serve` as its own process on SQLite in a temporary
//! directory, writes CONFAB_SOAK_CHATS (default 100) chats of one 900 KB message each, then
//! sends CONFAB_SOAK_REQUESTS (default 10,000) hostile requests:
//!
//! 1. 50 reads of all the chats at once (100 × 900 KB: a 90 MB answer, over the 16 MiB
//!    `--max-response-bytes`, so each must be one coded `QUERY_TOO_COMPLEX` error);
//! 2. the rest CONFAB_SOAK_CONCURRENCY (default 50) at a time, in a fixed rotation: a valid
//!    small query, a document that does not parse, a query nested too deep, a batch (a JSON
//!    array of 50 queries), a body over the 1 MiB limit, a read of ten 900 KB messages
//!    (9 MB of answer, under the limit), and a new persisted query (APQ) of 4 KB
//!    registered by each request (the store's byte bound).
//!
//! The request rate limit is off (`CONFAB_RATE_LIMIT_REQUESTS=0`): one caller sends
//! everything, and each request must reach what it tests rather than a 429.
//!
//! Prints the allocator the gateway runs with, its resident memory (the gateway process's,
//! not this client's) when ready, at the start of the mix, its peak (sampled every 20 ms),
//! at the end, and every 5 s until CONFAB_SOAK_SETTLE seconds (default 30) after the last
//! answer, and the answers by kind, status and error code. Goal: after ≤ start + 50 MiB.
//!
//! The gateway inherits this process's environment, so allocator settings
//! (`MIMALLOC_*`, `MALLOC_*`, `MALLOC_CONF`) reach it; CONFAB_SOAK_PRELOAD=path runs it
//! with `LD_PRELOAD=path` (e.g. the system's libjemalloc under a `--no-default-features` build).
//! CONFAB_SOAK_MAPS=1 also prints the gateway's largest mappings at the end (where the
//! memory that stayed is).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

mod common;

use common::{env_number, graphql, rss_mib, start};

const SECRET: &str = "soak-secret-that-is-long-enough-for-hs256-0123456789";

/// How many reads of all the chats are sent at once before the rotation (the issue's
/// "50 concurrent reads of 100 chats × 1 message of 900 KB").
const CONCURRENT_HUGE_READS: usize = 50;

/// One kind of hostile request: its name, and its body (made per request: the APQ kind
/// registers a new query each time).
struct Kind {
    name: &'static str,
    body: Box<dyn Fn(usize) -> String + Send + Sync>,
}

fn fixed(name: &'static str, body: String) -> Kind {
    Kind {
        name,
        body: Box::new(move |_| body.clone()),
    }
}

/// The read of every chat's message: `chats` × 900 KB.
fn huge_read(chats: usize) -> Kind {
    fixed(
        "huge read",
        json!({ "query": format!(
            "{{ viewer {{ conversations(first: {chats}) {{ nodes {{ id messages(first: 1) {{ nodes {{ content }} }} }} }} }} }}"
        ) })
        .to_string(),
    )
}

/// The rotation of the second phase.
fn request_kinds(chats: &[Uuid]) -> Vec<Kind> {
    // The read of all the chats is not in the rotation: 1,250 more of them would make the
    // soak take half an hour on a 2-core machine, and the first phase already sends 50 at
    // once.
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
    let padding = "p".repeat(4096);
    vec![
        fixed("valid", json!({ "query": "{ viewer { id } }" }).to_string()),
        fixed("invalid", json!({ "query": "{ viewer { id " }).to_string()),
        fixed("deep", json!({ "query": deep }).to_string()),
        fixed("batched", Value::Array(batch).to_string()),
        fixed(
            "oversized",
            json!({ "query": format!("{{ viewer {{ id }} }} # {}", "x".repeat(1100 * 1024)) })
                .to_string(),
        ),
        fixed(
            "big read",
            json!({ "query": format!("{{ {big_read} }}") }).to_string(),
        ),
        Kind {
            name: "apq",
            body: Box::new(move |i| {
                let query = format!("{{ viewer {{ id }} }} # {i} {padding}");
                let hash = hex::encode(Sha256::digest(query.as_bytes()));
                json!({
                    "query": query,
                    "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } },
                })
                .to_string()
            }),
        },
    ]
}

/// Sends one request; its status and the code of its first error ("-" for none, "?" for
/// an answer that is not JSON). The body is read to its end, as a client would.
async fn send(client: &reqwest::Client, url: &str, token: &str, body: String) -> (u16, String) {
    let response = match client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(response) => response,
        Err(_) => return (0, "no answer".to_owned()),
    };
    let status = response.status().as_u16();
    let code = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).map_or("?".to_owned(), |v| {
            v["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("-")
                .to_owned()
        }),
        Err(_) => "body cut".to_owned(),
    };
    (status, code)
}

/// The gateway's allocator: the library preloaded into it, else the one linked into its
/// binary (found by the messages each allocator's code carries), else glibc's malloc.
fn allocator(pid: u32) -> String {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let binary = std::fs::read(format!("/proc/{pid}/exe")).unwrap_or_default();
    let linked = |marker: &[u8]| binary.windows(marker.len()).any(|w| w == marker);
    let mut name = if maps.contains("libjemalloc") {
        "jemalloc (preloaded)"
    } else if linked(b"<jemalloc>") {
        "jemalloc"
    } else if linked(b"mimalloc: ") {
        "mimalloc"
    } else {
        "glibc malloc"
    }
    .to_owned();
    let settings: Vec<String> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("MIMALLOC_")
                || k.starts_with("MALLOC_")
                || k == "GLIBC_TUNABLES"
                || k == "CONFAB_SOAK_PRELOAD"
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !settings.is_empty() {
        name = format!("{name} with {}", settings.join(" "));
    }
    name
}

/// `RssAnon` of process `pid`, in MiB: the heap's share of the resident memory.
fn rss_anon_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The `n` mappings of process `pid` with the most resident memory (from `/proc/PID/smaps`):
/// where the memory that stays is (a glibc arena is a 64 MiB-aligned anonymous mapping,
/// mimalloc's arenas are reserved 1 GiB at a time).
fn largest_mappings(pid: u32, n: usize) -> Vec<String> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut mappings: Vec<(f64, String)> = Vec::new();
    let mut current = String::new();
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let mib = kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .unwrap_or(0.0)
                / 1024.0;
            mappings.push((mib, current.clone()));
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-'))
        {
            current = line.to_owned();
        }
    }
    mappings.sort_by(|a, b| b.0.total_cmp(&a.0));
    mappings
        .into_iter()
        .take(n)
        .map(|(mib, mapping)| format!("{mib:8.1} MiB  {mapping}"))
        .collect()
}

type Counts = BTreeMap<(&'static str, u16, String), usize>;

#[tokio::main]
async fn main() {
    let requests = env_number("CONFAB_SOAK_REQUESTS", 10_000).max(CONCURRENT_HUGE_READS);
    let concurrency = env_number("CONFAB_SOAK_CONCURRENCY", 50);
    let chat_count = env_number("CONFAB_SOAK_CHATS", 100).max(10);
    let settle = Duration::from_secs(env_number("CONFAB_SOAK_SETTLE", 30) as u64);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("soak.db").display());
    let preload = std::env::var("CONFAB_SOAK_PRELOAD").unwrap_or_default();
    let mut env = vec![("RUST_LOG", "error"), ("CONFAB_RATE_LIMIT_REQUESTS", "0")];
    if !preload.is_empty() {
        env.push(("LD_PRELOAD", preload.as_str()));
    }
    let gateway = start(&url, SECRET, &env).await;
    let pid = gateway.child.id();
    let ready_rss = rss_mib(pid);
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
    let count = |mut counts: Counts, key: (&'static str, u16, String)| async move {
        *counts.entry(key).or_insert(0) += 1;
        counts
    };
    // 1. The 50 concurrent reads of every chat.
    let huge = Arc::new(huge_read(chats.len()));
    let counts: Counts = futures::stream::iter(0..CONCURRENT_HUGE_READS)
        .map(|i| {
            let (client, url, token, huge) = (
                client.clone(),
                gateway.url.clone(),
                token.clone(),
                huge.clone(),
            );
            async move {
                let (status, code) = send(&client, &url, &token, (huge.body)(i)).await;
                ("huge read x50", status, code)
            }
        })
        .buffer_unordered(CONCURRENT_HUGE_READS)
        .fold(Counts::new(), count)
        .await;
    // 2. The rotation.
    let counts: Counts = futures::stream::iter(CONCURRENT_HUGE_READS..requests)
        .map(|i| {
            let (client, url, token, kinds) = (
                client.clone(),
                gateway.url.clone(),
                token.clone(),
                kinds.clone(),
            );
            async move {
                let kind = &kinds[i % kinds.len()];
                let (status, code) = send(&client, &url, &token, (kind.body)(i)).await;
                (kind.name, status, code)
            }
        })
        .buffer_unordered(concurrency)
        .fold(counts, count)
        .await;
    let took = started.elapsed();
    running.store(false, Ordering::Relaxed);
    sampler.await.ok();
    let peak = *peak.lock().expect("the peak lock");
    let end_rss = rss_mib(pid);
    let mut settling = Vec::new();
    let settled = Instant::now();
    while settled.elapsed() < settle {
        let step = Duration::from_secs(5).min(settle - settled.elapsed());
        tokio::time::sleep(step).await;
        settling.push(format!(
            "{:.0} s {:.1}",
            settled.elapsed().as_secs_f64(),
            rss_mib(pid)
        ));
    }
    let after = rss_mib(pid);

    println!("allocator: {}", allocator(pid));
    println!(
        "soak: {requests} requests ({CONCURRENT_HUGE_READS} huge reads at once, then \
         {concurrency} at a time) on {chat_count} chats of 900 KB in {:.1} s",
        took.as_secs_f64()
    );
    for ((kind, status, code), n) in &counts {
        println!("  {kind:>14} -> {status} {code}: {n}");
    }
    println!("RSS after the last answer (MiB): {}", settling.join(", "));
    println!(
        "RSS: ready {ready_rss:.1} MiB, start {start_rss:.1} MiB, peak {peak:.1} MiB, \
         at the end {end_rss:.1} MiB, {} s after {after:.1} MiB (anonymous {:.1} MiB; \
         {:+.1} MiB; goal: at most +50)",
        settle.as_secs(),
        rss_anon_mib(pid),
        after - start_rss
    );
    if std::env::var_os("CONFAB_SOAK_MAPS").is_some() {
        println!("largest mappings {} s after:", settle.as_secs());
        for line in largest_mappings(pid, 12) {
            println!("  {line}");
        }
    }
}
