-- Keel's embedded store, version 3: the bytes of each run's stored
-- history, so that a run's history can be bounded in size as well as in
-- events. Open runs are counted from the events they already have.

ALTER TABLE runs ADD COLUMN history_bytes INTEGER NOT NULL DEFAULT 0;

UPDATE runs SET history_bytes = (
    SELECT COALESCE(SUM(LENGTH(CAST(body AS BLOB))), 0) FROM events WHERE events.run_id = runs.run_id
) WHERE status = 'running';
