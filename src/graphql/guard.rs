//! The document guard: what a request may cost is decided here, before async-graphql
//! validates or runs it, in passes that are linear in the document (or bounded by
//! `--max-selections`), over HTTP and WebSocket alike ([`DocumentGuard`], an extension whose
//! `prepare_request` hook parses the document once and checks it).
//!
//! Why before validation: async-graphql 7.2.1 re-walks a fragment at every spread without
//! memoisation (`check_recursive_depth` in `schema.rs`, and the validator's inline-mode
//! visitors: complexity and depth), so 30 fragments that each spread the previous one twice
//! cost 2^30 walks, and a fragment cycle is walked until the recursion limit. Here every
//! fragment's expanded size is computed once (memoised, cycles refused), and only a
//! document whose expansion is within `--max-selections` goes on.
//!
//! In order, first failure answers:
//! 1. the operation: an unknown `operationName`, or none for a document with several
//!    operations: `BAD_USER_INPUT`;
//! 2. input the database cannot store: a NUL character in a string or JSON value (key or
//!    value) of the variables or of a literal in the document: `BAD_USER_INPUT`;
//! 3. fragment cycles (`GRAPHQL_VALIDATION_FAILED`) and the expanded size of every
//!    operation and fragment (`QUERY_TOO_COMPLEX` over `--max-selections`);
//! 4. the rules async-graphql's validator misses (`GRAPHQL_VALIDATION_FAILED`): a selection
//!    set on a leaf (`__typename` included), arguments on `__typename`, and fields of one
//!    response key whose types differ (across fragments too);
//! 5. the cost model (`QUERY_TOO_COMPLEX`): mutation fields (a stricter cap for the
//!    anonymous), root fields, aliases, and the database cost (see [`Walk`]);
//! 6. the caller's write bucket (`RATE_LIMITED`, see `crate::rate_limit`): one token per
//!    mutation field, taken only from a document that passed every check above.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{
    Name, Pos, Positioned, Request, ServerError, ServerResult, Value as ConstValue, Variables,
};
use async_graphql_value::Value;

use super::errors::with_code;
use super::RequestCtx;
use crate::auth::Viewer;
use crate::error::ErrorCode;
use crate::rate_limit::{CallerBucket, RetryAfter};

/// What one request may cost; every limit is a setting (see `config.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardLimits {
    /// Fields of an operation or fragment once fragments are expanded.
    pub max_selections: u64,
    /// The database cost of an operation (see [`Walk`]).
    pub max_cost: u64,
    /// Aliased fields of an operation.
    pub max_aliases: u64,
    /// Fields at the root of an operation.
    pub max_root_fields: u64,
    /// Mutation fields of a request by a user or the service role.
    pub max_mutation_fields: u64,
    /// Mutation fields of an anonymous request.
    pub max_anonymous_mutation_fields: u64,
    /// Page sizes: a connection without `first`/`last` costs `default_page`, one with a
    /// larger value at most `max_page` (a larger one is refused by its resolver).
    pub default_page: u64,
    pub max_page: u64,
}

impl GuardLimits {
    /// No limit at all (for exporting the schema).
    pub const NONE: GuardLimits = GuardLimits {
        max_selections: u64::MAX,
        max_cost: u64::MAX,
        max_aliases: u64::MAX,
        max_root_fields: u64::MAX,
        max_mutation_fields: u64::MAX,
        max_anonymous_mutation_fields: u64::MAX,
        default_page: 100,
        max_page: 100,
    };
}

pub struct DocumentGuard(pub GuardLimits);

impl ExtensionFactory for DocumentGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentGuard(self.0))
    }
}

#[async_trait::async_trait]
impl Extension for DocumentGuard {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request_ctx = request
            .data
            .get(&TypeId::of::<RequestCtx>())
            .and_then(|data| data.downcast_ref::<RequestCtx>());
        let anonymous = request_ctx.is_none_or(|ctx| matches!(ctx.viewer, Viewer::Anonymous));
        let writes = request_ctx.and_then(|ctx| ctx.writes.clone());
        // Taken out while the parsed document borrows the request, then put back.
        let variables = std::mem::take(&mut request.variables);
        let operation_name = request.operation_name.take();
        // Parsed once here; async-graphql takes the parsed document from the request.
        let checked = request
            .parsed_query()
            .map_err(|err| with_code(err, ErrorCode::GraphqlParseFailed))
            .and_then(|document| {
                check(
                    document,
                    &ctx.schema_env.registry,
                    &variables,
                    operation_name.as_deref(),
                    &self.0,
                    anonymous,
                    writes.as_ref(),
                )
            });
        checked?;
        request.variables = variables;
        request.operation_name = operation_name;
        next.run(ctx, request).await
    }
}

fn refusal(code: ErrorCode, message: impl Into<String>, pos: Option<Pos>) -> ServerError {
    with_code(ServerError::new(message, pos), code)
}

/// Every check of this module, in order; the first failure answers.
pub fn check(
    document: &ExecutableDocument,
    registry: &Registry,
    variables: &Variables,
    operation_name: Option<&str>,
    limits: &GuardLimits,
    anonymous: bool,
    writes: Option<&CallerBucket>,
) -> ServerResult<()> {
    let operation = selected(document, operation_name)?;
    storable_input(document, variables)?;
    expanded_sizes(document, limits)?;
    let root = match operation.node.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    let Some(root) = root else {
        // No such root type: the validator says so.
        return Ok(());
    };
    let mut walk = Walk {
        document,
        registry,
        variables,
        limits,
        cost: 0,
        aliases: 0,
    };
    let root_fields = walk.selection(&[(&operation.node.selection_set, root)], 1)?;
    if operation.node.ty == OperationType::Mutation {
        // Every mutation field is at least one write, whatever it returns.
        walk.cost = walk
            .cost
            .saturating_add(root_fields.saturating_mul(KEY_COST));
    }
    let mutation_cap = if anonymous {
        limits.max_anonymous_mutation_fields
    } else {
        limits.max_mutation_fields
    };
    let too_complex = |message: String| Err(refusal(ErrorCode::QueryTooComplex, message, None));
    if operation.node.ty == OperationType::Mutation && root_fields > mutation_cap {
        let who = if anonymous { "an anonymous" } else { "a" };
        return too_complex(format!(
            "{who} request may run at most {mutation_cap} mutation fields; this one has {root_fields}"
        ));
    }
    if root_fields > limits.max_root_fields {
        return too_complex(format!(
            "an operation may select at most {} root fields; this one has {root_fields}",
            limits.max_root_fields
        ));
    }
    if walk.aliases > limits.max_aliases {
        return too_complex(format!(
            "an operation may have at most {} aliased fields; this one has {}",
            limits.max_aliases, walk.aliases
        ));
    }
    if walk.cost > limits.max_cost {
        return too_complex(format!(
            "the query is too complex: it would cost the database {} (lookups, loader keys and rows; the limit is {})",
            walk.cost, limits.max_cost
        ));
    }
    if let (OperationType::Mutation, Some(bucket)) = (operation.node.ty, writes) {
        if let Err(RetryAfter(seconds)) = bucket.limits.check_writes(&bucket.caller, root_fields) {
            let mut err = refusal(
                ErrorCode::RateLimited,
                format!("too many writes: retry in {seconds} s"),
                None,
            );
            err.extensions
                .get_or_insert_with(Default::default)
                .set("retryAfter", seconds);
            return Err(err);
        }
    }
    Ok(())
}

/// The operation the request names, or the document's only one.
pub fn selected<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> ServerResult<&'a Positioned<OperationDefinition>> {
    let bad = |message: String| refusal(ErrorCode::BadUserInput, message, None);
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), None) => Ok(op),
        (DocumentOperations::Single(_), Some(name)) => Err(bad(format!(
            "unknown operation `{name}`: the document has one anonymous operation"
        ))),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get(name)
            .ok_or_else(|| bad(format!("unknown operation `{name}`"))),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => Ok(ops
            .values()
            .next()
            .expect("a map of length one has an entry")),
        (DocumentOperations::Multiple(_), None) => Err(bad(
            "the document has several operations: name one in `operationName`".to_owned(),
        )),
    }
}

/// Refuses a NUL character anywhere in the variables (JSON keys and values included) or
/// in a literal of the document: neither Postgres text nor `jsonb` can store one.
fn storable_input(document: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    let nul = |pos: Option<Pos>| {
        Err(refusal(
            ErrorCode::BadUserInput,
            "a string may not contain the NUL character (U+0000)",
            pos,
        ))
    };
    for (name, value) in variables.iter() {
        if name.contains('\0') || const_has_nul(value) {
            return nul(None);
        }
    }
    let mut sets: Vec<&Positioned<SelectionSet>> = Vec::new();
    for (_, op) in document.operations.iter() {
        for definition in &op.node.variable_definitions {
            if let Some(default) = &definition.node.default_value {
                if const_has_nul(&default.node) {
                    return nul(Some(default.pos));
                }
            }
        }
        sets.push(&op.node.selection_set);
    }
    sets.extend(document.fragments.values().map(|f| &f.node.selection_set));
    // Each selection set of the document once (fragments are not expanded here).
    while let Some(set) = sets.pop() {
        for item in &set.node.items {
            let (directives, children) = match &item.node {
                Selection::Field(field) => {
                    for (_, value) in &field.node.arguments {
                        if value_has_nul(&value.node) {
                            return nul(Some(value.pos));
                        }
                    }
                    (&field.node.directives, Some(&field.node.selection_set))
                }
                Selection::FragmentSpread(spread) => (&spread.node.directives, None),
                Selection::InlineFragment(inline) => {
                    (&inline.node.directives, Some(&inline.node.selection_set))
                }
            };
            for directive in directives {
                for (_, value) in &directive.node.arguments {
                    if value_has_nul(&value.node) {
                        return nul(Some(value.pos));
                    }
                }
            }
            sets.extend(children);
        }
    }
    Ok(())
}

fn const_has_nul(value: &ConstValue) -> bool {
    use ConstValue as V;
    match value {
        V::String(s) => s.contains('\0'),
        V::List(items) => items.iter().any(const_has_nul),
        V::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.contains('\0') || const_has_nul(v)),
        V::Null | V::Number(_) | V::Boolean(_) | V::Binary(_) | V::Enum(_) => false,
    }
}

fn value_has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(value_has_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.contains('\0') || value_has_nul(v)),
        Value::Null
        | Value::Number(_)
        | Value::Boolean(_)
        | Value::Binary(_)
        | Value::Enum(_)
        | Value::Variable(_) => false,
    }
}

/// Refuses fragment cycles, and any operation or fragment whose expansion has more than
/// `max_selections` fields. Each fragment's size is computed once: linear in the document.
fn expanded_sizes(document: &ExecutableDocument, limits: &GuardLimits) -> ServerResult<()> {
    let mut sizes = Sizes {
        document,
        known: HashMap::new(),
        visiting: Vec::new(),
    };
    let mut roots: Vec<(&Positioned<SelectionSet>, Option<&Name>)> = document
        .operations
        .iter()
        .map(|(_, op)| (&op.node.selection_set, None))
        .collect();
    roots.extend(
        document
            .fragments
            .iter()
            .map(|(name, f)| (&f.node.selection_set, Some(name))),
    );
    for (set, fragment) in roots {
        let size = match fragment {
            Some(name) => sizes.fragment(name, set.pos)?,
            None => sizes.set(set)?,
        };
        if size > limits.max_selections {
            return Err(refusal(
                ErrorCode::QueryTooComplex,
                format!(
                    "the query is too complex: it selects {} fields once its fragments are expanded (the limit is {})",
                    if size == u64::MAX { "more than 2^64".to_owned() } else { size.to_string() },
                    limits.max_selections
                ),
                Some(set.pos),
            ));
        }
    }
    Ok(())
}

struct Sizes<'a> {
    document: &'a ExecutableDocument,
    known: HashMap<&'a str, u64>,
    /// Fragments being sized, innermost last: a spread of one of these is a cycle.
    visiting: Vec<&'a str>,
}

impl<'a> Sizes<'a> {
    fn fragment(&mut self, name: &'a str, pos: Pos) -> ServerResult<u64> {
        if let Some(size) = self.known.get(name) {
            return Ok(*size);
        }
        if self.visiting.contains(&name) {
            return Err(refusal(
                ErrorCode::GraphqlValidationFailed,
                format!("Cannot spread fragment \"{name}\" within itself"),
                Some(pos),
            ));
        }
        // An unknown fragment is the validator's to report.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(0);
        };
        self.visiting.push(name);
        let size = self.set(&fragment.node.selection_set)?;
        self.visiting.pop();
        self.known.insert(name, size);
        Ok(size)
    }

    fn set(&mut self, set: &'a Positioned<SelectionSet>) -> ServerResult<u64> {
        let mut size: u64 = 0;
        for item in &set.node.items {
            let more = match &item.node {
                Selection::Field(field) => self.set(&field.node.selection_set)?.saturating_add(1),
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set)?,
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str(), spread.pos)?
                }
            };
            size = size.saturating_add(more);
        }
        Ok(size)
    }
}

/// The cost of one lookup, loader key, statement or mutation field, against 1 per row a
/// page may return: a row of a window the database reads anyway costs less than a key.
pub const KEY_COST: u64 = 2;

/// The walk over the selected operation with fragments expanded (bounded by
/// `--max-selections`), fields of one response key merged as execution merges them.
///
/// The database cost it adds up: a field that returns an object costs [`KEY_COST`] (a
/// lookup, a loader key or a statement), a connection that plus its page size (the rows:
/// `first`/`last`, else the default page size) and multiplies what its `edges`/`nodes`
/// select by the page size, a list of objects multiplies what it selects by the maximum
/// page size, a connection's `totalCount` costs a key too; other scalars, `pageInfo` and
/// `__typename` cost nothing. Each field is counted once per
/// response key, so aliases count.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    registry: &'a Registry,
    variables: &'a Variables,
    limits: &'a GuardLimits,
    cost: u64,
    aliases: u64,
}

/// One field of a merged selection: the field and the type it is selected on.
type Occurrence<'a> = (&'a Positioned<Field>, &'a str);

impl<'a> Walk<'a> {
    /// Walks the merged selection sets `sets` (each with the type it selects on), each
    /// field's cost multiplied by `times`; returns the number of response keys.
    fn selection(
        &mut self,
        sets: &[(&'a Positioned<SelectionSet>, &'a str)],
        times: u64,
    ) -> ServerResult<u64> {
        let mut fields: Vec<Occurrence<'a>> = Vec::new();
        for (set, ty) in sets {
            self.flatten(set, ty, &mut fields);
        }
        let groups = by_response_key(fields);
        let keys = groups.len() as u64;
        for (key, group) in groups {
            self.group(key, &group, times, false)?;
        }
        Ok(keys)
    }

    /// The fields of `set`, fragments expanded, each with the type it is selected on.
    fn flatten(
        &self,
        set: &'a Positioned<SelectionSet>,
        ty: &'a str,
        out: &mut Vec<Occurrence<'a>>,
    ) {
        for item in &set.node.items {
            match &item.node {
                Selection::Field(field) => out.push((field, ty)),
                Selection::InlineFragment(inline) => {
                    let ty = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(ty, |c| c.node.on.node.as_str());
                    self.flatten(&inline.node.selection_set, ty, out);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self
                        .document
                        .fragments
                        .get(spread.node.fragment_name.node.as_str())
                    {
                        let ty = fragment.node.type_condition.node.on.node.as_str();
                        self.flatten(&fragment.node.selection_set, ty, out);
                    }
                }
            }
        }
    }

    fn meta(&self, name: &str) -> Option<&'a MetaType> {
        self.registry.types.get(name)
    }

    /// One response key: its fields must agree on their type; their cost is counted once,
    /// and their selections are walked together.
    ///
    /// `rows`: the group is a connection's `edges` or `nodes`, whose rows the connection
    /// has already counted and multiplied by.
    fn group(
        &mut self,
        key: &str,
        group: &[Occurrence<'a>],
        times: u64,
        rows: bool,
    ) -> ServerResult<()> {
        let (first, _) = group[0];
        if group.iter().any(|(f, _)| f.node.alias.is_some()) {
            self.aliases = self.aliases.saturating_add(1);
        }
        let mut returns: Option<(&'a str, Pos)> = None;
        let mut children: Vec<(&'a Positioned<SelectionSet>, &'a str)> = Vec::new();
        let mut connection = false;
        let mut list = false;
        let mut free = false;
        let mut counted = false;
        for (field, parent) in group {
            let name = field.node.name.node.as_str();
            let has_selection = !field.node.selection_set.node.items.is_empty();
            if name == "__typename" {
                if let Some((arg, _)) = field.node.arguments.first() {
                    return Err(refusal(
                        ErrorCode::GraphqlValidationFailed,
                        format!("Unknown argument \"{}\" on field \"__typename\"", arg.node),
                        Some(arg.pos),
                    ));
                }
                if has_selection {
                    return Err(leaf_selection("__typename", "String!", field.pos));
                }
                self.agree(key, &mut returns, "String!", field.pos)?;
                continue;
            }
            // Unknown types and fields are the validator's to report.
            let Some(meta_field) = self.meta(parent).and_then(|t| t.field_by_name(name)) else {
                continue;
            };
            let ty = meta_field.ty.as_str();
            self.agree(key, &mut returns, ty, field.pos)?;
            let base = MetaTypeName::concrete_typename(ty);
            let Some(base_meta) = self.meta(base) else {
                continue;
            };
            if base_meta.is_leaf() {
                if has_selection {
                    return Err(leaf_selection(name, ty, field.pos));
                }
                // A connection's count is a statement of its own (one per level).
                counted = name == "totalCount" && parent.ends_with("Connection");
                continue;
            }
            // Made from the page already read.
            if base == "PageInfo" {
                continue;
            }
            connection = base.ends_with("Connection");
            list = ty.contains('[');
            // An edge's `node` is the row itself; introspection (`__Schema`, `__Type`, ...)
            // reads the schema in memory, not the database.
            free = rows || (name == "node" && parent.ends_with("Edge")) || base.starts_with("__");
            children.push((&field.node.selection_set, base_meta.name()));
        }
        if counted {
            self.cost = self.cost.saturating_add(times.saturating_mul(KEY_COST));
        }
        if children.is_empty() {
            return Ok(());
        }
        let (own, inner) = if free {
            (0, 1)
        } else if connection {
            let page = self.page_size(&first.node);
            (KEY_COST.saturating_add(page), page)
        } else if list {
            (KEY_COST, self.limits.max_page)
        } else {
            (KEY_COST, 1)
        };
        self.cost = self.cost.saturating_add(times.saturating_mul(own));
        // Inside a connection, only `edges` and `nodes` repeat per row.
        let inner_times = times.saturating_mul(inner);
        if connection {
            let mut per_row = Vec::new();
            let mut once = Vec::new();
            for (set, ty) in children {
                let mut fields = Vec::new();
                self.flatten(set, ty, &mut fields);
                for (field, parent) in fields {
                    let target = if matches!(field.node.name.node.as_str(), "edges" | "nodes") {
                        &mut per_row
                    } else {
                        &mut once
                    };
                    target.push((field, parent));
                }
            }
            // Walked as one merged selection, with each field at its multiplier.
            for (fields, multiplier, rows) in [(per_row, inner_times, true), (once, times, false)] {
                for (key, group) in by_response_key(fields) {
                    self.group(key, &group, multiplier, rows)?;
                }
            }
            Ok(())
        } else {
            self.selection(&children, inner_times).map(|_| ())
        }
    }

    /// Fields of one response key must return the same type (else their values could not
    /// be told apart: GraphQL's "fields can be merged" rule, which async-graphql checks only
    /// within one selection set of one type).
    fn agree(
        &self,
        key: &str,
        seen: &mut Option<(&'a str, Pos)>,
        ty: &'a str,
        pos: Pos,
    ) -> ServerResult<()> {
        match seen {
            None => {
                *seen = Some((ty, pos));
                Ok(())
            }
            Some((earlier, _)) if self.same_shape(earlier, ty) => Ok(()),
            // Nullability alone differs (`String!` and `String` on two type conditions):
            // the answer's shape is the same; refusing it would break existing clients.
            Some((earlier, _)) => Err(refusal(
                ErrorCode::GraphqlValidationFailed,
                format!(
                    "Fields \"{key}\" conflict because they return conflicting types \"{earlier}\" and \"{ty}\". Use different aliases on the fields to fetch both if this was intentional."
                ),
                Some(pos),
            )),
        }
    }

    /// Same list wrapping, and the same type where it is a leaf; nullability may differ
    /// (GraphQL's rule refuses that too; we accept it, see [`Walk::agree`]).
    fn same_shape(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        match (MetaTypeName::create(a), MetaTypeName::create(b)) {
            (MetaTypeName::NonNull(a), _) => self.same_shape(a, b),
            (_, MetaTypeName::NonNull(b)) => self.same_shape(a, b),
            (MetaTypeName::List(a), MetaTypeName::List(b)) => self.same_shape(a, b),
            (MetaTypeName::Named(a), MetaTypeName::Named(b)) => {
                let composite = |name: &str| self.meta(name).is_some_and(MetaType::is_composite);
                composite(a) && composite(b)
            }
            _ => false,
        }
    }

    /// The page a connection field asks for: `first` or `last` (a literal or a variable),
    /// at least 1, at most the maximum page size; the default page size when neither.
    fn page_size(&self, field: &Field) -> u64 {
        let requested =
            ["first", "last"]
                .iter()
                .find_map(|arg| match &field.get_argument(arg)?.node {
                    Value::Number(n) => n.as_i64(),
                    Value::Variable(name) => match self.variables.get(name) {
                        Some(ConstValue::Number(n)) => n.as_i64(),
                        _ => None,
                    },
                    _ => None,
                });
        match requested {
            Some(n) => u64::try_from(n).unwrap_or(1).clamp(1, self.limits.max_page),
            None => self.limits.default_page.clamp(1, self.limits.max_page),
        }
    }
}

/// Fields grouped by response key, in document order.
fn by_response_key<'a>(fields: Vec<Occurrence<'a>>) -> Vec<(&'a str, Vec<Occurrence<'a>>)> {
    let mut groups: Vec<(&'a str, Vec<Occurrence<'a>>)> = Vec::new();
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    for occurrence in fields {
        let key = occurrence.0.node.response_key().node.as_str();
        match index.get(key) {
            Some(&i) => groups[i].1.push(occurrence),
            None => {
                index.insert(key, groups.len());
                groups.push((key, vec![occurrence]));
            }
        }
    }
    groups
}

fn leaf_selection(name: &str, ty: &str, pos: Pos) -> ServerError {
    refusal(
        ErrorCode::GraphqlValidationFailed,
        format!("Field \"{name}\" must not have a selection since type \"{ty}\" has no subfields"),
        Some(pos),
    )
}

#[cfg(test)]
mod tests;
