-- Keel's embedded store, version 1.

CREATE TABLE components (
    id             TEXT PRIMARY KEY,          -- sha256:<hex> of the bytes
    bytes          BLOB NOT NULL,
    workflow_types TEXT NOT NULL,             -- JSON array of type descriptions
    created_at_ms  INTEGER NOT NULL
);

-- The current version of each workflow type: new runs start on it.
CREATE TABLE workflow_types (
    name      TEXT PRIMARY KEY,
    component TEXT NOT NULL REFERENCES components(id)
);

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    workflow_id   TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    component     TEXT NOT NULL REFERENCES components(id),
    status        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    closed_at_ms  INTEGER,
    outcome       TEXT,                       -- JSON, once closed
    next_event_id INTEGER NOT NULL DEFAULT 1
);
-- At most one open run per workflow id.
CREATE UNIQUE INDEX runs_open_workflow_id ON runs(workflow_id) WHERE status = 'running';
CREATE INDEX runs_by_workflow_id ON runs(workflow_id, created_at_ms);

CREATE TABLE events (
    run_id   TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    time_ms  INTEGER NOT NULL,
    body     TEXT NOT NULL,                   -- JSON of the event
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;

CREATE TABLE timers (
    run_id     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    fire_at_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE activity_tasks (
    run_id          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    workflow_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    input           BLOB NOT NULL,
    options         TEXT NOT NULL,            -- JSON
    attempt         INTEGER NOT NULL,
    scheduled_at_ms INTEGER NOT NULL,
    not_before_ms   INTEGER NOT NULL,
    heartbeat       BLOB,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
