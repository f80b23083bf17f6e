//! A small graphql-ws client for the tests: both subprotocols, message by message.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

/// How long a test waits for something that should arrive.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: &'static str,
    /// Messages read while looking for another operation's.
    held: Vec<Value>,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

/// Opens a WebSocket to `base` (http://host:port) with `protocol` and optional headers.
pub async fn open(base: &str, protocol: &'static str, authorization: Option<&str>) -> Ws {
    let url = format!("{}/graphql", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("a WebSocket request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    if let Some(token) = authorization {
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
    }
    let (stream, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the WebSocket upgrade succeeds");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some(protocol)
    );
    Ws {
        stream,
        protocol,
        held: Vec::new(),
    }
}

/// Opens a `graphql-transport-ws` connection and completes the handshake with `payload`.
pub async fn connect(base: &str, payload: Value) -> Ws {
    let mut ws = open(base, TRANSPORT_WS, None).await;
    ws.init(payload).await;
    let ack = ws.next().await.expect("an answer to connection_init");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

/// As `token`'s user, with the token in the `connection_init` payload.
pub async fn connect_as(base: &str, token: &str) -> Ws {
    connect(base, json!({ "Authorization": format!("Bearer {token}") })).await
}

impl Ws {
    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send a WebSocket message");
    }

    pub async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == TRANSPORT_WS {
            "subscribe"
        } else {
            "start"
        };
        self.send(json!({
            "id": id,
            "type": kind,
            "payload": { "query": query, "variables": variables }
        }))
        .await;
    }

    /// The next protocol message other than keep-alives, or None when the socket closed
    /// or nothing came within `PATIENCE`.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(PATIENCE).await
    }

    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        if !self.held.is_empty() {
            return Some(self.held.remove(0));
        }
        self.read_within(wait).await
    }

    /// The next message of operation `id` (operations interleave on one connection).
    pub async fn next_of(&mut self, id: &str) -> Option<Value> {
        if let Some(at) = self.held.iter().position(|m| m["id"] == id) {
            return Some(self.held.remove(at));
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.read_within(left).await?;
            if message["id"] == id {
                return Some(message);
            }
            self.held.push(message);
        }
    }

    async fn read_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON messages");
                    match value["type"].as_str() {
                        Some("ping") => self.send(json!({ "type": "pong" })).await,
                        Some("ka") | Some("pong") => {}
                        _ => return Some(value),
                    }
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The payload of the next `next`/`data` message of operation `id`.
    pub async fn payload(&mut self, id: &str) -> Value {
        let message = self
            .next_of(id)
            .await
            .unwrap_or_else(|| panic!("operation {id} got nothing within {PATIENCE:?}"));
        assert_eq!(message["id"], id, "{message}");
        let expected = if self.protocol == TRANSPORT_WS {
            "next"
        } else {
            "data"
        };
        assert_eq!(message["type"], expected, "{message}");
        message["payload"].clone()
    }

    /// The data of the next event of operation `id` (which must carry no errors).
    pub async fn data(&mut self, id: &str) -> Value {
        let payload = self.payload(id).await;
        assert!(payload.get("errors").is_none(), "{payload}");
        payload["data"].clone()
    }

    /// The `extensions.code` of the error that ends operation `id` (its `complete` is
    /// read too).
    pub async fn error_code(&mut self, id: &str) -> String {
        let payload = self.payload(id).await;
        let code = payload["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {payload}"))
            .to_owned();
        let complete = self.next_of(id).await.expect("the operation completes");
        assert_eq!(complete["id"], id, "{complete}");
        assert_eq!(complete["type"], "complete", "{complete}");
        code
    }

    /// The `extensions.code` of the protocol `error` message that refuses operation `id`
    /// before it runs (graphql-transport-ws; no `complete` follows).
    pub async fn refusal_code(&mut self, id: &str) -> String {
        let message = self
            .next_of(id)
            .await
            .unwrap_or_else(|| panic!("operation {id} got nothing within {PATIENCE:?}"));
        assert_eq!(message["type"], "error", "{message}");
        message["payload"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {message}"))
            .to_owned()
    }

    /// Asserts that nothing but keep-alives arrives for `wait` and that the connection is
    /// still open afterwards (a closed or broken socket is not "quiet").
    pub async fn quiet_for(&mut self, wait: Duration) {
        if let Some(message) = self.held.first() {
            panic!("expected nothing, got {message}");
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return,
                Ok(None) => panic!("the connection ended while waiting for silence"),
                Ok(Some(Err(err))) => panic!("the connection failed: {err}"),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    panic!("the connection closed while waiting for silence: {frame:?}")
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON messages");
                    match value["type"].as_str() {
                        Some("ping") => self.send(json!({ "type": "pong" })).await,
                        Some("ka") | Some("pong") => {}
                        _ => panic!("expected nothing, got {value}"),
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Waits for the server to close the connection and returns its close frame.
    pub async fn closed(&mut self) -> Closed {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the server did not close the connection"),
                Ok(None) => panic!("the connection ended without a close frame"),
                Ok(Some(Err(err))) => panic!("the connection failed: {err}"),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let frame = frame.expect("a close frame with a code");
                    return Closed {
                        code: frame.code.into(),
                        reason: frame.reason.to_string(),
                    };
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

impl Ws {
    /// The next text frame as JSON, keep-alives included, unanswered.
    pub async fn raw_text_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(text) = message {
                return Some(serde_json::from_str(&text).expect("JSON messages"));
            }
        }
    }
}
