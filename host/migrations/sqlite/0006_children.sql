-- Keel's embedded store, version 6: child workflows. A child run keeps the
-- link to its parent (JSON), and the parent's run id on its own, indexed,
-- so a parent's children are found without a scan (for `describe` and for
-- its parent-close policy).

ALTER TABLE runs ADD COLUMN parent TEXT;
ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
