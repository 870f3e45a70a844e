//! The virtual machine: KVM, guest memory, one vCPU, and the loop that
//! runs it and hands its port I/O exits to the devices.
//!
//! Memory is a [`GuestMemory`] (memfds mapped shared) registered with KVM
//! as memory slots, so that a vhost-user backend can map the same pages.
//! The VM has KVM's in-kernel interrupt controllers and PIT, the CPUID KVM
//! supports, and a TSS address below 4 GiB.
//!
//! Boot state for flat images ([`Vm::boot_flat`]): 64-bit mode with
//! identity-mapped page tables for the first 4 GiB (2 MiB pages), a GDT
//! at [`layout::GDT`], the stack below [`layout::STACK_TOP`]. The image
//! runs at privilege level 3 with IOPL 3 (port I/O allowed): on the
//! development machines' nested PVM KVM, privilege-level-0 code is
//! emulated one instruction at a time and level-3 code runs natively (see
//! `PVM-NOTES.md`), and nothing a test image does needs level 0.

use crate::memory::{GuestMemory, MemoryError};
use kvm_bindings::{kvm_pit_config, kvm_regs, kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Guest physical addresses of the boot structures.
pub mod layout {
    /// The GDT (7 entries).
    pub const GDT: u64 = 0x500;
    /// An empty IDT (nothing may fault).
    pub const IDT: u64 = 0x5a0;
    /// Boot information for the image (see [`crate::kvm::BootInfo`]).
    pub const BOOT_INFO: u64 = 0x7000;
    /// Page tables: PML4, PDPT, then four page directories (4 GiB).
    pub const PML4: u64 = 0x9000;
    pub const PDPT: u64 = 0xa000;
    pub const PD: u64 = 0xb000;
    /// Where a flat image is loaded and starts.
    pub const IMAGE: u64 = 0x10000;
    /// The initial stack pointer (the stack grows down from here).
    pub const STACK_TOP: u64 = 0x8_0000;
    /// The least memory a VM gets (boot structures, image, stack).
    pub const MIN_MEMORY: u64 = 1 << 20;
}

/// What went wrong setting up or running the VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// `/dev/kvm` could not be opened.
    #[error("cannot open {path}: {source} (is KVM loaded, and may this user open it? `ls -l /dev/kvm`; add the user to group kvm)")]
    NoKvm {
        path: PathBuf,
        #[source]
        source: kvm_ioctls::Error,
    },
    /// A KVM call failed.
    #[error("KVM refused to {what}: {source}")]
    Kvm {
        what: &'static str,
        #[source]
        source: kvm_ioctls::Error,
    },
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// An image or boot information that does not fit the memory.
    #[error("{0}")]
    Layout(String),
    /// The guest did something the VMM cannot go on from.
    #[error("the guest stopped: {0}")]
    Guest(String),
}

fn kvm_err(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmError {
    move |source| VmError::Kvm { what, source }
}

/// Boot information at [`layout::BOOT_INFO`] for a flat image: a magic
/// number, then the command line (length-prefixed, at most
/// [`BootInfo::MAX_CMDLINE`] bytes).
#[derive(Debug, Clone, Default)]
pub struct BootInfo {
    pub cmdline: String,
}

impl BootInfo {
    pub const MAGIC: u32 = 0x314d_5652; // "RVM1"
    pub const MAX_CMDLINE: usize = 1024;

    fn encode(&self) -> Result<Vec<u8>, VmError> {
        let c = self.cmdline.as_bytes();
        if c.len() > Self::MAX_CMDLINE {
            return Err(VmError::Layout(format!(
                "the command line is {} bytes; at most {} fit",
                c.len(),
                Self::MAX_CMDLINE
            )));
        }
        let mut v = Vec::with_capacity(8 + Self::MAX_CMDLINE);
        v.extend_from_slice(&Self::MAGIC.to_le_bytes());
        v.extend_from_slice(&(c.len() as u32).to_le_bytes());
        v.extend_from_slice(c);
        v.resize(8 + Self::MAX_CMDLINE, 0);
        Ok(v)
    }
}

/// How a guest ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It wrote this status to the exit port.
    Exit(u8),
    /// It asked for a reset (the i8042 command 0xfe).
    Reset,
    /// It crashed: an exception it could not handle (a triple fault).
    Crash,
}

/// What the vCPU loop asks of the devices.
pub trait PortIo {
    /// A guest `in` from `port`: fill `data` (1, 2 or 4 bytes).
    fn read(&mut self, port: u16, data: &mut [u8]);
    /// A guest `out` to `port`; `Some` ends the run.
    fn write(&mut self, port: u16, data: &[u8]) -> Option<Stop>;
    /// A guest read of `addr`, where no memory is.
    fn mmio_read(&mut self, addr: u64, data: &mut [u8]);
    /// A guest write of `addr`, where no memory is.
    fn mmio_write(&mut self, addr: u64, data: &[u8]);
}

/// A GDT entry from its flags (access byte in the low 8 bits, flags in
/// bits 12–15), base and 20-bit limit.
fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    let (flags, base, limit) = (u64::from(flags), u64::from(base), u64::from(limit));
    ((base & 0xff00_0000) << 32)
        | ((flags & 0xf0ff) << 40)
        | ((limit & 0x000f_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0x0000_ffff)
}

/// The KVM segment for GDT entry `index` holding `e`, at privilege `rpl`.
fn segment(e: u64, index: u16, rpl: u16) -> kvm_segment {
    let limit = ((e & 0xffff) | ((e >> 32) & 0xf_0000)) as u32;
    let g = ((e >> 55) & 1) as u8;
    kvm_segment {
        base: ((e >> 16) & 0xff_ffff) | ((e >> 32) & 0xff00_0000),
        limit: if g == 1 { (limit << 12) | 0xfff } else { limit },
        selector: (index * 8) | rpl,
        type_: ((e >> 40) & 0xf) as u8,
        present: ((e >> 47) & 1) as u8,
        dpl: ((e >> 45) & 3) as u8,
        db: ((e >> 54) & 1) as u8,
        s: ((e >> 44) & 1) as u8,
        l: ((e >> 53) & 1) as u8,
        g,
        avl: ((e >> 52) & 1) as u8,
        unusable: 0,
        padding: 0,
    }
}

/// A VM with one vCPU.
#[derive(Debug)]
pub struct Vm {
    _kvm: Kvm,
    vm: VmFd,
    vcpu: VcpuFd,
    aps: Vec<VcpuFd>,
    mem: Arc<GuestMemory>,
    exits: AtomicU64,
}

impl Vm {
    /// A VM with `memory` bytes of RAM from guest address 0, through the
    /// KVM device at `kvm_path` (normally `/dev/kvm`).
    pub fn new(kvm_path: &Path, memory: u64) -> Result<Vm, VmError> {
        Vm::with_backing(kvm_path, memory, false, 1)
    }

    /// As [`Vm::new`], the RAM from 2 MiB hugepages when `hugepages`, with
    /// `cpus` vCPUs.
    pub fn with_backing(
        kvm_path: &Path,
        memory: u64,
        hugepages: bool,
        cpus: u32,
    ) -> Result<Vm, VmError> {
        if memory < layout::MIN_MEMORY {
            return Err(VmError::Layout(format!(
                "{memory} bytes of memory is too little: at least {} MiB",
                layout::MIN_MEMORY >> 20
            )));
        }
        let c = CString::new(kvm_path.as_os_str().as_encoded_bytes())
            .map_err(|_| VmError::Layout(format!("{} is not a usable path", kvm_path.display())))?;
        let kvm = Kvm::new_with_path(&c).map_err(|source| VmError::NoKvm {
            path: kvm_path.to_path_buf(),
            source,
        })?;
        let vm = kvm.create_vm().map_err(kvm_err("create a VM"))?;
        vm.set_tss_address(0xfffb_d000)
            .map_err(kvm_err("set the TSS address"))?;
        vm.create_irq_chip()
            .map_err(kvm_err("create the interrupt controllers"))?;
        vm.create_pit2(kvm_pit_config::default())
            .map_err(kvm_err("create the PIT"))?;
        let mem = Arc::new(GuestMemory::with_backing(&[(0, memory)], hugepages)?);
        for (slot, r) in mem.regions().iter().enumerate() {
            let region = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: r.gpa,
                memory_size: r.size,
                userspace_addr: r.host,
            };
            // SAFETY: the region's mapping lives as long as `mem`, which
            // the VM owns and drops after the VM file descriptor (fields
            // drop in order: `vm` before `mem`).
            unsafe { vm.set_user_memory_region(region) }.map_err(kvm_err("map guest memory"))?;
        }
        let max = kvm.get_max_vcpus();
        if cpus == 0 || cpus as usize > max {
            return Err(VmError::Layout(format!(
                "{cpus} vCPUs: this host's KVM allows 1 to {max}"
            )));
        }
        let cpuid = kvm
            .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
            .map_err(kvm_err("report its CPUID"))?;
        let mut vcpus = Vec::new();
        for id in 0..u64::from(cpus) {
            let v = vm.create_vcpu(id).map_err(kvm_err("create a vCPU"))?;
            // Each vCPU's CPUID names its own local APIC (leaf 1, EBX
            // bits 24-31).
            let mut c = cpuid.clone();
            for e in c.as_mut_slice() {
                if e.function == 1 {
                    e.ebx = (e.ebx & 0x00ff_ffff) | ((id as u32) << 24);
                }
            }
            v.set_cpuid2(&c).map_err(kvm_err("set the vCPU's CPUID"))?;
            vcpus.push(v);
        }
        let vcpu = vcpus.remove(0);
        Ok(Vm {
            _kvm: kvm,
            vm,
            vcpu,
            aps: vcpus,
            mem,
            exits: AtomicU64::new(0),
        })
    }

    /// The guest's memory (shared with vhost-user devices).
    pub fn memory(&self) -> &Arc<GuestMemory> {
        &self.mem
    }

    /// The KVM VM (for ioeventfds, irqfds, more memory).
    pub fn fd(&self) -> &VmFd {
        &self.vm
    }

    /// Exits of the boot vCPU so far.
    pub fn exits(&self) -> u64 {
        self.exits.load(Ordering::Relaxed)
    }

    fn put(&self, gpa: u64, data: &[u8], what: &str) -> Result<(), VmError> {
        if self.mem.write(gpa, data) {
            Ok(())
        } else {
            Err(VmError::Layout(format!(
                "{what} ({} bytes at {gpa:#x}) does not fit the guest's memory",
                data.len()
            )))
        }
    }

    /// An eventfd that raises interrupt line `gsi` of the in-kernel
    /// interrupt controllers when written (an irqfd).
    pub fn irq_line(&self, gsi: u32) -> Result<vmm_sys_util::eventfd::EventFd, VmError> {
        let e = vmm_sys_util::eventfd::EventFd::new(vmm_sys_util::eventfd::EFD_NONBLOCK)
            .map_err(|e| VmError::Layout(format!("cannot create an eventfd: {e}")))?;
        self.vm
            .register_irqfd(&e, gsi)
            .map_err(kvm_err("wire an interrupt line"))?;
        Ok(e)
    }

    /// Loads a flat `image` at [`layout::IMAGE`], writes `info`, and sets
    /// the vCPU up to start it in 64-bit mode at privilege level 3.
    pub fn boot_flat(&mut self, image: &[u8], info: &BootInfo) -> Result<(), VmError> {
        if layout::IMAGE + image.len() as u64 > layout::STACK_TOP - 0x1000 {
            return Err(VmError::Layout(format!(
                "the image is {} bytes; at most {} fit below the stack",
                image.len(),
                layout::STACK_TOP - 0x1000 - layout::IMAGE
            )));
        }
        self.put(layout::IMAGE, image, "the image")?;
        self.put(layout::BOOT_INFO, &info.encode()?, "the boot information")?;
        self.long_mode(true, layout::IMAGE, layout::STACK_TOP - 8, 0)
    }

    /// Loads a Linux bzImage, its initrd and command line (the 64-bit boot
    /// protocol, see [`crate::linux`]) and sets the vCPU up to enter it at
    /// privilege level 0.
    pub fn boot_linux(
        &mut self,
        kernel: &[u8],
        initrd: Option<&[u8]>,
        cmdline: &str,
    ) -> Result<(), VmError> {
        use crate::linux::{BzImage, CMDLINE_ADDR, KERNEL_ADDR, ZERO_PAGE};
        let bz = BzImage::parse(kernel).map_err(|e| VmError::Layout(e.to_string()))?;
        let mem: u64 = self.mem.regions().iter().map(|r| r.size).sum();
        self.put(KERNEL_ADDR, bz.kernel(), "the kernel")?;
        let rd = match initrd {
            Some(b) => {
                let at = bz
                    .initrd_addr(mem, b.len() as u64)
                    .map_err(|e| VmError::Layout(e.to_string()))?;
                self.put(at, b, "the initrd")?;
                Some((at, b.len() as u64))
            }
            None => None,
        };
        let mut c = cmdline.as_bytes().to_vec();
        c.push(0);
        self.put(CMDLINE_ADDR, &c, "the command line")?;
        let zp = bz
            .zero_page(mem, cmdline.len(), rd)
            .map_err(|e| VmError::Layout(e.to_string()))?;
        self.put(ZERO_PAGE, &zp, "the zero page")?;
        self.long_mode(false, bz.entry(), 0, ZERO_PAGE)
    }

    /// 64-bit mode: GDT, identity-mapped page tables, segments for
    /// privilege level 3 (`user`, with IOPL 3) or 0 (the boot protocol's
    /// `__BOOT_CS` 0x10 and `__BOOT_DS` 0x18), `rip`, `rsp`, `rsi`.
    fn long_mode(&mut self, user: bool, rip: u64, rsp: u64, rsi: u64) -> Result<(), VmError> {
        // GDT: null, null, kernel code (0x10) and data (0x18), unused,
        // user code (0x2b) and data (0x33), and a TSS (0x38; in long mode
        // its descriptor takes two entries, 7 and 8).
        let gdt = [
            0,
            0,
            gdt_entry(0xa09b, 0, 0xfffff),
            gdt_entry(0xc093, 0, 0xfffff),
            0,
            gdt_entry(0xa0fb, 0, 0xfffff),
            gdt_entry(0xc0f3, 0, 0xfffff),
            gdt_entry(0x808b, 0, 0xfffff),
            0,
        ];
        let bytes: Vec<u8> = gdt.iter().flat_map(|e| e.to_le_bytes()).collect();
        self.put(layout::GDT, &bytes, "the GDT")?;
        self.put(layout::IDT, &[0u8; 8], "the IDT")?;
        // Identity map 4 GiB with 2 MiB pages, user-accessible (U bit).
        const P_RW_U: u64 = 0x7;
        const PS: u64 = 0x80;
        self.put(
            layout::PML4,
            &(layout::PDPT | P_RW_U).to_le_bytes(),
            "the PML4",
        )?;
        for i in 0..4u64 {
            let pd = layout::PD + 0x1000 * i;
            self.put(
                layout::PDPT + 8 * i,
                &(pd | P_RW_U).to_le_bytes(),
                "the PDPT",
            )?;
            let entries: Vec<u8> = (0..512u64)
                .flat_map(|j| (((i << 30) | (j << 21)) | PS | P_RW_U).to_le_bytes())
                .collect();
            self.put(pd, &entries, "a page directory")?;
        }
        let mut sregs = self.vcpu.get_sregs().map_err(kvm_err("read sregs"))?;
        sregs.gdt.base = layout::GDT;
        sregs.gdt.limit = (gdt.len() * 8 - 1) as u16;
        sregs.idt.base = layout::IDT;
        sregs.idt.limit = 7;
        let (code, data) = if user {
            (segment(gdt[5], 5, 3), segment(gdt[6], 6, 3))
        } else {
            (segment(gdt[2], 2, 0), segment(gdt[3], 3, 0))
        };
        sregs.cs = code;
        sregs.ds = data;
        sregs.es = data;
        sregs.fs = data;
        sregs.gs = data;
        sregs.ss = data;
        sregs.tr = segment(gdt[7], 7, 0);
        sregs.cr3 = layout::PML4;
        sregs.cr4 |= 0x20 | 0x600; // PAE, OSFXSR, OSXMMEXCPT
        sregs.cr0 |= 0x8000_0001; // PG, PE
        sregs.efer |= 0x500; // LME, LMA
        self.vcpu
            .set_sregs(&sregs)
            .map_err(kvm_err("set the boot sregs"))?;
        let regs = kvm_regs {
            rip,
            // A flat image gets rsp as just after a call (the ABI's
            // alignment at a function's entry: rsp + 8 a multiple of 16),
            // so that its aligned SSE stack stores do not fault.
            rsp,
            rbp: rsp,
            rsi,
            // IOPL 3 for a flat image at privilege level 3; interrupts off.
            rflags: if user { 0x3002 } else { 0x2 },
            ..Default::default()
        };
        self.vcpu
            .set_regs(&regs)
            .map_err(kvm_err("set the boot registers"))?;
        Ok(())
    }

    /// Runs the boot vCPU until the guest stops, handing its exits to
    /// `io` (the other vCPUs run on threads of their own, see
    /// [`Vm::take_aps`]).
    pub fn run(&mut self, io: &mut dyn PortIo) -> Result<Stop, VmError> {
        run_vcpu(&mut self.vcpu, io, &self.exits)
    }

    /// The vCPUs other than the boot one, for threads of their own. With
    /// the in-kernel interrupt controllers they wait, inside KVM_RUN, for
    /// the INIT and SIPI a guest's boot processor sends them.
    pub fn take_aps(&mut self) -> Vec<VcpuFd> {
        std::mem::take(&mut self.aps)
    }
}

/// An I/O handler shared by the vCPU threads.
#[derive(Debug)]
pub struct SharedIo<P>(pub Arc<std::sync::Mutex<P>>);

impl<P: PortIo> PortIo for SharedIo<P> {
    fn read(&mut self, port: u16, data: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read(port, data)
    }
    fn write(&mut self, port: u16, data: &[u8]) -> Option<Stop> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(port, data)
    }
    fn mmio_read(&mut self, addr: u64, data: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mmio_read(addr, data)
    }
    fn mmio_write(&mut self, addr: u64, data: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mmio_write(addr, data)
    }
}

/// Runs `vcpu` until the guest stops, handing its exits to `io` and
/// counting them in `exits`.
pub fn run_vcpu(
    vcpu: &mut VcpuFd,
    io: &mut dyn PortIo,
    exits: &AtomicU64,
) -> Result<Stop, VmError> {
    loop {
        let exit = vcpu.run();
        exits.fetch_add(1, Ordering::Relaxed);
        match exit {
            Ok(VcpuExit::IoOut(port, data)) => {
                if let Some(stop) = io.write(port, data) {
                    return Ok(stop);
                }
            }
            Ok(VcpuExit::IoIn(port, data)) => io.read(port, data),
            Ok(VcpuExit::MmioRead(addr, data)) => io.mmio_read(addr, data),
            Ok(VcpuExit::MmioWrite(addr, data)) => io.mmio_write(addr, data),
            Ok(VcpuExit::Shutdown) => return Ok(Stop::Crash),
            Ok(VcpuExit::Hlt) => {
                return Err(VmError::Guest("it halted with interrupts off (hlt)".into()))
            }
            Ok(VcpuExit::InternalError) => {
                let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
                return Err(VmError::Guest(format!(
                    "KVM could not emulate an instruction at {rip:#x} (on nested PVM, many \
                     instructions at privilege level 0 cannot be emulated)"
                )));
            }
            Ok(VcpuExit::FailEntry(reason, _)) => {
                return Err(VmError::Guest(format!(
                    "KVM could not enter the guest (hardware reason {reason:#x})"
                )))
            }
            Ok(VcpuExit::SystemEvent(kind, _)) => {
                return Ok(if kind == kvm_bindings::KVM_SYSTEM_EVENT_RESET {
                    Stop::Reset
                } else {
                    Stop::Exit(0)
                })
            }
            Ok(VcpuExit::Intr) => {}
            Ok(other) => {
                return Err(VmError::Guest(format!("unexpected exit {other:?}")));
            }
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
            Err(source) => {
                return Err(VmError::Kvm {
                    what: "run the vCPU",
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdt_entries_decode_to_the_segments_they_describe() {
        let code = gdt_entry(0xa0fb, 0, 0xfffff);
        assert_eq!(code, 0x00af_fb00_0000_ffff);
        let s = segment(code, 5, 3);
        assert_eq!(
            (s.selector, s.type_, s.dpl, s.l, s.db, s.s, s.present, s.g),
            (0x2b, 0xb, 3, 1, 0, 1, 1, 1)
        );
        assert_eq!(s.limit, 0xffff_ffff);
        let data = gdt_entry(0xc0f3, 0, 0xfffff);
        assert_eq!(data, 0x00cf_f300_0000_ffff);
        let d = segment(data, 6, 3);
        assert_eq!((d.selector, d.type_, d.db, d.l), (0x33, 3, 1, 0));
        assert_eq!(gdt_entry(0xa09b, 0, 0xfffff), 0x00af_9b00_0000_ffff);
    }

    #[test]
    fn boot_information_carries_the_command_line() {
        let b = BootInfo {
            cmdline: "ip=10.0.0.3/24".into(),
        }
        .encode()
        .unwrap();
        assert_eq!(b.len(), 8 + BootInfo::MAX_CMDLINE);
        assert_eq!(&b[0..4], b"RVM1");
        assert_eq!(u32::from_le_bytes([b[4], b[5], b[6], b[7]]), 14);
        assert_eq!(&b[8..22], b"ip=10.0.0.3/24");
        let long = BootInfo {
            cmdline: "x".repeat(2000),
        };
        assert!(long
            .encode()
            .unwrap_err()
            .to_string()
            .contains("at most 1024"));
    }
}
