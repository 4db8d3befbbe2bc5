//! Error by region: where a method gains and where it loses. A frame score
//! averages over pixels that are mostly plain background and person
//! interior; splitting MAD and the false-positive / false-negative shares by
//! the label map (`metrics::hoi::REGIONS`) shows, e.g., that a model finds
//! more of the held object while marking plain background as foreground.

use super::report::PaperTable;
use super::runner::Outcome;
use crate::metrics::hoi::REGIONS;
use crate::store::query::{cell, Summary};

/// One row per method, one column per region: `MAD · FP% · FN%` (means over
/// seeds of the per-clip values). None when the rows hold no region metric.
/// `s`: the outcome's rows summarised (`store::query::summarize`).
pub fn table(o: &Outcome, s: &[Summary], dataset: &str) -> Option<PaperTable> {
    if !s.iter().any(|c| c.dataset == dataset && c.metric.contains('@')) {
        return None;
    }
    let get = |m: &str, what: &str, r: &str| cell(s, m, dataset, &format!("{what}@{r}")).map(|c| c.mean);
    let rows = o
        .definition
        .rows()
        .into_iter()
        .filter(|(key, _, _)| s.iter().any(|c| &c.method == key && c.dataset == dataset && c.metric.contains('@')))
        .map(|(key, label, _)| {
            let cells = REGIONS
                .iter()
                .map(|r| match (get(&key, "mad", r), get(&key, "fp", r), get(&key, "fn", r)) {
                    (Some(m), Some(fp), Some(fneg)) => format!("{m:.1} · {:.1}% · {:.1}%", 100.0 * fp, 100.0 * fneg),
                    _ => "n/a".into(),
                })
                .collect();
            (label, cells)
        })
        .collect();
    Some(PaperTable {
        caption: format!(
            "Error by region on synthetic `{dataset}`: MAD x1e3 · false-positive share · false-negative share of the region's pixels \
             (mean over seeds of per-clip values; `person_edge` is the 2 px band around the person-only boundary)."
        ),
        header: REGIONS.iter().map(|r| r.to_string()).collect(),
        rows,
    })
}

/// Where each method gains and loses MAD against the first method (the
/// factory model in the paper's tables): regions whose MAD changes by more
/// than 10% and by more than 1 (x1e3), in sentences.
pub fn gains_and_losses(o: &Outcome, s: &[Summary], dataset: &str) -> Vec<String> {
    let rows = o.definition.rows();
    let Some((base, base_label, _)) = rows.first() else { return vec![] };
    let mad = |m: &str, r: &str| -> Option<&Summary> { cell(s, m, dataset, &format!("mad@{r}")) };
    let mut out = vec![];
    // theta' rows score other frames (after the support), so they are not compared.
    let one_step = |key: &str| o.definition.method(key).is_ok_and(|m| m.one_step);
    for (key, label, _) in rows.iter().skip(1).filter(|(k, _, _)| !one_step(k)) {
        let (mut gains, mut losses) = (vec![], vec![]);
        for r in REGIONS {
            if let (Some(a), Some(b)) = (mad(key, r), mad(base, r)) {
                let d = a.mean - b.mean;
                if d.abs() > 1.0 && d.abs() > 0.1 * b.mean.abs() {
                    let text = format!("{r} {:.1} -> {:.1}", b.mean, a.mean);
                    if d < 0.0 { gains.push(text) } else { losses.push(text) }
                }
            }
        }
        if gains.is_empty() && losses.is_empty() {
            continue;
        }
        let list = |v: &Vec<String>| if v.is_empty() { "nowhere".to_string() } else { v.join(", ") };
        out.push(format!("{label} against {base_label} (MAD by region): gains in {}; loses in {}.", list(&gains), list(&losses)));
    }
    out
}
