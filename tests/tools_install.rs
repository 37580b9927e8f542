//! `hack/tools.sh` installs each tool once, safely when several processes install it at once:
//! a lock per tool, and every install built in a temporary directory and renamed into place.
//! Two installs of the same tools start together into an empty tool cache; both must succeed
//! and leave exactly one complete copy. (Needs `go` and `jq`, which `make test` installs first;
//! the Go module and build caches are the machine's, so this is seconds, not a cold build.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tools_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/tools.sh")
}

fn tools(cache: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(tools_sh()).args(args).env("PA_CACHE", cache);
    cmd
}

fn path_of(cache: &Path, tool: &str) -> PathBuf {
    let out = tools(cache, &["path", tool])
        .output()
        .expect("hack/tools.sh path");
    assert!(out.status.success());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn describe(out: &Output) -> String {
    format!(
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

#[test]
fn two_installs_of_the_same_tools_at_once_both_succeed_and_leave_one_complete_copy() {
    let cache = tempfile::tempdir().unwrap();
    // A Go-built binary (go install) and files copied out of a Go module: the two kinds of
    // install a test used to race on.
    let wanted = ["actionlint", "prometheus-operator-crds"];
    for tool in wanted {
        let out = tools(cache.path(), &["check", tool]).output().unwrap();
        assert!(
            !out.status.success(),
            "{tool} reported installed in an empty cache"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("make tools"),
            "check must say how to install {tool}: {err}"
        );
    }
    let mut args = vec![];
    args.extend(wanted);
    let first = tools(cache.path(), &args).spawn().unwrap();
    let second = tools(cache.path(), &args).spawn().unwrap();
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert!(
        first.status.success(),
        "first install: {}",
        describe(&first)
    );
    assert!(
        second.status.success(),
        "second install: {}",
        describe(&second)
    );

    for tool in wanted {
        let out = tools(cache.path(), &["check", tool]).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} after install: {}",
            describe(&out)
        );
    }
    let actionlint = path_of(cache.path(), "actionlint");
    let out = Command::new(&actionlint).arg("-version").output().unwrap();
    assert!(
        out.status.success(),
        "{} -version: {}",
        actionlint.display(),
        describe(&out)
    );
    let crds = path_of(cache.path(), "prometheus-operator-crds");
    let yamls = std::fs::read_dir(&crds)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".yaml")
        })
        .count();
    assert!(yamls >= 2, "{} holds {yamls} CRD files", crds.display());
    assert!(crds
        .join("monitoring.coreos.com_servicemonitors.yaml")
        .is_file());

    // Nothing half-built is left beside the tools: only the two installed directories (and the
    // lock files, which hold nothing).
    let bin = cache.path().join("bin");
    let mut left: Vec<String> = std::fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".locks")
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![
            actionlint
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            crds.file_name().unwrap().to_string_lossy().into_owned(),
        ],
        "temporary install directories left in {}",
        bin.display()
    );
}
