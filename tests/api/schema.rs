//! The schema snapshot and the frontend contract.
//!
//! `schema.graphql` must be exactly what `confab export-schema` prints, and it must
//! contain every type, field, argument, enum value and input field of the contract's
//! delivered sections with the same type and nullability (it may add optional things).

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::types::{
    InputValueDefinition, ServiceDocument, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::Positioned;
use confab::schema_diff::{line_tags, UNTAGGED_ELSEWHERE};

/// The contract sections this build delivers.
const DELIVERED: &[&str] = &[
    "core",
    "realtime",
    "teams",
    "tasks",
    "workspace",
    "wellness",
    "credits",
    "public",
    "search",
];

const CONTRACT: &str = include_str!("../contract/contract.graphql");

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|e| panic!("read {name}: {e}"))
}

#[test]
fn schema_graphql_is_what_export_schema_prints() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("export-schema")
        .output()
        .expect("run confab export-schema");
    assert!(output.status.success(), "export-schema failed: {output:?}");
    let exported = String::from_utf8(output.stdout).expect("UTF-8 SDL");
    assert_eq!(
        exported,
        confab::graphql::sdl(),
        "the binary prints the library's SDL"
    );
    let committed = repo_file("schema.graphql");
    assert!(
        exported == committed,
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql`"
    );
}

#[test]
fn contract_copy_matches_the_shared_design() {
    let shared =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/design/contract.graphql");
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(
            text, CONTRACT,
            "tests/contract/contract.graphql differs from ../shared/design/contract.graphql"
        );
    }
}

/// Whether `line` declares `name` inline, as in `type T { a: Int  b: Int }`.
fn declares_inline(line: &str, name: &str) -> bool {
    line.match_indices(name).any(|(start, _)| {
        let boundary = line[..start]
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == '{' || c == '(' || c == ',');
        let rest = line[start + name.len()..].trim_start();
        boundary && (rest.starts_with(':') || rest.starts_with('('))
    })
}

/// The line a definition's name stands on (a description may come before it).
fn name_line(pos_line: usize, name: &str) -> usize {
    if CONTRACT
        .lines()
        .nth(pos_line.saturating_sub(1))
        .is_some_and(|l| declares_inline(l, name))
    {
        return pos_line;
    }
    CONTRACT
        .lines()
        .enumerate()
        .skip(pos_line.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim_start();
            t.strip_prefix(name).is_some_and(|rest| {
                rest.starts_with(':') || rest.starts_with('(') || rest.starts_with(' ')
            })
        })
        .map(|(i, _)| i + 1)
        .unwrap_or(pos_line)
}

fn types(doc: &ServiceDocument) -> BTreeMap<String, &Positioned<TypeDefinition>> {
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some((t.node.name.node.to_string(), t)),
            _ => None,
        })
        .collect()
}

fn args(list: &[Positioned<InputValueDefinition>]) -> BTreeMap<String, &InputValueDefinition> {
    list.iter()
        .map(|a| (a.node.name.node.to_string(), &a.node))
        .collect()
}

fn check_inputs(
    owner: &str,
    contract: &[Positioned<InputValueDefinition>],
    ours: &[Positioned<InputValueDefinition>],
    tags: &[String],
    missing: &mut Vec<String>,
) {
    let ours = args(ours);
    let mut expected = BTreeSet::new();
    for arg in contract {
        let tag = &tags[name_line(arg.pos.line, arg.node.name.node.as_str())];
        if !DELIVERED.contains(&tag.as_str()) {
            continue;
        }
        let name = arg.node.name.node.to_string();
        expected.insert(name.clone());
        match ours.get(&name) {
            None => missing.push(format!("{owner}({name}) is missing")),
            Some(found) => {
                if found.ty.node.to_string() != arg.node.ty.node.to_string() {
                    missing.push(format!(
                        "{owner}({name}) is {} in the schema, {} in the contract",
                        found.ty.node, arg.node.ty.node
                    ));
                }
                let default = |d: &Option<Positioned<async_graphql::Value>>| {
                    d.as_ref().map(|v| v.node.to_string())
                };
                if arg.node.default_value.is_some()
                    && default(&found.default_value) != default(&arg.node.default_value)
                {
                    missing.push(format!(
                        "{owner}({name}) defaults to {:?}, the contract to {:?}",
                        default(&found.default_value),
                        default(&arg.node.default_value)
                    ));
                }
            }
        }
    }
    for (name, arg) in ours {
        if !expected.contains(&name) && !arg.ty.node.nullable && arg.default_value.is_none() {
            missing.push(format!(
                "{owner}({name}) is an added argument that is required"
            ));
        }
    }
}

/// Everything of the delivered sections the schema lacks or types differently.
fn contract_gaps(schema: &str) -> Vec<String> {
    let contract_doc = async_graphql::parser::parse_schema(CONTRACT).expect("the contract parses");
    let schema_doc = async_graphql::parser::parse_schema(schema).expect("the schema parses");
    let tags = line_tags(CONTRACT);
    let ours = types(&schema_doc);
    let mut gaps = Vec::new();
    for (name, def) in types(&contract_doc) {
        let def_tag = UNTAGGED_ELSEWHERE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, tag)| tag.to_string())
            .unwrap_or_else(|| tags[def.pos.line].clone());
        // Root types hold fields of many sections; others belong to their section.
        let is_root = matches!(name.as_str(), "Query" | "Mutation" | "Subscription");
        if !is_root && !DELIVERED.contains(&def_tag.as_str()) {
            continue;
        }
        let Some(found) = ours.get(&name) else {
            if !is_root {
                gaps.push(format!("type {name} is missing"));
            }
            continue;
        };
        match (&def.node.kind, &found.node.kind) {
            (TypeKind::Scalar, TypeKind::Scalar) => {}
            (TypeKind::Object(c), TypeKind::Object(o)) => {
                for iface in &c.implements {
                    if !o.implements.iter().any(|i| i.node == iface.node) {
                        gaps.push(format!("{name} does not implement {}", iface.node));
                    }
                }
                check_fields(&name, &c.fields, &o.fields, &tags, &mut gaps);
            }
            (TypeKind::Interface(c), TypeKind::Interface(o)) => {
                check_fields(&name, &c.fields, &o.fields, &tags, &mut gaps);
            }
            (TypeKind::Enum(c), TypeKind::Enum(o)) => {
                for value in &c.values {
                    if !o
                        .values
                        .iter()
                        .any(|v| v.node.value.node == value.node.value.node)
                    {
                        gaps.push(format!("{name}.{} is missing", value.node.value.node));
                    }
                }
            }
            (TypeKind::InputObject(c), TypeKind::InputObject(o)) => {
                check_inputs(&name, &c.fields, &o.fields, &tags, &mut gaps);
            }
            _ => gaps.push(format!("{name} has another kind of type in the schema")),
        }
    }
    gaps
}

fn check_fields(
    owner: &str,
    contract: &[Positioned<async_graphql::parser::types::FieldDefinition>],
    ours: &[Positioned<async_graphql::parser::types::FieldDefinition>],
    tags: &[String],
    gaps: &mut Vec<String>,
) {
    for field in contract {
        let line = name_line(field.pos.line, field.node.name.node.as_str());
        if !DELIVERED.contains(&tags[line].as_str()) {
            continue;
        }
        let name = field.node.name.node.to_string();
        match ours
            .iter()
            .find(|f| f.node.name.node == field.node.name.node)
        {
            None => gaps.push(format!("{owner}.{name} is missing")),
            Some(found) => {
                if found.node.ty.node.to_string() != field.node.ty.node.to_string() {
                    gaps.push(format!(
                        "{owner}.{name} is {} in the schema, {} in the contract",
                        found.node.ty.node, field.node.ty.node
                    ));
                }
                check_inputs(
                    &format!("{owner}.{name}"),
                    &field.node.arguments,
                    &found.node.arguments,
                    tags,
                    gaps,
                );
            }
        }
    }
}

#[test]
fn schema_contains_every_delivered_part_of_the_contract() {
    let gaps = contract_gaps(&confab::graphql::sdl());
    assert!(
        gaps.is_empty(),
        "the schema breaks the contract:\n{}",
        gaps.join("\n")
    );
}

#[test]
fn the_contract_check_notices_a_missing_field_and_a_changed_type() {
    let sdl = confab::graphql::sdl();
    let project = sdl
        .find("type Project implements Node")
        .expect("Project in the SDL");
    let title = project
        + sdl[project..]
            .find("\ttitle: String!\n")
            .expect("Project.title");
    let without_title = format!(
        "{}{}",
        &sdl[..title],
        &sdl[title + "\ttitle: String!\n".len()..]
    );
    let gaps = contract_gaps(&without_title);
    assert!(
        gaps.iter().any(|g| g == "Project.title is missing"),
        "a removed field is reported: {gaps:?}"
    );
    // Fields of a type declared on one contract line are checked too.
    let waitlist = sdl
        .find("type WaitlistEntry {")
        .expect("WaitlistEntry in the SDL");
    let email = waitlist
        + sdl[waitlist..]
            .find("\temail: String!\n")
            .expect("WaitlistEntry.email");
    let without_email = format!(
        "{}{}",
        &sdl[..email],
        &sdl[email + "\temail: String!\n".len()..]
    );
    let gaps = contract_gaps(&without_email);
    assert!(
        gaps.iter().any(|g| g == "WaitlistEntry.email is missing"),
        "a removed field of a one-line type is reported: {gaps:?}"
    );
    let loosened = sdl.replacen("\tmessageCount: Int!\n", "\tmessageCount: Int\n", 1);
    let gaps = contract_gaps(&loosened);
    assert!(
        gaps.iter()
            .any(|g| g.contains("Conversation.messageCount is Int in the schema")),
        "a loosened type is reported: {gaps:?}"
    );
}

#[test]
fn contract_tags_follow_sections_and_inline_comments() {
    let tags = line_tags(CONTRACT);
    let line_of = |needle: &str| {
        CONTRACT
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{needle} not in the contract"))
    };
    assert_eq!(tags[line_of("type Project implements Node")], "core");
    assert_eq!(tags[line_of("team: Team  ")], "teams");
    assert_eq!(tags[line_of("type Task implements Node")], "tasks");
    assert_eq!(tags[line_of("createTeam(name: String!)")], "teams");
    assert_eq!(tags[line_of("updateProfile(input:")], "core");
    assert_eq!(tags[line_of("messageAdded(conversationId")], "realtime");
    // A field declared on its type's one line is tagged by that line, not by a later
    // line that starts with the same name (`path:` of WorkspaceFile).
    let visit = line_of("input SiteVisitInput");
    assert_eq!(name_line(visit, "path"), visit);
    assert_eq!(tags[name_line(visit, "path")], "public");
    let waitlist = line_of("type WaitlistEntry {");
    assert_eq!(tags[name_line(waitlist, "id")], "public");
}
