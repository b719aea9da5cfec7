//! dependency: pin or bump one dependency in its manifest, touching nothing else.
//!
//! Cargo.toml is edited with toml_edit, which keeps comments, order and layout.
//! package.json is re-serialized with key order preserved, its indentation and final
//! newline kept. requirements.txt and go.mod are edited line by line, so markers,
//! extras and `// indirect` comments stay.

use std::path::Path;

use regex::Regex;
use serde_json::Value;

use super::{Applied, DependencyMode, RecipeConfig};
use crate::Error;

/// Manifests looked at, in order, when none is configured.
const MANIFESTS: &[&str] = &["Cargo.toml", "package.json", "requirements.txt", "go.mod"];

/// Edit the manifest that names `config.package`.
pub fn apply(root: &Path, config: &RecipeConfig) -> Result<Applied, Error> {
    let (Some(package), Some(version)) = (config.package.as_deref(), config.version.as_deref())
    else {
        return Ok(Err(
            "the dependency recipe needs `package` and `version`".into()
        ));
    };
    let (package, version) = (package.trim(), version.trim());
    let safe = |s: &str| {
        !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || "\"'`;#\\".contains(c))
    };
    if !safe(package) || !safe(version) {
        return Err(Error::Invalid(format!(
            "`package` and `version` must be single words without quotes (got `{package}` and `{version}`)"
        )));
    }
    let manifests: Vec<String> = match &config.manifest {
        Some(m) if crate::git::is_inside_repo(m) => vec![m.clone()],
        Some(m) => {
            return Err(Error::Invalid(format!(
                "`manifest`: `{m}` is outside the repository"
            )));
        }
        None => MANIFESTS.iter().map(|m| m.to_string()).collect(),
    };
    for manifest in &manifests {
        let path = root.join(manifest);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let name = Path::new(manifest)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let edited = match name {
            "Cargo.toml" => cargo(&text, package, version, config.mode)
                .map_err(|e| Error::Invalid(format!("{manifest}: {e}")))?,
            "package.json" => npm(&text, package, version, config.mode)
                .map_err(|e| Error::Invalid(format!("{manifest}: {e}")))?,
            "go.mod" => gomod(&text, package, version),
            n if n.ends_with(".txt") || n.ends_with(".in") => {
                requirements(&text, package, version, config.mode)
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "`manifest`: `{manifest}` is not a Cargo.toml, package.json, requirements file or go.mod"
                )));
            }
        };
        let Some((edited, new)) = edited else {
            continue;
        };
        if edited == text {
            return Ok(Err(format!("{package} is already at {new} in {manifest}")));
        }
        std::fs::write(&path, edited).map_err(Error::io(&path))?;
        let verb = match config.mode {
            DependencyMode::Pin => "Pin",
            DependencyMode::Bump => "Bump",
        };
        return Ok(Ok((
            format!("{verb} {package} to {new}"),
            format!("{verb}s the dependency {package} to {new} in {manifest}."),
        )));
    }
    Ok(Err(format!(
        "{package} is not a dependency in {}",
        manifests.join(", ")
    )))
}

/// The operator in front of a version requirement (`^`, `~`, `>=`, `==`…).
fn operator(requirement: &str) -> &str {
    let end = requirement
        .find(|c: char| !"^~=<>! ".contains(c))
        .unwrap_or(requirement.len());
    requirement[..end].trim()
}

fn cargo(
    text: &str,
    package: &str,
    version: &str,
    mode: DependencyMode,
) -> Result<Option<(String, String)>, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let mut new_requirement = None;
    let sections = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut tables: Vec<&mut toml_edit::Item> = Vec::new();
    {
        let root = doc.as_table_mut();
        let mut targets = Vec::new();
        let mut workspace = None;
        for (key, item) in root.iter_mut() {
            match key.get() {
                k if sections.contains(&k) => tables.push(item),
                "workspace" => workspace = Some(item),
                "target" => targets.push(item),
                _ => {}
            }
        }
        if let Some(deps) = workspace.and_then(|w| w.get_mut("dependencies")) {
            tables.push(deps);
        }
        for target in targets {
            if let Some(target) = target.as_table_like_mut() {
                for (_, cfg) in target.iter_mut() {
                    if let Some(cfg) = cfg.as_table_like_mut() {
                        for (key, item) in cfg.iter_mut() {
                            if sections.contains(&key.get()) {
                                tables.push(item);
                            }
                        }
                    }
                }
            }
        }
    }
    for table in tables {
        let Some(table) = table.as_table_like_mut() else {
            continue;
        };
        for (key, item) in table.iter_mut() {
            let renamed = item.get("package").and_then(|p| p.as_str()) == Some(package);
            if key.get() != package && !renamed {
                continue;
            }
            let slot: &mut toml_edit::Item = if item.is_str() {
                item
            } else if let Some(v) = item.get_mut("version") {
                v
            } else {
                // `workspace = true`, a path or git dependency: no version here.
                continue;
            };
            let Some(old) = slot.as_str().map(str::to_string) else {
                continue;
            };
            let requirement = match mode {
                DependencyMode::Pin => format!("={version}"),
                DependencyMode::Bump => format!("{}{version}", operator(&old)),
            };
            if let Some(value) = slot.as_value_mut() {
                let decor = value.decor().clone();
                *value = toml_edit::Value::from(requirement.as_str());
                *value.decor_mut() = decor;
            }
            new_requirement = Some(requirement);
        }
    }
    Ok(new_requirement.map(|r| (doc.to_string(), r)))
}

fn npm(
    text: &str,
    package: &str,
    version: &str,
    mode: DependencyMode,
) -> Result<Option<(String, String)>, String> {
    let mut json: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut new_requirement = None;
    for section in [
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "optionalDependencies",
    ] {
        let Some(slot) = json.get_mut(section).and_then(|s| s.get_mut(package)) else {
            continue;
        };
        let Some(old) = slot.as_str() else { continue };
        let requirement = match mode {
            DependencyMode::Pin => version.to_string(),
            DependencyMode::Bump => format!("{}{version}", operator(old)),
        };
        *slot = Value::String(requirement.clone());
        new_requirement = Some(requirement);
    }
    let Some(requirement) = new_requirement else {
        return Ok(None);
    };
    // Keep the file's indentation (npm writes 2 spaces; some projects use 4 or tabs).
    let indent = text
        .lines()
        .nth(1)
        .map(|l| l[..l.len() - l.trim_start().len()].to_string())
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| "  ".into());
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&json, &mut serializer).map_err(|e| e.to_string())?;
    let mut out = String::from_utf8(out).map_err(|e| e.to_string())?;
    if text.ends_with('\n') {
        out.push('\n');
    }
    Ok(Some((out, requirement)))
}

/// PEP 503 name normalization.
fn pep503(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut out = String::with_capacity(lower.len());
    for c in lower.chars() {
        let c = if "._".contains(c) { '-' } else { c };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

fn requirements(
    text: &str,
    package: &str,
    version: &str,
    mode: DependencyMode,
) -> Option<(String, String)> {
    let line_re = Regex::new(r"^(\s*)([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(===|==|>=|<=|~=|!=|>|<)?\s*([^;#\s,]*)(.*)$").ok()?;
    let wanted = pep503(package);
    let mut requirement = None;
    let mut out = String::with_capacity(text.len() + 8);
    for piece in text.split_inclusive('\n') {
        let (line, ending) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        let edited = line_re
            .captures(line)
            .filter(|c| pep503(&c[2]) == wanted)
            .map(|c| {
                let op = c.get(4).map(|m| m.as_str()).unwrap_or("");
                let op = match mode {
                    DependencyMode::Pin => "==",
                    DependencyMode::Bump if op.is_empty() => ">=",
                    DependencyMode::Bump => op,
                };
                let extras = c.get(3).map(|m| m.as_str()).unwrap_or("");
                // Any further constraints (`,<3`) or markers (`; python_version…`) stay.
                let rest = &c[6];
                requirement = Some(format!("{op}{version}"));
                format!("{}{}{extras}{op}{version}{rest}", &c[1], &c[2])
            });
        out.push_str(edited.as_deref().unwrap_or(line));
        out.push_str(ending);
    }
    requirement.map(|r| (out, r))
}

fn gomod(text: &str, module: &str, version: &str) -> Option<(String, String)> {
    let version = if version.starts_with('v') {
        version.to_string()
    } else {
        format!("v{version}")
    };
    let mut in_block = false;
    let mut found = false;
    let mut out = String::with_capacity(text.len() + 8);
    for piece in text.split_inclusive('\n') {
        let trimmed = piece.trim();
        let mut line = piece.to_string();
        if trimmed.starts_with("require (") || trimmed == "require(" {
            in_block = true;
        } else if in_block && trimmed.starts_with(')') {
            in_block = false;
        } else {
            let spec = if in_block {
                Some(trimmed)
            } else {
                trimmed.strip_prefix("require ").map(str::trim)
            };
            if let Some(spec) = spec {
                let mut words = spec.split_whitespace();
                if words.next() == Some(module)
                    && let Some(old) = words.next()
                {
                    // Replace the version token only; comments such as `// indirect` stay.
                    let at = piece.find(module).map(|i| i + module.len()).unwrap_or(0);
                    let (head, tail) = piece.split_at(at);
                    line = format!("{head}{}", tail.replacen(old, &version, 1));
                    found = true;
                }
            }
        }
        out.push_str(&line);
    }
    found.then_some((out, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(package: &str, version: &str, mode: DependencyMode) -> RecipeConfig {
        RecipeConfig {
            package: Some(package.into()),
            version: Some(version.into()),
            mode,
            ..RecipeConfig::default()
        }
    }

    fn run(files: &[(&str, &str)], config: &RecipeConfig) -> (tempfile::TempDir, Applied) {
        let dir = tempfile::tempdir().unwrap();
        for (p, t) in files {
            std::fs::write(dir.path().join(p), t).unwrap();
        }
        let applied = apply(dir.path(), config).unwrap();
        (dir, applied)
    }

    fn read(dir: &tempfile::TempDir, p: &str) -> String {
        std::fs::read_to_string(dir.path().join(p)).unwrap()
    }

    const CARGO: &str = "[package]\nname = \"app\" # the app\n\n[dependencies]\n# serialization\nserde = { version = \"1.0\", features = [\"derive\"] }  # keep\ntokio = \"1.40\"\n\n[dev-dependencies.insta]\nversion = \"~1.38\"\n\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n";

    #[test]
    fn cargo_toml_keeps_its_formatting() {
        let (dir, applied) = run(
            &[("Cargo.toml", CARGO)],
            &config("serde", "1.0.200", DependencyMode::Pin),
        );
        assert_eq!(applied.unwrap().0, "Pin serde to =1.0.200");
        assert_eq!(
            read(&dir, "Cargo.toml"),
            CARGO.replace("version = \"1.0\"", "version = \"=1.0.200\"")
        );
        let (dir, _) = run(
            &[("Cargo.toml", CARGO)],
            &config("insta", "1.40.0", DependencyMode::Bump),
        );
        assert_eq!(
            read(&dir, "Cargo.toml"),
            CARGO.replace("\"~1.38\"", "\"~1.40.0\"")
        );
        let (dir, _) = run(
            &[("Cargo.toml", CARGO)],
            &config("libc", "0.2.150", DependencyMode::Pin),
        );
        assert_eq!(
            read(&dir, "Cargo.toml"),
            CARGO.replace("libc = \"0.2\"", "libc = \"=0.2.150\"")
        );
        let (_, applied) = run(
            &[("Cargo.toml", CARGO)],
            &config("rand", "0.9", DependencyMode::Pin),
        );
        assert_eq!(
            applied.unwrap_err(),
            "rand is not a dependency in Cargo.toml, package.json, requirements.txt, go.mod"
        );
    }

    #[test]
    fn package_json_keeps_order_indent_and_newline() {
        let text = "{\n  \"name\": \"web\",\n  \"dependencies\": {\n    \"react\": \"^18.2.0\",\n    \"lodash\": \"^4.17.20\"\n  },\n  \"devDependencies\": {\n    \"jest\": \"29.0.0\"\n  }\n}\n";
        let (dir, applied) = run(
            &[("package.json", text)],
            &config("lodash", "4.17.21", DependencyMode::Bump),
        );
        assert_eq!(applied.unwrap().0, "Bump lodash to ^4.17.21");
        assert_eq!(
            read(&dir, "package.json"),
            text.replace("^4.17.20", "^4.17.21")
        );
        let (dir, _) = run(
            &[("package.json", text)],
            &config("react", "18.3.1", DependencyMode::Pin),
        );
        assert_eq!(
            read(&dir, "package.json"),
            text.replace("^18.2.0", "18.3.1")
        );
    }

    #[test]
    fn requirements_and_go_mod_are_edited_in_place() {
        let req = "# pinned for CI\nDjango[argon2]>=4.2,<5 ; python_version >= \"3.10\"\nrequests==2.31.0  # http\nurllib3\n";
        let (dir, _) = run(
            &[("requirements.txt", req)],
            &config("django", "4.2.11", DependencyMode::Pin),
        );
        assert_eq!(
            read(&dir, "requirements.txt"),
            req.replace("Django[argon2]>=4.2,<5", "Django[argon2]==4.2.11,<5")
        );
        let (dir, _) = run(
            &[("requirements.txt", req)],
            &config("urllib3", "2.2.1", DependencyMode::Bump),
        );
        assert_eq!(
            read(&dir, "requirements.txt"),
            req.replace("urllib3\n", "urllib3>=2.2.1\n")
        );
        let gomod = "module example.com/app\n\ngo 1.22\n\nrequire (\n\tgithub.com/stretchr/testify v1.8.4\n\tgolang.org/x/net v0.20.0 // indirect\n)\n\nrequire github.com/google/uuid v1.5.0\n";
        let (dir, _) = run(
            &[("go.mod", gomod)],
            &config("golang.org/x/net", "0.23.0", DependencyMode::Pin),
        );
        assert_eq!(
            read(&dir, "go.mod"),
            gomod.replace("v0.20.0 // indirect", "v0.23.0 // indirect")
        );
        let (dir, _) = run(
            &[("go.mod", gomod)],
            &config("github.com/google/uuid", "v1.6.0", DependencyMode::Pin),
        );
        assert_eq!(read(&dir, "go.mod"), gomod.replace("v1.5.0", "v1.6.0"));
    }

    #[test]
    fn bad_input_is_refused_or_no_fix() {
        let (_, applied) = run(&[], &RecipeConfig::default());
        assert_eq!(
            applied.unwrap_err(),
            "the dependency recipe needs `package` and `version`"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = apply(
            dir.path(),
            &config("serde", "1\"\nevil = \"x", DependencyMode::Pin),
        )
        .unwrap_err();
        assert!(err.to_string().contains("single words"), "{err}");
        std::fs::write(dir.path().join("Cargo.toml"), "[dependencies\n").unwrap();
        let err = apply(dir.path(), &config("serde", "1", DependencyMode::Pin)).unwrap_err();
        assert!(err.to_string().starts_with("Cargo.toml: "), "{err}");
        let (_, applied) = run(
            &[("go.mod", "module x\n\nrequire a.b/c v1.0.0\n")],
            &config("a.b/c", "1.0.0", DependencyMode::Pin),
        );
        assert!(applied.unwrap_err().contains("already at v1.0.0"));
    }
}
