//! The built-in test guest (`guest/test_guest.rs`, built by `build.rs`):
//! a flat image that [`crate::kvm::Vm::boot_flat`] starts. It prints the
//! command line and the PCI functions of bus 0 on COM1, then writes its
//! status (0: all went well) to the exit port.

/// The image, loaded at [`crate::kvm::layout::IMAGE`].
pub const TEST_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test-guest.bin"));
