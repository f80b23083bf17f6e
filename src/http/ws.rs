//! GraphQL over WebSocket on `GET /graphql`: the `graphql-transport-ws` subprotocol and the
//! older `graphql-ws` (subscriptions-transport-ws) one, on async-graphql's protocol engine.
//!
//! Around that engine this module adds what a production gateway needs and async-graphql
//! does not do: the token from the `connection_init` payload (`Authorization`,
//! `authorization` or `authToken`) or else the upgrade request's headers, both checked at
//! `connection_init` by [`authenticate`](super::auth::authenticate); close codes as the
//! graphql-ws protocol says (4403 for a refused token, where async-graphql sends 1002;
//! 4401 for a subscribe before the handshake; 4408 when no `connection_init` arrives in
//! time; 4409 for a reused operation id); the `error` message for an operation refused
//! before it runs; a close with 4403 when the token expires; keep-alive pings; and per operation
//! the same request data an HTTP request gets (viewer, fresh loaders, page limits) and a
//! log line of its own ([`Logged`]: `method` `WS`, no `status`), written when the
//! operation ends (its last result, a client `complete`, or the connection closing).
//!
//! Persisted queries work as over HTTP: a `subscribe` payload may carry
//! `extensions.persistedQuery` instead of (or with) its `query`, and in persisted-only mode
//! a document that is not trusted is refused with an `error` message coded
//! `PERSISTED_QUERY_REQUIRED` (the connection stays open).
//!
//! Open connections are counted (`confab_websocket_connections`); a graceful shutdown
//! closes every one with 1001 through [`close_all`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor, Request, Response, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::time::Instant;

use super::apq::ApqError;
use super::auth::{authenticate, viewer_kind, Credentials, Refusal};
use super::AppState;
use crate::auth::{AuthError, Viewer};
use crate::db::RequestStatements;
use crate::error::ErrorCode;
use crate::graphql::errors::with_code;
use crate::graphql::local_tasks::LocalTasks;
use crate::graphql::realtime::ConnectionSlots;
use crate::graphql::RequestCtx;
use crate::rate_limit::{CallerBucket, RetryAfter};
use crate::telemetry;

/// WebSocket settings.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    /// How often the server pings an idle client.
    pub keepalive: Duration,
    /// How long a client has to send `connection_init`.
    pub init_timeout: Duration,
    /// Concurrent subscriptions per connection.
    pub max_subscriptions: usize,
    /// Largest message a client may send (the HTTP body limit).
    pub max_message: usize,
}

/// Bytes read from the socket at a time: small, since clients send little and a gateway
/// holds thousands of connections (the library's default is 128 KiB each).
const READ_BUFFER: usize = 8 * 1024;

const SUBPROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// Turns `true` once, when the process shuts down.
fn closing() -> &'static tokio::sync::watch::Sender<bool> {
    static CLOSING: OnceLock<tokio::sync::watch::Sender<bool>> = OnceLock::new();
    CLOSING.get_or_init(|| tokio::sync::watch::channel(false).0)
}

/// Closes every WebSocket connection of this process with 1001 (going away); new ones
/// close at once. For the graceful shutdown: the server stops accepting, then calls this.
pub fn close_all() {
    closing().send_replace(true);
}

/// Whether the request asks to become a WebSocket.
pub fn is_upgrade(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

pub async fn upgrade(state: AppState, request: axum::extract::Request) -> HttpResponse {
    let (mut parts, _body) = request.into_parts();
    if !state.cors.allows_websocket(&parts.headers) {
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open a WebSocket here (see --cors-origin)",
        )
            .into_response();
    }
    // The socket keeps its connection's place under `--max-connections` while it lives.
    let place = parts.extensions.remove::<super::serve::ConnectionPlace>();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade
            .protocols(SUBPROTOCOLS)
            .read_buffer_size(READ_BUFFER)
            .max_message_size(state.ws.max_message)
            .max_frame_size(state.ws.max_message),
        Err(rejection) => return rejection.into_response(),
    };
    let offered = parts
        .headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .is_some();
    let protocol = match upgrade.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some(name) => match name.parse::<WebSocketProtocols>() {
            Ok(protocol) => protocol,
            Err(_) => return (StatusCode::BAD_REQUEST, "unsupported subprotocol").into_response(),
        },
        None if offered => {
            return (
                StatusCode::BAD_REQUEST,
                "use the graphql-transport-ws or graphql-ws subprotocol",
            )
                .into_response()
        }
        None => WebSocketProtocols::GraphQLWS,
    };
    // A token on the upgrade request counts unless connection_init brings one.
    let address = super::client_address(&parts.extensions);
    let headers = parts.headers;
    upgrade.on_upgrade(move |socket| async move {
        serve(socket, state, protocol, headers, address).await;
        drop(place);
    })
}

/// What a connection learns at `connection_init`.
#[derive(Default)]
struct Session {
    viewer: Mutex<Option<(Viewer, Option<Instant>)>>,
    refused: AtomicBool,
    /// `connection_init` failed on the server's side (the database), not the client's.
    failed: AtomicBool,
}

impl Session {
    fn viewer(&self) -> Option<(Viewer, Option<Instant>)> {
        self.viewer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// When a token that expires at `exp` (Unix seconds) stops being good.
fn deadline(exp: Option<u64>) -> Option<Instant> {
    let exp = UNIX_EPOCH + Duration::from_secs(exp?);
    let left = exp
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Some(Instant::now() + left)
}

/// The token in a `connection_init` payload, if any; a token key holding something other
/// than a string (a number, an object, an array, a boolean) is a malformed token, refused
/// like any bad token rather than read as "no token" (which would make the caller
/// anonymous). `null` and an empty string count as absent.
fn payload_token(payload: &serde_json::Value) -> Result<Option<&str>, AuthError> {
    for key in ["Authorization", "authorization", "authToken"] {
        match payload.get(key) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(token)) if token.trim().is_empty() => {}
            Some(serde_json::Value::String(token)) => return Ok(Some(token)),
            Some(_) => return Err(AuthError::Malformed),
        }
    }
    Ok(None)
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    protocol: WebSocketProtocols,
    headers: axum::http::HeaderMap,
    address: Option<std::net::IpAddr>,
) {
    let _open = crate::metrics::websocket_open();
    let mut shutting_down = closing().subscribe();
    let (mut sink, source) = socket.split();
    let operations = Arc::new(Operations::default());
    let watched = operations.clone();
    let input =
        source
            .take_while(|message| {
                std::future::ready(matches!(message, Ok(m) if !matches!(m, Message::Close(_))))
            })
            .filter_map(move |message| {
                let bytes = match message {
                    Ok(Message::Text(text)) => Some(Bytes::copy_from_slice(text.as_bytes())),
                    Ok(Message::Binary(bytes)) => Some(bytes),
                    _ => None,
                };
                std::future::ready(bytes.filter(|bytes| {
                    protocol != WebSocketProtocols::GraphQLWS || watched.admit(bytes)
                }))
            });
    let session = Arc::new(Session::default());
    let executor = ConnectionExecutor {
        state: state.clone(),
        session: session.clone(),
        slots: ConnectionSlots::new(state.ws.max_subscriptions),
        address,
    };
    let init_session = session.clone();
    let init_state = state.clone();
    let mut engine = async_graphql::http::WebSocket::new(executor, input, protocol)
        .on_connection_init(move |payload| async move {
            let verified = match payload_token(&payload) {
                Ok(Some(token)) => authenticate(&init_state, Credentials::Token(token)).await,
                Ok(None) => authenticate(&init_state, Credentials::Headers(&headers)).await,
                Err(malformed) => Err(Refusal::Token(malformed)),
            };
            let (viewer, exp) = match verified {
                Ok(v) => v,
                Err(Refusal::Token(reason)) => {
                    init_session.refused.store(true, Ordering::SeqCst);
                    return Err(async_graphql::Error::new(format!("Forbidden: {reason}")));
                }
                Err(Refusal::Failed(err)) => {
                    init_session.failed.store(true, Ordering::SeqCst);
                    let err: async_graphql::Error = err.into();
                    return Err(err);
                }
            };
            *init_session
                .viewer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((viewer, deadline(exp)));
            Ok(Data::default())
        });

    let ping = match protocol {
        WebSocketProtocols::GraphQLWS => r#"{"type":"ping"}"#,
        WebSocketProtocols::SubscriptionsTransportWS => r#"{"type":"ka"}"#,
    };
    let init_deadline = Instant::now() + state.ws.init_timeout;
    let mut keepalive =
        tokio::time::interval_at(Instant::now() + state.ws.keepalive, state.ws.keepalive);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let close = loop {
        let accepted = session.viewer();
        let expires = accepted.as_ref().and_then(|(_, expires)| *expires);
        tokio::select! {
            out = engine.next() => match out {
                Some(WsMessage::Text(text)) => {
                    let text = match protocol {
                        WebSocketProtocols::GraphQLWS => match operations.rewrite(text) {
                            Some(text) => text,
                            None => continue,
                        },
                        WebSocketProtocols::SubscriptionsTransportWS => text,
                    };
                    operations.observe_server(&text);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => break Some(close_code(&session, code, reason)),
                None if session.refused.load(Ordering::SeqCst) => {
                    break Some((4403, "Forbidden".to_owned()))
                }
                None => break Some((1000, "bye".to_owned())),
            },
            _ = async { shutting_down.wait_for(|closing| *closing).await.is_ok() } => {
                break Some((1001, "server shutting down".to_owned()));
            }
            _ = operations.duplicate.notified() => {
                let id = operations.duplicate_id();
                break Some((4409, truncate(format!("Subscriber for {id} already exists"))));
            }
            _ = keepalive.tick(), if accepted.is_some() => {
                if sink.send(Message::Text(ping.into())).await.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(expires.unwrap_or(init_deadline)), if expires.is_some() => {
                break Some((4403, "Forbidden: token expired".to_owned()));
            }
            _ = tokio::time::sleep_until(init_deadline), if accepted.is_none() => {
                break Some((4408, "Connection initialisation timeout".to_owned()));
            }
        }
    };
    if let Some((code, reason)) = close {
        sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await
        .ok();
    }
    sink.close().await.ok();
}

/// The operation ids in use on a `graphql-transport-ws` connection: the protocol closes
/// the connection with 4409 when a client reuses the id of an active operation, where
/// async-graphql would silently replace the operation.
#[derive(Default)]
struct Operations {
    active: Mutex<std::collections::HashSet<String>>,
    /// Operations refused before execution: their `complete` is not sent, the `error`
    /// message ends them.
    refused: Mutex<std::collections::HashSet<String>>,
    duplicate_id: Mutex<String>,
    duplicate: tokio::sync::Notify,
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl Operations {
    fn active(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a client message may go on to the protocol engine.
    fn admit(&self, bytes: &[u8]) -> bool {
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice::<Envelope>(bytes) else {
            return true;
        };
        match kind.as_str() {
            "subscribe" => {
                if self.active().insert(id.clone()) {
                    return true;
                }
                *self
                    .duplicate_id
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = id;
                self.duplicate.notify_one();
                false
            }
            "complete" => {
                self.active().remove(&id);
                true
            }
            _ => true,
        }
    }

    /// Notes operations the server ended (`complete`, `error`).
    fn observe_server(&self, text: &str) {
        if !(text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#)) {
            return;
        }
        if let Ok(Envelope { id: Some(id), .. }) = serde_json::from_str::<Envelope>(text) {
            self.active().remove(&id);
        }
    }

    /// The protocol's `error` message for an operation refused before it ran (a document
    /// that does not parse or validate, or is too deep or complex), where async-graphql
    /// sends `next` with the errors and then `complete`; None for a message to drop.
    fn rewrite(&self, text: String) -> Option<String> {
        if text.starts_with(r#"{"type":"complete""#) {
            if let Ok(Envelope { id: Some(id), .. }) = serde_json::from_str::<Envelope>(&text) {
                let mut refused = self
                    .refused
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if refused.remove(&id) {
                    return None;
                }
            }
            return Some(text);
        }
        if !text.starts_with(r#"{"type":"next""#) || !text.contains(r#""data":null"#) {
            return Some(text);
        }
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Some(text);
        };
        let errors = &message["payload"]["errors"];
        let refused_before_running = errors.as_array().is_some_and(|errors| {
            !errors.is_empty()
                && errors.iter().all(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .and_then(ErrorCode::from_code)
                        .is_some_and(ErrorCode::is_pre_execution)
                })
        });
        let Some(id) = message["id"].as_str().filter(|_| refused_before_running) else {
            return Some(text);
        };
        self.refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id.to_owned());
        Some(serde_json::json!({ "type": "error", "id": id, "payload": errors }).to_string())
    }

    fn duplicate_id(&self) -> String {
        self.duplicate_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// The graphql-ws protocol's close codes where async-graphql's differ.
fn close_code(session: &Session, code: u16, reason: String) -> (u16, String) {
    match code {
        1002 if session.refused.load(Ordering::SeqCst) => (4403, truncate(reason)),
        1002 if session.failed.load(Ordering::SeqCst) => (1011, "internal error".to_owned()),
        // A message that is not JSON or not a protocol message.
        1002 => (4400, truncate(reason)),
        1011 => (4401, "Unauthorized".to_owned()),
        _ => (code, truncate(reason)),
    }
}

/// A close reason must fit in 123 bytes.
fn truncate(mut reason: String) -> String {
    if reason.len() > 120 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Runs each operation of a connection with the connection's viewer and fresh request data.
#[derive(Clone)]
struct ConnectionExecutor {
    state: AppState,
    session: Arc<Session>,
    slots: ConnectionSlots,
    /// The client's address: the anonymous caller's rate-limit key.
    address: Option<std::net::IpAddr>,
}

impl ConnectionExecutor {
    /// The request with the document its persisted-query hash names, or the refusal (as
    /// over HTTP: an unknown hash, a hash that does not match, and in persisted-only mode
    /// an untrusted text or a registration). A request with neither a query nor a hash
    /// goes on as it is, and the engine refuses its empty document.
    fn resolve_persisted(&self, mut request: Request) -> Result<Request, ServerError> {
        let extensions = request
            .extensions
            .get("persistedQuery")
            .and_then(|p| p.clone().into_json().ok())
            .map(|p| serde_json::json!({ "persistedQuery": p }));
        let query = std::mem::take(&mut request.query);
        let refusal =
            |code: ErrorCode, message: &str| with_code(ServerError::new(message, None), code);
        match self
            .state
            .apq
            .resolve(Some(query.clone()), extensions.as_ref())
        {
            Ok(document) => {
                request.query = document;
                Ok(request)
            }
            Err(ApqError::Missing) => {
                request.query = query;
                Ok(request)
            }
            Err(ApqError::NotFound) => Err(refusal(
                ErrorCode::PersistedQueryNotFound,
                "PersistedQueryNotFound",
            )),
            Err(ApqError::Mismatch) => Err(refusal(
                ErrorCode::BadUserInput,
                "provided sha256Hash does not match the query",
            )),
            Err(err @ (ApqError::NotTrusted | ApqError::RegistrationRefused)) => Err(refusal(
                ErrorCode::PersistedQueryRequired,
                super::apq::refusal(&err),
            )),
        }
    }
}

impl Executor for ConnectionExecutor {
    async fn execute(&self, request: Request) -> Response {
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: Request,
        _session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let request = match self.resolve_persisted(request) {
            Ok(request) => request,
            Err(refusal) => {
                let response = Response::from_errors(super::coded_errors(vec![refusal]));
                return futures::stream::once(std::future::ready(response)).boxed();
            }
        };
        let viewer = self
            .session
            .viewer()
            .map_or(Viewer::Anonymous, |(viewer, _)| viewer);
        // Each operation takes a token from the caller's request bucket.
        let caller = super::caller_of(&viewer, self.address);
        if let Err(RetryAfter(seconds)) = self.state.rate_limits.check_request(&caller) {
            let mut refusal = with_code(
                ServerError::new(format!("too many requests: retry in {seconds} s"), None),
                ErrorCode::RateLimited,
            );
            refusal
                .extensions
                .get_or_insert_with(Default::default)
                .set("retryAfter", seconds);
            let response = Response::from_errors(super::coded_errors(vec![refusal]));
            return futures::stream::once(std::future::ready(response)).boxed();
        }
        let span = telemetry::request_span("WS", "/graphql");
        span.record("viewer", viewer_kind(&viewer));
        let tasks = LocalTasks::default();
        let mut ctx = RequestCtx::new(viewer, self.state.db.clone(), self.state.limits, &tasks);
        ctx.writes = Some(CallerBucket {
            limits: self.state.rate_limits.clone(),
            caller,
        });
        let request = request
            .data(ctx)
            .data(self.state.realtime.clone())
            .data(self.slots.clone());
        let mut responses = self.state.schema.execute_stream(request);
        let limits = self.state.limits;
        let hub = self.state.realtime.clone();
        // Task-locals the operation reads (page limits, the realtime hub) are set around
        // every poll, since the stream runs inside the connection's task.
        let scoped = futures::stream::poll_fn(move |cx| {
            crate::graphql::PAGE_LIMITS.sync_scope(limits, || {
                crate::realtime::HUB.sync_scope(hub.clone(), || responses.poll_next_unpin(cx))
            })
        });
        let responses = tasks.drive_stream(scoped).map(|mut response: Response| {
            response.errors = super::coded_errors(std::mem::take(&mut response.errors));
            response
        });
        Logged {
            responses,
            span,
            statements: RequestStatements::default(),
            started: Instant::now(),
            codes: Vec::new(),
        }
        .boxed()
    }
}

/// One WebSocket operation's results, polled in its `request` span with its statements
/// counted; its line is written when the operation ends, which is when this is dropped.
struct Logged<S> {
    responses: S,
    span: tracing::Span,
    statements: RequestStatements,
    started: Instant,
    /// The error codes of every result so far.
    codes: Vec<&'static str>,
}

impl<S: futures::Stream<Item = Response> + Unpin> futures::Stream for Logged<S> {
    type Item = Response;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Response>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let polled = this
            .statements
            .count_sync(|| this.responses.poll_next_unpin(cx));
        if let std::task::Poll::Ready(Some(response)) = &polled {
            this.codes.extend(
                response
                    .errors
                    .iter()
                    .filter_map(crate::graphql::errors::code_of)
                    .map(ErrorCode::as_str),
            );
        }
        polled
    }
}

impl<S> Drop for Logged<S> {
    fn drop(&mut self) {
        let codes = telemetry::join_codes(self.codes.iter().copied());
        if !codes.is_empty() {
            self.span.record("error_codes", codes.as_str());
        }
        self.span
            .record("sql_statements", self.statements.get_i64());
        telemetry::end_request(&self.span, None, self.started.elapsed());
    }
}
