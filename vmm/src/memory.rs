//! Guest memory: regions of memfd-backed shared memory at guest physical
//! addresses, mapped here `MAP_SHARED`, whose file descriptors go to a
//! vhost-user backend in the memory table so that it maps the same pages.
//!
//! Each region is its own memfd, sealed against shrinking and growing
//! (`F_SEAL_SHRINK | F_SEAL_GROW`): a backend that holds the descriptor
//! cannot truncate it under us, which would turn our next access into a
//! SIGBUS. The mapping lives as long as the [`GuestMemory`]; raw pointers
//! from [`GuestMemory::host_ptr`] are valid until it is dropped.
//!
//! This module only maps memory and translates addresses; it does not
//! read or write it. The virtio driver ([`crate::net`]) does, through the
//! pointers it gets here once at start.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::io::RawFd;

/// Why guest memory could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// A region of no bytes, or whose size is not a multiple of the page size.
    #[error("guest memory region at {gpa:#x} has size {size:#x}: it must be a non-zero multiple of 4 KiB")]
    BadSize { gpa: u64, size: u64 },
    /// A region that does not start on a page boundary.
    #[error("guest memory region at {gpa:#x} does not start on a 4 KiB boundary")]
    Unaligned { gpa: u64 },
    /// A region that runs past the end of the address space.
    #[error(
        "guest memory region at {gpa:#x} of {size:#x} bytes runs past the end of the address space"
    )]
    Overflow { gpa: u64, size: u64 },
    /// Hugepage-backed memory whose size is not a multiple of 2 MiB.
    #[error("guest memory region at {gpa:#x} has size {size:#x}: hugepage-backed memory comes in 2 MiB pages")]
    HugeSize { gpa: u64, size: u64 },
    /// Not enough hugepages reserved on the host.
    #[error("{needed} MiB of 2 MiB hugepages are needed and {free} MiB are free: reserve more (echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) or drop --hugepages")]
    NoHugepages { needed: u64, free: u64 },
    /// Two regions that overlap.
    #[error("guest memory regions at {a:#x} and {b:#x} overlap")]
    Overlap { a: u64, b: u64 },
    /// No regions at all, or more than a vhost-user memory table carries.
    #[error("guest memory needs 1 to {max} regions, not {n}")]
    RegionCount { n: usize, max: usize },
    /// `memfd_create`, `ftruncate`, sealing or `mmap` failed.
    #[error("cannot {what} for guest memory region at {gpa:#x} of {size:#x} bytes")]
    Os {
        what: &'static str,
        gpa: u64,
        size: u64,
        #[source]
        source: std::io::Error,
    },
}

/// Most regions a vhost-user SET_MEM_TABLE carries (VHOST_MEMORY_BASELINE_NREGIONS).
pub const MAX_REGIONS: usize = 8;

const PAGE: u64 = 4096;
const HUGE_PAGE: u64 = 2 << 20;

/// Free 2 MiB hugepages on the host, in MiB (0 when unknown).
fn free_hugepages_mib() -> u64 {
    std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |n| n * 2)
}

/// One region: `size` bytes of a memfd at guest address `gpa`, mapped at
/// `host` in this process.
#[derive(Debug)]
pub struct Region {
    /// Guest physical address of the first byte.
    pub gpa: u64,
    /// Length in bytes (a multiple of 4 KiB).
    pub size: u64,
    /// Where the region is mapped in this process (the address announced
    /// as `userspace_addr` in the vhost-user memory table).
    pub host: u64,
    fd: OwnedFd,
}

impl Region {
    /// The memfd behind the region (what the memory table passes).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The memfd's descriptor number.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether `[gpa, gpa + len)` lies inside the region; its offset then.
    fn offset_of(&self, gpa: u64, len: u64) -> Option<u64> {
        let off = gpa.checked_sub(self.gpa)?;
        (off < self.size && len <= self.size - off).then_some(off)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `host`/`size` are exactly the mapping made in
        // `map_region`, owned by this region and unmapped only here. Raw
        // pointers into it are documented as valid only while the
        // `GuestMemory` lives.
        unsafe {
            libc::munmap(self.host as *mut libc::c_void, self.size as usize);
        }
    }
}

/// Guest memory: memfd-backed regions mapped shared here (see the module
/// documentation).
#[derive(Debug)]
pub struct GuestMemory {
    regions: Vec<Region>,
}

impl GuestMemory {
    /// Maps one memfd per `(guest address, size)` of `layout`. Regions
    /// must be page-aligned, non-empty and disjoint (any order).
    pub fn new(layout: &[(u64, u64)]) -> Result<GuestMemory, MemoryError> {
        GuestMemory::with_backing(layout, false)
    }

    /// As [`GuestMemory::new`], from 2 MiB hugepages when `hugepages`
    /// (reserved by the host's administrator; all allocated up front, so
    /// that a short pool is an error here and never a fault later).
    pub fn with_backing(
        layout: &[(u64, u64)],
        hugepages: bool,
    ) -> Result<GuestMemory, MemoryError> {
        if layout.is_empty() || layout.len() > MAX_REGIONS {
            return Err(MemoryError::RegionCount {
                n: layout.len(),
                max: MAX_REGIONS,
            });
        }
        for &(gpa, size) in layout {
            if size == 0 || size % PAGE != 0 || usize::try_from(size).is_err() {
                return Err(MemoryError::BadSize { gpa, size });
            }
            if gpa % PAGE != 0 {
                return Err(MemoryError::Unaligned { gpa });
            }
            if gpa.checked_add(size).is_none() {
                return Err(MemoryError::Overflow { gpa, size });
            }
            if hugepages && (size % HUGE_PAGE != 0 || gpa % HUGE_PAGE != 0) {
                return Err(MemoryError::HugeSize { gpa, size });
            }
        }
        let mut sorted: Vec<(u64, u64)> = layout.to_vec();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            if w[0].0 + w[0].1 > w[1].0 {
                return Err(MemoryError::Overlap {
                    a: w[0].0,
                    b: w[1].0,
                });
            }
        }
        let regions = layout
            .iter()
            .map(|&(gpa, size)| map_region(gpa, size, hugepages))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| match e {
                MemoryError::Os { ref source, .. }
                    if hugepages && source.raw_os_error() == Some(libc::ENOMEM) =>
                {
                    MemoryError::NoHugepages {
                        needed: layout.iter().map(|r| r.1).sum::<u64>() >> 20,
                        free: free_hugepages_mib(),
                    }
                }
                e => e,
            })?;
        Ok(GuestMemory { regions })
    }

    /// The regions, in the order given to [`GuestMemory::new`].
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Where guest bytes `[gpa, gpa + len)` are mapped here, if they lie
    /// inside one region. The pointer is valid while `self` lives.
    pub fn host_ptr(&self, gpa: u64, len: usize) -> Option<*mut u8> {
        let len = u64::try_from(len).ok()?;
        self.regions.iter().find_map(|r| {
            let off = r.offset_of(gpa, len)?;
            Some((r.host + off) as *mut u8)
        })
    }

    /// Copies `data` into guest memory at `gpa`; false (nothing written)
    /// when the range is not inside one region.
    pub fn write(&self, gpa: u64, data: &[u8]) -> bool {
        match self.host_ptr(gpa, data.len()) {
            Some(p) => {
                // SAFETY: `p..p + data.len()` lies in a live shared mapping
                // (checked by `host_ptr`), which is never handed out as a
                // Rust reference; `data` cannot overlap it.
                unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
                true
            }
            None => false,
        }
    }

    /// Copies guest memory at `gpa` into `out`; false when the range is not
    /// inside one region.
    pub fn read(&self, gpa: u64, out: &mut [u8]) -> bool {
        match self.host_ptr(gpa, out.len()) {
            Some(p) => {
                // SAFETY: as in `write`, the other way round.
                unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
                true
            }
            None => false,
        }
    }

    /// The address announced in the memory table for `gpa` (the host
    /// address of our own mapping), if `[gpa, gpa + len)` lies inside one
    /// region.
    pub fn user_addr(&self, gpa: u64, len: usize) -> Option<u64> {
        self.host_ptr(gpa, len).map(|p| p as u64)
    }
}

/// A sealed memfd of `size` bytes mapped shared.
fn map_region(gpa: u64, size: u64, hugepages: bool) -> Result<Region, MemoryError> {
    let os = |what: &'static str| MemoryError::Os {
        what,
        gpa,
        size,
        source: std::io::Error::last_os_error(),
    };
    // SAFETY: the name is a NUL-terminated string; the call reads nothing
    // else and returns a new descriptor or -1.
    let fd = unsafe {
        libc::memfd_create(
            c"rvs-guest".as_ptr(),
            libc::MFD_CLOEXEC
                | libc::MFD_ALLOW_SEALING
                | if hugepages {
                    libc::MFD_HUGETLB | libc::MFD_HUGE_2MB
                } else {
                    0
                },
        )
    };
    if fd < 0 {
        return Err(os("create a memfd"));
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let file = File::from(fd);
    file.set_len(size).map_err(|source| MemoryError::Os {
        what: "size the memfd",
        gpa,
        size,
        source,
    })?;
    let fd = OwnedFd::from(file);
    // SAFETY: fcntl on a descriptor we own; F_ADD_SEALS takes an int.
    let r = unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_ADD_SEALS,
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
        )
    };
    if r < 0 {
        return Err(os("seal the memfd"));
    }
    // SAFETY: a new shared mapping of `size` bytes (checked to fit usize)
    // of a file that is exactly that long and sealed; the kernel picks the
    // address, so no existing mapping is touched.
    let host = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            // Hugepages are taken now: a short pool fails here, not at a
            // guest's first touch.
            libc::MAP_SHARED | if hugepages { libc::MAP_POPULATE } else { 0 },
            fd.as_raw_fd(),
            0,
        )
    };
    if host == libc::MAP_FAILED {
        return Err(os("map the memfd"));
    }
    Ok(Region {
        gpa,
        size,
        host: host as u64,
        fd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_inside_regions_only() {
        let m = GuestMemory::new(&[(0x10_0000, 0x2000), (0x4000, 0x1000)]).expect("memory");
        let r0 = &m.regions()[0];
        assert_eq!(m.host_ptr(0x10_0000, 0x2000), Some(r0.host as *mut u8));
        assert_eq!(
            m.host_ptr(0x10_1fff, 1),
            Some((r0.host + 0x1fff) as *mut u8)
        );
        assert_eq!(m.host_ptr(0x10_1fff, 2), None, "crosses the end");
        assert_eq!(m.host_ptr(0x10_2000, 0), None, "past the end");
        assert_eq!(m.host_ptr(0x0fff, 1), None);
        assert_eq!(m.host_ptr(u64::MAX, usize::MAX), None);
        assert!(m.host_ptr(0x4000, 0x1000).is_some());
        // The memory is really shared through the fd.
        let p = m.host_ptr(0x4010, 1).expect("mapped");
        // SAFETY: one byte inside the region just checked.
        unsafe { p.write_volatile(0x5a) };
        let mut b = [0u8; 1];
        let f = File::from(r_dup(&m.regions()[1]));
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, 0x10).expect("read");
        assert_eq!(b[0], 0x5a);
    }

    fn r_dup(r: &Region) -> OwnedFd {
        r.fd().try_clone_to_owned().expect("dup")
    }

    #[test]
    fn the_memfd_cannot_be_shrunk() {
        let m = GuestMemory::new(&[(0, 0x1000)]).expect("memory");
        let f = File::from(r_dup(&m.regions()[0]));
        assert!(f.set_len(0).is_err(), "sealed against shrinking");
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert!(matches!(
            GuestMemory::new(&[]),
            Err(MemoryError::RegionCount { .. })
        ));
        assert!(matches!(
            GuestMemory::new(&[(0, 100)]),
            Err(MemoryError::BadSize { .. })
        ));
        assert!(matches!(
            GuestMemory::new(&[(0x10, 0x1000)]),
            Err(MemoryError::Unaligned { .. })
        ));
        assert!(matches!(
            GuestMemory::new(&[(0x1000, 0x2000), (0x2000, 0x1000)]),
            Err(MemoryError::Overlap { .. })
        ));
        assert!(matches!(
            GuestMemory::new(&[(u64::MAX - 0xfff, 0x2000)]),
            Err(MemoryError::Overflow { .. })
        ));
    }
}
