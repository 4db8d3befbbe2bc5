//! hoimat-kernel: a Jupyter kernel for Rust with the hoimat library
//! preloaded (evcxr compiles and runs cells; the wire protocol is
//! jupyter-protocol over jupyter-zmq-client).

mod cache;
mod child;
mod kernelspec;
mod notebook;
mod server;
mod session;
mod syntax;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hoimat-kernel", version, about = "Jupyter kernel for Rust with hoimat preloaded")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve a kernel (what Jupyter runs, from the kernelspec).
    Start {
        #[arg(long)]
        connection_file: PathBuf,
        /// Preload the library with its `polars` feature (`Store::frame`).
        #[arg(long)]
        polars: bool,
    },
    /// Install the kernelspec "hoimat (Rust)".
    Install {
        /// Into the user's Jupyter folder (the default).
        #[arg(long, conflicts_with = "prefix")]
        user: bool,
        /// Into PREFIX/share/jupyter/kernels (e.g. a virtualenv).
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// The kernelspec's name (default: hoimat, or hoimat-polars with --polars).
        #[arg(long)]
        name: Option<String>,
        /// The flavour with the library's `polars` feature: "hoimat (Rust, polars)".
        #[arg(long)]
        polars: bool,
    },
    /// Compile the library into the kernel's build cache ahead of time.
    Warm {
        /// The `polars` flavour's cache.
        #[arg(long)]
        polars: bool,
        /// Bring this many cache slots up to date, one after another (for
        /// as many kernels at once; `./run reproduce` runs two).
        #[arg(long, default_value_t = 1)]
        slots: usize,
    },
    /// Time a warm start (the library loaded into a new session) and
    /// cells: trivial ones, one that calls the library, one repeated.
    Bench {
        /// Trivial cells to time.
        #[arg(long, default_value_t = 5)]
        cells: usize,
        /// The `polars` flavour.
        #[arg(long)]
        polars: bool,
        /// Warm the analysis first, as the kernel does while idle (timed apart).
        #[arg(long)]
        warm: bool,
    },
    /// Execute a notebook headlessly (papermill-style parameters).
    Run {
        notebook: PathBuf,
        /// NAME=VALUE, set in a cell injected after the `parameters` cell.
        #[arg(short = 'p', long = "parameter", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Output notebook (default: overwrite the input).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The polars flavour even if the notebook's kernelspec does not ask for it.
        #[arg(long)]
        polars: bool,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.trim().to_string(), v.to_string())).ok_or_else(|| format!("'{s}': expected NAME=VALUE"))
}

fn main() {
    // In evcxr's child process: route stdout through our marker copier,
    // then hand over to evcxr's runtime (which never returns there).
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        child::tee_stdout();
    }
    evcxr::runtime_hook();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("hoimat-kernel: error: {e:#}");
        std::process::exit(1);
    }
}

fn echo(e: session::Event) {
    match e {
        session::Event::Stdout(s) | session::Event::Stderr(s) => eprint!("{s}"),
        session::Event::Display(_) => eprintln!("[display]"),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Start { connection_file, polars } => {
            let text = std::fs::read_to_string(&connection_file).with_context(|| format!("{}: cannot read", connection_file.display()))?;
            let conn = serde_json::from_str(&text).with_context(|| format!("{}: not a Jupyter connection file", connection_file.display()))?;
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(server::serve(conn, polars))
        }
        Cmd::Install { user: _, prefix, name, polars } => {
            let name = name.unwrap_or_else(|| if polars { "hoimat-polars".into() } else { "hoimat".into() });
            let dir = kernelspec::install(prefix.as_deref(), &name, polars)?;
            println!("installed kernelspec '{name}' ({}) in {}", if polars { "hoimat (Rust, polars)" } else { "hoimat (Rust)" }, dir.display());
            Ok(())
        }
        Cmd::Warm { polars, slots } => {
            let t = Instant::now();
            eprintln!("hoimat-kernel: compiling hoimat into the kernel cache (the first time takes several minutes)");
            // Each session holds its slot until the end, so the next one
            // locks (and, if new, seeds from) another, idle one.
            let mut held = vec![];
            for _ in 0..slots.max(1) {
                let s = session::Session::start(polars, &mut echo)?;
                eprintln!("hoimat-kernel: {} ready", s.slot.display());
                held.push(s);
            }
            println!("kernel cache warm in {:.0} s: {}", t.elapsed().as_secs_f64(), held.iter().map(|s| s.slot.display().to_string()).collect::<Vec<_>>().join(", "));
            Ok(())
        }
        Cmd::Bench { cells, polars, warm } => bench(cells, polars, warm),
        Cmd::Run { notebook: path, params, output, polars } => {
            let mut nb = notebook::read(&path)?;
            notebook::inject(&mut nb, &params)?;
            let t = Instant::now();
            // The notebook's kernelspec names the flavour (the `hoimat-polars`
            // spec, or one installed under another name with `--polars`).
            let spec = &nb["metadata"]["kernelspec"];
            let polars = polars || spec["name"].as_str() == Some("hoimat-polars") || spec["display_name"].as_str().is_some_and(|d| d.contains("polars"));
            let mut s = session::Session::start(polars, &mut echo)?;
            eprintln!("[hoimat-kernel run] library loaded in {:.1} s", t.elapsed().as_secs_f64());
            let failed = notebook::execute(&mut nb, &mut s);
            let out = output.unwrap_or(path.clone());
            notebook::write(&nb, &out)?;
            match failed {
                Some(n) => anyhow::bail!("{}: code cell {n} failed (outputs written to {})", path.display(), out.display()),
                None => {
                    println!("{} -> {} in {:.1} s", path.display(), out.display(), t.elapsed().as_secs_f64());
                    Ok(())
                }
            }
        }
    }
}

/// evcxr's phases of the session's last cell, `name seconds, ...`.
fn phases(s: &session::Session) -> String {
    s.phases.iter().map(|(n, d)| format!("{n} {d:.2}")).collect::<Vec<_>>().join(", ")
}

/// `hoimat-kernel bench`: where a notebook user's seconds go.
fn bench(cells: usize, polars: bool, warm: bool) -> Result<()> {
    let t = Instant::now();
    let mut s = session::Session::start(polars, &mut |_| {})?;
    println!("start (library loaded into a new session): {:.2} s  [evcxr's own start {:.2}; preload cell: {}] in {}", t.elapsed().as_secs_f64(), s.evcxr_start, phases(&s), s.slot.display());
    if warm {
        let t = Instant::now();
        let n = s.warm_analysis()?;
        println!("analysis warm-up (what the kernel does while idle before its first cell): {:.2} s ({n} completions)", t.elapsed().as_secs_f64());
    }
    let mut time = |label: &str, code: &str| -> Result<f64> {
        let t = Instant::now();
        s.execute(code, &mut |_| {}).map_err(|e| anyhow::anyhow!("{label}: {}: {}", e.ename, e.evalue))?;
        let secs = t.elapsed().as_secs_f64();
        println!("{label}: {secs:.2} s  [{}]", phases(&s));
        Ok(secs)
    };
    let mut trivial = vec![];
    for i in 0..cells {
        trivial.push(time(&format!("trivial cell {i} (let x{i} = {i};)"), &format!("let x{i} = {i};"))?);
    }
    time("a cell calling the library (world::generate at smoke)", "let ds = world::generate(\"synvbhoi\", Profile::Smoke, 0)?; ds.clips.len()")?;
    time("the same code again", "let ds = world::generate(\"synvbhoi\", Profile::Smoke, 0)?; ds.clips.len()")?;
    trivial.sort_by(f64::total_cmp);
    println!("trivial cell median: {:.2} s over {}", trivial[trivial.len() / 2], trivial.len());
    Ok(())
}
