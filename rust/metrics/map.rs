//! A shared memory mapping of a metrics file, seen as an array of `AtomicU64`.
//!
//! Writers map read-write and update words with relaxed atomic read-modify-writes. Readers map
//! read-only and use only relaxed loads of at most 8 bytes, the one kind of atomic access Rust
//! allows on read-only memory (rust-lang/rust#115577: such loads compile to a plain `mov`/`ldr`).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// A `MAP_SHARED` mapping of a whole file, unmapped on drop.
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    /// Bytes mapped, as passed to mmap.
    len: usize,
    /// Whole words in the mapping.
    words: usize,
}

// SAFETY: the mapping is only touched through `AtomicU64`s, which may be shared and sent
// between threads; the pointer stays valid until `drop`, which needs ownership.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `file`, read-write if `writable`. The file must be at least
    /// `len` bytes long and stay so: pages past its end raise SIGBUS when touched.
    pub fn new(file: &File, len: usize, writable: bool) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh mapping chosen by the kernel (addr null), over a descriptor we hold
        // open for the call; nothing else in this process refers to the new range.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        // mmap returns page-aligned addresses; checked because every `word` relies on it.
        assert_eq!(ptr.as_ptr() as usize % std::mem::align_of::<AtomicU64>(), 0);
        Ok(Mapping {
            ptr,
            len,
            words: len / 8,
        })
    }

    /// Whole words mapped.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Word `index` of the file.
    ///
    /// # Panics
    /// If `index` is past the mapping (a layout bug; callers validate layouts first).
    #[inline]
    pub fn word(&self, index: usize) -> &AtomicU64 {
        assert!(
            index < self.words,
            "metrics word {index} past {}",
            self.words
        );
        // SAFETY: `index * 8 + 8 <= words * 8 <= len`, so the word lies inside the mapping,
        // which lives as long as `self`; the base is page-aligned and the offset a multiple of
        // 8, so the address is aligned for AtomicU64, which has the size and layout of a u64.
        // Other processes access the same bytes only atomically (same format, same words).
        unsafe { &*self.ptr.as_ptr().add(index * 8).cast::<AtomicU64>() }
    }

    /// A relaxed load of word `index`: safe on the read-only mappings of readers.
    #[inline]
    pub fn load(&self, index: usize) -> u64 {
        self.word(index).load(Ordering::Relaxed)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range `new` mapped; no reference into it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
