"""Drive the installed hoimat kernel from Python, as JupyterLab would.

Usage: jupyter_client_check.py NOTEBOOK OUT.ipynb  (JUPYTER_PATH must hold the
kernelspec). Exits non-zero, with a message, on the first failed check.
"""
import sys
import time

import nbformat
from nbclient import NotebookClient
from wire_client import Wire

src, out = sys.argv[1], sys.argv[2]

# 1. nbclient executes a figure notebook at the smoke profile.
nb = nbformat.read(src, as_version=4)
for cell in nb.cells:
    if "parameters" in cell.metadata.get("tags", []):
        cell.source = 'let profile = "smoke";\nlet seeds: Vec<u64> = vec![];'
t = time.time()
NotebookClient(nb, kernel_name="hoimat", timeout=1800, startup_timeout=120).execute()
nbformat.write(nb, out)
mimes = set()
for cell in nb.cells:
    for o in cell.get("outputs", []):
        assert o.get("output_type") != "error", f"cell failed: {o}"
        mimes |= set(o.get("data", {}).keys())
assert "text/html" in mimes, mimes
assert "image/png" in mimes or "image/svg+xml" in mimes, mimes
print(f"nbclient: {src} executed in {time.time() - t:.0f} s; output types {sorted(mimes)}")

# 2. jupyter_client: a panicking cell, the cell after it, interrupt, shutdown.
wire = Wire(startup_timeout=120)
km, kc = wire.km, wire.kc


def collect(msg_id, timeout):
    return wire.collect(msg_id, timeout, reply_timeout=30)


def run(code, timeout=900):
    return collect(kc.execute(code), timeout)


outs, reply = run('panic!("from python {}", 7);')
assert reply["status"] == "error", reply
errors = [m["content"] for m in outs if m["msg_type"] == "error"]
assert errors and "from python 7" in errors[0]["evalue"], errors
outs, reply = run('println!("after the panic");')
assert reply["status"] == "ok", reply
assert any(m["msg_type"] == "stream" and "after the panic" in m["content"]["text"] for m in outs), outs
print("panic: error output, next cell ran")

msg_id = kc.execute("std::thread::sleep(std::time::Duration::from_secs(120));")
time.sleep(4)
t = time.time()
km.interrupt_kernel()
outs, reply = collect(msg_id, 60)
assert reply["status"] == "error", reply
assert time.time() - t < 30, "interrupt was slow"
outs, reply = run('println!("alive");')
assert reply["status"] == "ok", reply
print(f"interrupt: cell stopped in {time.time() - t:.1f} s, kernel alive")

kc.stop_channels()
km.shutdown_kernel(now=False)
assert not km.is_alive(), "kernel still alive after shutdown"
print("shutdown: kernel exited")

# 3. papermill with the Rust translator shipped in kernel/papermill-hoimat
#    (installed into .venv by ./run): -p values land in an injected cell
#    after the parameters cell, `-p seeds "[0]"` as a vec, and the notebook runs.
import subprocess  # noqa: E402

pm_out = out.replace(".ipynb", "-papermill.ipynb")
t = time.time()
proc = subprocess.run(
    [sys.executable, "-m", "papermill", src, pm_out, "-k", "hoimat", "-p", "profile", "smoke", "-p", "seeds", "[0]",
     "--start-timeout", "120", "--execution-timeout", "1800"],
    capture_output=True, text=True,
)
assert proc.returncode == 0, f"papermill failed:\n{proc.stdout}\n{proc.stderr}"
pm = nbformat.read(pm_out, as_version=4)
tags = [c.metadata.get("tags", []) for c in pm.cells]
i = next(k for k, tg in enumerate(tags) if "injected-parameters" in tg)
assert "parameters" in tags[i - 1], tags
assert pm.cells[i].source == '// Parameters\nlet profile = "smoke";\nlet seeds = vec![0];\n', repr(pm.cells[i].source)
printed = "".join(o.get("text", "") for c in pm.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
assert "at profile smoke" in printed and "seeds [0]" in printed, printed
assert not any(o.get("output_type") == "error" for c in pm.cells for o in c.get("outputs", [])), "a cell failed"
print(f"papermill: {src} parameterized (profile smoke, seeds [0]) and executed in {time.time() - t:.0f} s")
