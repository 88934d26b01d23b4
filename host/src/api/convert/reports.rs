//! Compatibility reports and run verdicts on the wire, both ways.

use super::{proto, unknown};
use crate::error::{Error, Result};
use crate::history::NonDeterminism;
use crate::host::{CompatibilityReport, RunVerdict, Verdict};

pub(crate) fn report_to_proto(report: CompatibilityReport) -> proto::CompatibilityReport {
    proto::CompatibilityReport {
        candidate: report.candidate.to_string(),
        runs: report.runs.into_iter().map(verdict_to_proto).collect(),
        upgraded: report.upgraded,
        elapsed_ms: report.elapsed_ms,
    }
}

pub(crate) fn verdict_to_proto(run: RunVerdict) -> proto::RunVerdict {
    let (verdict, divergence, message) = match run.verdict {
        Verdict::Compatible => (proto::Verdict::Compatible, None, String::new()),
        Verdict::Diverges(nd) => (
            proto::Verdict::Diverges,
            Some(proto::NonDeterminism {
                event_id: nd.event_id,
                recorded: nd.recorded,
                now: nd.now,
            }),
            String::new(),
        ),
        Verdict::Fails { message } => (proto::Verdict::Fails, None, message),
        Verdict::Closed => (proto::Verdict::Closed, None, String::new()),
        Verdict::Queued => (proto::Verdict::Queued, None, String::new()),
    };
    proto::RunVerdict {
        workflow_id: run.workflow_id.to_string(),
        run_id: run.run_id.to_string(),
        workflow_type: run.workflow_type,
        component: run.component.to_string(),
        verdict: verdict.into(),
        divergence,
        message,
    }
}

pub(crate) fn report_from_proto(report: proto::CompatibilityReport) -> Result<CompatibilityReport> {
    Ok(CompatibilityReport {
        candidate: report.candidate.parse()?,
        runs: report
            .runs
            .into_iter()
            .map(verdict_from_proto)
            .collect::<Result<_>>()?,
        upgraded: report.upgraded,
        elapsed_ms: report.elapsed_ms,
    })
}

pub(crate) fn verdict_from_proto(run: proto::RunVerdict) -> Result<RunVerdict> {
    let verdict = match (proto::Verdict::try_from(run.verdict), run.divergence) {
        (Ok(proto::Verdict::Compatible), _) => Verdict::Compatible,
        (Ok(proto::Verdict::Diverges), Some(nd)) => Verdict::Diverges(NonDeterminism {
            event_id: nd.event_id,
            recorded: nd.recorded,
            now: nd.now,
        }),
        (Ok(proto::Verdict::Diverges), None) => {
            return Err(Error::Internal(
                "the server reported a divergence without saying where".into(),
            ));
        }
        (Ok(proto::Verdict::Fails), _) => Verdict::Fails {
            message: run.message,
        },
        (Ok(proto::Verdict::Closed), _) => Verdict::Closed,
        (Ok(proto::Verdict::Queued), _) => Verdict::Queued,
        (Ok(proto::Verdict::Unspecified) | Err(_), _) => {
            return Err(unknown("verdict", run.verdict));
        }
    };
    Ok(RunVerdict {
        workflow_id: super::workflow_id(&run.workflow_id)?,
        run_id: run.run_id.parse()?,
        workflow_type: run.workflow_type,
        component: run.component.parse()?,
        verdict,
    })
}
