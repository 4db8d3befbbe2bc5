"""A Python client of the installed hoimat kernel, shared by the checks in
this folder: it starts the kernel (and shuts it down at exit, so a failed
check never leaves a kernel holding the test's output open) and collects one
request's iopub messages and its shell reply.
"""
import atexit
import time

from jupyter_client.manager import start_new_kernel


class Wire:
    def __init__(self, startup_timeout):
        self.km, self.kc = start_new_kernel(kernel_name="hoimat", startup_timeout=startup_timeout)
        self.replies = {}  # shell replies read while waiting for another request's
        atexit.register(self.stop)

    def stop(self):
        if self.km.is_alive():
            self.km.shutdown_kernel(now=True)

    def iopub_for(self, msg_id, timeout=600):
        """Every iopub message of one request, up to its idle status."""
        outs, deadline = [], time.time() + timeout
        while True:
            m = self.kc.get_iopub_msg(timeout=max(1, deadline - time.time()))
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            outs.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                return outs

    def reply_for(self, msg_id, timeout=600):
        """The shell reply to one request (others read meanwhile are kept)."""
        deadline = time.time() + timeout
        while msg_id not in self.replies:
            r = self.kc.get_shell_msg(timeout=max(1, deadline - time.time()))
            self.replies[r["parent_header"].get("msg_id")] = r
        return self.replies.pop(msg_id)

    def collect(self, msg_id, timeout=600, reply_timeout=None):
        """A request's iopub messages and its reply's content (the reply
        awaited `reply_timeout` seconds once its idle status arrived)."""
        outs = self.iopub_for(msg_id, timeout)
        return outs, self.reply_for(msg_id, reply_timeout or timeout)["content"]

    def run(self, code, timeout=600, **kw):
        return self.collect(self.kc.execute(code, **kw), timeout)
