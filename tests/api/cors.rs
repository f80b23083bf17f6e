//! Cross-origin requests over HTTP: preflights, answers to allowed and other origins, the
//! defaults of each mode, and WebSocket upgrades from other origins. (A real browser
//! obeying the headers: `browser.rs`.)

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::harness::{self, TestApp};

const APP_ORIGIN: &str = "https://app.example.com";
const OTHER_ORIGIN: &str = "https://evil.example";

async fn with_origins(origins: &[&str]) -> TestApp {
    let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
    harness::sqlite_with(|s| s.cors_origins = origins).await
}

async fn preflight(app: &TestApp, origin: &str) -> (u16, HeaderMap) {
    let response = app
        .client
        .request(Method::OPTIONS, format!("{}/graphql", app.url))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,apikey,content-type,apollo-require-preflight,x-apollo-operation-name",
        )
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.headers().clone())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn listed(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_gets_204_with_methods_and_headers() {
    let app = with_origins(&[APP_ORIGIN]).await;
    let (status, headers) = preflight(&app, APP_ORIGIN).await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        listed(&headers, "access-control-allow-methods"),
        ["get", "post"]
    );
    assert_eq!(
        listed(&headers, "access-control-allow-headers"),
        [
            "authorization",
            "apikey",
            "content-type",
            "graphql-require-preflight",
            "apollo-require-preflight",
            "x-apollo-operation-name"
        ]
    );
    assert!(listed(&headers, "vary").contains(&"origin".to_owned()));
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    assert_eq!(header(&headers, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn other_origins_get_no_allow_origin() {
    let app = with_origins(&[APP_ORIGIN]).await;
    let (status, headers) = preflight(&app, OTHER_ORIGIN).await;
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    for (origin, allowed) in [(APP_ORIGIN, Some(APP_ORIGIN)), (OTHER_ORIGIN, None)] {
        let response = app
            .client
            .post(format!("{}/graphql", app.url))
            .header("Origin", origin)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(header(&headers, "access-control-allow-origin"), allowed);
        assert!(listed(&headers, "vary").contains(&"origin".to_owned()));
        assert_eq!(header(&headers, "access-control-allow-credentials"), None);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
    }
}

#[tokio::test]
async fn a_refused_token_is_readable_by_an_allowed_page() {
    let app = with_origins(&[APP_ORIGIN]).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("Origin", APP_ORIGIN)
        .bearer_auth("not-a-token")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
}

#[tokio::test]
async fn production_allows_no_origin_by_default_and_development_allows_localhost() {
    // The harness configures a secret: production mode.
    let production = harness::sqlite().await;
    let (_, headers) = preflight(&production, "http://localhost:5173").await;
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dev.db").display());
    let settings = confab::config::Settings::for_database(&url);
    assert!(settings.development_mode());
    let app = confab::app::build(&settings).await.unwrap();
    let layer = app.state.cors.clone();
    assert!(layer.allows("http://localhost:5173"));
    assert!(layer.allows("http://127.0.0.1:3000"));
    assert!(!layer.allows("https://app.example.com"));
    assert!(!layer.allows("http://localhost.evil.example:5173"));
}

#[tokio::test]
async fn any_origin_is_a_star_without_credentials() {
    let app = with_origins(&["*"]).await;
    let (status, headers) = preflight(&app, OTHER_ORIGIN).await;
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&headers, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn an_origin_that_is_not_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    let mut settings = confab::config::Settings::for_database(&url);
    settings.jwt_secret = Some(harness::SECRET.to_owned());
    settings.cors_origins = vec!["https://app.example.com/".into()];
    let Err(err) = confab::app::build(&settings).await else {
        panic!("a path in an origin is refused");
    };
    assert!(
        err.to_string()
            .contains("CORS origin `https://app.example.com/` is not an origin"),
        "{err}"
    );
    assert!(
        !dir.path().join("c.db").exists(),
        "refused before the database is touched"
    );
}

async fn upgrade_status(app: &TestApp, origin: Option<&str>) -> u16 {
    let url = format!("{}/graphql", app.url.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected WebSocket failure: {other}"),
    }
}

#[tokio::test]
async fn websocket_upgrades_from_other_origins_are_refused() {
    let app = with_origins(&[APP_ORIGIN]).await;
    assert_eq!(upgrade_status(&app, None).await, 101, "not a browser");
    assert_eq!(upgrade_status(&app, Some(APP_ORIGIN)).await, 101);
    let own = app.url.clone();
    assert_eq!(
        upgrade_status(&app, Some(&own)).await,
        101,
        "GraphiQL's own"
    );
    assert_eq!(upgrade_status(&app, Some(OTHER_ORIGIN)).await, 403);
}
