//! The vhost-user rings against a hostile guest: the input is the guest's
//! memory (descriptor table, avail and used rings, buffers, the avail
//! index) and the operations to run. Whatever the guest wrote, popping
//! and pushing must not panic, must not go past the memory (vm-memory and
//! the fast translation refuse it), and a used index must only move by
//! what was taken.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_datapath::port::vhost::vring::{Guest, RingLayout, RingState};
use std::sync::Arc;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const MEM: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let size = 1u16 << (data[0] % 6); // 1 to 32 entries
    let event_idx = data[1] & 1 == 1;
    let ops = &data[2..4];
    let mem = GuestMemoryMmap::from_ranges(&[
        (GuestAddress(0), MEM),
        (GuestAddress(MEM as u64), 4096),
    ])
    .unwrap();
    let body = &data[4..];
    let n = body.len().min(MEM);
    mem.write_slice(&body[..n], GuestAddress(0)).unwrap();
    let g = Guest::new(Arc::new(mem));
    let l = RingLayout {
        size,
        desc: GuestAddress(0),
        avail: GuestAddress(0x800),
        used: GuestAddress(0x1000),
        event_idx,
    };
    let mut st = RingState::start(&g, &l, 0);
    let mut out = vec![0u8; 2048];
    for k in 0..(ops[0] % 64) {
        let before = st.used_idx;
        if ops[1] >> (k % 8) & 1 == 0 {
            let _ = st.pop_tx(&g, &l, 12, &mut out);
            assert!(st.used_idx.wrapping_sub(before) <= 1);
        } else {
            let frame = vec![0xa5u8; 60 + usize::from(k) * 23];
            let _ = st.push_rx(&g, &l, 12, true, &frame);
            assert!(st.used_idx.wrapping_sub(before) <= 64);
        }
        if k % 4 == 3 {
            let _ = st.flush(&g, &l);
        }
    }
});
