//! How a batch is written: its checks, then each operation, then the
//! checks on what the operations left (history size), inside the single
//! writer's transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::backend;
use crate::history::HistoryEvent;
use crate::ids::RunId;
use crate::store::{Batch, Check, Op, StoreError, StoreResult};
use crate::types::{IdReusePolicy, Payload};

/// Apply one batch inside the writer's transaction (in its own savepoint,
/// so a check that fails after the operations undoes them): its checks,
/// its operations, then the checks on what they left. Returns the events
/// it appended, with their ids.
pub(super) fn apply(tx: &Connection, batch: &Batch) -> StoreResult<Vec<HistoryEvent>> {
    let after = |c: &&Check| matches!(c, Check::HistoryWithin(..));
    for check in batch.checks.iter().filter(|c| !after(c)) {
        require(tx, check)?;
    }
    let mut appended = Vec::new();
    let mut sizes = Vec::new();
    for op in &batch.ops {
        apply_op(tx, op, &mut appended, &mut sizes)?;
    }
    for check in batch.checks.iter().filter(after) {
        // The size an append of this batch left, without reading it again.
        let written = match check {
            Check::HistoryWithin(run, max) => sizes
                .iter()
                .rev()
                .find(|(r, _)| r == run)
                .map(|&(_, bytes)| bytes <= *max),
            _ => None,
        };
        match written {
            Some(true) => {}
            Some(false) => return Err(StoreError::CheckFailed(check.clone())),
            None => require(tx, check)?,
        }
    }
    Ok(appended)
}

/// `Ok` if `check` holds now.
fn require(tx: &Connection, check: &Check) -> StoreResult<()> {
    let holds: bool = match check {
        Check::RunOpen(run) => tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM runs WHERE run_id = ?1 AND status = 'running')",
            params![run.to_string()],
            |r| r.get(0),
        ),
        Check::TimerPending(run, seq) => tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM timers WHERE run_id = ?1 AND seq = ?2)",
            params![run.to_string(), seq],
            |r| r.get(0),
        ),
        Check::TaskPending(run, seq) => tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM activity_tasks WHERE run_id = ?1 AND seq = ?2)",
            params![run.to_string(), seq],
            |r| r.get(0),
        ),
        Check::NoEventsAfter(run, id) => tx.query_row(
            "SELECT NOT EXISTS(SELECT 1 FROM events WHERE run_id = ?1 AND event_id > ?2)",
            params![run.to_string(), id],
            |r| r.get(0),
        ),
        Check::RequestNew(run, request) => tx.query_row(
            "SELECT NOT EXISTS(SELECT 1 FROM requests WHERE run_id = ?1 AND request_id = ?2)",
            params![run.to_string(), request.as_str()],
            |r| r.get(0),
        ),
        Check::HistoryWithin(run, max) => tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM runs WHERE run_id = ?1 AND history_bytes <= ?2)",
            params![run.to_string(), max],
            |r| r.get(0),
        ),
        Check::IdReusable(workflow_id, policy) => tx
            .query_row(
                "SELECT status FROM runs WHERE workflow_id = ?1
                 ORDER BY created_at_ms DESC, run_id DESC LIMIT 1",
                params![workflow_id.as_str()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map(|last| match (policy, last.as_deref()) {
                (_, None) | (IdReusePolicy::AllowDuplicate, _) => true,
                (IdReusePolicy::AllowDuplicateFailedOnly, Some(status)) => status != "completed",
                (IdReusePolicy::RejectDuplicate, Some(_)) => false,
            }),
    }
    .map_err(backend)?;
    if !holds {
        return Err(StoreError::CheckFailed(check.clone()));
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(backend)
}

/// Apply one operation; appends add their events to `appended` and the
/// run's new history size to `sizes`.
fn apply_op(
    tx: &Connection,
    op: &Op,
    appended: &mut Vec<HistoryEvent>,
    sizes: &mut Vec<(RunId, u64)>,
) -> StoreResult<()> {
    match op {
        Op::InsertRun(run) => {
            let inserted = tx.execute(
                "INSERT INTO runs (run_id, workflow_id, workflow_type, component, status, created_at_ms,
                                   parent, parent_run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    run.run_id.to_string(),
                    run.workflow_id.as_str(),
                    run.workflow_type,
                    run.component.to_string(),
                    run.status.as_str(),
                    run.created_at_ms,
                    run.parent.as_ref().map(json).transpose()?,
                    run.parent.as_ref().map(|p| p.run_id.to_string()),
                ],
            );
            match inserted {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(StoreError::WorkflowIdInUse(run.workflow_id.clone()));
                }
                other => {
                    other.map_err(backend)?;
                }
            }
        }
        Op::Append {
            run_id,
            time_ms,
            events,
        } => {
            let count = events.len() as u64;
            let bodies = events.iter().map(json).collect::<StoreResult<Vec<_>>>()?;
            let bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();
            let (first, size): (u64, u64) = tx
                .query_row(
                    "UPDATE runs SET next_event_id = next_event_id + ?2,
                                     history_bytes = history_bytes + ?3
                     WHERE run_id = ?1
                     RETURNING next_event_id - ?2, history_bytes",
                    params![run_id.to_string(), count, bytes],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?
                .ok_or(StoreError::CheckFailed(Check::RunOpen(*run_id)))?;
            sizes.push((*run_id, size));
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (run_id, event_id, time_ms, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(backend)?;
            for (i, (event, body)) in events.iter().zip(&bodies).enumerate() {
                let id = first + i as u64;
                insert
                    .execute(params![run_id.to_string(), id, time_ms, body])
                    .map_err(backend)?;
                appended.push(HistoryEvent {
                    id,
                    time_ms: *time_ms,
                    event: event.clone(),
                });
            }
        }
        Op::CloseRun {
            run_id,
            outcome,
            closed_at_ms,
        } => {
            let run = run_id.to_string();
            tx.execute(
                "UPDATE runs SET status = ?2, outcome = ?3, closed_at_ms = ?4 WHERE run_id = ?1",
                params![run, outcome.status().as_str(), json(outcome)?, closed_at_ms],
            )
            .map_err(backend)?;
            tx.execute("DELETE FROM timers WHERE run_id = ?1", params![run])
                .map_err(backend)?;
            tx.execute("DELETE FROM activity_tasks WHERE run_id = ?1", params![run])
                .map_err(backend)?;
        }
        Op::InsertTimer(timer) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO timers (run_id, seq, fire_at_ms) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    timer.run_id.to_string(),
                    timer.seq,
                    timer.fire_at_ms
                ])
            })
            .map_err(backend)?;
        }
        Op::DeleteTimer(run, seq) => {
            tx.prepare_cached("DELETE FROM timers WHERE run_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(params![run.to_string(), seq]))
                .map_err(backend)?;
        }
        Op::InsertTask(task) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO activity_tasks (run_id, seq, workflow_id, name, input, options,
                     attempt, scheduled_at_ms, not_before_ms, heartbeat)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    task.run_id.to_string(),
                    task.seq,
                    task.workflow_id.as_str(),
                    task.name,
                    task.input.as_bytes(),
                    json(&task.options).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
                    task.attempt,
                    task.scheduled_at_ms,
                    task.not_before_ms,
                    task.heartbeat.as_ref().map(Payload::as_bytes),
                ])
            })
            .map_err(backend)?;
        }
        Op::RetryTask {
            run_id,
            seq,
            attempt,
            not_before_ms,
            heartbeat,
            failure,
        } => {
            tx.execute(
                "UPDATE activity_tasks
                 SET attempt = ?3, not_before_ms = ?4, heartbeat = ?5, last_failure = ?6
                 WHERE run_id = ?1 AND seq = ?2",
                params![
                    run_id.to_string(),
                    seq,
                    attempt,
                    not_before_ms,
                    heartbeat.as_ref().map(Payload::as_bytes),
                    json(failure)?
                ],
            )
            .map_err(backend)?;
        }
        Op::InsertOutbox(entry) => {
            let request = json(&entry.request)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO outbox (run_id, seq, request_id, request)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    entry.run_id.to_string(),
                    entry.seq,
                    entry.request_id.as_str(),
                    request
                ])
            })
            .map_err(backend)?;
        }
        Op::DeleteOutbox(run, seq) => {
            tx.prepare_cached("DELETE FROM outbox WHERE run_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(params![run.to_string(), seq]))
                .map_err(backend)?;
        }
        Op::DeleteTask(run, seq) => {
            tx.prepare_cached("DELETE FROM activity_tasks WHERE run_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(params![run.to_string(), seq]))
                .map_err(backend)?;
        }
        Op::RecordRequest(run, request) => {
            let inserted = tx
                .prepare_cached("INSERT INTO requests (run_id, request_id) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![run.to_string(), request.as_str()]));
            match inserted {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(StoreError::DuplicateRequest(*run, request.clone()));
                }
                other => {
                    other.map_err(backend)?;
                }
            }
        }
        Op::RecordStart {
            workflow_id,
            request_id,
            run_id,
        } => {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO start_requests (workflow_id, request_id, run_id) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        workflow_id.as_str(),
                        request_id.as_str(),
                        run_id.to_string()
                    ])
                });
            match inserted {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    let first: String = tx
                        .query_row(
                            "SELECT run_id FROM start_requests WHERE workflow_id = ?1 AND request_id = ?2",
                            params![workflow_id.as_str(), request_id.as_str()],
                            |r| r.get(0),
                        )
                        .map_err(backend)?;
                    let first = first.parse().map_err(backend)?;
                    return Err(StoreError::DuplicateRequest(first, request_id.clone()));
                }
                other => {
                    other.map_err(backend)?;
                }
            }
        }
        Op::PutComponent {
            id,
            bytes,
            workflow_types,
            created_at_ms,
        } => {
            tx.execute(
                "INSERT OR IGNORE INTO components (id, bytes, workflow_types, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id.to_string(), bytes, json(workflow_types)?, created_at_ms],
            )
            .map_err(backend)?;
        }
        Op::MoveRun { run_id, component } => {
            tx.execute(
                "UPDATE runs SET component = ?2 WHERE run_id = ?1",
                params![run_id.to_string(), component.to_string()],
            )
            .map_err(backend)?;
        }
        Op::SetCurrent {
            workflow_type,
            component,
        } => {
            tx.execute(
                "INSERT INTO workflow_types (name, component) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET component = excluded.component",
                params![workflow_type, component.to_string()],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}
