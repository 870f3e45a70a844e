//! An in-memory port pair: what one side transmits, the other receives.
//! For tests and benchmarks of the datapath (and of `rvs-pktgen`) without
//! any device or system call.
//!
//! Nothing is copied and nothing is allocated per frame: a transmitted
//! [`Packet`] itself moves into the pair's queue, and the receiver takes
//! it out. So that neither side's [`PacketPool`] runs dry, buffers flow
//! back the other way: the receiver gives one empty packet of its pool to
//! the direction's *spare* stock for every packet it takes, and the
//! transmitter takes one from that stock for every packet it hands over.
//! One lock per burst and direction.

use super::{Port, PortStats};
use crate::extract::HeaderOffsets;
use crate::packet::{Batch, Packet, PacketPool};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One direction: frames in flight and empty buffers on their way back.
#[derive(Debug, Default)]
struct Lane {
    frames: VecDeque<Packet>,
    spare: Vec<Packet>,
}

type Queue = Arc<Mutex<Lane>>;

fn lock(q: &Queue) -> std::sync::MutexGuard<'_, Lane> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

/// One end of a ring pair.
#[derive(Debug)]
pub struct RingPort {
    name: String,
    rx: Queue,
    tx: Queue,
    capacity: usize,
    stats: PortStats,
}

/// Two connected ring ports; each queue holds up to `capacity` frames.
pub fn ring_pair(a: &str, b: &str, capacity: usize) -> (RingPort, RingPort) {
    let lane = || -> Queue {
        Arc::new(Mutex::new(Lane {
            frames: VecDeque::with_capacity(capacity),
            spare: Vec::with_capacity(capacity),
        }))
    };
    let (q1, q2) = (lane(), lane());
    (
        RingPort {
            name: a.to_string(),
            rx: q1.clone(),
            tx: q2.clone(),
            capacity,
            stats: PortStats::default(),
        },
        RingPort {
            name: b.to_string(),
            rx: q2,
            tx: q1,
            capacity,
            stats: PortStats::default(),
        },
    )
}

impl RingPort {
    /// Puts a frame on this port's receive side, as if the peer sent it.
    /// Returns false when the queue is full or the frame too long. This
    /// allocates (a test helper, not a data path).
    pub fn inject(&self, frame: &[u8]) -> bool {
        let mut q = lock(&self.rx);
        if q.frames.len() >= self.capacity {
            return false;
        }
        let mut p = Packet::with_room(frame.len().max(crate::packet::DEFAULT_FRAME_ROOM));
        if !p.set_frame(frame) {
            return false;
        }
        q.frames.push_back(p);
        true
    }

    /// Takes what this port transmitted (what the peer would receive).
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        let mut q = lock(&self.tx);
        let lane = &mut *q;
        let mut out = Vec::with_capacity(lane.frames.len());
        for p in lane.frames.drain(..) {
            out.push(p.data().to_vec());
            lane.spare.push(p);
        }
        out
    }
}

impl Port for RingPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, batch: &mut Batch, pool: &mut PacketPool) -> usize {
        let mut q = lock(&self.rx);
        let lane = &mut *q;
        let mut n = 0;
        while !batch.is_full() {
            let Some(mut p) = lane.frames.pop_front() else {
                break;
            };
            // Pay for the packet with an empty one, which the transmitter
            // takes back into its pool.
            if let Some(empty) = pool.get() {
                lane.spare.push(empty);
            }
            p.in_port = 0;
            p.offsets = HeaderOffsets::NONE;
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += p.len() as u64;
            if let Err(p) = batch.push(p) {
                pool.put(p);
            }
            n += 1;
        }
        n
    }

    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        let mut q = lock(&self.tx);
        let lane = &mut *q;
        // Take back the empties the receiver paid, also when there is
        // nothing to send (a transmitter whose pool ran dry gets it
        // refilled here).
        while pool.available() < pool.capacity() {
            match lane.spare.pop() {
                Some(back) => pool.put(back),
                None => break,
            }
        }
        for p in pkts.drain(..) {
            if lane.frames.len() >= self.capacity {
                self.stats.tx_dropped += 1;
                pool.put(p);
                continue;
            }
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += p.len() as u64;
            lane.frames.push_back(p);
        }
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_one_end_sends_the_other_receives() {
        let (mut a, mut b) = ring_pair("a", "b", 4);
        let mut pool = PacketPool::new(16, 256);
        let mut out = Vec::new();
        for i in 0..6u8 {
            let mut p = pool.get().unwrap();
            p.set_frame(&[i; 20]);
            out.push(p);
        }
        a.tx_burst(&mut out, &mut pool);
        assert!(out.is_empty());
        assert_eq!(a.stats().tx_packets, 4);
        assert_eq!(a.stats().tx_dropped, 2);
        let mut batch = Batch::new();
        assert_eq!(b.rx_burst(&mut batch, &mut pool), 4);
        assert_eq!(batch.packets()[3].data(), &[3u8; 20]);
        pool.put_batch(&mut batch);
        // The receiver paid four empty packets into the spare stock; the
        // next transmit takes them back.
        assert_eq!(pool.available(), 12);
        let mut out: Vec<Packet> = (0..4).map(|_| pool.get().unwrap()).collect();
        a.tx_burst(&mut out, &mut pool);
        assert_eq!(pool.available(), 12);
        assert_eq!(b.rx_burst(&mut batch, &mut pool), 4);
        pool.put_batch(&mut batch);
        assert_eq!(pool.available(), 12, "packets are neither lost nor made");
        assert!(b.inject(&[9; 10]));
        assert_eq!(b.rx_burst(&mut batch, &mut pool), 1);
    }
}
