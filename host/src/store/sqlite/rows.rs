//! Reading rows: the columns each query selects and how a row becomes a
//! record.

use rusqlite::Row;

use crate::ids::WorkflowId;
use crate::store::{ActivityTask, RunRecord, TimerRecord};
use crate::types::{Payload, RunStatus};

/// Decode a column that the store itself wrote; a failure means corruption.
pub(super) fn decode<T: std::str::FromStr>(text: String) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            e.to_string().into(),
        )
    })
}

pub(super) fn decode_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

pub(super) const RUN_COLUMNS: &str = "run_id, workflow_id, workflow_type, component, status, created_at_ms, closed_at_ms, outcome, \
     parent";

/// [`RUN_COLUMNS`] for lists: outcomes over 64 KiB (large results) are left
/// out, so a page of runs never loads their payloads.
pub(super) const LIST_COLUMNS: &str = "run_id, workflow_id, workflow_type, component, status, created_at_ms, \
     closed_at_ms, CASE WHEN length(outcome) <= 65536 THEN outcome END, parent";

pub(super) fn run_record(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let outcome: Option<String> = row.get(7)?;
    let parent: Option<String> = row.get(8)?;
    Ok(RunRecord {
        run_id: decode(row.get(0)?)?,
        workflow_id: decode::<WorkflowId>(row.get(1)?)?,
        workflow_type: row.get(2)?,
        component: decode(row.get(3)?)?,
        status: decode::<RunStatus>(row.get(4)?)?,
        created_at_ms: row.get(5)?,
        closed_at_ms: row.get(6)?,
        outcome: outcome.as_deref().map(decode_json).transpose()?,
        parent: parent.as_deref().map(decode_json).transpose()?,
    })
}

pub(super) fn timer_record(row: &Row<'_>) -> rusqlite::Result<TimerRecord> {
    Ok(TimerRecord {
        run_id: decode(row.get(0)?)?,
        seq: row.get(1)?,
        fire_at_ms: row.get(2)?,
    })
}

pub(super) const TASK_COLUMNS: &str = "run_id, seq, workflow_id, name, input, options, attempt, scheduled_at_ms, \
     not_before_ms, heartbeat, last_failure";

pub(super) fn task_record(row: &Row<'_>) -> rusqlite::Result<ActivityTask> {
    let options: String = row.get(5)?;
    let heartbeat: Option<Vec<u8>> = row.get(9)?;
    let last_failure: Option<String> = row.get(10)?;
    Ok(ActivityTask {
        run_id: decode(row.get(0)?)?,
        seq: row.get(1)?,
        workflow_id: decode::<WorkflowId>(row.get(2)?)?,
        name: row.get(3)?,
        input: Payload::from_bytes(row.get(4)?),
        options: decode_json(&options)?,
        attempt: row.get(6)?,
        scheduled_at_ms: row.get(7)?,
        not_before_ms: row.get(8)?,
        heartbeat: heartbeat.map(Payload::from_bytes),
        last_failure: last_failure.as_deref().map(decode_json).transpose()?,
    })
}
