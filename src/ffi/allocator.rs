//! The module's Rust allocator with the `mimalloc` feature (installed in `lib.rs`): mimalloc,
//! called the way std's own `System` allocator calls malloc. A request makes a few dozen small
//! allocations (connection messages, row values, the answer) that mimalloc's per-thread free
//! lists serve in a fraction of glibc malloc's instructions. The plain `mi_malloc` path is
//! taken whenever it gives enough alignment: the `mimalloc` crate's allocator always asks for
//! `mi_malloc_aligned`, twice the instructions for the same block.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned};
use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};

/// The alignment every `mi_malloc` block of at least this size has (`MI_MAX_ALIGN_SIZE`, the
/// alignment of C's `max_align_t`: on 64-bit targets its size classes up to 8 words are rounded
/// to 2 words, the larger ones are multiples of 2 words); a smaller block is a machine word.
const MALLOC_ALIGN: usize = 16;

/// Whether a plain `mi_malloc` block of `layout.size()` is aligned enough for `layout` (the
/// rule of std's `System` allocator for malloc).
fn plain_is_aligned(layout: &Layout) -> bool {
    layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size()
}

pub struct MiMalloc;

// SAFETY: every block comes from mimalloc, with at least the layout's size and alignment (the
// aligned calls where a plain block might not be aligned enough), and goes back to mimalloc
// (`mi_free` takes blocks of either kind); mimalloc is thread-safe.
unsafe impl GlobalAlloc for MiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain_is_aligned(&layout) {
            // SAFETY: any size may be asked; null on failure, as GlobalAlloc expects.
            unsafe { mi_malloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: `layout.align()` is a power of two (Layout's invariant).
            unsafe { mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain_is_aligned(&layout) {
            // SAFETY: as in `alloc`; the block is zeroed.
            unsafe { mi_zalloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract), so from mimalloc.
        unsafe { mi_free(ptr as *mut c_void) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align(new_size, layout.align());
        if new.is_ok_and(|new| plain_is_aligned(&new)) {
            // SAFETY: `ptr` came from mimalloc (GlobalAlloc's contract); the new block of
            // `new_size` is aligned enough by the check above; null on failure keeps `ptr`.
            unsafe { mi_realloc(ptr as *mut c_void, new_size) as *mut u8 }
        } else {
            // SAFETY: as above, with the alignment asked for explicitly.
            unsafe { mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_asked_and_keep_their_bytes() {
        let a = MiMalloc;
        for (size, align) in [
            (1, 1),
            (8, 8),
            (24, 8),
            (16, 16),
            (24, 16),
            (40, 16),
            (64, 32),
            (8, 64),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero size; the block is written within its size, then freed once.
            unsafe {
                let p = a.alloc(layout);
                assert!(
                    !p.is_null() && (p as usize).is_multiple_of(align),
                    "{size}/{align}"
                );
                p.write_bytes(0xab, size);
                let q = a.realloc(p, layout, size * 40);
                assert!(
                    !q.is_null() && (q as usize).is_multiple_of(align),
                    "{size}/{align}"
                );
                assert!((0..size).all(|i| *q.add(i) == 0xab));
                a.dealloc(q, Layout::from_size_align(size * 40, align).unwrap());
                let z = a.alloc_zeroed(layout);
                assert!((0..size).all(|i| *z.add(i) == 0) && (z as usize).is_multiple_of(align));
                a.dealloc(z, layout);
            }
        }
    }
}
