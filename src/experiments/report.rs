//! Tables in the paper's shape with the paper's numbers beside ours, the
//! paper's claims checked on our numbers, and `REPORT.md`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::definition::{Claim, ExperimentKind};
use super::runner::Outcome;
use super::score::{higher_is_better, metric_label};
use crate::encode::markup_escape;
use crate::stats::{self, Decision, Interval};
use crate::store::query::{cell, measured_metrics, summarize, Summary};
use crate::store::results::StoredRow;

/// The paper's published numbers (`experiments/paper_numbers.toml`).
pub struct PaperNumbers(toml::Table);

impl PaperNumbers {
    pub fn builtin() -> PaperNumbers {
        PaperNumbers(toml::from_str(include_str!("../../experiments/paper_numbers.toml")).expect("paper_numbers.toml parses"))
    }

    /// A number of `table` (e.g. "table2"), method key (e.g. "RVM_F"), metric.
    pub fn get(&self, table: &str, method: &str, metric: &str) -> Option<f64> {
        let v = self.0.get(table)?.get("methods")?.get(method)?.get(metric)?;
        v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
    }

    pub fn dataset(&self, table: &str) -> Option<String> {
        self.0.get(table)?.get("dataset")?.as_str().map(String::from)
    }
}

/// Bootstrap draws behind every verdict (deterministic: seeded per claim).
pub const RESAMPLES: usize = 4000;

/// A claim with its verdict on our numbers: a 95% paired bootstrap interval
/// of the gain over seeds and clips, not the sign of a mean difference.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub claim: Claim,
    /// None when a number is missing (NOT CHECKED).
    pub decision: Option<Decision>,
    /// The gain of `left` over `right`, oriented so that positive is better
    /// (for `worse`, positive still means `left` is better).
    pub gain: Option<Interval>,
    pub left: Option<Summary>,
    pub right: Option<Summary>,
}

impl Verdict {
    pub fn held(&self) -> Option<bool> {
        self.decision.map(|d| d == Decision::Held)
    }

    pub fn line(&self) -> String {
        let num = |s: &Option<Summary>, name: &str| s.as_ref().map_or(format!("{name} n/a"), |s| format!("{name} {:.4} ± {:.4}", s.mean, s.std));
        let word = self.decision.map_or("NOT CHECKED", |d| d.word());
        let ci = match (&self.gain, self.decision) {
            (Some(g), _) => format!("; gain {:+.4}, 95% CI [{:+.4}, {:+.4}] over {} seed(s), {} pairs", g.mean, g.lo, g.hi, g.n_seeds, g.n_pairs),
            (None, Some(_)) => "; fewer than two paired measurements: no spread to judge".to_string(),
            _ => String::new(),
        };
        format!("{word}: {} ({} {}: {}, {}{ci})", self.claim.text, self.claim.metric, self.claim.dataset, num(&self.left, &self.claim.left), num(&self.right, &self.claim.right))
    }
}

/// Per-(seed, clip) values of one cell (a repeat is part of the clip's key);
/// curve rows (with a step) are left out.
fn keyed(rows: &[StoredRow], method: &str, dataset: &str, metric: &str) -> Vec<((i64, String), f64)> {
    rows.iter()
        .filter(|r| r.row.step.is_none() && r.row.method == method && r.row.dataset == dataset && r.row.metric == metric)
        .filter_map(|r| r.row.value.map(|v| ((r.prov.seed, r.row.repeat.map_or(r.row.clip.clone(), |k| format!("{}#{k}", r.row.clip))), v)))
        .collect()
}

type Keyed = Vec<((i64, String), f64)>;

/// A side run at one seed (the seedless factory model, the zoo at `quick`)
/// is a fixed reference: its per-clip values pair with every seed of the
/// other side, so the interval still spans that side's seeds.
fn fixed_reference(left: Keyed, right: Keyed) -> (Keyed, Keyed) {
    let seeds = |v: &Keyed| v.iter().map(|((s, _), _)| *s).collect::<std::collections::BTreeSet<i64>>();
    let (sl, sr) = (seeds(&left), seeds(&right));
    let spread = |fixed: Keyed, over: &std::collections::BTreeSet<i64>| -> Keyed {
        over.iter().flat_map(|s| fixed.iter().map(move |((_, c), v)| ((*s, c.clone()), *v))).collect()
    };
    match (sl.len(), sr.len()) {
        (1, n) if n > 1 => (spread(left, &sr), right),
        (n, 1) if n > 1 => {
            let r = spread(right, &sl);
            (left, r)
        }
        _ => (left, right),
    }
}

/// Check a claim on stored rows: pair `left` and `right` by seed and clip,
/// bootstrap the oriented gain, decide HELD / NOT HELD / INCONCLUSIVE.
pub fn check(claim: &Claim, rows: &[StoredRow], s: &[Summary]) -> Verdict {
    let left = cell(s, &claim.left, &claim.dataset, &claim.metric).cloned();
    let right = cell(s, &claim.right, &claim.dataset, &claim.metric).cloned();
    let (mut decision, mut gain) = (None, None);
    if let (Some(_), Some(base)) = (&left, &right) {
        let sign = if higher_is_better(&claim.metric) { 1.0 } else { -1.0 };
        let (l, r) = fixed_reference(keyed(rows, &claim.left, &claim.dataset, &claim.metric), keyed(rows, &claim.right, &claim.dataset, &claim.metric));
        let mut pairs = stats::pair_up(&l, &r);
        for p in &mut pairs {
            p.diff *= sign;
        }
        let seed = super::provenance::fnv1a_u64(claim.text.as_bytes());
        gain = stats::paired_bootstrap(&pairs, RESAMPLES, 0.95, seed);
        decision = Some(match &gain {
            Some(g) => stats::decide(&claim.relation, g, claim.tolerance * base.mean.abs()),
            None => Decision::Inconclusive,
        });
    }
    Verdict { claim: claim.clone(), decision, gain, left, right }
}

/// One table in the paper's shape: a caption, metric columns, and a row per
/// method (cells: ours, with the paper's number in brackets when it has one).
#[derive(Clone, Debug, PartialEq)]
pub struct PaperTable {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
}

impl PaperTable {
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "{}\n", self.caption);
        let _ = writeln!(md, "| method | {} |", self.header.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(self.header.len()));
        for (label, cells) in &self.rows {
            let _ = writeln!(md, "| {} | {} |", label, cells.join(" | "));
        }
        md
    }

    pub fn to_html(&self) -> String {
        let e = markup_escape;
        let mut h = String::from("<table>\n");
        let _ = writeln!(h, "<caption style=\"caption-side: top; text-align: left\">{}</caption>", e(&self.caption.replace('`', "")));
        let _ = writeln!(h, "<thead><tr><th>method</th>{}</tr></thead>\n<tbody>", self.header.iter().map(|x| format!("<th>{}</th>", e(x))).collect::<String>());
        for (label, cells) in &self.rows {
            let _ = writeln!(h, "<tr><td>{}</td>{}</tr>", e(label), cells.iter().map(|x| format!("<td>{}</td>", e(x))).collect::<String>());
        }
        h.push_str("</tbody>\n</table>\n");
        h
    }
}

/// The experiment's tables (one per dataset).
pub fn tables(o: &Outcome, paper: &PaperNumbers) -> Vec<PaperTable> {
    let d = &o.definition;
    let s = summarize(&o.rows);
    let mut datasets: Vec<String> = if d.kind == ExperimentKind::Speed { vec!["*".into()] } else { d.datasets.clone() };
    let recordings: Vec<String> = d.adaptation.iter().flat_map(|a| a.recordings.iter().map(|r| r.name())).collect();
    if !recordings.is_empty() {
        datasets.push(super::adaptation::RECORDING.into());
    }
    let metrics: Vec<String> = if d.kind == ExperimentKind::Speed {
        // Profile's size first, then 512x288 (the order the runner measures).
        measured_metrics(&o.rows)
    } else if d.kind == ExperimentKind::Adaptation && d.metrics.is_empty() {
        // An adaptation table's usual columns when a definition names none.
        ["miou_before", "miou_after", "mad_after", "epochs_to"].map(String::from).to_vec()
    } else {
        d.metrics.iter().filter(|m| *m != "regions").cloned().collect()
    };
    let mut out = vec![];
    for ds in &datasets {
        let caption = if ds == super::adaptation::RECORDING {
            let a = d.adaptation.as_ref().expect("checked");
            format!(
                "Local adaptation on your own recordings ({}), trained on your labels and scored on the held-out ones; each row: mean over recordings (and {} repeat(s)) of the seed's model, ± std over {} seed(s); threshold {} for `epochs_to`.",
                recordings.join(", "), a.repeats, d.seeds.len(), a.threshold
            )
        } else if d.kind == ExperimentKind::Adaptation {
            let a = d.adaptation.as_ref().expect("checked");
            format!(
                "Local adaptation on synthetic `{ds}` ({} clips, {} repeat(s), label noise {}); each row: mean over clips (and repeats) of the seed's model, ± std over {} seed(s); threshold {} for `epochs_to`.",
                if a.clips == 0 { "all".to_string() } else { a.clips.to_string() }, a.repeats, a.noise, d.seeds.len(), a.threshold
            )
        } else if d.kind == ExperimentKind::Scores {
            let theirs = d.paper.as_deref().and_then(|t| paper.dataset(t)).unwrap_or_else(|| {
                crate::world::SetName::of_dataset(ds).map_or("benchmark".into(), |s| s.stands_for().to_string())
            });
            let fewer: Vec<String> = d.methods.iter().filter(|m| d.seeds_of(m).len() != d.seeds.len()).map(|m| format!("{m}: {}", d.seeds_of(m).len())).collect();
            let fewer = if fewer.is_empty() { String::new() } else { format!(" (seeds per method where different: {})", fewer.join(", ")) };
            format!("Synthetic `{ds}` (stands in for the paper's {theirs}); ours: mean ± std over {} seed(s){fewer}; [paper's number on its real data].", d.seeds.len())
        } else {
            format!("Frames per second on {}, one frame per call with the model's state carried (untrained weights of each architecture: weights do not change speed); [paper's FPS on its RTX 3060 GPU, resolution not stated].", o.rows.first().map_or("?", |r| r.prov.device.as_str()))
        };
        let mut rows = vec![];
        for (key, label, paper_key) in d.rows() {
            let cells: Vec<String> = metrics
                .iter()
                .map(|metric| {
                    let ours = cell(&s, &key, ds, metric).map_or("n/a".to_string(), |c| if c.n_seeds > 1 { format!("{:.4} ± {:.4}", c.mean, c.std) } else { format!("{:.4}", c.mean) });
                    let pm = if metric.starts_with("fps") { "fps" } else if metric == "miou_after" { "miou" } else if metric == "mad_after" { "mad" } else { metric.as_str() };
                    // The paper's numbers sit beside synthetic sets, not beside a user's footage.
                    match (d.paper.as_deref().filter(|_| ds != super::adaptation::RECORDING), paper_key.as_deref()) {
                        (Some(t), Some(k)) => match paper.get(t, k, pm) {
                            Some(v) => format!("{ours} [{v}]"),
                            None => ours,
                        },
                        _ => ours,
                    }
                })
                .collect();
            rows.push((label, cells));
        }
        out.push(PaperTable { caption, header: metrics.iter().map(|m| metric_label(m)).collect(), rows });
    }
    if d.kind == ExperimentKind::Scores {
        out.extend(d.datasets.iter().filter_map(|ds| super::regions::table(o, &s, ds)));
    }
    out
}

/// The paper's claims checked on an outcome's numbers.
pub fn verdicts(o: &Outcome) -> Vec<Verdict> {
    let s = summarize(&o.rows);
    o.definition.claims.iter().map(|c| check(c, &o.rows, &s)).collect()
}

/// An experiment rendered as Markdown (tables and verdicts).
pub fn render(o: &Outcome, paper: &PaperNumbers) -> (String, Vec<Verdict>) {
    let d = &o.definition;
    let mut md = String::new();
    let _ = writeln!(md, "## {}: {}\n", d.id, d.title);
    for t in tables(o, paper) {
        md.push_str(&t.to_markdown());
        md.push('\n');
    }
    let s = summarize(&o.rows);
    for ds in &d.datasets {
        let lines = super::regions::gains_and_losses(o, &s, ds);
        if !lines.is_empty() {
            for line in lines {
                let _ = writeln!(md, "- {line}");
            }
            md.push('\n');
        }
    }
    let verdicts = verdicts(o);
    if !verdicts.is_empty() {
        let _ = writeln!(md, "Claims checked on our numbers (95% paired bootstrap interval of the gain over seeds and clips; HELD / NOT HELD only when it excludes zero):\n");
        for v in &verdicts {
            let _ = writeln!(md, "- {}", v.line());
        }
        md.push('\n');
    }
    let _ = writeln!(md, "_{} run(s) computed, {} taken from the store, {:.1} s._\n", o.runs_done, o.runs_cached, o.seconds);
    (md, verdicts)
}

/// Write `REPORT.md`: every experiment, its tables, verdicts and timing.
pub fn write_report(path: &Path, profile: &str, parts: &[String], total_s: f64, device: &str) -> Result<()> {
    let mut md = String::new();
    let _ = writeln!(md, "# hoimat: the MAML-RAL paper reproduced (profile `{profile}`)\n");
    let _ = writeln!(
        md,
        "All data here is **synthetic**: hoimat's procedural HOI world stands in for the paper's private sets \
         (VideoMatte240K, VBHOI, IBHOI), so our numbers are comparable with each other, not with the paper's. \
         The paper's numbers are shown in [brackets] for orientation only.\n"
    );
    let _ = writeln!(md, "Device: {device}. Total time: {total_s:.0} s. Every number comes from the Parquet store beside this file.\n");
    for p in parts {
        md.push_str(p);
    }
    crate::atomic::write(path, md.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::results::ResultRow;

    fn row(method: &str, seed: i64, clip: &str, metric: &str, v: f64) -> StoredRow {
        StoredRow::for_test(ResultRow::new("t", method, "d", clip, metric, v), seed)
    }

    fn claim(metric: &str, relation: &str, tolerance: f64) -> Claim {
        Claim { text: "c".into(), metric: metric.into(), dataset: "d".into(), left: "a".into(), relation: relation.into(), right: "b".into(), tolerance }
    }

    /// `a` has MAD 1 lower than `b` on every (seed, clip), plus curve rows
    /// (with a step) that would flip the sign if they were counted.
    fn rows(b_seeds: &[i64]) -> Vec<StoredRow> {
        let mut v = vec![];
        for clip in ["c0", "c1", "c2", "c3"] {
            let base = 10.0 + clip[1..].parse::<f64>().unwrap();
            for seed in 0..3 {
                v.push(row("a", seed, clip, "mad", base - 1.0 + 0.1 * seed as f64));
                let mut curve = row("a", seed, clip, "mad", 1e6);
                curve.row = curve.row.at_step(3);
                v.push(curve);
            }
            for &seed in b_seeds {
                v.push(row("b", seed, clip, "mad", base + 0.1 * seed as f64));
            }
        }
        v
    }

    fn verdict(c: &Claim, r: &[StoredRow]) -> Verdict {
        check(c, r, &summarize(r))
    }

    #[test]
    fn lower_is_better_is_oriented_and_curves_are_left_out() {
        let r = rows(&[0, 1, 2]);
        // Gain = -(a - b) = +1 exactly on all 12 pairs.
        let v = verdict(&claim("mad", "better", 0.0), &r);
        let g = v.gain.unwrap();
        assert!((g.lo - 1.0).abs() < 1e-12 && (g.hi - 1.0).abs() < 1e-12, "{g:?}");
        assert_eq!((g.n_seeds, g.n_pairs, v.decision), (3, 12, Some(Decision::Held)));
        assert_eq!(verdict(&claim("mad", "worse", 0.0), &r).decision, Some(Decision::NotHeld));
        // b is not worse than a within 5% of a's mean MAD (10.6 -> margin 0.53 < 1).
        let c = Claim { left: "b".into(), right: "a".into(), ..claim("mad", "not_worse", 0.05) };
        assert_eq!(verdict(&c, &r).decision, Some(Decision::NotHeld));
        let c = Claim { left: "b".into(), right: "a".into(), ..claim("mad", "not_worse", 0.2) };
        assert_eq!(verdict(&c, &r).decision, Some(Decision::Held));
    }

    #[test]
    fn a_one_seed_side_is_a_fixed_reference_for_every_seed() {
        // b at seed 0 only: its clips pair with each of a's 3 seeds.
        let r = rows(&[0]);
        let g = verdict(&claim("mad", "better", 0.0), &r).gain.unwrap();
        assert_eq!((g.n_seeds, g.n_pairs), (3, 12));
        // Gains: 1 - 0.1 * seed of a (b's seed-0 values): mean 0.9.
        assert!((g.mean - 0.9).abs() < 1e-12, "{g:?}");
        // A missing side is NOT CHECKED, not a verdict.
        assert_eq!(verdict(&Claim { right: "nobody".into(), ..claim("mad", "better", 0.0) }, &r).decision, None);
    }

    #[test]
    fn repeats_are_separate_pairs() {
        let mut r = vec![];
        for k in 0..4 {
            r.push(StoredRow::for_test(ResultRow::new("t", "a", "d", "*", "fps_1x1", 10.0 + k as f64).at_repeat(k), 0));
            r.push(StoredRow::for_test(ResultRow::new("t", "b", "d", "*", "fps_1x1", 5.0).at_repeat(k), 0));
        }
        let v = verdict(&claim("fps_1x1", "better", 0.0), &r);
        let g = v.gain.unwrap();
        // Higher fps is better: gains 5, 6, 7, 8.
        assert_eq!((g.n_pairs, g.mean, v.decision), (4, 6.5, Some(Decision::Held)));
    }
}
