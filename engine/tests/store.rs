//! The store's contract, run against SQLite always and Postgres when configured.

mod common;

use chrono::Utc;
use medic_engine::action::{ApprovalRequest, TimeoutOutcome};
use medic_engine::store::*;
use serde_json::json;

fn new_run(id: &str) -> NewRun {
    NewRun {
        id: id.into(),
        workflow: "wf".into(),
        workflow_path: "wf.yaml".into(),
        source: "name: wf".into(),
        inputs: json!({"a": 1}),
        trigger: json!({"kind": "manual"}),
        owner: None,
        lease_until: None,
    }
}

fn step(key: &str, run: &str) -> NewStepRun {
    NewStepRun {
        key: key.into(),
        step_id: key.into(),
        item_index: None,
        idempotency_key: format!("{run}/{key}"),
    }
}

/// A new run with a step for each of `keys`; returns its id.
async fn created(store: &Store, keys: &[&str]) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let steps: Vec<_> = keys.iter().map(|k| step(k, &id)).collect();
    store.create_run(&new_run(&id), &steps).await.unwrap();
    id
}

#[tokio::test]
async fn run_lifecycle_on_every_backend() {
    for (backend, store, _guard) in common::stores().await {
        let id = created(&store, &["a", "b"]).await;
        let run = store.run(&id).await.unwrap();
        assert_eq!(run.status, RunStatus::Running, "{backend}");
        assert_eq!(run.inputs, json!({"a": 1}), "{backend}");

        let attempt = store
            .start_attempt(&AttemptStart {
                run_id: id.clone(),
                step_key: "a".into(),
                attempt: 1,
                input: Some(json!({"x": "***"})),
                at: Utc::now(),
            })
            .await
            .unwrap();
        let steps = store.step_runs(&id).await.unwrap();
        assert_eq!(steps[0].status, StepStatus::Running, "{backend}");
        assert_eq!(steps[0].attempts, 1, "{backend}");

        store
            .finish_attempt(&AttemptEnd {
                outputs: json!({"exit_code": 0}),
                logs: vec!["one".into(), "two".into()],
                ..end_of(attempt, &id, "a", StepStatus::Succeeded)
            })
            .await
            .unwrap();
        let attempts = store.attempts(&id).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].logs, "one\ntwo", "{backend}");
        assert_eq!(attempts[0].exit_code, Some(0), "{backend}");
        let a = &store.step_runs(&id).await.unwrap()[0];
        assert_eq!(a.status, StepStatus::Succeeded);
        assert_eq!(a.outputs, json!({"exit_code": 0}));

        // A crash with `b` in flight: resuming marks the attempt interrupted and `b` pending.
        store
            .start_attempt(&AttemptStart {
                run_id: id.clone(),
                step_key: "b".into(),
                attempt: 1,
                input: None,
                at: Utc::now(),
            })
            .await
            .unwrap();
        assert_eq!(store.interrupt_running(&id).await.unwrap(), 1, "{backend}");
        let b = store
            .step_runs(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.step_key == "b")
            .unwrap();
        assert_eq!(b.status, StepStatus::Pending, "{backend}");
        assert_eq!(b.attempts, 1, "{backend}");
        assert_eq!(store.attempts(&id).await.unwrap()[1].status, "interrupted");

        store
            .set_run_status(&id, RunStatus::Succeeded, None)
            .await
            .unwrap();
        let run = store.run(&id).await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        assert!(run.finished_at.is_some());
        let listed = store
            .list_runs(&RunFilter {
                status: Some(RunStatus::Succeeded),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(listed.iter().any(|r| r.id == id), "{backend}");
        let events = store.events(&id).await.unwrap();
        assert!(
            events.iter().any(|e| e.kind == "resumed_interrupted"),
            "{backend}: {events:?}"
        );
        assert_eq!(store.resolve_run_id(&id[..13]).await.unwrap(), id);
    }
}

#[tokio::test]
async fn runs_wider_than_one_insert_keep_every_step_on_every_backend() {
    for (backend, store, _guard) in common::stores().await {
        // More steps than one INSERT statement holds, and not a multiple of it.
        let keys: Vec<String> = (0..2345).map(|i| format!("s{i:04}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let id = created(&store, &keys).await;
        let items: Vec<NewStepRun> = ["s0000", "s0000[0]", "s0000[1]"]
            .iter()
            .map(|k| step(k, &id))
            .collect();
        // Adding instances again leaves the existing ones alone.
        store.add_step_runs(&id, &items).await.unwrap();
        let steps = store.step_runs(&id).await.unwrap();
        assert_eq!(steps.len(), 2347, "{backend}");
        assert!(
            steps.iter().all(|s| s.status == StepStatus::Pending),
            "{backend}"
        );
        assert_eq!(
            steps.iter().filter(|s| s.step_key == "s2344").count(),
            1,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn sightings_are_counted_atomically_on_every_backend() {
    for (backend, store, _guard) in common::stores().await {
        let t0 = Utc::now();
        assert_eq!(store.sighting("fp").await.unwrap(), None, "{backend}");
        // Eight workers see the same failure at once: every sighting counts once.
        let seen = futures_join_all(&store, t0).await;
        let mut counts: Vec<i64> = seen.iter().map(|s| s.count).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=8).collect::<Vec<i64>>(), "{backend}");
        let later = t0 + chrono::TimeDelta::minutes(5);
        let s = store.record_sighting("fp", None, later).await.unwrap();
        assert_eq!(s.count, 9, "{backend}");
        assert_eq!(
            s.first_seen.timestamp_millis(),
            t0.timestamp_millis(),
            "{backend}"
        );
        assert_eq!(
            s.last_seen.timestamp_millis(),
            later.timestamp_millis(),
            "{backend}"
        );
        assert_eq!(store.sighting("fp").await.unwrap(), Some(s), "{backend}");
    }
}

async fn futures_join_all(store: &Store, at: chrono::DateTime<Utc>) -> Vec<Sighting> {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_sighting("fp", Some("test"), at).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn a_pull_request_is_resolved_once_on_every_backend() {
    for (backend, store, _guard) in common::stores().await {
        let now = Utc::now();
        let mut pull = PullRecord {
            api_url: "https://api.github.com".into(),
            repository: "acme/api".into(),
            number: 7,
            url: "https://github.com/acme/api/pull/7".into(),
            branch: "medic/fix-0123456789ab".into(),
            fingerprint: Some("fp".into()),
            fix_hash: Some("h1".into()),
            decision_id: Some("d1".into()),
            run_id: Some("r1".into()),
            state: PullState::Open,
            opened_at: now,
            updated_at: now,
            resolved_at: None,
        };
        store.upsert_pull(&pull).await.unwrap();
        // A second run updates the same pull request rather than adding one.
        pull.fix_hash = Some("h2".into());
        store.upsert_pull(&pull).await.unwrap();
        let open = store.pulls(Some(PullState::Open)).await.unwrap();
        assert_eq!(open.len(), 1, "{backend}");
        assert_eq!(open[0].fix_hash.as_deref(), Some("h2"), "{backend}");
        assert!(
            store
                .resolve_pull("acme/api", 7, PullState::Merged, now)
                .await
                .unwrap(),
            "{backend}"
        );
        assert!(
            !store
                .resolve_pull("acme/api", 7, PullState::Closed, now)
                .await
                .unwrap(),
            "{backend}"
        );
        assert!(
            store.pulls(Some(PullState::Open)).await.unwrap().is_empty(),
            "{backend}"
        );
        let all = store.pulls(None).await.unwrap();
        assert_eq!(all[0].state, PullState::Merged, "{backend}");
        assert!(all[0].resolved_at.is_some(), "{backend}");
    }
}

#[tokio::test]
async fn leases_exclude_a_second_driver() {
    for (backend, store, _guard) in common::stores().await {
        let id = uuid::Uuid::now_v7().to_string();
        store.create_run(&new_run(&id), &[]).await.unwrap();
        let soon = Utc::now() + chrono::Duration::seconds(30);
        store.acquire_lease(&id, "one", soon).await.unwrap();
        store.acquire_lease(&id, "one", soon).await.unwrap();
        let err = store.acquire_lease(&id, "two", soon).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{backend}: {err}");
        store.release_lease(&id, "one").await.unwrap();
        store.acquire_lease(&id, "two", soon).await.unwrap();
        // An expired lease can be taken over.
        let past = Utc::now() - chrono::Duration::seconds(1);
        store.acquire_lease(&id, "two", past).await.unwrap();
        store.acquire_lease(&id, "three", soon).await.unwrap();
    }
}

#[tokio::test]
async fn an_approval_is_decided_exactly_once() {
    for (backend, store, _guard) in common::stores().await {
        let id = uuid::Uuid::now_v7().to_string();
        store
            .create_run(&new_run(&id), &[step("ask", &id)])
            .await
            .unwrap();
        let attempt = store
            .start_attempt(&AttemptStart {
                run_id: id.clone(),
                step_key: "ask".into(),
                attempt: 1,
                input: None,
                at: Utc::now(),
            })
            .await
            .unwrap();
        let req = ApprovalRequest {
            message: "ok?".into(),
            approvers: vec!["alice".into()],
            groups: Vec::new(),
            inputs: Default::default(),
            deadline: None,
            on_timeout: TimeoutOutcome::Fail,
        };
        store
            .finish_attempt(&AttemptEnd {
                outputs: json!({}),
                logs: vec![],
                exit_code: None,
                wait: Some(
                    serde_json::to_value(medic_engine::action::Wait::Approval(req.clone()))
                        .unwrap(),
                ),
                approval: Some(serde_json::to_value(&req).unwrap()),
                ..end_of(attempt, &id, "ask", StepStatus::Waiting)
            })
            .await
            .unwrap();
        let pending = store.approvals(None).await.unwrap();
        assert!(pending.iter().any(|a| a.run_id == id), "{backend}");
        let decision = |status, by: &str| ApprovalDecision {
            run_id: id.clone(),
            step_key: "ask".into(),
            status,
            by: by.into(),
            comment: None,
            inputs: json!({}),
            at: Utc::now(),
        };
        // Two deciders race; exactly one wins.
        let (da, db) = (
            decision(ApprovalStatus::Approved, "alice"),
            decision(ApprovalStatus::Rejected, "bob"),
        );
        let (a, b) = tokio::join!(store.decide_approval(&da), store.decide_approval(&db));
        assert!(a.is_ok() ^ b.is_ok(), "{backend}: {a:?} {b:?}");
        let err = store
            .decide_approval(&decision(ApprovalStatus::Rejected, "carol"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already"), "{backend}: {err}");
        let step = &store.step_runs(&id).await.unwrap()[0];
        assert!(matches!(
            step.wait,
            Some(medic_engine::action::Wait::Approval(_))
        ));
    }
}

#[test]
fn database_passwords_are_redacted() {
    assert_eq!(
        redact_url("postgres://medic:hunter2@db:5432/medic"),
        "postgres://medic:***@db:5432/medic"
    );
    assert_eq!(redact_url("postgres://db/medic"), "postgres://db/medic");
    assert_eq!(redact_url(".medic/medic.db"), ".medic/medic.db");
}

fn end_of(attempt_id: i64, run: &str, key: &str, status: StepStatus) -> AttemptEnd {
    AttemptEnd {
        attempt_id,
        run_id: run.into(),
        step_key: key.into(),
        attempt: 1,
        attempt_status: status,
        step_status: status,
        outputs: json!({"step": key}),
        logs: vec![format!("{key} ran")],
        exit_code: Some(0),
        error_kind: None,
        error: None,
        wait: None,
        wake_at: None,
        approval: None,
        at: Utc::now(),
    }
}

fn start_of(run: &str, key: &str) -> AttemptStart {
    AttemptStart {
        run_id: run.into(),
        step_key: key.into(),
        attempt: 1,
        input: None,
        at: Utc::now(),
    }
}

/// The chain's write: earlier steps end and the next starts in one call, and the store
/// reads as if each had been written on its own, in order.
#[tokio::test]
async fn ends_and_the_next_start_are_written_together_in_order() {
    for (backend, store, _guard) in common::stores().await {
        let id = created(&store, &["a", "b", "c", "d"]).await;
        let a = store.start_attempt(&start_of(&id, "a")).await.unwrap();
        let b = store.start_attempt(&start_of(&id, "b")).await.unwrap();
        let ends = [
            end_of(a, &id, "a", StepStatus::Succeeded),
            end_of(b, &id, "b", StepStatus::Failed),
        ];
        let c = store
            .finish_and_start(&ends, &start_of(&id, "c"))
            .await
            .unwrap();
        // With nothing held back it is a plain start.
        let d = store
            .finish_and_start(&[], &start_of(&id, "d"))
            .await
            .unwrap();
        assert!(a < b && b < c && c < d, "{backend}: {a} {b} {c} {d}");

        let states: Vec<_> = store
            .step_runs(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.step_key, s.status, s.outputs))
            .collect();
        assert_eq!(
            states,
            [
                ("a".into(), StepStatus::Succeeded, json!({"step": "a"})),
                ("b".into(), StepStatus::Failed, json!({"step": "b"})),
                ("c".into(), StepStatus::Running, serde_json::Value::Null),
                ("d".into(), StepStatus::Running, serde_json::Value::Null),
            ],
            "{backend}"
        );
        let attempts = store.attempts(&id).await.unwrap();
        assert_eq!(attempts[1].logs, "b ran", "{backend}");
        // The attempts are the record of what ran, in the order it was written.
        let order: Vec<_> = attempts
            .iter()
            .map(|a| format!("{} {}", a.step_key, a.status.as_str()))
            .collect();
        assert_eq!(
            order,
            ["a succeeded", "b failed", "c running", "d running"],
            "{backend}"
        );
        assert!(
            attempts[..2].iter().all(|a| a.finished_at.is_some())
                && attempts[2..].iter().all(|a| a.finished_at.is_none()),
            "{backend}: {attempts:?}"
        );
    }
}

/// A combined write that fails leaves nothing half-written, and the connection it
/// failed on serves the next write normally (no transaction left open on it).
#[tokio::test]
async fn a_failed_combined_write_leaves_nothing_behind() {
    for (backend, store, _guard) in common::stores().await {
        let id = created(&store, &["a", "b"]).await;
        let a = store.start_attempt(&start_of(&id, "a")).await.unwrap();
        // The start names a run that does not exist: the attempts row's foreign key fails
        // after the end of `a` was already applied inside the transaction.
        let err = store
            .finish_and_start(
                &[end_of(a, &id, "a", StepStatus::Succeeded)],
                &start_of("no-such-run", "b"),
            )
            .await;
        assert!(err.is_err(), "{backend}");
        // On SQLite the end and the start are one transaction, rolled back whole; on
        // Postgres each is its own atomic statement and the end of `a` stands.
        let status = match backend.as_str() {
            "sqlite" => StepStatus::Running,
            _ => StepStatus::Succeeded,
        };
        assert_eq!(
            store.step_runs(&id).await.unwrap()[0].status,
            status,
            "{backend}"
        );
        // Each of the next writes lands: the last one's logs are what the attempt holds.
        for i in 0..8 {
            let end = AttemptEnd {
                logs: vec![format!("write {i}")],
                ..end_of(a, &id, "a", StepStatus::Succeeded)
            };
            store.finish_attempt(&end).await.unwrap();
            assert_eq!(
                store.attempts(&id).await.unwrap()[0].logs,
                format!("write {i}"),
                "{backend}"
            );
        }
        assert_eq!(
            store.step_runs(&id).await.unwrap()[0].status,
            StepStatus::Succeeded
        );
    }
}

/// A long chain of steps on SQLite: the write-ahead log starts over once checkpointed
/// instead of growing by every page the run writes (42 MB after 1,000 shell steps, and
/// without bound in a long-lived service).
#[tokio::test]
async fn the_sqlite_log_stays_bounded_over_a_long_chain() {
    let (store, dir) = common::sqlite_store().await;
    let steps = 2_560;
    let keys: Vec<String> = (0..steps).map(|i| format!("s{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let id = created(&store, &keys).await;
    let mut previous = store.start_attempt(&start_of(&id, keys[0])).await.unwrap();
    for (i, key) in keys.iter().enumerate().skip(1) {
        let end = end_of(previous, &id, keys[i - 1], StepStatus::Succeeded);
        previous = store
            .finish_and_start(&[end], &start_of(&id, key))
            .await
            .unwrap();
        // As the run loop and `medic runs` do between steps. No pause between steps:
        // where commits never stop, SQLite cannot start the log over at a commit
        // itself (it never finds the checkpoint caught up); only the checkpoint
        // thread's restart does.
        if i % 64 == 0 {
            store.run(&id).await.unwrap();
        }
    }
    let wal = std::fs::metadata(dir.path().join("medic.db-wal"))
        .unwrap()
        .len();
    // It starts over once past 2,048 frames (8 MiB), and stays under 12 MiB with the
    // steps committed while a checkpoint runs. Never starting over, it reached 40 MB.
    assert!(
        wal < 12 * 1024 * 1024,
        "the log grew to {wal} bytes over {steps} steps"
    );
}

/// The `attempts` rows of `sqlite_sequence` in the SQLite database at `path`: none,
/// since `attempts.id` is a plain rowid (no AUTOINCREMENT and its extra page per insert).
fn attempts_sequences(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_sequence WHERE name = 'attempts'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Writing attempts on SQLite leaves `sqlite_sequence` alone, and the attempts written
/// before the store is opened again keep their ids, with new ones after them.
#[tokio::test]
async fn sqlite_attempt_ids_are_rowids_that_survive_reopening() {
    let (store, dir) = common::sqlite_store().await;
    let path = dir.path().join("medic.db");
    let id = created(&store, &["a", "b", "c"]).await;
    let a = store.start_attempt(&start_of(&id, "a")).await.unwrap();
    let b = store
        .finish_and_start(
            &[end_of(a, &id, "a", StepStatus::Succeeded)],
            &start_of(&id, "b"),
        )
        .await
        .unwrap();
    assert!(a < b, "{a} {b}");
    // The events table still uses it: the sequence table exists, without `attempts`.
    assert_eq!(attempts_sequences(&path), 0);
    let before = store.attempts(&id).await.unwrap();
    drop(store);

    let store = Store::connect(path.to_str().unwrap()).await.unwrap();
    let after = store.attempts(&id).await.unwrap();
    let ids = |rows: &[AttemptRecord]| {
        rows.iter()
            .map(|r| (r.id, r.step_key.clone(), r.status.clone(), r.logs.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(
        after.iter().map(|r| r.id).collect::<Vec<_>>(),
        [a, b],
        "{after:?}"
    );
    let c = store
        .finish_and_start(
            &[end_of(b, &id, "b", StepStatus::Succeeded)],
            &start_of(&id, "c"),
        )
        .await
        .unwrap();
    assert!(c > b, "{b} {c}");
    let statuses: Vec<_> = store
        .attempts(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (a, "succeeded".into()),
            (b, "succeeded".into()),
            (c, "running".into())
        ]
    );
    assert_eq!(attempts_sequences(&path), 0);
}

/// Every column of a step instance reads back as written, on every backend: on SQLite
/// the rows are read in place on the writer's connection, on Postgres through sqlx.
#[tokio::test]
async fn a_steps_every_column_reads_back_on_every_backend() {
    for (backend, store, _guard) in common::stores().await {
        let id = uuid::Uuid::now_v7().to_string();
        let item = NewStepRun {
            key: "fan[2]".into(),
            step_id: "fan".into(),
            item_index: Some(2),
            idempotency_key: format!("{id}/fan[2]"),
        };
        store
            .create_run(&new_run(&id), &[step("a", &id), item])
            .await
            .unwrap();
        let start = AttemptStart {
            input: Some(json!({"with": ["x", 1]})),
            ..start_of(&id, "fan[2]")
        };
        let attempt = store.start_attempt(&start).await.unwrap();
        // Milliseconds, as stored.
        let wake_at =
            chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis() + 60_000)
                .unwrap();
        let wait = medic_engine::action::Wait::Until { wake_at };
        let end = AttemptEnd {
            attempt_status: StepStatus::Failed,
            step_status: StepStatus::Waiting,
            outputs: json!({"exit_code": 3, "note": "é ✓"}),
            error_kind: Some("failed".into()),
            error: Some("exit code 3".into()),
            wait: Some(serde_json::to_value(&wait).unwrap()),
            wake_at: Some(wake_at),
            ..end_of(attempt, &id, "fan[2]", StepStatus::Failed)
        };
        store.finish_attempt(&end).await.unwrap();

        let steps = store.step_runs(&id).await.unwrap();
        let keys: Vec<&str> = steps.iter().map(|s| s.step_key.as_str()).collect();
        assert_eq!(keys, ["a", "fan[2]"], "{backend}");
        let (a, fan) = (&steps[0], &steps[1]);
        assert_eq!(a.status, StepStatus::Pending, "{backend}");
        assert_eq!((a.attempts, a.item_index), (0, None), "{backend}");
        assert!(a.input.is_null() && a.wait.is_none() && a.started_at.is_none());
        assert_eq!(fan.run_id, id, "{backend}");
        assert_eq!(fan.step_id, "fan", "{backend}");
        assert_eq!(fan.item_index, Some(2), "{backend}");
        assert_eq!(fan.status, StepStatus::Waiting, "{backend}");
        assert_eq!(fan.attempts, 1, "{backend}");
        assert_eq!(fan.input, json!({"with": ["x", 1]}), "{backend}");
        assert_eq!(
            fan.outputs,
            json!({"exit_code": 3, "note": "é ✓"}),
            "{backend}"
        );
        assert_eq!(fan.error_kind.as_deref(), Some("failed"), "{backend}");
        assert_eq!(fan.error.as_deref(), Some("exit code 3"), "{backend}");
        assert_eq!(fan.idempotency_key, format!("{id}/fan[2]"), "{backend}");
        assert!(
            matches!(fan.wait, Some(medic_engine::action::Wait::Until { wake_at: w }) if w == wake_at),
            "{backend}: {:?}",
            fan.wait
        );
        assert_eq!(fan.wake_at, Some(wake_at), "{backend}");
        assert!(fan.started_at.is_some(), "{backend}");
    }
}

/// Every column of a run reads back as written, on every backend (in place on SQLite,
/// through sqlx on Postgres).
#[tokio::test]
async fn a_runs_every_column_reads_back_on_every_backend() {
    for (backend, store, _guard) in common::stores().await {
        let id = created(&store, &["a"]).await;
        let lease_until =
            chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis() + 30_000)
                .unwrap();
        store
            .acquire_lease(&id, "host:42", lease_until)
            .await
            .unwrap();
        store.request_cancel(&id).await.unwrap();
        let run = store.run(&id).await.unwrap();
        assert_eq!(run.id, id, "{backend}");
        assert_eq!(
            (
                run.workflow.as_str(),
                run.workflow_path.as_str(),
                run.source.as_str()
            ),
            ("wf", "wf.yaml", "name: wf"),
            "{backend}"
        );
        assert_eq!(run.inputs, json!({"a": 1}), "{backend}");
        assert_eq!(run.trigger, json!({"kind": "manual"}), "{backend}");
        assert_eq!(run.owner.as_deref(), Some("host:42"), "{backend}");
        assert_eq!(run.lease_until, Some(lease_until), "{backend}");
        assert!(run.cancel_requested, "{backend}");
        assert!(run.finished_at.is_none(), "{backend}");

        store
            .set_run_status(&id, RunStatus::Failed, Some("step `a` failed"))
            .await
            .unwrap();
        let run = store.run(&id).await.unwrap();
        assert_eq!(run.status, RunStatus::Failed, "{backend}");
        assert_eq!(run.error.as_deref(), Some("step `a` failed"), "{backend}");
        assert!(run.finished_at.is_some(), "{backend}");
        assert!(run.updated_at >= run.created_at, "{backend}");
        let missing = store.run("0000").await.unwrap_err();
        assert!(
            missing.to_string().contains("no run"),
            "{backend}: {missing}"
        );
    }
}
