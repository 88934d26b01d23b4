-- Keel's embedded store, version 2: request ids a run has applied, so a
-- retried start, signal, cancel or terminate is applied once.

CREATE TABLE requests (
    run_id     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (run_id, request_id)
) WITHOUT ROWID;

-- The request that started each run, by workflow id: a retried start finds
-- the run its first attempt started, whichever runs came after.
CREATE TABLE start_requests (
    workflow_id TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    PRIMARY KEY (workflow_id, request_id)
) WITHOUT ROWID;
