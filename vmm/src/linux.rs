//! Booting Linux: the x86 64-bit boot protocol for a bzImage.
//!
//! The protected-mode kernel (the bzImage after its `setup_sects + 1`
//! sectors of real-mode setup) goes at [`KERNEL_ADDR`] (1 MiB); the
//! "zero page" (`struct boot_params`) at [`ZERO_PAGE`] carries a copy of
//! the image's setup header with the loader's fields filled in
//! (`type_of_loader`, `loadflags`, `cmd_line_ptr`, `ramdisk_image` and
//! `_size`, `heap_end_ptr`) and the e820 memory map; the command line at
//! [`CMDLINE_ADDR`]; the initrd page-aligned at the top of memory, below
//! the kernel's `initrd_addr_max`. The vCPU then enters the 64-bit entry
//! point (load address + 0x200) at privilege level 0 with `rsi` pointing
//! at the zero page, flat `__BOOT_CS` (0x10) and `__BOOT_DS` (0x18)
//! segments and the first 4 GiB identity-mapped (see [`crate::kvm`]).
//!
//! Field offsets are those of the boot protocol (Documentation/arch/x86/
//! boot.rst, `struct boot_params`); the parser refuses what it cannot
//! boot, saying why.

/// Where the zero page goes.
pub const ZERO_PAGE: u64 = 0x7000;
/// Where the command line goes.
pub const CMDLINE_ADDR: u64 = 0x2_0000;
/// Where the protected-mode kernel goes.
pub const KERNEL_ADDR: u64 = 0x10_0000;
/// Below this the low memory ends (the EBDA and ROM areas follow).
const LOW_MEMORY_END: u64 = 0x9_fc00;

// Setup header fields (offsets in the image and in the zero page).
const SETUP_SECTS: usize = 0x1f1;
const BOOT_FLAG: usize = 0x1fe;
const HEADER: usize = 0x202;
const VERSION: usize = 0x206;
const TYPE_OF_LOADER: usize = 0x210;
const LOADFLAGS: usize = 0x211;
const RAMDISK_IMAGE: usize = 0x218;
const RAMDISK_SIZE: usize = 0x21c;
const HEAP_END_PTR: usize = 0x224;
const CMD_LINE_PTR: usize = 0x228;
const INITRD_ADDR_MAX: usize = 0x22c;
const XLOADFLAGS: usize = 0x236;
const CMDLINE_SIZE: usize = 0x238;
const PREF_ADDRESS: usize = 0x258;
const INIT_SIZE: usize = 0x260;
/// Where a relocatable kernel moves itself when loaded lower
/// (LOAD_PHYSICAL_ADDR of x86-64 kernels).
const LOAD_PHYSICAL_ADDR: u64 = 16 << 20;
/// The header's end as far as a loader copies it (`0x202 + byte at 0x201`).
const HEADER_LEN_AT: usize = 0x201;
// boot_params fields.
const E820_ENTRIES: usize = 0x1e8;
const E820_TABLE: usize = 0x2d0;

const LOADED_HIGH: u8 = 1;
const CAN_USE_HEAP: u8 = 0x80;
const XLF_KERNEL_64: u16 = 1;

/// Why an image cannot be booted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinuxError {
    #[error("not a bzImage: {0}")]
    NotBzImage(&'static str),
    #[error("boot protocol {0}.{1:02} is too old: 2.12 or later (a 64-bit entry point) is needed")]
    TooOld(u8, u8),
    #[error("the kernel has no 64-bit entry point (XLF_KERNEL_64)")]
    No64BitEntry,
    #[error("the command line is {len} bytes; this kernel takes at most {max}")]
    CmdlineTooLong { len: usize, max: usize },
    #[error("{what} does not fit in {mem} MiB of guest memory")]
    TooBig { what: &'static str, mem: u64 },
}

/// A parsed bzImage.
#[derive(Debug, Clone)]
pub struct BzImage<'a> {
    image: &'a [u8],
    /// Boot protocol version (major, minor).
    pub version: (u8, u8),
    /// Where the protected-mode kernel starts in the file.
    pub kernel_offset: usize,
    pub cmdline_max: usize,
    pub initrd_addr_max: u64,
    /// The end of the memory the kernel uses while it decompresses and
    /// starts (its run address plus `init_size`): nothing else may go
    /// below it.
    pub reserved_end: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> BzImage<'a> {
    /// Checks `image` and reads what loading it needs.
    pub fn parse(image: &'a [u8]) -> Result<BzImage<'a>, LinuxError> {
        if image.len() < 0x1000 {
            return Err(LinuxError::NotBzImage("shorter than its setup header"));
        }
        if u16_at(image, BOOT_FLAG) != 0xaa55 {
            return Err(LinuxError::NotBzImage("no 0xAA55 boot flag at 0x1fe"));
        }
        if &image[HEADER..HEADER + 4] != b"HdrS" {
            return Err(LinuxError::NotBzImage("no \"HdrS\" setup header"));
        }
        // The header runs to 0x202 + the jump offset at 0x201; protocol
        // 2.12's fields end at 0x23c (cmdline_size).
        if 0x202 + usize::from(image[HEADER_LEN_AT]) < CMDLINE_SIZE + 4 {
            return Err(LinuxError::NotBzImage(
                "a setup header too short for its fields",
            ));
        }
        let v = u16_at(image, VERSION);
        let version = ((v >> 8) as u8, v as u8);
        if v < 0x020c {
            return Err(LinuxError::TooOld(version.0, version.1));
        }
        if image[LOADFLAGS] & LOADED_HIGH == 0 {
            return Err(LinuxError::NotBzImage("a zImage (not loaded high)"));
        }
        if u16_at(image, XLOADFLAGS) & XLF_KERNEL_64 == 0 {
            return Err(LinuxError::No64BitEntry);
        }
        let sects = match image[SETUP_SECTS] {
            0 => 4,
            n => usize::from(n),
        };
        let kernel_offset = (sects + 1) * 512;
        if kernel_offset >= image.len() {
            return Err(LinuxError::NotBzImage(
                "the setup runs past the end of the file",
            ));
        }
        let header_end = 0x202 + usize::from(image[HEADER_LEN_AT]);
        let (pref, init) = if header_end >= INIT_SIZE + 4 {
            (
                u64::from_le_bytes(
                    image[PREF_ADDRESS..PREF_ADDRESS + 8]
                        .try_into()
                        .unwrap_or([0; 8]),
                ),
                u64::from(u32_at(image, INIT_SIZE)),
            )
        } else {
            (0, 0)
        };
        let kernel_len = (image.len() - kernel_offset) as u64;
        let run_at = LOAD_PHYSICAL_ADDR.max(pref).max(KERNEL_ADDR);
        let reserved_end = (run_at.saturating_add(init)).max(KERNEL_ADDR + kernel_len);
        Ok(BzImage {
            image,
            version,
            kernel_offset,
            cmdline_max: u32_at(image, CMDLINE_SIZE) as usize,
            initrd_addr_max: u64::from(u32_at(image, INITRD_ADDR_MAX)),
            reserved_end,
        })
    }

    /// The protected-mode kernel, to load at [`KERNEL_ADDR`].
    pub fn kernel(&self) -> &'a [u8] {
        &self.image[self.kernel_offset..]
    }

    /// The 64-bit entry point once loaded at [`KERNEL_ADDR`].
    pub fn entry(&self) -> u64 {
        KERNEL_ADDR + 0x200
    }

    /// Where an initrd of `size` bytes goes in `mem` bytes of memory:
    /// page-aligned, as high as the kernel allows.
    pub fn initrd_addr(&self, mem: u64, size: u64) -> Result<u64, LinuxError> {
        let top = mem.min(self.initrd_addr_max + 1);
        let addr = top.checked_sub(size).map(|a| a & !0xfff);
        match addr {
            Some(a) if a >= self.reserved_end => Ok(a),
            _ => Err(LinuxError::TooBig {
                what: "the kernel and initrd",
                mem: mem >> 20,
            }),
        }
    }

    /// The zero page for `mem` bytes of RAM, a command line of
    /// `cmdline_len` bytes at [`CMDLINE_ADDR`], and an initrd at
    /// (address, size).
    pub fn zero_page(
        &self,
        mem: u64,
        cmdline_len: usize,
        initrd: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, LinuxError> {
        if cmdline_len > self.cmdline_max {
            return Err(LinuxError::CmdlineTooLong {
                len: cmdline_len,
                max: self.cmdline_max,
            });
        }
        if self.reserved_end > mem {
            return Err(LinuxError::TooBig {
                what: "the kernel",
                mem: mem >> 20,
            });
        }
        let mut z = vec![0u8; 4096];
        // The setup header, as long as the image says it is.
        let end = (0x202 + usize::from(self.image[HEADER_LEN_AT])).min(0x280);
        z[SETUP_SECTS..end].copy_from_slice(&self.image[SETUP_SECTS..end]);
        z[TYPE_OF_LOADER] = 0xff;
        z[LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
        z[HEAP_END_PTR..HEAP_END_PTR + 2].copy_from_slice(&(0xfe00u16).to_le_bytes());
        z[CMD_LINE_PTR..CMD_LINE_PTR + 4].copy_from_slice(&(CMDLINE_ADDR as u32).to_le_bytes());
        if let Some((addr, size)) = initrd {
            z[RAMDISK_IMAGE..RAMDISK_IMAGE + 4].copy_from_slice(&(addr as u32).to_le_bytes());
            z[RAMDISK_SIZE..RAMDISK_SIZE + 4].copy_from_slice(&(size as u32).to_le_bytes());
        }
        // e820: low memory, then everything from 1 MiB.
        let entries = [
            (0u64, LOW_MEMORY_END, 1u32),
            (KERNEL_ADDR, mem - KERNEL_ADDR, 1),
        ];
        z[E820_ENTRIES] = entries.len() as u8;
        for (i, (addr, size, kind)) in entries.iter().enumerate() {
            let at = E820_TABLE + 20 * i;
            z[at..at + 8].copy_from_slice(&addr.to_le_bytes());
            z[at + 8..at + 16].copy_from_slice(&size.to_le_bytes());
            z[at + 16..at + 20].copy_from_slice(&kind.to_le_bytes());
        }
        Ok(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal image with a 2.15 header, 64-bit entry, 4 setup sectors.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 0x4000];
        b[SETUP_SECTS] = 4;
        b[BOOT_FLAG..BOOT_FLAG + 2].copy_from_slice(&0xaa55u16.to_le_bytes());
        b[0x200] = 0xeb; // the jump over the header
        b[HEADER_LEN_AT] = 0x66;
        b[HEADER..HEADER + 4].copy_from_slice(b"HdrS");
        b[VERSION..VERSION + 2].copy_from_slice(&0x020fu16.to_le_bytes());
        b[LOADFLAGS] = LOADED_HIGH;
        b[INITRD_ADDR_MAX..INITRD_ADDR_MAX + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        b[XLOADFLAGS..XLOADFLAGS + 2].copy_from_slice(&XLF_KERNEL_64.to_le_bytes());
        b[CMDLINE_SIZE..CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
        b
    }

    #[test]
    fn a_bzimage_is_parsed_and_its_zero_page_filled() {
        let img = image();
        let bz = BzImage::parse(&img).unwrap();
        assert_eq!(bz.version, (2, 15));
        assert_eq!(bz.kernel_offset, 5 * 512);
        assert_eq!(bz.kernel().len(), 0x4000 - 5 * 512);
        assert_eq!(bz.entry(), 0x10_0200);
        let mem = 64 << 20;
        let rd = bz.initrd_addr(mem, 1_000_000).unwrap();
        assert_eq!(rd % 4096, 0);
        assert!(rd + 1_000_000 <= mem);
        let z = bz.zero_page(mem, 20, Some((rd, 1_000_000))).unwrap();
        assert_eq!(z[TYPE_OF_LOADER], 0xff);
        assert_eq!(
            z[LOADFLAGS] & (LOADED_HIGH | CAN_USE_HEAP),
            LOADED_HIGH | CAN_USE_HEAP
        );
        assert_eq!(u32_at(&z, CMD_LINE_PTR), CMDLINE_ADDR as u32);
        assert_eq!(u32_at(&z, RAMDISK_IMAGE) as u64, rd);
        assert_eq!(u32_at(&z, RAMDISK_SIZE), 1_000_000);
        assert_eq!(&z[HEADER..HEADER + 4], b"HdrS");
        assert_eq!(z[E820_ENTRIES], 2);
        let second = E820_TABLE + 20;
        assert_eq!(
            u64::from_le_bytes(z[second..second + 8].try_into().unwrap()),
            KERNEL_ADDR
        );
        assert_eq!(
            u64::from_le_bytes(z[second + 8..second + 16].try_into().unwrap()),
            mem - KERNEL_ADDR
        );
    }

    #[test]
    fn what_cannot_boot_is_refused_with_the_reason() {
        assert!(matches!(
            BzImage::parse(&[0u8; 100]),
            Err(LinuxError::NotBzImage(_))
        ));
        let mut img = image();
        img[HEADER] = b'X';
        assert!(matches!(
            BzImage::parse(&img),
            Err(LinuxError::NotBzImage(_))
        ));
        let mut img = image();
        img[VERSION..VERSION + 2].copy_from_slice(&0x0206u16.to_le_bytes());
        assert_eq!(BzImage::parse(&img).unwrap_err(), LinuxError::TooOld(2, 6));
        let mut img = image();
        img[HEADER_LEN_AT] = 2;
        assert!(matches!(
            BzImage::parse(&img),
            Err(LinuxError::NotBzImage(_))
        ));
        let mut img = image();
        img[XLOADFLAGS] = 0;
        assert_eq!(BzImage::parse(&img).unwrap_err(), LinuxError::No64BitEntry);
        let img = image();
        let bz = BzImage::parse(&img).unwrap();
        assert!(matches!(
            bz.zero_page(64 << 20, 5000, None),
            Err(LinuxError::CmdlineTooLong { .. })
        ));
        assert!(bz.initrd_addr(2 << 20, 4 << 20).is_err());
        // A kernel that needs 40 MiB from 16 MiB: the initrd goes above,
        // or does not fit.
        let mut img = image();
        img[INIT_SIZE..INIT_SIZE + 4].copy_from_slice(&(40u32 << 20).to_le_bytes());
        let bz = BzImage::parse(&img).unwrap();
        assert_eq!(bz.reserved_end, 56 << 20);
        assert!(bz.initrd_addr(64 << 20, 4 << 20).unwrap() >= 56 << 20);
        assert!(bz.initrd_addr(60 << 20, 8 << 20).is_err());
        assert!(bz.zero_page(48 << 20, 10, None).is_err());
    }
}
