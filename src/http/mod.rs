//! The axum router: `/graphql` (POST, GET, the GraphiQL page), `/graphql/schema.graphql`
//! (the SDL, when introspection is on), health, readiness and metrics. GraphQL over HTTP follows the GraphQL-over-HTTP spec: JSON POST, GET for
//! queries only (a mutation over GET is 405 with `Allow: POST`), a body that is not a
//! GraphQL request or a document that does not parse is 400, a token failure is 401 with
//! `UNAUTHENTICATED` (see [`auth`]). Transport-level refusals carry `BAD_USER_INPUT`; every
//! status follows from an [`ErrorCode`].
//!
//! Every request runs in a `request` span (tower-http's `TraceLayer`, outermost, see
//! `crate::telemetry`), which the handlers fill in: the viewer's kind, the error codes of
//! the answer, the statements run for it; one line is written when the response is ready.

pub mod apq;
pub mod auth;
pub mod cors;
pub mod downloads;
pub mod graphiql;
pub mod serve;
pub mod uploads;
pub mod ws;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use self::auth::{AuthRejection, Authenticated};
use crate::auth::{Authenticator, Viewer};
use crate::db::RequestStatements;
use crate::error::{ErrorCode, ResponseMedia};
use crate::graphql::errors::{code_of, with_code};
use crate::graphql::local_tasks::LocalTasks;
use crate::graphql::operation_fields::selected_operation;
use crate::graphql::{AppSchema, RequestCtx};
use crate::metrics;
use crate::paging::PageLimits;
use crate::rate_limit::{Caller, CallerBucket, RateLimits, RetryAfter};
use crate::telemetry;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
    pub auth: Authenticator,
    pub limits: PageLimits,
    pub apq: Arc<apq::PersistedQueries>,
    /// Credits a new user's account starts with.
    pub signup_credits: u32,
    /// Subscriptions: this instance's hub and the WebSocket settings.
    pub realtime: crate::realtime::Realtime,
    pub ws: ws::WsSettings,
    /// The SDL served at `GET /graphql/schema.graphql`: Some exactly when introspection is
    /// on (computed once at start; as large as `schema.graphql`).
    pub sdl: Option<Arc<str>>,
    /// The origins whose pages may call the gateway (CORS, WebSocket upgrades).
    pub cors: cors::Origins,
    /// Development mode only: the demo user's token, which GraphiQL's headers editor opens
    /// with (the same token `confab serve` prints).
    pub dev_token: Option<Arc<str>>,
    /// Per-caller request and write buckets (`crate::rate_limit`).
    pub rate_limits: Arc<RateLimits>,
    /// The largest GraphQL response body sent over HTTP, bytes (`--max-response-bytes`).
    pub max_response_bytes: usize,
    /// [files] The object store of uploads and downloads.
    pub storage: crate::storage::Storage,
    /// The largest JSON body (`--body-limit`); in a multipart request, the limit of its
    /// `operations` and `map` parts.
    pub body_limit: usize,
}

/// The client's IP address, when the server was started with connect info (the anonymous
/// caller's rate-limit key). Proxy headers (`X-Forwarded-For`) are not trusted.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(&parts.extensions)))
    }
}

pub(crate) fn client_address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The bucket key of a viewer.
pub(crate) fn caller_of(viewer: &Viewer, address: Option<IpAddr>) -> Caller {
    match viewer {
        Viewer::User(user) => Caller::User(user.id),
        Viewer::Service => Caller::Service,
        Viewer::Anonymous => Caller::Anonymous(address),
    }
}

/// 429 `RATE_LIMITED` with `Retry-After`.
fn rate_limited(retry: RetryAfter, what: &str, media: ResponseMedia) -> Response {
    let mut response = refuse(
        ErrorCode::RateLimited,
        &format!("too many {what}: retry in {} s", retry.0),
        media,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry.0));
    response
}

pub fn router(state: AppState, body_limit: usize) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::temporary("/graphql") }),
        )
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphiql/assets/{name}", get(graphiql::asset))
        .route("/graphql/schema.graphql", get(schema_sdl))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/files/{bucket}/{name}", get(downloads::download))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(state.cors.layer())
        .layer(axum::middleware::from_fn(cors::preflight_no_content))
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::middleware::from_fn(count_statements))
        // tower-http's own events (request, body chunks, failures) are off: one line per
        // request, at the response.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(request_line)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .with_state(state)
}

/// The request's span (see `crate::telemetry`), its parent taken from a `traceparent`
/// header when traces are exported.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let span = telemetry::request_span(request.method().as_str(), request.uri().path());
    telemetry::adopt_remote_parent(&span, request.headers());
    span
}

/// The request's line, once its response is ready.
fn request_line(response: &Response, latency: std::time::Duration, span: &tracing::Span) {
    telemetry::end_request(span, Some(response.status().as_u16()), latency);
}

/// Counts the SQL statements run for the request (authentication included) into its span.
async fn count_statements(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let statements = RequestStatements::default();
    let response = statements.count(next.run(request)).await;
    tracing::Span::current().record("sql_statements", statements.get_i64());
    response
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    refuse(ErrorCode::Internal, "internal error", ResponseMedia::Json)
}

async fn record_metrics(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = match request.uri().path() {
        "/graphql" => "/graphql",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/graphql/schema.graphql" => "/graphql/schema.graphql",
        p if p.starts_with("/graphiql/") => "/graphiql",
        p if p.starts_with("/files/") => "/files",
        _ => "other",
    };
    let started = Instant::now();
    let in_flight = metrics::request_in_flight();
    let response = next.run(request).await;
    drop(in_flight);
    metrics::record_request(
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// How long one readiness check may take before it counts as down: a database that does
/// not answer cannot hang the probe.
const READINESS_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /readyz`: each dependency's state as JSON, 200 when all are up, 503 otherwise.
/// Cost: one `ping` from the pool, then a write transaction that writes no row and is
/// rolled back (the database must take writes: a read-only SQLite file is not ready),
/// and a flag read, side by side, each bounded by [`READINESS_CHECK_TIMEOUT`]: the probe
/// answers within about 2 s whatever happens.
async fn readyz(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let database_check = async {
        state
            .db
            .ping()
            .await
            .map_err(|err| (err, "the database refused the check"))?;
        crate::db::check_writable(&state.db)
            .await
            .map_err(|err| (err, "the database cannot be written"))
    };
    // The checks run side by side, each within its bound.
    let (database, listener, storage) = tokio::join!(
        tokio::time::timeout(READINESS_CHECK_TIMEOUT, database_check),
        tokio::time::timeout(READINESS_CHECK_TIMEOUT, state.realtime.listener_connected()),
        tokio::time::timeout(READINESS_CHECK_TIMEOUT, state.storage.check()),
    );
    let timed_out = format!("no answer within {} s", READINESS_CHECK_TIMEOUT.as_secs());
    let mut checks = serde_json::Map::new();
    let database = match database {
        Ok(Ok(())) => serde_json::json!({
            "status": "up",
            "latency_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
        Ok(Err((err, why))) => {
            tracing::warn!(error = %err, "readiness: {why}");
            serde_json::json!({ "status": "down", "error": why })
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            serde_json::json!({ "status": "down", "error": timed_out })
        }
    };
    checks.insert("database".to_owned(), database);
    // Postgres only: the LISTEN connection that brings other gateways' events (a flag,
    // read once the listener's first attempt after the start is over).
    let listener = match listener {
        Ok(None) => None,
        Ok(Some(true)) => Some(serde_json::json!({ "status": "up" })),
        Ok(Some(false)) => Some(serde_json::json!({ "status": "down" })),
        Err(_) => Some(serde_json::json!({ "status": "down", "error": timed_out })),
    };
    if let Some(listener) = listener {
        checks.insert("listener".to_owned(), listener);
    }
    // The object store: uploads and downloads need it (a listing of one bucket).
    let storage = match storage {
        Ok(Ok(())) => serde_json::json!({ "status": "up" }),
        Ok(Err(why)) => serde_json::json!({ "status": "down", "error": why }),
        Err(_) => serde_json::json!({ "status": "down", "error": timed_out }),
    };
    checks.insert("storage".to_owned(), storage);
    // Ready means requests can be answered: the database decides (DESIGN.md). A lost
    // listener only delays other gateways' events to this one's subscribers, so it shows
    // as `degraded` with 200, rather than taking every gateway out of service at once.
    let all_up = checks.values().all(|check| check["status"] == "up");
    let (status, word) =
        if checks["database"]["status"] != "up" || checks["storage"]["status"] != "up" {
            (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
        } else if all_up {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::OK, "degraded")
        };
    json_response(
        status,
        serde_json::json!({ "status": word, "checks": checks }),
        ResponseMedia::Json,
    )
}

/// `GET /graphql/schema.graphql`: what `confab export-schema` prints, when introspection is
/// on; 404 when it is off (the schema is then not published at all).
async fn schema_sdl(State(state): State<AppState>) -> Response {
    match state.sdl {
        Some(sdl) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            sdl.to_string(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "introspection is off on this server").into_response(),
    }
}

/// `GET /metrics`: the process's metrics and this gateway's pool and queue gauges (read
/// now: no statement, one walk over the subscribers).
async fn metrics_text(State(state): State<AppState>) -> Response {
    let (pool_in_use, pool_idle) = crate::db::pool_connections(&state.db);
    let scrape = metrics::Scrape {
        pool_in_use,
        pool_idle,
        pool_waiting: crate::db::writes_waiting(&state.db),
        queued_events: state.realtime.queued_events(),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&scrape),
    )
        .into_response()
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// `application/graphql-response+json` when the client asked for it, else JSON.
fn media_of(headers: &HeaderMap) -> ResponseMedia {
    let wanted = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE));
    if wanted {
        ResponseMedia::GraphqlResponse
    } else {
        ResponseMedia::Json
    }
}

fn json_response(status: StatusCode, body: serde_json::Value, media: ResponseMedia) -> Response {
    json_bytes_response(status, body.to_string().into_bytes(), media)
}

fn json_bytes_response(status: StatusCode, body: Vec<u8>, media: ResponseMedia) -> Response {
    let content_type = match media {
        ResponseMedia::GraphqlResponse => GRAPHQL_RESPONSE,
        ResponseMedia::Json => "application/json",
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A request refused before any operation ran: one error with `code`, at its status.
fn refuse(code: ErrorCode, message: &str, media: ResponseMedia) -> Response {
    refuse_with(code.http_status(media), code, message, media)
}

/// As [`refuse`], at a status that says more than the code's (405, 413, 415).
fn refuse_with(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    media: ResponseMedia,
) -> Response {
    let retryable = code.is_retryable();
    let code = code.as_str();
    metrics::record_graphql_error(code);
    telemetry::record_error_codes([code]);
    let mut response = json_response(
        status,
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }),
        media,
    );
    if retryable {
        set_retry_after(&mut response);
    }
    response
}

/// The query string of `GET /graphql`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions, which authenticate at
/// `connection_init`), else the GraphiQL page or a query.
async fn graphql_get(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    if ws::is_upgrade(request.headers()) {
        return ws::upgrade(state, request).await;
    }
    graphql_get_query.call(request, state).await
}

/// The caller's refusal waits in `execute`: a query string that cannot be read is 400, and
/// the GraphiQL page is served, whatever the token.
async fn graphql_get_query(
    State(state): State<AppState>,
    caller: Result<Authenticated, AuthRejection>,
    address: ClientAddress,
    headers: HeaderMap,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let media = media_of(&headers);
    let Ok(Query(params)) = params else {
        return refuse(
            ErrorCode::BadUserInput,
            "the query string could not be read",
            media,
        );
    };
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if accepts_html && !params.contains_key("query") && !params.contains_key("extensions") {
        let mut notices = Vec::new();
        if state.sdl.is_none() {
            notices.push(graphiql::INTROSPECTION_OFF_NOTICE);
        }
        if state.apq.persisted_only() {
            notices.push(graphiql::PERSISTED_ONLY_NOTICE);
        }
        let bearer = state.dev_token.as_ref().map(|t| format!("Bearer {t}"));
        let dev_headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("Authorization", b.as_str()))
            .collect();
        let options = graphiql::PageOptions {
            notices: &notices,
            no_introspection: state.sdl.is_none(),
            // Same path: GET /graphql with an upgrade is the WebSocket.
            subscription_endpoint: Some("/graphql"),
            default_headers: &dev_headers,
        };
        return graphiql::page_with("/graphql", &options).into_response();
    }
    let params = GetParams {
        query: params.get("query").cloned(),
        operation_name: params.get("operationName").cloned(),
        variables: params.get("variables").cloned(),
        extensions: params.get("extensions").cloned(),
    };
    let parse_json = |text: &Option<String>| -> Option<serde_json::Value> {
        match text {
            None => Some(serde_json::Value::Null),
            Some(t) => serde_json::from_str(t).ok(),
        }
    };
    let (Some(variables), Some(extensions)) = (
        parse_json(&params.variables),
        parse_json(&params.extensions),
    ) else {
        return refuse(
            ErrorCode::BadUserInput,
            "`variables` and `extensions` must be JSON",
            media,
        );
    };
    let body = serde_json::json!({
        "query": params.query,
        "operationName": params.operation_name,
        "variables": variables,
        "extensions": extensions,
    });
    execute(
        state,
        caller,
        address,
        headers,
        Method::GET,
        body,
        media,
        None,
    )
    .await
}

/// The caller's refusal waits in `execute`: a body that cannot be read is refused first.
async fn graphql_post(
    State(state): State<AppState>,
    caller: Result<Authenticated, AuthRejection>,
    address: ClientAddress,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let media = media_of(&headers);
    // [files] Uploads stream part by part (see `uploads`); the rest is read whole, within
    // `--body-limit`.
    if uploads::is_multipart(&headers) {
        let body = request.into_body();
        return uploads::multipart(state, caller, address, headers, body, media).await;
    }
    let body: Result<Bytes, BytesRejection> =
        <Bytes as axum::extract::FromRequest<AppState>>::from_request(request, &state).await;
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let (status, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                (status, "the request body is larger than the limit")
            } else if serve::is_body_timeout(&rejection) {
                // The connection is closed after this answer: its body was not read.
                (
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time",
                )
            } else {
                (status, "the request body could not be read")
            };
            return refuse_with(status, ErrorCode::BadUserInput, message, media);
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.is_empty() && !content_type.starts_with("application/json") {
        return refuse_with(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "send the request as application/json",
            media,
        );
    }
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Array(_)) => {
            return refuse(ErrorCode::BadUserInput, BATCH_REFUSED, media);
        }
        Ok(v) => v,
        Err(_) => {
            return refuse(
                ErrorCode::BadUserInput,
                "the request body is not valid JSON",
                media,
            )
        }
    };
    execute(
        state,
        caller,
        address,
        headers,
        Method::POST,
        body,
        media,
        None,
    )
    .await
}

/// The answer to a batch (a JSON array of operations, as Apollo's `BatchHttpLink` sends):
/// one operation per request keeps every limit (depth, complexity, rate) per request.
const BATCH_REFUSED: &str = "batched requests (a JSON array of operations) are not accepted: \
     send one operation per request (Apollo Client: HttpLink, not BatchHttpLink)";

/// A GraphQL request as it arrives over HTTP, before APQ resolution.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<serde_json::Value>,
    extensions: Option<serde_json::Value>,
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    state: AppState,
    caller: Result<Authenticated, AuthRejection>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    method: Method,
    body: serde_json::Value,
    media: ResponseMedia,
    uploads: Option<crate::graphql::files::Uploads>,
) -> Response {
    // The caller first: a bad token is refused whatever else is wrong. A failure to make a
    // user's rows is answered once the request is known to be one that would run.
    let caller = match caller {
        Err(rejection) if rejection.is_bad_token() => return rejection.into_response(),
        caller => caller,
    };
    // Then the caller's request bucket, before anything else is done for them.
    let bucket = match &caller {
        Ok(Authenticated(viewer)) => caller_of(viewer, address),
        Err(_) => Caller::Anonymous(address),
    };
    if let Err(retry) = state.rate_limits.check_request(&bucket) {
        return rate_limited(retry, "requests", media);
    }
    let raw =
        match serde_json::from_value::<RawRequest>(body) {
            Ok(r)
                if r.variables
                    .as_ref()
                    .is_none_or(|v| v.is_object() || v.is_null()) =>
            {
                r
            }
            _ => return refuse(
                ErrorCode::BadUserInput,
                "the body is not a GraphQL request (query, operationName, variables, extensions)",
                media,
            ),
        };
    let query = match state.apq.resolve(raw.query, raw.extensions.as_ref()) {
        Ok(q) => q,
        Err(apq::ApqError::NotFound) => {
            return refuse(
                ErrorCode::PersistedQueryNotFound,
                "PersistedQueryNotFound",
                media,
            )
        }
        Err(apq::ApqError::Mismatch) => {
            return refuse(
                ErrorCode::BadUserInput,
                "provided sha256Hash does not match the query",
                media,
            )
        }
        Err(apq::ApqError::Missing) => {
            return refuse(ErrorCode::BadUserInput, "the request has no query", media)
        }
        Err(err @ (apq::ApqError::NotTrusted | apq::ApqError::RegistrationRefused)) => {
            return refuse(ErrorCode::PersistedQueryRequired, apq::refusal(&err), media)
        }
    };
    // Parsed once, here; the engine takes the parsed document (a document that does not
    // parse is left to the engine, which says why).
    let parsed = async_graphql::parser::parse_query(&query).ok();
    if let Some(document) = &parsed {
        if let Err(err) = crate::graphql::guard::selected(document, raw.operation_name.as_deref()) {
            return refuse(ErrorCode::BadUserInput, &err.message, media);
        }
    }
    let get_mutation = parsed
        .as_ref()
        .filter(|_| method == Method::GET)
        .map(|document| selected_operation(document, raw.operation_name.clone()))
        .filter(|(_, ty)| *ty == Some(OperationType::Mutation));
    if let Some((name, _)) = get_mutation {
        let span = tracing::Span::current();
        span.record("operation_type", "mutation");
        if let Some(name) = name {
            span.record("operation_name", name.as_str());
        }
        let mut response = refuse_with(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadUserInput,
            "mutations need POST",
            media,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let viewer = match caller {
        Ok(Authenticated(viewer)) => viewer,
        Err(rejection) => return rejection.into_response(),
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(document) = parsed {
        request.set_parsed_query(document);
    }
    if let Some(name) = raw.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = raw.variables {
        request = request.variables(Variables::from_json(vars));
    }
    let tasks = LocalTasks::default();
    let mut ctx = RequestCtx::new(viewer, state.db.clone(), state.limits, &tasks);
    ctx.writes = Some(CallerBucket {
        limits: state.rate_limits.clone(),
        caller: bucket,
    });
    ctx.user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut request = request.data(ctx);
    if let Some(uploads) = uploads {
        request = request.data(uploads);
    }
    let execution = crate::graphql::PAGE_LIMITS.scope(
        state.limits,
        crate::realtime::HUB.scope(state.realtime.clone(), state.schema.execute(request)),
    );
    let mut response = tasks.run(execution).await;
    response.errors = coded_errors(std::mem::take(&mut response.errors));
    telemetry::record_error_codes(
        response
            .errors
            .iter()
            .filter_map(code_of)
            .map(ErrorCode::as_str),
    );
    // Writes over the caller's bucket: refused before anything ran, 429.
    let write_limited = (response.data == async_graphql::Value::Null)
        .then(|| {
            response.errors.iter().find_map(|e| {
                let retry = e.extensions.as_ref()?.get("retryAfter")?;
                match (code_of(e), retry) {
                    (Some(ErrorCode::RateLimited), async_graphql::Value::Number(n)) => n.as_u64(),
                    _ => None,
                }
            })
        })
        .flatten();
    // A document refused before it ran sets the status; errors of an operation that ran
    // are reported in a 200, unless the database could not answer (503, retry later).
    let retryable = response
        .errors
        .iter()
        .filter_map(code_of)
        .find(|code| code.is_retryable());
    let status = match retryable {
        Some(code) => code.http_status(media),
        None => response
            .errors
            .iter()
            .filter_map(code_of)
            .filter(|code| code.is_pre_execution())
            .map(|code| code.http_status(media))
            .max()
            .unwrap_or(StatusCode::OK),
    };
    let status = if write_limited.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        status
    };
    // Written straight into the body, and given up as soon as it passes the limit: a
    // response over it costs at most the limit, never a second copy of itself.
    let mut body = LimitedBuffer::new(state.max_response_bytes);
    match serde_json::to_writer(&mut body, &response) {
        Ok(()) => {
            let mut answer = json_bytes_response(status, body.bytes, media);
            if let Some(seconds) = write_limited {
                answer
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            } else if retryable.is_some() {
                set_retry_after(&mut answer);
            }
            answer
        }
        Err(_) if body.overflowed => {
            drop(body);
            drop(response);
            refuse(
                ErrorCode::QueryTooComplex,
                &format!(
                    "the response would be larger than {} bytes: ask for fewer fields or \
                     smaller pages (mutations in the request have run)",
                    state.max_response_bytes
                ),
                media,
            )
        }
        Err(_) => refuse(ErrorCode::Internal, "internal error", media),
    }
}

/// A response body that refuses to grow past its limit.
struct LimitedBuffer {
    bytes: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl LimitedBuffer {
    fn new(limit: usize) -> Self {
        LimitedBuffer {
            bytes: Vec::new(),
            limit,
            overflowed: false,
        }
    }
}

impl std::io::Write for LimitedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + data.len() > self.limit {
            self.overflowed = true;
            return Err(std::io::Error::other("the response is over the limit"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `Retry-After` on an answer that says "not now" (503 `SERVICE_UNAVAILABLE`).
fn set_retry_after(response: &mut Response) {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::error::RETRY_AFTER_SECS),
    );
}

/// Every error of a response with a code (`INTERNAL` where none was set), counted by code
/// in the metrics: for HTTP and WebSocket operations alike.
pub(crate) fn coded_errors(errors: Vec<ServerError>) -> Vec<ServerError> {
    errors
        .into_iter()
        .map(|e| {
            let e = with_code(e, ErrorCode::Internal);
            let code = code_of(&e).unwrap_or(ErrorCode::Internal);
            metrics::record_graphql_error(code.as_str());
            e
        })
        .collect()
}
