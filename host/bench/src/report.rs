//! The results: a table for people, JSON for machines.

use serde::{Deserialize, Serialize};

/// One measured figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// The workload (W1 hello, …).
    pub workload: String,
    /// in-process, grpc or sqlite.
    pub mode: String,
    /// What was measured.
    pub metric: String,
    /// The value, in `unit`.
    pub value: f64,
    /// The unit.
    pub unit: String,
    /// The value against the bare SQLite commit measured in the same run:
    /// latencies in commits' worth (value / commit p50), rates as a fraction
    /// of the commit rate.
    pub vs_commit: Option<f64>,
    /// The target, for reading.
    pub target: String,
}

/// Per figure, the run with the median value (runs list the same figures
/// in the same order).
pub fn medians(mut runs: Vec<Vec<Figure>>) -> Vec<Figure> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|i| {
            let mut values: Vec<Figure> = runs.iter_mut().map(|run| run[i].clone()).collect();
            values.sort_by(|a, b| a.value.total_cmp(&b.value));
            values.swap_remove(values.len() / 2)
        })
        .collect()
}

/// Print `figures` as a table.
pub fn print(figures: &[Figure]) {
    println!(
        "{:<26} {:<13} {:<34} {:>14} {:<6} {:>10}  TARGET",
        "WORKLOAD", "MODE", "METRIC", "VALUE", "UNIT", "VS COMMIT"
    );
    for f in figures {
        let ratio = f
            .vs_commit
            .map_or_else(|| "-".into(), |r| format!("{r:.2}x"));
        println!(
            "{:<26} {:<13} {:<34} {:>14.1} {:<6} {:>10}  {}",
            f.workload, f.mode, f.metric, f.value, f.unit, ratio, f.target
        );
    }
}
