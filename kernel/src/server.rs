//! The Jupyter wire protocol: shell, control, iopub (XPUB, with JEP 65's
//! welcome), stdin and heartbeat sockets over pure-Rust ZeroMQ. Cells run on
//! one executor thread that owns the evcxr session; the library preloads
//! there in the background while `kernel_info` is answered at once (a cold
//! compile outlasts Jupyter's start-up timeout).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::Result;
use jupyter_protocol::{
    CodeMirrorMode, CommInfoReply, CompleteReply, ConnectionInfo, DisplayData, ErrorOutput, ExecuteInput, ExecuteReply, ExecuteResult, ExecutionCount, HistoryReply, InspectReply, InterruptReply,
    IoPubWelcome, IsCompleteReply, IsCompleteReplyStatus, JupyterMessage, JupyterMessageContent, KernelInfoReply, LanguageInfo, Media, ReplyError, ReplyStatus, ShutdownReply, Status, StreamContent,
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
    /// Code, cursor (characters), where to send (matches, start, end).
    Complete(String, usize, tokio::sync::oneshot::Sender<(Vec<String>, usize, usize)>),
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
fn executor(jobs: mpsc::Receiver<Job>, state: Arc<State>) {
    let mut preload_log = String::new();
    let session = Session::start(&mut |e| {
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
    for job in jobs {
        let (code, tx) = match job {
            Job::Execute(code, tx) => (code, tx),
            Job::Complete(code, cursor, reply) => {
                let r = session.as_mut().map_or((vec![], cursor, cursor), |s| s.complete(&code, cursor));
                let _ = reply.send(r);
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

fn media(data: &Map<String, Value>) -> Media {
    serde_json::from_value(Value::Object(data.clone())).unwrap_or_default()
}

/// Serve one kernel on the sockets named by `conn` until shut down.
pub async fn serve(conn: ConnectionInfo) -> Result<()> {
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
        std::thread::spawn(move || executor(jobs_rx, state));
    }

    tokio::spawn(async move { while heartbeat.single_heartbeat().await.is_ok() {} });

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
        tokio::spawn(async move {
            while let Ok(m) = control.read().await {
                match &m.content {
                    JupyterMessageContent::KernelInfoRequest(_) => {
                        let _ = control.send(kernel_info().as_child_of(&m)).await;
                    }
                    JupyterMessageContent::InterruptRequest(_) => {
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
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        std::process::exit(0);
                    }
                    _ => {}
                }
            }
        });
    }

    let mut count = ExecutionCount::new(0);
    loop {
        let m = tokio::select! {
            m = shell_rx.read() => m?,
            _ = stop_rx.changed() => break,
        };
        let publish = |msg: JupyterMessage| {
            let _ = pub_tx.send(msg);
        };
        publish(Status::busy().as_child_of(&m));
        let reply: Option<JupyterMessage> = match &m.content {
            JupyterMessageContent::KernelInfoRequest(_) => Some(kernel_info().as_child_of(&m)),
            JupyterMessageContent::ExecuteRequest(req) => {
                if !req.silent {
                    count.0 += 1;
                }
                publish(ExecuteInput { code: req.code.clone(), execution_count: count }.as_child_of(&m));
                if !state.ready.load(Ordering::SeqCst) {
                    publish(StreamContent::stderr("hoimat: the library is still compiling for this kernel (the first start on a machine takes several minutes; later starts take seconds)...\n").as_child_of(&m));
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
            JupyterMessageContent::IsCompleteRequest(_) => Some(IsCompleteReply { status: IsCompleteReplyStatus::Complete, indent: String::new() }.as_child_of(&m)),
            JupyterMessageContent::CompleteRequest(r) => {
                // rust-analyzer's completions, once the library is loaded.
                let (matches, start, end) = if state.ready.load(Ordering::SeqCst) {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    jobs_tx.send(Job::Complete(r.code.clone(), r.cursor_pos, tx))?;
                    rx.await.unwrap_or((vec![], r.cursor_pos, r.cursor_pos))
                } else {
                    (vec![], r.cursor_pos, r.cursor_pos)
                };
                Some(CompleteReply { matches, cursor_start: start, cursor_end: end, metadata: Default::default(), status: ReplyStatus::Ok, error: None }.as_child_of(&m))
            }
            JupyterMessageContent::InspectRequest(_) => Some(InspectReply { found: false, data: Media::default(), metadata: Default::default(), status: ReplyStatus::Ok, error: None }.as_child_of(&m)),
            JupyterMessageContent::HistoryRequest(_) => Some(HistoryReply { history: vec![], status: ReplyStatus::Ok, error: None }.as_child_of(&m)),
            JupyterMessageContent::CommInfoRequest(_) => Some(CommInfoReply { status: ReplyStatus::Ok, comms: Default::default(), error: None }.as_child_of(&m)),
            JupyterMessageContent::ShutdownRequest(r) => {
                let _ = stop_tx.send(true);
                Some(ShutdownReply { restart: r.restart, status: ReplyStatus::Ok, error: None }.as_child_of(&m))
            }
            _ => None,
        };
        if let Some(r) = reply {
            shell_tx.send(r).await?;
        }
        publish(Status::idle().as_child_of(&m));
        if *stop_rx.borrow() {
            break;
        }
    }
    // Let iopub flush, then stop the cell process with us.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    if let Some(i) = state.interrupter.lock().expect("state").as_ref() {
        i.interrupt();
    }
    Ok(())
}
