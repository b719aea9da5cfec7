-- SQLite only: `attempts.id` becomes a plain `INTEGER PRIMARY KEY` (the rowid) instead
-- of `AUTOINCREMENT`. With AUTOINCREMENT every insert also rewrites the table's row in
-- `sqlite_sequence`, one more WAL page on every step's commit (each step inserts an
-- attempt). Ids still increase: a new row gets the largest id in the table + 1.
-- Only the id of a deleted newest row can come back, which is harmless: nothing
-- references `attempts.id` from another table, runs (and their attempts) are never
-- deleted by Medic, and an id is held in memory only between an attempt's start and
-- end, while its row exists. The other AUTOINCREMENT tables (`events`, `rate_events`)
-- are unchanged, and so is Postgres (this migration is SQLite's only).
--
-- SQLite cannot drop AUTOINCREMENT in place, so the table is rebuilt the standard way.
-- Nothing references `attempts`, so dropping it cascades nowhere.
CREATE TABLE attempts_new (
    id              INTEGER PRIMARY KEY,
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
INSERT INTO attempts_new (id, run_id, step_key, attempt, status, input, outputs, logs,
                          exit_code, error_kind, error, started_at, finished_at)
    SELECT id, run_id, step_key, attempt, status, input, outputs, logs,
           exit_code, error_kind, error, started_at, finished_at
    FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_run ON attempts (run_id, step_key, attempt);
-- `sqlite_sequence` exists (created with `events`); dropping the table already removed
-- its row there, this makes sure no stale one is left.
DELETE FROM sqlite_sequence WHERE name = 'attempts';
