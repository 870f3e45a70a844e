//! A virtio-net device on PCI (virtio 1.x "modern" transport) whose data
//! path is a vhost-user backend: the VMM does the device's configuration
//! side, the switch moves the packets.
//!
//! PCI function: vendor 0x1af4, device 0x1041 (virtio 1.x, network),
//! class 02.00, one 64-bit memory BAR (BAR0, [`BAR_SIZE`] bytes) at an
//! address the VMM assigns — like firmware, and fixed: a guest may size
//! the BAR (all-ones write, read back the mask) but not move it — and the
//! vendor capabilities that point into it:
//!
//! | BAR0 offset | structure |
//! |---|---|
//! | 0x0000 | common configuration (features, status, queue setup) |
//! | 0x1000 | notifications: queue `q` at `0x1000 + 4q` |
//! | 0x2000 | ISR status |
//! | 0x3000 | device configuration (`virtio_net_config`: MAC, status, pairs, MTU) |
//!
//! Queue notifications are KVM ioeventfds on those addresses, passed to
//! the backend as its kick file descriptors: a guest's notification never
//! leaves the kernel. When the driver sets DRIVER_OK the VMM hands the
//! device over: SET_FEATURES (what the driver accepted, less what the VMM
//! itself implements, such as the MAC), SET_MEM_TABLE with the guest's
//! memory, and per enabled queue its size, ring addresses (guest
//! physical, straight from the driver) and eventfds. A failure there sets
//! DEVICE_NEEDS_RESET, as the spec has it, and says why on stderr.
//! A reset by the driver stops the backend's rings (GET_VRING_BASE).

use crate::devices::PciFunction;
use crate::memory::GuestMemory;
use crate::net::{F_EVENT_IDX, F_MRG_RXBUF, F_VERSION_1};
use crate::vhost_user::VhostUserNet;
use crate::Error;
use kvm_ioctls::{IoEventAddress, NoDatamatch, VmFd};
use std::sync::Arc;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// BAR0's size (four 4 KiB structures).
pub const BAR_SIZE: u64 = 0x4000;
/// Queues: receive (0) and transmit (1).
pub const QUEUES: usize = 2;
/// The largest queue the device offers.
pub const MAX_QUEUE_SIZE: u16 = 256;

/// The device provides its MAC address in the configuration space.
pub const F_MAC: u64 = 1 << 5;

const COMMON: u64 = 0x0000;
const NOTIFY: u64 = 0x1000;
const ISR: u64 = 0x2000;
const DEVICE: u64 = 0x3000;
const NOTIFY_MULTIPLIER: u32 = 4;

/// Device status bits.
pub mod status {
    pub const ACKNOWLEDGE: u8 = 1;
    pub const DRIVER: u8 = 2;
    pub const DRIVER_OK: u8 = 4;
    pub const FEATURES_OK: u8 = 8;
    pub const NEEDS_RESET: u8 = 0x40;
    pub const FAILED: u8 = 0x80;
}

#[derive(Debug, Clone, Copy, Default)]
struct Queue {
    size: u16,
    enabled: bool,
    desc: u64,
    avail: u64,
    used: u64,
}

/// The device (see the module documentation).
pub struct VirtioNet {
    config: [u8; 256],
    bar: u64,
    bar_sizing: [bool; 2],
    conn: VhostUserNet,
    mem: Arc<GuestMemory>,
    mac: [u8; 6],
    offered: u64,
    device_select: u32,
    driver_select: u32,
    driver_features: u64,
    status: u8,
    generation: u8,
    queue_select: u16,
    queues: [Queue; QUEUES],
    kicks: Vec<EventFd>,
    calls: Vec<EventFd>,
    active: bool,
}

impl std::fmt::Debug for VirtioNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioNet")
            .field("bar", &self.bar)
            .field("mac", &self.mac)
            .field("status", &self.status)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A vendor capability of `len` bytes at `at` in `c`, pointing at `next`.
fn cap(c: &mut [u8; 256], at: usize, next: u8, cfg_type: u8, offset: u64, length: u32, len: u8) {
    c[at] = 0x09; // vendor specific
    c[at + 1] = next;
    c[at + 2] = len;
    c[at + 3] = cfg_type;
    c[at + 4] = 0; // BAR0
    c[at + 8..at + 12].copy_from_slice(&(offset as u32).to_le_bytes());
    c[at + 12..at + 16].copy_from_slice(&length.to_le_bytes());
}

impl VirtioNet {
    /// The device with BAR0 at `bar`, backed by `conn` (already
    /// connected; this asks for its features), with `mac`. Registers the
    /// queue notification ioeventfds with `vm`.
    pub fn new(
        vm: &VmFd,
        bar: u64,
        mut conn: VhostUserNet,
        mem: Arc<GuestMemory>,
        mac: [u8; 6],
    ) -> Result<VirtioNet, Error> {
        let backend = conn.open()?;
        if backend & F_VERSION_1 == 0 {
            return Err(Error::NotOffered {
                what: "VIRTIO_F_VERSION_1",
            });
        }
        let offered = (backend & (F_VERSION_1 | F_MRG_RXBUF | F_EVENT_IDX)) | F_MAC;
        let mut kicks = Vec::new();
        let mut calls = Vec::new();
        for q in 0..QUEUES {
            let kick = EventFd::new(EFD_NONBLOCK).map_err(Error::EventFd)?;
            vm.register_ioevent(
                &kick,
                &IoEventAddress::Mmio(bar + NOTIFY + q as u64 * u64::from(NOTIFY_MULTIPLIER)),
                NoDatamatch,
            )
            .map_err(|e| {
                Error::Config(format!("KVM refused the queue notification eventfd: {e}"))
            })?;
            kicks.push(kick);
            calls.push(EventFd::new(EFD_NONBLOCK).map_err(Error::EventFd)?);
        }
        let mut c = [0u8; 256];
        c[0..2].copy_from_slice(&0x1af4u16.to_le_bytes());
        c[2..4].copy_from_slice(&0x1041u16.to_le_bytes());
        c[6..8].copy_from_slice(&0x0010u16.to_le_bytes()); // capability list
        c[8] = 1; // revision: modern
        c[0x0b] = 0x02; // class: network
        c[0x2c..0x2e].copy_from_slice(&0x1af4u16.to_le_bytes());
        c[0x2e..0x30].copy_from_slice(&0x0001u16.to_le_bytes());
        c[0x34] = 0x40;
        cap(&mut c, 0x40, 0x50, 1, COMMON, 0x38, 16);
        cap(&mut c, 0x50, 0x64, 2, NOTIFY, 0x1000, 20);
        c[0x60..0x64].copy_from_slice(&NOTIFY_MULTIPLIER.to_le_bytes());
        cap(&mut c, 0x64, 0x74, 3, ISR, 4, 16);
        cap(&mut c, 0x74, 0, 4, DEVICE, 0x10, 16);
        let mut d = VirtioNet {
            config: c,
            bar,
            bar_sizing: [false; 2],
            conn,
            mem,
            mac,
            offered,
            device_select: 0,
            driver_select: 0,
            driver_features: 0,
            status: 0,
            generation: 0,
            queue_select: 0,
            queues: [Queue::default(); QUEUES],
            kicks,
            calls,
            active: false,
        };
        d.reset();
        Ok(d)
    }

    /// The interrupt eventfds the backend signals (not wired to an
    /// interrupt yet: the test guest polls).
    pub fn calls(&self) -> &[EventFd] {
        &self.calls
    }

    /// Whether the backend has the device (DRIVER_OK was taken).
    pub fn active(&self) -> bool {
        self.active
    }

    fn reset(&mut self) {
        if self.active {
            for q in 0..QUEUES {
                if self.queues[q].enabled {
                    let _ = self.conn.stop_queue(q);
                }
            }
            self.active = false;
        }
        self.status = 0;
        self.driver_features = 0;
        self.device_select = 0;
        self.driver_select = 0;
        self.queue_select = 0;
        self.queues = [Queue {
            size: MAX_QUEUE_SIZE,
            ..Queue::default()
        }; QUEUES];
    }

    fn queue(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(usize::from(self.queue_select))
    }

    /// Hands the device to the backend; on failure stops the queues it
    /// had started, so that no backend keeps using rings the driver will
    /// reset. `resume`: after a reconnection, the rings go on where the
    /// previous backend left them (its used index in guest memory);
    /// otherwise they start at 0.
    fn activate(&mut self, resume: bool) -> Result<(), Error> {
        let mut started = Vec::new();
        let r = self.hand_over(resume, &mut started);
        if r.is_err() {
            for q in started {
                let _ = self.conn.stop_queue(q);
            }
        }
        r
    }

    fn hand_over(&mut self, resume: bool, started: &mut Vec<usize>) -> Result<(), Error> {
        self.conn.set_features(self.driver_features & !F_MAC)?;
        self.conn.set_mem_table(&self.mem)?;
        for q in 0..QUEUES {
            let s = self.queues[q];
            if !s.enabled {
                continue;
            }
            let mut idx = [0u8; 2];
            let base = if resume && self.mem.read(s.used + 2, &mut idx) {
                u16::from_le_bytes(idx)
            } else {
                0
            };
            started.push(q);
            self.conn.setup_queue_from(
                q,
                s.size,
                base,
                s.desc,
                s.avail,
                s.used,
                &self.kicks[q],
                &self.calls[q],
            )?;
            self.conn.enable_queue(q, true)?;
        }
        Ok(())
    }

    /// Goes on over a new connection (the switch restarted and connected
    /// again; [`VhostUserNet::open`] already done, `backend` its
    /// features): the device is handed over again as the driver left it.
    /// On failure the device says DEVICE_NEEDS_RESET.
    pub fn reconnect(&mut self, conn: VhostUserNet, backend: u64) -> Result<(), Error> {
        let needed = self.driver_features & !F_MAC;
        self.conn = conn;
        if !self.active {
            return Ok(());
        }
        let r = if needed & !backend != 0 {
            Err(Error::NotOffered {
                what: "the features the driver negotiated before",
            })
        } else {
            self.activate(true)
        };
        if r.is_err() {
            self.active = false;
            self.status |= status::NEEDS_RESET;
        }
        r
    }

    fn set_status(&mut self, v: u8) {
        if v == 0 {
            self.reset();
            return;
        }
        if v & status::FEATURES_OK != 0 && self.status & status::FEATURES_OK == 0 {
            // Features the device did not offer, or a driver without
            // VERSION_1: FEATURES_OK does not stick.
            if self.driver_features & !self.offered != 0 || self.driver_features & F_VERSION_1 == 0
            {
                self.status = v & !status::FEATURES_OK;
                return;
            }
        }
        if v & status::DRIVER_OK != 0 && v & status::FEATURES_OK == 0 {
            // DRIVER_OK before the features were agreed: not usable.
            self.status = v | status::NEEDS_RESET;
            return;
        }
        if v & status::DRIVER_OK != 0 && !self.active {
            match self.activate(false) {
                Ok(()) => self.active = true,
                Err(e) => {
                    eprintln!(
                        "rvs-vmm: virtio-net: the vhost-user backend did not take the device: {e}"
                    );
                    self.status = v | status::NEEDS_RESET;
                    return;
                }
            }
        }
        self.status = v;
    }

    fn common_read(&mut self, off: u64, data: &mut [u8]) {
        let q = self
            .queues
            .get(usize::from(self.queue_select))
            .copied()
            .unwrap_or_default();
        let v: u64 = match off {
            0x00 => u64::from(self.device_select),
            0x04 => match self.device_select {
                0 => self.offered & 0xffff_ffff,
                1 => self.offered >> 32,
                _ => 0,
            },
            0x08 => u64::from(self.driver_select),
            0x0c => match self.driver_select {
                0 => self.driver_features & 0xffff_ffff,
                1 => self.driver_features >> 32,
                _ => 0,
            },
            0x10 => 0xffff, // no MSI-X
            0x12 => QUEUES as u64,
            0x14 => u64::from(self.status),
            0x15 => u64::from(self.generation),
            0x16 => u64::from(self.queue_select),
            0x18 => u64::from(q.size),
            0x1a => 0xffff,
            0x1c => u64::from(q.enabled),
            0x1e => u64::from(self.queue_select),
            0x20 => q.desc,
            0x24 => q.desc >> 32,
            0x28 => q.avail,
            0x2c => q.avail >> 32,
            0x30 => q.used,
            0x34 => q.used >> 32,
            _ => 0,
        };
        let b = v.to_le_bytes();
        let n = data.len().min(8);
        data[..n].copy_from_slice(&b[..n]);
    }

    fn common_write(&mut self, off: u64, data: &[u8]) {
        let mut b = [0u8; 8];
        let n = data.len().min(8);
        b[..n].copy_from_slice(&data[..n]);
        let v = u64::from_le_bytes(b);
        let lo = |old: u64| (old & !0xffff_ffff) | (v & 0xffff_ffff);
        let hi = |old: u64| (old & 0xffff_ffff) | (v << 32);
        let running = self.status & status::DRIVER_OK != 0;
        match off {
            0x00 => self.device_select = v as u32,
            0x08 => self.driver_select = v as u32,
            0x0c if self.status & status::FEATURES_OK == 0 => match self.driver_select {
                0 => self.driver_features = lo(self.driver_features),
                1 => self.driver_features = hi(self.driver_features),
                _ => {}
            },
            0x14 => self.set_status(v as u8),
            0x16 => self.queue_select = v as u16,
            // Queue registers are the driver's until DRIVER_OK.
            0x18 if !running => {
                let size = v as u16;
                if let Some(q) = self.queue() {
                    if size.is_power_of_two() && size <= MAX_QUEUE_SIZE {
                        q.size = size;
                    }
                }
            }
            0x1c if !running => {
                if let Some(q) = self.queue() {
                    q.enabled = v & 1 == 1;
                }
            }
            0x20 | 0x24 | 0x28 | 0x2c | 0x30 | 0x34 if !running => {
                if let Some(q) = self.queue() {
                    let field = match off & !7 {
                        0x20 => &mut q.desc,
                        0x28 => &mut q.avail,
                        _ => &mut q.used,
                    };
                    *field = if off % 8 == 0 {
                        if n == 8 {
                            v
                        } else {
                            lo(*field)
                        }
                    } else {
                        hi(*field)
                    };
                }
            }
            _ => {}
        }
    }

    fn device_config(&self) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[0..6].copy_from_slice(&self.mac);
        c[6..8].copy_from_slice(&1u16.to_le_bytes()); // link up
        c[8..10].copy_from_slice(&1u16.to_le_bytes()); // one queue pair
        c[10..12].copy_from_slice(&1500u16.to_le_bytes());
        c
    }
}

impl PciFunction for VirtioNet {
    fn config_read(&mut self, reg: u16) -> u32 {
        let r = usize::from(reg & 0xfc);
        match r {
            0x10 if self.bar_sizing[0] => (!(BAR_SIZE as u32 - 1)) | 0x4,
            0x10 => (self.bar as u32) | 0x4, // 64-bit memory BAR
            0x14 if self.bar_sizing[1] => u32::MAX,
            0x14 => (self.bar >> 32) as u32,
            _ => u32::from_le_bytes([
                self.config[r],
                self.config[r + 1],
                self.config[r + 2],
                self.config[r + 3],
            ]),
        }
    }

    fn config_write(&mut self, reg: u16, offset: u16, data: &[u8]) {
        let r = usize::from(reg & 0xfc);
        match r {
            0x04 => {
                // Command: memory space, bus master; status bits are RO.
                for (i, b) in data.iter().enumerate() {
                    if let Some(x) = self.config.get_mut(r + usize::from(offset) + i) {
                        if usize::from(offset) + i < 2 {
                            *x = *b;
                        }
                    }
                }
            }
            0x10 | 0x14 => {
                let all = data.len() == 4 && data.iter().all(|&b| b == 0xff);
                self.bar_sizing[(r - 0x10) / 4] = all;
            }
            _ => {}
        }
    }

    fn bar(&self) -> Option<(u64, u64)> {
        Some((self.bar, BAR_SIZE))
    }

    fn bar_read(&mut self, off: u64, data: &mut [u8]) {
        data.fill(0);
        match off {
            COMMON..0x1000 => self.common_read(off - COMMON, data),
            ISR..0x3000 => {
                // No interrupts are raised yet: nothing pending.
            }
            DEVICE..0x4000 => {
                let c = self.device_config();
                let at = (off - DEVICE) as usize;
                for (i, b) in data.iter_mut().enumerate() {
                    *b = c.get(at + i).copied().unwrap_or(0);
                }
            }
            _ => {}
        }
    }

    fn bar_write(&mut self, off: u64, data: &[u8]) {
        match off {
            COMMON..0x1000 => self.common_write(off - COMMON, data),
            // Notifications normally go to the ioeventfds in the kernel;
            // one that reaches us (a width KVM did not match) is passed on.
            NOTIFY..0x2000 => {
                let q = ((off - NOTIFY) / u64::from(NOTIFY_MULTIPLIER)) as usize;
                if let Some(k) = self.kicks.get(q) {
                    let _ = k.write(1);
                }
            }
            _ => {}
        }
    }
}
