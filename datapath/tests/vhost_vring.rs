//! The vhost-user ring code against a hostile frontend: descriptors and
//! indices are written by hand into a guest memory, and each malformed case
//! must be dropped with its reason, leave the queue usable where the
//! protocol allows, and never touch memory outside what was shared
//! (`vm-memory` refuses it; these tests make sure the refusal is a counted
//! drop, not a panic). A property test throws random rings at both
//! directions.

use proptest::prelude::*;
use rvs_datapath::port::vhost::vring::{
    Fault, Guest, RingLayout, RingState, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
};
use std::sync::atomic::Ordering;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const MEM: u64 = 1 << 20;
const SIZE: u16 = 16;
const DESC: u64 = 0x1000;
const AVAIL: u64 = 0x2000;
const USED: u64 = 0x3000;
const BUF: u64 = 0x10000;

/// One region of `MEM` bytes at guest address 0, with a second small
/// region right after it, so that some buffers straddle two regions (the
/// slow path).
fn mem() -> Guest {
    Guest::new(std::sync::Arc::new(
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), MEM as usize),
            (GuestAddress(MEM), 0x1000),
        ])
        .unwrap(),
    ))
}

fn layout(event_idx: bool) -> RingLayout {
    RingLayout {
        size: SIZE,
        desc: GuestAddress(DESC),
        avail: GuestAddress(AVAIL),
        used: GuestAddress(USED),
        event_idx,
    }
}

fn desc(g: &Guest, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&addr.to_le_bytes());
    b[8..12].copy_from_slice(&len.to_le_bytes());
    b[12..14].copy_from_slice(&flags.to_le_bytes());
    b[14..16].copy_from_slice(&next.to_le_bytes());
    g.mem()
        .write_slice(&b, GuestAddress(DESC + 16 * u64::from(i)))
        .unwrap();
}

/// Makes `heads` available (after whatever was there).
fn offer(m: &Guest, heads: &[u16]) {
    let idx: u16 = m
        .mem()
        .load(GuestAddress(AVAIL + 2), Ordering::Relaxed)
        .unwrap();
    for (k, h) in heads.iter().enumerate() {
        let slot = (idx.wrapping_add(k as u16) % SIZE) as u64;
        m.mem()
            .write_obj(*h, GuestAddress(AVAIL + 4 + 2 * slot))
            .unwrap();
    }
    m.mem()
        .store(
            idx.wrapping_add(heads.len() as u16),
            GuestAddress(AVAIL + 2),
            Ordering::Release,
        )
        .unwrap();
}

fn used_idx(m: &Guest) -> u16 {
    m.mem()
        .load(GuestAddress(USED + 2), Ordering::Relaxed)
        .unwrap()
}

fn used_entry(m: &Guest, i: u16) -> (u32, u32) {
    let at = USED + 4 + 8 * u64::from(i % SIZE);
    (
        m.mem().read_obj(GuestAddress(at)).unwrap(),
        m.mem().read_obj(GuestAddress(at + 4)).unwrap(),
    )
}

fn frame(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// A transmitted frame: header descriptor + frame descriptor.
fn tx_ok(m: &Guest, head: u16, len: usize) {
    m.mem().write_slice(&[0u8; 12], GuestAddress(BUF)).unwrap();
    m.mem()
        .write_slice(&frame(len), GuestAddress(BUF + 0x100))
        .unwrap();
    desc(m, head, BUF, 12, VRING_DESC_F_NEXT, head + 1);
    desc(m, head + 1, BUF + 0x100, len as u32, 0, 0);
}

fn pop(m: &Guest, st: &mut RingState) -> Result<Vec<u8>, Fault> {
    let l = layout(false);
    let n = st.pending(m, &l)?;
    assert!(n > 0, "nothing offered");
    let mut out = vec![0u8; 2048];
    let len = st.pop_tx(m, &l, 12, &mut out)?;
    out.truncate(len);
    Ok(out)
}

#[test]
fn a_well_formed_frame_is_taken_and_returned() {
    let m = mem();
    let l = layout(false);
    let mut st = RingState::start(&m, &l, 0);
    tx_ok(&m, 0, 60);
    offer(&m, &[0]);
    assert_eq!(pop(&m, &mut st).unwrap(), frame(60));
    st.flush(&m, &l);
    assert_eq!(used_idx(&m), 1);
    assert_eq!(used_entry(&m, 0).0, 0, "the head goes back");
    // A frame across the boundary of two regions is read whole.
    m.mem()
        .write_slice(&frame(80), GuestAddress(MEM - 40))
        .unwrap();
    desc(&m, 4, BUF, 12, VRING_DESC_F_NEXT, 5);
    desc(&m, 5, MEM - 40, 80, 0, 0);
    offer(&m, &[4]);
    assert_eq!(pop(&m, &mut st).unwrap(), frame(80));
}

#[test]
fn every_malformed_transmit_is_dropped_with_its_reason_and_returned() {
    let m = mem();
    let l = layout(false);
    let mut st = RingState::start(&m, &l, 0);
    type Setup = Box<dyn Fn(&Guest)>;
    let cases: Vec<(&str, Setup, Fault)> = vec![
        (
            "address outside guest memory",
            Box::new(|m| {
                desc(m, 0, BUF, 12, VRING_DESC_F_NEXT, 1);
                desc(m, 1, MEM + 0x1000, 60, 0, 0);
            }),
            Fault::BadAddress,
        ),
        (
            "length past the end of the region",
            Box::new(|m| {
                desc(m, 0, BUF, 12, VRING_DESC_F_NEXT, 1);
                desc(m, 1, MEM + 0x1000 - 30, 60, 0, 0);
            }),
            Fault::BadAddress,
        ),
        (
            "address that wraps around",
            Box::new(|m| {
                desc(m, 0, u64::MAX - 4, 12, 0, 0);
            }),
            Fault::BadAddress,
        ),
        (
            "a chain that loops",
            Box::new(|m| {
                desc(m, 0, BUF, 12, VRING_DESC_F_NEXT, 1);
                desc(m, 1, BUF + 0x100, 1, VRING_DESC_F_NEXT, 0);
            }),
            Fault::ChainTooLong,
        ),
        (
            "next past the table",
            Box::new(|m| {
                desc(m, 0, BUF, 12, VRING_DESC_F_NEXT, SIZE + 3);
            }),
            Fault::BadDescIndex,
        ),
        (
            "a device-writable buffer in a transmit",
            Box::new(|m| {
                desc(m, 0, BUF, 12, VRING_DESC_F_NEXT, 1);
                desc(m, 1, BUF + 0x100, 60, VRING_DESC_F_WRITE, 0);
            }),
            Fault::WrongDirection,
        ),
        (
            "an indirect table (not negotiated)",
            Box::new(|m| {
                desc(m, 0, BUF, 32, VRING_DESC_F_INDIRECT, 0);
            }),
            Fault::Indirect,
        ),
        (
            "a header shorter than virtio_net_hdr",
            Box::new(|m| {
                desc(m, 0, BUF, 8, 0, 0);
            }),
            Fault::ShortHeader,
        ),
        (
            "a frame shorter than an Ethernet header",
            Box::new(|m| {
                desc(m, 0, BUF, 12, VRING_DESC_F_NEXT, 1);
                desc(m, 1, BUF + 0x100, 6, 0, 0);
            }),
            Fault::BadLength,
        ),
        (
            "a frame longer than a packet buffer",
            Box::new(|m| {
                desc(m, 0, BUF, 12, VRING_DESC_F_NEXT, 1);
                desc(m, 1, BUF + 0x100, 60000, 0, 0);
            }),
            Fault::BadLength,
        ),
    ];
    for (k, (what, setup, want)) in cases.iter().enumerate() {
        setup(&m);
        offer(&m, &[0]);
        assert_eq!(pop(&m, &mut st), Err(*want), "{what}");
        st.flush(&m, &l);
        let k = k as u16;
        assert_eq!(used_idx(&m), 2 * k + 1, "{what}: the chain is returned");
        // The queue keeps working after each bad packet.
        tx_ok(&m, 2, 64);
        offer(&m, &[2]);
        assert_eq!(pop(&m, &mut st).unwrap().len(), 64, "after {what}");
        st.flush(&m, &l);
        assert_eq!(used_idx(&m), 2 * k + 2);
    }
}

#[test]
fn an_avail_index_jumping_past_the_queue_breaks_it_until_reset() {
    let m = mem();
    let l = layout(false);
    let mut st = RingState::start(&m, &l, 0);
    m.mem()
        .store(SIZE + 5, GuestAddress(AVAIL + 2), Ordering::Release)
        .unwrap();
    assert_eq!(st.pending(&m, &l), Err(Fault::BadAvailIndex));
    assert!(st.broken);
    m.mem()
        .store(1u16, GuestAddress(AVAIL + 2), Ordering::Release)
        .unwrap();
    assert_eq!(
        st.pending(&m, &l),
        Err(Fault::NotReady),
        "stays broken (the bad index is reported once)"
    );
    // The frontend sets the queue up again: it works.
    let mut st = RingState::start(&m, &l, 0);
    tx_ok(&m, 0, 60);
    m.mem().write_obj(0u16, GuestAddress(AVAIL + 4)).unwrap();
    assert_eq!(st.pending(&m, &l), Ok(1));
}

/// Posts receive buffers: each chain one writable descriptor of `len`.
fn post_rx(m: &Guest, heads: &[u16], len: u32) {
    for &h in heads {
        desc(m, h, BUF + 0x800 * u64::from(h), len, VRING_DESC_F_WRITE, 0);
    }
    offer(m, heads);
}

#[test]
fn receive_fills_posted_buffers_and_merges_over_several_when_needed() {
    let m = mem();
    let l = layout(true);
    let mut st = RingState::start(&m, &l, 0);
    post_rx(&m, &[0, 1, 2], 1024);
    // Fits one buffer.
    st.push_rx(&m, &l, 12, true, &frame(100)).unwrap();
    // Needs two: num_buffers = 2, the frame continues in the second.
    st.push_rx(&m, &l, 12, true, &frame(1500)).unwrap();
    st.flush(&m, &l);
    assert_eq!(used_idx(&m), 3);
    assert_eq!(used_entry(&m, 0), (0, 112));
    assert_eq!(used_entry(&m, 1), (1, 1024));
    assert_eq!(used_entry(&m, 2), (2, 1512 - 1024));
    let nb: u16 = m.mem().read_obj(GuestAddress(BUF + 0x800 + 10)).unwrap();
    assert_eq!(nb, 2);
    let mut got = vec![0u8; 1500];
    m.mem()
        .read_slice(&mut got[..1012], GuestAddress(BUF + 0x800 + 12))
        .unwrap();
    m.mem()
        .read_slice(&mut got[1012..], GuestAddress(BUF + 0x1000))
        .unwrap();
    assert_eq!(got, frame(1500));
}

#[test]
fn a_bad_avail_index_met_mid_frame_is_reported_once_then_not_ready() {
    let m = mem();
    let l = layout(false);
    let mut st = RingState::start(&m, &l, 0);
    post_rx(&m, &[0, 1], 1024);
    // Takes buffer 0 and remembers that one more is there.
    st.push_rx(&m, &l, 12, true, &frame(60)).unwrap();
    assert_eq!(st.known, 1);
    // The next frame needs two buffers: the known one runs out and the
    // index, read again, has jumped past the queue.
    m.mem()
        .store(SIZE + 50, GuestAddress(AVAIL + 2), Ordering::Release)
        .unwrap();
    assert_eq!(
        st.push_rx(&m, &l, 12, true, &frame(1500)),
        Err(Fault::BadAvailIndex)
    );
    assert!(st.broken);
    assert_eq!(
        st.push_rx(&m, &l, 12, true, &frame(60)),
        Err(Fault::NotReady),
        "reported once"
    );
}

#[test]
fn receive_without_enough_buffers_consumes_nothing() {
    let m = mem();
    let l = layout(false);
    let mut st = RingState::start(&m, &l, 0);
    post_rx(&m, &[0], 100);
    assert_eq!(
        st.push_rx(&m, &l, 12, true, &frame(1000)),
        Err(Fault::NoRxBuffers)
    );
    assert_eq!(st.last_avail, 0, "the posted buffer is still there");
    st.push_rx(&m, &l, 12, true, &frame(60)).unwrap();
    // Without MRG_RXBUF a frame must fit one chain.
    post_rx(&m, &[1], 100);
    assert_eq!(
        st.push_rx(&m, &l, 12, false, &frame(500)),
        Err(Fault::BadLength)
    );
    assert_eq!(st.last_avail, 1);
}

#[test]
fn a_read_only_buffer_posted_for_receive_is_refused() {
    let m = mem();
    let l = layout(false);
    let mut st = RingState::start(&m, &l, 0);
    desc(&m, 0, BUF, 2048, 0, 0);
    offer(&m, &[0]);
    assert_eq!(
        st.push_rx(&m, &l, 12, true, &frame(60)),
        Err(Fault::WrongDirection)
    );
    let before = vec![0u8; 60];
    let mut after = vec![0u8; 60];
    m.mem().read_slice(&mut after, GuestAddress(BUF)).unwrap();
    assert_eq!(before, after, "nothing written into a read-only buffer");
}

#[test]
fn event_idx_decides_when_to_interrupt() {
    let m = mem();
    let l = layout(true);
    let mut st = RingState::start(&m, &l, 0);
    // The driver asks to be told after the 2nd used entry (used_event=1).
    m.mem()
        .write_obj(1u16, GuestAddress(AVAIL + 4 + 2 * u64::from(SIZE)))
        .unwrap();
    post_rx(&m, &[0, 1, 2], 2048);
    st.push_rx(&m, &l, 12, true, &frame(60)).unwrap();
    assert!(!st.flush(&m, &l), "used idx 1 does not cross used_event 1");
    st.push_rx(&m, &l, 12, true, &frame(60)).unwrap();
    assert!(st.flush(&m, &l), "used idx 2 crosses it");
    // avail_event trails what was taken, so the driver does not kick.
    let ev: u16 = m
        .mem()
        .read_obj(GuestAddress(USED + 4 + 8 * u64::from(SIZE)))
        .unwrap();
    assert_eq!(ev, st.last_avail.wrapping_sub(1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random descriptor tables, avail rings and indices: every call ends
    /// in a frame or a named drop, never a panic.
    #[test]
    fn random_rings_never_panic(
        table in proptest::collection::vec(any::<(u64, u32, u16, u16)>(), SIZE as usize),
        heads in proptest::collection::vec(any::<u16>(), SIZE as usize),
        avail_idx in any::<u16>(),
        small in any::<bool>(),
    ) {
        let m = mem();
        let l = layout(small);
        for (i, (addr, len, flags, next)) in table.iter().enumerate() {
            // Half the addresses inside memory, to get past the first check.
            let addr = if small { addr % MEM } else { *addr };
            desc(&m, i as u16, addr, len % 70000, *flags, *next);
        }
        for (k, h) in heads.iter().enumerate() {
            let h = if small { h % (SIZE + 2) } else { *h };
            m.mem().write_obj(h, GuestAddress(AVAIL + 4 + 2 * k as u64)).unwrap();
        }
        m.mem().store(avail_idx, GuestAddress(AVAIL + 2), Ordering::Release).unwrap();
        let mut tx = RingState::start(&m, &l, 0);
        let mut out = vec![0u8; 2048];
        for _ in 0..SIZE {
            if tx.pending(&m, &l).unwrap_or(0) == 0 { break; }
            let _ = tx.pop_tx(&m, &l, 12, &mut out);
        }
        tx.flush(&m, &l);
        let mut rx = RingState::start(&m, &l, 0);
        for _ in 0..SIZE {
            let _ = rx.push_rx(&m, &l, 12, true, &frame(1500));
        }
        rx.flush(&m, &l);
    }
}
