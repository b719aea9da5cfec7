//! timeout: raise a CI job's timeout: `timeout-minutes:` of a GitHub Actions job or
//! `timeout:` of a GitLab CI job.
//!
//! The file is edited as text, one line, because a YAML round trip would drop the
//! comments and reflow the file that humans maintain. Jobs are found by indentation:
//! the keys under `jobs:` (GitHub) or the top-level keys (GitLab).

use std::path::Path;

use super::{Applied, RecipeConfig, find_files, relative};
use crate::Error;
use crate::analysis::Failure;

/// GitLab top-level keys that are not jobs.
const GITLAB_KEYWORDS: &[&str] = &[
    "stages",
    "variables",
    "default",
    "include",
    "workflow",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Github,
    Gitlab,
}

impl Flavor {
    fn key(self) -> &'static str {
        match self {
            Flavor::Github => "timeout-minutes",
            Flavor::Gitlab => "timeout",
        }
    }
}

/// One job of a CI file.
#[derive(Debug)]
struct Job {
    key: String,
    name: Option<String>,
    /// The line of `<key>:`.
    line: usize,
    child_indent: Option<usize>,
    /// The line of the timeout key, if any.
    timeout: Option<usize>,
}

/// Raise the timeout of the configured (or only) job. The failure is not read yet:
/// CI job names in logs rarely match the file's keys.
pub fn apply(root: &Path, _failure: &Failure, config: &RecipeConfig) -> Result<Applied, Error> {
    let files: Vec<(String, Flavor)> = match &config.ci_file {
        Some(file) if !crate::git::is_inside_repo(file) => {
            return Err(Error::Invalid(format!(
                "`ci_file`: `{file}` is outside the repository"
            )));
        }
        Some(file) if file.ends_with(".gitlab-ci.yml") || file.contains("gitlab") => {
            vec![(file.clone(), Flavor::Gitlab)]
        }
        Some(file) => vec![(file.clone(), Flavor::Github)],
        None if root.join(".gitlab-ci.yml").is_file() => {
            vec![(".gitlab-ci.yml".into(), Flavor::Gitlab)]
        }
        None => find_files(
            &root.join(".github/workflows"),
            &|n| n.ends_with(".yml") || n.ends_with(".yaml"),
            1000,
        )
        .into_iter()
        .map(|p| (relative(root, &p), Flavor::Github))
        .collect(),
    };
    if files.is_empty() {
        return Ok(Err(
            "no CI configuration found (.gitlab-ci.yml or .github/workflows/*.yml)".into(),
        ));
    }
    let mut seen_jobs = Vec::new();
    for (file, flavor) in &files {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let jobs = jobs(&lines, *flavor);
        let job = match &config.job {
            Some(wanted) => jobs
                .iter()
                .find(|j| &j.key == wanted || j.name.as_deref() == Some(wanted.as_str())),
            None if jobs.len() == 1 && files.len() == 1 => jobs.first(),
            None => {
                seen_jobs.extend(jobs.iter().map(|j| format!("{file}: {}", j.key)));
                continue;
            }
        };
        let Some(job) = job else {
            seen_jobs.extend(jobs.iter().map(|j| format!("{file}: {}", j.key)));
            continue;
        };
        return edit(&path, file, &lines, job, *flavor, config.minutes);
    }
    Ok(Err(match &config.job {
        Some(job) => format!(
            "no job `{job}` in the CI configuration (jobs: {})",
            seen_jobs.join(", ")
        ),
        None => format!("which job? give `job` (jobs: {})", seen_jobs.join(", ")),
    }))
}

fn edit(
    path: &Path,
    file: &str,
    lines: &[&str],
    job: &Job,
    flavor: Flavor,
    minutes: Option<u64>,
) -> Result<Applied, Error> {
    let key = flavor.key();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let (old, new) = match job.timeout {
        Some(at) => {
            let line = lines[at];
            let Some((prefix, value, suffix)) = split_value(line, key) else {
                return Ok(Err(format!(
                    "cannot read `{key}` of job `{}` in {file}",
                    job.key
                )));
            };
            let unquoted = value.trim_matches(|c| c == '"' || c == '\'');
            let current = match flavor {
                Flavor::Github => unquoted.parse::<u64>().ok(),
                Flavor::Gitlab => gitlab_minutes(unquoted),
            };
            let Some(current) = current else {
                return Ok(Err(format!(
                    "`{key}: {value}` of job `{}` in {file} is not a number of minutes Medic can raise",
                    job.key
                )));
            };
            let new = minutes.unwrap_or(current.saturating_mul(2));
            if new <= current {
                return Ok(Err(format!(
                    "job `{}` already allows {current} minutes (asked for {new})",
                    job.key
                )));
            }
            let text = match flavor {
                Flavor::Github => new.to_string(),
                Flavor::Gitlab => {
                    let formatted = gitlab_format(new);
                    if value.starts_with(['"', '\'']) {
                        format!("{}{formatted}{}", &value[..1], &value[..1])
                    } else {
                        formatted
                    }
                }
            };
            out[at] = format!("{prefix}{text}{suffix}");
            (Some(current), new)
        }
        None => {
            let Some(new) = minutes else {
                return Ok(Err(format!(
                    "job `{}` in {file} has no `{key}`; give `minutes`",
                    job.key
                )));
            };
            let indent = " ".repeat(job.child_indent.unwrap_or(indent_of(lines[job.line]) + 2));
            let value = match flavor {
                Flavor::Github => new.to_string(),
                Flavor::Gitlab => gitlab_format(new),
            };
            if !out[job.line].ends_with('\n') {
                out[job.line].push('\n');
            }
            out.insert(job.line + 1, format!("{indent}{key}: {value}\n"));
            (None, new)
        }
    };
    std::fs::write(path, out.concat()).map_err(Error::io(path))?;
    Ok(Ok((
        format!("Raise the timeout of job {} to {new} minutes", job.key),
        match old {
            Some(old) => format!(
                "Raises `{key}` of job `{}` in {file} from {old} to {new} minutes.",
                job.key
            ),
            None => format!(
                "Sets `{key}` of job `{}` in {file} to {new} minutes.",
                job.key
            ),
        },
    )))
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The key of a `key:` or `key: value` line.
fn key_of(line: &str) -> Option<String> {
    let t = line.trim();
    let t = t.strip_prefix("- ").unwrap_or(t);
    let (key, rest) = t.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some(
        key.trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string(),
    )
}

/// `  timeout-minutes: 30 # why\n` → ("  timeout-minutes: ", "30", " # why\n").
fn split_value<'a>(line: &'a str, key: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let colon = line.find(&format!("{key}:"))? + key.len() + 1;
    let after = &line[colon..];
    let start = colon + (after.len() - after.trim_start_matches([' ', '\t']).len());
    let rest = &line[start..];
    let end = start + rest.find(" #").unwrap_or_else(|| rest.trim_end().len());
    let end = start + line[start..end].trim_end().len();
    Some((&line[..start], &line[start..end], &line[end..]))
}

fn jobs(lines: &[&str], flavor: Flavor) -> Vec<Job> {
    let (start, end) = match flavor {
        Flavor::Gitlab => (0, lines.len()),
        Flavor::Github => {
            let Some(j) = lines
                .iter()
                .position(|l| indent_of(l) == 0 && key_of(l).as_deref() == Some("jobs"))
            else {
                return Vec::new();
            };
            let end = (j + 1..lines.len())
                .find(|&i| is_content(lines[i]) && indent_of(lines[i]) == 0)
                .unwrap_or(lines.len());
            (j + 1, end)
        }
    };
    let Some(key_indent) = (start..end)
        .find(|&i| is_content(lines[i]))
        .map(|i| indent_of(lines[i]))
    else {
        return Vec::new();
    };
    let heads: Vec<usize> = (start..end)
        .filter(|&i| {
            is_content(lines[i]) && indent_of(lines[i]) == key_indent && key_of(lines[i]).is_some()
        })
        .collect();
    let mut jobs = Vec::new();
    for (n, &line) in heads.iter().enumerate() {
        let block_end = heads.get(n + 1).copied().unwrap_or(end);
        let Some(key) = key_of(lines[line]) else {
            continue;
        };
        if flavor == Flavor::Gitlab
            && (key.starts_with('.') || GITLAB_KEYWORDS.contains(&key.as_str()))
        {
            continue;
        }
        let child_indent = (line + 1..block_end)
            .find(|&i| is_content(lines[i]))
            .map(|i| indent_of(lines[i]));
        let children = || {
            (line + 1..block_end)
                .filter(move |&i| is_content(lines[i]) && Some(indent_of(lines[i])) == child_indent)
        };
        let timeout = children().find(|&i| key_of(lines[i]).as_deref() == Some(flavor.key()));
        let name = children()
            .find(|&i| key_of(lines[i]).as_deref() == Some("name"))
            .and_then(|i| split_value(lines[i], "name"))
            .map(|(_, v, _)| v.trim_matches(|c| c == '"' || c == '\'').to_string());
        jobs.push(Job {
            key,
            name,
            line,
            child_indent,
            timeout,
        });
    }
    jobs
}

/// GitLab's human durations (`1h 30m`, `90 minutes`, `3 hours`, `3600`) in minutes.
fn gitlab_minutes(text: &str) -> Option<u64> {
    let re = regex::Regex::new(r"(\d+)\s*([a-zA-Z]*)").ok()?;
    let mut seconds = 0_u64;
    let mut any = false;
    for c in re.captures_iter(text) {
        let n: u64 = c[1].parse().ok()?;
        let unit = match c[2].to_ascii_lowercase().as_str() {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return None,
        };
        seconds += n * unit;
        any = true;
    }
    any.then(|| seconds.div_ceil(60))
}

fn gitlab_format(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOW: &str = "name: CI\non: [push]\n\njobs:\n  # the slow one\n  test:\n    name: Test suite\n    runs-on: ubuntu-latest\n    timeout-minutes: 30 # bumped in March\n    steps:\n      - run: cargo test\n        timeout-minutes: 5\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n      - run: cargo clippy\n";

    fn run(files: &[(&str, &str)], config: &RecipeConfig) -> (tempfile::TempDir, Applied) {
        let dir = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let full = dir.path().join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, t).unwrap();
        }
        let applied = apply(dir.path(), &Failure::default(), config).unwrap();
        (dir, applied)
    }

    fn job(name: &str) -> RecipeConfig {
        RecipeConfig {
            job: Some(name.into()),
            ..RecipeConfig::default()
        }
    }

    #[test]
    fn github_job_timeout_is_doubled_and_comments_survive() {
        let (dir, applied) = run(
            &[(".github/workflows/ci.yml", WORKFLOW)],
            &job("Test suite"),
        );
        assert_eq!(
            applied.unwrap().0,
            "Raise the timeout of job test to 60 minutes"
        );
        let text = std::fs::read_to_string(dir.path().join(".github/workflows/ci.yml")).unwrap();
        assert_eq!(
            text,
            WORKFLOW.replace(
                "timeout-minutes: 30 # bumped",
                "timeout-minutes: 60 # bumped"
            )
        );
    }

    #[test]
    fn a_job_without_a_timeout_gets_one_when_minutes_are_given() {
        let (_, applied) = run(&[(".github/workflows/ci.yml", WORKFLOW)], &job("lint"));
        assert!(applied.unwrap_err().contains("give `minutes`"));
        let config = RecipeConfig {
            minutes: Some(20),
            ..job("lint")
        };
        let (dir, applied) = run(&[(".github/workflows/ci.yml", WORKFLOW)], &config);
        applied.unwrap();
        let text = std::fs::read_to_string(dir.path().join(".github/workflows/ci.yml")).unwrap();
        assert_eq!(
            text,
            WORKFLOW.replace("  lint:\n", "  lint:\n    timeout-minutes: 20\n")
        );
        let (_, applied) = run(
            &[(".github/workflows/ci.yml", WORKFLOW)],
            &RecipeConfig::default(),
        );
        assert!(applied.unwrap_err().contains("which job?"));
        let (_, applied) = run(&[(".github/workflows/ci.yml", WORKFLOW)], &job("deploy"));
        assert!(applied.unwrap_err().contains("no job `deploy`"));
    }

    #[test]
    fn gitlab_durations_are_read_and_written() {
        let ci = "stages: [test]\n\n.template:\n  timeout: 5m\n\nrspec:\n  stage: test\n  timeout: 1h 30m  # flaky runners\n  script: bundle exec rspec\n";
        let (dir, applied) = run(&[(".gitlab-ci.yml", ci)], &RecipeConfig::default());
        assert_eq!(
            applied.unwrap().1,
            "Raises `timeout` of job `rspec` in .gitlab-ci.yml from 90 to 180 minutes."
        );
        let text = std::fs::read_to_string(dir.path().join(".gitlab-ci.yml")).unwrap();
        assert_eq!(text, ci.replace("timeout: 1h 30m  #", "timeout: 3h  #"));
        assert_eq!(gitlab_minutes("3 hours 30 minutes"), Some(210));
        assert_eq!(gitlab_minutes("3600"), Some(60));
        assert_eq!(gitlab_minutes("soon"), None);
        assert_eq!(gitlab_format(75), "1h 15m");
        let lower = RecipeConfig {
            minutes: Some(60),
            ..RecipeConfig::default()
        };
        let (_, applied) = run(&[(".gitlab-ci.yml", ci)], &lower);
        assert!(applied.unwrap_err().contains("already allows 90 minutes"));
    }
}
