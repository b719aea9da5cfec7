-- Runs, step instances, attempts, events and approvals. Times are milliseconds since
-- the Unix epoch (BIGINT on both backends, so one set of queries serves both).
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    workflow_path   TEXT NOT NULL,
    source          TEXT NOT NULL,
    inputs          TEXT NOT NULL,
    trigger_data    TEXT NOT NULL,
    status          TEXT NOT NULL,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    owner           TEXT,
    lease_until     BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_status ON runs (status, created_at);
CREATE INDEX runs_workflow ON runs (workflow, created_at);

CREATE TABLE step_runs (
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_key        TEXT NOT NULL,
    step_id         TEXT NOT NULL,
    item_index      BIGINT,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    input           TEXT,
    outputs         TEXT,
    error_kind      TEXT,
    error           TEXT,
    idempotency_key TEXT NOT NULL,
    wait            TEXT,
    wake_at         BIGINT,
    started_at      BIGINT,
    finished_at     BIGINT,
    PRIMARY KEY (run_id, step_key)
);

CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_key        TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    status          TEXT NOT NULL,
    input           TEXT,
    outputs         TEXT,
    logs            TEXT,
    exit_code       BIGINT,
    error_kind      TEXT,
    error           TEXT,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX attempts_run ON attempts (run_id, step_key, attempt);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_key        TEXT,
    kind            TEXT NOT NULL,
    data            TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX events_run ON events (run_id, id);

CREATE TABLE approvals (
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_key        TEXT NOT NULL,
    request         TEXT NOT NULL,
    status          TEXT NOT NULL,
    decided_by      TEXT,
    comment         TEXT,
    inputs          TEXT,
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    PRIMARY KEY (run_id, step_key)
);
CREATE INDEX approvals_status ON approvals (status);
