//! Experiment definitions: one TOML file per paper table or figure
//! (`experiments/*.toml`), naming its datasets, methods, seeds, metrics and
//! the paper's claims to check, with per-profile overrides. The files are
//! compiled in (so the library works from any folder, the notebook kernel
//! included) and can be overridden by a folder of edited copies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::models::{MetaSpec, ModelSpec};
use crate::model::Arch;
use crate::profile::Profile;

/// What a definition measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentKind {
    /// Score trained models on datasets (Tables II, III, IV, VII).
    Scores,
    /// Frames per second of each model (Table VI).
    Speed,
    /// Local adaptation of each model to each clip (Table V, Figs 7-9).
    Adaptation,
}

/// One way of adapting (an "arm" of an adaptation experiment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    pub name: String,
    #[serde(default = "default_strategy")]
    pub strategy: crate::adapt::Strategy,
    #[serde(default = "default_sampling")]
    pub sampling: crate::adapt::SamplingKind,
    /// Override of the profile's epoch count (0 = no adaptation: the baseline).
    pub epochs: Option<usize>,
    /// Keep CC and FC in the loss (Eq. 10); false drops both (Fig. 9).
    #[serde(default = "yes")]
    pub constraints: bool,
    /// The row's key in the paper's numbers, when it has one.
    pub paper: Option<String>,
    /// Who labels the captured frames (absent: the label-noise model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotator: Option<AnnotatorKind>,
}

/// The annotators an adaptation arm can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotatorKind {
    /// Ground truth degraded like a click tool's output (`noise` of the experiment).
    Noisy,
    /// The DFIMat-like interactive model (seed 0 of the lab's), driven by
    /// clicks simulated from the truth, over several correction rounds.
    Dfimat,
}

fn default_strategy() -> crate::adapt::Strategy {
    crate::adapt::Strategy::Sgt
}
fn default_sampling() -> crate::adapt::SamplingKind {
    crate::adapt::SamplingKind::Random
}
fn yes() -> bool {
    true
}

/// The adaptation part of a definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptationDef {
    /// The first N clips of each dataset (0 = all).
    #[serde(default)]
    pub clips: usize,
    /// Label noise of the simulated annotator.
    #[serde(default)]
    pub noise: f32,
    /// Repeats of every (arm, clip), with different sampling seeds.
    #[serde(default = "one")]
    pub repeats: usize,
    /// A human-only set whose first clip's MAD is measured after every epoch
    /// (the forgetting test, Fig. 9).
    pub probe: Option<String>,
    /// mIoU threshold for `epochs_to` (Fig. 7).
    #[serde(default = "threshold")]
    pub threshold: f64,
    pub arms: Vec<Arm>,
    /// Users' own recordings, adapted to with their labels beside the
    /// synthetic datasets' clips (rows under the dataset `recording`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recordings: Vec<RecordingDef>,
}

/// A user's own camera recording in an adaptation experiment (the paper's
/// local adaptation starts from one): a video or a folder of frames, with
/// the user's alpha mattes of some frames (`adapt::footage`). Whatever an
/// arm's annotator, a recording trains on these labels; the held-out ones
/// are scored after every epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingDef {
    /// A video file or a folder of frames; a relative path is taken from
    /// the definition file's folder.
    pub clip: PathBuf,
    /// The labels' folder (`000012.png` is frame 12's alpha), relative
    /// like `clip`.
    pub labels: PathBuf,
    /// Labels held out for scoring (default: a quarter, at least one of two
    /// or more).
    pub holdout: Option<usize>,
    /// Frames and labels resized to [width, height] (default: as stored).
    pub resize: Option<(u32, u32)>,
    /// Frames read at most (all are held in memory).
    #[serde(default = "max_frames")]
    pub max_frames: usize,
}

impl RecordingDef {
    /// The recording's rows' clip name: its folder's name, or its file's
    /// less the extension.
    pub fn name(&self) -> String {
        let n = if self.clip.is_dir() { self.clip.file_name() } else { self.clip.file_stem() };
        n.map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "recording".into())
    }
}

fn max_frames() -> usize {
    300
}

fn one() -> usize {
    1
}
fn threshold() -> f64 {
    0.9
}

/// A method: a named model recipe plus how tables label it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodDef {
    /// Filled from the variant's key when defined in a file.
    #[serde(default)]
    pub name: String,
    /// As printed in our tables.
    pub label: String,
    /// The method's key in `paper_numbers.toml`, when the paper has it.
    pub paper: Option<String>,
    pub spec: ModelSpec,
    /// Score MAML's adapted theta' (one inner step on each clip's first
    /// frames, `experiments::one_step`) instead of the model itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_step: bool,
}

/// A claim of the paper, checked on the means over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// In words, as the report prints it.
    pub text: String,
    pub metric: String,
    pub dataset: String,
    pub left: String,
    /// `better` (higher for mIoU/recall/fps, lower for errors), `not_worse`
    /// (within `tolerance`, relative), or `worse`.
    pub relation: String,
    pub right: String,
    #[serde(default)]
    pub tolerance: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub seeds: Option<Vec<u64>>,
    /// Adaptation: clips per dataset, and repeats.
    pub clips: Option<usize>,
    pub repeats: Option<usize>,
    /// Adaptation: epochs of every arm that adapts (arms with 0 stay 0).
    pub epochs: Option<usize>,
    pub methods: Option<Vec<String>>,
    pub datasets: Option<Vec<String>>,
    /// Seeds of particular methods (replacing the definition's for them).
    pub method_seeds: Option<BTreeMap<String, Vec<u64>>>,
}

/// What a chart shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// One bar per method (mean ± std over seeds) of `metric`.
    Bars,
    /// CDF over clips of `metric` per method (Fig. 6).
    Cdf,
    /// Per-epoch `metric` per method/arm, mean ± std over clips, seeds and repeats (Figs 8, 9).
    Curve,
    /// Distribution of `epochs_to` per arm (Fig. 7).
    Epochs,
    /// Input, truth and every method's alpha on a few clips.
    Gallery,
}

/// The x axis of a curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurveX {
    #[default]
    Epoch,
    /// Mean training seconds at each epoch.
    Seconds,
}

/// One chart of a definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartDef {
    pub kind: ChartKind,
    #[serde(default)]
    pub metric: String,
    /// Dataset of the rows (default: the definition's first).
    pub dataset: Option<String>,
    #[serde(default)]
    pub x: CurveX,
    /// Curves: draw the spread as a band (default) or as error bars.
    #[serde(default)]
    pub error_bars: bool,
    /// Gallery: how many clips (rows).
    #[serde(default = "three")]
    pub clips: usize,
    pub title: Option<String>,
}

fn three() -> usize {
    3
}

/// A table or figure as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub id: String,
    pub title: String,
    pub kind: ExperimentKind,
    /// Key of the paper's numbers in `paper_numbers.toml` (e.g. `table2`).
    pub paper: Option<String>,
    #[serde(default)]
    pub datasets: Vec<String>,
    pub methods: Vec<String>,
    #[serde(default)]
    pub metrics: Vec<String>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Seeds of particular methods, replacing `seeds` for them (the zoo is
    /// trained at one seed at `quick`, where each model costs minutes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub method_seeds: BTreeMap<String, Vec<u64>>,
    /// Extra methods defined here (e.g. MAML-RAL with other constraint weights).
    #[serde(default)]
    pub variants: BTreeMap<String, MethodDef>,
    #[serde(default)]
    pub claims: Vec<Claim>,
    /// For `kind = "adaptation"`.
    pub adaptation: Option<AdaptationDef>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Override>,
    /// Take the rows of another experiment instead of running (Fig. 6 plots
    /// Table II's per-clip scores); its runs are run first when missing.
    pub source: Option<String>,
    /// The charts drawn from the rows.
    #[serde(default)]
    pub charts: Vec<ChartDef>,
}

fn default_seeds() -> Vec<u64> {
    vec![0, 1, 2]
}

/// The definitions shipped with hoimat, in report order.
pub const BUILTIN: [(&str, &str); 12] = [
    ("table2", include_str!("../../experiments/table2.toml")),
    ("table3", include_str!("../../experiments/table3.toml")),
    ("table4", include_str!("../../experiments/table4.toml")),
    ("table5", include_str!("../../experiments/table5.toml")),
    ("table6", include_str!("../../experiments/table6.toml")),
    ("table7", include_str!("../../experiments/table7.toml")),
    ("fig6", include_str!("../../experiments/fig6.toml")),
    ("fig7", include_str!("../../experiments/fig7.toml")),
    ("fig8", include_str!("../../experiments/fig8.toml")),
    ("fig9", include_str!("../../experiments/fig9.toml")),
    ("annotators", include_str!("../../experiments/annotators.toml")),
    ("twin", include_str!("../../experiments/twin.toml")),
];

/// The methods every definition may name without defining them.
pub fn builtin_method(name: &str) -> Option<MethodDef> {
    let m = |label: &str, paper: &str, spec: ModelSpec| Some(MethodDef { name: name.into(), label: label.into(), paper: Some(paper.into()), spec, one_step: false });
    match name {
        "rvm" => m("RVM (factory)", "RVM", ModelSpec::Factory),
        "rvm_f" => m("RVM-F", "RVM_F", ModelSpec::RvmF),
        "maml_ral" => m("MAML-RAL", "MAML_RAL", ModelSpec::maml_ral(0.7, 0.1, 0.2)),
        "maml_ral_wo_cc" => m("w/o CC", "wo_CC", ModelSpec::maml_ral(0.7, 0.1, 0.0)),
        "maml_ral_wo_fc" => m("w/o FC", "wo_FC", ModelSpec::maml_ral(0.7, 0.0, 0.2)),
        "fomaml_ral" => Some(MethodDef {
            name: name.into(),
            label: "MAML-RAL (first order)".into(),
            paper: None,
            spec: ModelSpec::MamlRal(MetaSpec { first_order: true, ..MetaSpec::weights(0.7, 0.1, 0.2) }),
            one_step: false,
        }),
        "maml_ral_one_step" => Some(MethodDef {
            name: name.into(),
            label: "MAML-RAL θ′ (ours: one inner step on each clip's first frames with their truth, scored on the rest)".into(),
            paper: None,
            spec: ModelSpec::maml_ral(0.7, 0.1, 0.2),
            one_step: true,
        }),
        "modnet" => m("MODNet-like", "MODNet", ModelSpec::Zoo { arch: Arch::Modnet }),
        // RVM under the zoo's recipe: separates what the architectures bring
        // from what joint training on synvm + synmeta brings.
        "rvm_joint" => Some(MethodDef {
            name: name.into(),
            label: "RVM, zoo recipe (synvm + synmeta)".into(),
            paper: None,
            spec: ModelSpec::Zoo { arch: Arch::Rvm },
            one_step: false,
        }),
        "vmfm" => m("VMFM-like (D-CL-RN)", "D_CL_RN", ModelSpec::Zoo { arch: Arch::Vmfm }),
        "attention_memory" | "adam" | "dfimat" => Some(MethodDef {
            name: name.into(),
            label: match name {
                "attention_memory" => "Attention memory",
                "adam" => "AdaM-like",
                _ => "DFIMat-like (2 clicks + box, 3 rounds)",
            }
            .into(),
            paper: None,
            spec: ModelSpec::Zoo { arch: name.parse().expect("a zoo architecture") },
            one_step: false,
        }),
        _ => None,
    }
}

impl Definition {
    pub fn parse(text: &str, origin: &str) -> Result<Definition> {
        let d: Definition = toml::from_str(text).with_context(|| format!("{origin}: not a valid experiment definition"))?;
        d.check().with_context(|| format!("{origin}: invalid experiment definition"))?;
        Ok(d)
    }

    pub fn load(path: &Path) -> Result<Definition> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let mut d = Definition::parse(&text, &path.display().to_string())?;
        // Recordings' relative paths are the definition file's neighbours.
        let base = path.parent().unwrap_or(Path::new(""));
        for r in d.adaptation.iter_mut().flat_map(|a| a.recordings.iter_mut()) {
            for p in [&mut r.clip, &mut r.labels] {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        Ok(d)
    }

    /// A shipped definition by id, or from `dir/<id>.toml` when given and present.
    pub fn named(id: &str, dir: Option<&Path>) -> Result<Definition> {
        if let Some(p) = dir.map(|d| d.join(format!("{id}.toml"))).filter(|p| p.is_file()) {
            return Definition::load(&p);
        }
        match BUILTIN.iter().find(|(k, _)| *k == id) {
            Some((k, text)) => Definition::parse(text, &format!("experiments/{k}.toml")),
            None => bail!("unknown experiment '{id}' (known: {})", BUILTIN.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")),
        }
    }

    fn check(&self) -> Result<()> {
        for m in self.methods.iter().chain(self.profiles.values().flat_map(|o| o.methods.iter().flatten())) {
            self.method(m)?;
        }
        for d in self.datasets.iter().chain(self.profiles.values().flat_map(|o| o.datasets.iter().flatten())) {
            crate::world::SetName::of_dataset(d).map_err(anyhow::Error::msg)?;
        }
        for p in self.profiles.keys() {
            p.parse::<Profile>().map_err(anyhow::Error::msg)?;
        }
        for c in &self.claims {
            if !crate::stats::RELATIONS.contains(&c.relation.as_str()) {
                bail!("claim '{}': relation must be better, not_worse or worse", c.text);
            }
        }
        if self.seeds.is_empty() {
            bail!("no seeds");
        }
        if self.kind == ExperimentKind::Scores {
            let known = |m: &str| m == "regions" || super::score::METRICS.iter().any(|(k, _)| *k == m) || super::score::REGION_METRICS.contains(&m);
            if let Some(m) = self.metrics.iter().find(|m| !known(m)) {
                bail!("unknown metric '{m}' (known: {}, regions)", super::score::METRICS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "));
            }
        }
        // A method_seeds key must name one of the definition's methods (a
        // typo would otherwise silently run the default seeds).
        let overrides = self.profiles.values().filter_map(|o| o.method_seeds.as_ref());
        for (m, seeds) in std::iter::once(&self.method_seeds).chain(overrides).flat_map(|ms| ms.iter()) {
            let known = self.methods.iter().chain(self.profiles.values().flat_map(|o| o.methods.iter().flatten())).any(|x| x == m);
            if !known {
                bail!("method_seeds names '{m}', which is not among the methods");
            }
            if seeds.is_empty() {
                bail!("method_seeds.{m}: no seeds");
            }
        }
        if self.kind != ExperimentKind::Scores {
            if let Some(m) = self.methods.iter().find(|m| self.method(m).is_ok_and(|m| m.one_step)) {
                bail!("method '{m}' scores theta' (one_step), which only a scores experiment can do");
            }
        }
        if (self.kind == ExperimentKind::Adaptation) != self.adaptation.is_some() {
            bail!("an [adaptation] table is needed exactly when kind = \"adaptation\"");
        }
        if let Some(a) = &self.adaptation {
            let mut names: Vec<String> = a.recordings.iter().map(RecordingDef::name).collect();
            names.sort();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                bail!("two recordings are named '{}' (their rows are told apart by the file name)", w[0]);
            }
            if let Some(r) = a.recordings.iter().find(|r| r.max_frames == 0 || r.resize.is_some_and(|(w, h)| w == 0 || h == 0)) {
                bail!("recording {}: max_frames and resize must be positive", r.clip.display());
            }
            if let Some(r) = a.recordings.iter().find(|r| r.holdout == Some(0)) {
                bail!("recording {}: holdout = 0 scores nothing; hold out at least one label", r.clip.display());
            }
        }
        Ok(())
    }

    /// Resolve a method name: a variant defined here, else a built-in.
    /// The seeds a method runs at.
    /// The factory model is seedless (one per profile, `models::FACTORY_SEED`),
    /// so it runs once: its rows at other seeds would be copies.
    pub fn seeds_of(&self, method: &str) -> &[u64] {
        const FACTORY: [u64; 1] = [super::models::FACTORY_SEED];
        if self.method(method).is_ok_and(|m| m.spec == ModelSpec::Factory) {
            return &FACTORY;
        }
        self.method_seeds.get(method).unwrap_or(&self.seeds)
    }

    pub fn method(&self, name: &str) -> Result<MethodDef> {
        if let Some(v) = self.variants.get(name) {
            let mut v = v.clone();
            v.name = name.into();
            return Ok(v);
        }
        builtin_method(name).with_context(|| format!("unknown method '{name}' (define it under [variants.{name}])"))
    }

    /// The rows of this definition's tables: (key, label, paper key). For
    /// adaptation, one per (method, arm), keyed `method+arm`.
    pub fn rows(&self) -> Vec<(String, String, Option<String>)> {
        let ms = self.methods.iter().filter_map(|m| self.method(m).ok());
        match &self.adaptation {
            Some(a) => ms
                .flat_map(|m| a.arms.iter().map(move |arm| (format!("{}+{}", m.name, arm.name), format!("{} + {}", m.label, arm.name), arm.paper.clone())))
                .collect(),
            None => ms.map(|m| (m.name.clone(), m.label.clone(), m.paper.clone())).collect(),
        }
    }

    /// This definition with the profile's overrides applied.
    pub fn at_profile(&self, p: Profile) -> Definition {
        let mut d = self.clone();
        if let Some(o) = self.profiles.get(p.name()) {
            if let Some(s) = &o.seeds {
                d.seeds = s.clone();
            }
            if let Some(m) = &o.methods {
                d.methods = m.clone();
            }
            if let Some(ds) = &o.datasets {
                d.datasets = ds.clone();
            }
            if let Some(ms) = &o.method_seeds {
                d.method_seeds = ms.clone();
            }
            if let Some(a) = d.adaptation.as_mut() {
                a.clips = o.clips.unwrap_or(a.clips);
                a.repeats = o.repeats.unwrap_or(a.repeats);
                if let Some(e) = o.epochs {
                    for arm in a.arms.iter_mut().filter(|arm| arm.epochs != Some(0)) {
                        arm.epochs = Some(e);
                    }
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_errors_name_the_file() {
        for (id, _) in BUILTIN {
            let d = Definition::named(id, None).unwrap();
            assert_eq!(d.id, id);
        }
        let e = Definition::parse("id = 'x'\ntitle='t'\nkind='scores'\nmethods=['nope']", "mine.toml").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("mine.toml") && msg.contains("nope"), "{msg}");
        let e = Definition::parse("id = 3", "bad.toml").unwrap_err();
        assert!(format!("{e:#}").contains("bad.toml"));
        let e = Definition::parse("id = 'x'\ntitle='t'\nkind='scores'\nmethods=['rvm']\nmetrics=['held_iuo']", "typo.toml").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("typo.toml") && msg.contains("held_iuo"), "{msg}");
        let d = Definition::named("table2", None).unwrap();
        assert!(d.at_profile(Profile::Smoke).seeds.len() <= d.seeds.len());
        // A user-defined variant: MAML-RAL with other constraint weights.
        let text = "id='abl'\ntitle='t'\nkind='scores'\ndatasets=['synvm:test']\nmethods=['rvm','strong_cc']\n\
                    [variants.strong_cc]\nlabel='CC x2'\nspec={kind='maml_ral', g1=0.7, g2=0.1, g3=0.4}\n";
        let d = Definition::parse(text, "abl.toml").unwrap();
        let m = d.method("strong_cc").unwrap();
        assert_eq!(m.name, "strong_cc");
        assert_eq!(m.spec, ModelSpec::maml_ral(0.7, 0.1, 0.4));
        assert!(Definition::parse(&text.replace("synvm:test", "nope"), "abl.toml").is_err());
        // Deviations and schedule changes of a MAML-RAL variant; a misspelt
        // key is an error naming the file, not silently the default model.
        let dev = text.replace("g3=0.4}", "g3=0.4, negatives=true, human_tasks=0.5, beta=2e-4, iterations=360}");
        let want = MetaSpec { negatives: true, human_tasks: 0.5, beta: Some(2e-4), iterations: Some(360), ..MetaSpec::weights(0.7, 0.1, 0.4) };
        assert_eq!(Definition::parse(&dev, "abl.toml").unwrap().method("strong_cc").unwrap().spec, ModelSpec::MamlRal(want));
        let e = Definition::parse(&text.replace("g3=0.4}", "g3=0.4, negatvies=true}"), "abl.toml").unwrap_err();
        assert!(format!("{e:#}").contains("abl.toml") && format!("{e:#}").contains("negatvies"), "{e:#}");
        // A folder of definitions adds new ids and overrides shipped ones.
        let dir = std::env::temp_dir().join(format!("hoimat-defs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("abl.toml"), text).unwrap();
        std::fs::write(dir.join("table2.toml"), text.replace("id='abl'", "id='table2'")).unwrap();
        assert_eq!(Definition::named("abl", Some(&dir)).unwrap().methods.len(), 2);
        assert_eq!(Definition::named("table2", Some(&dir)).unwrap().datasets, vec!["synvm:test".to_string()]);
        assert_eq!(Definition::named("table4", Some(&dir)).unwrap().id, "table4");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn method_seeds_replace_the_seeds_of_their_methods_only() {
        let d = Definition::named("table2", None).unwrap().at_profile(Profile::Quick);
        assert_eq!(d.seeds_of("rvm_f"), &[0, 1, 2, 3, 4]);
        // The seedless factory model runs once.
        assert_eq!(d.seeds_of("rvm"), &[0]);
        assert_eq!(d.seeds_of("vmfm"), &[0]);
        // The paper profile has no override: the zoo gets every seed there.
        assert_eq!(Definition::named("table2", None).unwrap().at_profile(Profile::Paper).seeds_of("vmfm"), &[0, 1, 2, 3, 4]);
        let base = "id='x'\ntitle='t'\nkind='scores'\ndatasets=['synvbhoi']\nmethods=['rvm','modnet']\n";
        assert!(Definition::parse(&format!("{base}[profiles.quick.method_seeds]\nmodnet=[0]\n"), "x.toml").is_ok());
        let e = Definition::parse(&format!("{base}[profiles.quick.method_seeds]\nmodnt=[0]\n"), "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("modnt") && format!("{e:#}").contains("x.toml"), "{e:#}");
        assert!(Definition::parse(&format!("{base}[method_seeds]\nmodnet=[]\n"), "x.toml").is_err());
        // A zoo spec in a variant, and the annotator of an arm.
        let v = format!("{base}[variants.mine]\nlabel='m'\nspec={{kind='zoo', arch='adam'}}\n").replace("'modnet']", "'mine']");
        assert_eq!(Definition::parse(&v, "v.toml").unwrap().method("mine").unwrap().spec, ModelSpec::Zoo { arch: Arch::Adam });
        let a = Definition::named("annotators", None).unwrap();
        let arms = &a.adaptation.as_ref().unwrap().arms;
        assert_eq!((arms[0].annotator, arms[1].annotator), (None, Some(AnnotatorKind::Dfimat)));
    }
}
