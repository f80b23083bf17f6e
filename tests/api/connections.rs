//! Connections cannot be held for free: a request's headers and body must arrive within
//! their timeouts (a half-sent or dripping request is closed), the number of open
//! connections is capped, and a SIGTERM exits within the drain timeout even with
//! half-sent requests open. (The 1001 close of WebSockets on shutdown: `readiness.rs`.)

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::documents::VIEWER_ID;
use crate::harness::{self, TestApp};
use crate::metrics::spawn_gateway;

fn address(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection, and when it closed it;
/// fails if it is still open after `limit`.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
            Err(err) => panic!("{err}"),
        }
        assert!(
            started.elapsed() < limit,
            "still open after {limit:?}; received {:?}",
            String::from_utf8_lossy(&received)
        );
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

fn post_head(address: &str, length: usize) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

async fn short_timeouts() -> TestApp {
    harness::sqlite_with(|s| {
        s.header_read_timeout = Duration::from_secs(1);
        s.body_read_timeout = Duration::from_secs(1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_read_timeouts() {
    let app = short_timeouts().await;
    let address = address(&app.url);
    let limit = Duration::from_secs(3);
    tokio::task::spawn_blocking(move || {
        // Nothing sent at all.
        let mut silent = TcpStream::connect(&address).unwrap();
        let (received, took) = read_until_closed(&mut silent, limit);
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(!received.contains("200 OK"), "{received}");

        // Half the headers.
        let mut half_head = TcpStream::connect(&address).unwrap();
        half_head
            .write_all(format!("POST /graphql HTTP/1.1\r\nHost: {address}\r\n").as_bytes())
            .unwrap();
        let (received, _) = read_until_closed(&mut half_head, limit);
        assert!(!received.contains("200 OK"), "{received}");

        // The headers and half the body: 408 with a code, then the connection is closed.
        let body = json!({ "query": VIEWER_ID }).to_string();
        let mut half_body = TcpStream::connect(&address).unwrap();
        half_body
            .write_all(post_head(&address, body.len()).as_bytes())
            .unwrap();
        half_body
            .write_all(&body.as_bytes()[..body.len() / 2])
            .unwrap();
        let (received, took) = read_until_closed(&mut half_body, limit);
        assert!(received.starts_with("HTTP/1.1 408"), "{received}");
        assert!(
            received.contains("\"code\":\"BAD_USER_INPUT\""),
            "{received}"
        );
        assert!(
            received.contains("the request body did not arrive in time"),
            "{received}"
        );
        assert!(took >= Duration::from_millis(900), "{took:?}");

        // A body dripped a byte at a time: the deadline is not reset by each byte.
        let mut drip = TcpStream::connect(&address).unwrap();
        drip.write_all(post_head(&address, body.len()).as_bytes())
            .unwrap();
        let started = Instant::now();
        drip.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut answer = Vec::new();
        for byte in body.as_bytes() {
            if drip.write_all(&[*byte]).is_err() {
                break;
            }
            let mut buffer = [0u8; 4096];
            match drip.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
                Err(_) => {}
            }
            if !answer.is_empty() {
                break;
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(started.elapsed() < limit, "{:?}", started.elapsed());
    })
    .await
    .unwrap();
    // The gateway still answers.
    let alice = harness::user("alice");
    let data = app.ok(&alice, VIEWER_ID, json!({})).await;
    assert_eq!(data["viewer"]["id"], alice.id.to_string());
}

/// With `--max-connections 2` and two idle connections open, a third client waits in the
/// backlog; it is answered as soon as one of the two closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_capped() {
    let app = harness::sqlite_with(|s| s.max_connections = 2).await;
    let address = address(&app.url);
    tokio::task::spawn_blocking(move || {
        let first = TcpStream::connect(&address).unwrap();
        let _second = TcpStream::connect(&address).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut third = TcpStream::connect(&address).unwrap();
        third
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        third
            .set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let mut buffer = [0u8; 1024];
        let waited = third.read(&mut buffer);
        assert!(
            matches!(&waited, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "the third connection was served: {waited:?}"
        );
        drop(first);
        let (received, _) = read_until_closed(&mut third, Duration::from_secs(3));
        assert!(received.starts_with("HTTP/1.1 200"), "{received}");
        assert!(received.ends_with("ok"), "{received}");
    })
    .await
    .unwrap();
}

/// SIGTERM with a request whose body never comes and one whose headers never end: the
/// process stops accepting, waits the drain timeout (1 s here), says what it cut, and
/// exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_drain_timeout_with_half_sent_requests() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("confab.db").display()
    );
    let mut gateway = spawn_gateway(&url, &[("CONFAB_DRAIN_TIMEOUT", "1")]).await;
    let address = address(&gateway.url);
    let mut half_body = TcpStream::connect(&address).unwrap();
    half_body
        .write_all(format!("{}{{\"query\":", post_head(&address, 100)).as_bytes())
        .unwrap();
    let mut half_head = TcpStream::connect(&address).unwrap();
    half_head
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n").as_bytes())
        .unwrap();
    // Both are being read by the server before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &gateway.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let line = gateway.log_line("ran out").await;
    assert!(
        line.contains("connections dropped with requests unfinished"),
        "{line}"
    );
    let status = loop {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the gateway did not exit:\n{}",
            gateway.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // The listener is closed: nobody is let in any more.
    assert!(TcpStream::connect(&address).is_err());
}
