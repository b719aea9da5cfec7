//! Helpers: a temporary project folder and a `medic` command bound to it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A temporary project folder with its own SQLite store.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub database_url: String,
}

impl Project {
    /// A new empty project using SQLite.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = dir
            .path()
            .join(".medic")
            .join("medic.db")
            .display()
            .to_string();
        Project { dir, database_url }
    }

    /// A new project on a fresh Postgres database, when a server is configured.
    pub fn postgres() -> Option<Self> {
        let base = std::env::var("MEDIC_TEST_POSTGRES_URL").ok()?;
        let name = format!("medic_cli_{}_{}", std::process::id(), rand_suffix());
        let status = std::process::Command::new("psql")
            .args([
                base.as_str(),
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .expect("psql");
        assert!(status.success(), "could not create database {name}");
        let i = base.rfind('/').expect("database in URL");
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Project {
            dir,
            database_url: format!("{}/{name}", &base[..i]),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file in the project.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// `medic` run in the project with its store.
    pub fn medic(&self) -> Command {
        let mut cmd = Command::cargo_bin("medic").expect("medic binary");
        cmd.current_dir(self.dir.path())
            .env("MEDIC_DATABASE_URL", &self.database_url)
            .env("NO_COLOR", "1")
            .env("MEDIC_USER", "tester")
            .env_remove("MEDIC_LOG");
        cmd
    }

    /// A `std::process::Command` for long-running children (killed by tests).
    pub fn medic_std(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("medic"));
        cmd.current_dir(self.dir.path())
            .env("MEDIC_DATABASE_URL", &self.database_url)
            .env("NO_COLOR", "1")
            .env("MEDIC_USER", "tester");
        cmd
    }

    /// Run `medic runs list --output json` and return the runs.
    pub fn runs(&self) -> Vec<serde_json::Value> {
        let out = self
            .medic()
            .args(["runs", "list", "--output", "json"])
            .output()
            .expect("runs list");
        assert!(out.status.success(), "runs list failed: {}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .expect("runs list JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `medic runs show <id> --output json`.
    pub fn show(&self, id: &str) -> serde_json::Value {
        let out = self
            .medic()
            .args(["runs", "show", id, "--output", "json"])
            .output()
            .expect("runs show");
        assert!(out.status.success(), "runs show failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("runs show JSON")
    }
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{n:x}")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The status of each step in a `runs show` JSON document, by key.
pub fn step_statuses(show: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    show["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["step_key"].as_str().unwrap_or("").to_string(),
                s["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The id of the run a `medic run` printed on stderr.
pub fn run_id_from(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("run ")
                .and_then(|r| r.split_whitespace().next())
        })
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no run id in: {stderr}"))
}

/// The step `key` of a `runs show` (or `run --output json`) document.
pub fn step<'a>(doc: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    doc["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["step_key"] == key))
        .unwrap_or_else(|| panic!("no step `{key}` in {doc}"))
}
