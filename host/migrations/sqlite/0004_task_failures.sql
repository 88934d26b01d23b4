-- Keel's embedded store, version 4: the failure of an activity's last
-- attempt, kept with the task while it waits for its retry, so that
-- `describe` can say why it is retrying.

ALTER TABLE activity_tasks ADD COLUMN last_failure TEXT;  -- JSON, once an attempt failed
