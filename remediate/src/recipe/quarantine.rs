//! quarantine: skip a flaky test where it is defined, with the failure's fingerprint
//! in the reason so the quarantine can be found and lifted later.
//!
//! Rust: `#[ignore = "quarantined by medic: <fp>"]` on the `fn` named by the last
//! segment of the test path. pytest: `@pytest.mark.skip(reason=…)` on the `def`
//! (and `import pytest` when missing). Jest/Vitest: `it.skip`/`test.skip` with a
//! comment. Go: `t.Skip(…)` at the top of `func TestX`. Or, when configured, the test
//! names appended to a quarantine list file.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::{Applied, Framework, RecipeConfig, find_files, relative};
use crate::Error;
use crate::analysis::Failure;

/// Files looked at when searching for a test.
const SEARCH_LIMIT: usize = 50_000;

/// Quarantine the failure's tests in the files under `root`.
pub fn apply(root: &Path, failure: &Failure, config: &RecipeConfig) -> Result<Applied, Error> {
    if failure.tests.is_empty() {
        return Ok(Err(
            "no failing test is named, so there is nothing to quarantine".into(),
        ));
    }
    let reason = format!("quarantined by medic: {}", failure.fingerprint);
    if let Some(file) = &config.quarantine_file {
        return list_file(root, file, &failure.tests);
    }
    let frameworks = match config
        .framework
        .or_else(|| framework_of(failure.tool.as_deref()))
    {
        Some(f) => vec![f],
        None => vec![
            Framework::Rust,
            Framework::Pytest,
            Framework::Jest,
            Framework::Go,
        ],
    };
    let mut done = Vec::new();
    let mut missing = Vec::new();
    for test in &failure.tests {
        let mut found = None;
        for framework in &frameworks {
            let edited = match framework {
                Framework::Rust => rust(root, test, &reason)?,
                Framework::Pytest => pytest(root, test, &reason)?,
                Framework::Jest | Framework::Vitest => jest(root, test, &reason)?,
                Framework::Go => go(root, test, &reason)?,
            };
            if let Some(path) = edited {
                found = Some(path);
                break;
            }
        }
        match found {
            Some(path) => done.push(format!("`{test}` in {path}")),
            None => missing.push(format!("`{test}`")),
        }
    }
    if done.is_empty() {
        return Ok(Err(format!(
            "the failing tests were not found in the repository: {}",
            missing.join(", ")
        )));
    }
    let mut details = format!("Quarantined {} as flaky ({reason}).", done.join(", "));
    if !missing.is_empty() {
        details.push_str(&format!(" Not found: {}.", missing.join(", ")));
    }
    let summary = if done.len() == 1 {
        format!("Quarantine flaky test {}", failure.tests[0])
    } else {
        format!("Quarantine {} flaky tests", done.len())
    };
    Ok(Ok((summary, details)))
}

fn framework_of(tool: Option<&str>) -> Option<Framework> {
    match tool?.to_ascii_lowercase().as_str() {
        "cargo" | "rust" | "rustc" | "nextest" | "cargo-nextest" => Some(Framework::Rust),
        "pytest" | "python" => Some(Framework::Pytest),
        "jest" => Some(Framework::Jest),
        "vitest" => Some(Framework::Vitest),
        "go" => Some(Framework::Go),
        _ => None,
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(Error::io(path))
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(Error::io(path))
}

fn list_file(root: &Path, file: &str, tests: &[String]) -> Result<Applied, Error> {
    if !crate::git::is_inside_repo(file) {
        return Ok(Err(format!(
            "the quarantine file `{file}` is outside the repository"
        )));
    }
    let path = root.join(file);
    let mut text = if path.exists() {
        read(&path)?
    } else {
        String::new()
    };
    let listed: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    let new: Vec<&String> = tests.iter().filter(|t| !listed.contains(t)).collect();
    if new.is_empty() {
        return Ok(Err(format!(
            "every failing test is already listed in {file}"
        )));
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for test in &new {
        text.push_str(test);
        text.push('\n');
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    write(&path, &text)?;
    Ok(Ok((
        format!("Quarantine {} flaky test(s) in {file}", new.len()),
        format!(
            "Listed {} in {file}.",
            new.iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )))
}

/// Insert `line` before line `index` of `text`.
fn insert_line(text: &str, index: usize, line: &str) -> String {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let owned = format!("{line}\n");
    lines.insert(index.min(lines.len()), &owned);
    lines.concat()
}

/// The first candidate whose path shares most words with `hints` (module names).
fn best<'a>(
    candidates: &'a [(PathBuf, usize)],
    hints: &[&str],
    root: &Path,
) -> Option<&'a (PathBuf, usize)> {
    let mut best: Option<(&(PathBuf, usize), usize)> = None;
    for candidate in candidates {
        let rel = relative(root, &candidate.0);
        let score = hints
            .iter()
            .filter(|h| !h.is_empty() && **h != "tests" && rel.contains(**h))
            .count();
        // Ties keep the first candidate (files are visited in sorted order).
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

fn rust(root: &Path, test: &str, reason: &str) -> Result<Option<String>, Error> {
    let test = test
        .trim()
        .trim_start_matches("test ")
        .split_whitespace()
        .next()
        .unwrap_or("");
    let segments: Vec<&str> = test.split("::").collect();
    let Some(name) = segments.last().filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let pattern = Regex::new(&format!(
        r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+{}\s*[<(]",
        regex::escape(name)
    ))
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut candidates = Vec::new();
    for path in find_files(root, &|n| n.ends_with(".rs"), SEARCH_LIMIT) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !pattern.is_match(line) {
                continue;
            }
            let attributes: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with("#["))
                .copied()
                .collect();
            if attributes.iter().any(|a| a.contains("test")) {
                candidates.push((path.clone(), i));
            }
        }
    }
    let hints = &segments[..segments.len() - 1];
    let Some((path, index)) = best(&candidates, hints, root).cloned() else {
        return Ok(None);
    };
    let text = read(&path)?;
    let lines: Vec<&str> = text.lines().collect();
    let already = lines[..index]
        .iter()
        .rev()
        .take_while(|l| l.trim_start().starts_with("#["))
        .any(|a| a.contains("#[ignore"));
    if !already {
        let indent: String = lines[index]
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        write(
            &path,
            &insert_line(&text, index, &format!("{indent}#[ignore = \"{reason}\"]")),
        )?;
    }
    Ok(Some(relative(root, &path)))
}

fn pytest(root: &Path, test: &str, reason: &str) -> Result<Option<String>, Error> {
    let (file, rest) = match test.split_once("::") {
        Some((file, rest)) => (Some(file), rest),
        None => (None, test),
    };
    let name = rest.rsplit("::").next().unwrap_or(rest);
    let name = name.split('[').next().unwrap_or(name).trim();
    if name.is_empty() {
        return Ok(None);
    }
    let files = match file {
        Some(file) if crate::git::is_inside_repo(file) && root.join(file).is_file() => {
            vec![root.join(file)]
        }
        Some(_) => return Ok(None),
        None => find_files(
            root,
            &|n| n.ends_with(".py") && (n.starts_with("test_") || n.ends_with("_test.py")),
            SEARCH_LIMIT,
        ),
    };
    let pattern = Regex::new(&format!(
        r"^(\s*)(?:async\s+)?def\s+{}\s*\(",
        regex::escape(name)
    ))
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let imports = Regex::new(r"(?m)^(import\s+pytest\b|from\s+pytest\b|import\s+.*\bpytest\b)")
        .map_err(|e| Error::Invalid(e.to_string()))?;
    for path in files {
        let text = read(&path)?;
        let lines: Vec<&str> = text.lines().collect();
        let Some(index) = lines.iter().position(|l| pattern.is_match(l)) else {
            continue;
        };
        let decorators = lines[..index]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with('@'));
        if decorators.clone().any(|d| d.contains("pytest.mark.skip")) {
            return Ok(Some(relative(root, &path)));
        }
        let indent: String = lines[index]
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        let quoted = reason.replace('\\', "\\\\").replace('"', "\\\"");
        let mut edited = insert_line(
            &text,
            index,
            &format!("{indent}@pytest.mark.skip(reason=\"{quoted}\")"),
        );
        if !imports.is_match(&edited) {
            let at = import_position(&edited);
            edited = insert_line(&edited, at, "import pytest");
        }
        write(&path, &edited)?;
        return Ok(Some(relative(root, &path)));
    }
    Ok(None)
}

/// Where a new import goes: after the shebang and leading comments, the module
/// docstring and any `from __future__` imports.
fn import_position(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() && lines[i].starts_with('#') {
        i += 1;
    }
    let first = lines.get(i).map(|l| l.trim_start()).unwrap_or("");
    for quote in ["\"\"\"", "'''"] {
        if let Some(rest) = first.strip_prefix(quote) {
            if rest.contains(quote) {
                i += 1;
            } else {
                i += 1;
                while i < lines.len() && !lines[i].contains(quote) {
                    i += 1;
                }
                i += 1;
            }
            break;
        }
    }
    let mut at = i.min(lines.len());
    for (j, line) in lines.iter().enumerate().skip(i) {
        if line.starts_with("from __future__") {
            at = j + 1;
        }
    }
    at
}

fn jest(root: &Path, test: &str, reason: &str) -> Result<Option<String>, Error> {
    let title = test.rsplit(" › ").next().unwrap_or(test);
    let title = title.rsplit(" > ").next().unwrap_or(title).trim();
    if title.is_empty() {
        return Ok(None);
    }
    let pattern = Regex::new(&format!(
        r#"^(\s*)(it|test)\(\s*(['"`]){}(['"`])"#,
        regex::escape(title)
    ))
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let is_test_file = |n: &str| {
        let exts = [".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts"];
        exts.iter()
            .any(|e| n.ends_with(&format!(".test{e}")) || n.ends_with(&format!(".spec{e}")))
    };
    for path in find_files(root, &is_test_file, SEARCH_LIMIT) {
        let text = read(&path)?;
        let lines: Vec<&str> = text.lines().collect();
        let Some(index) = lines.iter().position(|l| pattern.is_match(l)) else {
            continue;
        };
        let line = lines[index];
        let captures = pattern
            .captures(line)
            .map(|c| (c[1].to_string(), c[2].to_string()));
        let Some((indent, call)) = captures else {
            continue;
        };
        let edited_line = line.replacen(&format!("{call}("), &format!("{call}.skip("), 1);
        let mut all: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        let ending = if all[index].ends_with('\n') { "\n" } else { "" };
        all[index] = format!("{indent}// {reason}\n{edited_line}{ending}");
        write(&path, &all.concat())?;
        return Ok(Some(relative(root, &path)));
    }
    Ok(None)
}

fn go(root: &Path, test: &str, reason: &str) -> Result<Option<String>, Error> {
    let name = test.split('/').next().unwrap_or(test).trim();
    if !name.starts_with("Test") {
        return Ok(None);
    }
    let pattern = Regex::new(&format!(
        r"^func\s+{}\s*\(\s*(\w+)\s+\*testing\.T\s*\)\s*\{{",
        regex::escape(name)
    ))
    .map_err(|e| Error::Invalid(e.to_string()))?;
    for path in find_files(root, &|n| n.ends_with("_test.go"), SEARCH_LIMIT) {
        let text = read(&path)?;
        let lines: Vec<&str> = text.lines().collect();
        let Some(index) = lines.iter().position(|l| pattern.is_match(l)) else {
            continue;
        };
        let var = pattern
            .captures(lines[index])
            .map(|c| c[1].to_string())
            .unwrap_or_else(|| "t".into());
        if lines
            .get(index + 1)
            .is_some_and(|l| l.contains(&format!("{var}.Skip(")))
        {
            return Ok(Some(relative(root, &path)));
        }
        write(
            &path,
            &insert_line(&text, index + 1, &format!("\t{var}.Skip(\"{reason}\")")),
        )?;
        return Ok(Some(relative(root, &path)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(tool: &str, tests: &[&str]) -> Failure {
        Failure {
            category: "flaky".into(),
            fingerprint: "0123456789abcdef".into(),
            tool: Some(tool.into()),
            tests: tests.iter().map(|t| t.to_string()).collect(),
            ..Failure::default()
        }
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    fn file(dir: &tempfile::TempDir, path: &str) -> String {
        std::fs::read_to_string(dir.path().join(path)).unwrap()
    }

    #[test]
    fn rust_tests_get_an_ignore_attribute_in_the_right_module() {
        let body = "#[cfg(test)]\nmod tests {\n    #[test]\n    fn rejects_bad_utf8() {\n        assert!(true);\n    }\n}\n";
        let dir = tree(&[("src/lexer.rs", body), ("src/parser.rs", body)]);
        let applied = apply(
            dir.path(),
            &failure("cargo", &["parser::tests::rejects_bad_utf8"]),
            &RecipeConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            applied.0,
            "Quarantine flaky test parser::tests::rejects_bad_utf8"
        );
        assert!(applied.1.contains("in src/parser.rs"));
        assert_eq!(
            file(&dir, "src/parser.rs"),
            "#[cfg(test)]\nmod tests {\n    #[test]\n    #[ignore = \"quarantined by medic: 0123456789abcdef\"]\n    fn rejects_bad_utf8() {\n        assert!(true);\n    }\n}\n"
        );
        assert_eq!(file(&dir, "src/lexer.rs"), body);
        // Idempotent: a second run adds nothing.
        apply(
            dir.path(),
            &failure("cargo", &["parser::tests::rejects_bad_utf8"]),
            &RecipeConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(file(&dir, "src/parser.rs").matches("#[ignore").count(), 1);
        // A function that is not a test is never touched.
        let dir = tree(&[("src/lib.rs", "fn helper() {}\n")]);
        let none = apply(
            dir.path(),
            &failure("cargo", &["helper"]),
            &RecipeConfig::default(),
        )
        .unwrap();
        assert!(none.unwrap_err().contains("not found"));
    }

    #[test]
    fn pytest_tests_get_a_skip_marker_and_the_import() {
        let dir = tree(&[(
            "tests/test_api.py",
            "\"\"\"API tests.\"\"\"\nfrom __future__ import annotations\n\nimport requests\n\n\nclass TestApi:\n    def test_get(self):\n        assert requests\n",
        )]);
        apply(
            dir.path(),
            &failure("pytest", &["tests/test_api.py::TestApi::test_get[param0]"]),
            &RecipeConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            file(&dir, "tests/test_api.py"),
            "\"\"\"API tests.\"\"\"\nfrom __future__ import annotations\nimport pytest\n\nimport requests\n\n\nclass TestApi:\n    @pytest.mark.skip(reason=\"quarantined by medic: 0123456789abcdef\")\n    def test_get(self):\n        assert requests\n"
        );
    }

    #[test]
    fn jest_and_go_tests_are_skipped() {
        let dir = tree(&[
            (
                "web/src/cart.test.ts",
                "describe('cart', () => {\n  it('adds an item', () => {\n    expect(1).toBe(1);\n  });\n});\n",
            ),
            (
                "pkg/store/store_test.go",
                "package store\n\nimport \"testing\"\n\nfunc TestSave(tt *testing.T) {\n\ttt.Log(\"x\")\n}\n",
            ),
        ]);
        apply(
            dir.path(),
            &failure("jest", &["cart › adds an item"]),
            &RecipeConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            file(&dir, "web/src/cart.test.ts"),
            "describe('cart', () => {\n  // quarantined by medic: 0123456789abcdef\n  it.skip('adds an item', () => {\n    expect(1).toBe(1);\n  });\n});\n"
        );
        apply(
            dir.path(),
            &failure("go", &["TestSave/subcase"]),
            &RecipeConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            file(&dir, "pkg/store/store_test.go"),
            "package store\n\nimport \"testing\"\n\nfunc TestSave(tt *testing.T) {\n\ttt.Skip(\"quarantined by medic: 0123456789abcdef\")\n\ttt.Log(\"x\")\n}\n"
        );
    }

    #[test]
    fn a_quarantine_list_file_collects_names_once() {
        let dir = tree(&[("ci/quarantine.txt", "old_test")]);
        let config = RecipeConfig {
            quarantine_file: Some("ci/quarantine.txt".into()),
            ..RecipeConfig::default()
        };
        apply(
            dir.path(),
            &failure("cargo", &["a::b", "old_test"]),
            &config,
        )
        .unwrap()
        .unwrap();
        assert_eq!(file(&dir, "ci/quarantine.txt"), "old_test\na::b\n");
        assert!(
            apply(dir.path(), &failure("cargo", &["a::b"]), &config)
                .unwrap()
                .is_err()
        );
        let outside = RecipeConfig {
            quarantine_file: Some("../q.txt".into()),
            ..RecipeConfig::default()
        };
        assert!(
            apply(dir.path(), &failure("cargo", &["a"]), &outside)
                .unwrap()
                .unwrap_err()
                .contains("outside")
        );
    }
}
