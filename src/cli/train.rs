//! `hoimat train ...`: the factory model, RVM-F, the zoo and MAML-RAL.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use hoimat::profile::Profile;

#[derive(Subcommand)]
pub enum TrainCmd {
    /// The factory model: human-only video (synvm), the matting loss, Adam.
    Factory {
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Continue from the checkpoint at --out (same configuration).
        #[arg(long)]
        resume: bool,
        /// Override the profile's number of steps.
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        cpu: bool,
    },
    /// RVM-F: the factory model fine-tuned on every synmeta clip (the paper's baseline).
    Finetune {
        #[arg(long)]
        factory: PathBuf,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        cpu: bool,
    },
    /// A seed paper's system from the zoo (modnet, attention_memory, adam,
    /// vmfm, dfimat) with its own loss, on synvm train + synmeta.
    Zoo {
        /// The architecture.
        #[arg(long)]
        model: hoimat::model::Arch,
        /// Start the backbone from this checkpoint's (a factory model);
        /// without it the backbone starts from random weights.
        #[arg(long)]
        factory: Option<PathBuf>,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        cpu: bool,
    },
    /// MAML-RAL (paper Alg. 1) from a factory checkpoint.
    MamlRal {
        #[arg(long)]
        factory: PathBuf,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Without the continual-learning constraint (g3 = 0).
        #[arg(long)]
        no_cc: bool,
        /// Without the feature-aware constraint (g2 = 0).
        #[arg(long)]
        no_fc: bool,
        /// Weights g1,g2,g3 of Eq. 10 (default 0.7,0.1,0.2).
        #[arg(long)]
        gamma: Option<String>,
        /// First-order MAML instead of the exact second-order meta-gradient.
        #[arg(long)]
        first_order: bool,
        /// Use the whole Eq. 10 (with CC and FC) as the outer loss too (a
        /// deviation from Alg. 1, where the constraints are in the inner loss only).
        #[arg(long)]
        constrained_outer: bool,
        /// Composite meta tasks over backgrounds with interfering objects of
        /// the meta families half the time (negatives; a deviation, off by default).
        #[arg(long)]
        negatives: bool,
        /// Probability that a task's test sequence is human-only synvm video
        /// (rehearsal in the meta-objective; a deviation, 0 by default).
        #[arg(long, default_value_t = 0.0)]
        human_tasks: f32,
        /// BatchNorm on the factory's running statistics during
        /// meta-training (the other BatchNorm policy; off by default).
        #[arg(long)]
        frozen_bn: bool,
        /// Let the passes' batch statistics update the running statistics
        /// (the BatchNorm policy before the engine fix; off by default).
        #[arg(long)]
        track_bn: bool,
        /// How CC's distance is taken: squared (default), norm, or smoothed:R.
        #[arg(long)]
        cc_distance: Option<hoimat::meta::constraints::Distance>,
        /// How FC's distance is taken: squared (default), norm, or smoothed:R.
        #[arg(long)]
        fc_distance: Option<hoimat::meta::constraints::Distance>,
        /// The outer update: adam (default) or sgd (Alg. 1 line 10).
        #[arg(long)]
        outer: Option<hoimat::meta::maml_ral::OuterOptimizer>,
        /// Inner step size alpha (default: the profile's).
        #[arg(long)]
        alpha: Option<f64>,
        /// Meta step size beta (default: the profile's).
        #[arg(long)]
        beta: Option<f64>,
        #[arg(long)]
        iterations: Option<u64>,
        /// Tasks per meta-iteration (default: the profile's).
        #[arg(long)]
        tasks: Option<usize>,
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        cpu: bool,
    },
}

pub fn run(cmd: TrainCmd) -> Result<()> {
    match cmd {
        TrainCmd::Factory { profile, seed, out, resume, steps, cpu } => {
            let mut cfg = hoimat::train::supervised::FactoryConfig::for_profile(profile, seed);
            if let Some(s) = steps {
                cfg.set_steps(s);
            }
            let device = hoimat::torch_env::device(cpu);
            println!("factory model: profile {profile}, seed {seed}, {} steps, device {device:?}", cfg.steps);
            let run = hoimat::train::supervised::train(&cfg, &out, resume, device)?;
            println!(
                "done in {:.1} s: synvm test MAD {:.2} (x1e3), mIoU {:.4} -> {}",
                run.seconds, run.final_val.mad, run.final_val.miou, out.display()
            );
            Ok(())
        }
        TrainCmd::Finetune { factory, profile, seed, out, resume, steps, cpu } => {
            let mut cfg = hoimat::train::supervised::finetune_config(profile, seed, &factory);
            if let Some(s) = steps {
                cfg.set_steps(s);
            }
            let device = hoimat::torch_env::device(cpu);
            println!("RVM-F: fine-tuning {} on synmeta, profile {profile}, seed {seed}, {} steps", factory.display(), cfg.steps);
            let run = hoimat::train::supervised::train(&cfg, &out, resume, device)?;
            println!("done in {:.1} s: synvm test MAD {:.2} (x1e3), mIoU {:.4} -> {}", run.seconds, run.final_val.mad, run.final_val.miou, out.display());
            Ok(())
        }
        TrainCmd::Zoo { model, factory, profile, seed, out, resume, steps, cpu } => {
            let mut cfg = hoimat::train::supervised::zoo_config(profile, seed, model, factory.as_deref().unwrap_or(std::path::Path::new("")));
            cfg.init_backbone = factory.clone();
            if let Some(s) = steps {
                cfg.set_steps(s);
            }
            let device = hoimat::torch_env::device(cpu);
            let from = factory.as_ref().map_or("random weights".to_string(), |f| format!("the backbone of {}", f.display()));
            println!("{model}: profile {profile}, seed {seed}, {} steps from {from}, device {device:?}", cfg.steps);
            let run = hoimat::train::supervised::train(&cfg, &out, resume, device)?;
            println!("done in {:.1} s: synvm test MAD {:.2} (x1e3), mIoU {:.4} -> {}", run.seconds, run.final_val.mad, run.final_val.miou, out.display());
            Ok(())
        }
        TrainCmd::MamlRal { factory, profile, seed, out, no_cc, no_fc, gamma, first_order, constrained_outer, negatives, human_tasks, frozen_bn, track_bn, cc_distance, fc_distance, outer, alpha, beta, iterations, tasks, resume, cpu } => {
            let mut cfg = hoimat::meta::maml_ral::MamlRalConfig::for_profile(profile, seed, &factory);
            let mut w = cfg.weights.clone();
            if let Some(g) = gamma {
                let v: Vec<f64> = g.split(',').map(|x| x.trim().parse::<f64>()).collect::<std::result::Result<_, _>>().context("--gamma takes three numbers: g1,g2,g3")?;
                anyhow::ensure!(v.len() == 3, "--gamma takes three numbers: g1,g2,g3");
                w = hoimat::meta::hoi_loss::HoiWeights::new(v[0], v[1], v[2]);
            }
            if no_cc {
                w.g3 = 0.0;
            }
            if no_fc {
                w.g2 = 0.0;
            }
            let spec = hoimat::experiments::MetaSpec { first_order, constrained_outer, negatives, human_tasks, frozen_bn, track_bn, cc_distance, fc_distance, outer, alpha, beta, iterations, tasks, ..hoimat::experiments::MetaSpec::weights(w.g1, w.g2, w.g3) };
            spec.apply(&mut cfg);
            let device = hoimat::torch_env::device(cpu);
            println!(
                "MAML-RAL: profile {profile}, seed {seed}, {} iterations x {} tasks, gamma ({}, {}, {}), {} order",
                cfg.iterations, cfg.tasks_per_iteration, cfg.weights.g1, cfg.weights.g2, cfg.weights.g3, if first_order { "first" } else { "second" }
            );
            let run = hoimat::meta::maml_ral::train(&cfg, &out, resume, device)?;
            let last = run.log.last();
            println!(
                "done in {:.1} s: last inner loss {:.4}, outer loss {:.4} -> {}",
                run.seconds,
                last.map_or(f64::NAN, |l| l.inner_loss),
                last.map_or(f64::NAN, |l| l.outer_loss),
                out.display()
            );
            Ok(())
        }
    }
}
