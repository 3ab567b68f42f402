//! CPU priority of background threads (log writing, usage writes).
//!
//! Its own module because both `logging` and `usage::writer` lower their threads' priority,
//! and neither should depend on the other for it.

/// Lower the calling thread's scheduling priority. Background work (log writes, usage
/// batches) then yields the CPU to request handling instead of adding to its tail latency
/// when both share a core.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: nice(2) takes an integer and touches no memory; on Linux it applies to the
        // calling thread only. A failure just leaves the priority as it was.
        let _ = unsafe { libc::nice(10) };
    }
}
