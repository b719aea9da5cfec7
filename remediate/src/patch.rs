//! Unified diffs from outside (a model's answer): finding the diff in the text,
//! repairing what models commonly get wrong, refusing paths it must not touch, and
//! applying it to a worktree.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::Error;
use crate::git::is_inside_repo;

/// The diff in a model's answer: the first fenced block that holds one, else the text
/// from the first `diff --git` or `--- ` line. `None` when there is no diff.
pub fn extract_diff(answer: &str) -> Option<String> {
    let mut in_fence = false;
    let mut block = String::new();
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            if in_fence {
                if looks_like_diff(&block) {
                    return Some(block);
                }
                block.clear();
            }
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            block.push_str(line);
            block.push('\n');
        }
    }
    let start = answer
        .lines()
        .position(|l| l.starts_with("diff --git ") || l.starts_with("--- "))?;
    let text: String = answer
        .lines()
        .skip(start)
        .take_while(|l| !l.trim_start().starts_with("```"))
        .flat_map(|l| [l, "\n"])
        .collect();
    looks_like_diff(&text).then_some(text)
}

fn looks_like_diff(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("+++ ")) && text.lines().any(|l| l.starts_with("@@"))
}

/// The diff with hunk line counts recomputed from the hunk bodies, blank lines inside
/// hunks read as blank context lines (models drop the leading space), `diff --git`
/// headers added where only `---`/`+++` were given, and a final newline.
pub fn normalize(diff: &str) -> String {
    let lines: Vec<&str> = diff.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 4);
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let is_file_header =
            line.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ "));
        if is_file_header {
            let has_git_header = out
                .iter()
                .rev()
                .take(6)
                .any(|l| l.starts_with("diff --git "))
                && !out
                    .last()
                    .is_some_and(|l| l.starts_with(' ') || l.starts_with('+'));
            if !has_git_header {
                let old = header_path(line);
                let new = header_path(lines[i + 1]);
                let a = old.clone().or(new.clone()).unwrap_or_default();
                let b = new.or(old).unwrap_or_default();
                out.push(format!("diff --git a/{a} b/{b}"));
            }
            out.push(line.to_string());
            out.push(lines[i + 1].to_string());
            i += 2;
            continue;
        }
        if let Some(rest) = line.strip_prefix("@@ ") {
            // Gather the body up to the next hunk or file.
            let mut body: Vec<&str> = Vec::new();
            let mut j = i + 1;
            while j < lines.len() {
                let l = lines[j];
                let next_file = l.starts_with("diff --git ")
                    || (l.starts_with("--- ")
                        && lines.get(j + 1).is_some_and(|n| n.starts_with("+++ ")));
                if l.starts_with("@@ ") || next_file {
                    break;
                }
                body.push(l);
                j += 1;
            }
            // Blank lines after a hunk separate it from what follows; inside it they
            // are blank context lines that lost their leading space.
            while body.last() == Some(&"") {
                body.pop();
            }
            let body: Vec<&str> = body
                .into_iter()
                .map(|l| if l.is_empty() { " " } else { l })
                .collect();
            let old = body.iter().filter(|l| l.starts_with([' ', '-'])).count();
            let new = body.iter().filter(|l| l.starts_with([' ', '+'])).count();
            let (old_start, new_start, tail) = parse_hunk_header(rest);
            out.push(format!(
                "@@ -{},{old} +{},{new} @@{tail}",
                old_start.max(if old == 0 { 0 } else { 1 }),
                new_start.max(if new == 0 { 0 } else { 1 })
            ));
            out.extend(body.into_iter().map(str::to_string));
            i = j;
            continue;
        }
        out.push(line.to_string());
        i += 1;
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// `-12,3 +12,4 @@ fn x` → (12, 12, " fn x").
fn parse_hunk_header(rest: &str) -> (u64, u64, String) {
    let mut parts = rest.splitn(3, ' ');
    let start = |p: Option<&str>| {
        p.and_then(|r| r.get(1..))
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    };
    let old = start(parts.next());
    let new = start(parts.next());
    let tail = parts
        .next()
        .and_then(|t| t.strip_prefix("@@"))
        .unwrap_or("")
        .to_string();
    (old, new, tail)
}

/// The path of a `--- a/x` or `+++ b/x` line; `None` for `/dev/null`.
fn header_path(line: &str) -> Option<String> {
    let raw = line.get(4..)?.split('\t').next()?.trim();
    if raw == "/dev/null" {
        return None;
    }
    Some(
        raw.strip_prefix("a/")
            .or_else(|| raw.strip_prefix("b/"))
            .unwrap_or(raw)
            .to_string(),
    )
}

/// Every path a diff touches (old and new names), as written in it.
pub fn touched_paths(diff: &str) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    let mut add = |p: String| {
        if !paths.contains(&p) {
            paths.push(p);
        }
    };
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            for part in rest.split(' ') {
                if let Some(p) = part.strip_prefix("a/").or_else(|| part.strip_prefix("b/")) {
                    add(p.to_string());
                } else if !part.is_empty() {
                    add(part.to_string());
                }
            }
        } else if line.starts_with("--- ") || line.starts_with("+++ ") {
            if let Some(p) = header_path(line) {
                add(p);
            }
        } else if let Some(p) = line
            .strip_prefix("rename from ")
            .or_else(|| line.strip_prefix("rename to "))
            .or_else(|| line.strip_prefix("copy from "))
            .or_else(|| line.strip_prefix("copy to "))
        {
            add(p.to_string());
        }
    }
    paths
}

/// A set of globs (`src/**`, `**/*.rs`), compiled once.
#[derive(Debug, Clone)]
pub struct Globs {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Globs {
    /// Compile `patterns`; a bad one is an error naming it.
    pub fn new(patterns: &[String]) -> Result<Globs, Error> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .or_else(|_| Glob::new(pattern))
                .map_err(|e| Error::Invalid(format!("`{pattern}` is not a valid glob: {e}")))?;
            builder.add(glob);
        }
        let set = builder
            .build()
            .map_err(|e| Error::Invalid(format!("invalid globs: {e}")))?;
        Ok(Globs {
            patterns: patterns.to_vec(),
            set,
        })
    }

    /// Whether no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The first pattern `path` matches.
    pub fn matching(&self, path: &str) -> Option<&str> {
        self.set
            .matches(path)
            .first()
            .map(|&i| self.patterns[i].as_str())
    }
}

/// Why a diff was refused before applying it; `Ok` when every path is inside the
/// repository and (when `allowed` is not empty) matches one of its globs.
pub fn check_paths(diff: &str, allowed: &Globs) -> Result<(), String> {
    let paths = touched_paths(diff);
    if paths.is_empty() {
        return Err("the diff names no file".into());
    }
    for path in &paths {
        if !is_inside_repo(path) {
            return Err(format!("the diff touches `{path}`, outside the repository"));
        }
        if !allowed.is_empty() && allowed.matching(path).is_none() {
            return Err(format!(
                "the diff touches `{path}`, which no allowed path matches"
            ));
        }
    }
    Ok(())
}

/// Apply `diff` to the files of the worktree repository `repo`; the error says why it
/// does not apply, in libgit2's words.
pub fn apply(repo: &git2::Repository, diff: &str) -> Result<(), String> {
    let parsed = git2::Diff::from_buffer(diff.as_bytes())
        .map_err(|e| format!("the diff cannot be parsed: {}", e.message()))?;
    repo.apply(&parsed, git2::ApplyLocation::WorkDir, None)
        .map_err(|e| format!("the diff does not apply: {}", e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::TestRepo;

    const ANSWER: &str = "The bound is off by one. Here is the fix:\n\n```diff\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n pub fn last(v: &[u8]) -> u8 {\n-    v[v.len()]\n+    v[v.len() - 1]\n\n }\n```\nThis keeps the API.";

    #[test]
    fn finds_repairs_and_applies_a_models_diff() {
        let diff = extract_diff(ANSWER).unwrap();
        assert!(diff.starts_with("--- a/src/lib.rs"));
        let fixed = normalize(&diff);
        // The blank line became context, so the counts say 4 lines.
        assert!(fixed.starts_with("diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,4 +1,4 @@\n"), "{fixed}");
        let test = TestRepo::new(&[(
            "src/lib.rs",
            "pub fn last(v: &[u8]) -> u8 {\n    v[v.len()]\n\n}\n",
        )]);
        apply(&test.repo, &fixed).unwrap();
        assert_eq!(
            std::fs::read_to_string(test.path().join("src/lib.rs")).unwrap(),
            "pub fn last(v: &[u8]) -> u8 {\n    v[v.len() - 1]\n\n}\n"
        );
        // Applying it again fails: the context is gone.
        let err = apply(&test.repo, &fixed).unwrap_err();
        assert!(err.starts_with("the diff does not apply"), "{err}");
    }

    #[test]
    fn no_diff_in_prose() {
        assert_eq!(
            extract_diff("I cannot fix this without more context."),
            None
        );
        assert!(
            extract_diff("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n").is_some()
        );
    }

    #[test]
    fn refuses_paths_outside_the_repo_or_the_allowed_globs() {
        let none = Globs::new(&[]).unwrap();
        let evil = "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n";
        assert!(
            check_paths(evil, &none)
                .unwrap_err()
                .contains("outside the repository")
        );
        let abs = "--- /etc/hosts\n+++ /etc/hosts\n@@ -1 +1 @@\n-a\n+b\n";
        assert!(check_paths(abs, &none).is_err());
        let git = "diff --git a/.git/config b/.git/config\n--- a/.git/config\n+++ b/.git/config\n@@ -1 +1 @@\n-a\n+b\n";
        assert!(check_paths(git, &none).is_err());
        let src = Globs::new(&["src/**".to_string()]).unwrap();
        let ok = "--- a/src/a/b.rs\n+++ b/src/a/b.rs\n@@ -1 +1 @@\n-a\n+b\n";
        assert_eq!(check_paths(ok, &src), Ok(()));
        let ci =
            "--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1 @@\n-a\n+b\n";
        assert!(
            check_paths(ci, &src)
                .unwrap_err()
                .contains("no allowed path")
        );
        let rename = "diff --git a/src/a.rs b/lib/a.rs\nrename from src/a.rs\nrename to lib/a.rs\n";
        assert!(check_paths(rename, &src).is_err());
        assert!(Globs::new(&["a[".to_string()]).is_err());
    }
}
