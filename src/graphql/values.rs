//! Conversions between GraphQL values and domain values: the tri-state fields of update
//! inputs (async-graphql's `MaybeUndefined` into the domain's patch fields) and JSON.

use async_graphql::{Json, MaybeUndefined};

use crate::domain::patch::{UnrequiredField, UnrequiredNullableField};
use crate::error::{AppError, AppResult};

/// An update field that may be absent (keep), null (clear) or a value.
pub fn nullable<T>(field: MaybeUndefined<T>) -> UnrequiredNullableField<T> {
    match field {
        MaybeUndefined::Undefined => UnrequiredNullableField::Absent,
        MaybeUndefined::Null => UnrequiredNullableField::None,
        MaybeUndefined::Value(v) => UnrequiredNullableField::Some(v),
    }
}

/// An update field that may be absent (keep) or a value; null is `BAD_USER_INPUT`.
pub fn required<T>(name: &str, field: MaybeUndefined<T>) -> AppResult<UnrequiredField<T>> {
    match field {
        MaybeUndefined::Undefined => Ok(UnrequiredField::Absent),
        MaybeUndefined::Null => Err(AppError::bad_input(format!("`{name}` cannot be null"))),
        MaybeUndefined::Value(v) => Ok(UnrequiredField::Some(v)),
    }
}

/// A JSON update field that cannot be cleared (null is `BAD_USER_INPUT`).
pub fn json_value(
    field: MaybeUndefined<Json<serde_json::Value>>,
    name: &str,
) -> AppResult<UnrequiredField<serde_json::Value>> {
    Ok(required(name, field)?.map(|j| j.0))
}

/// A JSON field of a model as GraphQL output, borrowed: serialised from the model's
/// value, not from a copy of it.
pub fn json(value: &serde_json::Value) -> Json<&serde_json::Value> {
    Json(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_and_value_map_onto_the_patch_fields() {
        assert_eq!(
            nullable::<i32>(MaybeUndefined::Undefined),
            UnrequiredNullableField::Absent
        );
        assert_eq!(
            nullable::<i32>(MaybeUndefined::Null),
            UnrequiredNullableField::None
        );
        assert_eq!(
            nullable(MaybeUndefined::Value(3)),
            UnrequiredNullableField::Some(3)
        );
        assert_eq!(
            required::<i32>("n", MaybeUndefined::Undefined).expect("absent is fine"),
            UnrequiredField::Absent
        );
        assert_eq!(
            required("n", MaybeUndefined::Value(3)).expect("a value is fine"),
            UnrequiredField::Some(3)
        );
        let refused = required::<i32>("n", MaybeUndefined::Null).expect_err("null is refused");
        assert!(
            matches!(&refused, AppError::BadUserInput(m) if m == "`n` cannot be null"),
            "{refused:?}"
        );
    }
}
