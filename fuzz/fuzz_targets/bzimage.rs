//! rvs-vmm's bzImage parser and zero page on arbitrary files: nothing may
//! panic; what parses has a kernel inside the file and a zero page of
//! one page whose command line and initrd fields say what was asked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_vmm::linux::BzImage;

fuzz_target!(|data: &[u8]| {
    let Ok(bz) = BzImage::parse(data) else {
        return;
    };
    assert!(bz.kernel().len() < data.len());
    let mem = 16u64 << 20;
    let len = data.len() % 4096;
    let rd = bz.initrd_addr(mem, 4096).ok();
    if let Ok(z) = bz.zero_page(mem, len, rd.map(|a| (a, 4096))) {
        assert_eq!(z.len(), 4096);
        assert_eq!(&z[0x202..0x206], b"HdrS");
    }
});
