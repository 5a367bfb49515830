//! The counters in the shared memory zone: their layout, the counting and reading (safe code,
//! unit-tested on ordinary memory: [`Counters`]), and the FFI around them (zone creation, the
//! init callback that keeps the counters across reloads, the zone's lock, nginx's clock, the
//! client's address).
//!
//! Layout, one slab allocation made once when the zone is created (so the zone never grows
//! and nothing is allocated per request):
//!
//! ```text
//! Header   magic, version, days kept, creation day, route names (31 x 64 bytes)
//! Day[n]   a ring indexed by day number mod n; each: its day number, PV (all, per route),
//!          UV sketches (all, per route): 16 + 8 x 32 + 33 x 4204 -> 139,008 bytes
//! ```
//!
//! n is what the zone's size holds (the slab pool's free pages after nginx's own bookkeeping),
//! at most [`MAX_DAYS`]: `1m` keeps 7 days, `2m` 14, `10m` 74.
//!
//! Routes get a slot of the name table the first time they are counted. With all 31 slots
//! taken, a new route reuses a slot whose route has no requests in any kept day; failing
//! that it counts under `(other)`. Every access (count or read) holds the slab pool's mutex,
//! for the few dozen instructions of a count (the sketch updates are O(1)), or the copy of
//! the numbers when the page is read.

use std::ffi::c_void;
use std::mem::{align_of, size_of};
use std::ptr::{self, NonNull};

use nginx_sys::{
    ngx_conf_t, ngx_http_request_t, ngx_int_t, ngx_shm_zone_t, ngx_slab_page_t, ngx_slab_pool_t,
    ngx_slab_stat_t, ngx_str_t, NGX_ERROR, NGX_LOG_EMERG, NGX_LOG_INFO, NGX_OK,
};
use ngx::ngx_log_error;

use super::hll::Hll;
use super::json::{DayCount, RouteCount, Snapshot};

/// Named route slots; one more, `(other)`, takes what does not fit.
pub const ROUTES: usize = 31;
const SLOTS: usize = ROUTES + 1;
const OTHER: usize = ROUTES;
pub const OTHER_NAME: &str = "(other)";
/// Longest route name kept, in bytes (longer names are cut at a character boundary).
pub const NAME_MAX: usize = 64;
/// The most days a zone keeps, however large it is.
pub const MAX_DAYS: usize = 366;

const MAGIC: u64 = u64::from_le_bytes(*b"ngxmusST");
const VERSION: u32 = 1;
/// A ring slot that has never held a day.
const NO_DAY: i64 = i64::MIN;

#[repr(C)]
struct RouteName {
    /// 0: free.
    len: u32,
    bytes: [u8; NAME_MAX],
}

#[repr(C)]
struct Header {
    magic: u64,
    version: u32,
    days: u32,
    /// `size_of::<Day>()` of the code that formatted the zone.
    day_size: u64,
    /// The day the zone was created (the page lists no day before it).
    created: i64,
    names: [RouteName; ROUTES],
}

/// One day's counters.
#[repr(C)]
struct Day {
    day: i64,
    pv_total: u64,
    pv: [u64; SLOTS],
    uv_total: Hll,
    uv: [Hll; SLOTS],
}

impl Day {
    fn reset(&mut self, day: i64) {
        self.day = day;
        self.pv_total = 0;
        self.pv = [0; SLOTS];
        self.uv_total.reset();
        for h in &mut self.uv {
            h.reset();
        }
    }

    fn clear_route(&mut self, i: usize) {
        self.pv[i] = 0;
        if !self.uv[i].is_empty() {
            self.uv[i].reset();
        }
    }
}

const fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Where the day ring starts, after the header.
const DAYS_OFFSET: usize = round_up(size_of::<Header>(), align_of::<Day>());
/// The alignment the region needs (a slab allocation of whole pages has far more).
pub const REGION_ALIGN: usize = if align_of::<Header>() > align_of::<Day>() {
    align_of::<Header>()
} else {
    align_of::<Day>()
};

/// Bytes of one day in the ring.
pub const DAY_SIZE: usize = size_of::<Day>();

/// Bytes of the region for `days` days.
pub const fn region_size(days: usize) -> usize {
    DAYS_OFFSET + days * size_of::<Day>()
}

/// How many days fit in `bytes` of allocatable memory.
pub fn days_in(bytes: usize) -> usize {
    (bytes.saturating_sub(DAYS_OFFSET) / size_of::<Day>()).min(MAX_DAYS)
}

/// The pages a zone of `size` bytes leaves for allocation: `ngx_slab_init`'s arithmetic for a
/// page-aligned zone (which mmap'ed zones are).
pub fn usable_pages(size: usize, pagesize: usize) -> usize {
    if pagesize < 16 || !pagesize.is_power_of_two() {
        return 0;
    }
    let page = size_of::<ngx_slab_page_t>();
    let slots = pagesize.trailing_zeros() as usize - 3; // min_shift is 3
    let pages_at = size_of::<ngx_slab_pool_t>() + slots * (page + size_of::<ngx_slab_stat_t>());
    if size <= pages_at {
        return 0;
    }
    let mut pages = (size - pages_at) / (pagesize + page);
    let start = round_up(pages_at + pages * page, pagesize);
    let fit = size.saturating_sub(start) / pagesize;
    if pages > fit {
        pages = fit;
    }
    pages
}

/// Days kept by a zone of `size` bytes.
pub fn days_for_zone(size: usize, pagesize: usize) -> usize {
    days_in(usable_pages(size, pagesize) * pagesize)
}

/// The smallest zone size (a whole number of pages) that keeps one day.
pub fn min_zone_size(pagesize: usize) -> usize {
    let mut size = round_up(region_size(1), pagesize);
    while days_for_zone(size, pagesize) == 0 {
        size += pagesize;
    }
    size
}

/// The counters of one zone, borrowed for the time the zone's lock is held.
pub struct Counters<'a> {
    header: &'a mut Header,
    days: &'a mut [Day],
}

impl<'a> Counters<'a> {
    /// Views a formatted region.
    ///
    /// # Safety
    /// `base` is aligned to [`REGION_ALIGN`] and points at [`region_size`]`(days)` bytes
    /// (`days` > 0) that [`Counters::format`] has initialised, which nothing else accesses
    /// during `'a` (the zone's lock is held).
    unsafe fn from_raw(base: *mut u8, days: usize) -> Counters<'a> {
        // SAFETY: per the contract above: in bounds, aligned, initialised, exclusive.
        unsafe {
            Counters {
                header: &mut *(base as *mut Header),
                days: std::slice::from_raw_parts_mut(base.add(DAYS_OFFSET) as *mut Day, days),
            }
        }
    }

    /// Initialises a region for `days` days, created `today`.
    ///
    /// # Safety
    /// As [`Counters::from_raw`], except that the memory need not be initialised.
    unsafe fn format(base: *mut u8, days: usize, today: i64) -> Counters<'a> {
        // SAFETY: every field of Header and Day is an integer or an array of integers, so
        // all-zero bytes are a valid value; then the region is as `from_raw` requires.
        let c = unsafe {
            ptr::write_bytes(base, 0, region_size(days));
            Counters::from_raw(base, days)
        };
        c.header.magic = MAGIC;
        c.header.version = VERSION;
        c.header.days = days as u32;
        c.header.day_size = size_of::<Day>() as u64;
        c.header.created = today;
        for d in c.days.iter_mut() {
            d.reset(NO_DAY);
        }
        c
    }

    /// Whether the region was formatted by this code for `days` days.
    fn is_valid(&self) -> bool {
        self.header.magic == MAGIC
            && self.header.version == VERSION
            && self.header.day_size == size_of::<Day>() as u64
            && self.header.days as usize == self.days.len()
            && self.days.iter().all(|d| d.uv_total.is_consistent())
    }

    fn name_of(&self, slot: usize) -> String {
        match self.header.names.get(slot) {
            Some(n) => String::from_utf8_lossy(&n.bytes[..n.len as usize]).into_owned(),
            None => OTHER_NAME.to_owned(),
        }
    }

    fn oldest_kept(&self, today: i64) -> i64 {
        today - self.days.len() as i64 + 1
    }

    /// The slot of a route, taking a free or reusable one for a new name.
    fn route_slot(&mut self, name: &[u8], today: i64) -> usize {
        let name = &name[..name.len().min(NAME_MAX)];
        if name.is_empty() {
            return OTHER;
        }
        let names = &self.header.names;
        if let Some(i) = names
            .iter()
            .position(|n| n.len > 0 && &n.bytes[..n.len as usize] == name)
        {
            return i;
        }
        let slot = names.iter().position(|n| n.len == 0).or_else(|| {
            // a route with no requests in any day kept can give its slot away
            let oldest = self.oldest_kept(today);
            let idle = |i: usize| {
                self.days
                    .iter()
                    .all(|d| d.day < oldest || d.day > today || d.pv[i] == 0)
            };
            (0..ROUTES).find(|&i| idle(i))
        });
        let Some(i) = slot else {
            return OTHER;
        };
        for d in self.days.iter_mut() {
            d.clear_route(i);
        }
        let n = &mut self.header.names[i];
        n.bytes[..name.len()].copy_from_slice(name);
        n.len = name.len() as u32;
        i
    }

    /// How many days the zone keeps (its ring of days).
    pub fn days_kept(&self) -> usize {
        self.days.len()
    }

    /// Counts one request of route `route` from the client whose address hashes to `hash`.
    pub fn count(&mut self, today: i64, route: &str, hash: u64) {
        let ring = self.days.len() as i64;
        let at = today.rem_euclid(ring) as usize;
        if self.days[at].day != today {
            self.days[at].reset(today);
        }
        let slot = self.route_slot(route.as_bytes(), today);
        let d = &mut self.days[at];
        d.pv_total = d.pv_total.saturating_add(1);
        d.pv[slot] = d.pv[slot].saturating_add(1);
        d.uv_total.add(hash);
        d.uv[slot].add(hash);
    }

    /// The numbers of the last `max_days` days up to `today` (never before the zone's
    /// creation; today is always listed).
    pub fn snapshot(&self, today: i64, max_days: usize) -> Snapshot {
        let ring = self.days.len() as i64;
        let oldest = self.oldest_kept(today).max(self.header.created).min(today);
        let mut s = Snapshot {
            days_kept: self.days.len(),
            routes_max: ROUTES,
            ..Snapshot::default()
        };
        let mut union = Hll::new();
        let mut day = today;
        while day >= oldest && s.days.len() < max_days.max(1) {
            let d = &self.days[day.rem_euclid(ring) as usize];
            let mut count = DayCount {
                day,
                ..DayCount::default()
            };
            if d.day == day {
                count.pv = d.pv_total;
                count.uv = d.uv_total.count();
                count.routes = (0..SLOTS)
                    .filter(|&i| d.pv[i] > 0)
                    .map(|i| RouteCount {
                        name: self.name_of(i),
                        pv: d.pv[i],
                        uv: d.uv[i].count(),
                    })
                    .collect();
                union.merge(&d.uv_total);
                s.total_pv += d.pv_total;
            }
            s.days.push(count);
            day -= 1;
        }
        s.total_uv = union.count();
        s
    }
}

// ------------------------------------------------------------------------------------ FFI

/// What a zone's configuration knows about its memory; allocated from the cycle's pool, set
/// by [`init_zone`].
#[repr(C)]
struct ZoneCtx {
    base: *mut u8,
    days: usize,
}

/// A `music_stats_zone` of the current configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneRef(NonNull<ngx_shm_zone_t>);

/// The tag that marks the zones as this module's (nginx refuses a name used by another
/// module) and lets nginx hand a zone over to the next configuration on reload.
fn tag() -> *mut c_void {
    ptr::addr_of!(ZONE_TAG) as *mut c_void
}

/// Its address is the tag: one per loaded `.so`, the same across reloads (nginx keeps the
/// library loaded while the old cycle's zones are handed over).
static ZONE_TAG: u8 = 0;

fn pagesize() -> usize {
    // SAFETY: set once by ngx_os_init at startup, before any configuration is read.
    unsafe { nginx_sys::ngx_pagesize }
}

/// [`days_for_zone`] for this machine's page size.
pub fn days_for_size(size: usize) -> usize {
    days_for_zone(size, pagesize())
}

/// [`min_zone_size`] for this machine's page size.
pub fn min_size() -> usize {
    min_zone_size(pagesize())
}

/// Why a zone could not be declared (nginx has already logged the details when `Refused`).
pub enum ZoneError {
    Duplicate,
    Refused,
}

impl ZoneRef {
    /// The stats zones of the running configuration (for the metrics page's PV/UV gauges).
    pub fn all() -> Vec<ZoneRef> {
        let mut zones = Vec::new();
        // SAFETY: ngx_cycle is the running cycle in a worker; its shared_memory list holds
        // ngx_shm_zone_t elements in parts that live as long as the cycle.
        unsafe {
            let cycle = nginx_sys::ngx_cycle;
            if cycle.is_null() {
                return zones;
            }
            let mut part = ptr::addr_of_mut!((*cycle).shared_memory.part);
            while !part.is_null() {
                let elts = (*part).elts as *mut ngx_shm_zone_t;
                for i in 0..(*part).nelts {
                    let z = elts.add(i);
                    if (*z).tag == tag() && !(*z).data.is_null() {
                        zones.extend(NonNull::new(z).map(ZoneRef));
                    }
                }
                part = (*part).next;
            }
        }
        zones
    }

    /// Declares the zone `name` of `size` bytes (`music_stats_zone`).
    ///
    /// # Safety
    /// `cf` is the configuration being parsed; `name` points into its pool.
    pub unsafe fn define(
        cf: *mut ngx_conf_t,
        mut name: ngx_str_t,
        size: usize,
    ) -> Result<ZoneRef, ZoneError> {
        // SAFETY: `cf` is valid (caller); nginx keeps `name` by value, and its bytes live in
        // the configuration pool as long as the cycle.
        let zone = unsafe { nginx_sys::ngx_shared_memory_add(cf, &mut name, size, tag()) };
        let zone = NonNull::new(zone).ok_or(ZoneError::Refused)?;
        // SAFETY: ngx_shared_memory_add returned a zone of this cycle; the context comes from
        // the cycle's pool (zeroed) and lives as long as the zone's configuration.
        unsafe {
            let z = &mut *zone.as_ptr();
            if !z.data.is_null() {
                return Err(ZoneError::Duplicate);
            }
            let ctx = nginx_sys::ngx_pcalloc((*cf).pool, size_of::<ZoneCtx>());
            if ctx.is_null() {
                return Err(ZoneError::Refused);
            }
            z.data = ctx;
            z.init = Some(init_zone);
        }
        Ok(ZoneRef(zone))
    }

    /// Refers to the zone `name` (`music_stats_count`, `music_stats`), declared before or
    /// after; [`check_zones`] reports one never declared.
    ///
    /// # Safety
    /// As [`ZoneRef::define`].
    pub unsafe fn reference(cf: *mut ngx_conf_t, mut name: ngx_str_t) -> Option<ZoneRef> {
        // SAFETY: as in `define`; size 0 finds the zone or adds a placeholder for it.
        let zone = unsafe { nginx_sys::ngx_shared_memory_add(cf, &mut name, 0, tag()) };
        NonNull::new(zone).map(ZoneRef)
    }

    pub fn name(&self) -> String {
        // SAFETY: zones live as long as the configuration that refers to them.
        let z = unsafe { self.0.as_ref() };
        String::from_utf8_lossy(ngx_str_bytes(&z.shm.name)).into_owned()
    }

    /// Runs `f` on the zone's counters with the zone locked. None if the zone is not
    /// initialised (never the case once nginx serves requests).
    pub fn with_counters<R>(&self, f: impl FnOnce(&mut Counters) -> R) -> Option<R> {
        // SAFETY: in a worker the zone, its context and its memory are valid for the life of
        // the configuration that refers to them; init_zone set the context, and the memory
        // starts with the slab pool (and its mutex) that nginx initialised.
        unsafe {
            let z = self.0.as_ref();
            let ctx = (z.data as *const ZoneCtx).as_ref()?;
            if ctx.base.is_null() {
                return None;
            }
            let shpool = z.shm.addr as *mut ngx_slab_pool_t;
            nginx_sys::ngx_shmtx_lock(ptr::addr_of_mut!((*shpool).mutex));
            // the region was formatted (or checked) by init_zone; the lock makes it ours
            let result = f(&mut Counters::from_raw(ctx.base, ctx.days));
            nginx_sys::ngx_shmtx_unlock(ptr::addr_of_mut!((*shpool).mutex));
            Some(result)
        }
    }
}

fn ngx_str_bytes(s: &ngx_str_t) -> &[u8] {
    if s.len == 0 || s.data.is_null() {
        &[]
    } else {
        // SAFETY: nginx strings point at `len` bytes that outlive the string's owner.
        unsafe { std::slice::from_raw_parts(s.data, s.len) }
    }
}

fn plural_days(days: usize) -> String {
    if days == 1 {
        "1 day".into()
    } else {
        format!("{days} days")
    }
}

/// nginx's `ngx_shm_zone_t.init`: formats a new zone, or takes over the counters of the zone
/// of the previous configuration (a reload with the same name and size: nginx passes the
/// same memory, and the old configuration's `data`).
unsafe extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, old: *mut c_void) -> ngx_int_t {
    // SAFETY: nginx calls this once per zone of the new cycle, in the master (or the `-t`
    // process) before any worker exists, with the zone's memory mapped and its slab pool
    // initialised; `data` is the ZoneCtx `define` allocated.
    unsafe {
        let z = &mut *zone;
        let ctx = &mut *(z.data as *mut ZoneCtx);
        let shpool = z.shm.addr as *mut ngx_slab_pool_t;
        let name = String::from_utf8_lossy(ngx_str_bytes(&z.shm.name)).into_owned();
        let log = z.shm.log;

        if !old.is_null() || z.shm.exists != 0 {
            let base = (*shpool).data as *mut u8;
            let header = base as *const Header;
            if base.is_null() || (*header).magic != MAGIC {
                ngx_log_error!(
                    NGX_LOG_EMERG,
                    log,
                    "music_stats_zone \"{name}\": the zone kept from the previous configuration is not a stats zone"
                );
                return NGX_ERROR as ngx_int_t;
            }
            let days = (*header).days as usize;
            let fits = days > 0 && region_size(days) <= z.shm.size;
            if !fits || !Counters::from_raw(base, days).is_valid() {
                ngx_log_error!(
                    NGX_LOG_EMERG,
                    log,
                    "music_stats_zone \"{name}\": the zone kept from the previous configuration has another layout (restart nginx)"
                );
                return NGX_ERROR as ngx_int_t;
            }
            ctx.base = base;
            ctx.days = days;
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "music_stats_zone \"{name}\" keeps its counters from the previous configuration ({})",
                plural_days(days)
            );
            return NGX_OK as ngx_int_t;
        }

        let days = days_in((*shpool).pfree * pagesize());
        if days == 0 {
            ngx_log_error!(
                NGX_LOG_EMERG,
                log,
                "music_stats_zone \"{name}\" is too small: at least {}k is needed",
                min_size() / 1024
            );
            return NGX_ERROR as ngx_int_t;
        }
        let base = nginx_sys::ngx_slab_alloc(shpool, region_size(days)) as *mut u8;
        if base.is_null() || base.align_offset(REGION_ALIGN) != 0 {
            return NGX_ERROR as ngx_int_t;
        }
        Counters::format(base, days, local_day().0);
        (*shpool).data = base as *mut c_void;
        ctx.base = base;
        ctx.days = days;
        ngx_log_error!(
            NGX_LOG_INFO,
            log,
            "music_stats_zone \"{name}\" keeps {} of counters",
            plural_days(days)
        );
        NGX_OK as ngx_int_t
    }
}

/// Today's number (days since 1970-01-01) in nginx's local time, the time `$time_local`
/// shows, and that time's offset from UTC in minutes.
pub fn local_day() -> (i64, i64) {
    // SAFETY: ngx_cached_time always points at one of nginx's time slots (they are static and
    // never freed); nginx updates it in this same process, between events.
    let t = unsafe { *ptr::read_volatile(ptr::addr_of!(nginx_sys::ngx_cached_time)) };
    let offset = t.gmtoff as i64;
    ((t.sec as i64 + offset * 60).div_euclid(86_400), offset)
}

/// The client's address as bytes, as `$binary_remote_addr` has it (after the realip module,
/// if configured); an IPv4-mapped IPv6 address counts as the IPv4 address.
///
/// # Safety
/// `r` is a valid request.
pub unsafe fn client_address(r: *mut ngx_http_request_t) -> ([u8; 16], usize) {
    let mut key = [0u8; 16];
    // SAFETY: a request's connection and its sockaddr are valid while the request is; the
    // family tells which sockaddr type it is.
    unsafe {
        let sa = (*(*r).connection).sockaddr;
        if sa.is_null() {
            return (key, 0);
        }
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                key[..4].copy_from_slice(&sin.sin_addr.s_addr.to_ne_bytes());
                (key, 4)
            }
            libc::AF_INET6 => {
                let a = (*(sa as *const libc::sockaddr_in6)).sin6_addr.s6_addr;
                if a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff {
                    key[..4].copy_from_slice(&a[12..]);
                    (key, 4)
                } else {
                    key = a;
                    (key, 16)
                }
            }
            // unix sockets: every client is one visitor
            _ => (key, 0),
        }
    }
}

/// The zones of this module in the configuration being read: their names, and whether each
/// was declared with `music_stats_zone` (or only referred to).
///
/// # Safety
/// `cf` is the configuration being parsed.
pub unsafe fn zones(cf: *mut ngx_conf_t) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    // SAFETY: the cycle's shared memory list is a valid ngx_list_t of ngx_shm_zone_t.
    unsafe {
        let mut part: *const nginx_sys::ngx_list_part_t = &(*(*cf).cycle).shared_memory.part;
        while let Some(p) = part.as_ref() {
            let elts = std::slice::from_raw_parts(p.elts as *const ngx_shm_zone_t, p.nelts);
            for z in elts.iter().filter(|z| z.tag == tag()) {
                let name = String::from_utf8_lossy(ngx_str_bytes(&z.shm.name)).into_owned();
                out.push((name, !z.data.is_null()));
            }
            part = p.next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{alloc, dealloc, Layout};

    /// A region on the heap, with junk in it as fresh shared memory may have.
    struct Region {
        base: *mut u8,
        layout: Layout,
        days: usize,
    }

    impl Region {
        fn new(days: usize, today: i64) -> Region {
            let layout = Layout::from_size_align(region_size(days), 4096).unwrap();
            // SAFETY: a non-zero size; filled with junk, then formatted before any view.
            let base = unsafe { alloc(layout) };
            assert!(!base.is_null());
            // SAFETY: `base` is the allocation of `layout.size()` bytes just made.
            unsafe {
                ptr::write_bytes(base, 0xa5, layout.size());
                Counters::format(base, days, today);
            }
            Region { base, layout, days }
        }

        fn counters(&mut self) -> Counters<'_> {
            // SAFETY: formatted in `new`, and `&mut self` makes the view exclusive.
            unsafe { Counters::from_raw(self.base, self.days) }
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { dealloc(self.base, self.layout) }
        }
    }

    const TODAY: i64 = 20_784; // 2026-11-27

    fn visitor(n: u32) -> u64 {
        super::super::hll::hash_key(&n.to_be_bytes())
    }

    #[test]
    fn sizes() {
        assert_eq!(DAY_SIZE, round_up(16 + 8 * 32 + 33 * 4204, 8));
        assert!(size_of::<Header>() < 3 * 1024);
        // 1m keeps 7 days, 2m 14, and the minimum keeps one
        assert_eq!(days_for_zone(1 << 20, 4096), 7);
        assert_eq!(days_for_zone(2 << 20, 4096), 14);
        assert_eq!(days_for_zone(10 << 20, 4096), 74);
        assert_eq!(days_for_zone(1 << 30, 4096), MAX_DAYS);
        let min = min_zone_size(4096);
        assert_eq!(days_for_zone(min, 4096), 1);
        assert_eq!(days_for_zone(min - 4096, 4096), 0);
        assert!(min < 160 * 1024, "{min}");
        assert_eq!(days_for_zone(0, 4096), 0);
        assert_eq!(days_for_zone(8192, 4096), 0);
    }

    #[test]
    fn slab_arithmetic_matches_nginx_for_1m() {
        // ngx_slab_init on a 1 MiB zone with 4 KiB pages on x86_64: 9 slots, 254 pages.
        assert_eq!(usable_pages(1 << 20, 4096), 254);
    }

    #[test]
    fn counts_pv_and_uv_per_route() {
        let mut r = Region::new(7, TODAY);
        let mut c = r.counters();
        assert!(c.is_valid());
        for i in 0..10 {
            c.count(TODAY, "/static", visitor(i % 3));
        }
        for i in 0..5 {
            c.count(TODAY, "/api/musics/", visitor(100 + i));
        }
        let s = c.snapshot(TODAY, 366);
        assert_eq!(s.days.len(), 1, "nothing before the zone's creation");
        let d = &s.days[0];
        assert_eq!((d.day, d.pv, d.uv), (TODAY, 15, 8));
        let mut routes: Vec<_> = d
            .routes
            .iter()
            .map(|r| (r.name.as_str(), r.pv, r.uv))
            .collect();
        routes.sort();
        assert_eq!(routes, vec![("/api/musics/", 5, 5), ("/static", 10, 3)]);
        assert_eq!((s.total_pv, s.total_uv, s.days_kept), (15, 8, 7));
    }

    #[test]
    fn days_rotate_and_old_days_drop_out() {
        let mut r = Region::new(3, TODAY);
        let mut c = r.counters();
        c.count(TODAY, "/a", visitor(1));
        c.count(TODAY + 1, "/a", visitor(1));
        c.count(TODAY + 1, "/a", visitor(2));
        c.count(TODAY + 2, "/b", visitor(3));
        let s = c.snapshot(TODAY + 2, 366);
        let days: Vec<_> = s.days.iter().map(|d| (d.day, d.pv, d.uv)).collect();
        assert_eq!(
            days,
            vec![(TODAY + 2, 1, 1), (TODAY + 1, 2, 2), (TODAY, 1, 1)]
        );
        assert_eq!(
            (s.total_pv, s.total_uv),
            (4, 3),
            "visitor 1 on two days counts once"
        );
        // day TODAY + 3 reuses TODAY's slot; TODAY is out of the window
        c.count(TODAY + 3, "/a", visitor(9));
        let s = c.snapshot(TODAY + 3, 366);
        let days: Vec<_> = s.days.iter().map(|d| (d.day, d.pv)).collect();
        assert_eq!(days, vec![(TODAY + 3, 1), (TODAY + 2, 1), (TODAY + 1, 2)]);
        // a quiet day is listed with zeros; the page can be limited
        let s = c.snapshot(TODAY + 5, 366);
        let days: Vec<_> = s.days.iter().map(|d| (d.day, d.pv)).collect();
        assert_eq!(days, vec![(TODAY + 5, 0), (TODAY + 4, 0), (TODAY + 3, 1)]);
        assert_eq!(c.snapshot(TODAY + 3, 1).days.len(), 1);
        assert_eq!(c.snapshot(TODAY + 3, 0).days.len(), 1, "today at least");
    }

    #[test]
    fn clock_going_back_counts_into_the_earlier_day() {
        let mut r = Region::new(7, TODAY);
        let mut c = r.counters();
        c.count(TODAY + 1, "/a", visitor(1));
        c.count(TODAY, "/a", visitor(2));
        let s = c.snapshot(TODAY + 1, 366);
        let days: Vec<_> = s.days.iter().map(|d| (d.day, d.pv)).collect();
        assert_eq!(days, vec![(TODAY + 1, 1), (TODAY, 1)]);
    }

    #[test]
    fn routes_overflow_into_other_then_idle_slots_are_reused() {
        let mut r = Region::new(2, TODAY);
        let mut c = r.counters();
        for i in 0..ROUTES + 5 {
            c.count(TODAY, &format!("/r{i}"), visitor(i as u32));
        }
        let s = c.snapshot(TODAY, 366);
        let d = &s.days[0];
        assert_eq!(d.routes.len(), ROUTES + 1);
        let other = d.routes.iter().find(|r| r.name == OTHER_NAME).unwrap();
        assert_eq!((other.pv, other.uv), (5, 5));
        assert!(d.routes.iter().any(|r| r.name == "/r30"));
        assert!(!d.routes.iter().any(|r| r.name == "/r31"));
        // two days later every route is idle: a new name takes a slot again
        c.count(TODAY + 2, "/new", visitor(1));
        let s = c.snapshot(TODAY + 2, 366);
        let names: Vec<_> = s.days[0].routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["/new"]);
        // ...the slot of a route still counted in a kept day is not taken
        let mut r = Region::new(2, TODAY);
        let mut c = r.counters();
        for i in 0..ROUTES {
            c.count(TODAY, &format!("/r{i}"), visitor(1));
        }
        c.count(TODAY + 1, "/late", visitor(1));
        let s = c.snapshot(TODAY + 1, 366);
        assert_eq!(s.days[0].routes[0].name, OTHER_NAME);
        assert_eq!(s.days[1].routes.len(), ROUTES);
    }

    #[test]
    fn long_names_are_cut() {
        let mut r = Region::new(1, TODAY);
        let mut c = r.counters();
        let long = "/x".repeat(50);
        c.count(TODAY, &long, visitor(1));
        c.count(TODAY, &long[..NAME_MAX], visitor(1));
        let s = c.snapshot(TODAY, 1);
        assert_eq!(s.days[0].routes.len(), 1);
        assert_eq!(s.days[0].routes[0].name, &long[..NAME_MAX]);
        assert_eq!(s.days[0].routes[0].pv, 2);
    }

    #[test]
    fn a_formatted_region_is_recognised_and_a_foreign_one_is_not() {
        let mut r = Region::new(2, TODAY);
        assert!(r.counters().is_valid());
        // SAFETY: the region is ours; this breaks its header on purpose.
        unsafe { (*(r.base as *mut Header)).day_size += 1 };
        assert!(!r.counters().is_valid());
    }
}
