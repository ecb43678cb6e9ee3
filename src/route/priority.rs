//! Scheduling priority of background threads: the overlay customizer and the compute pool run
//! below the threads that carry Raft's heartbeats, the websocket ingest and the acks, so on a busy
//! box a customization or a heavy route slows down instead of delaying a commit.

/// Nice value of background threads (Linux; higher is lower priority).
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`BACKGROUND_NICE`] (on Linux
/// `setpriority` with the thread's id affects that thread only, and threads it spawns inherit
/// it). Best effort: a failure leaves the default priority.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread, no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE);
    }
}
