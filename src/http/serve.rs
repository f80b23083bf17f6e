//! The accept loop: HTTP/1.1 connections served by hyper with the limits axum's `serve`
//! does not set. A request's headers must arrive within the header read timeout, and its
//! body within the body read timeout of the headers (a half-sent request is closed, its
//! connection freed); at most `max_connections` are open at once (further clients wait in
//! the listen backlog; a WebSocket keeps its connection's place until it closes); on
//! shutdown the listener is closed, idle connections are closed, requests in flight get at
//! most the drain timeout to finish, and whatever is left is dropped.
//!
//! Cost: one semaphore permit, one task and one timer per connection; one timer per
//! request body.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::Router;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// The limits of the accept loop (`--header-read-timeout`, `--body-read-timeout`,
/// `--max-connections`, `--drain-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    pub drain_timeout: Duration,
}

/// One open connection's place under `max_connections`. A WebSocket upgrade takes it from
/// the request's extensions and keeps it for the socket's life.
#[derive(Clone)]
pub struct ConnectionPlace(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// What a shutdown left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Connections still open when the drain timeout ran out (then dropped).
    pub cut: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains (see the module
/// doc). Accept errors (e.g. out of file descriptors) are logged and retried after a pause.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let places = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection task holds a receiver: `closed()` tells when all have ended.
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let place = tokio::select! {
            place = places.clone().acquire_owned() => place,
            () = &mut shutdown => break,
        };
        let Ok(place) = place else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let place = ConnectionPlace(Arc::new(place));
        tokio::spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            limits,
            place,
            stopped.clone(),
        ));
    }
    drop(listener);
    drop(stopped);
    stop.send_replace(true);
    let open = || stop.receiver_count();
    match tokio::time::timeout(limits.drain_timeout, stop.closed()).await {
        Ok(()) => Drained { cut: 0 },
        Err(_) => Drained { cut: open() },
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    place: ConnectionPlace,
    mut stopped: watch::Receiver<bool>,
) {
    let body_timeout = limits.body_read_timeout;
    let connection_place = place.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request: Request =
            request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
        request.extensions_mut().insert(connection_place.clone());
        // The client's address, as axum's `into_make_service_with_connect_info` gives it
        // (the anonymous caller's rate-limit key).
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(request).await.into_response()) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let result = if *stopped.borrow() {
        connection.as_mut().graceful_shutdown();
        connection.await
    } else {
        tokio::select! {
            result = connection.as_mut() => result,
            _ = stopped.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection closed");
    }
    drop(place);
}

/// Why a request body was not read: it did not arrive within the body read timeout.
#[derive(Debug)]
pub struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// Whether `err` (or one of its causes) is a [`BodyTimedOut`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<BodyTimedOut>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// A request body that fails with [`BodyTimedOut`] once its deadline (set when the
/// headers arrived) passes, however the bytes trickle in.
struct DeadlineBody {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(body: Incoming, timeout: Duration) -> Self {
        DeadlineBody {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Pin::new(&mut self.body)
            .poll_frame(cx)
            .map_err(|err| Box::new(err) as Self::Error)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
