//! Request logs and OpenTelemetry traces: the one `tracing` subscriber of the binary.
//!
//! Logs go to stderr, filtered by `RUST_LOG` (default `confab=info,warn`), as text or as
//! one JSON object per line (`--log-format`; by default text on a terminal, JSON
//! otherwise), with ANSI colours only on a terminal. Each HTTP request and each WebSocket
//! operation is a `request` span ([`request_span`]) whose fields are recorded as they
//! become known; one event at its end ([`end_request`]) writes the line. The fields never
//! hold a token, variables or content.
//!
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the same spans also go out over OTLP/HTTP
//! (protobuf), with the debug-level spans of dataloader batches (target `confab::loader`)
//! and SQL statements (`confab::sql`: the statement text with its placeholders, never
//! the bound values) below them, and the request span's parent taken from a W3C
//! `traceparent` header. Only spans of confab's own targets are exported, not
//! sea-orm's (whose events carry the values) nor any event. When the variable is unset,
//! the exporter, its layer and the propagator are not installed at all: the batch and
//! statement spans are debug-level, disabled by the default filter at their call sites,
//! so they cost one check of an atomic interest each.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The format of log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (`request{method=POST path=/graphql status=200 ...}`).
    Text,
    /// One JSON object per line, the request's fields under `span`.
    Json,
}

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "confab=info,warn";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The installed subscriber; dropping it flushes the spans not yet exported.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(err) = provider.shutdown() {
                eprintln!("confab: flushing traces failed: {err}");
            }
        }
    }
}

/// Whether traces are being exported (`OTEL_EXPORTER_OTLP_ENDPOINT` was set at start).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Installs the subscriber: logs in `format` (None: text on a terminal, else JSON), plus
/// the OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Call it outside any tokio
/// runtime (the exporter's blocking HTTP client makes its own), once.
pub fn init(format: Option<LogFormat>) -> Result<Telemetry, String> {
    let terminal = std::io::stderr().is_terminal();
    let format = format.unwrap_or(if terminal {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into());
    let logs = log_layer(format, terminal, filter);
    let endpoint_set = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")
        .or_else(|| std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .is_some_and(|v| !v.is_empty());
    let provider = endpoint_set.then(tracer_provider).transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("confab"))
            .with_filter(filter_fn(|meta| {
                meta.is_span()
                    && (meta.target() == "confab" || meta.target().starts_with("confab::"))
            }))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    EXPORTING.store(provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry { provider })
}

/// The log lines on stderr, filtered by `filter` (`RUST_LOG`).
fn log_layer<S>(format: LogFormat, ansi: bool, filter: EnvFilter) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let lines = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .boxed(),
    };
    lines.with_filter(filter).boxed()
}

/// The OTLP/HTTP exporter behind a batch processor, both configured by the standard
/// `OTEL_*` variables; the service is `confab` unless `OTEL_SERVICE_NAME` says otherwise.
fn tracer_provider() -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("confab");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The span of one HTTP request or WebSocket operation. `method` and `path` are known at
/// once (the path without its query string, which may hold variables); the others are
/// recorded as they become known: `status` and `duration_ms` by [`end_request`],
/// `operation_name` and `operation_type` when the document is parsed, `viewer` (kind
/// only) when the caller is known, `error_codes`, and `sql_statements` (the statements
/// run on the request's behalf). A field never recorded is left out of the line.
pub fn request_span(method: &str, path: &str) -> Span {
    tracing::info_span!(
        "request",
        method = %method,
        path = %path,
        status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
        operation_name = tracing::field::Empty,
        operation_type = tracing::field::Empty,
        viewer = tracing::field::Empty,
        error_codes = tracing::field::Empty,
        sql_statements = tracing::field::Empty,
    )
}

/// Records the end of a request in its span and writes its line.
pub fn end_request(span: &Span, status: Option<u16>, elapsed: std::time::Duration) {
    if let Some(status) = status {
        span.record("status", i64::from(status));
    }
    span.record("duration_ms", millis(elapsed));
    span.in_scope(|| tracing::info!("request"));
}

/// Makes the trace of a W3C `traceparent` (and `tracestate`) header the parent of `span`,
/// when traces are exported; nothing otherwise.
pub fn adopt_remote_parent(span: &Span, headers: &http::HeaderMap) {
    if !exporting() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderText(headers));
    if span.set_parent(parent).is_err() {
        tracing::debug!("the request span has no trace to join");
    }
}

struct HeaderText<'a>(&'a http::HeaderMap);

impl Extractor for HeaderText<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Records the distinct error codes of a request (`NOT_FOUND,BAD_USER_INPUT`) in the
/// current request span; nothing when there are none.
pub fn record_error_codes<'a>(codes: impl IntoIterator<Item = &'a str>) {
    let joined = join_codes(codes);
    if !joined.is_empty() {
        Span::current().record("error_codes", joined.as_str());
    }
}

/// Distinct codes, in the order they first appear, comma-separated.
pub fn join_codes<'a>(codes: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for code in codes {
        if !seen.contains(&code) {
            seen.push(code);
        }
    }
    seen.join(",")
}

/// A span's duration in milliseconds, to the microsecond.
pub fn millis(elapsed: std::time::Duration) -> f64 {
    (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_joined_once_each_in_order() {
        assert_eq!(
            join_codes(["NOT_FOUND", "BAD_USER_INPUT", "NOT_FOUND"]),
            "NOT_FOUND,BAD_USER_INPUT"
        );
        assert_eq!(join_codes([]), "");
    }

    /// Without the exporter, the statement and loader-batch spans are disabled at their
    /// call sites by the default filter (their fields are never evaluated), while the
    /// request span the log needs is enabled.
    #[test]
    fn trace_only_spans_cost_nothing_without_the_exporter() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let subscriber = tracing_subscriber::registry().with(log_layer(
                format,
                false,
                EnvFilter::new(DEFAULT_FILTER),
            ));
            tracing::subscriber::with_default(subscriber, || {
                let mut evaluated = false;
                let sql = tracing::debug_span!(
                    target: "confab::sql",
                    "sql",
                    db.query.text = {
                        evaluated = true;
                        "SELECT 1"
                    }
                );
                assert!(sql.is_disabled());
                assert!(!evaluated, "a disabled span's fields are not evaluated");
                let loader = tracing::debug_span!(target: "confab::loader", "loader");
                assert!(loader.is_disabled());
                assert!(!request_span("POST", "/graphql").is_disabled());
            });
        }
    }

    #[test]
    fn millis_keep_microseconds() {
        assert_eq!(
            millis(std::time::Duration::from_micros(1_234_567)),
            1234.567
        );
    }
}
