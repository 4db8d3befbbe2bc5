//! The evcxr child process (this same binary, started by evcxr) runs the
//! cells. evcxr consumes two of the child's stdout markers without telling
//! its caller: a panicking cell and a cell whose `?` returned an error both
//! look like successes. Before evcxr's runtime starts, the child routes its
//! stdout through a pipe and a thread that copies every line, writing a
//! marker of ours before each of those two, so the kernel can report the
//! cell as failed. Everything goes through one pipe, so order is kept.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;

pub const CELL_ERROR: &str = "HOIMAT_KERNEL_CELL_ERROR";
pub const CELL_PANIC: &str = "HOIMAT_KERNEL_CELL_PANIC";
const EVCXR_ERROR: &str = "EVCXR_ERROR_OCCURRED";
const EVCXR_PANIC: &str = "EVCXR_PANIC_NOTIFICATION";

/// Interpose the line copier on fd 1 (only in evcxr's child process).
pub fn tee_stdout() {
    let mut fds = [0i32; 2];
    // SAFETY: plain POSIX calls on descriptors this process owns; on any
    // failure stdout is left as it was.
    let real = unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return;
        }
        let real = libc::dup(1);
        if real < 0 || libc::dup2(fds[1], 1) < 0 {
            return;
        }
        libc::close(fds[1]);
        real
    };
    // SAFETY: both descriptors are owned here and handed over exactly once.
    let (reader, mut out) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(real)) };
    std::thread::spawn(move || {
        for line in BufReader::new(reader).split(b'\n') {
            let Ok(line) = line else { break };
            let marker = if line == EVCXR_ERROR.as_bytes() {
                Some(CELL_ERROR)
            } else if line == EVCXR_PANIC.as_bytes() {
                Some(CELL_PANIC)
            } else {
                None
            };
            let mut buf = Vec::with_capacity(line.len() + 32);
            if let Some(m) = marker {
                buf.extend_from_slice(m.as_bytes());
                buf.push(b'\n');
            }
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            if out.write_all(&buf).and_then(|_| out.flush()).is_err() {
                break;
            }
        }
    });
}
