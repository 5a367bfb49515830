//! The FFI of `music_metrics_zone`: the zone's declaration, the init callback that formats it
//! or takes over the previous configuration's counters on reload, the zone's lock, and which
//! zone the worker records into ([`attach`], from the cycle's zones at worker start).

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};

use nginx_sys::{
    ngx_conf_t, ngx_cycle_t, ngx_int_t, ngx_shm_zone_t, ngx_slab_pool_t, ngx_str_t, NGX_ERROR,
    NGX_LOG_EMERG, NGX_LOG_INFO, NGX_OK,
};
use ngx::ngx_log_error;

use super::shared::{Shared, WorkerSlot, ALIGN, SIZE};

/// The zone this worker records into (null: none configured, or not a worker).
static ACTIVE: AtomicPtr<ngx_shm_zone_t> = AtomicPtr::new(ptr::null_mut());

/// The tag that marks the zone as this module's and lets nginx hand it over on reload: any
/// address of the `.so` that stays the same while it is loaded (a static of this file, so the
/// zone names nothing of the module's statics above it).
fn tag() -> *mut c_void {
    ptr::addr_of!(ZONE_TAG) as *mut c_void
}

static ZONE_TAG: u8 = 0;

/// The zone's memory, or None before [`init_zone`] ran.
///
/// # Safety
/// `zone` is a zone of this module, of a configuration that is still alive.
unsafe fn shared_of<'a>(zone: NonNull<ngx_shm_zone_t>) -> Option<&'a Shared> {
    // SAFETY: per the contract; init_zone stored the address of a formatted `Shared` in the
    // slab pool's `data`, and the memory stays mapped as long as the configuration.
    unsafe {
        let z = zone.as_ref();
        let shpool = z.shm.addr as *const ngx_slab_pool_t;
        if shpool.is_null() || (*shpool).data.is_null() {
            return None;
        }
        Some(&*((*shpool).data as *const Shared))
    }
}

/// A `music_metrics_zone` of the current configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneRef(NonNull<ngx_shm_zone_t>);

impl ZoneRef {
    /// Declares the zone `name` of `size` bytes; None if nginx refused it (it said why), or
    /// Some(Err) if the name is declared twice.
    ///
    /// # Safety
    /// `cf` is the configuration being parsed; `name` points into its pool.
    pub unsafe fn define(
        cf: *mut ngx_conf_t,
        mut name: ngx_str_t,
        size: usize,
    ) -> Option<Result<ZoneRef, ()>> {
        // SAFETY: `cf` is valid (caller); nginx keeps `name` by value, its bytes live in the
        // configuration pool.
        let zone = unsafe { nginx_sys::ngx_shared_memory_add(cf, &mut name, size, tag()) };
        let zone = NonNull::new(zone)?;
        // SAFETY: a zone of this cycle, ours to set up.
        unsafe {
            let z = &mut *zone.as_ptr();
            if z.init.is_some() {
                return Some(Err(()));
            }
            // any non-null data marks the zone as set up; init_zone does not read it
            z.data = zone.as_ptr() as *mut c_void;
            z.init = Some(init_zone);
        }
        Some(Ok(ZoneRef(zone)))
    }

    /// Runs `f` on the zone's counters (None before the zone is initialised).
    pub fn with<R>(&self, f: impl FnOnce(&Shared) -> R) -> Option<R> {
        // SAFETY: a zone of the configuration the caller runs in.
        unsafe { shared_of(self.0) }.map(f)
    }

    /// Runs `f` with the zone's lock held.
    pub fn locked(&self, f: &mut dyn FnMut()) {
        // SAFETY: the zone's memory starts with the slab pool (and its mutex) nginx set up.
        unsafe {
            let shpool = self.0.as_ref().shm.addr as *mut ngx_slab_pool_t;
            nginx_sys::ngx_shmtx_lock(ptr::addr_of_mut!((*shpool).mutex));
            f();
            nginx_sys::ngx_shmtx_unlock(ptr::addr_of_mut!((*shpool).mutex));
        }
    }
}

/// The zone this worker records into, if any.
pub fn active() -> Option<ZoneRef> {
    NonNull::new(ACTIVE.load(Ordering::Relaxed)).map(ZoneRef)
}

/// At worker start: records into this cycle's `music_metrics_zone`, if it has one.
///
/// # Safety
/// `cycle` is the worker's cycle.
pub unsafe fn attach(cycle: *mut ngx_cycle_t) {
    // SAFETY: the cycle's shared_memory list holds ngx_shm_zone_t elements in parts.
    unsafe {
        let mut part = ptr::addr_of_mut!((*cycle).shared_memory.part);
        while !part.is_null() {
            let zones = (*part).elts as *mut ngx_shm_zone_t;
            for i in 0..(*part).nelts {
                let z = zones.add(i);
                if (*z).tag == tag() {
                    ACTIVE.store(z, Ordering::Relaxed);
                    return;
                }
            }
            part = (*part).next;
        }
    }
}

/// nginx's `ngx_shm_zone_t.init`: formats a new zone, or keeps the counters of the zone the
/// previous configuration had (a reload with the same name and size passes the same memory).
unsafe extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, old: *mut c_void) -> ngx_int_t {
    // SAFETY: nginx calls this once per zone of a new cycle, in the master (or `nginx -t`)
    // before any worker of it exists, with the memory mapped and its slab pool initialised.
    unsafe {
        let z = &mut *zone;
        let shpool = z.shm.addr as *mut ngx_slab_pool_t;
        let name = String::from_utf8_lossy(z.shm.name.as_bytes()).into_owned();
        let log = z.shm.log;
        if !old.is_null() || z.shm.exists != 0 {
            let base = (*shpool).data as *const Shared;
            if base.is_null() || !(*base).is_valid() {
                ngx_log_error!(
                    NGX_LOG_EMERG,
                    log,
                    "music_metrics_zone \"{name}\": the zone kept from the previous configuration has another layout (restart nginx)"
                );
                return NGX_ERROR as ngx_int_t;
            }
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "music_metrics_zone \"{name}\" keeps its counters from the previous configuration"
            );
            return NGX_OK as ngx_int_t;
        }
        let base = nginx_sys::ngx_slab_alloc(shpool, SIZE) as *mut u8;
        if base.is_null() || base.align_offset(ALIGN) != 0 {
            ngx_log_error!(
                NGX_LOG_EMERG,
                log,
                "music_metrics_zone \"{name}\" is too small: at least {}k is needed",
                min_size() / 1024
            );
            return NGX_ERROR as ngx_int_t;
        }
        ptr::write_bytes(base, 0, SIZE);
        // all-zero bytes are a valid `Shared` (atomics and arrays of them)
        (*(base as *const Shared)).format();
        (*shpool).data = base as *mut c_void;
        NGX_OK as ngx_int_t
    }
}

/// The smallest zone that holds the counters: the counters, rounded up to pages, plus the slab
/// pool's own bookkeeping (generously: 8 pages).
pub fn min_size() -> usize {
    // SAFETY: set once by ngx_os_init at startup, before any configuration is read.
    let page = unsafe { nginx_sys::ngx_pagesize }.max(4096);
    SIZE.div_ceil(page) * page + 8 * page
}

/// Whether the process `pid` still runs (a worker that crashed never gave its gauges up).
pub fn alive(pid: i64) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This process's pid.
pub fn pid() -> i64 {
    // SAFETY: set by nginx at startup and in each worker after fork.
    i64::from(unsafe { nginx_sys::ngx_pid })
}

thread_local! {
    /// This worker's gauge slot in the zone (null: not claimed yet).
    static SLOT: Cell<*const WorkerSlot> = const { Cell::new(ptr::null()) };
}

/// Runs `f` on this worker's gauge slot, claiming one in the zone the first time.
pub fn with_worker_slot(f: impl FnOnce(&WorkerSlot)) {
    let Some(z) = active() else { return };
    z.with(|s| {
        let mut slot = SLOT.with(Cell::get);
        if slot.is_null() {
            if let Some(w) = s.worker_slot(pid(), alive) {
                slot = w;
                SLOT.with(|c| c.set(slot));
            }
        }
        // SAFETY: the slot lives in the zone, which stays mapped for the worker's life.
        if let Some(w) = unsafe { slot.as_ref() } {
            f(w);
        }
    });
}

/// The worker exits: its slot is released, so its gauges no longer count.
pub fn release_worker_slot() {
    let slot = SLOT.with(|c| c.replace(ptr::null()));
    // SAFETY: as in `with_worker_slot`; the zone is still mapped while the worker exits.
    if let Some(w) = unsafe { slot.as_ref() } {
        w.release();
    }
}
