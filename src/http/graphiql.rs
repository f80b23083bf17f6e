//! Offline GraphiQL: the HTML page and its JS/CSS, all compiled into the binary.
//!
//! Nothing is ever loaded from a CDN: the page references only
//! `/graphiql/assets/<file>` on the gateway itself, and a `<meta>`
//! Content-Security-Policy makes the browser refuse anything else. The vendored
//! files live in `assets/graphiql/` (see the README there for versions,
//! licences and how to refresh them).
//!
//! Wiring (axum 0.8):
//!
//! ```ignore
//! use axum::{routing::get, Router};
//! use crate::http::graphiql;
//!
//! Router::new()
//!     // GET /graphql: GraphiQL for browsers (`graphiql::wants_html(&headers)`),
//!     // otherwise whatever the GraphQL GET handler does.
//!     .route(graphiql::ASSET_ROUTE, get(graphiql::asset))
//! ```
//!
//! Setting the Authorization header: GraphiQL's headers editor (opened by
//! default), or open the page as `/graphql#token=XYZ` to prefill
//! `{"Authorization": "Bearer XYZ"}` (the fragment never reaches the server and
//! is stripped from the address bar), or let the server pass default headers
//! with [`page_with`] (development mode: the demo user's token). Headers persist
//! in the browser's storage for this origin (GraphiQL's `shouldPersistHeaders`),
//! so a reload keeps them. Subscriptions run over graphql-ws (bundled in
//! GraphiQL) with the editor's headers as the `connection_init` payload. The
//! explorer plugin (`@graphiql/plugin-explorer`) is embedded too.

use std::sync::OnceLock;

use axum::{
    extract::Path,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};

/// Route under which [`asset`] must be mounted (axum 0.8 path syntax).
pub const ASSET_ROUTE: &str = "/graphiql/assets/{name}";

/// URL prefix the page uses for its assets; must match [`ASSET_ROUTE`].
const ASSET_PREFIX: &str = "/graphiql/assets/";

/// `Cache-Control` for the embedded assets. The page adds a `?v=<hash of all
/// assets>` query to every asset URL, so a new binary with new assets is never
/// hidden behind a cached old copy.
const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

const CT_JS: &str = "text/javascript; charset=utf-8";
const CT_CSS: &str = "text/css; charset=utf-8";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! embedded {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/graphiql/",
                $name
            )),
        }
    };
}

/// The only files [`asset`] will ever serve: a fixed table, looked up by exact
/// name, so there is no filesystem access and no path traversal.
static ASSETS: &[Asset] = &[
    embedded!("react.production.min.js", CT_JS),
    embedded!("react-dom.production.min.js", CT_JS),
    embedded!("graphiql.min.js", CT_JS),
    embedded!("graphiql.min.css", CT_CSS),
    embedded!("graphiql-plugin-explorer.umd.js", CT_JS),
    embedded!("graphiql-plugin-explorer.css", CT_CSS),
    embedded!("graphiql-init.js", CT_JS),
];

fn find_asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// Short hex fingerprint (FNV-1a 64) of every embedded asset, used as a cache
/// buster in asset URLs. Computed once, at first use.
fn assets_fingerprint() -> &'static str {
    static FINGERPRINT: OnceLock<String> = OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for asset in ASSETS {
            for &byte in asset.name.as_bytes().iter().chain(asset.body) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    })
}

/// Options for [`page_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PageOptions<'a> {
    /// WebSocket endpoint for subscriptions: a path on the same origin (e.g.
    /// `/graphql/ws`, turned into `ws(s)://<host>/graphql/ws` by the page) or an
    /// absolute `ws://`/`wss://` URL. `None` disables subscriptions.
    pub subscription_endpoint: Option<&'a str>,
    /// Headers to prefill in GraphiQL's headers editor, e.g.
    /// `&[("Authorization", "Bearer ...")]`. Rendered into the page, so only
    /// pass values the requesting user may see.
    pub default_headers: &'a [(&'a str, &'a str)],
    /// Lines shown in a banner above GraphiQL (plain text, escaped), e.g. that
    /// introspection is off.
    pub notices: &'a [&'a str],
    /// The server refuses introspection: GraphiQL is told not to fetch the schema
    /// (`schema: null`), so it does not fail on a refused introspection query.
    pub no_introspection: bool,
}

/// The banner line of a page whose server has introspection off.
pub const INTROSPECTION_OFF_NOTICE: &str =
    "introspection is off on this server: docs and autocompletion are unavailable";

/// The banner line of a page whose server runs only trusted documents.
pub const PERSISTED_ONLY_NOTICE: &str = "persisted-only mode: this server runs only its \
     trusted documents; any other query is refused with PERSISTED_QUERY_REQUIRED";

/// The GraphiQL page, sending queries to `endpoint` (same origin, e.g.
/// `"/graphql"`), without subscriptions.
pub fn page(endpoint: &str) -> Html<String> {
    page_with(endpoint, &PageOptions::default())
}

/// The GraphiQL page with subscriptions and/or prefilled headers.
pub fn page_with(endpoint: &str, options: &PageOptions<'_>) -> Html<String> {
    let headers: serde_json::Map<String, serde_json::Value> = options
        .default_headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let config = serde_json::json!({
        "endpoint": endpoint,
        "subscriptionEndpoint": options.subscription_endpoint,
        "defaultHeaders": if headers.is_empty() { None } else { Some(headers) },
        "introspection": !options.no_introspection,
    });
    let config = json_for_script(&config);

    // connect-src 'self' covers same-origin ws/wss in current browsers; an
    // absolute subscription URL (possibly another host) is allowed explicitly.
    let mut connect_src = String::from("'self'");
    if let Some(ws) = options
        .subscription_endpoint
        .filter(|s| s.starts_with("ws://") || s.starts_with("wss://"))
        .filter(|s| !s.contains([' ', ';', ',', '\'', '"', '<', '>']))
    {
        connect_src.push(' ');
        connect_src.push_str(ws);
    }
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         font-src 'self' data:; img-src 'self' data: blob:; connect-src {connect_src}; \
         base-uri 'none'; form-action 'none'"
    );

    // A notice banner above GraphiQL, which then takes the rest of the height.
    let (layout, banner) = if options.notices.is_empty() {
        ("", String::new())
    } else {
        let lines: String = options
            .notices
            .iter()
            .map(|notice| format!("<p>{}</p>", html_escape(notice)))
            .collect();
        (
            " body { display: flex; flex-direction: column; } \
             #graphiql { flex: 1; min-height: 0; height: auto; } \
             .confab-notice { background: #fff4ce; color: #3b2e00; \
             border-bottom: 1px solid #e0c860; font: 14px/1.4 sans-serif; padding: 6px 12px; } \
             .confab-notice p { margin: 0; }",
            format!(r#"<div class="confab-notice" role="status">{lines}</div>"#),
        )
    };
    let v = assets_fingerprint();
    let a = ASSET_PREFIX;
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>confab · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{a}graphiql.min.css?v={v}">
<link rel="stylesheet" href="{a}graphiql-plugin-explorer.css?v={v}">
<style>html, body, #graphiql {{ height: 100%; margin: 0; overflow: hidden; }}{layout}</style>
</head>
<body>
{banner}<div id="graphiql">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript.</noscript>
<script type="application/json" id="graphiql-config">{config}</script>
<script src="{a}react.production.min.js?v={v}"></script>
<script src="{a}react-dom.production.min.js?v={v}"></script>
<script src="{a}graphiql.min.js?v={v}"></script>
<script src="{a}graphiql-plugin-explorer.umd.js?v={v}"></script>
<script src="{a}graphiql-init.js?v={v}"></script>
</body>
</html>
"#
    ))
}

/// Text that is safe as HTML element content.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// JSON that is safe inside `<script type="application/json">`: `<`, `>` and
/// `&` are escaped (valid JSON escapes), so no value can close the element.
fn json_for_script(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// True when the request comes from a browser asking for HTML (its `Accept`
/// header mentions `text/html`); use it to pick GraphiQL on `GET /graphql`.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// Serves an embedded GraphiQL asset by exact file name; 404 for anything else.
pub async fn asset(Path(name): Path<String>) -> Response {
    match find_asset(&name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(ASSET_CACHE_CONTROL),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(name: &str) -> Response {
        asset(Path(name.to_owned())).await
    }

    #[tokio::test]
    async fn serves_every_asset_with_type_and_cache() {
        for a in ASSETS {
            let resp = get(a.name).await;
            assert_eq!(resp.status(), StatusCode::OK, "{}", a.name);
            let h = resp.headers();
            assert_eq!(h[header::CONTENT_TYPE], a.content_type);
            assert!(h[header::CACHE_CONTROL]
                .to_str()
                .expect("ascii")
                .contains("max-age=31536000"));
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(&body[..], a.body);
            assert!(!body.is_empty());
        }
        assert_eq!(
            get("graphiql.min.css").await.headers()[header::CONTENT_TYPE],
            CT_CSS
        );
    }

    #[tokio::test]
    async fn unknown_or_traversal_names_are_404() {
        for name in [
            "",
            "nope.js",
            "../Cargo.toml",
            "..%2FCargo.toml",
            "/etc/passwd",
            "graphiql.min.js/",
            "GRAPHIQL.MIN.JS",
            "README.md",
            "graphiql.min.js.map",
        ] {
            assert_eq!(get(name).await.status(), StatusCode::NOT_FOUND, "{name}");
        }
    }

    #[test]
    fn page_references_only_local_assets() {
        let Html(html) = page("/graphql");
        for a in ASSETS {
            assert!(
                html.contains(&format!("{ASSET_PREFIX}{}?v=", a.name)),
                "{}",
                a.name
            );
        }
        assert!(!html.contains("unpkg") && !html.contains("jsdelivr"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains(r#""endpoint":"/graphql""#));
        assert!(html.contains(r#""subscriptionEndpoint":null"#));
        assert!(html.contains("default-src 'none'"));
        assert!(ASSET_ROUTE.starts_with(ASSET_PREFIX));
    }

    #[test]
    fn page_config_cannot_break_out_of_script() {
        let Html(html) = page_with(
            "/graphql</script><script>alert(1)</script>",
            &PageOptions {
                subscription_endpoint: Some("/ws"),
                default_headers: &[("Authorization", "Bearer a&b<c>")],
                ..PageOptions::default()
            },
        );
        assert_eq!(html.matches("</script>").count(), 6);
        assert!(!html.contains("alert(1)</script>"));
        assert!(html.contains(r#""subscriptionEndpoint":"/ws""#));
        assert!(html.contains(r#""Authorization":"Bearer a\u0026b\u003cc\u003e""#));
    }

    #[test]
    fn notices_show_in_a_banner_and_turn_off_schema_fetching() {
        let Html(plain) = page("/graphql");
        assert!(!plain.contains("confab-notice"));
        assert!(!plain.contains(INTROSPECTION_OFF_NOTICE));
        assert!(plain.contains(r#""introspection":true"#));
        let Html(html) = page_with(
            "/graphql",
            &PageOptions {
                notices: &[INTROSPECTION_OFF_NOTICE, "a <b> & c"],
                no_introspection: true,
                ..PageOptions::default()
            },
        );
        assert!(html.contains(&format!(
            r#"<div class="confab-notice" role="status"><p>{INTROSPECTION_OFF_NOTICE}</p><p>a &lt;b&gt; &amp; c</p></div><div id="graphiql">"#
        )));
        assert!(html.contains(r#""introspection":false"#));
    }

    #[test]
    fn csp_allows_absolute_subscription_url() {
        let opts = PageOptions {
            subscription_endpoint: Some("wss://gw.example/ws"),
            ..PageOptions::default()
        };
        let Html(html) = page_with("/graphql", &opts);
        assert!(html.contains("connect-src 'self' wss://gw.example/ws;"));
    }

    #[test]
    fn wants_html_checks_accept() {
        let mut h = HeaderMap::new();
        assert!(!wants_html(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_html(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        assert!(wants_html(&h));
    }
}
