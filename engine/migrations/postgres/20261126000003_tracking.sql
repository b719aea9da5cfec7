-- What Medic tracks across runs.

-- Every sighting of a failure's fingerprint, counted: `seen_count` and "seen since" in
-- analyses come from here, so every worker sharing the database agrees.
CREATE TABLE fingerprints (
    fingerprint     TEXT PRIMARY KEY,
    category        TEXT,
    count           BIGINT NOT NULL,
    first_seen      BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL
);

-- Pull requests Medic opened, so that their fate (merged, closed) can be reported as
-- the outcome of the decision that led to them, and a fix declined by a human is not
-- proposed again.
CREATE TABLE pull_requests (
    api_url         TEXT NOT NULL,
    repository      TEXT NOT NULL,
    number          BIGINT NOT NULL,
    url             TEXT NOT NULL,
    branch          TEXT NOT NULL,
    fingerprint     TEXT,
    fix_hash        TEXT,
    decision_id     TEXT,
    run_id          TEXT,
    state           TEXT NOT NULL,
    opened_at       BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    resolved_at     BIGINT,
    PRIMARY KEY (repository, number)
);
CREATE INDEX pull_requests_state ON pull_requests (state);
CREATE INDEX pull_requests_fingerprint ON pull_requests (fingerprint);
