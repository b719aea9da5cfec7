//! The story: run, kill -9 mid-run, resume; no finished step is repeated, and the step
//! that was in flight runs again with the same idempotency key. On SQLite always, and
//! on Postgres when `MEDIC_TEST_POSTGRES_URL` is set.

use std::time::{Duration, Instant};

use crate::support::*;

const WORKFLOW: &str = r#"name: story
steps:
  first:
    uses: shell
    with: { run: 'echo "first $MEDIC_IDEMPOTENCY_KEY" >> journal.txt' }
  second:
    needs: [first]
    uses: shell
    with: { run: 'echo "second-start $MEDIC_IDEMPOTENCY_KEY" >> journal.txt; sleep 2; echo "second-end" >> journal.txt' }
  third:
    needs: [second]
    uses: shell
    with: { run: 'echo "third $MEDIC_IDEMPOTENCY_KEY" >> journal.txt' }
"#;

fn story(p: &Project) {
    p.write("wf.yaml", WORKFLOW);
    let journal = p.path().join("journal.txt");
    let mut child = p.medic_std().args(["run", "wf.yaml"]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&journal).unwrap_or_default().contains("second-start") {
        assert!(Instant::now() < deadline, "the second step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no cleanup, no last write.
    child.wait().unwrap();

    let runs = p.runs();
    assert_eq!(runs.len(), 1);
    let id = runs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(runs[0]["status"], "running", "the killed run is left running");

    let out = p.medic().args(["runs", "resume", &id]).output().unwrap();
    assert!(out.status.success(), "resume failed: {}", stderr(&out));
    // Let the orphaned shell of the killed attempt finish writing too.
    std::thread::sleep(Duration::from_millis(2200));

    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("first "), 1, "finished step re-ran:\n{text}");
    assert_eq!(count("second-start "), 2, "the in-flight step runs again (at-least-once):\n{text}");
    assert_eq!(count("third "), 1, "{text}");
    let keys: Vec<&str> = lines.iter().filter(|l| l.starts_with("second-start ")).map(|l| &l[13..]).collect();
    assert_eq!(keys[0], keys[1], "the re-run must carry the same idempotency key");
    assert_eq!(keys[0], format!("{id}/second"));

    let show = p.show(&id);
    assert_eq!(show["run"]["status"], "succeeded");
    let st = step_statuses(&show);
    assert!(st.values().all(|s| s == "succeeded"), "{st:?}");
    // A finished run cannot be resumed again.
    p.medic().args(["runs", "resume", &id]).assert().code(2);
}

#[test]
fn kill_dash_nine_then_resume_on_sqlite() {
    story(&Project::new());
}

#[test]
fn kill_dash_nine_then_resume_on_postgres() {
    match Project::postgres() {
        Some(p) => story(&p),
        None => eprintln!("MEDIC_TEST_POSTGRES_URL not set: Postgres story skipped"),
    }
}
