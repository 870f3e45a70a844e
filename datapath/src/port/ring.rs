//! An in-memory port pair: what one side transmits, the other receives.
//! For tests and benchmarks of the datapath without devices.

use super::{Port, PortStats};
use crate::packet::{Batch, Packet, PacketPool};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

type Queue = Arc<Mutex<VecDeque<Vec<u8>>>>;

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
    let q1: Queue = Arc::default();
    let q2: Queue = Arc::default();
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
    /// Returns false when the queue is full.
    pub fn inject(&self, frame: &[u8]) -> bool {
        let mut q = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= self.capacity {
            return false;
        }
        q.push_back(frame.to_vec());
        true
    }

    /// Takes what this port transmitted (what the peer would receive).
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        let mut q = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }
}

impl Port for RingPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, batch: &mut Batch, pool: &mut PacketPool) -> usize {
        let mut q = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        while !batch.is_full() {
            let Some(frame) = q.pop_front() else { break };
            let Some(mut p) = pool.get() else {
                self.stats.rx_dropped += 1;
                continue;
            };
            if !p.set_frame(&frame) {
                self.stats.rx_dropped += 1;
                pool.put(p);
                continue;
            }
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += frame.len() as u64;
            if let Err(p) = batch.push(p) {
                pool.put(p);
            }
            n += 1;
        }
        n
    }

    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        let mut q = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        for p in pkts.drain(..) {
            if q.len() >= self.capacity {
                self.stats.tx_dropped += 1;
            } else {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += p.len() as u64;
                q.push_back(p.data().to_vec());
            }
            pool.put(p);
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
        assert_eq!(pool.available(), 16);
        assert!(b.inject(&[9; 10]));
        assert_eq!(b.rx_burst(&mut batch, &mut pool), 1);
    }
}
