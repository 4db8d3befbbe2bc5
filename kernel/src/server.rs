//! The Jupyter wire protocol: shell, control, iopub (XPUB, with JEP 65's
//! welcome), stdin and heartbeat sockets over pure-Rust ZeroMQ. Cells run on
//! one executor thread that owns the evcxr session; the library preloads
//! there in the background while `kernel_info` is answered at once (a cold
//! compile outlasts Jupyter's start-up timeout).
//!
//! Robustness: a message that cannot be read on any channel (bad signature,
//! malformed or garbage frames) is logged to stderr and dropped, never
//! fatal; the heartbeat and control loops outlive errors; an interrupt
//! while no cell runs stops nothing (the session's variables stay).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use std::sync::{mpsc, Arc, Mutex};

use anyhow::Result;
use jupyter_protocol::{
    CodeMirrorMode, CommInfoReply, CompleteReply, ConnectionInfo, DisplayData, ErrorOutput, ExecuteInput, ExecuteReply, ExecuteResult, ExecutionCount, HistoryReply, InspectReply, InterruptReply,
    IoPubWelcome, IsCompleteReply, IsCompleteReplyStatus, JupyterMessage, JupyterMessageContent, KernelInfoReply, LanguageInfo, Media, MediaType, ReplyError, ReplyStatus, ShutdownReply, Status, StreamContent, UnknownMessage,
};
use jupyter_zmq_client::{
    create_kernel_control_connection, create_kernel_heartbeat_connection, create_kernel_iopub_xpub_connection, create_kernel_shell_connection, create_kernel_stdin_connection, SubscriptionEvent,
};
use serde_json::{Map, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::session::{CellError, CellResult, Event, Interrupter, Session};

/// What the executor sends back while a cell runs.
enum Exec {
    Event(Event),
    Done(CellResult),
}

enum Job {
    Execute(String, UnboundedSender<Exec>),
    /// Code, cursor (characters), where to send ((match, kind) pairs, start, end).
    Complete(String, usize, tokio::sync::oneshot::Sender<(Vec<(String, String)>, usize, usize)>),
    /// Code, cursor (characters), where to send (plain text, HTML) documentation.
    Inspect(String, usize, tokio::sync::oneshot::Sender<Option<(String, String)>>),
}

#[derive(Default)]
struct State {
    ready: AtomicBool,
    preload_error: Mutex<Option<String>>,
    interrupter: Mutex<Option<Interrupter>>,
}

pub fn kernel_info() -> KernelInfoReply {
    KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: "5.3".into(),
        implementation: "hoimat-kernel".into(),
        implementation_version: env!("CARGO_PKG_VERSION").into(),
        language_info: LanguageInfo {
            name: "Rust".into(),
            version: rustc_version(),
            mimetype: Some("text/rust".into()),
            file_extension: Some(".rs".into()),
            pygments_lexer: Some("rust".into()),
            codemirror_mode: Some(CodeMirrorMode::Simple("rust".into())),
            nbconvert_exporter: Some("rust".into()),
        },
        banner: "hoimat (Rust): evcxr with `use hoimat::prelude::*;` preloaded. All data are synthetic stand-ins.".into(),
        help_links: vec![],
        debugger: false,
        error: None,
    }
}

fn rustc_version() -> String {
    std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(String::from))
        .unwrap_or_else(|| "unknown".into())
}

/// The executor: preload, then run cells one at a time.
fn executor(jobs: mpsc::Receiver<Job>, state: Arc<State>, polars: bool) {
    let mut preload_log = String::new();
    let session = Session::start(polars, &mut |e| {
        if let Event::Stderr(s) | Event::Stdout(s) = e {
            preload_log.push_str(&s)
        }
    });
    let mut session = match session {
        Ok(s) => {
            *state.interrupter.lock().expect("state") = Some(s.interrupter());
            state.ready.store(true, Ordering::SeqCst);
            Some(s)
        }
        Err(e) => {
            *state.preload_error.lock().expect("state") = Some(format!("{e:#}\n{preload_log}"));
            state.ready.store(true, Ordering::SeqCst);
            None
        }
    };
    // With nothing queued yet, index the library for the analysis now, so
    // the user's first cell does not wait for it (Session::warm_analysis);
    // a request that is already waiting pays it in its own cell instead.
    let first = match jobs.try_recv() {
        Ok(job) => Some(job),
        Err(mpsc::TryRecvError::Empty) => {
            if let Some(s) = session.as_mut() {
                let t = std::time::Instant::now();
                match s.warm_analysis() {
                    Ok(n) => eprintln!("hoimat-kernel: analysis warmed up in {:.1} s ({n} completions)", t.elapsed().as_secs_f64()),
                    Err(e) => eprintln!("hoimat-kernel: analysis warm-up failed after {:.1} s: {e}", t.elapsed().as_secs_f64()),
                }
            }
            None
        }
        Err(mpsc::TryRecvError::Disconnected) => return,
    };
    for job in first.into_iter().chain(jobs) {
        let (code, tx) = match job {
            Job::Execute(code, tx) => (code, tx),
            Job::Complete(code, cursor, reply) => {
                let r = session.as_mut().map_or((vec![], cursor, cursor), |s| s.complete(&code, cursor));
                let _ = reply.send(r);
                continue;
            }
            Job::Inspect(code, cursor, reply) => {
                let _ = reply.send(session.as_mut().and_then(|s| s.inspect(&code, cursor)));
                continue;
            }
        };
        let result = match session.as_mut() {
            Some(s) => s.execute(&code, &mut |e| {
                let _ = tx.send(Exec::Event(e));
            }),
            None => {
                let msg = state.preload_error.lock().expect("state").clone().unwrap_or_default();
                Err(CellError { ename: "PreloadError".into(), evalue: "hoimat could not be loaded into the kernel; see the compiler output".into(), traceback: msg.lines().map(String::from).collect() })
            }
        };
        let _ = tx.send(Exec::Done(result));
    }
}

/// Log a message that could not be read, and back off a little when a
/// socket keeps failing (so a broken socket does not spin a core).
async fn dropped(channel: &str, e: &jupyter_zmq_client::RuntimeError, failures: &mut u64) {
    *failures += 1;
    eprintln!("hoimat-kernel: dropped an unreadable message on {channel}: {e}");
    tokio::time::sleep(Duration::from_millis((*failures).min(100))).await;
}

/// Send a shell reply; a client gone mid-cell is its own loss, not the kernel's end.
async fn send_reply(shell_tx: &mut jupyter_zmq_client::RouterSendConnection, reply: JupyterMessage) {
    if let Err(e) = shell_tx.send(reply).await {
        eprintln!("hoimat-kernel: could not send a shell reply: {e}");
    }
}

fn media(data: &Map<String, Value>) -> Media {
    serde_json::from_value(Value::Object(data.clone())).unwrap_or_default()
}

/// Serve one kernel on the sockets named by `conn` until shut down.
/// Serve one kernel; `polars`: the flavour with `Store::frame` (see `Session::start`).
pub async fn serve(conn: ConnectionInfo, polars: bool) -> Result<()> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let mut heartbeat = create_kernel_heartbeat_connection(&conn).await?;
    let (mut shell_tx, mut shell_rx) = create_kernel_shell_connection(&conn, &session_id).await?.split();
    let mut control = create_kernel_control_connection(&conn, &session_id).await?;
    let _stdin = create_kernel_stdin_connection(&conn, &session_id).await?;
    let mut iopub = create_kernel_iopub_xpub_connection(&conn, &session_id).await?;

    let state = Arc::new(State::default());
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    {
        let state = state.clone();
        std::thread::spawn(move || executor(jobs_rx, state, polars));
    }

    tokio::spawn(async move {
        let mut failures = 0;
        loop {
            match heartbeat.single_heartbeat().await {
                Ok(()) => failures = 0,
                Err(e) => dropped("heartbeat", &e, &mut failures).await,
            }
        }
    });

    // iopub: one task owns the socket; others publish through a channel.
    let (pub_tx, mut pub_rx) = unbounded_channel::<JupyterMessage>();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                m = pub_rx.recv() => match m {
                    Some(m) => { let _ = iopub.send(m).await; }
                    None => break,
                },
                s = iopub.recv_subscription() => {
                    if let Ok(SubscriptionEvent::Subscribe(topic)) = s {
                        let _ = iopub.send(IoPubWelcome::new(topic).into()).await;
                    }
                }
            }
        }
    });

    // control: interrupts and shutdown, answered even while a cell runs.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    {
        let state = state.clone();
        let stop_tx = stop_tx.clone();
        let pub_tx = pub_tx.clone();
        tokio::spawn(async move {
            let mut failures = 0;
            loop {
                let m = match control.read().await {
                    Ok(m) => {
                        failures = 0;
                        m
                    }
                    Err(e) => {
                        dropped("control", &e, &mut failures).await;
                        continue;
                    }
                };
                // Control requests report busy and idle like shell requests.
                let _ = pub_tx.send(Status::busy().as_child_of(&m));
                match &m.content {
                    JupyterMessageContent::KernelInfoRequest(_) => {
                        let _ = control.send(kernel_info().as_child_of(&m)).await;
                    }
                    JupyterMessageContent::InterruptRequest(_) => {
                        // Stops the running cell's process; a no-op while idle.
                        if let Some(i) = state.interrupter.lock().expect("state").as_ref() {
                            i.interrupt();
                        }
                        let _ = control.send(InterruptReply::new().as_child_of(&m)).await;
                    }
                    JupyterMessageContent::ShutdownRequest(r) => {
                        let _ = control.send(ShutdownReply { restart: r.restart, status: ReplyStatus::Ok, error: None }.as_child_of(&m)).await;
                        let _ = stop_tx.send(true);
                        // Even while a cell runs: stop its process, then us.
                        if let Some(i) = state.interrupter.lock().expect("state").as_ref() {
                            i.interrupt();
                        }
                        let _ = pub_tx.send(Status::idle().as_child_of(&m));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        std::process::exit(0);
                    }
                    _ => eprintln!("hoimat-kernel: ignored a {} on control", m.header.msg_type),
                }
                let _ = pub_tx.send(Status::idle().as_child_of(&m));
            }
        });
    }

    let mut count = ExecutionCount::new(0);
    let mut failures = 0;
    // Requests read while aborting after an error that are not executions.
    let mut pending: VecDeque<JupyterMessage> = VecDeque::new();
    loop {
        let m = match pending.pop_front() {
            Some(m) => m,
            None => tokio::select! {
                m = shell_rx.read() => match m {
                    Ok(m) => {
                        failures = 0;
                        m
                    }
                    Err(e) => {
                        dropped("shell", &e, &mut failures).await;
                        continue;
                    }
                },
                _ = stop_rx.changed() => break,
            },
        };
        let publish = |msg: JupyterMessage| {
            let _ = pub_tx.send(msg);
        };
        publish(Status::busy().as_child_of(&m));
        let mut abort = false;
        let reply: Option<JupyterMessage> = match &m.content {
            JupyterMessageContent::KernelInfoRequest(_) => Some(kernel_info().as_child_of(&m)),
            JupyterMessageContent::ExecuteRequest(req) => {
                // `silent` publishes nothing and forces no history; only a
                // cell stored in the history takes an execution count.
                let silent = req.silent;
                if req.store_history && !silent {
                    count.0 += 1;
                }
                let publish = |msg: JupyterMessage| {
                    if !silent {
                        publish(msg)
                    }
                };
                publish(ExecuteInput { code: req.code.clone(), execution_count: count }.as_child_of(&m));
                if !state.ready.load(Ordering::SeqCst) {
                    publish(StreamContent::stderr("hoimat: loading the library into this kernel (seconds once built; the first start on a machine compiles it, several minutes)...\n").as_child_of(&m));
                }
                let (tx, mut rx) = unbounded_channel();
                jobs_tx.send(Job::Execute(req.code.clone(), tx))?;
                let mut result = None;
                while let Some(x) = rx.recv().await {
                    match x {
                        Exec::Event(Event::Stdout(s)) => publish(StreamContent::stdout(&s).as_child_of(&m)),
                        Exec::Event(Event::Stderr(s)) => publish(StreamContent::stderr(&s).as_child_of(&m)),
                        Exec::Event(Event::Display(v)) => {
                            let mut d = DisplayData::new(media(v["data"].as_object().expect("checked")));
                            d.metadata = v.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
                            publish(d.as_child_of(&m));
                        }
                        Exec::Done(r) => {
                            result = Some(r);
                            break;
                        }
                    }
                }
                let result = result.unwrap_or_else(|| Err(CellError { ename: "KernelError".into(), evalue: "the executor stopped".into(), traceback: vec![] }));
                Some(match result {
                    Ok(value) => {
                        if let Some(data) = value {
                            publish(ExecuteResult::new(count, media(&data)).as_child_of(&m));
                        }
                        ExecuteReply { status: ReplyStatus::Ok, execution_count: count, payload: vec![], user_expressions: None, error: None }.as_child_of(&m)
                    }
                    Err(e) => {
                        publish(ErrorOutput { ename: e.ename.clone(), evalue: e.evalue.clone(), traceback: e.traceback.clone() }.as_child_of(&m));
                        // After this reply and its idle, as a frontend expects them in order.
                        abort = req.stop_on_error && !silent;
                        ExecuteReply {
                            status: ReplyStatus::Error,
                            execution_count: count,
                            payload: vec![],
                            user_expressions: None,
                            error: Some(Box::new(ReplyError { ename: e.ename, evalue: e.evalue, traceback: e.traceback })),
                        }
                        .as_child_of(&m)
                    }
                })
            }
            JupyterMessageContent::IsCompleteRequest(r) => {
                let (status, indent) = match crate::syntax::check(&r.code) {
                    crate::syntax::Completeness::Complete => (IsCompleteReplyStatus::Complete, String::new()),
                    crate::syntax::Completeness::Incomplete(indent) => (IsCompleteReplyStatus::Incomplete, indent),
                    crate::syntax::Completeness::Invalid => (IsCompleteReplyStatus::Invalid, String::new()),
                };
                Some(IsCompleteReply { status, indent }.as_child_of(&m))
            }
            JupyterMessageContent::CompleteRequest(r) => {
                // rust-analyzer's completions, once the library is loaded.
                let (matches, start, end) = if state.ready.load(Ordering::SeqCst) {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    jobs_tx.send(Job::Complete(r.code.clone(), r.cursor_pos, tx))?;
                    rx.await.unwrap_or((vec![], r.cursor_pos, r.cursor_pos))
                } else {
                    (vec![], r.cursor_pos, r.cursor_pos)
                };
                // The kinds as JupyterLab's (and VS Code's) typed completions read them.
                let types: Vec<Value> = matches.iter().map(|(text, kind)| serde_json::json!({"start": start, "end": end, "text": text, "type": kind})).collect();
                let mut metadata = Map::new();
                metadata.insert("_jupyter_types_experimental".into(), Value::Array(types));
                let matches = matches.into_iter().map(|(text, _)| text).collect();
                Some(CompleteReply { matches, cursor_start: start, cursor_end: end, metadata, status: ReplyStatus::Ok, error: None }.as_child_of(&m))
            }
            JupyterMessageContent::InspectRequest(r) => {
                // rust-analyzer's hover text for the name at the cursor.
                let doc = if state.ready.load(Ordering::SeqCst) {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    jobs_tx.send(Job::Inspect(r.code.clone(), r.cursor_pos, tx))?;
                    rx.await.ok().flatten()
                } else {
                    None
                };
                let (found, data) = match doc {
                    Some((plain, html)) => (true, Media::new(vec![MediaType::Plain(plain), MediaType::Html(html)])),
                    None => (false, Media::default()),
                };
                Some(InspectReply { found, data, metadata: Default::default(), status: ReplyStatus::Ok, error: None }.as_child_of(&m))
            }
            JupyterMessageContent::HistoryRequest(_) => Some(HistoryReply { history: vec![], status: ReplyStatus::Ok, error: None }.as_child_of(&m)),
            JupyterMessageContent::CommInfoRequest(_) => Some(CommInfoReply { status: ReplyStatus::Ok, comms: Default::default(), error: None }.as_child_of(&m)),
            JupyterMessageContent::ShutdownRequest(r) => {
                let _ = stop_tx.send(true);
                Some(ShutdownReply { restart: r.restart, status: ReplyStatus::Ok, error: None }.as_child_of(&m))
            }
            _ => None,
        };
        let mut sent_at = None;
        if let Some(r) = reply {
            sent_at = Some(r.header.date);
            send_reply(&mut shell_tx, r).await;
        }
        publish(Status::idle().as_child_of(&m));
        if let (true, Some(sent_at)) = (abort, sent_at) {
            abort_queued(&mut shell_rx, &mut shell_tx, &pub_tx, &mut pending, sent_at).await;
        }
        if *stop_rx.borrow() {
            break;
        }
    }
    // Let iopub flush, then stop the cell process with us.
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Some(i) = state.interrupter.lock().expect("state").as_ref() {
        i.interrupt();
    }
    Ok(())
}

/// After a failed cell with `stop_on_error`, the execute requests queued
/// behind it are answered `aborted` without running, as a notebook's "run
/// all" expects: nothing after the error runs. Queued means read within
/// 20 ms of the error's reply and sent (by the header's date) before it: a
/// request a client sends after seeing the error runs. Other requests read
/// meanwhile are kept for the main loop, in order.
async fn abort_queued(
    shell_rx: &mut jupyter_zmq_client::RouterRecvConnection,
    shell_tx: &mut jupyter_zmq_client::RouterSendConnection,
    pub_tx: &UnboundedSender<JupyterMessage>,
    pending: &mut VecDeque<JupyterMessage>,
    error_sent: chrono::DateTime<chrono::Utc>,
) {
    let until = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut failures = 0;
    loop {
        let m = match tokio::time::timeout_at(until, shell_rx.read()).await {
            Err(_) => return,
            Ok(Err(e)) => {
                dropped("shell", &e, &mut failures).await;
                continue;
            }
            Ok(Ok(m)) => m,
        };
        if !matches!(m.content, JupyterMessageContent::ExecuteRequest(_)) || m.header.date > error_sent {
            pending.push_back(m);
            continue;
        }
        let _ = pub_tx.send(Status::busy().as_child_of(&m));
        // No execution count, as ipykernel: the cell did not run, and
        // JupyterLab shows a count it is given (found by the browser test).
        let reply = UnknownMessage { msg_type: "execute_reply".into(), content: serde_json::json!({ "status": "aborted" }) };
        send_reply(shell_tx, reply.as_child_of(&m)).await;
        let _ = pub_tx.send(Status::idle().as_child_of(&m));
    }
}
