//! Hostile and broken input: a clear diagnostic, exit 2 for `run`, no panic, and
//! nothing written to the store.

use crate::support::*;

fn assert_rejected(p: &Project, file: &str, needle: &str) {
    let out = p.medic().args(["run", file]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{file}: {err}");
    assert!(!err.contains("panicked"), "{file} panicked: {err}");
    assert!(
        err.to_lowercase().contains(needle),
        "{file}: expected `{needle}` in:\n{err}"
    );
    let out = p.medic().args(["validate", file]).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "{file}: validate exit {:?}",
        out.status.code()
    );
    assert!(!stderr(&out).contains("panicked"));
    assert!(
        !p.path().join(".medic").exists(),
        "{file}: something was written to the store"
    );
}

#[test]
fn malformed_yaml() {
    let p = Project::new();
    p.write(
        "bad.yaml",
        "name: x\nsteps:\n  a: { uses: log, with: [unclosed\n",
    );
    assert_rejected(&p, "bad.yaml", "bad.yaml:");
}

#[test]
fn alias_bomb() {
    let p = Project::new();
    let mut y = String::from("name: bomb\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = i - 1;
        y.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
    }
    y.push_str("steps:\n  a: { uses: log, with: { message: hi } }\n");
    p.write("bomb.yaml", &y);
    assert_rejected(&p, "bomb.yaml", "alias");
}

#[test]
fn deep_nesting() {
    let p = Project::new();
    let depth = 10_000;
    let y = format!(
        "name: deep\nsteps: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    p.write("deep.yaml", &y);
    assert_rejected(&p, "deep.yaml", "deep");
}

#[test]
fn non_utf8_bytes() {
    let p = Project::new();
    let path = p.path().join("latin1.yaml");
    std::fs::write(
        &path,
        b"name: caf\xe9\nsteps:\n  a: { uses: log, with: { message: hi } }\n",
    )
    .unwrap();
    assert_rejected(&p, "latin1.yaml", "utf-8");
}

#[test]
fn missing_file() {
    let p = Project::new();
    assert_rejected(&p, "nowhere.yaml", "nowhere.yaml");
}

#[test]
fn a_hundred_megabyte_file() {
    let p = Project::new();
    let path = p.path().join("huge.yaml");
    let mut text =
        String::from("name: huge\nsteps:\n  a: { uses: log, with: { message: hi } }\n# ");
    text.push_str(&"x".repeat(100 * 1024 * 1024));
    std::fs::write(&path, text).unwrap();
    assert_rejected(&p, "huge.yaml", "mb");
}

#[test]
fn empty_file() {
    let p = Project::new();
    p.write("empty.yaml", "");
    assert_rejected(&p, "empty.yaml", "empty");
}

/// A reader that stops early (`medic schema | head -1`) closes the pipe under
/// Medic: it ends as Unix tools do, killed by SIGPIPE, not with a panic.
#[test]
fn a_closed_stdout_ends_quietly_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let p = Project::new();
    let mut child = p
        .medic_std()
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before Medic writes the schema.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {err}",
        out.status
    );
}
