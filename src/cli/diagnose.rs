//! `hoimat diagnose ...`: instruments, numbers to look at before tuning.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use hoimat::profile::Profile;

#[derive(Subcommand)]
pub enum DiagnoseCmd {
    /// MAML-RAL's inner step at theta_f for several step sizes alpha: does it
    /// lower the task's loss, and how far the second-order meta-gradient
    /// turns from the first-order direction (means over real meta tasks).
    Alpha {
        #[arg(long)]
        factory: PathBuf,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, value_delimiter = ',', default_value = "0.1,0.05,0.02,0.01,0.005,0.002,0.001")]
        alphas: Vec<f64>,
        #[arg(long, default_value_t = 8)]
        tasks: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Leave FC (g2 = 0) or CC (g3 = 0) out of the inner loss, to see which term bends it.
        #[arg(long)]
        no_fc: bool,
        #[arg(long)]
        no_cc: bool,
        /// Temperature of FC's relaxed hash, in units of the map's std (default 0.5).
        #[arg(long)]
        fc_tau: Option<f64>,
        #[arg(long)]
        cpu: bool,
    },
}

pub fn run(cmd: DiagnoseCmd) -> Result<()> {
    match cmd {
        DiagnoseCmd::Alpha { factory, profile, alphas, tasks, seed, no_fc, no_cc, fc_tau, cpu } => {
            let mut cfg = hoimat::meta::maml_ral::MamlRalConfig::for_profile(profile, seed, &factory);
            if no_fc {
                cfg.weights.g2 = 0.0;
            }
            if no_cc {
                cfg.weights.g3 = 0.0;
            }
            cfg.fc.tau = fc_tau.unwrap_or(cfg.fc.tau);
            let rows = hoimat::meta::diagnose::alpha_scan(&cfg, &alphas, tasks, hoimat::torch_env::device(cpu))?;
            println!("MAML-RAL inner step at theta_f ({}), means over {tasks} synmeta tasks (synthetic data)", factory.display());
            println!("{:>8} {:>11} {:>11} {:>9} {:>11} {:>11} {:>10} {:>8}", "alpha", "inner", "inner'", "lowered", "outer", "outer'", "|meta|/|fo|", "cos");
            for r in rows {
                println!("{:>8} {:>11.5} {:>11.5} {:>9.2} {:>11.5} {:>11.5} {:>10.3} {:>+8.3}", r.alpha, r.inner_before, r.inner_after, r.inner_lowered, r.outer_before, r.outer_after, r.norm_ratio, r.cosine);
            }
            Ok(())
        }
    }
}
