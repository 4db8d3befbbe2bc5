//! Queries over stored rows for notebooks and the CLI: mean +- std over
//! seeds (each seed first averaged over clips, as the paper reports a
//! trained model's score), and lookups in the paper's table shape.

use std::collections::BTreeMap;

use super::results::StoredRow;

/// One cell of a paper-shaped table.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub method: String,
    pub dataset: String,
    pub metric: String,
    /// Mean over seeds of the per-seed clip mean.
    pub mean: f64,
    /// Sample standard deviation over seeds (0 with one seed).
    pub std: f64,
    pub n_seeds: usize,
    /// Clips per seed (of the first seed).
    pub n_clips: usize,
}

/// Mean over clips per seed, then mean and sample std over seeds, for every
/// (method, dataset, metric). Rows on a curve (with a step) are left out.
pub fn summarize(rows: &[StoredRow]) -> Vec<Summary> {
    let mut per_seed: BTreeMap<(String, String, String), BTreeMap<i64, (f64, usize)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.row.step.is_none()) {
        if let Some(v) = r.row.value {
            let e = per_seed.entry((r.row.method.clone(), r.row.dataset.clone(), r.row.metric.clone())).or_default().entry(r.prov.seed).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }
    per_seed
        .into_iter()
        .map(|((method, dataset, metric), seeds)| {
            let means: Vec<f64> = seeds.values().map(|(s, n)| s / *n as f64).collect();
            let (mean, std) = mean_std(&means);
            Summary { method, dataset, metric, mean, std, n_seeds: means.len(), n_clips: seeds.values().next().map_or(0, |x| x.1) }
        })
        .collect()
}

/// Mean and sample standard deviation (n - 1; 0 for fewer than two values).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64;
    (m, var.sqrt())
}

/// The cell for (method, dataset, metric), if any.
pub fn cell<'a>(s: &'a [Summary], method: &str, dataset: &str, metric: &str) -> Option<&'a Summary> {
    s.iter().find(|x| x.method == method && x.dataset == dataset && x.metric == metric)
}

/// The metrics present in `rows`, each once, in the order first seen.
pub fn measured_metrics(rows: &[StoredRow]) -> Vec<String> {
    let mut m: Vec<String> = vec![];
    for r in rows {
        if !m.contains(&r.row.metric) {
            m.push(r.row.metric.clone());
        }
    }
    m
}

/// Per-clip values of one method/dataset/metric, averaged over seeds (for
/// CDFs of per-clip scores, Fig. 6).
pub fn per_clip(rows: &[StoredRow], method: &str, dataset: &str, metric: &str) -> Vec<(String, f64)> {
    let mut acc: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.row.step.is_none() && r.row.method == method && r.row.dataset == dataset && r.row.metric == metric) {
        if let Some(v) = r.row.value {
            let e = acc.entry(r.row.clip.clone()).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }
    acc.into_iter().map(|(c, (s, n))| (c, s / n as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::results::ResultRow;

    fn row(seed: i64, clip: &str, v: f64) -> StoredRow {
        StoredRow::for_test(ResultRow::new("t", "m", "d", clip, "mad", v), seed)
    }

    #[test]
    fn seed_means_then_sample_std() {
        // seed 0: clips 1 and 3 -> 2; seed 1: clips 5 and 7 -> 6. mean 4, std sqrt(8).
        let rows = vec![row(0, "a", 1.0), row(0, "b", 3.0), row(1, "a", 5.0), row(1, "b", 7.0)];
        let s = summarize(&rows);
        assert_eq!(s.len(), 1);
        assert!((s[0].mean - 4.0).abs() < 1e-12 && (s[0].std - 8f64.sqrt()).abs() < 1e-12);
        assert_eq!((s[0].n_seeds, s[0].n_clips), (2, 2));
        assert_eq!(per_clip(&rows, "m", "d", "mad"), vec![("a".to_string(), 3.0), ("b".to_string(), 5.0)]);
        assert_eq!(mean_std(&[2.0]), (2.0, 0.0));
        let mut more = rows.clone();
        more.insert(1, StoredRow { row: ResultRow::new("t", "m", "d", "a", "miou", 0.5), prov: rows[0].prov.clone() });
        assert_eq!(measured_metrics(&more), vec!["mad".to_string(), "miou".to_string()]);
    }
}
