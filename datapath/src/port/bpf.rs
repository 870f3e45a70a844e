//! The few `bpf(2)` calls the AF_XDP port needs: an XSKMAP, a six-instruction
//! XDP program that redirects each frame to the AF_XDP socket of its receive
//! queue, and a BPF link that attaches the program to the device.
//!
//! The program, in eBPF assembly:
//!
//! ```text
//! r2 = *(u32 *)(r1 + 16)      ; ctx->rx_queue_index
//! r1 = map_fd xsks_map        ; 64-bit immediate load of the map
//! r3 = 2                      ; XDP_PASS: the action when the slot is empty
//! call bpf_redirect_map       ; helper 51
//! exit                        ; return what the helper returned
//! ```
//!
//! The link holds the attachment: closing its file descriptor (when the
//! port is dropped, or the process exits however it exits) detaches the
//! program, so nothing stays attached to the device after rvs is gone.

use super::PortError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

// bpf(2) commands.
const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_LINK_CREATE: libc::c_int = 28;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// Attach type of an XDP program on a device.
const BPF_XDP: u32 = 37;
/// `src_reg` of a 64-bit immediate load whose value is a map fd.
const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const XDP_PASS: i32 = 2;
/// Offset of `rx_queue_index` in `struct xdp_md`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

// Opcodes (class | size/op | mode/source).
const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
const LD_IMM_DW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
const ALU64_MOV_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP_CALL: u8 = 0x05 | 0x80; // BPF_JMP | BPF_CALL
const JMP_EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

/// XDP attach flags (`XDP_FLAGS_*` of `linux/if_link.h`).
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// The `BPF_MAP_CREATE` part of `union bpf_attr`.
#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_MAP_*_ELEM` part of `union bpf_attr`.
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// The start of the `BPF_LINK_CREATE` part of `union bpf_attr`.
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// Runs `bpf(cmd, attr, sizeof attr)`; the kernel treats the fields past
/// `T` as zero.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` prefix of `union
    // bpf_attr` for `cmd`, and its size is passed; pointers inside it point
    // to live buffers of the lengths given (see the callers).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` is a new descriptor returned by bpf(2), owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..s.len().min(15)].copy_from_slice(&s.as_bytes()[..s.len().min(15)]);
    n
}

fn err(what: String, source: io::Error) -> PortError {
    PortError::Io { what, source }
}

/// An XSKMAP, the program that redirects into it, and (once attached) the
/// link that holds the program on a device. Dropping it detaches.
#[derive(Debug)]
pub(crate) struct XskRedirect {
    /// Declared first: detached before the program and map close.
    link: Option<OwnedFd>,
    prog: OwnedFd,
    map: OwnedFd,
}

impl XskRedirect {
    /// Creates the map (slots for receive queues `0..queues`) and loads the
    /// program.
    pub fn new(ifname: &str, queues: u32) -> Result<XskRedirect, PortError> {
        let mut attr = MapCreateAttr {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: queues.max(1),
            map_flags: 0,
            inner_map_fd: 0,
            numa_node: 0,
            map_name: name16("rvs_xsks"),
        };
        let map = owned(bpf(BPF_MAP_CREATE, &mut attr).map_err(|e| {
            err(
                format!("create the XSK map for AF_XDP port {ifname} (needs CAP_BPF or root)"),
                e,
            )
        })?);
        let prog = load_program(map.as_raw_fd()).map_err(|(e, log)| {
            err(
                format!("load the XDP program for AF_XDP port {ifname}{log}"),
                e,
            )
        })?;
        Ok(XskRedirect {
            link: None,
            prog,
            map,
        })
    }

    /// Attaches the program to device `ifindex` with `XDP_FLAGS_*` `flags`.
    pub fn attach(&mut self, ifindex: u32, flags: u32) -> io::Result<()> {
        let mut attr = LinkCreateAttr {
            prog_fd: self.prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags,
        };
        self.link = Some(owned(bpf(BPF_LINK_CREATE, &mut attr)?));
        Ok(())
    }

    /// Puts AF_XDP socket `xsk` in the slot of receive queue `queue`.
    pub fn insert(&self, queue: u32, xsk: RawFd) -> io::Result<()> {
        let key = queue;
        let value = xsk as u32;
        let mut attr = MapElemAttr {
            map_fd: self.map.as_raw_fd() as u32,
            _pad: 0,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            flags: 0,
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr)?;
        Ok(())
    }
}

/// Loads the redirect program for map `map_fd`; on failure, the error and
/// the verifier's log (as a suffix for the message).
fn load_program(map_fd: RawFd) -> Result<OwnedFd, (io::Error, String)> {
    let insns = [
        insn(LDX_MEM_W, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        insn(LD_IMM_DW, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        insn(ALU64_MOV_K, 3, 0, 0, XDP_PASS),
        insn(JMP_CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        insn(JMP_EXIT, 0, 0, 0, 0),
    ];
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 0];
    for log_level in [0u32, 1] {
        if log_level == 1 {
            log = vec![0u8; 64 * 1024];
        }
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            log_size: log.len() as u32,
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            kern_version: 0,
            prog_flags: 0,
            prog_name: name16("rvs_xsk_redir"),
            prog_ifindex: 0,
            expected_attach_type: BPF_XDP,
        };
        match bpf(BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => return Ok(owned(fd)),
            Err(e) if log_level == 1 => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
                let suffix = if text.is_empty() {
                    String::new()
                } else {
                    format!(" (verifier: {text})")
                };
                return Err((e, suffix));
            }
            Err(_) => {}
        }
    }
    unreachable!("the loop returns on its second pass")
}
