//! Introspection off (`--introspection off`): the schema is built with async-graphql's
//! `disable_introspection()`, which on its own answers `__schema` and `__type` with a
//! silent `null`. The [`NoIntrospection`] extension refuses such documents instead, right
//! after parsing, with `GRAPHQL_VALIDATION_FAILED` and a message that says why, so a client
//! (or GraphiQL) knows the answer is a policy, not an empty schema. `__typename` is not
//! introspection of the schema and keeps working. Cost: one walk over the parsed document.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, Positioned, ServerError, ServerResult, Variables};

use super::errors::with_code;
use crate::error::ErrorCode;

/// What a client is told when it asks for `__schema` or `__type`.
pub const INTROSPECTION_OFF: &str =
    "introspection is off on this server: `__schema` and `__type` are not answered";

pub struct NoIntrospection;

impl ExtensionFactory for NoIntrospection {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NoIntrospection)
    }
}

#[async_trait::async_trait]
impl Extension for NoIntrospection {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        match introspection_field(&document) {
            Some(pos) => Err(with_code(
                ServerError::new(INTROSPECTION_OFF, Some(pos)),
                ErrorCode::GraphqlValidationFailed,
            )),
            None => Ok(document),
        }
    }
}

/// Where the document selects `__schema` or `__type`, in any operation or fragment (the
/// names are reserved, so no field of ours has them).
fn introspection_field(document: &ExecutableDocument) -> Option<Pos> {
    let operations = document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set);
    let fragments = document
        .fragments
        .values()
        .map(|fragment| &fragment.node.selection_set);
    operations.chain(fragments).find_map(find_in)
}

fn find_in(set: &Positioned<SelectionSet>) -> Option<Pos> {
    set.node.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            if name == "__schema" || name == "__type" {
                Some(field.pos)
            } else {
                find_in(&field.node.selection_set)
            }
        }
        Selection::InlineFragment(fragment) => find_in(&fragment.node.selection_set),
        Selection::FragmentSpread(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::introspection_field;

    fn finds(query: &str) -> bool {
        let document = async_graphql::parser::parse_query(query).expect("the test query parses");
        introspection_field(&document).is_some()
    }

    #[test]
    fn finds_schema_and_type_wherever_they_hide() {
        assert!(finds("{ __schema { types { name } } }"));
        assert!(finds(r#"{ __type(name: "Query") { name } }"#));
        assert!(finds("{ s: __schema { queryType { name } } }"));
        assert!(finds(
            "{ ... on Query { __schema { queryType { name } } } }"
        ));
        assert!(finds(
            "query A { ...F } fragment F on Query { __type(name: \"X\") { name } }"
        ));
        assert!(finds(
            "query A { __typename } query B { __schema { types { name } } }"
        ));
    }

    #[test]
    fn leaves_typename_and_ordinary_fields_alone() {
        assert!(!finds("{ __typename }"));
        assert!(!finds("{ viewer { __typename id } }"));
        assert!(!finds(
            "query A { ...F } fragment F on Query { viewer { id } }"
        ));
    }
}
