//! Small safe wrappers around the system calls the host ports share:
//! interface lookups and flags, socket options, shared memory mappings and
//! the words of rings that the kernel and the port both write.
//!
//! Everything here is for opening and inspecting ports (the control path),
//! except [`Mmap`] and [`SharedU32`], which the burst functions use.

use super::PortError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// Longest interface name the kernel accepts (IFNAMSIZ less the NUL).
pub(crate) const MAX_IFNAME: usize = 15;

const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
const SIOCGIFHWADDR: libc::c_ulong = 0x8927;
const ARPHRD_ETHER: u16 = 1;

/// `struct ifreq`: a name and a 24-byte union (40 bytes, 8-aligned).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub(crate) struct IfReq {
    pub name: [u8; 16],
    pub data: [u8; 24],
}

impl IfReq {
    /// A request about interface `name` (already checked by [`check_ifname`]).
    pub fn new(name: &str) -> IfReq {
        let mut r = IfReq {
            name: [0; 16],
            data: [0; 24],
        };
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        r
    }

    /// `ifr_flags` (a short at the start of the union).
    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.data[0], self.data[1]])
    }

    pub fn set_flags(&mut self, flags: u16) {
        self.data[..2].copy_from_slice(&flags.to_ne_bytes());
    }
}

/// The error for a failed call, with what was being done.
pub(crate) fn io_err(what: impl Into<String>) -> PortError {
    PortError::Io {
        what: what.into(),
        source: io::Error::last_os_error(),
    }
}

/// Refuses names the kernel would refuse, with a message that says why.
pub(crate) fn check_ifname(name: &str) -> Result<(), PortError> {
    if name.is_empty() || name.len() > MAX_IFNAME || name.bytes().any(|b| b == 0 || b == b'/') {
        return Err(PortError::BadOption(format!(
            "\"{name}\" is not a valid interface name (1 to {MAX_IFNAME} bytes, no '/')"
        )));
    }
    Ok(())
}

/// The interface index of `name`, or [`PortError::NoSuchDevice`].
pub(crate) fn ifindex(name: &str) -> Result<u32, PortError> {
    check_ifname(name)?;
    let mut buf = [0u8; 16];
    buf[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: `buf` is a NUL-terminated string (at most 15 name bytes in 16).
    let index = unsafe { libc::if_nametoindex(buf.as_ptr().cast()) };
    if index == 0 {
        return Err(PortError::NoSuchDevice(name.to_string()));
    }
    Ok(index)
}

/// A socket for interface ioctls (any socket will do; a UDP one needs no
/// privilege to create).
pub(crate) fn ioctl_socket() -> Result<OwnedFd, PortError> {
    socket(
        libc::AF_INET,
        libc::SOCK_DGRAM,
        0,
        "create a socket for interface ioctls",
    )
}

/// `socket(2)` with close-on-exec.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
    what: &str,
) -> Result<OwnedFd, PortError> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io_err(what));
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs an interface ioctl (`SIOCGIF*`/`SIOCSIF*`) on `fd`.
fn ifreq_ioctl(fd: RawFd, request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: the interface ioctls used here read and write one `struct
    // ifreq`, which `req` is (same size and alignment).
    let r = unsafe { libc::ioctl(fd, request, req as *mut IfReq) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The interface flags (`IFF_*`) of `name`, asked through `fd`.
pub(crate) fn if_flags(fd: RawFd, name: &str) -> io::Result<u16> {
    let mut req = IfReq::new(name);
    ifreq_ioctl(fd, SIOCGIFFLAGS, &mut req)?;
    Ok(req.flags())
}

/// Whether `name` is up with its carrier on (`IFF_UP` and `IFF_RUNNING`).
pub(crate) fn if_running(fd: RawFd, name: &str) -> bool {
    let want = (libc::IFF_UP | libc::IFF_RUNNING) as u16;
    if_flags(fd, name).is_ok_and(|f| f & want == want)
}

/// Sets `IFF_UP` on `name`.
pub(crate) fn if_set_up(fd: RawFd, name: &str) -> Result<(), PortError> {
    let what = || format!("bring {name} up");
    let mut req = IfReq::new(name);
    ifreq_ioctl(fd, SIOCGIFFLAGS, &mut req).map_err(|source| PortError::Io {
        what: what(),
        source,
    })?;
    let flags = req.flags();
    if flags & libc::IFF_UP as u16 != 0 {
        return Ok(());
    }
    req.set_flags(flags | libc::IFF_UP as u16);
    ifreq_ioctl(fd, SIOCSIFFLAGS, &mut req).map_err(|source| PortError::Io {
        what: what(),
        source,
    })
}

/// The Ethernet address of `name`, or `None` if it has none (or the
/// interface is gone).
pub(crate) fn if_mac(fd: RawFd, name: &str) -> Option<[u8; 6]> {
    let mut req = IfReq::new(name);
    ifreq_ioctl(fd, SIOCGIFHWADDR, &mut req).ok()?;
    // ifr_hwaddr is a struct sockaddr: a 2-byte family, then the address.
    let family = u16::from_ne_bytes([req.data[0], req.data[1]]);
    if family != ARPHRD_ETHER {
        return None;
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&req.data[2..8]);
    Some(mac)
}

/// `setsockopt(2)` with a value of type `T`.
pub(crate) fn setsockopt<T>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the length passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt(2)` into a value of type `T`; returns it and the length the
/// kernel wrote.
pub(crate) fn getsockopt<T: Copy>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    mut value: T,
) -> io::Result<(T, usize)> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a live `T` and `len` its size; the kernel writes at
    // most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((value, len as usize))
}

/// A shared memory mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: *mut u8,
    len: usize,
}

impl Mmap {
    /// Maps `len` bytes of `fd` at `offset`, shared and writable.
    pub fn shared(
        fd: RawFd,
        len: usize,
        offset: libc::off_t,
        what: &str,
    ) -> Result<Mmap, PortError> {
        Mmap::map(fd, len, offset, libc::MAP_SHARED | libc::MAP_POPULATE, what)
    }

    /// Maps `len` bytes of anonymous memory, zeroed and populated.
    pub fn anonymous(len: usize, what: &str) -> Result<Mmap, PortError> {
        Mmap::map(
            -1,
            len,
            0,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            what,
        )
    }

    fn map(
        fd: RawFd,
        len: usize,
        offset: libc::off_t,
        flags: libc::c_int,
        what: &str,
    ) -> Result<Mmap, PortError> {
        // SAFETY: a new mapping chosen by the kernel (no fixed address), so
        // no existing memory is affected; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io_err(what));
        }
        Ok(Mmap {
            ptr: ptr.cast(),
            len,
        })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The 32-bit word at `offset`, which the kernel may write concurrently.
    /// Panics if it is outside the mapping or misaligned.
    pub fn shared_u32(&self, offset: usize) -> SharedU32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len);
        // SAFETY: in bounds (checked above) of a mapping that lives as long
        // as the owner of both this Mmap and the SharedU32 (see SharedU32).
        SharedU32(unsafe { self.ptr.add(offset) }.cast())
    }

    /// Bytes `offset..offset + len` of the mapping, or `None` if out of
    /// bounds. The caller must own that range (the kernel does not write
    /// it meanwhile), as the ring protocol of each port ensures.
    pub fn bytes(&self, offset: usize, len: usize) -> Option<&[u8]> {
        if offset.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds of the live mapping; by the ring protocol the
        // kernel does not write these bytes while the port reads them.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.add(offset), len) })
    }

    /// Bytes `offset..offset + len`, writable; as for [`Mmap::bytes`].
    pub fn bytes_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        if offset.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds of the live mapping, borrowed mutably from
        // `self`; by the ring protocol the kernel does not touch these bytes
        // while the port writes them.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.add(offset), len) })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are a mapping made by `Mmap::map` and not yet
        // unmapped; nothing refers to it after drop (every SharedU32 and
        // slice into it is owned or borrowed by the same port).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

// SAFETY: the mapping is plain memory; moving its owner to another thread
// moves all access with it.
unsafe impl Send for Mmap {}

/// A 32-bit word in a mapping shared with the kernel (a ring's producer or
/// consumer index, a block or frame status), read and written atomically.
///
/// It must not outlive the [`Mmap`] it points into: every port keeps both
/// in the same struct and never hands a `SharedU32` out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedU32(*const AtomicU32);

impl SharedU32 {
    #[inline(always)]
    pub fn load(self) -> u32 {
        // SAFETY: points into a live mapping, 4-aligned (see Mmap::shared_u32).
        unsafe { &*self.0 }.load(Ordering::Acquire)
    }

    #[inline(always)]
    pub fn store(self, v: u32) {
        // SAFETY: as in `load`.
        unsafe { &*self.0 }.store(v, Ordering::Release)
    }
}

// SAFETY: an atomic word in a mapping owned by the same port; see Mmap.
unsafe impl Send for SharedU32 {}

/// Whether the error is one a non-blocking socket reports when it would
/// block or is briefly out of room.
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::ENOBUFS | libc::EBUSY | libc::EINTR)
    )
}

/// `sendto(fd, NULL, 0, MSG_DONTWAIT)`: the kick that makes the kernel send
/// what a mapped TX ring holds.
#[inline]
pub(crate) fn kick_tx(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length send with no buffer and no address.
    let r = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `recvfrom(fd, NULL, 0, MSG_DONTWAIT)`: wakes a driver that asked to be
/// woken to refill its RX queue (AF_XDP need-wakeup).
#[inline]
pub(crate) fn kick_rx(fd: RawFd) {
    // SAFETY: a zero-length receive with no buffer and no address.
    unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// Scratch `mmsghdr`/`iovec` arrays for sending a burst with one
/// `sendmmsg(2)`, allocated once.
pub(crate) struct SendMmsg {
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
}

impl std::fmt::Debug for SendMmsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendMmsg")
            .field("capacity", &self.msgs.len())
            .finish()
    }
}

/// What a [`SendMmsg::send`] did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    pub packets: u64,
    pub bytes: u64,
    pub dropped: u64,
    /// Calls that failed with an error other than "try again".
    pub errors: u64,
}

impl SendMmsg {
    /// Room for bursts of `n` frames.
    pub fn new(n: usize) -> SendMmsg {
        let iovs = vec![
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            };
            n
        ];
        // SAFETY: mmsghdr is plain integers and pointers; all zeroes (null
        // pointers, zero lengths) is a valid value.
        let msgs = vec![unsafe { std::mem::zeroed::<libc::mmsghdr>() }; n];
        SendMmsg { msgs, iovs }
    }

    /// Sends `pkts` on the bound socket `fd` without blocking. A frame the
    /// kernel refuses is skipped; when the device queue is full the rest of
    /// the burst is dropped.
    pub fn send(&mut self, fd: RawFd, pkts: &[crate::packet::Packet]) -> Sent {
        let mut out = Sent::default();
        for chunk in pkts.chunks(self.msgs.len()) {
            for (i, p) in chunk.iter().enumerate() {
                let data = p.data();
                self.iovs[i] = libc::iovec {
                    iov_base: data.as_ptr() as *mut libc::c_void,
                    iov_len: data.len(),
                };
                self.msgs[i].msg_hdr.msg_iov = &mut self.iovs[i];
                self.msgs[i].msg_hdr.msg_iovlen = 1;
                self.msgs[i].msg_len = 0;
            }
            let mut at = 0;
            while at < chunk.len() {
                // SAFETY: `msgs[at..chunk.len()]` are initialised headers
                // whose single iovec points to the data of a packet in
                // `chunk`, borrowed for the duration of the call; no
                // addresses or control data.
                let r = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.msgs.as_mut_ptr().add(at),
                        (chunk.len() - at) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                if r > 0 {
                    for p in &chunk[at..at + r as usize] {
                        out.packets += 1;
                        out.bytes += p.len() as u64;
                    }
                    at += r as usize;
                    continue;
                }
                let e = io::Error::last_os_error();
                if r == 0 || is_transient(&e) {
                    out.dropped += (chunk.len() - at) as u64;
                    break;
                }
                out.errors += 1;
                out.dropped += 1;
                at += 1;
            }
        }
        out
    }
}

// SAFETY: the pointers in the scratch arrays are only meaningful during a
// `send` call, which borrows what they point to; between calls they are
// stale and never read.
unsafe impl Send for SendMmsg {}

/// Pins the calling thread to one CPU.
pub(crate) fn pin_current_thread(core: usize) -> io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("core {core} is out of range"),
        ));
    }
    // SAFETY: cpu_set_t is plain data for which all-zero is a valid empty
    // set; CPU_SET writes within it for core < CPU_SETSIZE (checked above).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `set` is a valid, exclusively borrowed cpu_set_t.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is the calling thread; the pointer and size describe
    // `set`, which lives across the call.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lets the calling thread run on every CPU the process may use.
pub(crate) fn unpin_current_thread() -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data for which all-zero is a valid empty
    // set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this process; the pointer and size describe `set`,
    // which lives across the call and receives the process's mask.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above, for the calling thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
