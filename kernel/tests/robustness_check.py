"""Jupyter's promises, checked from outside over the wire (jupyter_client and
raw ZeroMQ frames), against the installed hoimat kernel.

Usage: robustness_check.py ROUNDS  (JUPYTER_PATH must hold the kernelspec).
Each round sends a forged signature and garbage frames on shell and on
control, then interrupts while idle, and checks that the kernel is alive and
the session's variable is still there: the failures this guards against were
racy, so the round repeats. Then silent and store_history, stop_on_error,
control busy/idle, is_complete and inspect. Exits non-zero on the first
failed check.
"""
import sys
import time

from wire_client import Wire

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
wire = Wire(startup_timeout=300)
km, kc = wire.km, wire.kc
iopub_for, reply_for, run = wire.iopub_for, wire.reply_for, wire.run


def stdout(outs):
    return "".join(m["content"]["text"] for m in outs if m["msg_type"] == "stream")


def forged_and_garbage():
    """A message with a forged signature and garbage frames on shell and control."""
    session = kc.session
    for channel in (kc.shell_channel, kc.control_channel):
        msg = session.msg("kernel_info_request", {})
        frames = session.serialize(msg)  # [DELIM, signature, header, parent, metadata, content]
        frames[1] = b"0" * len(frames[1])
        channel.socket.send_multipart(frames)
        channel.socket.send_multipart([b"garbage", b"\x00\xff\x10"])
        channel.socket.send_multipart([b"<IDS|MSG>", b"", b"{not json", b"{}", b"{}", b"{}"])


outs, reply = run("let keep = 41;")
assert reply["status"] == "ok", reply
for r in range(rounds):
    forged_and_garbage()
    time.sleep(0.5)
    km.interrupt_kernel()  # interrupt_mode "message": an interrupt_request on control, while idle
    time.sleep(1.0)
    assert km.is_alive(), f"round {r}: the kernel died after bad messages"
    outs, reply = run("println!(\"{}\", keep + 1);")
    assert reply["status"] == "ok", (r, reply)
    assert stdout(outs).strip() == "42", (r, stdout(outs))
    assert kc.hb_channel.is_beating(), f"round {r}: no heartbeat"
print(f"bad messages and idle interrupts: {rounds} rounds, kernel alive, variable kept")

# silent publishes nothing and takes no count; store_history=False takes none either.
_, first = run("let a = 1;")
n = first["execution_count"]
outs, reply = run('println!("quiet");', silent=True)
assert reply["status"] == "ok", reply
kinds = [m["msg_type"] for m in outs]
assert kinds == ["status", "status"], kinds  # busy, idle: no execute_input, no stream
_, reply = run("let b = 2;", store_history=False)
assert reply["execution_count"] == n, (reply["execution_count"], n)
outs, reply = run("let c = 3;")
assert reply["execution_count"] == n + 1, (reply["execution_count"], n)
assert any(m["msg_type"] == "execute_input" and m["content"]["execution_count"] == n + 1 for m in outs), outs
print("silent: nothing published; execution count from store_history")

# stop_on_error: the cells queued behind a failing one are aborted, not run.
ids = [kc.execute('panic!("stop here");', stop_on_error=True), kc.execute('println!("must not run 1");'), kc.execute('println!("must not run 2");')]
replies = [reply_for(i)["content"] for i in ids]
statuses = [r["status"] for r in replies]
assert statuses == ["error", "aborted", "aborted"], statuses
# As ipykernel: an aborted cell did not run, so it gets no execution count
# (JupyterLab would show the count it is given).
assert all("execution_count" not in r for r in replies[1:]), replies
time.sleep(0.5)  # what arrives after the abort window runs
outs, reply = run('println!("runs again");')
assert reply["status"] == "ok" and "runs again" in stdout(outs), reply
print(f"stop_on_error: {statuses}")

# Control requests report busy and idle on iopub.
msg = kc.session.msg("kernel_info_request", {})
kc.control_channel.send(msg)
states = [m["content"]["execution_state"] for m in iopub_for(msg["header"]["msg_id"], 30) if m["msg_type"] == "status"]
assert states == ["busy", "idle"], states
print("control: busy, idle")

# is_complete from a syntax check.
for code, want in (("fn f() {", "incomplete"), ("let s = \"{\";", "complete"), ("let x = 1; }", "invalid")):
    msg_id = kc.is_complete(code)
    got = reply_for(msg_id, 30)["content"]
    assert got["status"] == want, (code, got)
    if want == "incomplete":
        assert got["indent"] == "    ", got
print("is_complete: incomplete / complete / invalid")

# inspect: hover documentation for the name at the cursor.
code = "let s = String::from"
msg_id = kc.inspect(code, cursor_pos=len(code))
got = reply_for(msg_id, 300)["content"]
assert got["status"] == "ok" and got["found"], got
assert "String" in got["data"]["text/plain"], got["data"]
assert "text/html" in got["data"], got["data"]
print(f"inspect: {len(got['data']['text/plain'])} characters of documentation for String::from")

# completions carry their kinds.
code = "let t = String::fr"
msg_id = kc.complete(code, cursor_pos=len(code))
got = reply_for(msg_id, 300)["content"]
assert any(m.startswith("from(") for m in got["matches"]), got["matches"][:20]  # with its argument snippet
types = got["metadata"]["_jupyter_types_experimental"]
assert any(t["text"].startswith("from(") and t["type"] == "function" for t in types), types[:10]
print("complete: matches with their kinds")

kc.stop_channels()
km.shutdown_kernel(now=False)
assert not km.is_alive(), "kernel still alive after shutdown"
print("shutdown: kernel exited")
