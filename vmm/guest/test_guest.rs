//! The test guest of `rvs-vmm run --test-guest`: a few hundred bytes of
//! freestanding code that checks a host's VMM path without a Linux
//! kernel (which cannot boot under the nested PVM KVM of the development
//! machines; see ../PVM-NOTES.md).
//!
//! It starts in 64-bit mode at privilege level 3 (the VMM sets it up so:
//! PVM runs CPL3 code natively and emulates CPL0 code instruction by
//! instruction), with IOPL 3 for port I/O. It reads the boot information
//! the VMM left at [`BOOT_INFO`] (the command line), prints on the 16550
//! serial port, enumerates PCI bus 0 through the configuration ports and
//! prints what it finds, and ends by writing its exit status to the
//! VMM's exit port.
//!
//! Built by `../build.rs` with the host's rustc: `no_std`, no start
//! files, `link.ld`. It uses no `core::fmt` (precompiled with SSE, which
//! the PVM emulator refuses at CPL0; plain code keeps it usable there too).

#![no_std]
#![no_main]

use core::panic::PanicInfo;

/// Where the VMM puts [`BootInfo`].
const BOOT_INFO: usize = 0x7000;
const BOOT_MAGIC: u32 = 0x314d_5652; // "RVM1"
const SERIAL: u16 = 0x3f8;
const EXIT_PORT: u16 = 0xf4;
const PCI_ADDR: u16 = 0xcf8;
const PCI_DATA: u16 = 0xcfc;

#[repr(C)]
struct BootInfo {
    magic: u32,
    cmdline_len: u32,
    cmdline: [u8; 1024],
}

fn outb(port: u16, v: u8) {
    // SAFETY: port I/O to the VMM's devices; IOPL 3 allows it here.
    unsafe { core::arch::asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack)) };
}

fn outl(port: u16, v: u32) {
    // SAFETY: as in `outb`.
    unsafe { core::arch::asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack)) };
}

fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as in `outb`.
    unsafe { core::arch::asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack)) };
    v
}

fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as in `outb`.
    unsafe { core::arch::asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack)) };
    v
}

fn print(s: &[u8]) {
    for &b in s {
        outb(SERIAL, b);
    }
}

fn print_hex(v: u32, digits: u32) {
    let mut i = digits;
    while i > 0 {
        i -= 1;
        let d = ((v >> (4 * i)) & 0xf) as u8;
        outb(SERIAL, if d < 10 { b'0' + d } else { b'a' + d - 10 });
    }
}

fn exit(code: u8) -> ! {
    outb(EXIT_PORT, code);
    loop {
        core::hint::spin_loop();
    }
}

/// A configuration-space dword of bus 0.
fn pci_read(dev: u32, func: u32, reg: u32) -> u32 {
    outl(PCI_ADDR, 0x8000_0000 | (dev << 11) | (func << 8) | (reg & 0xfc));
    inl(PCI_DATA)
}

fn pci_write(dev: u32, func: u32, reg: u32, v: u32) {
    outl(PCI_ADDR, 0x8000_0000 | (dev << 11) | (func << 8) | (reg & 0xfc));
    outl(PCI_DATA, v);
}

// ---------------------------------------------------------------------
// Memory-mapped registers and shared memory
// ---------------------------------------------------------------------

fn rd8(a: u64) -> u8 {
    // SAFETY: `a` is a device register or guest RAM the VMM mapped; the
    // page tables map the first 4 GiB.
    unsafe { core::ptr::read_volatile(a as *const u8) }
}
fn rd16(a: u64) -> u16 {
    // SAFETY: as in `rd8`.
    unsafe { core::ptr::read_volatile(a as *const u16) }
}
fn rd32(a: u64) -> u32 {
    // SAFETY: as in `rd8`.
    unsafe { core::ptr::read_volatile(a as *const u32) }
}
fn wr8(a: u64, v: u8) {
    // SAFETY: as in `rd8`.
    unsafe { core::ptr::write_volatile(a as *mut u8, v) }
}
fn wr16(a: u64, v: u16) {
    // SAFETY: as in `rd8`.
    unsafe { core::ptr::write_volatile(a as *mut u16, v) }
}
fn wr32(a: u64, v: u32) {
    // SAFETY: as in `rd8`.
    unsafe { core::ptr::write_volatile(a as *mut u32, v) }
}
fn wr64(a: u64, v: u64) {
    // SAFETY: as in `rd8`.
    unsafe { core::ptr::write_volatile(a as *mut u64, v) }
}
fn fence() {
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}
fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads the time stamp counter; no memory is touched.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

// ---------------------------------------------------------------------
// The command line: ip=A.B.C.D/N echo=A.B.C.D:PORT [payload=TEXT]
// ---------------------------------------------------------------------

fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn parse_ip(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut n = 0;
    for part in s.split(|&c| c == b'.') {
        let v = parse_u32(part)?;
        if n == 4 || v > 255 {
            return None;
        }
        out[n] = v as u8;
        n += 1;
    }
    (n == 4).then_some(out)
}

struct Net<'a> {
    ip: [u8; 4],
    /// Echo mode: the host to send to.
    peer: [u8; 4],
    port: u16,
    payload: &'a [u8],
    /// Serve mode: answer datagrams to `port` instead, `count` of them
    /// (0: for ever).
    serve: bool,
    count: u32,
}

fn parse_cmdline(c: &[u8]) -> Result<Option<Net<'_>>, &'static [u8]> {
    let (mut ip, mut echo, mut payload) = (None, None, &b"hello from the rvs test guest"[..]);
    let mut serve = None;
    let mut count = 1;
    for tok in c.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        if let Some(v) = tok.strip_prefix(b"ip=") {
            let addr = v.split(|&b| b == b'/').next().unwrap_or(v);
            ip = Some(parse_ip(addr).ok_or(&b"bad ip= (want ip=A.B.C.D/N)"[..])?);
        } else if let Some(v) = tok.strip_prefix(b"echo=") {
            let mut it = v.split(|&b| b == b':');
            let a = parse_ip(it.next().unwrap_or(b"")).ok_or(&b"bad echo= address"[..])?;
            let p = it
                .next()
                .and_then(parse_u32)
                .filter(|&p| p > 0 && p < 65536)
                .ok_or(&b"bad echo= port (want echo=A.B.C.D:PORT)"[..])?;
            echo = Some((a, p as u16));
        } else if let Some(v) = tok.strip_prefix(b"serve=") {
            let p = parse_u32(v)
                .filter(|&p| p > 0 && p < 65536)
                .ok_or(&b"bad serve= port (want serve=PORT)"[..])?;
            serve = Some(p as u16);
        } else if let Some(v) = tok.strip_prefix(b"count=") {
            count = parse_u32(v).ok_or(&b"bad count= (want count=N, 0 for ever)"[..])?;
        } else if let Some(v) = tok.strip_prefix(b"payload=") {
            if v.len() > 512 {
                return Err(b"payload= is longer than 512 bytes");
            }
            payload = v;
        }
    }
    match (ip, echo, serve) {
        (Some(ip), Some((peer, port)), None) => Ok(Some(Net {
            ip,
            peer,
            port,
            payload,
            serve: false,
            count,
        })),
        (Some(ip), None, Some(port)) => Ok(Some(Net {
            ip,
            peer: [0; 4],
            port,
            payload,
            serve: true,
            count,
        })),
        (None, None, None) => Ok(None),
        _ => Err(b"want ip= with one of echo=HOST:PORT or serve=PORT"),
    }
}

// ---------------------------------------------------------------------
// virtio-pci (modern) and virtio-net
// ---------------------------------------------------------------------

const QSIZE: u16 = 16;
const BUF: u64 = 2048;
const HDR: usize = 12;
/// Guest memory for the rings and buffers (the VMM gives us 16 MiB).
const RINGS: [u64; 2] = [0x20_0000, 0x21_0000];
const BUFS: [u64; 2] = [0x30_0000, 0x38_0000];

struct Virtq {
    desc: u64,
    avail: u64,
    used: u64,
    bufs: u64,
    notify: u64,
    index: u16,
    avail_idx: u16,
    last_used: u16,
}

impl Virtq {
    fn new(i: usize) -> Virtq {
        let r = RINGS[i];
        Virtq {
            desc: r,
            avail: r + 16 * u64::from(QSIZE),
            used: r + 0x1000,
            bufs: BUFS[i],
            notify: 0,
            index: i as u16,
            avail_idx: 0,
            last_used: 0,
        }
    }

    fn set_desc(&self, i: u16, len: u32, flags: u16) {
        let d = self.desc + 16 * u64::from(i);
        wr64(d, self.bufs + BUF * u64::from(i));
        wr32(d + 8, len);
        wr16(d + 12, flags);
        wr16(d + 14, 0);
    }

    /// Makes descriptor `i` available and tells the device.
    fn offer(&mut self, i: u16) {
        wr16(self.avail + 4 + 2 * u64::from(self.avail_idx % QSIZE), i);
        fence();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        wr16(self.avail + 2, self.avail_idx);
        fence();
        wr16(self.notify, self.index);
    }

    /// The next used entry (id, len).
    fn take(&mut self) -> Option<(u16, u32)> {
        if rd16(self.used + 2) == self.last_used {
            return None;
        }
        fence();
        let e = self.used + 4 + 8 * u64::from(self.last_used % QSIZE);
        self.last_used = self.last_used.wrapping_add(1);
        Some((rd32(e) as u16, rd32(e + 4)))
    }
}

struct Nic {
    mac: [u8; 6],
    rx: Virtq,
    tx: Virtq,
    sent: u16,
}

/// Finds 1af4:1041 on bus 0 and brings it up; the reason when it fails.
fn nic_up() -> Result<Nic, &'static [u8]> {
    let dev = (0..32)
        .find(|&d| pci_read(d, 0, 0) == 0x1041_1af4)
        .ok_or(&b"no virtio-net device on PCI bus 0"[..])?;
    let bar = (u64::from(pci_read(dev, 0, 0x10)) & !0xf) | (u64::from(pci_read(dev, 0, 0x14)) << 32);
    let cmd = pci_read(dev, 0, 4);
    pci_write(dev, 0, 4, (cmd & 0xffff) | 0x6); // memory space, bus master
    let (mut common, mut notify, mut device, mut mult) = (0, 0, 0, 0);
    if (pci_read(dev, 0, 4) >> 16) & 0x10 != 0 {
        let mut ptr = pci_read(dev, 0, 0x34) & 0xfc;
        let mut guard = 0;
        while ptr != 0 && guard < 48 {
            guard += 1;
            let h = pci_read(dev, 0, ptr);
            if h & 0xff == 0x09 && pci_read(dev, 0, ptr + 4) & 0xff == 0 {
                let off = u64::from(pci_read(dev, 0, ptr + 8));
                match (h >> 24) & 0xff {
                    1 => common = bar + off,
                    2 => {
                        notify = bar + off;
                        mult = u64::from(pci_read(dev, 0, ptr + 16));
                    }
                    4 => device = bar + off,
                    _ => {}
                }
            }
            ptr = (h >> 8) & 0xfc;
        }
    }
    if common == 0 || notify == 0 || device == 0 {
        return Err(b"the virtio-net device lacks its PCI capabilities");
    }
    let status = common + 0x14;
    wr8(status, 0);
    wr8(status, 1);
    wr8(status, 1 | 2);
    wr32(common, 0);
    let lo = rd32(common + 4);
    wr32(common, 1);
    let hi = rd32(common + 4);
    if hi & 1 == 0 {
        return Err(b"the device does not offer VIRTIO_F_VERSION_1");
    }
    let want_lo = lo & (1 << 5); // MAC
    wr32(common + 8, 0);
    wr32(common + 0xc, want_lo);
    wr32(common + 8, 1);
    wr32(common + 0xc, 1);
    wr8(status, 1 | 2 | 8);
    if rd8(status) & 8 == 0 {
        return Err(b"the device refused our features");
    }
    let mut qs = [Virtq::new(0), Virtq::new(1)];
    for q in qs.iter_mut() {
        wr16(common + 0x16, q.index);
        if rd16(common + 0x18) < QSIZE {
            return Err(b"the device's queues are too small");
        }
        wr16(common + 0x18, QSIZE);
        wr32(common + 0x20, q.desc as u32);
        wr32(common + 0x24, (q.desc >> 32) as u32);
        wr32(common + 0x28, q.avail as u32);
        wr32(common + 0x2c, (q.avail >> 32) as u32);
        wr32(common + 0x30, q.used as u32);
        wr32(common + 0x34, (q.used >> 32) as u32);
        q.notify = notify + u64::from(rd16(common + 0x1e)) * mult;
        wr16(q.avail, 1); // no interrupts: we poll
        wr16(common + 0x1c, 1);
    }
    wr8(status, 1 | 2 | 4 | 8);
    if rd8(status) & 0x40 != 0 {
        return Err(b"the device needs a reset (its backend refused it; see the VMM's messages)");
    }
    let mut mac = [0u8; 6];
    for (i, m) in mac.iter_mut().enumerate() {
        *m = if want_lo != 0 { rd8(device + i as u64) } else { [2, 0, 0, 0, 0, 1][i] };
    }
    let [mut rx, tx] = qs;
    for i in 0..QSIZE {
        rx.set_desc(i, BUF as u32, 2); // device-writable
        rx.offer(i);
    }
    Ok(Nic { mac, rx, tx, sent: 0 })
}

impl Nic {
    fn send(&mut self, frame: &[u8]) {
        let i = self.sent % QSIZE;
        self.sent = self.sent.wrapping_add(1);
        // Reclaim what the device used (the buffers are reused in turn).
        while self.tx.take().is_some() {}
        let b = self.tx.bufs + BUF * u64::from(i);
        for k in 0..HDR as u64 {
            wr8(b + k, 0);
        }
        for (k, &v) in frame.iter().enumerate() {
            wr8(b + HDR as u64 + k as u64, v);
        }
        let len = (HDR + frame.len().max(60)) as u32;
        for k in frame.len()..60 {
            wr8(b + (HDR + k) as u64, 0);
        }
        self.tx.set_desc(i, len, 0);
        self.tx.offer(i);
    }

    /// The next received frame, copied into `out`; its length.
    fn recv(&mut self, out: &mut [u8; 1600]) -> Option<usize> {
        let (id, len) = self.rx.take()?;
        let id = id % QSIZE;
        let n = (len as usize).saturating_sub(HDR).min(out.len());
        let b = self.rx.bufs + BUF * u64::from(id) + HDR as u64;
        for (k, o) in out[..n].iter_mut().enumerate() {
            *o = rd8(b + k as u64);
        }
        self.rx.offer(id);
        Some(n)
    }
}

fn arp(op: u16, mac: [u8; 6], ip: [u8; 4], dmac: [u8; 6], dip: [u8; 4], out: &mut [u8; 60]) {
    *out = [0; 60];
    out[0..6].copy_from_slice(if op == 1 { &[0xff; 6] } else { &dmac });
    out[6..12].copy_from_slice(&mac);
    out[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    out[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, op as u8]);
    out[22..28].copy_from_slice(&mac);
    out[28..32].copy_from_slice(&ip);
    out[32..38].copy_from_slice(if op == 1 { &[0; 6] } else { &dmac });
    out[38..42].copy_from_slice(&dip);
}

fn udp(net: &Net, mac: [u8; 6], dmac: [u8; 6], out: &mut [u8; 1600]) -> usize {
    let plen = net.payload.len();
    let total = 20 + 8 + plen;
    out[0..6].copy_from_slice(&dmac);
    out[6..12].copy_from_slice(&mac);
    out[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut out[14..34];
    ip.copy_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[12..16].copy_from_slice(&net.ip);
    ip[16..20].copy_from_slice(&net.peer);
    let mut sum = 0u32;
    for w in ip.chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    out[34..36].copy_from_slice(&LOCAL_PORT.to_be_bytes());
    out[36..38].copy_from_slice(&net.port.to_be_bytes());
    out[38..40].copy_from_slice(&((8 + plen) as u16).to_be_bytes());
    out[40..42].copy_from_slice(&[0, 0]);
    out[42..42 + plen].copy_from_slice(net.payload);
    14 + total
}

const LOCAL_PORT: u16 = 40000;
/// Time stamp counter ticks between retries, and retries: at the TSC
/// rates of current CPUs (1–4 GHz) from a quarter second to a second
/// per try.
const RETRY_TICKS: u64 = 1_000_000_000;
const TRIES: u32 = 8;

/// ARP for the peer, send the payload by UDP, wait for it to come back.
fn echo(nic: &mut Nic, net: &Net) -> Result<(), &'static [u8]> {
    let mut frame = [0u8; 1600];
    let mut small = [0u8; 60];
    let mut peer_mac = None;
    let mut tries = 0;
    let mut next = 0u64;
    loop {
        let now = rdtsc();
        if now >= next {
            if tries == TRIES {
                return Err(if peer_mac.is_none() {
                    b"no ARP reply from the echo host"
                } else {
                    b"no echo came back"
                });
            }
            tries += 1;
            next = now + RETRY_TICKS;
            match peer_mac {
                None => {
                    arp(1, nic.mac, net.ip, [0; 6], net.peer, &mut small);
                    nic.send(&small);
                }
                Some(m) => {
                    let n = udp(net, nic.mac, m, &mut frame);
                    nic.send(&frame[..n]);
                }
            }
        }
        let mut f = [0u8; 1600];
        let Some(n) = nic.recv(&mut f) else {
            continue;
        };
        let f = &f[..n];
        if n >= 42 && f[12..14] == [0x08, 0x06] {
            let op = u16::from_be_bytes([f[20], f[21]]);
            let (sha, spa, tpa) = (&f[22..28], &f[28..32], &f[38..42]);
            if op == 2 && spa == net.peer && peer_mac.is_none() {
                let mut m = [0u8; 6];
                m.copy_from_slice(sha);
                peer_mac = Some(m);
                next = 0; // send the datagram now
                tries = 0;
            } else if op == 1 && tpa == net.ip {
                let mut m = [0u8; 6];
                m.copy_from_slice(sha);
                let mut s = [0u8; 4];
                s.copy_from_slice(spa);
                arp(2, nic.mac, net.ip, m, s, &mut small);
                nic.send(&small);
            }
        } else if n >= 42
            && f[12..14] == [0x08, 0x00]
            && f[23] == 17
            && f[26..30] == net.peer
            && f[30..34] == net.ip
        {
            let ihl = usize::from(f[14] & 0xf) * 4;
            let u = 14 + ihl;
            if n >= u + 8
                && u16::from_be_bytes([f[u], f[u + 1]]) == net.port
                && u16::from_be_bytes([f[u + 2], f[u + 3]]) == LOCAL_PORT
            {
                let ulen = usize::from(u16::from_be_bytes([f[u + 4], f[u + 5]]));
                let data = f.get(u + 8..u + ulen.max(8)).unwrap_or(&[]);
                if data == net.payload {
                    return Ok(());
                }
            }
        }
    }
}

/// Answers ARP for our address and echoes the first UDP datagram to
/// `net.port`; its payload's length (the payload is in `seen`).
fn serve(nic: &mut Nic, net: &Net, seen: &mut [u8; 1600], forever: bool) -> Result<usize, &'static [u8]> {
    let mut small = [0u8; 60];
    let deadline = rdtsc() + 4 * TRIES as u64 * RETRY_TICKS;
    loop {
        if !forever && rdtsc() > deadline {
            return Err(b"nobody sent a datagram");
        }
        let mut f = [0u8; 1600];
        let Some(n) = nic.recv(&mut f) else {
            continue;
        };
        if n >= 42 && f[12..14] == [0x08, 0x06] {
            if u16::from_be_bytes([f[20], f[21]]) == 1 && f[38..42] == net.ip {
                let mut m = [0u8; 6];
                m.copy_from_slice(&f[22..28]);
                let mut a = [0u8; 4];
                a.copy_from_slice(&f[28..32]);
                arp(2, nic.mac, net.ip, m, a, &mut small);
                nic.send(&small);
            }
            continue;
        }
        let ihl = usize::from(f[14] & 0xf) * 4;
        let u = 14 + ihl;
        if n < u + 8 || f[12..14] != [0x08, 0x00] || f[23] != 17 || f[30..34] != net.ip {
            continue;
        }
        if u16::from_be_bytes([f[u + 2], f[u + 3]]) != net.port {
            continue;
        }
        // Back where it came from: swap addresses and ports.
        let mut r = f;
        r[0..6].copy_from_slice(&f[6..12]);
        r[6..12].copy_from_slice(&nic.mac);
        r[26..30].copy_from_slice(&f[30..34]);
        r[30..34].copy_from_slice(&f[26..30]);
        r[u..u + 2].copy_from_slice(&f[u + 2..u + 4]);
        r[u + 2..u + 4].copy_from_slice(&f[u..u + 2]);
        r[u + 6..u + 8].copy_from_slice(&[0, 0]); // no UDP checksum
        nic.send(&r[..n]);
        let ulen = usize::from(u16::from_be_bytes([f[u + 4], f[u + 5]])).clamp(8, n - u);
        let len = ulen - 8;
        seen[..len].copy_from_slice(&f[u + 8..u + ulen]);
        return Ok(len);
    }
}

#[no_mangle]
#[link_section = ".text.start"]
pub extern "C" fn _start() -> ! {
    // SAFETY: the VMM wrote a BootInfo at BOOT_INFO before starting us;
    // volatile, as nothing in this program wrote it.
    let info = unsafe { core::ptr::read_volatile(BOOT_INFO as *const BootInfo) };
    print(b"rvs test guest\n");
    if info.magic != BOOT_MAGIC {
        print(b"FAIL no boot information\n");
        exit(1);
    }
    let n = (info.cmdline_len as usize).min(info.cmdline.len());
    let cmdline = &info.cmdline[..n];
    print(b"cmdline: ");
    print(cmdline);
    print(b"\n");
    let mut found = 0u32;
    for dev in 0..32 {
        let id = pci_read(dev, 0, 0);
        if id & 0xffff == 0xffff {
            continue;
        }
        found += 1;
        print(b"pci 00:");
        print_hex(dev, 2);
        print(b".0 ");
        print_hex(id & 0xffff, 4);
        print(b":");
        print_hex(id >> 16, 4);
        print(b"\n");
    }
    if found == 0 {
        print(b"pci: no devices\n");
    }
    // read-line: a line typed on the console (COM1), echoed back.
    if cmdline.split(|&b| b == b' ').any(|t| t == b"read-line") {
        let mut line = [0u8; 128];
        let mut n = 0;
        loop {
            let mut lsr = [0u8; 1];
            lsr[0] = inb(SERIAL + 5);
            if lsr[0] & 1 == 0 {
                core::hint::spin_loop();
                continue;
            }
            let c = inb(SERIAL);
            if c == b'\n' || n == line.len() {
                break;
            }
            line[n] = c;
            n += 1;
        }
        print(b"GOT ");
        print(&line[..n]);
        print(b"\n");
    }
    // exits=N: N port writes that the VMM handles (to measure exits per
    // second), then the usual end.
    for tok in cmdline.split(|&b| b == b' ') {
        if let Some(n) = tok.strip_prefix(b"exits=").and_then(parse_u32) {
            let t0 = rdtsc();
            for i in 0..n {
                outb(0x80, i as u8);
            }
            print(b"exits: ");
            print_hex(n, 8);
            print(b" in tsc ");
            let dt = rdtsc() - t0;
            print_hex((dt >> 32) as u32, 8);
            print_hex(dt as u32, 8);
            print(b"\n");
        }
    }
    let net = match parse_cmdline(cmdline) {
        Ok(n) => n,
        Err(why) => {
            print(b"ECHO FAIL ");
            print(why);
            print(b"\n");
            exit(1);
        }
    };
    let Some(net) = net else {
        print(b"OK\n");
        exit(0);
    };
    let mut nic = match nic_up() {
        Ok(nic) => nic,
        Err(why) => {
            print(b"ECHO FAIL ");
            print(why);
            print(b"\n");
            exit(1);
        }
    };
    print(b"eth0 ");
    for (i, b) in nic.mac.iter().enumerate() {
        if i > 0 {
            print(b":");
        }
        print_hex(u32::from(*b), 2);
    }
    print(b"\n");
    if net.serve {
        let mut seen = [0u8; 1600];
        let mut served = 0u32;
        while net.count == 0 || served + 1 < net.count {
            match serve(&mut nic, &net, &mut seen, net.count == 0) {
                Ok(n) => {
                    served += 1;
                    print(b"SERVED ");
                    print(&seen[..n]);
                    print(b"\n");
                }
                Err(why) => {
                    print(b"SERVE FAIL ");
                    print(why);
                    print(b"\n");
                    exit(1);
                }
            }
        }
        match serve(&mut nic, &net, &mut seen, false) {
            Ok(n) => {
                print(b"SERVED ");
                print(&seen[..n]);
                print(b"\n");
                // Let the answer leave before the VM ends.
                let until = rdtsc() + RETRY_TICKS / 4;
                while rdtsc() < until {
                    core::hint::spin_loop();
                }
                exit(0);
            }
            Err(why) => {
                print(b"SERVE FAIL ");
                print(why);
                print(b"\n");
                exit(1);
            }
        }
    }
    match echo(&mut nic, &net) {
        Ok(()) => {
            print(b"ECHO OK ");
            print(net.payload);
            print(b"\n");
            exit(0);
        }
        Err(why) => {
            print(b"ECHO FAIL ");
            print(why);
            print(b"\n");
            exit(1);
        }
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    print(b"FAIL panic\n");
    exit(2);
}

// The compiler calls these for copies and fills; without a C library
// they are ours. `rep movsb`/`rep stosb`, so that the compiler cannot turn
// them into calls to themselves.

/// # Safety
/// As C's `memcpy`.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract: `n` bytes valid at both, no overlap.
    unsafe {
        core::arch::asm!("rep movsb", inout("rdi") dst => _, inout("rsi") src => _,
            inout("rcx") n => _, options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// As C's `memmove`.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize) + n {
        // SAFETY: a forward copy is right when dst is below src or past it.
        return unsafe { memcpy(dst, src, n) };
    }
    let mut i = n;
    while i > 0 {
        i -= 1;
        // SAFETY: the caller's contract; backwards for an overlap.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}

/// # Safety
/// As C's `memset`.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract: `n` bytes valid at `dst`.
    unsafe {
        core::arch::asm!("rep stosb", inout("rdi") dst => _, inout("rcx") n => _,
            in("al") c as u8, options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// As C's `memcmp`.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller's contract: `n` bytes valid at both.
        let (x, y) = unsafe { (core::ptr::read_volatile(a.add(i)), core::ptr::read_volatile(b.add(i))) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// As C's `bcmp` (equal or not).
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the same contract.
    unsafe { memcmp(a, b, n) }
}

/// `core` is precompiled with unwind tables that name this; with
/// `panic=abort` it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
