//! rvs-pktgen: traffic generation and measurement for rvs.
//!
//! It holds the datapath micro-benchmark ([`micro`]), the configuration
//! database benchmark ([`dbbench`], binary `rvs-dbbench`), a packet
//! generator over rvs's AF_XDP and AF_PACKET ports ([`gen`]) and the veth
//! throughput benchmark that runs it against rvs-vswitchd and the Linux
//! bridge side by side ([`veth`]), and vhost-user switching with DPDK's
//! testpmd as generator and sink, rvs side by side with Open vSwitch's DPDK
//! build ([`testpmd`]).
//!
//! The binary installs [`CountingAlloc`] as its global allocator so that
//! allocations per packet is a measured number, not a belief.

pub mod compare;
pub mod dbbench;
pub mod endpoint;

pub mod gen;
pub mod hist;
pub mod inproc;
pub mod measure;
pub mod micro;
pub mod plot;
pub mod run;
pub mod search;
pub mod switches;
pub mod testpmd;
pub mod traffic;
pub mod trial;

pub mod veth;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// A global allocator that counts allocations and defers to the system's.
#[derive(Debug)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are kept; the counter is only a side
// effect.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded from our caller, who upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc*` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded from our caller, who upholds the contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded from our caller, who upholds the contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made so far through [`CountingAlloc`] (0 if it is not the
/// global allocator).
pub fn alloc_count() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}
