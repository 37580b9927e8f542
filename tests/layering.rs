//! The layering check (`make layering`, `hack/layering.py`) passes on `src/` and fails on a
//! copy of `src/` with one `use` that runs back up the house or closes a circle.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check(src: &Path) -> Output {
    Command::new("python3")
        .arg(root().join("hack/layering.py"))
        .arg(src)
        .output()
        .expect("python3 hack/layering.py")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of `src/` with `line` added at the top of `file` (after its module docs).
fn src_with(file: &str, line: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&root().join("src"), &src);
    let path = src.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let docs_end = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.len() + 1)
        .sum::<usize>();
    let patched = format!("{}\n{line}\n{}", &text[..docs_end], &text[docs_end..]);
    std::fs::write(&path, patched).unwrap();
    (dir, src)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_source_tree_has_no_circle_and_no_arrow_back_up() {
    let out = check(&root().join("src"));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_verifier_importing_the_controller_fails_the_check() {
    let (_dir, src) = src_with(
        "verifier/pipeline.rs",
        "#[allow(unused_imports)]\nuse crate::controller::Context;",
    );
    let out = check(&src);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`verifier` may not import `controller`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_cli_reaching_into_controller_internals_fails_the_check() {
    let (_dir, src) = src_with(
        "cli/audit.rs",
        "#[allow(unused_imports)]\nuse crate::controller::metrics::Metrics;",
    );
    let out = check(&src);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("only the root of `controller` is open to `cli`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_circle_inside_a_room_fails_the_check() {
    // engine::fulcio is imported by engine::claims; the reverse arrow closes a circle.
    let (_dir, src) = src_with(
        "engine/fulcio.rs",
        "#[allow(unused_imports)]\nuse super::claims::Claim;",
    );
    let out = check(&src);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("circle: engine::claims -> engine::fulcio"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_vocabulary_importing_the_engine_fails_the_check() {
    let (_dir, src) = src_with(
        "vocabulary.rs",
        "#[allow(unused_imports)]\nuse crate::engine::Verdict;",
    );
    let out = check(&src);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`vocabulary` may not import `engine`"),
        "{}",
        stderr(&out)
    );
}
