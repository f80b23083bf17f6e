//! [files] `GET /files/{bucket}/{id}`: downloads. A public bucket's URL is plain; a private
//! bucket's carries `expires` and `sig` (HMAC-SHA256 with `--storage-signing-key`, see
//! `storage::Storage::url`): the signature is the permission, no token is read. A missing,
//! tampered or expired signature is 403; a file whose row is gone is 404.
//!
//! Served with the stored type, `ETag` (objects never change: the id), `Cache-Control`,
//! single byte ranges (206/416), `X-Content-Type-Options: nosniff` and a sandboxing CSP;
//! inline only for raster images, everything else as an attachment, so an uploaded file
//! never runs script on the gateway's origin. With S3 and `--s3-redirect on`, a 307 to a
//! presigned S3 URL instead of the bytes.
//!
//! Cost: one indexed row read, then the object streamed in the store's chunks.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use uuid::Uuid;

use super::{refuse_with, AppState};
use crate::error::{ErrorCode, ResponseMedia};
use crate::storage::{is_inline_type, Bucket};

fn not_found() -> Response {
    refuse_with(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such file",
        ResponseMedia::Json,
    )
}

fn forbidden(message: &str) -> Response {
    refuse_with(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        message,
        ResponseMedia::Json,
    )
}

/// A `Range: bytes=...` header against an object of `size` bytes: None to send it all,
/// `Err` when unsatisfiable; several ranges are answered with the whole object.
fn byte_range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size)
        }
        (start, "") => (start.parse().map_err(|_| ())?, size),
        (start, end) => {
            let end: u64 = end.parse().map_err(|_| ())?;
            (
                start.parse().map_err(|_| ())?,
                end.saturating_add(1).min(size),
            )
        }
    };
    if start >= size || start >= end {
        return Err(());
    }
    Ok(Some(start..end))
}

/// `filename="ascii"; filename*=UTF-8''percent-encoded`.
fn disposition(inline: bool, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

pub async fn download(
    State(state): State<AppState>,
    Path((bucket, name)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (Some(bucket), Ok(id)) = (Bucket::from_name(&bucket), Uuid::parse_str(&name)) else {
        return not_found();
    };
    let storage = &state.storage;
    if !bucket.is_public() {
        let expires = params.get("expires").and_then(|e| e.parse::<i64>().ok());
        let (Some(expires), Some(sig)) = (expires, params.get("sig")) else {
            return forbidden("this file needs a signed URL");
        };
        let now = crate::db::now().timestamp();
        if !storage.verify(bucket, id, expires, sig, now) {
            return forbidden("the URL's signature is wrong or has expired");
        }
    }
    let file = match crate::domain::files::find_downloadable(&state.db, bucket, id).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(),
        Err(err) => {
            let code = err.code();
            return refuse_with(
                code.http_status(ResponseMedia::Json),
                code,
                &err.public_message(),
                ResponseMedia::Json,
            );
        }
    };
    if let Some(url) = storage.presigned(bucket, id).await {
        let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
        if let Ok(location) = HeaderValue::from_str(&url) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    let etag = format!("\"{}\"", id.simple());
    let cache = if bucket.is_public() {
        "public, max-age=86400"
    } else {
        "private, max-age=3600"
    };
    let size = u64::try_from(file.size_bytes).unwrap_or(0);
    let mut common = HeaderMap::new();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(&mut common, header::ETAG, &etag);
    set(&mut common, header::CACHE_CONTROL, cache);
    set(&mut common, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        &mut common,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
    set(&mut common, header::ACCEPT_RANGES, "bytes");
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if if_none_match {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().extend(common);
        return response;
    }
    let range = match byte_range(&headers, size) {
        Ok(range) => range,
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            set(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            response.headers_mut().extend(common);
            return response;
        }
    };
    let object = match storage.open(bucket, id, range.clone()).await {
        Ok(object) => object,
        Err(object_store::Error::NotFound { .. }) => return not_found(),
        Err(err) => {
            tracing::error!(error = %err, "storage: a download could not be read");
            return refuse_with(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
                "the file store is unavailable; retry later",
                ResponseMedia::Json,
            );
        }
    };
    let stream = object.into_stream().map_err(std::io::Error::other);
    let mut response = Body::from_stream(stream).into_response();
    let headers_out = response.headers_mut();
    headers_out.extend(common);
    let content_type =
        if file.mime_type.starts_with("text/") || file.mime_type == "application/json" {
            format!("{}; charset=utf-8", file.mime_type)
        } else {
            file.mime_type.clone()
        };
    set(headers_out, header::CONTENT_TYPE, &content_type);
    set(
        headers_out,
        header::CONTENT_DISPOSITION,
        &disposition(is_inline_type(&file.mime_type), &file.file_name),
    );
    match range {
        Some(range) => {
            set(
                headers_out,
                header::CONTENT_LENGTH,
                &(range.end - range.start).to_string(),
            );
            set(
                headers_out,
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{size}", range.start, range.end - 1),
            );
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        None => set(headers_out, header::CONTENT_LENGTH, &size.to_string()),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::RANGE,
            HeaderValue::from_str(value).expect("a header value"),
        );
        byte_range(&headers, size)
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=-5", 100), Ok(Some(95..100)));
        assert_eq!(range("bytes=50-500", 100), Ok(Some(50..100)));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=x-", 100), Err(()));
        assert_eq!(range("bytes=-0", 100), Err(()));
    }

    #[test]
    fn dispositions_quote_safely() {
        assert_eq!(
            disposition(false, "a\"b.html"),
            "attachment; filename=\"a_b.html\"; filename*=UTF-8''a%22b.html"
        );
        assert!(disposition(true, "é.png").starts_with("inline; filename=\"_.png\""));
    }
}
