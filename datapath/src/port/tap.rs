//! A TAP device as a port: what the host's stack sends to the device, the
//! port receives, and what the port transmits, the host's stack receives.
//! It serves `internal` ports (the bridge's own device, such as `br0`) and
//! `tap` ports.
//!
//! The port opens `/dev/net/tun` non-blocking and attaches it to a TAP
//! device (`IFF_TAP | IFF_NO_PI`: plain Ethernet frames, no extra header),
//! creating the device if it does not exist and `create` is set, and brings
//! it up.
//!
//! **Lifetime.** A device the port created is not persistent: the kernel
//! removes it when the port is dropped (its file descriptor closed). A
//! device that existed before (made persistent with `ip tuntap add`) is only
//! detached and stays. [`TapPort::created`] tells which.
//!
//! **Checksums.** The port never enables offloads (`TUNSETOFFLOAD`), so the
//! host stack finishes every checksum before a frame reaches the device:
//! received frames need no fixing, and frames to transmit must carry full
//! checksums, as the other ports deliver them.
//!
//! **Costs.** A TAP has no ring: a receive burst is one `read()` per frame
//! plus one that finds nothing (`EAGAIN`), so even an empty poll is a system
//! call; a transmit is one `write()` per frame.

use super::sys;
use super::{Port, PortError, PortStats};
use crate::packet::{Batch, Packet, PacketPool, BATCH_SIZE};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `TUNSETIFF`, `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: u16 = 0x0002;
const IFF_NO_PI: u16 = 0x1000;

/// A TAP device as a port (see the module docs).
#[derive(Debug)]
pub struct TapPort {
    name: String,
    fd: OwnedFd,
    /// A socket for the interface ioctls.
    ctl: OwnedFd,
    created: bool,
    stats: PortStats,
}

impl TapPort {
    /// Attaches to TAP device `name`, creating it if it does not exist and
    /// `create` is true, and brings it up.
    pub fn open(name: &str, create: bool) -> Result<TapPort, PortError> {
        sys::check_ifname(name)?;
        let exists = match sys::ifindex(name) {
            Ok(_) => true,
            Err(PortError::NoSuchDevice(_)) => false,
            Err(e) => return Err(e),
        };
        if !exists && !create {
            return Err(PortError::NoSuchDevice(name.to_string()));
        }
        // SAFETY: the path is a NUL-terminated string literal.
        let raw = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(sys::io_err(format!(
                "open /dev/net/tun for TAP port {name} (is the tun module loaded?)"
            )));
        }
        // SAFETY: `raw` was just returned by open(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = sys::IfReq::new(name);
        req.set_flags(IFF_TAP | IFF_NO_PI);
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req as *mut sys::IfReq) };
        if r < 0 {
            let source = io::Error::last_os_error();
            let what = match source.raw_os_error() {
                Some(libc::EINVAL) => {
                    format!("attach to {name}: it exists and is not a TAP device")
                }
                Some(libc::EBUSY) => {
                    format!("attach to TAP device {name}: another process has it open")
                }
                Some(libc::EPERM) => format!("create TAP device {name}: needs CAP_NET_ADMIN"),
                _ => format!("attach to TAP device {name}"),
            };
            return Err(PortError::Io { what, source });
        }
        let ctl = sys::ioctl_socket()?;
        sys::if_set_up(ctl.as_raw_fd(), name)?;
        Ok(TapPort {
            name: name.to_string(),
            fd,
            ctl,
            created: !exists,
            stats: PortStats::default(),
        })
    }

    /// Whether this port created the device (which then goes away with the
    /// port).
    pub fn created(&self) -> bool {
        self.created
    }
}

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }

    /// A `read` per poll: every 16th iteration (a few microseconds when
    /// idle) is plenty for the host stack's traffic.
    fn rx_poll_every(&self) -> u32 {
        16
    }

    fn rx_burst(&mut self, batch: &mut Batch, pool: &mut PacketPool) -> usize {
        let mut n = 0;
        // Bounded even if every read fails.
        for _ in 0..BATCH_SIZE {
            if batch.is_full() {
                break;
            }
            let Some(mut p) = pool.get() else {
                // Frames stay queued in the device until buffers are back.
                break;
            };
            let room = p.spare_mut();
            // SAFETY: reads at most `room.len()` bytes into `room`.
            let r =
                unsafe { libc::read(self.fd.as_raw_fd(), room.as_mut_ptr().cast(), room.len()) };
            if r <= 0 {
                pool.put(p);
                if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
                    break;
                }
                // A frame too large for the buffer is consumed and lost;
                // any other error ends the burst too.
                self.stats.rx_dropped += 1;
                if r == 0 {
                    break;
                }
                continue;
            }
            p.set_len(r as usize);
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += r as u64;
            if let Err(p) = batch.push(p) {
                pool.put(p);
            }
            n += 1;
        }
        n
    }

    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        for p in pkts.drain(..) {
            let data = p.data();
            // SAFETY: writes `data.len()` bytes from `data`.
            let r = unsafe { libc::write(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            if r == data.len() as isize {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += data.len() as u64;
            } else {
                self.stats.tx_dropped += 1;
            }
            pool.put(p);
        }
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn mac(&self) -> Option<[u8; 6]> {
        sys::if_mac(self.ctl.as_raw_fd(), &self.name)
    }

    fn link_up(&self) -> bool {
        sys::if_running(self.ctl.as_raw_fd(), &self.name)
    }
}
