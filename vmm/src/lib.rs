//! rvs-vmm: a small KVM VMM whose guests' virtio-net NICs are vhost-user
//! ports on the switch.
//!
//! Layers, bottom up:
//!
//! 1. [`memory`]: guest memory — memfd-backed regions at guest physical
//!    addresses, mapped shared here and sealed; KVM maps them as memory
//!    slots and vhost-user backends map the same pages.
//! 2. [`vhost_user`]: the control plane — [`vhost_user::VhostUserNet`]
//!    speaks the vhost-user protocol as the frontend (QEMU's role) over a
//!    socket we connect to, or one a client-mode switch port opened to
//!    our [`vhost_user::Listener`]. Every request has a deadline; ring
//!    addresses are checked against the memory table and translated.
//! 3. [`net`] (also [`virtio::net`]): a polling virtio-net driver over
//!    split rings in that memory, for the traffic generator `rvs-pktgen`.
//! 4. The VM: [`kvm`] (KVM, memory slots, the vCPU loop, 64-bit boot state
//!    for flat images), [`devices`] (COM1, i8042 reset, PCI bus 0, exit
//!    port), [`virtio_pci`] (a virtio-net device on PCI whose rings the
//!    guest drives and the backend serves: the VMM passes the guest's ring
//!    addresses to [`vhost_user::VhostUserNet::setup_queue`] with KVM
//!    ioeventfds as kicks, so packets never pass through the VMM), and
//!    [`guest`] (the built-in test guest).
//!
//! Errors: one [`Error`] for the vhost-user side (memory errors inside
//! it), [`kvm::VmError`] for the VM. The data path returns counts, not
//! errors. `PVM-NOTES.md` says what the development machines' nested KVM
//! can and cannot run.

pub mod devices;
pub mod error;
pub mod guest;
pub mod kvm;
pub mod launch;
pub mod linux;
pub mod memory;
pub mod net;
pub mod switchport;
pub mod vhost_user;
pub mod virtio_pci;

pub use error::Error;

/// Virtio devices (so far the network driver, also at [`crate::net`]).
pub mod virtio {
    pub use crate::net;
}
