//! How the CLI prints things for people: one event a line, tables, times in
//! RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::RunPage;
use crate::error::{Error, Result};
use crate::history::HistoryEvent;
use crate::host::{CompatibilityReport, Deployment, DeploymentInfo, RunDescription, Verdict};
use crate::ids::RunId;

/// A time in ms since the epoch, as RFC 3339 in UTC.
pub(super) fn time(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A time given as RFC 3339 or as ms since the epoch.
pub(super) fn parse_time(text: &str) -> Result<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let at: SystemTime = humantime::parse_rfc3339_weak(text).map_err(|e| {
        Error::InvalidArgument(format!(
            "bad time {text:?} ({e}); use RFC 3339 like 2026-11-24T10:00:00Z or ms since the epoch"
        ))
    })?;
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

pub(super) fn deployment(deployment: &Deployment) {
    out!("deployed {}", deployment.component);
    for t in &deployment.workflow_types {
        out!(
            "  {}  signals: {}  queries: {}",
            t.name,
            or_dash(&t.signals),
            or_dash(&t.queries)
        );
    }
}

/// A compatibility report: a line per run, then the totals.
pub(super) fn report(report: &CompatibilityReport, as_json: bool) -> Result<()> {
    if as_json {
        return json(report);
    }
    let candidate = report.candidate.short();
    for run in &report.runs {
        out!(
            "  {}  {}  {}  {}: {}",
            run.workflow_id,
            run.run_id,
            run.workflow_type,
            run.component.short(),
            verdict(&run.verdict)
        );
    }
    let (compatible, total) = (report.compatible(), report.runs.len());
    let took = report.elapsed_ms;
    match report.upgraded {
        true => out!(
            "moved {compatible} of {total} open runs onto {candidate} in {took} ms; the others stay \
             on their versions"
        ),
        false => out!(
            "{compatible} of {total} open runs would run on {candidate} (checked in {took} ms)"
        ),
    }
    Ok(())
}

/// A run's verdict in a few words.
pub(super) fn verdict(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Compatible => "compatible".into(),
        Verdict::Diverges(nd) => format!(
            "diverges at event {}: history has [{}] but the code now does [{}]",
            nd.event_id, nd.recorded, nd.now
        ),
        Verdict::Fails { message } => format!("replay fails: {message}"),
        Verdict::Closed => "closed before it could move".into(),
        Verdict::Queued => {
            "busy; its move is queued and happens when it is next idle, if it replays cleanly"
                .into()
        }
    }
}

pub(super) fn deployments(deployments: &[DeploymentInfo]) {
    out!(
        "{:<14}  {:<24}  {:<30}  CURRENT FOR",
        "COMPONENT",
        "DEPLOYED",
        "TYPES"
    );
    for d in deployments {
        let types: Vec<String> = d
            .component
            .workflow_types
            .iter()
            .map(|t| t.name.clone())
            .collect();
        out!(
            "{:<14}  {:<24}  {:<30}  {}",
            d.component.id.short(),
            time(d.component.created_at_ms),
            or_dash(&types),
            or_dash(&d.current_for)
        );
    }
}

pub(super) fn description(d: &RunDescription) {
    let run = &d.run;
    out!("workflow id:  {}", run.workflow_id);
    out!("run id:       {}", run.run_id);
    out!("type:         {}", run.workflow_type);
    out!("version:      {}", run.component);
    out!("status:       {}", run.status);
    out!("started:      {}", time(run.created_at_ms));
    if let Some(closed) = run.closed_at_ms {
        out!("closed:       {}", time(closed));
    }
    if let Some(outcome) = &run.outcome {
        out!("outcome:      {outcome}");
    }
    if let Some(parent) = &run.parent {
        out!(
            "parent:       {} (run {}, on close: {})",
            parent.workflow_id,
            parent.run_id,
            parent.close_policy
        );
    }
    for child in &d.children {
        out!(
            "child:        {} (run {}) {} {}",
            child.workflow_id,
            child.run_id,
            child.workflow_type,
            child.status
        );
    }
    if let Some(parked) = &d.parked {
        out!("parked:       {parked}");
    }
    if let Some(f) = &d.task_failure {
        out!(
            "failing:      workflow task, {} attempts: {}: {} (retried; deploy a fix or terminate)",
            f.attempts,
            f.code,
            f.message
        );
    }
    if d.waiting_for_memory {
        out!("waiting:      for memory (the host's memory budget is in use by other runs)");
    }
    for t in &d.pending_timers {
        out!(
            "timer:        seq {} fires at {}",
            t.seq,
            time(t.fire_at_ms)
        );
    }
    for a in &d.pending_activities {
        out!(
            "activity:     seq {} {} attempt {} (from {})",
            a.seq,
            a.name,
            a.attempt,
            time(a.next_attempt_at_ms)
        );
        if let Some(failure) = &a.last_failure {
            out!(
                "  last failure: {}: {}",
                failure.error_type,
                failure.message
            );
        }
    }
}

pub(super) fn history(run: &RunId, history: &[HistoryEvent]) {
    out!("run {run}");
    for event in history {
        out!("{:>4}  {}  {}", event.id, time(event.time_ms), event.event);
    }
}

/// `value` as one line of JSON.
pub(super) fn json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string(value).map_err(|e| Error::internal("encoding JSON", e))?;
    out!("{text}");
    Ok(())
}

pub(super) fn runs(page: &RunPage) {
    out!(
        "{:<24}  {:<37}  {:<16}  {:<16}  {:<24}  CLOSED",
        "WORKFLOW ID",
        "RUN ID",
        "TYPE",
        "STATUS",
        "STARTED"
    );
    for run in &page.runs {
        out!(
            "{:<24}  {:<37}  {:<16}  {:<16}  {:<24}  {}",
            run.workflow_id.as_str(),
            run.run_id.to_string(),
            run.workflow_type,
            run.status.as_str(),
            time(run.created_at_ms),
            run.closed_at_ms.map_or_else(|| "-".into(), time)
        );
    }
    if let Some(token) = &page.next_page_token {
        out!("more: --page-token {token}");
    }
}

fn or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}
