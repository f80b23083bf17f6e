//! Placeholder until the embedded GraphiQL assets land.
use axum::response::{Html, IntoResponse, Response};

pub fn page(endpoint: &str) -> Html<String> {
    Html(format!("<!doctype html><title>confab</title><p>{endpoint}</p>"))
}

pub async fn asset(axum::extract::Path(_name): axum::extract::Path<String>) -> Response {
    http::StatusCode::NOT_FOUND.into_response()
}
