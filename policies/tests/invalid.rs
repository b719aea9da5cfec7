//! Every broken policy under `tests/fixtures/invalid-policies` must be refused, and what
//! `medic validate` says about it is pinned with insta: the wording, the caret, the
//! field path and the hint are the user interface of policy validation.

use std::path::{Path, PathBuf};

use medic_engine::diagnostic::Diagnostic;
use medic_engine::validate::render_file_diagnostics;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/invalid-policies")
}

#[test]
fn every_broken_policy_is_refused_with_pinned_diagnostics() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected at least 8 fixtures, found {}",
        files.len()
    );
    let dir = fixtures_dir().display().to_string();
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("fixture")
            .to_string();
        let diagnostics = match medic_policies::load_file(&path) {
            Ok(_) => panic!("{name} validated, but every fixture here is broken"),
            Err(d) => d,
        };
        assert!(
            diagnostics.iter().any(Diagnostic::is_error),
            "{name}: {diagnostics:?}"
        );
        let text = render_file_diagnostics(&path, &diagnostics, false).replace(&dir, "fixtures");
        insta::assert_snapshot!(name, text);
    }
}
