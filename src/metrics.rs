//! Prometheus metrics: requests, latency, errors by code, SQL statements and their
//! durations, the database pool, subscriptions and their queues, rate-limit refusals.
//!
//! Counters, histograms and the gauges the process keeps as it goes live in one
//! process-global registry. The gauges that describe one gateway's state (its database
//! pool, the events waiting in its subscribers' queues) are read at scrape time from that
//! gateway and passed to [`render`] as a [`Scrape`]; they are never stored here, so two
//! gateways in one process (tests) do not overwrite each other's values.
//!
//! Cost: each SQL statement adds one counter increment and one histogram observation (a
//! few atomic operations, no allocation); a scrape walks the subscriber registry once.
//! Label values are bounded: routes are a fixed list, codes are `ErrorCode`s, reasons are
//! [`RateLimitReason`]s, pool states are two.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Bucket bounds of the SQL statement duration histogram, in seconds: from half a
/// millisecond (an indexed read on a warm SQLite file) to ten seconds.
const SQL_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why a client (or the gateway itself) was refused for going too fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitReason {
    /// A subscription over `--max-subscriptions-per-connection` (`RATE_LIMITED`).
    SubscriptionsPerConnection,
    /// A subscriber whose queue overflowed and was dropped (`RATE_LIMITED`).
    SubscriberQueue,
    /// A JWKS reload skipped because the refresh token bucket was empty.
    JwksRefetch,
    /// A request or WebSocket operation over its caller's request bucket (`RATE_LIMITED`).
    Requests,
    /// Mutation fields over their caller's write bucket (`RATE_LIMITED`).
    Writes,
}

impl RateLimitReason {
    pub const ALL: [RateLimitReason; 5] = [
        RateLimitReason::SubscriptionsPerConnection,
        RateLimitReason::SubscriberQueue,
        RateLimitReason::JwksRefetch,
        RateLimitReason::Requests,
        RateLimitReason::Writes,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitReason::SubscriptionsPerConnection => "subscriptions_per_connection",
            RateLimitReason::SubscriberQueue => "subscriber_queue",
            RateLimitReason::JwksRefetch => "jwks_refetch",
            RateLimitReason::Requests => "requests",
            RateLimitReason::Writes => "writes",
        }
    }
}

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    errors: IntCounterVec,
    statements: IntCounter,
    failed_statements: IntCounter,
    sql_duration: Histogram,
    subscriptions: IntGauge,
    websockets: IntGauge,
    rate_limited: IntCounterVec,
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
        let in_flight = IntGauge::new(
            "confab_http_requests_in_flight",
            "HTTP requests being answered now",
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
        let sql_duration = Histogram::with_opts(
            HistogramOpts::new(
                "confab_sql_statement_duration_seconds",
                "Time from sending an SQL statement to its result",
            )
            .buckets(SQL_BUCKETS.to_vec()),
        )
        .expect("static metric definition is valid");
        let subscriptions = IntGauge::new(
            "confab_subscriptions",
            "GraphQL subscriptions this process serves",
        )
        .expect("static metric definition is valid");
        let websockets = IntGauge::new(
            "confab_websocket_connections",
            "Open GraphQL WebSocket connections",
        )
        .expect("static metric definition is valid");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "confab_rate_limited_total",
                "Refusals for going too fast, by reason",
            ),
            &["reason"],
        )
        .expect("static metric definition is valid");
        // Every reason is present from the start, at 0.
        for reason in RateLimitReason::ALL {
            rate_limited.with_label_values(&[reason.as_str()]);
        }
        for collector in [
            Box::new(requests.clone()) as Box<dyn Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(errors.clone()),
            Box::new(statements.clone()),
            Box::new(failed_statements.clone()),
            Box::new(sql_duration.clone()),
            Box::new(subscriptions.clone()),
            Box::new(websockets.clone()),
            Box::new(rate_limited.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
            errors,
            statements,
            failed_statements,
            sql_duration,
            subscriptions,
            websockets,
            rate_limited,
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

/// Counts an HTTP request in flight until the returned guard is dropped.
pub fn request_in_flight() -> GaugeGuard {
    GaugeGuard::new(&metrics().in_flight)
}

/// HTTP requests being answered now.
pub fn requests_in_flight() -> i64 {
    metrics().in_flight.get()
}

/// Counts an open WebSocket connection until the returned guard is dropped.
pub fn websocket_open() -> GaugeGuard {
    GaugeGuard::new(&metrics().websockets)
}

/// Open WebSocket connections.
pub fn websocket_connections() -> i64 {
    metrics().websockets.get()
}

/// Adds one to a gauge, and takes it back when dropped.
pub struct GaugeGuard(IntGauge);

impl GaugeGuard {
    fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub fn record_graphql_error(code: &str) {
    metrics().errors.with_label_values(&[code]).inc();
}

/// One statement sent through the pool: counted, and its duration observed.
pub fn record_sql_statement(failed: bool, elapsed: Duration) {
    let m = metrics();
    m.statements.inc();
    m.sql_duration.observe(elapsed.as_secs_f64());
    if failed {
        m.failed_statements.inc();
    }
}

/// A subscription started (`1`) or ended (`-1`).
pub fn record_subscriptions(change: i64) {
    metrics().subscriptions.add(change);
}

/// One refusal for going too fast.
pub fn record_rate_limited(reason: RateLimitReason) {
    metrics()
        .rate_limited
        .with_label_values(&[reason.as_str()])
        .inc();
}

/// Refusals so far for `reason` (tests).
pub fn rate_limited(reason: RateLimitReason) -> u64 {
    metrics()
        .rate_limited
        .with_label_values(&[reason.as_str()])
        .get()
}

/// One gateway's state, read when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scrape {
    /// Pool connections lent out to a statement or transaction.
    pub pool_in_use: u64,
    /// Pool connections open and waiting to be lent.
    pub pool_idle: u64,
    /// Write transactions waiting to begin: for the SQLite writer connection, or on
    /// Postgres for a pool connection.
    pub pool_waiting: u64,
    /// Events queued for subscribers and not yet taken by their connections.
    pub queued_events: u64,
}

/// The scrape-time gauges, built fresh for one scrape.
fn scrape_families(scrape: &Scrape) -> Vec<prometheus::proto::MetricFamily> {
    let pool = IntGaugeVec::new(
        Opts::new(
            "confab_db_pool_connections",
            "Database pool connections by state",
        ),
        &["state"],
    )
    .expect("static metric definition is valid");
    pool.with_label_values(&["in_use"])
        .set(i64::try_from(scrape.pool_in_use).unwrap_or(i64::MAX));
    pool.with_label_values(&["idle"])
        .set(i64::try_from(scrape.pool_idle).unwrap_or(i64::MAX));
    pool.with_label_values(&["waiting"])
        .set(i64::try_from(scrape.pool_waiting).unwrap_or(i64::MAX));
    let queued = IntGauge::new(
        "confab_subscriber_queued_events",
        "Events waiting in subscriber queues",
    )
    .expect("static metric definition is valid");
    queued.set(i64::try_from(scrape.queued_events).unwrap_or(i64::MAX));
    let mut families = pool.collect();
    families.extend(queued.collect());
    families
}

/// The metrics in Prometheus text format, with this gateway's scrape-time gauges.
pub fn render(scrape: &Scrape) -> String {
    let mut families = metrics().registry.gather();
    families.extend(scrape_families(scrape));
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut buffer = Vec::new();
    if TextEncoder::new().encode(&families, &mut buffer).is_err() {
        return String::new();
    }
    String::from_utf8(buffer).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn scrape_gauges_and_every_reason_are_rendered() {
        let text = render(&Scrape {
            pool_in_use: 2,
            pool_idle: 3,
            pool_waiting: 4,
            queued_events: 7,
        });
        for line in [
            "confab_db_pool_connections{state=\"in_use\"} 2",
            "confab_db_pool_connections{state=\"idle\"} 3",
            "confab_db_pool_connections{state=\"waiting\"} 4",
            "confab_subscriber_queued_events 7",
            "# TYPE confab_sql_statement_duration_seconds histogram",
            "confab_sql_statement_duration_seconds_bucket{le=\"0.0005\"}",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        for reason in RateLimitReason::ALL {
            let series = format!(
                "confab_rate_limited_total{{reason=\"{}\"}}",
                reason.as_str()
            );
            assert!(text.contains(&series), "{series} missing");
        }
    }
}
