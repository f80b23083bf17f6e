//! [files] `POST /graphql` with `multipart/form-data`: the GraphQL multipart request spec
//! (`operations`, then `map`, then the files), streamed.
//!
//! In order, first failure answers (400 `BAD_USER_INPUT` unless said):
//! 1. the caller: a bad token is 401, the anonymous `UNAUTHENTICATED` (401): nothing of an
//!    anonymous request is stored;
//! 2. a non-simple header (`GraphQL-Require-Preflight` or `apollo-require-preflight`),
//!    so a cross-site form cannot post files;
//! 3. a boundary; `operations` first (JSON, one operation, with its query), `map` second
//!    (JSON: part name → `["variables.NAME"]`), each at most `--body-limit` bytes;
//! 4. at most `--upload-max-files` files, each named by an `Upload` argument (`file`) of
//!    a root field of the operation, which decides its bucket and so its size limit;
//! 5. each file part streams into its bucket (never held whole in memory: one chunk at a
//!    time), refused past the bucket's limit (413), the whole request past
//!    `--upload-max-request-bytes` (413); a truncated or malformed body is 400;
//! 6. every map entry must have arrived.
//!
//! On any refusal, the files already written are removed. After the operation ran, the
//! files no resolver took are removed too.

use std::collections::HashMap;

use async_graphql::parser::types::{OperationType, Selection};
use async_graphql_value::Value as GqlValue;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use uuid::Uuid;

use super::auth::{AuthRejection, Authenticated};
use super::{execute, refuse, refuse_with, AppState, ClientAddress, BATCH_REFUSED};
use crate::auth::Viewer;
use crate::domain::files::Upload;
use crate::error::{ErrorCode, ResponseMedia};
use crate::graphql::files::{StagedFile, Uploads, UPLOAD_PLACEHOLDER};
use crate::storage::{Bucket, Storage, WriteError};

/// Whether the request is a multipart one.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The headers a browser cannot send from a plain cross-site form.
const PREFLIGHT_HEADERS: [&str; 2] = ["graphql-require-preflight", "apollo-require-preflight"];

/// The root fields that take a file, and the bucket each sends it to.
fn bucket_of(field: &str, kind: Option<&str>) -> Option<Bucket> {
    match field {
        "uploadProjectFile" => Some(Bucket::ProjectFiles),
        "uploadAvatar" => Some(Bucket::Avatars),
        "uploadChatAttachment" => Some(match kind {
            Some("AUDIO") => Bucket::Audio,
            _ => Bucket::Attachments,
        }),
        _ => None,
    }
}

/// A refusal, with the files already written to remove.
struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: ErrorCode::BadUserInput,
        message: message.into(),
    }
}

fn too_large(message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: ErrorCode::BadUserInput,
        message: message.into(),
    }
}

/// A multer failure: the whole request over its limit is 413, anything else a malformed
/// or truncated body.
fn body_refusal(err: &multer::Error, limit: u64) -> Refusal {
    match err {
        multer::Error::StreamSizeExceeded { .. } => {
            too_large(format!("the request is larger than {limit} bytes"))
        }
        multer::Error::FieldSizeExceeded { field_name, .. } => too_large(format!(
            "part `{}` is larger than its limit",
            field_name.as_deref().unwrap_or("?")
        )),
        multer::Error::NoBoundary | multer::Error::NoMultipart => {
            bad("the multipart body has no boundary")
        }
        _ => bad("the multipart body is malformed or truncated"),
    }
}

/// `POST /graphql` with a multipart body (see the module doc).
pub async fn multipart(
    state: AppState,
    caller: Result<Authenticated, AuthRejection>,
    address: ClientAddress,
    headers: HeaderMap,
    body: axum::body::Body,
    media: ResponseMedia,
) -> Response {
    let caller = match caller {
        Err(rejection) if rejection.is_bad_token() => return rejection.into_response(),
        caller => caller,
    };
    if let Ok(Authenticated(Viewer::Anonymous)) = &caller {
        return refuse(
            ErrorCode::Unauthenticated,
            "sign in as a user to upload files",
            media,
        );
    }
    if !PREFLIGHT_HEADERS.iter().any(|h| headers.contains_key(*h)) {
        return refuse(
            ErrorCode::BadUserInput,
            "a multipart request needs a `GraphQL-Require-Preflight` (or \
             `apollo-require-preflight`) header",
            media,
        );
    }
    let storage = state.storage.clone();
    let mut staged: Vec<StagedFile> = Vec::new();
    let prepared = receive(&state, &storage, &headers, body, &mut staged).await;
    let operations = match prepared {
        Ok(operations) => operations,
        Err(refusal) => {
            for file in &staged {
                storage.delete(file.bucket, file.file.id).await;
            }
            return refuse_with(refusal.status, refusal.code, &refusal.message, media);
        }
    };
    let uploads = Uploads::new(staged);
    let response = execute(
        state,
        caller,
        address,
        headers,
        Method::POST,
        operations,
        media,
        Some(uploads.clone()),
    )
    .await;
    for (bucket, id) in uploads.leftovers() {
        storage.delete(bucket, id).await;
    }
    response.into_response()
}

/// Reads the request: returns `operations` with each file's placeholder in its variable;
/// `staged` gets each file written.
async fn receive(
    state: &AppState,
    storage: &Storage,
    headers: &HeaderMap,
    body: axum::body::Body,
    staged: &mut Vec<StagedFile>,
) -> Result<serde_json::Value, Refusal> {
    let limits = storage.request_limits();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| bad("the multipart body has no boundary"))?;
    let text_limit = u64::try_from(state.body_limit).unwrap_or(u64::MAX);
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_request_bytes)
            .for_field("operations", text_limit)
            .for_field("map", text_limit),
    );
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let refused = |e: multer::Error| body_refusal(&e, limits.max_request_bytes);

    // 1. operations
    let field = multipart
        .next_field()
        .await
        .map_err(refused)?
        .ok_or_else(|| bad("the multipart body has no parts"))?;
    if field.name() != Some("operations") {
        return Err(bad("the first part must be `operations`"));
    }
    let text = field.text().await.map_err(refused)?;
    let mut operations: serde_json::Value = match serde_json::from_str(&text) {
        Ok(serde_json::Value::Array(_)) => return Err(bad(BATCH_REFUSED)),
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => return Err(bad("`operations` is not a JSON GraphQL request")),
    };

    // 2. map
    let field = multipart
        .next_field()
        .await
        .map_err(refused)?
        .ok_or_else(|| bad("the multipart body has no `map` part"))?;
    if field.name() != Some("map") {
        return Err(bad("the second part must be `map`"));
    }
    let text = field.text().await.map_err(refused)?;
    let map: HashMap<String, Vec<String>> = serde_json::from_str(&text)
        .map_err(|_| bad("`map` is not a JSON object of part names to variable paths"))?;
    if map.len() > limits.max_files {
        return Err(too_large(format!(
            "at most {} files in one request",
            limits.max_files
        )));
    }

    // 3. which variable takes which bucket
    let targets = upload_targets(&operations)?;
    let mut expected: HashMap<String, (usize, Bucket)> = HashMap::new();
    for (index, (part, paths)) in map.iter().enumerate() {
        let [path] = paths.as_slice() else {
            return Err(bad(format!(
                "map entry `{part}` must name exactly one variable path"
            )));
        };
        let bucket = *targets.get(path.as_str()).ok_or_else(|| {
            bad(format!(
                "map entry `{part}` names `{path}`, which is no `file` argument of the operation"
            ))
        })?;
        let name = path.strip_prefix("variables.").unwrap_or(path);
        operations["variables"][name] = serde_json::json!(format!("{UPLOAD_PLACEHOLDER}{index}"));
        expected.insert(part.clone(), (index, bucket));
    }

    // 4. the files, streamed into their buckets
    let mut arrived: Vec<Option<StagedFile>> = vec![None; expected.len()];
    while let Some(field) = multipart.next_field().await.map_err(refused)? {
        let part = field.name().unwrap_or("").to_owned();
        let Some(&(index, bucket)) = expected.get(&part) else {
            return Err(bad(format!("part `{part}` is not in the map")));
        };
        if arrived[index].is_some() {
            return Err(bad(format!("part `{part}` arrives twice")));
        }
        let file_name = field.file_name().unwrap_or("file").to_owned();
        let claimed_type = field.content_type().map(|m| m.essence_str().to_owned());
        let id = Uuid::new_v4();
        let limit = storage.rules(bucket).max_bytes;
        match storage.write(bucket, id, field, limit).await {
            Ok(written) => {
                let file = StagedFile {
                    bucket,
                    file: Upload {
                        id,
                        file_name,
                        claimed_type,
                        size: written.size,
                        head: written.head,
                    },
                };
                staged.push(file.clone());
                arrived[index] = Some(file);
            }
            Err(WriteError::TooLarge(limit)) => {
                return Err(too_large(format!(
                    "`{file_name}` is larger than {limit} bytes, the limit of `{}`",
                    bucket.name()
                )))
            }
            Err(WriteError::Body(_)) => {
                // The multipart reader says why (size or truncation) on the next read.
                return Err(match multipart.next_field().await {
                    Err(e) => refused(e),
                    Ok(_) => bad("the multipart body is malformed or truncated"),
                });
            }
            Err(WriteError::Store(err)) => {
                tracing::error!(error = %err, "storage: an upload could not be written");
                return Err(Refusal {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: ErrorCode::ServiceUnavailable,
                    message: "the file store is unavailable; retry later".to_owned(),
                });
            }
        }
    }
    if let Some((part, _)) = expected.iter().find(|(_, (i, _))| arrived[*i].is_none()) {
        return Err(bad(format!(
            "map entry `{part}` names a part the request does not have"
        )));
    }
    // In map order, so an index is the file's place in `Uploads`.
    *staged = arrived.into_iter().flatten().collect();
    Ok(operations)
}

/// `variables.NAME` → bucket, for each `file` argument given by a variable in a root field
/// of the selected mutation.
fn upload_targets(operations: &serde_json::Value) -> Result<HashMap<String, Bucket>, Refusal> {
    let query = operations["query"]
        .as_str()
        .ok_or_else(|| bad("a multipart request needs its `query` in `operations`"))?;
    let document = async_graphql::parser::parse_query(query)
        .map_err(|_| bad("the query in `operations` does not parse"))?;
    let wanted = operations["operationName"].as_str();
    let operation = document
        .operations
        .iter()
        .find(|(name, _)| wanted.is_none() || name.map(|n| n.as_str()) == wanted)
        .map(|(_, op)| op)
        .ok_or_else(|| bad("`operations` names no operation of its query"))?;
    let mut targets = HashMap::new();
    if operation.node.ty != OperationType::Mutation {
        return Ok(targets);
    }
    for selection in &operation.node.selection_set.node.items {
        let Selection::Field(field) = &selection.node else {
            continue;
        };
        let kind = field.node.get_argument("kind").and_then(|v| match &v.node {
            GqlValue::Enum(name) => Some(name.to_string()),
            GqlValue::Variable(name) => operations["variables"][name.as_str()]
                .as_str()
                .map(str::to_owned),
            _ => None,
        });
        let Some(bucket) = bucket_of(field.node.name.node.as_str(), kind.as_deref()) else {
            continue;
        };
        if let Some(file) = field.node.get_argument("file") {
            if let GqlValue::Variable(name) = &file.node {
                targets.insert(format!("variables.{name}"), bucket);
            }
        }
    }
    Ok(targets)
}
