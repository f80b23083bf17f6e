//! `sendMessage` throughput with concurrent writers, realtime on and off (not a test):
//! `CONFAB_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/test cargo bench --bench send_throughput`.
//!
//! For each of `--realtime on` and `--realtime off`, starts the release `confab serve` as
//! its own process on a fresh Postgres database (default pool, 10 connections), signs up
//! CONFAB_BENCH_WRITERS users (default 40), each with their own chat, and lets every
//! writer send CONFAB_BENCH_SENDS messages (default 50) one after the other, all writers at
//! once. Prints messages per second and the latency of one `sendMessage` (request to
//! response). With realtime on, each send also appends its events to the outbox under the
//! outbox's advisory lock and NOTIFYs (the cost of the design), and the gateway's listener
//! reads the outbox; nobody subscribes, so no delivery is measured here (that is
//! `benches/realtime.rs`).

use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

mod common;
use common::{
    create_postgres_database, drop_postgres_database, env_number, graphql, ms, percentile, start,
};

const SECRET: &str = "bench-secret-that-is-long-enough-for-hs256-0123456789";

fn token(id: Uuid) -> String {
    common::token(SECRET, id)
}

const SEND: &str = "mutation($c: UUID!, $m: String!) { sendMessage(input: {conversationId: $c, role: USER, content: $m}) { id } }";

async fn run(server: &str, realtime: &str, writers: usize, sends: usize) {
    let (url, name) = create_postgres_database(server).await;
    let gateway = start(&url, SECRET, &[("CONFAB_REALTIME", realtime)]).await;
    let http = reqwest::Client::new();
    let mut chats = Vec::new();
    for _ in 0..writers {
        let user = token(Uuid::new_v4());
        let chat = graphql(
            &http,
            &gateway.url,
            &user,
            "mutation { createConversation(input: {title: \"Bench\"}) { id } }",
            json!({}),
        )
        .await["createConversation"]["id"]
            .clone();
        chats.push((user, chat));
    }
    let started = Instant::now();
    let latencies = futures::future::join_all(chats.iter().map(|(user, chat)| {
        let http = http.clone();
        let url = gateway.url.clone();
        async move {
            let mut latencies = Vec::with_capacity(sends);
            for i in 0..sends {
                let sent = Instant::now();
                graphql(
                    &http,
                    &url,
                    user,
                    SEND,
                    json!({ "c": chat, "m": format!("m{i}") }),
                )
                .await;
                latencies.push(sent.elapsed());
            }
            latencies
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
    all.sort();
    let total = all.len();
    println!(
        "realtime {realtime:>3}: {total} sends by {writers} writers in {:.2} s = {:.0} messages/s; sendMessage p50 {}, p90 {}, p99 {}, max {}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.90)),
        ms(percentile(&all, 0.99)),
        ms(all[total - 1]),
    );
    drop(gateway);
    drop_postgres_database(server, &name).await;
}

#[tokio::main]
async fn main() {
    let Ok(server) = std::env::var("CONFAB_BENCH_POSTGRES") else {
        println!("send_throughput needs CONFAB_BENCH_POSTGRES (a Postgres server URL); skipped");
        return;
    };
    let writers = env_number("CONFAB_BENCH_WRITERS", 40);
    let sends = env_number("CONFAB_BENCH_SENDS", 50);
    println!(
        "confab sendMessage throughput: {writers} concurrent writers x {sends} sends, Postgres"
    );
    // Twice each, alternating, so a warm-up or a neighbour's load shows up as a spread.
    for realtime in ["on", "off", "on", "off"] {
        run(&server, realtime, writers, sends).await;
    }
}
