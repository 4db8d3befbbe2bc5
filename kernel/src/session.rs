//! One evcxr context with hoimat preloaded: the kernel's executor and the
//! headless notebook runner both drive cells through a `Session`.

use std::path::PathBuf;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::Receiver;
use evcxr::{CommandContext, Error as EvcxrError};
use serde_json::{Map, Value};

use crate::cache::{self, Slot};
use crate::child::{CELL_ERROR, CELL_PANIC};

/// Prefix of the display lines printed by `hoimat::display`.
const DISPLAY: &str = "KERNEL_DISPLAY ";

/// Something a cell produced, in the order it was produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Stdout(String),
    Stderr(String),
    /// A MIME bundle: `{"data": {...}, "metadata": {...}}`.
    Display(Value),
}

/// Why a cell failed, shaped like Jupyter's error output.
#[derive(Clone, Debug, PartialEq)]
pub struct CellError {
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

/// A finished cell: its final value (as MIME data) or its error.
pub type CellResult = std::result::Result<Option<Map<String, Value>>, CellError>;

/// Kills the process that runs cells (the interrupt): evcxr restarts it and
/// the kernel stays up; variables are lost, the loaded library is not.
#[derive(Clone, Default)]
pub struct Interrupter(Arc<Mutex<Option<Arc<Mutex<Child>>>>>);

impl Interrupter {
    pub fn interrupt(&self) -> bool {
        let Some(h) = self.0.lock().expect("interrupter").clone() else { return false };
        let mut child = h.lock().expect("child");
        child.kill().is_ok()
    }
    fn set(&self, h: Option<Arc<Mutex<Child>>>) {
        *self.0.lock().expect("interrupter") = h;
    }
}

/// The hoimat checkout the kernel was built from (or `$HOIMAT_ROOT`).
pub fn hoimat_root() -> PathBuf {
    std::env::var_os("HOIMAT_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// The toolchain folder holding `libstd-*.so` (`<sysroot>/lib/rustlib/<host>/lib`).
fn sysroot_lib() -> Option<PathBuf> {
    let out = std::process::Command::new("rustc").args(["--print", "sysroot"]).output().ok()?;
    let rustlib = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()).join("lib/rustlib");
    std::fs::read_dir(rustlib).ok()?.filter_map(|e| e.ok().map(|e| e.path().join("lib"))).find(|lib| {
        std::fs::read_dir(lib).map(|it| it.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))).unwrap_or(false)
    })
}

pub struct Session {
    ctx: CommandContext,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    interrupter: Interrupter,
    pub slot: PathBuf,
    /// evcxr's phases of the last successful cell (name, seconds), for `bench`.
    pub phases: Vec<(String, f64)>,
    /// Seconds evcxr took to start (before the preload), for `bench`.
    pub evcxr_start: f64,
    _slot: Slot,
}

impl Session {
    /// Start evcxr in a locked cache slot and preload hoimat
    /// (`use hoimat::prelude::*;`). Output of the preload goes to `sink`.
    pub fn start(polars: bool, sink: &mut dyn FnMut(Event)) -> Result<Session> {
        let root = hoimat_root().canonicalize().context("the hoimat checkout (set HOIMAT_ROOT)")?;
        // Each flavour has its own slots: a slot flipping features would
        // rebuild the library at every switch.
        let slot = if polars { cache::acquire(&cache::root().join("polars"), Some(&cache::root()))? } else { cache::acquire(&cache::root(), None)? };
        // SAFETY (edition 2021: safe): set before any thread of ours reads the environment.
        std::env::set_var("EVCXR_TMPDIR", &slot.dir);
        std::env::set_var("HOIMAT_KERNEL", "1");
        std::env::set_var("HOIMAT_ROOT", &root);
        // Our own evcxr config dir, so a user's evcxr.toml cannot change the build.
        let cfg = slot.dir.join("evcxr-config");
        std::fs::create_dir_all(&cfg)?;
        std::env::set_var("EVCXR_CONFIG_DIR", &cfg);
        // Cells link the standard library dynamically; their run path points
        // at it relative to cargo's deps folder, not to where evcxr loads
        // them from, so the child needs the toolchain's lib folder on the
        // loader path (read by the loader when the child starts).
        if let Some(lib) = sysroot_lib() {
            let old = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
            let mut paths: Vec<PathBuf> = std::env::split_paths(&old).collect();
            if !paths.contains(&lib) {
                paths.insert(0, lib);
                std::env::set_var("LD_LIBRARY_PATH", std::env::join_paths(paths)?);
            }
        }
        let t = std::time::Instant::now();
        let (ctx, outputs) = CommandContext::new().map_err(|e| anyhow::anyhow!("starting evcxr: {e}"))?;
        let evcxr_start = t.elapsed().as_secs_f64();
        // The workspace lock file keeps the library's dependency versions
        // identical to the ones the project was built and tested with.
        let lock = root.join("Cargo.lock");
        if lock.is_file() {
            std::fs::copy(&lock, slot.dir.join("Cargo.lock")).with_context(|| format!("copying {}", lock.display()))?;
        }
        let mut s = Session { ctx, stdout: outputs.stdout, stderr: outputs.stderr, interrupter: Interrupter::default(), slot: slot.dir.clone(), phases: vec![], evcxr_start, _slot: slot };
        // With `polars`, the library's `polars` feature (`Store::frame`) and
        // the polars crate itself, re-exported by hoimat (`use polars::prelude::*;`).
        let features = if polars { ", features = [\"polars\"]" } else { "" };
        let preload = format!(
            ":offline 1\n:dep hoimat = {{ path = {:?}, default-features = false{features} }}\nuse hoimat::prelude::*;",
            root.display().to_string()
        );
        if let Err(e) = s.execute(&preload, sink) {
            anyhow::bail!("preloading hoimat failed: {}\n{}", e.evalue, e.traceback.join("\n"));
        }
        // The kernel stays offline after the preload: `:dep` takes any crate
        // the local registry holds (set-up fetched every crate of the lock
        // file), resolved against the lock, so the library keeps exactly the
        // dependency versions it was built and tested with. Measured: with
        // `:offline 0`, adding a `:dep` made cargo re-resolve online and move
        // the library's own dependencies to newer patch releases (crc32fast
        // 1.5.4 -> 1.5.6), rebuilding them in the slot. A user who wants a
        // crate not yet downloaded runs `:offline 0` in a cell, knowingly.
        Ok(s)
    }

    /// Completions at `cursor` (in characters, as Jupyter counts): each
    /// match with its kind (function, class, module, ...), and the replaced
    /// range, also in characters.
    pub fn complete(&mut self, code: &str, cursor: usize) -> (Vec<(String, String)>, usize, usize) {
        let byte = byte_offset(code, cursor);
        let chars = |b: usize| code[..b.min(code.len())].chars().count();
        match self.ctx.completions(code, byte) {
            Ok(c) => (c.completions.into_iter().map(|x| (x.code, x.kind.to_string())).collect(), chars(c.start_offset), chars(c.end_offset)),
            Err(_) => (vec![], cursor, cursor),
        }
    }

    /// Hover documentation of the name before `cursor` (characters), as
    /// (plain text, HTML); None when rust-analyzer has none.
    pub fn inspect(&mut self, code: &str, cursor: usize) -> Option<(String, String)> {
        // Hover looks at the end of the code up to the cursor: extend it to
        // the end of the identifier the cursor is in.
        let mut byte = byte_offset(code, cursor);
        byte += code[byte..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(code.len() - byte);
        match self.ctx.hover_at(code, byte) {
            Ok((plain, html)) if plain != "No documentation found" && !plain.trim().is_empty() => Some((plain, html)),
            _ => None,
        }
    }

    /// Index the library for rust-analyzer ahead of the first cell.
    ///
    /// evcxr infers every cell's variable types with an in-process
    /// rust-analyzer; the first inference of a session parses and expands
    /// the whole dependency graph and the standard library (about 4 s on
    /// 2 cores, measured with `hoimat-kernel bench`: the kernel process on
    /// one core, no cargo or rustc running), and later cells reuse that
    /// index. A completion request at a method call walks the same index
    /// (every crate's items and trait impls) without compiling anything, so
    /// the kernel runs one while it waits for its first cell.
    /// Returns the number of completions offered (a u8's methods: many).
    pub fn warm_analysis(&mut self) -> Result<usize> {
        let code = "let hoimat_warm_up = 0u8;\nhoimat_warm_up.";
        let c = self.ctx.completions(code, code.len()).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(c.completions.len())
    }

    pub fn interrupter(&self) -> Interrupter {
        self.interrupter.clone()
    }

    /// Run one cell, streaming its output to `sink` while it runs.
    pub fn execute(&mut self, code: &str, sink: &mut dyn FnMut(Event)) -> CellResult {
        let result = self.execute_cell(code, sink);
        // Idle again: an interrupt now has nothing to stop, so it must not
        // kill the process that holds the session's variables.
        self.interrupter.set(None);
        result
    }

    fn execute_cell(&mut self, code: &str, sink: &mut dyn FnMut(Event)) -> CellResult {
        self.interrupter.set(Some(self.ctx.process_handle()));
        let (mut failed, mut panicked) = (false, false);
        let mut err = StderrLines::default();
        let stdout = self.stdout.clone();
        let stderr = self.stderr.clone();
        let ctx = &mut self.ctx;
        let result = std::thread::scope(|scope| {
            let run = scope.spawn(move || ctx.execute(code));
            // Drain both channels while the cell runs: evcxr waits for its
            // stdout channel to be empty before returning, so once the
            // thread has finished and the channel is empty, every line has
            // been handled here.
            loop {
                crossbeam_channel::select! {
                    recv(stdout) -> l => if let Ok(l) = l {
                        let was = failed;
                        on_stdout(l, sink, &mut failed, &mut panicked);
                        if failed && !was {
                            err.failed();
                        }
                    },
                    recv(stderr) -> l => if let Ok(l) = l { err.line(l, failed) },
                    default(Duration::from_millis(20)) => {}
                }
                err.flush(HOLD, sink);
                if run.is_finished() && stdout.is_empty() {
                    break;
                }
            }
            run.join().expect("evcxr thread")
        });
        // The panic message and a `?` error's text arrive on stderr, which
        // is not ordered with stdout: give them a moment.
        if failed || panicked {
            let until = Instant::now() + Duration::from_millis(300);
            while let Ok(l) = self.stderr.recv_deadline(until) {
                err.line(l, failed);
            }
        }
        while let Ok(l) = self.stderr.try_recv() {
            err.line(l, failed);
        }
        err.flush(Duration::ZERO, sink);
        let StderrLines { tail: stderr_tail, error: error_text, .. } = err;
        if let Ok(out) = &result {
            self.phases = out.phases.iter().map(|p| (p.name.clone(), p.duration.as_secs_f64())).collect();
        }
        match result {
            Ok(_) if panicked => {
                let msg = panic_message(&stderr_tail);
                Err(CellError { ename: "panic".into(), evalue: msg.clone(), traceback: vec![format!("the cell panicked: {msg}")] })
            }
            Ok(_) if failed => {
                // The error's own text; if none came after the marker, what the cell printed last.
                let source = if error_text.iter().any(|l| !l.trim().is_empty()) { &error_text } else { &stderr_tail };
                let text = source.iter().filter(|l| !l.trim().is_empty()).cloned().collect::<Vec<_>>();
                let evalue = text.last().cloned().unwrap_or_else(|| "the cell returned an error".into());
                Err(CellError { ename: "Error".into(), evalue, traceback: text })
            }
            Ok(out) => {
                // evcxr's own displays (EVCXR_BEGIN_CONTENT) and the final value.
                let mut data = Map::new();
                for (k, v) in out.content_by_mime_type {
                    data.insert(k, Value::String(v));
                }
                Ok((!data.is_empty()).then_some(data))
            }
            Err(EvcxrError::CompilationErrors(errors)) => {
                let traceback: Vec<String> = errors.iter().map(|e| e.rendered()).collect();
                let evalue = errors.first().map(|e| e.message()).unwrap_or_default();
                Err(CellError { ename: "CompileError".into(), evalue, traceback })
            }
            Err(EvcxrError::SubprocessTerminated(m)) => Err(CellError {
                ename: "Interrupted".into(),
                evalue: format!("the process running cells stopped ({m}); variables are lost, the library stays loaded"),
                traceback: vec![m],
            }),
            Err(e) => Err(CellError { ename: "EvcxrError".into(), evalue: e.to_string(), traceback: vec![e.to_string()] }),
        }
    }
}

/// The byte offset of character `chars` (the end when past it).
fn byte_offset(code: &str, chars: usize) -> usize {
    code.char_indices().nth(chars).map_or(code.len(), |(b, _)| b)
}

/// How long a stderr line waits before it is streamed (see [`StderrLines`]).
const HOLD: Duration = Duration::from_millis(300);

/// A cell's stderr. A `?` error's text is printed by evcxr on stderr just
/// before its marker on stdout, and the two pipes are not ordered, so
/// lines wait [`HOLD`] before they are streamed: when the marker comes, the
/// lines still waiting (and any after it) are the error's text and go into
/// the error output only. The frontend shows the error once, as IPython
/// shows a traceback (found in JupyterLab: it was also shown as stderr).
#[derive(Default)]
struct StderrLines {
    held: std::collections::VecDeque<(Instant, String)>,
    /// What was streamed.
    tail: Vec<String>,
    /// The error's text.
    error: Vec<String>,
}

impl StderrLines {
    fn line(&mut self, line: String, failed: bool) {
        if failed {
            self.error.push(line);
        } else {
            self.held.push_back((Instant::now(), line));
        }
    }

    /// The error marker arrived: what waits is the error's text.
    fn failed(&mut self) {
        self.error.extend(self.held.drain(..).map(|(_, l)| l));
    }

    /// Stream the lines that have waited `hold`.
    fn flush(&mut self, hold: Duration, sink: &mut dyn FnMut(Event)) {
        while self.held.front().is_some_and(|(t, _)| t.elapsed() >= hold) {
            let (_, line) = self.held.pop_front().expect("a held line");
            self.tail.push(line.clone());
            sink(Event::Stderr(line + "\n"));
        }
    }
}

fn on_stdout(line: String, sink: &mut dyn FnMut(Event), failed: &mut bool, panicked: &mut bool) {
    if line == CELL_ERROR {
        *failed = true;
    } else if line == CELL_PANIC {
        *panicked = true;
    } else if let Some(json) = line.strip_prefix(DISPLAY) {
        match serde_json::from_str::<Value>(json) {
            Ok(v) if v.get("data").is_some_and(Value::is_object) => sink(Event::Display(v)),
            _ => sink(Event::Stdout(line + "\n")),
        }
    } else {
        sink(Event::Stdout(line + "\n"));
    }
}

/// The message of the default panic hook's report ("... panicked at FILE:\nMSG").
pub fn panic_message(stderr: &[String]) -> String {
    match stderr.iter().rposition(|l| l.contains("panicked at")) {
        Some(i) => {
            let head = &stderr[i];
            let msg = stderr.get(i + 1).filter(|l| !l.starts_with("note:")).cloned().unwrap_or_default();
            // Older hooks print "panicked at 'MSG', FILE"; newer ones put MSG on the next line.
            if msg.is_empty() { head.clone() } else { msg }
        }
        None => "the cell panicked".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_lines_become_events_and_markers_flags() {
        let mut ev = vec![];
        let (mut f, mut p) = (false, false);
        let mut sink = |e| ev.push(e);
        on_stdout("hello".into(), &mut sink, &mut f, &mut p);
        on_stdout(format!("{DISPLAY}{{\"data\":{{\"text/html\":\"<b>x</b>\"}},\"metadata\":{{}}}}"), &mut sink, &mut f, &mut p);
        on_stdout(format!("{DISPLAY}not json"), &mut sink, &mut f, &mut p);
        on_stdout(CELL_PANIC.into(), &mut sink, &mut f, &mut p);
        assert!(p && !f);
        assert_eq!(ev[0], Event::Stdout("hello\n".into()));
        assert!(matches!(&ev[1], Event::Display(v) if v["data"]["text/html"] == "<b>x</b>"));
        assert_eq!(ev[2], Event::Stdout(format!("{DISPLAY}not json\n")));
        assert_eq!(ev.len(), 3);
    }

    #[test]
    fn panic_messages_are_found_in_the_hook_report() {
        let lines: Vec<String> = ["", "thread '<unnamed>' panicked at src/lib.rs:3:5:", "boom 42", "note: run with `RUST_BACKTRACE=1`"].iter().map(|s| s.to_string()).collect();
        assert_eq!(panic_message(&lines), "boom 42");
        assert_eq!(panic_message(&[]), "the cell panicked");
    }
}
