//! The embedded SQLite store: one file, WAL, `synchronous=FULL`. A single
//! writer thread group-commits every batch waiting for it in one
//! transaction (each batch in its own savepoint), so throughput does not
//! cost durability. Reads use a small pool of read-only connections.

mod rows;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use crate::history::{Event, HistoryEvent};
use crate::ids::{ComponentId, RequestId, RunId, WorkflowId};
use crate::store::{
    ActivityTask, Batch, ComponentRecord, ComponentSummary, OutboxEntry, RunFilter, RunRecord,
    Store, StoreError, StoreResult, TimerRecord, WorkflowTypeInfo,
};
use crate::types::RunStatus;

use self::rows::{
    LIST_COLUMNS, RUN_COLUMNS, TASK_COLUMNS, decode, decode_json, run_record, task_record,
    timer_record,
};
use self::writes::apply;

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_requests.sql"),
    include_str!("../../migrations/sqlite/0003_history_bytes.sql"),
    include_str!("../../migrations/sqlite/0004_task_failures.sql"),
    include_str!("../../migrations/sqlite/0005_outbox.sql"),
    include_str!("../../migrations/sqlite/0006_children.sql"),
];

/// Most batches committed in one transaction.
const MAX_GROUP: usize = 512;

/// Batches waiting for the writer; a commit past it waits for room, so a
/// burst slows its callers instead of growing the queue.
const QUEUE: usize = 4 * MAX_GROUP;

type Reply = oneshot::Sender<StoreResult<Vec<HistoryEvent>>>;

/// See the module docs.
pub struct SqliteStore {
    writer: mpsc::Sender<(Batch, Reply)>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn backend(err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(err.to_string())
}

fn open(path: &Path, flags: OpenFlags) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(backend)?;
    Ok(conn)
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path` and migrate its schema.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the file cannot be opened or migrated, or
    /// was written by a newer Keel.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = open(&path, OpenFlags::default())?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        migrate(&mut conn)?;
        let (writer, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("keel-sqlite-writer".into())
            .spawn(move || write_loop(conn, queue))
            .map_err(backend)?;
        Ok(SqliteStore {
            writer,
            readers: Arc::default(),
            path,
        })
    }

    /// Run `read` on a pooled read connection off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().map_err(backend)?.pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?,
            };
            let result = read(&conn).map_err(backend);
            readers.lock().map_err(backend)?.push(conn);
            result
        })
        .await
        .map_err(backend)?
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let version: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(backend)?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the store has schema version {version}, newer than this Keel knows ({}); upgrade Keel",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", i + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

fn write_loop(mut conn: Connection, mut queue: mpsc::Receiver<(Batch, Reply)>) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let results = commit_group(&mut conn, &group);
        for ((_, reply), result) in group.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Commit every batch of `group` in one transaction, each in a savepoint.
fn commit_group(
    conn: &mut Connection,
    group: &[(Batch, Reply)],
) -> Vec<StoreResult<Vec<HistoryEvent>>> {
    let mut attempt = || -> StoreResult<Vec<StoreResult<Vec<HistoryEvent>>>> {
        let mut tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let mut results = Vec::with_capacity(group.len());
        for (batch, _) in group {
            let savepoint = tx.savepoint().map_err(backend)?;
            let result = apply(&savepoint, batch);
            if result.is_ok() {
                savepoint.commit().map_err(backend)?;
            } else {
                drop(savepoint);
                if tx.is_autocommit() {
                    // SQLite rolled back the whole transaction (disk full,
                    // I/O error): nothing of the group is stored.
                    return Err(backend(format!(
                        "the transaction was aborted: {}",
                        result.err().map_or_else(String::new, |e| e.to_string())
                    )));
                }
            }
            results.push(result);
        }
        tx.commit().map_err(backend)?;
        Ok(results)
    };
    match attempt() {
        Ok(results) => results,
        Err(err) => group.iter().map(|_| Err(backend(&err))).collect(),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn commit(&self, batch: Batch) -> StoreResult<Vec<HistoryEvent>> {
        let (reply, result) = oneshot::channel();
        self.writer
            .send((batch, reply))
            .await
            .map_err(|_| StoreError::Backend("the store's writer thread has stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Backend("the store's writer thread has stopped".into()))?
    }

    async fn history(&self, run: RunId) -> StoreResult<Vec<HistoryEvent>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event_id, time_ms, body FROM events WHERE run_id = ?1 ORDER BY event_id",
            )?;
            let rows = stmt.query_map(params![run.to_string()], |row| {
                let body: String = row.get(2)?;
                Ok(HistoryEvent {
                    id: row.get(0)?,
                    time_ms: row.get(1)?,
                    event: decode_json::<Event>(&body)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn run(&self, run: RunId) -> StoreResult<Option<RunRecord>> {
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"),
                params![run.to_string()],
                run_record,
            )
            .optional()
        })
        .await
    }

    async fn started_by(
        &self,
        workflow_id: &WorkflowId,
        request: &RequestId,
    ) -> StoreResult<Option<RunId>> {
        let (workflow_id, request) = (workflow_id.clone(), request.clone());
        let run: Option<String> = self
            .read(move |conn| {
                conn.query_row(
                    "SELECT run_id FROM start_requests WHERE workflow_id = ?1 AND request_id = ?2",
                    params![workflow_id.as_str(), request.as_str()],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        run.map(|run| run.parse().map_err(backend)).transpose()
    }

    async fn request_applied(&self, run: RunId, request: &RequestId) -> StoreResult<bool> {
        let request = request.clone();
        self.read(move |conn| {
            conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM requests WHERE run_id = ?1 AND request_id = ?2)",
                params![run.to_string(), request.as_str()],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn latest_run(&self, workflow_id: &WorkflowId) -> StoreResult<Option<RunRecord>> {
        let workflow_id = workflow_id.clone();
        self.read(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = ?1
                     ORDER BY created_at_ms DESC, run_id DESC LIMIT 1"
                ),
                params![workflow_id.as_str()],
                run_record,
            )
            .optional()
        })
        .await
    }

    async fn open_runs(&self) -> StoreResult<Vec<RunRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'running'"
            ))?;
            let rows = stmt.query_map([], run_record)?;
            rows.collect()
        })
        .await
    }

    async fn children(&self, parent: RunId) -> StoreResult<Vec<RunRecord>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {LIST_COLUMNS} FROM runs WHERE parent_run_id = ?1
                 ORDER BY created_at_ms, run_id"
            ))?;
            let rows = stmt.query_map(params![parent.to_string()], run_record)?;
            rows.collect()
        })
        .await
    }

    async fn timers(&self) -> StoreResult<Vec<TimerRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT run_id, seq, fire_at_ms FROM timers")?;
            let rows = stmt.query_map([], timer_record)?;
            rows.collect()
        })
        .await
    }

    async fn outbox(&self) -> StoreResult<Vec<OutboxEntry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT run_id, seq, request_id, request FROM outbox ORDER BY run_id, seq",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(OutboxEntry {
                    run_id: decode(row.get(0)?)?,
                    seq: row.get(1)?,
                    request_id: decode(row.get(2)?)?,
                    request: decode_json(&row.get::<_, String>(3)?)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn tasks(&self) -> StoreResult<Vec<ActivityTask>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {TASK_COLUMNS} FROM activity_tasks"))?;
            let rows = stmt.query_map([], task_record)?;
            rows.collect()
        })
        .await
    }

    async fn list_runs(&self, filter: RunFilter) -> StoreResult<Vec<RunRecord>> {
        self.read(move |conn| {
            let (before_time, before_run) =
                filter.before.map_or((i64::MAX, String::new()), |(t, r)| {
                    (i64::try_from(t).unwrap_or(i64::MAX), r.to_string())
                });
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {LIST_COLUMNS} FROM runs
                 WHERE (?1 IS NULL OR workflow_type = ?1)
                   AND (?2 IS NULL OR status = ?2)
                   AND (?3 IS NULL OR created_at_ms >= ?3)
                   AND (?4 IS NULL OR created_at_ms < ?4)
                   AND (created_at_ms < ?5 OR (created_at_ms = ?5 AND run_id < ?6) OR ?6 = '')
                 ORDER BY created_at_ms DESC, run_id DESC
                 LIMIT ?7"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.workflow_type,
                    filter.status.map(RunStatus::as_str),
                    filter.started_after_ms,
                    filter.started_before_ms,
                    before_time,
                    before_run,
                    filter.limit,
                ],
                run_record,
            )?;
            rows.collect()
        })
        .await
    }

    async fn pending(&self, run: RunId) -> StoreResult<(Vec<TimerRecord>, Vec<ActivityTask>)> {
        self.read(move |conn| {
            let run = run.to_string();
            let timers = conn
                .prepare_cached(
                    "SELECT run_id, seq, fire_at_ms FROM timers WHERE run_id = ?1 ORDER BY seq",
                )?
                .query_map(params![run], timer_record)?
                .collect::<rusqlite::Result<_>>()?;
            let tasks = conn
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM activity_tasks WHERE run_id = ?1 ORDER BY seq"
                ))?
                .query_map(params![run], task_record)?
                .collect::<rusqlite::Result<_>>()?;
            Ok((timers, tasks))
        })
        .await
    }

    async fn components(&self) -> StoreResult<Vec<ComponentSummary>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, workflow_types, created_at_ms FROM components ORDER BY created_at_ms, id",
            )?;
            let rows = stmt.query_map([], |row| {
                let types: String = row.get(1)?;
                Ok(ComponentSummary {
                    id: decode(row.get(0)?)?,
                    workflow_types: decode_json(&types)?,
                    created_at_ms: row.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn component(&self, id: &ComponentId) -> StoreResult<Option<ComponentRecord>> {
        let id = id.clone();
        self.read(move |conn| {
            conn.query_row(
                "SELECT bytes, workflow_types FROM components WHERE id = ?1",
                params![id.to_string()],
                |row| {
                    let types: String = row.get(1)?;
                    Ok(ComponentRecord {
                        id: id.clone(),
                        bytes: row.get(0)?,
                        workflow_types: decode_json::<Vec<WorkflowTypeInfo>>(&types)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn current_versions(&self) -> StoreResult<Vec<(String, ComponentId)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT name, component FROM workflow_types ORDER BY name")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, decode(row.get(1)?)?)))?;
            rows.collect()
        })
        .await
    }
}
