//! The kernel driven like a user would: over the real wire protocol with
//! jupyter-zmq-client's client side, and from Python's jupyter_client and
//! nbclient (the kernelspec installed into a scratch prefix). One kernel at
//! a time (they share the build cache), after one `warm`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use jupyter_protocol::{
    CompleteRequest, ConnectionInfo, ExecuteRequest, InterruptRequest, JupyterMessage, JupyterMessageContent, KernelInfoRequest, MediaType, ReplyStatus, ShutdownRequest, Stdio as Std, Transport,
};
use jupyter_zmq_client::{
    create_client_control_connection, create_client_iopub_connection, create_client_shell_connection_with_identity, peek_ports, peer_identity_for_session, wait_for_iopub_welcome,
    ClientControlConnection, ClientIoPubConnection, ClientShellConnection,
};

const EXE: &str = env!("CARGO_BIN_EXE_hoimat-kernel");
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
static WARM: Once = Once::new();

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-kernel-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn warm() {
    WARM.call_once(|| {
        let t = Instant::now();
        let out = Command::new(EXE).arg("warm").output().unwrap();
        assert!(out.status.success(), "warm failed:\n{}", String::from_utf8_lossy(&out.stderr));
        eprintln!("kernel warm in {:.0} s", t.elapsed().as_secs_f64());
    });
}

/// What one execute request produced.
#[derive(Debug, Default)]
struct Outputs {
    stdout: String,
    stderr: String,
    /// MIME types of each display, in order.
    displays: Vec<Vec<String>>,
    error: Option<(String, String)>,
    traceback: String,
    status: Option<ReplyStatus>,
}

struct Client {
    shell: ClientShellConnection,
    iopub: ClientIoPubConnection,
    control: ClientControlConnection,
    kernel: Child,
}

impl Client {
    async fn start(results: &Path) -> Client {
        Client::start_with(results, &[]).await
    }

    async fn start_with(results: &Path, env: &[(&str, &Path)]) -> Client {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let ports = peek_ports(ip, 5).await.unwrap();
        let conn = ConnectionInfo {
            ip: ip.to_string(),
            transport: Transport::TCP,
            shell_port: ports[0],
            iopub_port: ports[1],
            stdin_port: ports[2],
            control_port: ports[3],
            hb_port: ports[4],
            key: uuid::Uuid::new_v4().to_string(),
            signature_scheme: "hmac-sha256".into(),
            kernel_name: Some("hoimat".into()),
        };
        let file = results.join("connection.json");
        std::fs::write(&file, serde_json::to_string(&conn).unwrap()).unwrap();
        let mut cmd = Command::new(EXE);
        // The kernel's log, read by tests that wait for a state of the kernel.
        let log = std::fs::File::create(results.join("kernel.log")).unwrap();
        cmd.args(["start", "--connection-file"]).arg(&file).env("HOIMAT_RESULTS", results).stdout(Stdio::null()).stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let kernel = cmd.spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let session = uuid::Uuid::new_v4().to_string();
        let shell = create_client_shell_connection_with_identity(&conn, &session, peer_identity_for_session(&session).unwrap()).await.unwrap();
        let mut iopub = create_client_iopub_connection(&conn, "", &session).await.unwrap();
        let control = create_client_control_connection(&conn, &session).await.unwrap();
        let _ = wait_for_iopub_welcome(&mut iopub, Duration::from_secs(5)).await;
        Client { shell, iopub, control, kernel }
    }

    /// Send a request and collect its iopub output until the kernel is idle.
    async fn execute(&mut self, code: &str) -> Outputs {
        let req: JupyterMessage = ExecuteRequest::new(code.to_string()).into();
        let id = req.header.msg_id.clone();
        self.shell.send(req).await.unwrap();
        self.collect(&id, Duration::from_secs(900)).await
    }

    async fn collect(&mut self, id: &str, limit: Duration) -> Outputs {
        let mut out = Outputs::default();
        let deadline = Instant::now() + limit;
        loop {
            let m = tokio::time::timeout(deadline - Instant::now(), self.iopub.read()).await.expect("iopub timed out").unwrap();
            if m.parent_header.as_ref().map(|h| h.msg_id.as_str()) != Some(id) {
                continue;
            }
            match m.content {
                JupyterMessageContent::StreamContent(s) if matches!(s.name, Std::Stdout) => out.stdout.push_str(&s.text),
                JupyterMessageContent::StreamContent(s) => out.stderr.push_str(&s.text),
                JupyterMessageContent::DisplayData(d) => out.displays.push(d.data.content.iter().map(mime).collect()),
                JupyterMessageContent::ErrorOutput(e) => {
                    out.traceback = e.traceback.join("\n");
                    out.error = Some((e.ename, e.evalue));
                }
                JupyterMessageContent::Status(s) if format!("{:?}", s.execution_state).to_lowercase().contains("idle") => break,
                _ => {}
            }
        }
        let reply = tokio::time::timeout(Duration::from_secs(10), self.shell.read()).await.expect("shell reply").unwrap();
        if let JupyterMessageContent::ExecuteReply(r) = reply.content {
            out.status = Some(r.status);
        }
        out
    }
}

fn mime(m: &MediaType) -> String {
    serde_json::to_value(m).ok().and_then(|v| v["type"].as_str().map(String::from)).unwrap_or_else(|| "?".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_over_the_wire_protocol() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    warm();
    let dir = scratch("wire");
    let mut c = Client::start(&dir).await;

    // kernel_info comes at once (before any cell), with Rust's language info.
    let t = Instant::now();
    let req: JupyterMessage = KernelInfoRequest {}.into();
    c.shell.send(req).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(20), c.shell.read()).await.expect("kernel_info in time").unwrap();
    match reply.content {
        JupyterMessageContent::KernelInfoReply(k) => {
            assert_eq!(k.language_info.name, "Rust");
            assert_eq!(k.language_info.file_extension.as_deref(), Some(".rs"));
        }
        other => panic!("expected kernel_info_reply, got {other:?}"),
    }
    eprintln!("kernel_info after {:.2} s", t.elapsed().as_secs_f64());

    // Idle after the preload, the kernel warms the analysis (a completion
    // request, not a cell): nothing of it may reach the session.
    let log = dir.join("kernel.log");
    let t = Instant::now();
    let warmed = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("analysis warm")) {
            break line.to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(600), "no warm-up in the kernel's log:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The completion request really ran: a u8 has dozens of methods.
    let offered: usize = warmed.split('(').nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(warmed.contains("warmed up in") && offered > 20, "{warmed}");
    let o = c.execute("hoimat_warm_up").await;
    assert_eq!(o.status, Some(ReplyStatus::Error), "{o:?}");
    assert!(o.error.as_ref().is_some_and(|(n, v)| n == "CompileError" && v.contains("hoimat_warm_up")), "{o:?}");

    // The prelude is there: no `:dep` needed.
    let o = c.execute("let ds = world::generate(\"synvbhoi\", Profile::Smoke, 0)?;\nprintln!(\"clips={}\", ds.clips.len());").await;
    assert_eq!(o.status, Some(ReplyStatus::Ok), "{o:?}");
    assert!(o.stdout.contains("clips="), "{o:?}");

    // Completions come from rust-analyzer, offsets in characters.
    let code = "let v: Vec<u8> = Vec::with_capa";
    let req: JupyterMessage = CompleteRequest { code: code.into(), cursor_pos: code.chars().count() }.into();
    let t = Instant::now();
    c.shell.send(req).await.unwrap();
    let reply = loop {
        let r = tokio::time::timeout(Duration::from_secs(120), c.shell.read()).await.expect("complete reply").unwrap();
        if let JupyterMessageContent::CompleteReply(r) = r.content {
            break r;
        }
    };
    eprintln!("completion in {:.1} s: {:?}", t.elapsed().as_secs_f64(), &reply.matches[..reply.matches.len().min(5)]);
    assert!(reply.matches.iter().any(|m| m.starts_with("with_capacity")), "{:?}", reply.matches);
    assert_eq!(reply.cursor_end, code.chars().count());
    assert_eq!(reply.cursor_start, code.chars().count() - "with_capa".len());

    // Several displays in one cell, in order, with the cell's text between.
    let o = c
        .execute(
            "display::html(\"<b>first</b>\");\nprintln!(\"between\");\n\
             display::chart(&plot::Bars { labels: plot::Labels::new(\"t\", \"\", \"y\"), bars: vec![plot::bars::Bar { label: \"a\".into(), mean: 1.0, std: 0.1 }] })?;",
        )
        .await;
    assert_eq!(o.status, Some(ReplyStatus::Ok), "{o:?}");
    assert_eq!(o.displays.len(), 2, "{o:?}");
    assert!(o.displays[0].contains(&"text/html".to_string()));
    assert!(o.displays[1].contains(&"image/png".to_string()) && o.displays[1].contains(&"image/svg+xml".to_string()));
    assert!(o.stdout.contains("between"));

    // A panic is an error; the next cell runs and earlier variables survive.
    let o = c.execute("panic!(\"boom {}\", 42);").await;
    assert_eq!(o.status, Some(ReplyStatus::Error), "{o:?}");
    let (ename, evalue) = o.error.clone().expect("an error output");
    assert_eq!(ename, "panic");
    assert!(evalue.contains("boom 42"), "{evalue}");
    let o = c.execute("println!(\"still {}\", ds.clips.len());").await;
    assert_eq!(o.status, Some(ReplyStatus::Ok), "{o:?}");
    assert!(o.stdout.contains("still"));

    // `?` on an error is an error too (evcxr alone reports it as success).
    let o = c.execute("let lab = Lab::open(\"nope\")?;").await;
    assert_eq!(o.status, Some(ReplyStatus::Error), "{o:?}");
    let (_, evalue) = o.error.clone().expect("an error output");
    assert!(evalue.contains("nope"), "{evalue}");
    // Shown once, as the error (found in JupyterLab: it was also on stderr).
    assert!(!o.stderr.contains("nope"), "{o:?}");

    // `:dep` beyond the preload: a crate hoimat does not depend on (the
    // kernel's own, so set-up fetched it), offline from the local registry.
    let o = c.execute(":dep uuid = { version = \"1\", default-features = false }\nprintln!(\"uuid {}\", uuid::Uuid::nil());").await;
    assert_eq!(o.status, Some(ReplyStatus::Ok), "{o:?}");
    assert!(o.stdout.contains("uuid 00000000-0000-0000-0000-000000000000"), "{o:?}");

    // A compile error comes back readable.
    let o = c.execute("let x: u32 = \"text\";").await;
    assert_eq!(o.status, Some(ReplyStatus::Error));
    let (ename, evalue) = o.error.unwrap();
    assert_eq!(ename, "CompileError");
    assert!(evalue.contains("mismatched types"), "{evalue}");

    // Interrupt a long cell over the control channel; the kernel stays up.
    let req: JupyterMessage = ExecuteRequest::new("std::thread::sleep(std::time::Duration::from_secs(120));".into()).into();
    let id = req.header.msg_id.clone();
    c.shell.send(req).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let t = Instant::now();
    c.control.send(InterruptRequest {}.into()).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), c.control.read()).await.expect("interrupt reply").unwrap();
    assert!(matches!(r.content, JupyterMessageContent::InterruptReply(_)), "{:?}", r.content);
    let o = c.collect(&id, Duration::from_secs(60)).await;
    assert_eq!(o.status, Some(ReplyStatus::Error), "{o:?}");
    assert!(t.elapsed() < Duration::from_secs(30), "interrupt took {:?}", t.elapsed());
    let o = c.execute("println!(\"alive\");").await;
    assert_eq!(o.status, Some(ReplyStatus::Ok), "{o:?}");

    // Shutdown over control: a reply, then the process exits.
    c.control.send(ShutdownRequest { restart: false }.into()).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), c.control.read()).await.expect("shutdown reply").unwrap();
    assert!(matches!(r.content, JupyterMessageContent::ShutdownReply(_)));
    let t = Instant::now();
    loop {
        if c.kernel.try_wait().unwrap().is_some() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "kernel did not exit after shutdown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_preload_answers_every_cell_with_the_compiler_output() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A "hoimat" that does not compile, in a cache of its own (tiny, so cold is quick).
    let dir = scratch("broken");
    let root = dir.join("broken-hoimat");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"hoimat\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n").unwrap();
    std::fs::write(root.join("src/lib.rs"), "pub mod prelude { pub fn broken() -> u32 { \"not a number\" } }\n").unwrap();
    let mut c = Client::start_with(&dir, &[("HOIMAT_ROOT", &root), ("HOIMAT_KERNEL_CACHE", &dir.join("cache"))]).await;
    for _ in 0..2 {
        let o = c.execute("println!(\"never\");").await;
        assert_eq!(o.status, Some(ReplyStatus::Error), "{o:?}");
        let (ename, _) = o.error.clone().unwrap();
        assert_eq!(ename, "PreloadError");
        assert!(o.traceback.contains("mismatched types"), "the compiler's message reaches the user: {}", o.traceback);
        assert!(!o.stdout.contains("never"));
    }
    // The kernel stays up and still answers.
    let req: JupyterMessage = KernelInfoRequest {}.into();
    c.shell.send(req).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(20), c.shell.read()).await.is_ok());
    let _ = c.kernel.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Install the kernelspec into `<dir>/prefix`, then run the Python check
/// `tests/<script>` with `args` against it (results under `<dir>/results`),
/// its output in a file: a kernel a failed check leaves behind would hold
/// pipes open and hang the test. The check must pass; its output is echoed
/// (the lines `keep` keeps).
fn python_check(dir: &Path, script: &str, args: &[&std::ffi::OsStr], keep: impl Fn(&str) -> bool) {
    let prefix = dir.join("prefix");
    let out = Command::new(EXE).args(["install", "--prefix"]).arg(&prefix).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(prefix.join("share/jupyter/kernels/hoimat/kernel.json").is_file());
    let log = dir.join("python.log");
    let f = std::fs::File::create(&log).unwrap();
    let status = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(script))
        .args(args)
        .env("JUPYTER_PATH", prefix.join("share/jupyter"))
        .env("HOIMAT_RESULTS", dir.join("results"))
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("{}", text.lines().filter(|l| keep(l)).collect::<Vec<_>>().join("\n"));
    assert!(status.success(), "{script} failed:\n{text}");
}

#[test]
fn jupyter_client_and_nbclient_drive_the_installed_kernel() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    warm();
    let dir = scratch("py");
    let notebook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notebooks/fig6.ipynb");
    let executed = dir.join("executed.ipynb");
    python_check(&dir, "jupyter_client_check.py", &[notebook.as_os_str(), executed.as_os_str()], |_| true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// JupyterLab from .venv in headless Chromium (Debian's chromium and
/// chromedriver, driven by Selenium): `table2.ipynb`, parameterized to
/// smoke by papermill, opened on the hoimat kernel, Run All Cells from the
/// menu; the HTML table and an image must show and no cell fail. The
/// screenshot stays in `target/tmp/browser/` (see `browser_check.py`).
#[test]
fn jupyterlab_in_a_real_browser_runs_table2() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    warm();
    let dir = scratch("browser");
    let notebook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notebooks/table2.ipynb");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    python_check(&dir, "browser_check.py", &[notebook.as_os_str(), out.as_os_str()], |_| true);
    let shot = out.join("table2_jupyterlab.png");
    // A PNG (signature, then IHDR's width and height) of the whole window.
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", shot.display());
    let (w, h) = (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert!(w >= 1200 && h >= 900, "{w}x{h}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Forged signatures, garbage frames and idle interrupts (repeated: the
/// failures were racy), silent and store_history, stop_on_error, control
/// busy/idle, is_complete, inspect and typed completions, over the wire
/// from Python's jupyter_client (see `robustness_check.py`).
#[test]
fn the_kernel_keeps_jupyters_promises_over_the_wire() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    warm();
    let dir = scratch("robust");
    python_check(&dir, "robustness_check.py", &["5".as_ref()], |l| !l.contains("dropped an unreadable"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `notebooks/frames.ipynb` names the `hoimat-polars` kernelspec, so
/// `run` preloads the library with its `polars` feature (the seeding of its
/// cache slots is `cache.rs`'s unit test); its per-method means from
/// `Store::frame` must equal pandas' on the same Parquet table.
#[test]
fn the_polars_flavour_runs_the_frames_notebook() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    warm();
    let dir = scratch("frames");
    let nb = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notebooks/frames.ipynb");
    let out = dir.join("frames.ipynb");
    let results = dir.join("results");
    let o = Command::new(EXE).arg("run").arg(&nb).args(["-p", "profile=smoke", "-o"]).arg(&out).env("HOIMAT_RESULTS", &results).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let done: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let text: String = done["cells"].as_array().unwrap().iter().flat_map(|c| c["outputs"].as_array().cloned().unwrap_or_default()).filter_map(|o| o["text"].as_str().map(String::from)).collect();
    assert!(text.contains("rows x") && text.contains("mIoU rows on synthetic synvbhoi"), "{text}");
    let line = text.lines().find(|l| l.starts_with("rvm ") && l.contains("mean mIoU")).unwrap_or_else(|| panic!("no rvm line in {text}"));
    let ours: f64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    let code = "import sys, pandas as pd\n\
                d = pd.read_parquet(sys.argv[1])\n\
                d = d[(d.metric == 'miou') & (d.dataset == 'synvbhoi') & (d.method == 'rvm')]\n\
                print(f'{d.value.mean():.4f}')";
    let py = Command::new(python()).arg("-c").arg(code).arg(results.join("smoke/store/table2.parquet")).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let theirs: f64 = String::from_utf8_lossy(&py.stdout).trim().parse().unwrap();
    assert_eq!(ours, theirs, "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn headless_run_injects_parameters_and_fails_on_a_failing_cell() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    warm();
    let dir = scratch("run");
    let nb = serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [
            { "cell_type": "code", "metadata": { "tags": ["parameters"] }, "outputs": [], "execution_count": null, "source": "let n = 1;" },
            { "cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null, "source": "println!(\"n={}\", n);\ndisplay::html(\"<i>x</i>\");" },
            { "cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null, "source": "if n > 2 { panic!(\"too big\"); }" },
        ]
    });
    let input = dir.join("in.ipynb");
    std::fs::write(&input, nb.to_string()).unwrap();
    let ok = dir.join("ok.ipynb");
    let s = Command::new(EXE).args(["run"]).arg(&input).args(["-p", "n=2", "-o"]).arg(&ok).status().unwrap();
    assert!(s.success());
    let done: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ok).unwrap()).unwrap();
    let cells = done["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4, "an injected-parameters cell follows the parameters cell");
    assert_eq!(cells[1]["metadata"]["tags"][0], "injected-parameters");
    let outs = cells[2]["outputs"].as_array().unwrap();
    assert_eq!(outs[0]["text"], "n=2\n");
    assert_eq!(outs[1]["data"]["text/html"], "<i>x</i>");
    let bad = dir.join("bad.ipynb");
    let s = Command::new(EXE).args(["run"]).arg(&input).args(["-p", "n=3", "-o"]).arg(&bad).status().unwrap();
    assert!(!s.success(), "a failing cell makes the run fail");
    let failed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&bad).unwrap()).unwrap();
    assert_eq!(failed["cells"][3]["outputs"].as_array().unwrap().last().unwrap()["output_type"], "error");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `./run notebooks` (reproduce's notebook stage) runs a folder's notebooks
/// two at a time: each reported, a failing one fails the stage without
/// stopping the others, the outputs written, the logs gathered in order.
#[test]
fn run_notebooks_two_at_a_time() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    warm();
    let dir = scratch("notebooks");
    let nbs = dir.join("nbs");
    std::fs::create_dir_all(&nbs).unwrap();
    // Each notebook notes when its cell ran (4 s), so the test can see two
    // at once and never three.
    let timed = |name: &str, end: &str| {
        format!(
            "fn now() -> f64 {{ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() }}\nlet t0 = now();\nstd::thread::sleep(std::time::Duration::from_secs(4));\nprintln!(\"{name} ran at {{}} from {{}} to {{}}\", profile, t0, now());\n{end}"
        )
    };
    for (name, body) in [("a", timed("a", "")), ("b", timed("b", "panic!(\"b fails\");")), ("c", timed("c", ""))] {
        let nb = serde_json::json!({
            "nbformat": 4, "nbformat_minor": 5, "metadata": { "kernelspec": { "name": "hoimat", "display_name": "hoimat (Rust)", "language": "rust" } },
            "cells": [
                { "cell_type": "code", "metadata": { "tags": ["parameters"] }, "outputs": [], "execution_count": null, "source": "let profile = \"quick\";" },
                { "cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null, "source": body },
            ]
        });
        std::fs::write(nbs.join(format!("{name}.ipynb")), nb.to_string()).unwrap();
    }
    let results = dir.join("results");
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("../run");
    let out = Command::new("bash").arg(&run).args(["notebooks", "--profile", "smoke", "--results"]).arg(&results).env("HOIMAT_NOTEBOOKS", &nbs).env("HOIMAT_NOTEBOOK_JOBS", "2").output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "a failing notebook fails the stage:\n{said}");
    for line in ["a.ipynb: ok", "b.ipynb: FAILED", "c.ipynb: ok", "(2 at a time)"] {
        assert!(said.contains(line), "missing {line:?} in:\n{said}");
    }
    let span = |name: &str| -> (f64, f64) {
        let text = std::fs::read_to_string(results.join(format!("notebooks/{name}.ipynb"))).unwrap();
        let at = text.find(&format!("{name} ran at smoke from ")).unwrap_or_else(|| panic!("{name}: no timing in {text}"));
        let words: Vec<&str> = text[at..].split_whitespace().collect();
        (words[5].parse().unwrap(), words[7].trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap())
    };
    let (a, b, c) = (span("a"), span("b"), span("c"));
    assert!(a.0 < b.1 && b.0 < a.1, "a {a:?} and b {b:?} ran one after the other");
    assert!(c.0 >= a.1.min(b.1) - 0.5, "c {c:?} started before a {a:?} or b {b:?} ended: three at once");
    let log = std::fs::read_to_string(results.join("notebooks/run.log")).unwrap();
    let at = |s: &str| log.find(s).unwrap_or_else(|| panic!("{s} not in run.log:\n{log}"));
    assert!(at("== a.ipynb") < at("== b.ipynb") && at("== b.ipynb") < at("== c.ipynb"), "{log}");
    assert!(log.contains("b fails"), "{log}");
    assert!(!results.join("notebooks/logs").exists(), "per-notebook logs gathered and removed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The papermill translator's own tests (Python, hand-written Rust text as
/// expected values), so `./run test` runs them with everything else.
#[test]
fn papermill_translator_unit_tests() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("papermill-hoimat/tests");
    let out = Command::new(python()).args(["-m", "unittest", "discover", "-s"]).arg(&tests).output().unwrap();
    assert!(out.status.success(), "papermill-hoimat tests failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
