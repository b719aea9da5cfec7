-- Decisions, rate-limit events, reported outcomes and the decider's switches.
-- `record` holds the whole explained decision (inputs, factors, rules, guards) as JSON;
-- the other columns are copies kept for querying.
CREATE TABLE decisions (
    id              TEXT PRIMARY KEY,
    fingerprint     TEXT,
    category        TEXT,
    repository      TEXT,
    service         TEXT,
    outcome         TEXT NOT NULL,
    rule            TEXT,
    confidence      DOUBLE PRECISION NOT NULL,
    record          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX decisions_fingerprint ON decisions (fingerprint, created_at);
CREATE INDEX decisions_created ON decisions (created_at);

-- One row per limit a decision counted against. `resolved_at` is set when the
-- decision's outcome is reported, which frees a slot of an open-pull-request cap.
CREATE TABLE rate_events (
    id              BIGSERIAL PRIMARY KEY,
    scope_key       TEXT NOT NULL,
    decision_id     TEXT NOT NULL,
    at              BIGINT NOT NULL,
    resolved_at     BIGINT
);
CREATE INDEX rate_events_scope ON rate_events (scope_key, at);
CREATE INDEX rate_events_decision ON rate_events (decision_id);

CREATE TABLE decision_outcomes (
    decision_id     TEXT PRIMARY KEY REFERENCES decisions (id) ON DELETE CASCADE,
    result          TEXT NOT NULL,
    reason          TEXT,
    at              BIGINT NOT NULL
);

-- Switches: the global kill switch (`paused`) and circuit-breaker resets.
CREATE TABLE decider_state (
    key             TEXT PRIMARY KEY,
    value           TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);
