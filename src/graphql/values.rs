//! Conversions between GraphQL values and domain values: the tri-state fields of update
//! inputs (absent / null / value) and JSON.

use async_graphql::{Json, MaybeUndefined};

use crate::error::{AppError, AppResult};

/// An update field that may be absent (keep), null (clear) or a value.
pub fn nullable<T>(field: MaybeUndefined<T>) -> Option<Option<T>> {
    match field {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// An update field that may be absent (keep) or a value; null is refused.
pub fn required<T>(name: &str, field: MaybeUndefined<T>) -> AppResult<Option<T>> {
    match field {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(format!("`{name}` cannot be null"))),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

pub fn json_value(
    field: MaybeUndefined<Json<serde_json::Value>>,
    name: &str,
) -> AppResult<Option<serde_json::Value>> {
    Ok(required(name, field)?.map(|j| j.0))
}

pub fn json(value: &serde_json::Value) -> Json<serde_json::Value> {
    Json(value.clone())
}
