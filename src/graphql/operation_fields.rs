//! Names the operation a request runs in its log line: the [`OperationFields`] extension
//! records `operation_name` and `operation_type` (query, mutation, subscription) in the
//! current `request` span once the document is parsed, for HTTP and WebSocket alike. It
//! reads the parsed document, so it costs no second parse; it records names only, never
//! the document, its arguments or variables.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, ServerResult, Variables};
use tracing::Span;

pub struct OperationFields;

impl ExtensionFactory for OperationFields {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationFieldsExtension::default())
    }
}

/// One per request: remembers the requested operation name until the document is parsed.
#[derive(Default)]
struct OperationFieldsExtension {
    requested: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for OperationFieldsExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self
            .requested
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let requested = self
            .requested
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let (name, ty) = selected_operation(&document, requested);
        let span = Span::current();
        if let Some(name) = name {
            span.record("operation_name", name.as_str());
        }
        if let Some(ty) = ty {
            span.record("operation_type", type_name(ty));
        }
        Ok(document)
    }
}

/// The name and type of the operation a request runs: the requested one, or the
/// document's only one.
pub fn selected_operation(
    document: &ExecutableDocument,
    requested: Option<String>,
) -> (Option<String>, Option<OperationType>) {
    match (&document.operations, requested) {
        (DocumentOperations::Single(op), requested) => (requested, Some(op.node.ty)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            let ty = ops.get(name.as_str()).map(|op| op.node.ty);
            (Some(name), ty)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            let (name, op) = ops.iter().next().expect("a map of length one has an entry");
            (Some(name.to_string()), Some(op.node.ty))
        }
        (DocumentOperations::Multiple(_), None) => (None, None),
    }
}

/// The operation type as the log spells it.
pub fn type_name(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(query: &str, requested: Option<&str>) -> (Option<String>, Option<&'static str>) {
        let document = async_graphql::parser::parse_query(query).expect("a valid document");
        let (name, ty) = selected_operation(&document, requested.map(str::to_owned));
        (name, ty.map(type_name))
    }

    #[test]
    fn the_named_or_only_operation_is_selected() {
        assert_eq!(
            select("mutation Rename { a }", None),
            (Some("Rename".into()), Some("mutation"))
        );
        assert_eq!(select("{ a }", None), (None, Some("query")));
        assert_eq!(
            select("query A { a } subscription B { b }", Some("B")),
            (Some("B".into()), Some("subscription"))
        );
        assert_eq!(select("query A { a } query B { b }", None), (None, None));
        assert_eq!(
            select("query A { a } query B { b }", Some("C")),
            (Some("C".into()), None)
        );
    }
}
