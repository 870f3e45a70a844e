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
    print(b"cmdline: ");
    print(&info.cmdline[..n]);
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
    print(b"OK\n");
    exit(0);
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    print(b"FAIL panic\n");
    exit(2);
}

/// `core` is precompiled with unwind tables that name this; with
/// `panic=abort` it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
