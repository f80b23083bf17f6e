//! Gives every GraphQL error an `extensions.code`: parse failures, validation failures,
//! depth/complexity refusals, and input coercion errors raised by the engine itself.
//! Errors from our own operations already carry theirs (see `crate::error`).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

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

/// The error's `extensions.code`, or "" when it has none.
pub fn code_of(err: &ServerError) -> String {
    err.extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .map(|v| v.to_string().trim_matches('"').to_owned())
        .unwrap_or_default()
}

/// Whether an error with this code refused the operation before it ran (the document did
/// not parse or validate, or is too deep or complex).
pub fn is_pre_execution(code: &str) -> bool {
    matches!(
        code,
        "GRAPHQL_PARSE_FAILED" | "GRAPHQL_VALIDATION_FAILED" | "QUERY_TOO_COMPLEX"
    )
}

pub fn with_code(mut err: ServerError, code: &str) -> ServerError {
    if !has_code(&err) {
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
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
            .map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))
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
                        "QUERY_TOO_COMPLEX"
                    } else if from_variable {
                        // A variable value that does not coerce is the caller's input.
                        "BAD_USER_INPUT"
                    } else {
                        "GRAPHQL_VALIDATION_FAILED"
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
            .map(|e| with_code(e, "BAD_USER_INPUT"))
            .collect();
        response
    }
}

#[cfg(test)]
mod tests {
    use super::argument_is_variable;

    #[test]
    fn tells_variables_from_literals() {
        let q =
            "query($id: UUID!) {\n  project(id: $id) { id }\n  other: project(id: \"x\") { id }\n}";
        assert!(argument_is_variable(q, 2, 11));
        assert!(!argument_is_variable(q, 3, 18));
        assert!(!argument_is_variable(q, 9, 1));
    }
}
