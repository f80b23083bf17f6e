//! Gives every GraphQL error an `extensions.code`: our operations' errors through the
//! `From` impls below (see `crate::error` for the policy), and parse failures, validation
//! failures, depth/complexity refusals and input coercion errors raised by the engine
//! itself through the [`ErrorCodes`] extension.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use crate::error::{AppError, ErrorCode, SharedError};

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(%cause, "internal error");
        }
        let code = err.code();
        async_graphql::Error::new(err.public_message())
            .extend_with(|_, ext| ext.set("code", code.as_str()))
    }
}

impl From<SharedError> for async_graphql::Error {
    fn from(err: SharedError) -> Self {
        let code = err.0.code();
        async_graphql::Error::new(err.0.public_message())
            .extend_with(|_, ext| ext.set("code", code.as_str()))
    }
}

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension::default())
    }
}

/// One per request: remembers the query text to tell variables from literals.
#[derive(Default)]
struct ErrorCodesExtension {
    query: std::sync::Mutex<String>,
}

/// Whether the argument whose name starts at (line, column) is given by a variable.
fn argument_is_variable(query: &str, line: usize, column: usize) -> bool {
    let Some(text) = query.lines().nth(line.saturating_sub(1)) else {
        return false;
    };
    let rest: String = text.chars().skip(column.saturating_sub(1)).collect();
    let after_name = rest.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
    after_name
        .trim_start()
        .strip_prefix(':')
        .is_some_and(|value| value.trim_start().starts_with('$'))
}

pub fn has_code(err: &ServerError) -> bool {
    err.extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
}

/// The error's `extensions.code`, or None when it has none (or one that is not ours).
pub fn code_of(err: &ServerError) -> Option<ErrorCode> {
    match err.extensions.as_ref()?.get("code")? {
        Value::String(code) => ErrorCode::from_code(code),
        _ => None,
    }
}

/// The error with `code` as its `extensions.code`, unless it already has one.
pub fn with_code(mut err: ServerError, code: ErrorCode) -> ServerError {
    if !has_code(&err) {
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", code.as_str());
    }
    err
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Ok(mut stored) = self.query.lock() {
            *stored = query.to_owned();
        }
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, ErrorCode::GraphqlParseFailed))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let from_variable = e.message.starts_with("Invalid value for argument")
                        && e.locations.first().is_some_and(|pos| {
                            self.query
                                .lock()
                                .map(|q| argument_is_variable(&q, pos.line, pos.column))
                                .unwrap_or(false)
                        });
                    let code = if e.message.contains("too complex")
                        || e.message.contains("nested too deep")
                    {
                        ErrorCode::QueryTooComplex
                    } else if from_variable {
                        // A variable value that does not coerce is the caller's input.
                        ErrorCode::BadUserInput
                    } else {
                        ErrorCode::GraphqlValidationFailed
                    };
                    with_code(e, code)
                })
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        // What the engine raises during execution without a code is an argument or
        // variable that did not coerce.
        response.errors = response
            .errors
            .into_iter()
            .map(|e| with_code(e, ErrorCode::BadUserInput))
            .collect();
        response
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{ServerError, Value};

    use super::{argument_is_variable, code_of, with_code};
    use crate::error::{AppError, ErrorCode, SharedError};

    #[test]
    fn codes_are_set_once_and_read_back() {
        let bare = ServerError::new("boom", None);
        assert_eq!(code_of(&bare), None);
        let coded = with_code(bare, ErrorCode::GraphqlParseFailed);
        assert_eq!(code_of(&coded), Some(ErrorCode::GraphqlParseFailed));
        let kept = with_code(coded, ErrorCode::Internal);
        assert_eq!(code_of(&kept), Some(ErrorCode::GraphqlParseFailed));
        let mut foreign = ServerError::new("x", None);
        foreign
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "not one of ours");
        assert_eq!(code_of(&foreign), None);
    }

    #[test]
    fn app_errors_carry_their_code_and_hide_internal_causes() {
        let err: async_graphql::Error = AppError::not_found("project").into();
        assert_eq!(err.message, "project not found");
        let code = err.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        assert_eq!(code, Some(Value::from(ErrorCode::NotFound.as_str())));

        let err: async_graphql::Error =
            SharedError::from(AppError::Internal("SELECT went wrong".into())).into();
        assert_eq!(err.message, "internal error");
        let code = err.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        assert_eq!(code, Some(Value::from(ErrorCode::Internal.as_str())));
    }

    #[test]
    fn tells_variables_from_literals() {
        let q =
            "query($id: UUID!) {\n  project(id: $id) { id }\n  other: project(id: \"x\") { id }\n}";
        assert!(argument_is_variable(q, 2, 11));
        assert!(!argument_is_variable(q, 3, 18));
        assert!(!argument_is_variable(q, 9, 1));
    }
}
