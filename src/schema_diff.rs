//! `confab schema diff`: an offline breaking-change check between two SDL documents.
//!
//! Both sides are parsed with `async_graphql::parser::parse_schema` and compared type by
//! type. Each change is classified the way graphql-inspector classifies it:
//!
//! - **breaking**: a type removed; a type's kind changed; a field (object, interface or
//!   input) removed; an argument removed; an enum value removed; a union member removed;
//!   an interface no longer implemented; an output field's type changed incompatibly
//!   (nullability loosened, or another named type or list shape); an argument's or input
//!   field's type changed incompatibly (nullability tightened, or another named type or
//!   list shape); a required argument (non-null without default) added to an existing
//!   field; a required input field added to an existing input type.
//! - **dangerous**: an enum value added; an optional argument added; a default value of an
//!   argument or input field changed, added or removed; an interface implementation added;
//!   a union member added.
//! - **safe**: a type added; a field added to an output type; an optional input field
//!   added; nullability tightened on an output or loosened on an input; a description
//!   changed; a deprecation added or removed.
//!
//! One deliberate departure from graphql-inspector: removing the default of a non-null
//! argument or input field is **breaking**, not dangerous, because it turns an optional
//! value into a required one, which is exactly the "new required argument" rule (clients
//! that left the value out start failing validation). Every other default change stays
//! dangerous: the request still validates, only its meaning may shift.
//!
//! Directive definitions and the `schema { ... }` block are not compared.
//!
//! **Sections.** The contract copy `tests/contract/contract.graphql` tags its lines by the
//! capability that delivers them. [`line_tags`] mirrors the rules of the contract test in
//! `tests/api/schema.rs`: a section header comment (`# ---- name [tag]`) sets the tag,
//! untagged headers reset it to `core`; a comment line `# [tag]` sets it for the lines
//! after it; a trailing `# [tag]` tags its own line only. [`keep_sections`] keeps only the
//! OLD definitions (types, fields, arguments, enum values, input fields) whose name stands
//! on a line tagged with one of the chosen sections. Root types (`Query`, `Mutation`,
//! `Subscription`) are always kept, their fields filtered; a few contract items carry no
//! tag of their own but belong to a later capability ([`UNTAGGED_ELSEWHERE`], the same
//! list as the contract test's).
//!
//! **Saved operations.** [`check_operation`] validates a client document against a
//! schema's `ServiceDocument` without building a `Schema`: along every selection set
//! (fragments and inline fragments included) it checks that each field exists on its
//! parent type, that each given argument exists, that every required argument is given,
//! that leaf fields have no selection and composite fields have one, that fragment type
//! conditions name existing types, that each variable's type exists and is an input type
//! and fits the argument it is passed to (named type and nullability), and that literal
//! values fit: enum values exist, input object fields exist and required ones are given,
//! built-in scalars get literals of their kind. It does not check what the values of
//! variables will be at run time, directives, or the other rules of the validation spec
//! (unique names, unused fragments, overlapping fields).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};

use async_graphql::parser::types::{
    BaseType, ConstDirective, DocumentOperations, EnumValueDefinition, ExecutableDocument,
    FieldDefinition, FragmentDefinition, InputValueDefinition, OperationType, Selection,
    SelectionSet, ServiceDocument, Type, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::Positioned;
use async_graphql::{Name, Value};

/// How much a change can hurt existing clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Existing, valid operations may stop validating or get other shapes back.
    Breaking,
    /// Existing operations keep validating, but clients may behave differently.
    Dangerous,
    /// No existing client can notice.
    Safe,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::Breaking => "breaking",
            Class::Dangerous => "dangerous",
            Class::Safe => "safe",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One difference between the two schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub class: Class,
    /// `Type`, `Type.field`, `Type.field(arg)`, `Enum.VALUE` or `Input.field`.
    pub coordinate: String,
    /// What happened, to be read after the coordinate.
    pub message: String,
}

impl Change {
    fn new(class: Class, coordinate: impl Into<String>, message: impl Into<String>) -> Self {
        Change {
            class,
            coordinate: coordinate.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.class, self.coordinate, self.message)
    }
}

/// Why the check could not run (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Parses SDL, naming `origin` (a path, usually) in the error.
pub fn parse_sdl(text: &str, origin: &str) -> Result<ServiceDocument, InputError> {
    async_graphql::parser::parse_schema(text)
        .map_err(|e| InputError(format!("{origin} is not a GraphQL schema: {e}")))
}

// ---------------------------------------------------------------- sections

/// Contract items without a tag of their own that belong to a later capability (the same
/// list as `tests/api/schema.rs`).
pub const UNTAGGED_ELSEWHERE: &[(&str, &str)] = &[("Date", "wellness")];

/// The capability tag of each line, indexed by 1-based line number (index 0 is empty):
/// section headers (`# ---`) set it (`core` when they carry no tag), a comment line with
/// `[tag]` sets it for the lines after it, and a trailing `# [tag]` tags its own line.
pub fn line_tags(text: &str) -> Vec<String> {
    let tag_of = |s: &str| -> Option<String> {
        let open = s.rfind('[')?;
        let close = s[open..].find(']')? + open;
        Some(s[open + 1..close].to_owned())
    };
    let mut section = "core".to_owned();
    let mut tags = vec![String::new()];
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("# ---") {
            section = tag_of(trimmed).unwrap_or_else(|| "core".to_owned());
            tags.push(section.clone());
            continue;
        }
        if trimmed.starts_with('#') {
            if let Some(tag) = tag_of(trimmed) {
                section = tag;
            }
            tags.push(section.clone());
            continue;
        }
        let own = line
            .split_once('#')
            .and_then(|(_, comment)| tag_of(comment))
            .unwrap_or_else(|| section.clone());
        tags.push(own);
    }
    tags
}

/// The names of the root operation types: from the `schema` block, else the defaults.
fn root_names(doc: &ServiceDocument) -> [String; 3] {
    let mut roots = [
        "Query".to_owned(),
        "Mutation".to_owned(),
        "Subscription".to_owned(),
    ];
    for def in &doc.definitions {
        if let TypeSystemDefinition::Schema(schema) = def {
            let s = &schema.node;
            for (slot, name) in roots
                .iter_mut()
                .zip([&s.query, &s.mutation, &s.subscription])
            {
                if let Some(name) = name {
                    *slot = name.node.to_string();
                }
            }
        }
    }
    roots
}

/// `doc` (parsed from `text`) with only the definitions whose name stands on a line tagged
/// with one of `sections`. A section no line carries is an error, so that a typo cannot
/// silently empty the check.
pub fn keep_sections(
    doc: &ServiceDocument,
    text: &str,
    sections: &[String],
) -> Result<ServiceDocument, InputError> {
    let tags = line_tags(text);
    let known: BTreeSet<&str> = tags
        .iter()
        .skip(1)
        .map(String::as_str)
        .chain(UNTAGGED_ELSEWHERE.iter().map(|(_, tag)| *tag))
        .collect();
    let unknown: Vec<&str> = sections
        .iter()
        .map(String::as_str)
        .filter(|s| !known.contains(s))
        .collect();
    if !unknown.is_empty() {
        return Err(InputError(format!(
            "no line of the old schema is tagged {}; its tags are {}",
            unknown
                .iter()
                .map(|s| format!("[{s}]"))
                .collect::<Vec<_>>()
                .join(", "),
            known
                .iter()
                .map(|s| format!("[{s}]"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let chosen = |tag: &str| sections.iter().any(|s| s == tag);
    let kept = |name: &Positioned<Name>| {
        chosen(
            tags.get(name.pos.line)
                .map(String::as_str)
                .unwrap_or("core"),
        )
    };
    let roots = root_names(doc);
    let mut definitions = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = def else {
            definitions.push(def.clone());
            continue;
        };
        let name = ty.node.name.node.as_str();
        let is_root = roots.iter().any(|r| r == name);
        let own_tag = UNTAGGED_ELSEWHERE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, tag)| *tag);
        let type_kept = match own_tag {
            Some(tag) => chosen(tag),
            None => kept(&ty.node.name),
        };
        if !is_root && !type_kept {
            continue;
        }
        let mut ty = ty.clone();
        let keep_fields = |fields: &mut Vec<Positioned<FieldDefinition>>| {
            fields.retain(|f| kept(&f.node.name));
            for field in fields.iter_mut() {
                field.node.arguments.retain(|a| kept(&a.node.name));
            }
        };
        match &mut ty.node.kind {
            TypeKind::Object(o) => keep_fields(&mut o.fields),
            TypeKind::Interface(i) => keep_fields(&mut i.fields),
            TypeKind::Enum(e) => e.values.retain(|v| kept(&v.node.value)),
            TypeKind::InputObject(i) => i.fields.retain(|f| kept(&f.node.name)),
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
        definitions.push(TypeSystemDefinition::Type(ty));
    }
    Ok(ServiceDocument { definitions })
}

// ---------------------------------------------------------------- the diff

fn types(doc: &ServiceDocument) -> BTreeMap<&str, &TypeDefinition> {
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some((t.node.name.node.as_str(), &t.node)),
            _ => None,
        })
        .collect()
}

fn kind_name(kind: &TypeKind) -> &'static str {
    match kind {
        TypeKind::Scalar => "scalar",
        TypeKind::Object(_) => "object",
        TypeKind::Interface(_) => "interface",
        TypeKind::Union(_) => "union",
        TypeKind::Enum(_) => "enum",
        TypeKind::InputObject(_) => "input object",
    }
}

fn description(d: &Option<Positioned<String>>) -> Option<&str> {
    d.as_ref().map(|d| d.node.as_str())
}

fn deprecated(directives: &[Positioned<ConstDirective>]) -> bool {
    directives.iter().any(|d| d.node.name.node == "deprecated")
}

fn describe_changes(
    coordinate: &str,
    old: (&Option<Positioned<String>>, &[Positioned<ConstDirective>]),
    new: (&Option<Positioned<String>>, &[Positioned<ConstDirective>]),
    out: &mut Vec<Change>,
) {
    if description(old.0) != description(new.0) {
        let message = match (description(old.0), description(new.0)) {
            (None, _) => "got a description",
            (_, None) => "lost its description",
            _ => "changed its description",
        };
        out.push(Change::new(Class::Safe, coordinate, message));
    }
    match (deprecated(old.1), deprecated(new.1)) {
        (false, true) => out.push(Change::new(Class::Safe, coordinate, "was deprecated")),
        (true, false) => out.push(Change::new(
            Class::Safe,
            coordinate,
            "is no longer deprecated",
        )),
        _ => {}
    }
}

/// Whether an output position may go from `old` to `new` without breaking a client:
/// nullability may only tighten, and the named type and list shape must stay.
fn output_compatible(old: &Type, new: &Type) -> bool {
    if !old.nullable && new.nullable {
        return false;
    }
    match (&old.base, &new.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => output_compatible(a, b),
        _ => false,
    }
}

/// Whether an input position may go from `old` to `new` without breaking a client:
/// nullability may only loosen, and the named type and list shape must stay.
fn input_compatible(old: &Type, new: &Type) -> bool {
    if old.nullable && !new.nullable {
        return false;
    }
    match (&old.base, &new.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => input_compatible(a, b),
        _ => false,
    }
}

fn required(value: &InputValueDefinition) -> bool {
    !value.ty.node.nullable && value.default_value.is_none()
}

fn default_text(value: &InputValueDefinition) -> String {
    value
        .default_value
        .as_ref()
        .map(|d| d.node.to_string())
        .unwrap_or_else(|| "none".to_owned())
}

/// Which input values [`diff_input_values`] compares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InputValues {
    Arguments,
    InputFields,
}

/// Arguments of a field, or fields of an input object.
fn diff_input_values(
    coordinate: impl Fn(&str) -> String,
    what: InputValues,
    old: &[Positioned<InputValueDefinition>],
    new: &[Positioned<InputValueDefinition>],
    out: &mut Vec<Change>,
) {
    for o in old {
        let o = &o.node;
        let name = o.name.node.as_str();
        let coord = coordinate(name);
        let Some(n) = new.iter().find(|n| n.node.name.node == o.name.node) else {
            out.push(Change::new(Class::Breaking, coord, "was removed"));
            continue;
        };
        let n = &n.node;
        let (ot, nt) = (&o.ty.node, &n.ty.node);
        if ot != nt {
            let class = if input_compatible(ot, nt) {
                Class::Safe
            } else {
                Class::Breaking
            };
            out.push(Change::new(
                class,
                coord.clone(),
                format!("changed type from {ot} to {nt}"),
            ));
        }
        let same_default = match (&o.default_value, &n.default_value) {
            (Some(a), Some(b)) => a.node == b.node,
            (None, None) => true,
            _ => false,
        };
        if !same_default {
            if o.default_value.is_some() && required(n) {
                out.push(Change::new(
                    Class::Breaking,
                    coord.clone(),
                    format!(
                        "lost its default {}, so it became required",
                        default_text(o)
                    ),
                ));
            } else {
                out.push(Change::new(
                    Class::Dangerous,
                    coord.clone(),
                    format!(
                        "changed default from {} to {}",
                        default_text(o),
                        default_text(n)
                    ),
                ));
            }
        }
        describe_changes(
            &coord,
            (&o.description, &o.directives),
            (&n.description, &n.directives),
            out,
        );
    }
    for n in new {
        let n = &n.node;
        if old.iter().any(|o| o.node.name.node == n.name.node) {
            continue;
        }
        let coord = coordinate(n.name.node.as_str());
        let ty = &n.ty.node;
        let change = match (what, required(n)) {
            (InputValues::Arguments, true) => Change::new(
                Class::Breaking,
                coord,
                format!("was added as a required argument ({ty})"),
            ),
            (InputValues::Arguments, false) => Change::new(
                Class::Dangerous,
                coord,
                format!("was added as an optional argument ({ty})"),
            ),
            (InputValues::InputFields, true) => Change::new(
                Class::Breaking,
                coord,
                format!("was added as a required input field ({ty})"),
            ),
            (InputValues::InputFields, false) => Change::new(
                Class::Safe,
                coord,
                format!("was added as an optional input field ({ty})"),
            ),
        };
        out.push(change);
    }
}

fn diff_fields(
    owner: &str,
    old: &[Positioned<FieldDefinition>],
    new: &[Positioned<FieldDefinition>],
    out: &mut Vec<Change>,
) {
    for o in old {
        let o = &o.node;
        let coord = format!("{owner}.{}", o.name.node);
        let Some(n) = new.iter().find(|n| n.node.name.node == o.name.node) else {
            out.push(Change::new(Class::Breaking, coord, "was removed"));
            continue;
        };
        let n = &n.node;
        let (ot, nt) = (&o.ty.node, &n.ty.node);
        if ot != nt {
            let class = if output_compatible(ot, nt) {
                Class::Safe
            } else {
                Class::Breaking
            };
            out.push(Change::new(
                class,
                coord.clone(),
                format!("changed type from {ot} to {nt}"),
            ));
        }
        describe_changes(
            &coord,
            (&o.description, &o.directives),
            (&n.description, &n.directives),
            out,
        );
        diff_input_values(
            |arg| format!("{coord}({arg})"),
            InputValues::Arguments,
            &o.arguments,
            &n.arguments,
            out,
        );
    }
    for n in new {
        if !old.iter().any(|o| o.node.name.node == n.node.name.node) {
            out.push(Change::new(
                Class::Safe,
                format!("{owner}.{}", n.node.name.node),
                format!("was added ({})", n.node.ty.node),
            ));
        }
    }
}

fn diff_implements(
    owner: &str,
    old: &[Positioned<Name>],
    new: &[Positioned<Name>],
    out: &mut Vec<Change>,
) {
    for o in old {
        if !new.iter().any(|n| n.node == o.node) {
            out.push(Change::new(
                Class::Breaking,
                owner,
                format!("no longer implements {}", o.node),
            ));
        }
    }
    for n in new {
        if !old.iter().any(|o| o.node == n.node) {
            out.push(Change::new(
                Class::Dangerous,
                owner,
                format!("now implements {}", n.node),
            ));
        }
    }
}

fn diff_enum_values(
    owner: &str,
    old: &[Positioned<EnumValueDefinition>],
    new: &[Positioned<EnumValueDefinition>],
    out: &mut Vec<Change>,
) {
    for o in old {
        let o = &o.node;
        let coord = format!("{owner}.{}", o.value.node);
        match new.iter().find(|n| n.node.value.node == o.value.node) {
            None => out.push(Change::new(Class::Breaking, coord, "was removed")),
            Some(n) => describe_changes(
                &coord,
                (&o.description, &o.directives),
                (&n.node.description, &n.node.directives),
                out,
            ),
        }
    }
    for n in new {
        if !old.iter().any(|o| o.node.value.node == n.node.value.node) {
            out.push(Change::new(
                Class::Dangerous,
                format!("{owner}.{}", n.node.value.node),
                "was added",
            ));
        }
    }
}

fn diff_type(old: &TypeDefinition, new: &TypeDefinition, out: &mut Vec<Change>) {
    let name = old.name.node.as_str();
    describe_changes(
        name,
        (&old.description, &old.directives),
        (&new.description, &new.directives),
        out,
    );
    match (&old.kind, &new.kind) {
        (TypeKind::Scalar, TypeKind::Scalar) => {}
        (TypeKind::Object(o), TypeKind::Object(n)) => {
            diff_implements(name, &o.implements, &n.implements, out);
            diff_fields(name, &o.fields, &n.fields, out);
        }
        (TypeKind::Interface(o), TypeKind::Interface(n)) => {
            diff_implements(name, &o.implements, &n.implements, out);
            diff_fields(name, &o.fields, &n.fields, out);
        }
        (TypeKind::Union(o), TypeKind::Union(n)) => {
            for member in &o.members {
                if !n.members.iter().any(|m| m.node == member.node) {
                    out.push(Change::new(
                        Class::Breaking,
                        name,
                        format!("no longer includes {}", member.node),
                    ));
                }
            }
            for member in &n.members {
                if !o.members.iter().any(|m| m.node == member.node) {
                    out.push(Change::new(
                        Class::Dangerous,
                        name,
                        format!("now includes {}", member.node),
                    ));
                }
            }
        }
        (TypeKind::Enum(o), TypeKind::Enum(n)) => diff_enum_values(name, &o.values, &n.values, out),
        (TypeKind::InputObject(o), TypeKind::InputObject(n)) => diff_input_values(
            |field| format!("{name}.{field}"),
            InputValues::InputFields,
            &o.fields,
            &n.fields,
            out,
        ),
        (o, n) => out.push(Change::new(
            Class::Breaking,
            name,
            format!("changed kind from {} to {}", kind_name(o), kind_name(n)),
        )),
    }
}

/// Every change from `old` to `new`, breaking first, then dangerous, then safe; within a
/// class, in the order of the old document's types (sorted by name), additions last.
pub fn diff(old: &ServiceDocument, new: &ServiceDocument) -> Vec<Change> {
    let (old_types, new_types) = (types(old), types(new));
    let mut out = Vec::new();
    for (name, o) in &old_types {
        match new_types.get(name) {
            None => out.push(Change::new(
                Class::Breaking,
                *name,
                format!("was removed ({} type)", kind_name(&o.kind)),
            )),
            Some(n) => diff_type(o, n, &mut out),
        }
    }
    for (name, n) in &new_types {
        if !old_types.contains_key(name) {
            out.push(Change::new(
                Class::Safe,
                *name,
                format!("was added ({} type)", kind_name(&n.kind)),
            ));
        }
    }
    out.sort_by_key(|c| c.class);
    out
}

// ---------------------------------------------------------------- saved operations

/// A marker for a variable inside an argument of a client document: the non-constant
/// value type is not exported by async-graphql, so arguments are turned into constant
/// values with each variable replaced by a `Binary` holding its name (the parser never
/// produces `Binary` from a literal).
fn variable_marker(name: Name) -> Result<Value, Infallible> {
    Ok(Value::Binary(bytes::Bytes::from(name.to_string())))
}

const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

fn named_type(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named_type(inner),
    }
}

/// Whether a variable of type `var` may be passed where `location` is expected (the
/// spec's AreTypesCompatible; a default on either side lets a nullable variable fill a
/// non-null place).
fn variable_fits(var: &Type, location: &Type, has_default: bool) -> bool {
    if !location.nullable && var.nullable {
        if !has_default {
            return false;
        }
        let location = Type {
            base: location.base.clone(),
            nullable: true,
        };
        return variable_fits(var, &location, false);
    }
    match (&var.base, &location.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => variable_fits(a, b, false),
        _ => false,
    }
}

struct OperationCheck<'a> {
    types: BTreeMap<&'a str, &'a TypeDefinition>,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: BTreeMap<String, (Type, bool)>,
    fragments_seen: BTreeSet<String>,
    problems: Vec<String>,
}

impl<'a> OperationCheck<'a> {
    fn problem(&mut self, text: String) {
        if !self.problems.contains(&text) {
            self.problems.push(text);
        }
    }

    fn fields_of(&self, type_name: &str) -> Option<&'a [Positioned<FieldDefinition>]> {
        match &self.types.get(type_name)?.kind {
            TypeKind::Object(o) => Some(&o.fields),
            TypeKind::Interface(i) => Some(&i.fields),
            _ => None,
        }
    }

    fn is_composite(&self, type_name: &str) -> Option<bool> {
        if BUILT_IN_SCALARS.contains(&type_name) {
            return Some(false);
        }
        Some(matches!(
            self.types.get(type_name)?.kind,
            TypeKind::Object(_) | TypeKind::Interface(_) | TypeKind::Union(_)
        ))
    }

    fn selection_set(&mut self, parent: &str, set: &SelectionSet, is_query_root: bool) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    if name == "__typename"
                        || (is_query_root && (name == "__schema" || name == "__type"))
                    {
                        continue;
                    }
                    let coord = format!("{parent}.{name}");
                    let Some(fields) = self.fields_of(parent) else {
                        self.problem(format!("{coord} is selected, but {parent} has no fields"));
                        continue;
                    };
                    let Some(def) = fields.iter().find(|f| f.node.name.node == name) else {
                        self.problem(format!("{coord} does not exist"));
                        continue;
                    };
                    let def = &def.node;
                    for (arg, value) in &field.arguments {
                        let arg_coord = format!("{coord}({})", arg.node);
                        match def.arguments.iter().find(|a| a.node.name.node == arg.node) {
                            None => self.problem(format!("{arg_coord} does not exist")),
                            Some(a) => self.value(
                                &value
                                    .node
                                    .clone()
                                    .into_const_with(variable_marker)
                                    .unwrap_or_else(|never| match never {}),
                                &a.node.ty.node,
                                a.node.default_value.is_some(),
                                &arg_coord,
                            ),
                        }
                    }
                    for a in &def.arguments {
                        let given = field
                            .arguments
                            .iter()
                            .any(|(n, _)| n.node == a.node.name.node);
                        if !given && required(&a.node) {
                            self.problem(format!(
                                "{coord}({}) is required ({}) but not given",
                                a.node.name.node, a.node.ty.node
                            ));
                        }
                    }
                    let returns = named_type(&def.ty.node);
                    let has_selection = !field.selection_set.node.items.is_empty();
                    match self.is_composite(returns) {
                        None => self.problem(format!(
                            "{coord} returns {returns}, which the schema does not define"
                        )),
                        Some(true) if !has_selection => self.problem(format!(
                            "{coord} returns {returns}, which needs a selection of fields"
                        )),
                        Some(false) if has_selection => self.problem(format!(
                            "{coord} returns {returns}, which has no fields to select"
                        )),
                        Some(true) => self.selection_set(returns, &field.selection_set.node, false),
                        Some(false) => {}
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.to_string();
                    let Some(fragment) =
                        self.fragments.get(spread.node.fragment_name.node.as_str())
                    else {
                        self.problem(format!("fragment {name} is not defined"));
                        continue;
                    };
                    if !self.fragments_seen.insert(name) {
                        continue;
                    }
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    self.fragment(on, &fragment.node.selection_set.node);
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .unwrap_or(parent);
                    self.fragment(on, &inline.node.selection_set.node);
                }
            }
        }
    }

    fn fragment(&mut self, on: &str, set: &SelectionSet) {
        match self.is_composite(on) {
            Some(true) => self.selection_set(on, set, false),
            Some(false) => self.problem(format!("a fragment on {on}, which has no fields")),
            None => self.problem(format!(
                "a fragment on {on}, which the schema does not define"
            )),
        }
    }

    /// A literal or variable (see [`with_variable_markers`]) given where `ty` is expected.
    fn value(&mut self, value: &Value, ty: &Type, has_default: bool, at: &str) {
        match value {
            Value::Binary(marker) => match self
                .variables
                .get(String::from_utf8_lossy(marker).as_ref())
                .cloned()
            {
                None => self.problem(format!(
                    "{at}: variable ${} is not declared",
                    String::from_utf8_lossy(marker)
                )),
                Some((var_ty, var_default)) => {
                    let var = String::from_utf8_lossy(marker);
                    if !variable_fits(&var_ty, ty, has_default || var_default) {
                        self.problem(format!(
                            "{at} expects {ty}, the variable ${var} is {var_ty}"
                        ));
                    }
                }
            },
            Value::Null => {
                if !ty.nullable {
                    self.problem(format!("{at} expects {ty}, not null"));
                }
            }
            _ => match &ty.base {
                BaseType::List(inner) => match value {
                    Value::List(items) => {
                        for item in items {
                            self.value(item, inner, false, at);
                        }
                    }
                    single => self.value(single, inner, false, at),
                },
                BaseType::Named(name) => self.named_value(value, name.as_str(), at),
            },
        }
    }

    fn named_value(&mut self, value: &Value, type_name: &str, at: &str) {
        let fits = match (type_name, value) {
            ("Int", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("Float", Value::Number(_)) => true,
            ("String", Value::String(_)) => true,
            ("Boolean", Value::Boolean(_)) => true,
            ("ID", Value::String(_)) => true,
            ("ID", Value::Number(n)) => n.is_i64() || n.is_u64(),
            (builtin, _) if BUILT_IN_SCALARS.contains(&builtin) => false,
            _ => true,
        };
        if !fits {
            self.problem(format!("{at} expects {type_name}, not {value}"));
            return;
        }
        let Some(def) = self.types.get(type_name).copied() else {
            if !BUILT_IN_SCALARS.contains(&type_name) {
                self.problem(format!(
                    "{at} expects {type_name}, which the schema does not define"
                ));
            }
            return;
        };
        match (&def.kind, value) {
            (TypeKind::Enum(e), Value::Enum(v)) => {
                if !e.values.iter().any(|d| d.node.value.node == *v) {
                    self.problem(format!("{at}: {type_name}.{v} does not exist"));
                }
            }
            (TypeKind::Enum(_), other) => {
                self.problem(format!("{at} expects a {type_name} value, not {other}"));
            }
            (TypeKind::InputObject(input), Value::Object(given)) => {
                for (key, item) in given {
                    let field_at = format!("{type_name}.{key}");
                    match input.fields.iter().find(|f| f.node.name.node == *key) {
                        None => self.problem(format!("{at}: {field_at} does not exist")),
                        Some(f) => self.value(
                            item,
                            &f.node.ty.node,
                            f.node.default_value.is_some(),
                            &format!("{at}: {field_at}"),
                        ),
                    }
                }
                for f in &input.fields {
                    if required(&f.node) && !given.contains_key(&f.node.name.node) {
                        self.problem(format!(
                            "{at}: {type_name}.{} is required ({}) but not given",
                            f.node.name.node, f.node.ty.node
                        ));
                    }
                }
            }
            (TypeKind::InputObject(_), other) => {
                self.problem(format!("{at} expects a {type_name} object, not {other}"));
            }
            (TypeKind::Scalar, _) => {}
            (kind, _) => self.problem(format!(
                "{at} expects {type_name}, an {} type, which cannot be an input",
                kind_name(kind)
            )),
        }
    }
}

/// The problems of one named operation of a client document against `schema`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationProblems {
    /// The operation's name (`anonymous` when it has none).
    pub operation: String,
    pub problems: Vec<String>,
}

/// Validates every operation of `source` (a client document) against `schema`; returns
/// the operations with problems. `Err` when `source` does not parse.
pub fn check_operation(
    schema: &ServiceDocument,
    source: &str,
) -> Result<Vec<OperationProblems>, String> {
    let document: ExecutableDocument =
        async_graphql::parser::parse_query(source).map_err(|e| e.to_string())?;
    let roots = root_names(schema);
    let schema_types = types(schema);
    let operations: Vec<(String, &Positioned<_>)> = match &document.operations {
        DocumentOperations::Single(op) => vec![("anonymous".to_owned(), op)],
        DocumentOperations::Multiple(ops) => ops
            .iter()
            .map(|(name, op)| (name.to_string(), op))
            .collect(),
    };
    let mut found = Vec::new();
    for (name, op) in operations {
        let op = &op.node;
        let mut check = OperationCheck {
            types: schema_types.clone(),
            fragments: &document.fragments,
            variables: BTreeMap::new(),
            fragments_seen: BTreeSet::new(),
            problems: Vec::new(),
        };
        for var in &op.variable_definitions {
            let var = &var.node;
            let ty = &var.var_type.node;
            let base = named_type(ty);
            let input = BUILT_IN_SCALARS.contains(&base)
                || schema_types.get(base).is_some_and(|t| {
                    matches!(
                        t.kind,
                        TypeKind::Scalar | TypeKind::Enum(_) | TypeKind::InputObject(_)
                    )
                });
            if !input {
                let why = if schema_types.contains_key(base) {
                    "which is not an input type"
                } else {
                    "which the schema does not define"
                };
                check.problem(format!("variable ${} is {ty}, {why}", var.name.node));
            }
            check.variables.insert(
                var.name.node.to_string(),
                (ty.clone(), var.default_value.is_some()),
            );
        }
        let (root, label) = match op.ty {
            OperationType::Query => (&roots[0], "query"),
            OperationType::Mutation => (&roots[1], "mutation"),
            OperationType::Subscription => (&roots[2], "subscription"),
        };
        if schema_types.contains_key(root.as_str()) {
            check.selection_set(root, &op.selection_set.node, op.ty == OperationType::Query);
        } else {
            check.problem(format!("the schema has no {label} type {root}"));
        }
        if !check.problems.is_empty() {
            found.push(OperationProblems {
                operation: name,
                problems: check.problems,
            });
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------- the command

/// What `confab schema diff` was asked to compare.
#[derive(Debug, Clone, Default)]
pub struct DiffRequest {
    /// The old SDL file.
    pub old: PathBuf,
    /// The new SDL file; `None` for the running code's SDL.
    pub new: Option<PathBuf>,
    /// Keep only these sections of OLD; empty keeps everything.
    pub sections: Vec<String>,
    /// A directory of saved client operations (`*.graphql`).
    pub operations: Option<PathBuf>,
}

/// One saved operation that does not validate against NEW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenOperation {
    pub file: PathBuf,
    pub operation: String,
    pub problems: Vec<String>,
    /// Whether it did not validate against OLD either.
    pub already_invalid: bool,
}

/// The outcome of `confab schema diff`.
#[derive(Debug, Clone)]
pub struct Report {
    pub changes: Vec<Change>,
    /// `Some` when saved operations were checked: how many files, and the broken ones.
    pub operations: Option<(usize, Vec<BrokenOperation>)>,
}

impl Report {
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }

    /// Whether the run fails: a saved operation breaks, or (without saved operations)
    /// any breaking change.
    pub fn fails(&self) -> bool {
        match &self.operations {
            Some((_, broken)) => !broken.is_empty(),
            None => self.count(Class::Breaking) > 0,
        }
    }

    /// One change per line, grouped by class, then saved-operation problems, then a
    /// line of counts.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for change in &self.changes {
            out.push_str(&change.to_string());
            out.push('\n');
        }
        if let Some((files, broken)) = &self.operations {
            for op in broken {
                let note = if op.already_invalid {
                    " (it did not validate against the old schema either)"
                } else {
                    ""
                };
                for problem in &op.problems {
                    out.push_str(&format!(
                        "operation {} ({}): {problem}{note}\n",
                        op.operation,
                        op.file.display()
                    ));
                }
            }
            out.push_str(&format!(
                "{} breaking, {} dangerous, {} safe; {} saved operation(s) in {files} file(s) broken\n",
                self.count(Class::Breaking),
                self.count(Class::Dangerous),
                self.count(Class::Safe),
                broken.len(),
            ));
        } else {
            out.push_str(&format!(
                "{} breaking, {} dangerous, {} safe\n",
                self.count(Class::Breaking),
                self.count(Class::Dangerous),
                self.count(Class::Safe),
            ));
        }
        out
    }
}

fn read(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("cannot read {}: {e}", path.display())))
}

/// The saved operation files of `dir`: its `*.graphql` files, by name.
fn operation_files(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| InputError(format!("cannot read {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| InputError(format!("cannot read {}: {e}", dir.display())))?
            .path();
        if path.is_file() && path.extension().is_some_and(|e| e == "graphql") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(InputError(format!(
            "{} holds no *.graphql operations",
            dir.display()
        )));
    }
    Ok(files)
}

/// Runs the whole check: reads and parses both sides (`running_sdl` gives NEW when no
/// file is named), filters OLD by sections, diffs, and checks saved operations.
pub fn run(
    request: &DiffRequest,
    running_sdl: impl FnOnce() -> String,
) -> Result<Report, InputError> {
    let old_text = read(&request.old)?;
    let old_origin = request.old.display().to_string();
    let mut old = parse_sdl(&old_text, &old_origin)?;
    if !request.sections.is_empty() {
        old = keep_sections(&old, &old_text, &request.sections)?;
    }
    let new = match &request.new {
        Some(path) => parse_sdl(&read(path)?, &path.display().to_string())?,
        None => parse_sdl(&running_sdl(), "the running code's schema")?,
    };
    let changes = diff(&old, &new);
    let operations = match &request.operations {
        None => None,
        Some(dir) => {
            let files = operation_files(dir)?;
            let mut broken = Vec::new();
            for file in &files {
                let source = read(file)?;
                let bad = |problem: String| {
                    InputError(format!(
                        "{} is not a GraphQL document: {problem}",
                        file.display()
                    ))
                };
                let against_new = check_operation(&new, &source).map_err(bad)?;
                let against_old = check_operation(&old, &source).map_err(bad)?;
                for op in against_new {
                    broken.push(BrokenOperation {
                        file: file.clone(),
                        already_invalid: against_old.iter().any(|o| o.operation == op.operation),
                        operation: op.operation,
                        problems: op.problems,
                    });
                }
            }
            Some((files.len(), broken))
        }
    };
    Ok(Report {
        changes,
        operations,
    })
}

#[cfg(test)]
mod tests;
