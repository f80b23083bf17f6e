//! `confab schema diff` as CI runs it: the built binary on the contract, on a schema with
//! a field removed, on saved operations, and on a file that is not GraphQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The sections this build delivers (as in `.ci/run`).
const DELIVERED: &str = "core,realtime,teams,tasks,workspace,wellness,credits,public,search,files";

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn schema_diff(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["schema", "diff"])
        .args(args)
        .output()
        .expect("run confab schema diff");
    (
        status.code().expect("an exit code, not a signal"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// `schema.graphql` without `Project.title`, in a temp dir.
fn schema_without_project_title(dir: &Path) -> PathBuf {
    let sdl = std::fs::read_to_string(repo_file("schema.graphql")).unwrap();
    let project = sdl
        .find("type Project implements Node {")
        .expect("Project in schema.graphql");
    let title = project
        + sdl[project..]
            .find("\ttitle: String!\n")
            .expect("Project.title");
    let without = format!(
        "{}{}",
        &sdl[..title],
        &sdl[title + "\ttitle: String!\n".len()..]
    );
    let path = dir.join("schema.graphql");
    std::fs::write(&path, without).unwrap();
    path
}

#[test]
fn the_delivered_contract_has_no_breaking_change() {
    let contract = repo_file("tests/contract/contract.graphql");
    let (code, stdout, stderr) = schema_diff(&[
        contract.as_os_str(),
        "--sections".as_ref(),
        DELIVERED.as_ref(),
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("breaking:") || l.starts_with("dangerous:")),
        "{stdout}"
    );
    let last = stdout.lines().last().expect("a line of counts");
    assert!(last.starts_with("0 breaking, 0 dangerous, "), "{last}");
    assert!(last.ends_with(" safe"), "{last}");

    // With [files] every section is delivered: the whole contract has no breaking change.
    let (code, stdout, _) = schema_diff(&[contract.as_os_str()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("breaking:")),
        "{stdout}"
    );
}

#[test]
fn a_removed_field_fails_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let new = schema_without_project_title(dir.path());
    let old = repo_file("schema.graphql");
    let (code, stdout, stderr) = schema_diff(&[old.as_os_str(), new.as_os_str()]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "breaking: Project.title was removed",
            "1 breaking, 0 dangerous, 0 safe"
        ]
    );

    // With saved operations, only an operation that selects the field fails the run.
    let ops = dir.path().join("ops");
    std::fs::create_dir(&ops).unwrap();
    std::fs::write(
        ops.join("projects.graphql"),
        "query ViewerProjects { viewer { projects(first: 5) { nodes { id } } } }",
    )
    .unwrap();
    let run = |ops: &Path| {
        schema_diff(&[
            old.as_os_str(),
            new.as_os_str(),
            "--operations".as_ref(),
            ops.as_os_str(),
        ])
    };
    let (code, stdout, _) = run(&ops);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.ends_with("0 saved operation(s) in 1 file(s) broken\n"),
        "{stdout}"
    );
    std::fs::write(
        ops.join("titles.graphql"),
        "query Titles { viewer { projects { nodes { id title } } } }",
    )
    .unwrap();
    let (code, stdout, _) = run(&ops);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "operation Titles ({}): Project.title does not exist\n",
            ops.join("titles.graphql").display()
        )),
        "{stdout}"
    );
}

#[test]
fn a_file_that_is_not_graphql_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.graphql");
    std::fs::write(&garbage, "this is { not: graphql").unwrap();
    let (code, stdout, stderr) = schema_diff(&[garbage.as_os_str()]);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "confab schema diff: {} is not a GraphQL schema:",
            garbage.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let missing = dir.path().join("missing.graphql");
    let (code, _, stderr) = schema_diff(&[missing.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read {}", missing.display())),
        "{stderr}"
    );
}
