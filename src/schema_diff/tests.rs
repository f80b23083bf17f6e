use super::*;

fn parse(sdl: &str) -> ServiceDocument {
    parse_sdl(sdl, "test SDL").expect("test SDL parses")
}

fn lines(old: &str, new: &str) -> Vec<String> {
    diff(&parse(old), &parse(new))
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// (rule, old SDL, new SDL, every expected line of the diff)
const RULES: &[(&str, &str, &str, &[&str])] = &[
    // ---- breaking
    (
        "a type removed",
        "type Query { a: Int } type Foo { x: Int }",
        "type Query { a: Int }",
        &["breaking: Foo was removed (object type)"],
    ),
    (
        "a type's kind changed",
        "type Query { a: Int } type Foo { x: Int }",
        "type Query { a: Int } input Foo { x: Int }",
        &["breaking: Foo changed kind from object to input object"],
    ),
    (
        "an object field removed",
        "type Query { a: Int b: String }",
        "type Query { a: Int }",
        &["breaking: Query.b was removed"],
    ),
    (
        "an interface field removed",
        "interface Node { id: ID! name: String }",
        "interface Node { id: ID! }",
        &["breaking: Node.name was removed"],
    ),
    (
        "an input field removed",
        "input In { a: Int b: Int }",
        "input In { a: Int }",
        &["breaking: In.b was removed"],
    ),
    (
        "an argument removed",
        "type Query { a(x: Int, y: Int): Int }",
        "type Query { a(x: Int): Int }",
        &["breaking: Query.a(y) was removed"],
    ),
    (
        "an enum value removed",
        "enum Status { ACTIVE ARCHIVED }",
        "enum Status { ACTIVE }",
        &["breaking: Status.ARCHIVED was removed"],
    ),
    (
        "a union member removed",
        "type A { x: Int } type B { x: Int } union U = A | B",
        "type A { x: Int } type B { x: Int } union U = A",
        &["breaking: U no longer includes B"],
    ),
    (
        "an interface no longer implemented",
        "interface Node { id: ID! } type P implements Node { id: ID! }",
        "interface Node { id: ID! } type P { id: ID! }",
        &["breaking: P no longer implements Node"],
    ),
    (
        "nullability loosened on an output",
        "type Query { a: String! }",
        "type Query { a: String }",
        &["breaking: Query.a changed type from String! to String"],
    ),
    (
        "another named type on an output",
        "type Query { a: String }",
        "type Query { a: Int }",
        &["breaking: Query.a changed type from String to Int"],
    ),
    (
        "a list item's nullability loosened on an output",
        "type Query { a: [String!]! }",
        "type Query { a: [String]! }",
        &["breaking: Query.a changed type from [String!]! to [String]!"],
    ),
    (
        "a list turned into a single value on an output",
        "type Query { a: [String] }",
        "type Query { a: String }",
        &["breaking: Query.a changed type from [String] to String"],
    ),
    (
        "nullability tightened on an input field",
        "input In { a: String }",
        "input In { a: String! }",
        &["breaking: In.a changed type from String to String!"],
    ),
    (
        "nullability tightened on an argument",
        "type Query { a(x: Int): Int }",
        "type Query { a(x: Int!): Int }",
        &["breaking: Query.a(x) changed type from Int to Int!"],
    ),
    (
        "another named type on an argument",
        "scalar UUID type Query { project(id: UUID!): Int }",
        "scalar UUID type Query { project(id: ID!): Int }",
        &["breaking: Query.project(id) changed type from UUID! to ID!"],
    ),
    (
        "a list item tightened on an input",
        "input In { a: [Int] }",
        "input In { a: [Int!] }",
        &["breaking: In.a changed type from [Int] to [Int!]"],
    ),
    (
        "a required argument added",
        "type Query { a: Int }",
        "type Query { a(x: Int!): Int }",
        &["breaking: Query.a(x) was added as a required argument (Int!)"],
    ),
    (
        "a required input field added",
        "input In { a: Int }",
        "input In { a: Int b: String! }",
        &["breaking: In.b was added as a required input field (String!)"],
    ),
    (
        "a non-null argument's default removed (it became required)",
        "type Query { a(x: Int! = 10): Int }",
        "type Query { a(x: Int!): Int }",
        &["breaking: Query.a(x) lost its default 10, so it became required"],
    ),
    // ---- dangerous
    (
        "an argument's default changed",
        "type Query { a(first: Int = 10): Int }",
        "type Query { a(first: Int = 20): Int }",
        &["dangerous: Query.a(first) changed default from 10 to 20"],
    ),
    (
        "a nullable argument's default removed",
        "type Query { a(first: Int = 10): Int }",
        "type Query { a(first: Int): Int }",
        &["dangerous: Query.a(first) changed default from 10 to none"],
    ),
    (
        "a default added",
        "enum O { A B } type Query { a(o: O): Int }",
        "enum O { A B } type Query { a(o: O = A): Int }",
        &["dangerous: Query.a(o) changed default from none to A"],
    ),
    (
        "an input field's default changed",
        "enum L { INFO ERROR } input In { type: L = INFO }",
        "enum L { INFO ERROR } input In { type: L = ERROR }",
        &["dangerous: In.type changed default from INFO to ERROR"],
    ),
    (
        "an enum value added",
        "enum Status { ACTIVE }",
        "enum Status { ACTIVE ARCHIVED }",
        &["dangerous: Status.ARCHIVED was added"],
    ),
    (
        "an optional argument added",
        "type Query { a: Int }",
        "type Query { a(x: Int): Int }",
        &["dangerous: Query.a(x) was added as an optional argument (Int)"],
    ),
    (
        "a non-null argument with a default added",
        "type Query { a: Int }",
        "type Query { a(x: Int! = 1): Int }",
        &["dangerous: Query.a(x) was added as an optional argument (Int!)"],
    ),
    (
        "an interface implementation added",
        "interface Node { id: ID! } type P { id: ID! }",
        "interface Node { id: ID! } type P implements Node { id: ID! }",
        &["dangerous: P now implements Node"],
    ),
    (
        "a union member added",
        "type A { x: Int } type B { x: Int } union U = A",
        "type A { x: Int } type B { x: Int } union U = A | B",
        &["dangerous: U now includes B"],
    ),
    // ---- safe
    (
        "a type added",
        "type Query { a: Int }",
        "type Query { a: Int } enum Status { ACTIVE }",
        &["safe: Status was added (enum type)"],
    ),
    (
        "a field added to an object",
        "type Query { a: Int }",
        "type Query { a: Int b: [String!]! }",
        &["safe: Query.b was added ([String!]!)"],
    ),
    (
        "a field added to an interface",
        "interface Node { id: ID! }",
        "interface Node { id: ID! name: String }",
        &["safe: Node.name was added (String)"],
    ),
    (
        "an optional input field added",
        "input In { a: Int }",
        "input In { a: Int b: String }",
        &["safe: In.b was added as an optional input field (String)"],
    ),
    (
        "a non-null input field with a default added",
        "input In { a: Int }",
        "input In { a: Int b: Int! = 0 }",
        &["safe: In.b was added as an optional input field (Int!)"],
    ),
    (
        "nullability tightened on an output",
        "type Query { a: String b: [Int] }",
        "type Query { a: String! b: [Int!]! }",
        &[
            "safe: Query.a changed type from String to String!",
            "safe: Query.b changed type from [Int] to [Int!]!",
        ],
    ),
    (
        "nullability loosened on an input field and an argument",
        "input In { a: String! } type Query { q(x: [Int!]!): Int }",
        "input In { a: String } type Query { q(x: [Int]): Int }",
        &[
            "safe: In.a changed type from String! to String",
            "safe: Query.q(x) changed type from [Int!]! to [Int]",
        ],
    ),
    (
        "descriptions changed, added and removed",
        r#""Old." type Query { "Old a." a(x: Int): Int "B." b: Int c: Int }"#,
        r#""New." type Query { "New a." a("X." x: Int): Int b: Int "C." c: Int }"#,
        &[
            "safe: Query changed its description",
            "safe: Query.a changed its description",
            "safe: Query.a(x) got a description",
            "safe: Query.b lost its description",
            "safe: Query.c got a description",
        ],
    ),
    (
        "an enum value's description and a deprecation",
        r#"enum S { A B } type Query { a: Int }"#,
        r#"enum S { "The first." A B } type Query { a: Int @deprecated(reason: "no") }"#,
        &[
            "safe: Query.a was deprecated",
            "safe: S.A got a description",
        ],
    ),
    (
        "nothing changed",
        "type Query { a(x: Int = 1): [String!]! } enum S { A }",
        "enum S { A } type Query { a(x: Int = 1): [String!]! }",
        &[],
    ),
];

#[test]
fn every_rule_is_classified_and_worded() {
    for (rule, old, new, expected) in RULES {
        assert_eq!(lines(old, new), *expected, "rule: {rule}");
    }
}

#[test]
fn changes_are_grouped_breaking_then_dangerous_then_safe() {
    let changes = diff(
        &parse("type Query { a: Int b: Int } enum S { A }"),
        &parse("type Query { a: String c: Int } enum S { A B }"),
    );
    let classes: Vec<Class> = changes.iter().map(|c| c.class).collect();
    assert_eq!(
        classes,
        [
            Class::Breaking,
            Class::Breaking,
            Class::Dangerous,
            Class::Safe
        ]
    );
    let report = Report {
        changes,
        operations: None,
    };
    assert_eq!(
        report.render(),
        "breaking: Query.a changed type from Int to String\n\
         breaking: Query.b was removed\n\
         dangerous: S.B was added\n\
         safe: Query.c was added (Int)\n\
         2 breaking, 1 dangerous, 1 safe\n"
    );
    assert!(report.fails());
}

// ---------------------------------------------------------------- sections

const TAGGED: &str = "\
# ---------------- scalars
scalar Date
scalar Upload   # [files]

# ---------------- root
type Query {
  a: Int
  b(x: Int, y: Int): Int      # [teams]
  c(
    x: Int
    y: Int                    # [files]
  ): Int
  team: Team                  # [teams]
}

type Mutation {
  # [core]
  m1: Int
  # [teams]
  m2: Int
}

# ---------------- projects [core]
\"\"\"
A project.
\"\"\"
type Project {
  id: ID!
  team: Team                  # [teams]
}
enum Role {
  OWNER
  GUEST                       # [teams]
}
input ProjectInput { title: String  teamId: ID }
input Filter {
  title: String
  teamId: ID                  # [teams]
}

# ---------------- teams [teams]
type Team { id: ID! }

# ---------------- files [files]
type File { id: ID! }
";

fn kept(sections: &[&str]) -> String {
    let sections: Vec<String> = sections.iter().map(|s| (*s).to_owned()).collect();
    let filtered = keep_sections(&parse(TAGGED), TAGGED, &sections).expect("known sections");
    // What survived, as the SDL of one line per definition.
    let mut out = Vec::new();
    for (name, def) in types(&filtered) {
        let inner: Vec<String> = match &def.kind {
            TypeKind::Object(o) => o
                .fields
                .iter()
                .map(|f| {
                    let args: Vec<String> = f
                        .node
                        .arguments
                        .iter()
                        .map(|a| a.node.name.node.to_string())
                        .collect();
                    if args.is_empty() {
                        f.node.name.node.to_string()
                    } else {
                        format!("{}({})", f.node.name.node, args.join(","))
                    }
                })
                .collect(),
            TypeKind::Enum(e) => e
                .values
                .iter()
                .map(|v| v.node.value.node.to_string())
                .collect(),
            TypeKind::InputObject(i) => i
                .fields
                .iter()
                .map(|f| f.node.name.node.to_string())
                .collect(),
            _ => Vec::new(),
        };
        out.push(format!("{name}[{}]", inner.join(" ")));
    }
    out.join(" ")
}

#[test]
fn line_tags_follow_headers_comment_lines_and_trailing_comments() {
    let tags = line_tags(TAGGED);
    let tag_of = |needle: &str| {
        let line = TAGGED
            .lines()
            .position(|l| l.contains(needle))
            .expect("needle in the document")
            + 1;
        tags[line].as_str()
    };
    assert_eq!(tags[0], "");
    assert_eq!(tag_of("scalar Date"), "core");
    assert_eq!(tag_of("scalar Upload"), "files");
    assert_eq!(tag_of("  a: Int"), "core");
    assert_eq!(tag_of("b(x: Int, y: Int)"), "teams");
    assert_eq!(tag_of("m1: Int"), "core");
    assert_eq!(tag_of("m2: Int"), "teams");
    assert_eq!(tag_of("type Project"), "core");
    assert_eq!(tag_of("type Team {"), "teams");
    assert_eq!(tag_of("type File"), "files");
}

#[test]
fn the_section_filter_keeps_only_the_chosen_sections() {
    assert_eq!(
        kept(&["core"]),
        "Filter[title] Mutation[m1] Project[id] ProjectInput[title teamId] \
         Query[a c(x)] Role[OWNER]"
    );
    assert_eq!(
        kept(&["core", "teams"]),
        "Filter[title teamId] Mutation[m1 m2] Project[id team] ProjectInput[title teamId] \
         Query[a b(x,y) c(x) team] Role[OWNER GUEST] Team[id]"
    );
    // Date has no tag of its own but belongs to [wellness], as in the contract test.
    assert_eq!(kept(&["wellness"]), "Date[] Mutation[] Query[]");
    // An argument goes with its field: Query.c is [core], so its [files] argument too.
    assert_eq!(kept(&["files"]), "File[id] Mutation[] Query[] Upload[]");
}

#[test]
fn an_unknown_section_is_an_input_error() {
    let err = keep_sections(&parse(TAGGED), TAGGED, &["core".into(), "tems".into()])
        .expect_err("no line is tagged [tems]");
    assert!(
        err.0
            .starts_with("no line of the old schema is tagged [tems];"),
        "{err}"
    );
}

#[test]
fn a_filtered_contract_diffs_only_its_sections() {
    let new = "type Query { a: Int c(x: Int): Int } type Mutation { m1: Int } \
               type Project { id: ID! } enum Role { OWNER } \
               input ProjectInput { title: String teamId: ID } input Filter { title: String }";
    let old = keep_sections(&parse(TAGGED), TAGGED, &["core".into()]).expect("core is known");
    let changes: Vec<String> = diff(&old, &parse(new))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(changes, ["safe: Project lost its description"]);
    // Against the full document, every [teams], [files] and [wellness] part is missing.
    let all = diff(&parse(TAGGED), &parse(new));
    let breaking: Vec<&str> = all
        .iter()
        .filter(|c| c.class == Class::Breaking)
        .map(|c| c.coordinate.as_str())
        .collect();
    assert_eq!(
        breaking,
        [
            "Date",
            "File",
            "Filter.teamId",
            "Mutation.m2",
            "Project.team",
            "Query.b",
            "Query.c(y)",
            "Query.team",
            "Role.GUEST",
            "Team",
            "Upload"
        ]
    );
}

// ---------------------------------------------------------------- operations

const OPS_SCHEMA: &str = r#"
scalar UUID
interface Node { id: ID! }
type Project implements Node { id: ID! title: String! status: Status! owner: Person }
type Person { name: String }
union Thing = Project | Person
enum Status { ACTIVE ARCHIVED }
input CreateInput { title: String! status: Status = ACTIVE }
type Query {
  project(id: UUID!): Project
  projects(status: Status = ACTIVE, first: Int, ids: [UUID!]): [Project!]!
  node(id: ID!): Node
  things: [Thing!]!
}
type Mutation { create(input: CreateInput!): Project! }
"#;

/// (case, client document, every expected problem)
const OPERATIONS: &[(&str, &str, &[&str])] = &[
    (
        "a valid document with variables and fragments",
        r#"query P($id: UUID!, $s: Status) {
             project(id: $id) { ...Fields owner { name } }
             projects(status: $s, first: 2, ids: ["a", "b"]) { id }
             node(id: "x") { __typename id ... on Project { title } }
             things { ... on Person { name } ... on Project { id } }
           }
           fragment Fields on Project { id title status }
           mutation C { create(input: { title: "t", status: ARCHIVED }) { id } }"#,
        &[],
    ),
    (
        "a missing field",
        "{ projects { id budget } }",
        &["Project.budget does not exist"],
    ),
    (
        "a missing field inside a fragment",
        "query Q { projects { ...F } } fragment F on Project { budget }",
        &["Project.budget does not exist"],
    ),
    (
        "an unknown argument",
        "{ projects(last: 2) { id } }",
        &["Query.projects(last) does not exist"],
    ),
    (
        "a required argument left out",
        "{ project { id } }",
        &["Query.project(id) is required (UUID!) but not given"],
    ),
    (
        "a variable of another type",
        "query Q($id: ID!) { project(id: $id) { id } }",
        &["Query.project(id) expects UUID!, the variable $id is ID!"],
    ),
    (
        "a nullable variable where a value is required",
        "query Q($id: UUID) { project(id: $id) { id } }",
        &["Query.project(id) expects UUID!, the variable $id is UUID"],
    ),
    (
        "a nullable variable with a default where a value is required",
        r#"query Q($id: UUID = "x") { project(id: $id) { id } }"#,
        &[],
    ),
    (
        "an undeclared variable",
        "{ project(id: $id) { id } }",
        &["Query.project(id): variable $id is not declared"],
    ),
    (
        "a variable of a type the schema lacks",
        "query Q($f: Filter) { projects { id } }",
        &["variable $f is Filter, which the schema does not define"],
    ),
    (
        "a removed enum value as a literal",
        "{ projects(status: DELETED) { id } }",
        &["Query.projects(status): Status.DELETED does not exist"],
    ),
    (
        "a literal of the wrong kind",
        r#"{ projects(first: "ten") { id } }"#,
        &[r#"Query.projects(first) expects Int, not "ten""#],
    ),
    (
        "an input object literal with an unknown field and without a required one",
        "mutation { create(input: { name: \"x\" }) { id } }",
        &[
            "Mutation.create(input): CreateInput.name does not exist",
            "Mutation.create(input): CreateInput.title is required (String!) but not given",
        ],
    ),
    (
        "a selection on a leaf and none on an object",
        "{ projects { title { x } owner } }",
        &[
            "Project.title returns String, which has no fields to select",
            "Project.owner returns Person, which needs a selection of fields",
        ],
    ),
    (
        "an undefined fragment and a fragment on a type the schema lacks",
        "{ projects { ...Missing ... on Folder { id } } }",
        &[
            "fragment Missing is not defined",
            "a fragment on Folder, which the schema does not define",
        ],
    ),
    (
        "a field of a union selected without a fragment",
        "{ things { id } }",
        &["Thing.id is selected, but Thing has no fields"],
    ),
    (
        "a subscription without a subscription type",
        "subscription S { projectAdded { id } }",
        &["the schema has no subscription type Subscription"],
    ),
];

#[test]
fn saved_operations_are_checked_against_the_schema() {
    let schema = parse(OPS_SCHEMA);
    for (case, document, expected) in OPERATIONS {
        let found = check_operation(&schema, document).expect("the document parses");
        let problems: Vec<String> = found.into_iter().flat_map(|op| op.problems).collect();
        assert_eq!(problems, *expected, "case: {case}");
    }
}

#[test]
fn operation_problems_name_their_operation() {
    let schema = parse(OPS_SCHEMA);
    let found = check_operation(
        &schema,
        "query Good { projects { id } } query Bad { projects { budget } }",
    )
    .expect("the document parses");
    assert_eq!(
        found,
        [OperationProblems {
            operation: "Bad".into(),
            problems: vec!["Project.budget does not exist".into()],
        }]
    );
    assert!(check_operation(&schema, "{ projects { id ").is_err());
}

// ---------------------------------------------------------------- the command

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

#[test]
fn with_saved_operations_only_a_change_that_breaks_one_fails() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let old = write(dir.path(), "old.graphql", OPS_SCHEMA);
    let without_owner = OPS_SCHEMA.replace(" owner: Person }", " }");
    let new = write(dir.path(), "new.graphql", &without_owner);
    let ops = dir.path().join("ops");
    std::fs::create_dir(&ops).expect("an ops dir");
    write(&ops, "list.graphql", "query List { projects { id title } }");
    write(&ops, "notes.txt", "query Ignored { nothing }");
    let mut request = DiffRequest {
        old: old.clone(),
        new: Some(new.clone()),
        sections: Vec::new(),
        operations: Some(ops.clone()),
    };
    let report = run(&request, String::new).expect("the inputs are readable");
    assert_eq!(report.count(Class::Breaking), 1);
    assert!(!report.fails(), "no saved operation selects Project.owner");
    assert!(report
        .render()
        .ends_with("1 breaking, 0 dangerous, 0 safe; 0 saved operation(s) in 1 file(s) broken\n"));

    write(
        &ops,
        "owner.graphql",
        "query Owner { projects { owner { name } } }",
    );
    let report = run(&request, String::new).expect("the inputs are readable");
    assert!(report.fails());
    let Some((files, broken)) = &report.operations else {
        panic!("operations were checked");
    };
    assert_eq!(*files, 2);
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].operation, "Owner");
    assert!(!broken[0].already_invalid);
    assert!(
        report.render().contains(&format!(
            "operation Owner ({}): Project.owner does not exist\n",
            ops.join("owner.graphql").display()
        )),
        "{}",
        report.render()
    );

    // Without saved operations, the breaking change fails the run.
    request.operations = None;
    assert!(run(&request, String::new).expect("readable").fails());
    // NEW defaults to the running code's SDL.
    request.new = None;
    let report = run(&request, || OPS_SCHEMA.to_owned()).expect("readable");
    assert!(report.changes.is_empty() && !report.fails());
}

#[test]
fn unreadable_and_unparsable_inputs_are_input_errors() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let good = write(dir.path(), "good.graphql", "type Query { a: Int }");
    let garbage = write(dir.path(), "garbage.graphql", "this is { not graphql");
    let request = |old: &Path, new: &Path| DiffRequest {
        old: old.to_path_buf(),
        new: Some(new.to_path_buf()),
        ..DiffRequest::default()
    };
    let missing = dir.path().join("missing.graphql");
    let err = run(&request(&missing, &good), String::new).expect_err("missing OLD");
    assert!(err.0.starts_with("cannot read "), "{err}");
    let err = run(&request(&good, &garbage), String::new).expect_err("garbage NEW");
    assert!(
        err.0
            .starts_with(&format!("{} is not a GraphQL schema:", garbage.display())),
        "{err}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("an empty dir");
    let err = run(
        &DiffRequest {
            operations: Some(empty.clone()),
            ..request(&good, &good)
        },
        String::new,
    )
    .expect_err("no operations");
    assert_eq!(
        err.0,
        format!("{} holds no *.graphql operations", empty.display())
    );
}
