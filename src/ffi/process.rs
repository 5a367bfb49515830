//! Facts of the worker process as a whole that safe code needs: the cycle's error log, and
//! the scheduling priority of a thread-pool thread.

use nginx_sys::ngx_log_t;

/// The running cycle's error log, for messages that belong to no request (a pool's
/// connection attempts, for one).
pub fn cycle_log() -> *mut ngx_log_t {
    // SAFETY: `ngx_cycle` is set before any module code runs in a worker and stays valid
    // (it is replaced only by a reload, which starts new workers).
    unsafe { (*nginx_sys::ngx_cycle).log }
}

/// Gives the calling thread the lowest CPU priority (nice 19); a failure leaves it unchanged,
/// which is harmless.
pub fn lower_calling_thread_priority() {
    // SAFETY: plain syscalls on the calling thread's own id, no memory handed over.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}
