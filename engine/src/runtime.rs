//! The executor: drives one run of a workflow to its end, durably.
//!
//! Every step instance (a step, or one item of a `for_each`) has a row in the store. The
//! executor loads them, decides which are ready, writes "attempt started" before running
//! an action and "attempt finished" before acting on the result, so a process killed at
//! any moment can be resumed: finished steps are never re-run, and a step that was in
//! flight runs again with the same idempotency key (at-least-once). Waiting steps
//! (approvals, sleeps, retry delays) are rows with a wake-up time, not tasks, so they
//! cost nothing while they wait and survive restarts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::action::{
    ErrorKind, Registry, StepContext, StepError, StepOutcome, TimeoutOutcome, Wait,
};
use crate::expr::{Expr, NeedsStatus};
use crate::secrets::{Masker, Redactor};
use crate::store::{
    ApprovalDecision, ApprovalStatus, AttemptEnd, AttemptStart, NewRun, NewStepRun, RunStatus,
    StepRunRecord, StepStatus, StepUpdate, Store, StoreError,
};
use crate::workflow::{ForEach, Phase, Step, Workflow};

/// How long a process holds a run before another may take it over.
const LEASE: Duration = Duration::from_secs(30);
/// How often the lease is renewed, and how often the store is polled for approvals and
/// cancellation while nothing else happens.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Why a run could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The inputs given do not fit the workflow.
    #[error("{0}")]
    Inputs(String),
    /// The run cannot be resumed.
    #[error("{0}")]
    NotResumable(String),
    /// The runtime shut down while the run was being driven; resume it later.
    #[error("the run was stopped before it ended: {0}")]
    Stopped(String),
}

/// A change worth showing to the user while a run progresses.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The step instance.
    pub step_key: String,
    /// Its new status.
    pub status: StepStatus,
    /// The attempt number, when an attempt is involved.
    pub attempt: u32,
    /// How long the attempt took, when it ended.
    pub elapsed: Option<Duration>,
    /// A short message (error, wait reason, skip reason).
    pub message: Option<String>,
}

/// Options for driving a run.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// Describe side effects instead of performing them.
    pub dry_run: bool,
    /// Keep the process waiting for approvals and sleeps (true for `medic run`); when
    /// false, return as soon as only waits remain, leaving the run `waiting`.
    pub wait: bool,
    /// How often to look for decided approvals and cancel requests.
    pub poll: Duration,
    /// Name of this process, for the lease.
    pub owner: String,
    /// Folder relative paths resolve against.
    pub base_dir: PathBuf,
    /// Environment variables visible to the run (the secrets are read from here).
    pub environment: BTreeMap<String, String>,
    /// Removes secrets the workflow did not declare from step logs, outputs, errors
    /// and rendered inputs before they are stored or shown (the binary installs
    /// medic-analyze's sanitizer); `None` masks declared secrets only.
    pub redactor: Option<Arc<dyn Redactor>>,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            dry_run: false,
            wait: true,
            poll: Duration::from_millis(500),
            owner: local_owner(),
            base_dir: std::env::current_dir().unwrap_or_default(),
            environment: std::env::vars().collect(),
            redactor: None,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string())
}

/// Whether any string inside `value` holds template syntax.
fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => crate::expr::is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// The lease owner name of this process: `host:pid`.
pub fn local_owner() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// Whether a lease owner is a process of this machine that no longer exists.
fn owner_is_dead(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) if pid != std::process::id() => {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting to be reaped: either way it drives nothing.
            stat.is_empty()
                || stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        }
        _ => false,
    }
}

/// Turn user-given inputs into the run's inputs: defaults applied, types checked,
/// required ones present, unknown ones refused.
pub fn resolve_inputs(
    workflow: &Workflow,
    given: &serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>, EngineError> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if !workflow.inputs.contains_key(name) {
            let known: Vec<&str> = workflow.inputs.keys().map(String::as_str).collect();
            problems.push(match crate::diagnostic::suggest(name, &known) {
                Some(s) => format!("unknown input `{name}`: did you mean `{s}`?"),
                None if known.is_empty() => {
                    format!("unknown input `{name}`: the workflow declares no inputs")
                }
                None => format!("unknown input `{name}`; inputs are: {}", known.join(", ")),
            });
        }
    }
    let mut out = serde_json::Map::new();
    for (name, spec) in &workflow.inputs {
        match given.get(name).or(spec.default.as_ref()) {
            Some(v) if spec.kind.accepts(v) => {
                out.insert(name.clone(), v.clone());
            }
            Some(v) => problems.push(format!(
                "input `{name}` must be a {}, found {v}",
                spec.kind.as_str()
            )),
            None if spec.required => {
                problems.push(format!("input `{name}` is required: pass --input {name}=…"))
            }
            None => {
                out.insert(name.clone(), Value::Null);
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(EngineError::Inputs(problems.join("\n")))
    }
}

/// The key of a step instance: `step`, or `step[i]` for item `i` of a `for_each`.
pub fn step_key(step_id: &str, item: Option<usize>) -> String {
    match item {
        Some(i) => format!("{step_id}[{i}]"),
        None => step_id.to_string(),
    }
}

/// Record a new run of `workflow` in the store, ready to be driven. Returns its id.
pub async fn create_run(
    store: &Store,
    workflow: &Workflow,
    inputs: serde_json::Map<String, Value>,
    trigger: Value,
) -> Result<String, EngineError> {
    let id = uuid::Uuid::now_v7().to_string();
    let steps: Vec<NewStepRun> = workflow
        .steps
        .iter()
        .map(|s| NewStepRun {
            key: s.id.clone(),
            step_id: s.id.clone(),
            item_index: None,
            idempotency_key: format!("{id}/{}", s.id),
        })
        .collect();
    store
        .create_run(
            &NewRun {
                id: id.clone(),
                workflow: workflow.name.clone(),
                workflow_path: workflow.path.display().to_string(),
                source: workflow.source.clone(),
                inputs: Value::Object(inputs),
                trigger,
                owner: None,
                lease_until: None,
            },
            &steps,
        )
        .await?;
    Ok(id)
}

/// The in-memory view of one step instance.
#[derive(Debug, Clone)]
struct Instance {
    rec: StepRunRecord,
    /// Where its step is in the workflow's list, found once (the loop asks on every
    /// pass, for every pending step).
    step: Option<usize>,
}

/// A run's step instances by key, from their rows; `order` gives each step's index.
fn instances_of(
    records: Vec<StepRunRecord>,
    order: &HashMap<String, usize>,
) -> BTreeMap<String, Instance> {
    records
        .into_iter()
        .map(|rec| {
            let step = order.get(&rec.step_id).copied();
            (rec.step_key.clone(), Instance { rec, step })
        })
        .collect()
}

struct Finished {
    key: String,
    attempt_id: i64,
    attempt: u32,
    result: Result<StepOutcome, StepError>,
    logs: Vec<String>,
    elapsed: Duration,
}

/// Drives runs. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    store: Store,
    registry: Registry,
    expr: Arc<Expr>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Everything one drive of a run needs, gathered once.
struct Drive<'a> {
    exec: &'a Executor,
    wf: &'a Workflow,
    run_id: String,
    opts: &'a DriveOptions,
    masker: Arc<Masker>,
    inputs: Value,
    trigger: Value,
    secrets: serde_json::Map<String, Value>,
    instances: BTreeMap<String, Instance>,
    order: HashMap<String, usize>,
    /// Each step's needs, as indexes into the workflow's steps (in `needs:` order).
    needs: Vec<Vec<usize>>,
    running: HashMap<String, tokio::task::AbortHandle>,
    /// Attempt ends not yet written. An end is held back only until the next write,
    /// so that in a chain it shares the next step's start transaction; nothing waits
    /// or starts while one is held (see [`Drive::flush`]).
    unsaved: Vec<AttemptEnd>,
    progress: Option<mpsc::UnboundedSender<Progress>>,
    cancelling: bool,
}

impl Executor {
    /// An executor over a store and a set of actions.
    pub fn new(store: Store, registry: Registry) -> Self {
        Executor {
            store,
            registry,
            expr: Arc::new(Expr::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Drive a run until it ends (or, with `wait: false`, until only waits remain).
    /// Steps left `running` by a dead process run again. `cancel` turning true cancels
    /// the run; `progress` receives step changes for live display.
    ///
    /// The run's loop is a task of its own on the runtime, wherever this is awaited
    /// from: under `#[tokio::main]` the caller is the main thread, outside the worker
    /// pool, and every step task handed to a worker and every step result handed
    /// back would cross threads. Spawned from a worker, a step's task starts on the
    /// same worker. Dropping the returned future stops the run, as if it were driven
    /// in place.
    pub async fn drive(
        &self,
        workflow: &Workflow,
        run_id: &str,
        opts: &DriveOptions,
        cancel: watch::Receiver<bool>,
        progress: Option<mpsc::UnboundedSender<Progress>>,
    ) -> Result<RunStatus, EngineError> {
        let (exec, workflow, opts) = (self.clone(), workflow.clone(), opts.clone());
        let run_id = run_id.to_string();
        let task = AbortOnDrop(tokio::spawn(async move {
            exec.drive_here(&workflow, &run_id, &opts, cancel, progress)
                .await
        }));
        match task.join().await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(EngineError::Stopped(e.to_string())),
        }
    }

    async fn drive_here(
        &self,
        workflow: &Workflow,
        run_id: &str,
        opts: &DriveOptions,
        mut cancel: watch::Receiver<bool>,
        progress: Option<mpsc::UnboundedSender<Progress>>,
    ) -> Result<RunStatus, EngineError> {
        let run = self.store.run(run_id).await?;
        if run.status.is_terminal() {
            return Err(EngineError::NotResumable(format!(
                "run {run_id} already ended: {}",
                run.status.as_str()
            )));
        }
        match self
            .store
            .acquire_lease(run_id, &opts.owner, Utc::now() + LEASE)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(why)) => {
                // A process on this machine that died (kill -9, crash) cannot renew its
                // lease; waiting 30 s for it to expire would only delay the resume.
                let holder = run.owner.clone().unwrap_or_default();
                if !owner_is_dead(&holder)
                    || !self
                        .store
                        .steal_lease(run_id, &holder, &opts.owner, Utc::now() + LEASE)
                        .await?
                {
                    return Err(StoreError::Conflict(why).into());
                }
                self.store
                    .append_event(
                        run_id,
                        None,
                        "lease_taken_over",
                        &json!({"from": holder, "to": opts.owner}),
                    )
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        // Attempts a dead process left `running` are marked interrupted, to run again. A
        // run that was just created has none: its step rows show it, without a write.
        let mut steps = self.store.step_runs(run_id).await?;
        if steps.iter().any(|s| s.status == StepStatus::Running) {
            self.store.interrupt_running(run_id).await?;
            steps = self.store.step_runs(run_id).await?;
        }
        if run.status == RunStatus::Waiting {
            self.store
                .set_run_status(run_id, RunStatus::Running, None)
                .await?;
        }

        let secrets: serde_json::Map<String, Value> = workflow
            .secrets
            .iter()
            .filter_map(|name| {
                opts.environment
                    .get(name)
                    .map(|v| (name.clone(), Value::String(v.clone())))
            })
            .collect();
        let masker = Arc::new(
            Masker::new(
                secrets
                    .values()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            )
            .with_redactor(opts.redactor.clone()),
        );
        let order: HashMap<String, usize> = workflow
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let mut d = Drive {
            exec: self,
            wf: workflow,
            run_id: run_id.to_string(),
            opts,
            masker,
            inputs: run.inputs.clone(),
            trigger: run.trigger.clone(),
            secrets,
            instances: instances_of(steps, &order),
            needs: workflow
                .steps
                .iter()
                .map(|s| {
                    s.needs
                        .iter()
                        .filter_map(|n| order.get(n).copied())
                        .collect()
                })
                .collect(),
            order,
            running: HashMap::new(),
            unsaved: Vec::new(),
            progress,
            cancelling: run.cancel_requested,
        };
        let result = d.run_loop(&mut cancel).await;
        if result.is_err() || matches!(result, Ok(RunStatus::Waiting)) {
            // Let another process (or a later `runs resume`) take over at once.
            let _ = self.store.release_lease(run_id, &opts.owner).await;
        }
        result
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<'a> Drive<'a> {
    async fn reload(&mut self) -> Result<(), EngineError> {
        self.instances = instances_of(self.exec.store.step_runs(&self.run_id).await?, &self.order);
        Ok(())
    }

    fn emit(
        &self,
        key: &str,
        status: StepStatus,
        attempt: u32,
        elapsed: Option<Duration>,
        message: Option<String>,
    ) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(Progress {
                step_key: key.to_string(),
                status,
                attempt,
                elapsed,
                message,
            });
        }
    }

    fn children<'s>(&'s self, step_id: &'s str) -> impl Iterator<Item = &'s Instance> + 's {
        self.instances
            .values()
            .filter(move |i| i.rec.step_id == step_id && i.rec.item_index.is_some())
    }

    /// The status of each step's top-level instance, by the step's index.
    fn top_level_statuses(&self) -> Vec<Option<StepStatus>> {
        let mut status = vec![None; self.wf.steps.len()];
        for inst in self.instances.values() {
            if let (None, Some(i)) = (inst.rec.item_index, inst.step) {
                status[i] = Some(inst.rec.status);
            }
        }
        status
    }

    fn parent(&self, step_id: &str) -> Option<&Instance> {
        self.instances.get(step_id)
    }

    /// The step with this id, found through the index (wide fan-outs ask often).
    fn step(&self, id: &str) -> Option<&'a Step> {
        let wf: &'a Workflow = self.wf;
        self.order.get(id).and_then(|&i| wf.steps.get(i))
    }

    /// Whether a finished step counts as good for its dependents and the run.
    fn is_ok(&self, step: &Step, status: StepStatus) -> bool {
        status == StepStatus::Succeeded || (status == StepStatus::Failed && step.continue_on_error)
    }

    /// The status the run has so far, as `run.status` reads it.
    fn current_status(&self) -> RunStatus {
        if self.cancelling {
            return RunStatus::Cancelled;
        }
        for step in &self.wf.steps {
            if let Some(inst) = self.parent(&step.id)
                && inst.rec.status == StepStatus::Failed
                && !step.continue_on_error
            {
                return RunStatus::Failed;
            }
        }
        RunStatus::Running
    }

    fn context(&self, item: Option<&Value>) -> Value {
        let mut steps = serde_json::Map::new();
        for step in &self.wf.steps {
            if let Some(inst) = self.parent(&step.id) {
                let outputs = if inst.rec.outputs.is_null() {
                    json!({})
                } else {
                    inst.rec.outputs.clone()
                };
                steps.insert(
                    step.id.clone(),
                    json!({"status": inst.rec.status.as_str(), "outputs": outputs}),
                );
            }
        }
        let status = match self.current_status() {
            RunStatus::Running => "succeeded",
            other => other.as_str(),
        };
        let env: serde_json::Map<String, Value> = self
            .wf
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut ctx = json!({
            "inputs": self.inputs,
            "steps": steps,
            "trigger": self.trigger,
            "env": env,
            "secrets": self.secrets,
            "run": {"id": self.run_id, "status": status, "workflow": self.wf.name},
        });
        if let Some(item) = item {
            ctx["item"] = item.clone();
        }
        ctx
    }

    async fn set(
        &mut self,
        key: &str,
        status: StepStatus,
        outputs: Option<Value>,
        kind: Option<&str>,
        why: Option<String>,
    ) -> Result<(), EngineError> {
        let why = why.map(|w| self.masker.mask(&w).into_owned());
        self.flush().await?;
        self.exec
            .store
            .set_step(&StepUpdate {
                run_id: self.run_id.clone(),
                step_key: key.to_string(),
                status,
                outputs: outputs.clone(),
                error_kind: kind.map(str::to_string),
                error: why.clone(),
            })
            .await?;
        if let Some(inst) = self.instances.get_mut(key) {
            inst.rec.status = status;
            if let Some(o) = outputs {
                inst.rec.outputs = o;
            }
            inst.rec.error_kind = kind.map(str::to_string);
            inst.rec.error = why.clone();
            inst.rec.wake_at = None;
            inst.rec.wait = None;
        }
        self.emit(key, status, 0, None, why);
        Ok(())
    }

    /// End a step without an attempt (skipped, cancelled, failed before starting), saying why.
    async fn mark(
        &mut self,
        key: &str,
        status: StepStatus,
        kind: &str,
        why: impl Into<String>,
    ) -> Result<(), EngineError> {
        self.set(key, status, None, Some(kind), Some(why.into()))
            .await
    }

    /// Whether the steps of `phase` may start: later phases wait for earlier ones.
    fn phase_open(&self, phase: Phase) -> Option<bool> {
        let done = |p: Phase| {
            self.wf.steps.iter().filter(|s| s.phase == p).all(|s| {
                self.parent(&s.id)
                    .is_some_and(|i| i.rec.status.is_terminal())
            })
        };
        match phase {
            Phase::Main => Some(true),
            Phase::OnFailure => {
                if !done(Phase::Main) {
                    return None;
                }
                // on_failure steps run only when the main steps failed.
                Some(self.current_status() == RunStatus::Failed)
            }
            Phase::Finally => {
                if !done(Phase::Main) || !done(Phase::OnFailure) {
                    return None;
                }
                Some(true)
            }
        }
    }

    /// Decide, for every pending top-level step whose needs are done, whether it runs or
    /// is skipped. Returns true when something changed.
    async fn settle_pending(&mut self) -> Result<bool, EngineError> {
        let mut changed = false;
        // `wf` outlives `self`'s borrows, so steps can be read while `self` changes.
        let wf: &'a Workflow = self.wf;
        // The top-level steps still pending, in file order. Found from the instances
        // (a walk, no lookup) instead of looking every step of the file up by key on
        // each pass: in a long chain most are done.
        let mut status = self.top_level_statuses();
        let pending: Vec<usize> = (0..status.len())
            .filter(|&i| status[i] == Some(StepStatus::Pending))
            .collect();
        // Each step of the pass changes only its own instance (a `for_each` expansion
        // reloads the rest as they were), so those found pending stay pending until
        // their turn.
        for (idx, step) in pending
            .into_iter()
            .filter_map(|i| Some((i, wf.steps.get(i)?)))
        {
            // A step marked earlier in this pass may be a need of this one.
            if changed {
                status = self.top_level_statuses();
            }
            let open = match self.phase_open(step.phase) {
                None => continue,
                Some(open) => open,
            };
            if !open {
                self.mark(
                    &step.id,
                    StepStatus::Skipped,
                    "not_needed",
                    "the run did not fail",
                )
                .await?;
                changed = true;
                continue;
            }
            let mut all_done = true;
            let mut failed_need = None;
            let mut skipped_need = None;
            for &need_idx in &self.needs[idx] {
                // A need still running or pending (most of them in a long chain) is
                // all this step needs to know: looked up by index, not by name.
                let Some(need_status) = status[need_idx] else {
                    continue;
                };
                if !need_status.is_terminal() {
                    all_done = false;
                    break;
                }
                let need_step = &wf.steps[need_idx];
                let need = &need_step.id;
                let Some(ni) = self.parent(need) else {
                    continue;
                };
                if !self.is_ok(need_step, ni.rec.status) {
                    let via_failure = ni.rec.status == StepStatus::Failed
                        || ni.rec.error_kind.as_deref() == Some("upstream_failed");
                    if via_failure || ni.rec.status == StepStatus::Cancelled {
                        failed_need.get_or_insert(need.clone());
                    } else {
                        skipped_need.get_or_insert(need.clone());
                    }
                }
            }
            if !all_done {
                continue;
            }
            let needs_status = if self.cancelling {
                NeedsStatus::Cancelled
            } else if failed_need.is_some() {
                NeedsStatus::Failure
            } else {
                NeedsStatus::Success
            };
            let checks_status = step.condition.as_ref().is_some_and(|c| c.checks_status);
            if self.cancelling && !checks_status {
                self.mark(
                    &step.id,
                    StepStatus::Cancelled,
                    "cancelled",
                    "the run was cancelled",
                )
                .await?;
                changed = true;
                continue;
            }
            if !checks_status {
                if let Some(need) = failed_need {
                    self.mark(
                        &step.id,
                        StepStatus::Skipped,
                        "upstream_failed",
                        format!("`{need}` did not succeed"),
                    )
                    .await?;
                    changed = true;
                    continue;
                }
                if let Some(need) = skipped_need {
                    self.mark(
                        &step.id,
                        StepStatus::Skipped,
                        "upstream_skipped",
                        format!("`{need}` was skipped"),
                    )
                    .await?;
                    changed = true;
                    continue;
                }
            }
            if let Some(cond) = &step.condition {
                let ctx = self.context(None);
                match self
                    .exec
                    .expr
                    .eval_condition(&cond.expr, &ctx, needs_status)
                {
                    Ok(true) => {}
                    Ok(false) => {
                        self.mark(
                            &step.id,
                            StepStatus::Skipped,
                            "condition",
                            format!("`if: {}` was false", cond.expr),
                        )
                        .await?;
                        changed = true;
                        continue;
                    }
                    Err(e) => {
                        self.set(
                            &step.id,
                            StepStatus::Failed,
                            None,
                            Some(ErrorKind::Config.as_str()),
                            Some(format!("if: {e}")),
                        )
                        .await?;
                        changed = true;
                        continue;
                    }
                }
            }
            if let Some(for_each) = &step.for_each {
                changed |= self.expand(step, for_each).await?;
            } else {
                // Ready: leave it pending; `start_ready` picks it up.
                if let Some(i) = self.instances.get_mut(&step.id) {
                    i.rec.error_kind = Some("ready".into());
                }
            }
        }
        Ok(changed)
    }

    /// Create the item instances of a `for_each` step; the parent becomes `running` and
    /// finishes when its items do.
    async fn expand(&mut self, step: &Step, for_each: &ForEach) -> Result<bool, EngineError> {
        let items = match for_each {
            ForEach::Items(items) => Ok(items.clone()),
            ForEach::Expr(expr) => {
                let ctx = self.context(None);
                match self.exec.expr.eval(
                    crate::expr::strip_braces(expr).unwrap_or(expr),
                    &ctx,
                    NeedsStatus::Success,
                ) {
                    Ok(Value::Array(items)) => Ok(items),
                    Ok(other) => Err(format!("for_each must give a list, got {other}")),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let items = match items {
            Ok(items) => items,
            Err(why) => {
                self.set(
                    &step.id,
                    StepStatus::Failed,
                    None,
                    Some(ErrorKind::Config.as_str()),
                    Some(why),
                )
                .await?;
                return Ok(true);
            }
        };
        let news: Vec<NewStepRun> = (0..items.len())
            .map(|i| NewStepRun {
                key: step_key(&step.id, Some(i)),
                step_id: step.id.clone(),
                item_index: Some(i as i64),
                idempotency_key: format!("{}/{}", self.run_id, step_key(&step.id, Some(i))),
            })
            .collect();
        self.flush().await?;
        self.exec.store.add_step_runs(&self.run_id, &news).await?;
        // The items are kept in the parent's outputs so that a resumed run sees the same
        // list even if the expression would now evaluate differently.
        self.set(
            &step.id,
            StepStatus::Running,
            Some(json!({"items": items})),
            None,
            None,
        )
        .await?;
        self.reload().await?;
        Ok(true)
    }

    /// Finish `for_each` parents whose items are all done.
    async fn settle_parents(&mut self) -> Result<bool, EngineError> {
        let mut changed = false;
        let wf: &'a Workflow = self.wf;
        for step in wf.steps.iter().filter(|s| s.for_each.is_some()) {
            let Some(parent) = self.parent(&step.id) else {
                continue;
            };
            if parent.rec.status != StepStatus::Running {
                continue;
            }
            let kids: Vec<&Instance> = self.children(&step.id).collect();
            if !kids.iter().all(|k| k.rec.status.is_terminal()) {
                continue;
            }
            let results: Vec<Value> = kids
                .iter()
                .map(|k| {
                    if k.rec.outputs.is_null() {
                        json!({})
                    } else {
                        k.rec.outputs.clone()
                    }
                })
                .collect();
            let items = parent
                .rec
                .outputs
                .get("items")
                .cloned()
                .unwrap_or(json!([]));
            let failed = kids
                .iter()
                .filter(|k| k.rec.status == StepStatus::Failed)
                .count();
            let cancelled = kids.iter().any(|k| k.rec.status == StepStatus::Cancelled);
            let outputs = json!({"items": items, "results": results, "failed": failed});
            if cancelled {
                self.set(
                    &step.id,
                    StepStatus::Cancelled,
                    Some(outputs),
                    Some("cancelled"),
                    None,
                )
                .await?;
            } else if failed > 0 {
                let why = format!("{failed} of {} items failed", kids.len());
                self.set(
                    &step.id,
                    StepStatus::Failed,
                    Some(outputs),
                    Some(ErrorKind::Failed.as_str()),
                    Some(why),
                )
                .await?;
            } else {
                self.set(&step.id, StepStatus::Succeeded, Some(outputs), None, None)
                    .await?;
            }
            changed = true;
        }
        Ok(changed)
    }

    /// Instances that may start now, in file order then item order.
    fn ready(&self) -> Vec<String> {
        let mut ready: Vec<(usize, i64, String)> = Vec::new();
        // Called two or three times per step over every instance: the checks on the
        // record come first, so that the instances that are done or still waiting on
        // their needs (most of them) cost no lookup.
        for inst in self.instances.values() {
            let rec = &inst.rec;
            let go = match (rec.item_index, rec.status) {
                // Items are ready once their parent expanded; a retry delay or wait
                // keeps them out.
                (Some(_), StepStatus::Pending) => true,
                (Some(_), StepStatus::Waiting) => {
                    rec.wait.is_none() && rec.wake_at.is_none_or(|t| t <= Utc::now())
                }
                (None, StepStatus::Pending) => {
                    rec.error_kind.as_deref() == Some("ready") || rec.attempts > 0
                }
                // A retry delay that has elapsed.
                (None, StepStatus::Waiting) => {
                    rec.wait.is_none() && rec.wake_at.is_none_or(|t| t <= Utc::now())
                }
                _ => false,
            };
            if !go || self.running.contains_key(&rec.step_key) {
                continue;
            }
            let Some((idx, step)) = inst.step.and_then(|i| Some((i, self.wf.steps.get(i)?))) else {
                continue;
            };
            match rec.item_index {
                Some(i) => ready.push((idx, i, rec.step_key.clone())),
                None if step.for_each.is_none() => ready.push((idx, -1, rec.step_key.clone())),
                None => {}
            }
        }
        ready.sort();
        // Per-step fan-out limits.
        let mut per_step: HashMap<String, usize> = HashMap::new();
        for key in self.running.keys() {
            if let Some(inst) = self.instances.get(key) {
                *per_step.entry(inst.rec.step_id.clone()).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for (_, item, key) in ready {
            let Some(inst) = self.instances.get(&key) else {
                continue;
            };
            if item >= 0 {
                let step = self.step(&inst.rec.step_id);
                let limit = step.map(|s| s.max_parallel).unwrap_or(1).max(1);
                let n = per_step.entry(inst.rec.step_id.clone()).or_default();
                if *n >= limit {
                    continue;
                }
                *n += 1;
            }
            out.push(key);
        }
        out
    }

    async fn start(&mut self, key: &str, tasks: &mut JoinSet<Finished>) -> Result<(), EngineError> {
        let Some(inst) = self.instances.get(key).cloned() else {
            return Ok(());
        };
        let Some(step) = self.step(&inst.rec.step_id).cloned() else {
            return Ok(());
        };
        let attempt = inst.rec.attempts + 1;
        let item = inst.rec.item_index.and_then(|i| {
            self.parent(&step.id)
                .and_then(|p| p.rec.outputs.get("items"))
                .and_then(|items| items.get(i as usize))
                .cloned()
        });
        // Building the context copies every step's outputs; plain configs (most steps)
        // skip it, and their rendering, which would copy the config as it is.
        let with = Value::Object(step.with.clone());
        let templated =
            has_template(&with) || step.env.values().any(|v| crate::expr::is_template(v));
        let ctx = if templated {
            self.context(item.as_ref())
        } else {
            Value::Null
        };
        let rendered = if templated {
            self.exec.expr.render_value(&with, &ctx)
        } else {
            Ok(with)
        };
        // Only a templated config fails to render; its input is then the config as
        // written.
        let masked_input = Some(match &rendered {
            Ok(v) => self.masker.mask_json(v),
            Err(_) => self.masker.mask_json(&Value::Object(step.with.clone())),
        });
        let start = AttemptStart {
            run_id: self.run_id.clone(),
            step_key: key.to_string(),
            attempt,
            input: masked_input,
            at: Utc::now(),
        };
        let attempt_id = self
            .exec
            .store
            .finish_and_start(&self.unsaved, &start)
            .await?;
        self.unsaved.clear();
        if let Some(i) = self.instances.get_mut(key) {
            i.rec.status = StepStatus::Running;
            i.rec.attempts = attempt;
        }
        self.emit(key, StepStatus::Running, attempt, None, None);

        let mut env: BTreeMap<String, String> = self
            .wf
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &self.secrets {
            if let Some(v) = v.as_str() {
                env.insert(k.clone(), v.to_string());
            }
        }
        for (k, v) in &step.env {
            let value = match self.exec.expr.render_str(v, &ctx) {
                Ok(Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(_) => v.clone(),
            };
            env.insert(k.clone(), value);
        }
        let sctx = StepContext::new(
            self.run_id.clone(),
            step.id.clone(),
            attempt,
            inst.rec.idempotency_key.clone(),
            env,
            self.masker.clone(),
            self.opts.dry_run,
            self.opts.base_dir.clone(),
        )
        .with_store(self.exec.store.clone());
        let action = self.exec.registry.get(&step.uses);
        let timeout = step.timeout;
        let key_owned = key.to_string();
        let handle = tasks.spawn(async move {
            let started = Instant::now();
            let result = match (rendered, action) {
                (Err(e), _) => Err(StepError::new(ErrorKind::Config, format!("with: {e}"))),
                (_, None) => Err(StepError::new(
                    ErrorKind::Config,
                    format!("unknown action `{}`", step.uses),
                )),
                (Ok(config), Some(action)) => match timeout {
                    Some(t) => {
                        match tokio::time::timeout(t, action.run_json(config, &sctx)).await {
                            Ok(r) => r,
                            Err(_) => Err(StepError::new(
                                ErrorKind::Timeout,
                                format!("timed out after {}", humantime::format_duration(t)),
                            )),
                        }
                    }
                    None => action.run_json(config, &sctx).await,
                },
            };
            Finished {
                key: key_owned,
                attempt_id,
                attempt,
                result,
                logs: sctx.logs(),
                elapsed: started.elapsed(),
            }
        });
        self.running.insert(key.to_string(), handle);
        Ok(())
    }

    async fn finish(&mut self, f: Finished) -> Result<(), EngineError> {
        self.running.remove(&f.key);
        let Some(inst) = self.instances.get(&f.key).cloned() else {
            return Ok(());
        };
        let Some(step) = self.step(&inst.rec.step_id) else {
            return Ok(());
        };
        let now = Utc::now();
        let mut end = AttemptEnd {
            attempt_id: f.attempt_id,
            run_id: self.run_id.clone(),
            step_key: f.key.clone(),
            attempt: f.attempt,
            attempt_status: StepStatus::Succeeded,
            step_status: StepStatus::Succeeded,
            outputs: json!({}),
            logs: f.logs,
            exit_code: None,
            error_kind: None,
            error: None,
            wait: None,
            wake_at: None,
            approval: None,
            at: now,
        };
        let mut message = None;
        match f.result {
            Ok(StepOutcome::Success(outputs)) => {
                end.exit_code = outputs.get("exit_code").and_then(Value::as_i64);
                end.outputs = self.masker.mask_json(&Value::Object(outputs));
            }
            Ok(StepOutcome::Suspend(wait)) => {
                end.attempt_status = StepStatus::Waiting;
                end.step_status = StepStatus::Waiting;
                end.wait = Some(serde_json::to_value(&wait).unwrap_or(Value::Null));
                match &wait {
                    Wait::Until { wake_at } => {
                        end.wake_at = Some(*wake_at);
                        message = Some(format!("sleeping until {}", wake_at.to_rfc3339()));
                    }
                    Wait::Approval(req) => {
                        end.wake_at = req.deadline;
                        end.approval = Some(serde_json::to_value(req).unwrap_or(Value::Null));
                        message = Some(format!(
                            "waiting for approval: medic approve {} {}",
                            self.run_id, f.key
                        ));
                    }
                }
            }
            Err(err) => {
                let msg = self.masker.mask(&err.message).into_owned();
                end.exit_code = err.outputs.get("exit_code").and_then(Value::as_i64);
                end.outputs = self.masker.mask_json(&Value::Object(err.outputs));
                end.error_kind = Some(err.kind.as_str().to_string());
                end.error = Some(msg.clone());
                end.attempt_status = StepStatus::Failed;
                if !self.cancelling && step.retry.should_retry(err.kind, f.attempt) {
                    let delay = step.retry.delay(f.attempt, fastrand::f64());
                    end.step_status = StepStatus::Waiting;
                    end.wake_at = Some(now + chrono::Duration::from_std(delay).unwrap_or_default());
                    message = Some(format!(
                        "{msg}; retry {} of {} in {}",
                        f.attempt + 1,
                        step.retry.max_attempts,
                        humantime::format_duration(Duration::from_millis(delay.as_millis() as u64))
                    ));
                } else {
                    end.step_status = StepStatus::Failed;
                    message = Some(msg);
                }
            }
        }
        if end.approval.is_some() {
            // The approval row is read back by `settle_waits`: write it now.
            self.flush().await?;
            self.exec.store.finish_attempt(&end).await?;
        }
        if let Some(i) = self.instances.get_mut(&f.key) {
            i.rec.status = end.step_status;
            i.rec.outputs = end.outputs.clone();
            i.rec.error_kind = end.error_kind.clone();
            i.rec.error = end.error.clone();
            i.rec.wake_at = end.wake_at;
            i.rec.wait = end
                .wait
                .as_ref()
                .and_then(|w| serde_json::from_value(w.clone()).ok());
        }
        self.emit(&f.key, end.step_status, f.attempt, Some(f.elapsed), message);
        if end.approval.is_none() {
            self.unsaved.push(end);
        }
        Ok(())
    }

    /// Write the attempt ends held back by [`Drive::finish`]. Called before any other
    /// write (so the store's order is the order things happened in), before the loop
    /// waits, and before the run ends. A crash while an end is held re-runs that step
    /// on resume, as a crash between its action and its write always could: steps run
    /// at least once, with the same idempotency key.
    async fn flush(&mut self) -> Result<(), EngineError> {
        for end in std::mem::take(&mut self.unsaved) {
            self.exec.store.finish_attempt(&end).await?;
        }
        Ok(())
    }

    /// Resolve waits that are due: sleeps that ended, approvals decided or timed out.
    async fn settle_waits(&mut self) -> Result<bool, EngineError> {
        let now = Utc::now();
        let waiting: Vec<Instance> = self
            .instances
            .values()
            .filter(|i| i.rec.status == StepStatus::Waiting && i.rec.wait.is_some())
            .cloned()
            .collect();
        if waiting.is_empty() {
            return Ok(false);
        }
        let mut changed = false;
        self.flush().await?;
        let approvals = self.exec.store.approvals(Some(&self.run_id)).await?;
        for inst in waiting {
            let key = inst.rec.step_key.clone();
            match inst.rec.wait {
                Some(Wait::Until { wake_at }) if wake_at <= now => {
                    self.set(
                        &key,
                        StepStatus::Succeeded,
                        Some(json!({"woke_at": now.to_rfc3339()})),
                        None,
                        None,
                    )
                    .await?;
                    changed = true;
                }
                Some(Wait::Approval(req)) => {
                    let Some(mut record) = approvals.iter().find(|a| a.step_key == key).cloned()
                    else {
                        continue;
                    };
                    if record.status == ApprovalStatus::Pending
                        && req.deadline.is_some_and(|d| d <= now)
                    {
                        let status = match req.on_timeout {
                            TimeoutOutcome::Approve => ApprovalStatus::Approved,
                            TimeoutOutcome::Reject | TimeoutOutcome::Fail => {
                                ApprovalStatus::TimedOut
                            }
                        };
                        let decision = ApprovalDecision {
                            run_id: self.run_id.clone(),
                            step_key: key.clone(),
                            status,
                            by: "timeout".into(),
                            comment: Some("nobody answered in time".into()),
                            inputs: json!({}),
                            at: now,
                        };
                        match self.exec.store.decide_approval(&decision).await {
                            Ok(()) => {}
                            // Someone decided at the same moment: theirs stands.
                            Err(StoreError::Conflict(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                        let fresh = self.exec.store.approvals(Some(&self.run_id)).await?;
                        match fresh.into_iter().find(|a| a.step_key == key) {
                            Some(r) => record = r,
                            None => continue,
                        }
                    }
                    if record.status == ApprovalStatus::Pending {
                        continue;
                    }
                    let mut inputs = serde_json::Map::new();
                    for (name, spec) in &req.inputs {
                        let v = record
                            .inputs
                            .get(name)
                            .cloned()
                            .or_else(|| spec.default.clone())
                            .unwrap_or(Value::Null);
                        inputs.insert(name.clone(), v);
                    }
                    let outputs = json!({
                        "approved": record.status == ApprovalStatus::Approved,
                        "decision": record.status.as_str(),
                        "by": record.decided_by,
                        "comment": record.comment,
                        "inputs": inputs,
                        "decided_at": record.decided_at.map(|t| t.to_rfc3339()),
                    });
                    let outputs = self.masker.mask_json(&outputs);
                    match record.status {
                        ApprovalStatus::Approved => {
                            self.set(&key, StepStatus::Succeeded, Some(outputs), None, None)
                                .await?;
                        }
                        ApprovalStatus::Rejected => {
                            let by = record.decided_by.clone().unwrap_or_default();
                            self.set(
                                &key,
                                StepStatus::Failed,
                                Some(outputs),
                                Some(ErrorKind::Rejected.as_str()),
                                Some(format!("rejected by {by}")),
                            )
                            .await?;
                        }
                        _ => {
                            let (kind, why) = match req.on_timeout {
                                TimeoutOutcome::Reject => {
                                    (ErrorKind::Rejected, "rejected: nobody answered in time")
                                }
                                _ => (ErrorKind::Timeout, "nobody answered in time"),
                            };
                            self.set(
                                &key,
                                StepStatus::Failed,
                                Some(outputs),
                                Some(kind.as_str()),
                                Some(why.into()),
                            )
                            .await?;
                        }
                    }
                    changed = true;
                }
                _ => {}
            }
        }
        Ok(changed)
    }

    /// Mark everything not yet started as cancelled (steps that ask for `always()` or
    /// `cancelled()` still run).
    async fn cancel_pending(&mut self) -> Result<(), EngineError> {
        let keys: Vec<String> = self
            .instances
            .values()
            .filter(|i| {
                matches!(i.rec.status, StepStatus::Waiting)
                    || (i.rec.status == StepStatus::Pending && i.rec.item_index.is_some())
            })
            .map(|i| i.rec.step_key.clone())
            .collect();
        for key in keys {
            self.mark(
                &key,
                StepStatus::Cancelled,
                "cancelled",
                "the run was cancelled",
            )
            .await?;
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.instances
            .values()
            .filter(|i| i.rec.status == StepStatus::Waiting)
            .filter_map(|i| i.rec.wake_at)
            .min()
    }

    fn final_status(&self) -> RunStatus {
        if self.cancelling {
            return RunStatus::Cancelled;
        }
        for step in &self.wf.steps {
            if let Some(inst) = self.parent(&step.id)
                && !self.is_ok(step, inst.rec.status)
                && matches!(inst.rec.status, StepStatus::Failed | StepStatus::Cancelled)
            {
                return RunStatus::Failed;
            }
        }
        RunStatus::Succeeded
    }

    async fn run_loop(
        &mut self,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<RunStatus, EngineError> {
        let mut tasks: JoinSet<Finished> = JoinSet::new();
        let mut last_beat = Instant::now();
        let mut cancel_live = true;
        loop {
            if *cancel.borrow() && !self.cancelling {
                self.begin_cancel(&mut tasks).await?;
            }
            if last_beat.elapsed() >= HEARTBEAT {
                last_beat = Instant::now();
                self.exec
                    .store
                    .acquire_lease(&self.run_id, &self.opts.owner, Utc::now() + LEASE)
                    .await?;
                if !self.cancelling && self.exec.store.run(&self.run_id).await?.cancel_requested {
                    self.begin_cancel(&mut tasks).await?;
                }
            }
            // Settle until nothing changes: skips and expansions can unlock more.
            loop {
                let a = self.settle_waits().await?;
                let b = self.settle_pending().await?;
                let c = self.settle_parents().await?;
                if !(a || b || c) {
                    break;
                }
            }
            // The ready steps this pass leaves unstarted, the run's limit reached: what
            // the checks below would otherwise ask `ready` again for, a walk over every
            // instance. Starting or cancelling a step makes no other one ready, and a
            // wait that ends makes one ready at the time `next_wake` tells.
            let ready = self.ready();
            let mut left_ready = 0;
            for (i, key) in ready.iter().enumerate() {
                if self.running.len() >= self.wf.max_parallel.max(1) {
                    left_ready = ready.len() - i;
                    break;
                }
                if self.cancelling {
                    let step_checks = self
                        .instances
                        .get(key)
                        .and_then(|i| self.step(&i.rec.step_id))
                        .and_then(|s| s.condition.as_ref())
                        .is_some_and(|c| c.checks_status);
                    if !step_checks {
                        self.mark(
                            key,
                            StepStatus::Cancelled,
                            "cancelled",
                            "the run was cancelled",
                        )
                        .await?;
                        continue;
                    }
                }
                self.start(key, &mut tasks).await?;
            }
            let all_done = self.instances.values().all(|i| i.rec.status.is_terminal());
            if all_done && tasks.is_empty() {
                let status = self.final_status();
                let error = match status {
                    RunStatus::Failed => self.wf.steps.iter().find_map(|s| {
                        self.parent(&s.id)
                            .filter(|i| i.rec.status == StepStatus::Failed && !s.continue_on_error)
                            .map(|i| {
                                format!(
                                    "step `{}` failed: {}",
                                    s.id,
                                    i.rec.error.clone().unwrap_or_default()
                                )
                            })
                    }),
                    RunStatus::Cancelled => Some("cancelled by user".into()),
                    _ => None,
                };
                self.flush().await?;
                self.exec
                    .store
                    .set_run_status(&self.run_id, status, error.as_deref())
                    .await?;
                return Ok(status);
            }
            if tasks.is_empty() {
                let nothing_ready = left_ready == 0;
                // Progress is blocked only by approvals and sleeps (retry delays are
                // short and belong to this process): with `wait: false` the run is
                // parked and any process may pick it up later.
                let waits = self
                    .instances
                    .values()
                    .filter(|i| i.rec.status == StepStatus::Waiting);
                let retry_delays = waits.clone().any(|i| i.rec.wait.is_none());
                let only_waits =
                    nothing_ready && !retry_delays && waits.clone().any(|i| i.rec.wait.is_some());
                if only_waits && !self.opts.wait {
                    self.flush().await?;
                    self.exec
                        .store
                        .set_run_status(&self.run_id, RunStatus::Waiting, None)
                        .await?;
                    return Ok(RunStatus::Waiting);
                }
            }
            // Sleep until a task ends, a wait is due, the poll interval passes, or the
            // user cancels.
            let mut sleep_for = self.opts.poll;
            if let Some(wake) = self.next_wake() {
                let until = (wake - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                sleep_for = sleep_for.min(until);
            }
            if left_ready > 0 && self.running.len() < self.wf.max_parallel.max(1) {
                sleep_for = Duration::ZERO;
            }
            // Nothing is held back while the loop waits: a step may run for hours.
            self.flush().await?;
            tokio::select! {
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    match joined {
                        Ok(f) => self.finish(f).await?,
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => tracing::error!(error = %e, "a step task panicked"),
                    }
                    // Drain whatever else is already finished, so that a wide fan-out
                    // does not settle once per step.
                    while let Some(joined) = tasks.try_join_next() {
                        if let Ok(f) = joined { self.finish(f).await?; }
                    }
                }
                changed = cancel.changed(), if cancel_live => {
                    if changed.is_err() { cancel_live = false; }
                }
                _ = tokio::time::sleep(sleep_for) => {}
            }
        }
    }

    async fn begin_cancel(&mut self, tasks: &mut JoinSet<Finished>) -> Result<(), EngineError> {
        self.cancelling = true;
        self.flush().await?;
        self.exec
            .store
            .append_event(&self.run_id, None, "cancelling", &json!({}))
            .await?;
        // Dropping the futures stops the work: shell steps kill their process groups.
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let running: Vec<String> = self.running.keys().cloned().collect();
        self.running.clear();
        for key in running {
            let attempts = self.exec.store.attempts(&self.run_id).await?;
            if let Some(a) = attempts
                .iter()
                .rev()
                .find(|a| a.step_key == key && a.status == "running")
            {
                let end = AttemptEnd {
                    attempt_id: a.id,
                    run_id: self.run_id.clone(),
                    step_key: key.clone(),
                    attempt: a.attempt,
                    attempt_status: StepStatus::Cancelled,
                    step_status: StepStatus::Cancelled,
                    outputs: json!({}),
                    logs: vec![],
                    exit_code: None,
                    error_kind: Some(ErrorKind::Cancelled.as_str().into()),
                    error: Some("the run was cancelled".into()),
                    wait: None,
                    wake_at: None,
                    approval: None,
                    at: Utc::now(),
                };
                self.exec.store.finish_attempt(&end).await?;
            }
            if let Some(i) = self.instances.get_mut(&key) {
                i.rec.status = StepStatus::Cancelled;
                i.rec.error_kind = Some("cancelled".into());
            }
            self.emit(
                &key,
                StepStatus::Cancelled,
                0,
                None,
                Some("cancelled".into()),
            );
        }
        self.cancel_pending().await
    }
}
