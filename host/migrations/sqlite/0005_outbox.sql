-- Keel's embedded store, version 5: requests a run made of other workflows
-- (signal, cancel) until they are delivered. A row outlives the run that
-- made it (closing a run does not remove it), so a request made in the
-- activation that closes the run is still delivered after a crash.

CREATE TABLE outbox (
    run_id     TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    request_id TEXT    NOT NULL,  -- the target applies it once
    request    TEXT    NOT NULL,  -- JSON: the requesting event
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
