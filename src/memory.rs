//! Allocator settings for the binaries.
//!
//! glibc's malloc hands blocks above its mmap threshold back to the kernel
//! when they are freed and trims a thread arena's free top beyond its trim
//! threshold; its dynamic thresholds start at 128 KiB and 256 KiB. Work that
//! allocates per frame (a 512x288 f32 plane is 0.6 MB; `hoimat eval` holds
//! about fifteen per frame) then faults fresh zeroed pages in for every
//! frame: measured 188k page faults and about a third of `hoimat eval`'s
//! time on a 4-clip 512x288 tree (README, "Metrics and `hoimat eval`").

/// Serve blocks up to 32 MiB from the heap and keep up to 64 MiB of freed
/// top per arena: the ceilings glibc's dynamic thresholds reach anyway
/// after large frees (the mmap threshold follows each freed mapping up to
/// 32 MiB, the trim threshold twice it), set from the start instead of
/// after a run of page faults. Arithmetic is unaffected.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any
    // other thread of ours exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
