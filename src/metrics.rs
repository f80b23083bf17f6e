//! Prometheus metrics: requests, latency, errors by code, SQL statements.

use std::sync::OnceLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    errors: IntCounterVec,
    statements: IntCounter,
    failed_statements: IntCounter,
    subscriptions: IntGauge,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "confab_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("static metric definition is valid");
        let duration = HistogramVec::new(
            HistogramOpts::new("confab_request_duration_seconds", "HTTP request latency"),
            &["route"],
        )
        .expect("static metric definition is valid");
        let errors = IntCounterVec::new(
            Opts::new("confab_graphql_errors_total", "GraphQL errors by code"),
            &["code"],
        )
        .expect("static metric definition is valid");
        let statements = IntCounter::new("confab_sql_statements_total", "SQL statements sent")
            .expect("static metric definition is valid");
        let failed_statements = IntCounter::new(
            "confab_sql_statement_errors_total",
            "SQL statements that failed",
        )
        .expect("static metric definition is valid");
        let subscriptions = IntGauge::new(
            "confab_subscriptions",
            "GraphQL subscriptions this process serves",
        )
        .expect("static metric definition is valid");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(errors.clone()),
            Box::new(statements.clone()),
            Box::new(failed_statements.clone()),
            Box::new(subscriptions.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            requests,
            duration,
            errors,
            statements,
            failed_statements,
            subscriptions,
        }
    })
}

pub fn record_request(route: &str, status: u16, seconds: f64) {
    let m = metrics();
    m.requests
        .with_label_values(&[route, &status.to_string()])
        .inc();
    m.duration.with_label_values(&[route]).observe(seconds);
}

pub fn record_graphql_error(code: &str) {
    metrics().errors.with_label_values(&[code]).inc();
}

pub fn record_sql_statement(failed: bool) {
    let m = metrics();
    m.statements.inc();
    if failed {
        m.failed_statements.inc();
    }
}

/// A subscription started (`1`) or ended (`-1`).
pub fn record_subscriptions(change: i64) {
    metrics().subscriptions.add(change);
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    let mut buffer = Vec::new();
    let families = metrics().registry.gather();
    if TextEncoder::new().encode(&families, &mut buffer).is_err() {
        return String::new();
    }
    String::from_utf8(buffer).unwrap_or_default()
}
