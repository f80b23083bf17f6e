//! Cross-origin requests: which web pages on other origins may call the gateway.
//!
//! The allowed origins come from `--cors-origin` (`CONFAB_CORS_ORIGINS`); each is an exact
//! origin (`https://app.example.com`), an origin with any port (`http://localhost:*`), or
//! `*` (any origin). With none configured, development mode allows `http://localhost:*`
//! and `http://127.0.0.1:*`, production none. tower-http's `CorsLayer` answers preflights
//! (turned into 204 here) and adds `Access-Control-Allow-Origin` to answers for allowed
//! origins; never `Access-Control-Allow-Credentials`: tokens travel in headers, not cookies.
//!
//! Browsers do not apply CORS to WebSockets, so the upgrade checks the same list itself
//! ([`Origins::allows_websocket`]): a page from an origin that is neither allowed nor the
//! gateway's own cannot open a subscription socket. Clients that send no `Origin` (Node,
//! mobile apps, curl) are not browsers and are not concerned.
//!
//! Cost: a preflight is answered without touching the database or the schema; the origin
//! check is a comparison against each configured pattern (a list the operator writes).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The headers clients send that a preflight must allow: the token (`authorization`,
/// Supabase's `apikey`), JSON, the CSRF-preventing headers of Apollo and GraphQL Yoga,
/// and Apollo's operation name.
pub const ALLOWED_HEADERS: [&str; 6] = [
    "authorization",
    "apikey",
    "content-type",
    "graphql-require-preflight",
    "apollo-require-preflight",
    "x-apollo-operation-name",
];

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins allowed by default in development mode.
pub const DEVELOPMENT_ORIGINS: [&str; 2] = ["http://localhost:*", "http://127.0.0.1:*"];

/// One configured origin.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*`: any origin.
    Any,
    /// An exact origin, lower-cased, e.g. `https://app.example.com`.
    Exact(String),
    /// `scheme://host:*`: this scheme and host on any port (or the default port); holds
    /// `scheme://host`.
    AnyPort(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(Pattern::Any);
        }
        let lower = text.to_ascii_lowercase();
        let bad = || {
            format!(
                "CORS origin `{text}` is not an origin: write scheme://host[:port], \
                 scheme://host:* for any port, or *"
            )
        };
        let (scheme, rest) = lower.split_once("://").ok_or_else(bad)?;
        if !matches!(scheme, "http" | "https") || rest.is_empty() {
            return Err(bad());
        }
        if rest.contains(['/', '?', '#', '@', ' ', ',']) {
            return Err(bad());
        }
        if let Some(host) = rest.strip_suffix(":*") {
            if host.is_empty() || host.contains('*') {
                return Err(bad());
            }
            return Ok(Pattern::AnyPort(format!("{scheme}://{host}")));
        }
        if rest.contains('*') {
            return Err(bad());
        }
        if let Some((_, port)) = rest.rsplit_once(':').filter(|_| !rest.ends_with(']')) {
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
        }
        Ok(Pattern::Exact(lower))
    }

    fn matches(&self, origin: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(exact) => origin.eq_ignore_ascii_case(exact),
            Pattern::AnyPort(base) => {
                let lower = origin.to_ascii_lowercase();
                match lower.strip_prefix(base.as_str()) {
                    Some("") => true,
                    Some(rest) => rest.strip_prefix(':').is_some_and(|port| {
                        !port.is_empty()
                            && port.len() <= 5
                            && port.bytes().all(|b| b.is_ascii_digit())
                    }),
                    None => false,
                }
            }
        }
    }
}

/// The allowed origins, checked once at start.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    patterns: Arc<[Pattern]>,
}

impl Origins {
    /// The configured origins; with none, the development defaults in development mode
    /// and none in production. A pattern that is not an origin is a start error.
    pub fn from_settings(configured: &[String], development_mode: bool) -> Result<Self, String> {
        let defaults: Vec<String> = if configured.is_empty() && development_mode {
            DEVELOPMENT_ORIGINS
                .iter()
                .map(|o| (*o).to_owned())
                .collect()
        } else {
            Vec::new()
        };
        let patterns = configured
            .iter()
            .chain(&defaults)
            .filter(|text| !text.trim().is_empty())
            .map(|text| Pattern::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Origins {
            patterns: patterns.into(),
        })
    }

    /// Whether a page on `origin` may call the gateway.
    pub fn allows(&self, origin: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(origin))
    }

    fn any(&self) -> bool {
        self.patterns.contains(&Pattern::Any)
    }

    /// Whether a WebSocket upgrade may go on: no `Origin` (not a browser), an allowed
    /// origin, or the gateway's own (the `Origin`'s host is the request's `Host`, or the
    /// `X-Forwarded-Host` a reverse proxy sets, as for GraphiQL served by this gateway; a
    /// page cannot set either header on a WebSocket).
    pub fn allows_websocket(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if self.allows(origin) {
            return true;
        }
        let Some((_, origin_host)) = origin.split_once("://") else {
            return false;
        };
        [header::HOST.as_str(), "x-forwarded-host"]
            .into_iter()
            .filter_map(|name| headers.get(name).and_then(|h| h.to_str().ok()))
            .any(|host| host.eq_ignore_ascii_case(origin_host))
    }

    /// tower-http's CORS layer for these origins: GET and POST, the headers of
    /// [`ALLOWED_HEADERS`], `Vary: Origin` (and the preflight's request headers), no
    /// credentials.
    pub fn layer(&self) -> CorsLayer {
        let allow_origin = if self.any() {
            AllowOrigin::any()
        } else {
            let origins = self.clone();
            AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin.to_str().is_ok_and(|origin| origins.allows(origin))
            })
        };
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// Preflights (every `OPTIONS` request, which the CORS layer answers itself) get 204 No
/// Content rather than tower-http's 200 with an empty body.
pub async fn preflight_no_content(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    if preflight && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &[&str]) -> Origins {
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        Origins::from_settings(&list, false).expect("valid origins")
    }

    #[test]
    fn any_port_matches_the_host_on_any_port_only() {
        let o = origins(&["http://localhost:*"]);
        assert!(o.allows("http://localhost:5173"));
        assert!(o.allows("http://localhost"));
        assert!(o.allows("HTTP://LocalHost:3000"));
        assert!(!o.allows("http://localhost.evil.example:3000"));
        assert!(!o.allows("http://localhost:3000.evil.example"));
        assert!(!o.allows("https://localhost:3000"));
        assert!(!o.allows("http://localhost:"));
        assert!(!o.allows("http://127.0.0.1:3000"));
    }

    #[test]
    fn exact_origins_match_exactly() {
        let o = origins(&["https://app.example.com", "http://[::1]:8080"]);
        assert!(o.allows("https://app.example.com"));
        assert!(o.allows("http://[::1]:8080"));
        assert!(!o.allows("https://app.example.com:8443"));
        assert!(!o.allows("https://app.example.com.evil.example"));
        assert!(!o.allows("http://app.example.com"));
        assert!(!o.allows("null"));
    }

    #[test]
    fn defaults_depend_on_the_mode() {
        let dev = Origins::from_settings(&[], true).expect("defaults");
        assert!(dev.allows("http://localhost:3000") && dev.allows("http://127.0.0.1:5173"));
        assert!(!dev.allows("https://app.example.com"));
        let prod = Origins::from_settings(&[], false).expect("defaults");
        assert!(!prod.allows("http://localhost:3000"));
        let configured =
            Origins::from_settings(&["https://app.example.com".into()], true).expect("valid");
        assert!(!configured.allows("http://localhost:3000"));
        assert!(origins(&["*"]).allows("https://anything.example"));
    }

    #[test]
    fn patterns_that_are_not_origins_are_refused() {
        for bad in [
            "localhost:3000",
            "ftp://example.com",
            "https://example.com/",
            "https://example.com/app",
            "https://*.example.com",
            "https://example.com:abc",
            "https://user@example.com",
            "https://",
            "https://:*",
        ] {
            let err = Origins::from_settings(&[bad.to_owned()], false)
                .expect_err(&format!("{bad} is refused"));
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn websocket_upgrades_from_other_origins_need_the_list() {
        let o = origins(&["http://localhost:*"]);
        let mut headers = HeaderMap::new();
        assert!(o.allows_websocket(&headers), "no Origin: not a browser");
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(o.allows_websocket(&headers), "the gateway's own page");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:3000"),
        );
        assert!(o.allows_websocket(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!o.allows_websocket(&headers));
        // Behind a proxy that rewrites Host: the page's own origin is the forwarded host.
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://api.example.com"),
        );
        assert!(!o.allows_websocket(&headers));
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("api.example.com"),
        );
        assert!(o.allows_websocket(&headers));
    }
}
