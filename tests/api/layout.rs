//! The layout ARCHITECTURE.md promises, checked on the source: no file of `src/` imports a
//! file that imports it back (but for the schema's one two-way relation, `Project.team` ↔
//! `Team.projects`), and nothing below the router imports from `http/`.
//!
//! An import is any `crate::a::b` path (in `use` lines, groups and inline paths) or
//! `super::a` path outside a file's `#[cfg(test)]` part, resolved to the longest module
//! prefix that is a file. A parent module's own use of the children it declares (`mod
//! pages;` then `pages::x`) is the module tree, not an import, as for
//! `../shared/tools/import_graph.py`; a child reaching back into its parent is one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The one cycle the schema needs: a project's team and a team's projects.
const ALLOWED_CYCLE: [&str; 2] = ["graphql/teams.rs", "graphql/types.rs"];

/// Files that assemble the router and may import `http/`.
const ROUTER_ASSEMBLY: [&str; 3] = ["lib.rs", "main.rs", "app.rs"];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn source_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).expect("under src/").to_path_buf());
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The file a module path names, longest prefix first.
fn module_file(files: &BTreeSet<String>, parts: &[String]) -> Option<String> {
    (1..=parts.len()).rev().find_map(|n| {
        let base = parts[..n].join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|candidate| files.contains(candidate))
    })
}

/// Lower-case path segments after `start` (`a::b::c`), and the rest of the text.
fn path_at(text: &str) -> (Vec<String>, &str) {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        let len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
        let ident = &rest[..len];
        if ident.is_empty() || !ident.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
            break;
        }
        parts.push(ident.to_owned());
        rest = &rest[len..];
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    (parts, rest)
}

/// Every module path a file names through `marker` (`crate::` or `super::`), with the
/// items of a `{...}` group after it expanded one level.
fn paths_after(text: &str, marker: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut search = text;
    while let Some(at) = search.find(marker) {
        let before = search[..at].chars().next_back();
        search = &search[at + marker.len()..];
        if before.is_some_and(is_ident_char) {
            continue;
        }
        let (prefix, rest) = path_at(search);
        found.push(prefix.clone());
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let (item_path, _) = path_at(item.trim());
                if !item_path.is_empty() && item_path[0] != "self" {
                    found.push(prefix.iter().cloned().chain(item_path).collect());
                }
            }
        }
    }
    found
}

fn import_graph(src: &Path) -> Graph {
    let mut paths = Vec::new();
    source_files(src, src, &mut paths);
    let names: BTreeSet<String> = paths
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        // A `tests.rs` beside its module is the module's test part.
        .filter(|name| !name.ends_with("/tests.rs"))
        .collect();
    let mut graph = Graph::new();
    for name in &names {
        let text = std::fs::read_to_string(src.join(name)).expect("a source file");
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let module: Vec<String> = name
            .trim_end_matches("/mod.rs")
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        let parent = &module[..module.len() - 1];
        let targets = graph.entry(name.clone()).or_default();
        let crate_paths = paths_after(text, "crate::");
        let super_paths = paths_after(text, "super::")
            .into_iter()
            .map(|p| parent.iter().cloned().chain(p).collect::<Vec<_>>());
        for path in crate_paths.into_iter().chain(super_paths) {
            if let Some(target) = module_file(&names, &path) {
                if &target != name {
                    targets.insert(target);
                }
            }
        }
    }
    graph
}

fn reaches(graph: &Graph, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(node) = stack.pop() {
        if node == to {
            return true;
        }
        if seen.insert(node.clone()) {
            stack.extend(graph.get(&node).into_iter().flatten().cloned());
        }
    }
    false
}

/// Each import that closes a cycle, as "a -> b (b reaches a)", leaving out the allowed pair.
fn cycles(graph: &Graph) -> Vec<String> {
    let allowed = |a: &str, b: &str| ALLOWED_CYCLE.contains(&a) && ALLOWED_CYCLE.contains(&b);
    let mut pruned = graph.clone();
    for (from, targets) in pruned.iter_mut() {
        targets.retain(|to| !allowed(from, to));
    }
    let mut found = Vec::new();
    for (from, targets) in &pruned {
        for to in targets {
            if reaches(&pruned, to, from) {
                found.push(format!("{from} -> {to}"));
            }
        }
    }
    found
}

fn upward_into_http(graph: &Graph) -> Vec<String> {
    graph
        .iter()
        .filter(|(from, _)| !from.starts_with("http/") && !ROUTER_ASSEMBLY.contains(&from.as_str()))
        .flat_map(|(from, targets)| {
            targets
                .iter()
                .filter(|to| to.starts_with("http/"))
                .map(move |to| format!("{from} -> {to}"))
        })
        .collect()
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn src_has_no_import_cycle_but_the_schemas_own() {
    let graph = import_graph(&src_dir());
    assert!(graph.len() > 40, "read {} files", graph.len());
    assert_eq!(cycles(&graph), Vec::<String>::new());
    // The allowed pair is a real two-way relation, not a stale exception.
    let [teams, types] = ALLOWED_CYCLE;
    assert!(graph[teams].contains(types) && graph[types].contains(teams));
}

#[test]
fn nothing_below_the_router_imports_http() {
    let graph = import_graph(&src_dir());
    assert_eq!(upward_into_http(&graph), Vec::<String>::new());
}

#[test]
fn the_checker_sees_a_cycle_and_an_upward_import() {
    let graph: Graph = [
        ("domain/a.rs", vec!["domain/b.rs"]),
        ("domain/b.rs", vec!["db.rs"]),
        ("db.rs", vec!["domain/a.rs", "http/metrics.rs"]),
        ("graphql/teams.rs", vec!["graphql/types.rs"]),
        ("graphql/types.rs", vec!["graphql/teams.rs"]),
        ("app.rs", vec!["http/mod.rs"]),
    ]
    .into_iter()
    .map(|(from, to)| (from.to_owned(), to.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        cycles(&graph),
        [
            "db.rs -> domain/a.rs",
            "domain/a.rs -> domain/b.rs",
            "domain/b.rs -> db.rs"
        ]
    );
    assert_eq!(upward_into_http(&graph), ["db.rs -> http/metrics.rs"]);
}

#[test]
fn the_parser_reads_groups_inline_paths_and_super() {
    let text = "use crate::domain::{self, projects, teams::Team};\nfn f() { crate::db::now(); }\nuse super::registry::Registry;";
    assert_eq!(
        paths_after(text, "crate::"),
        [
            vec!["domain".to_owned()],
            vec!["domain".to_owned(), "projects".to_owned()],
            vec!["domain".to_owned(), "teams".to_owned()],
            vec!["db".to_owned(), "now".to_owned()],
        ]
    );
    assert_eq!(paths_after(text, "super::"), [vec!["registry".to_owned()]]);
}
