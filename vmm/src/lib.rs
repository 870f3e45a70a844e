//! rvs-vmm: a small KVM VMM whose guests' virtio-net NICs are vhost-user
//! ports on the switch. What is here so far is the virtio-net side that
//! does not need KVM, in three layers:
//!
//! 1. [`memory`]: guest memory — memfd-backed regions at guest physical
//!    addresses, mapped shared here and sealed, whose descriptors go to
//!    the backend. It translates guest addresses and nothing more.
//! 2. [`vhost_user`]: the control plane — [`vhost_user::VhostUserNet`]
//!    speaks the vhost-user protocol as the frontend (QEMU's role) over a
//!    socket we connect to, or one a client-mode switch port opened to
//!    our [`vhost_user::Listener`]. Every request has a deadline; ring
//!    addresses are checked against the memory table and translated.
//! 3. [`net`] (also [`virtio::net`]): a polling virtio-net driver over
//!    split rings in that memory, for the traffic generator. It owns its
//!    rings and buffers, writes descriptors once, allocates nothing per
//!    packet, kicks only when the device asks, and treats the used rings
//!    as hostile (bad entries are counted and skipped, never trusted).
//!
//! The VMM proper will reuse layers 1 and 2 unchanged: the guest's RAM is
//! a [`memory::GuestMemory`] (also mapped into KVM as memory slots), the
//! guest's own driver sets its rings up through virtio-mmio, and the VMM
//! passes the guest's ring addresses to
//! [`vhost_user::VhostUserNet::setup_queue`] with an ioeventfd as the kick
//! and an irqfd as the call, so that packets never pass through the VMM.
//!
//! Errors: one [`Error`] for the crate (memory errors inside it), whose
//! messages say what to check. The data path returns counts, not errors.

pub mod devices;
pub mod error;
pub mod guest;
pub mod kvm;
pub mod memory;
pub mod net;
pub mod vhost_user;

pub use error::Error;

/// Virtio devices (so far the network driver, also at [`crate::net`]).
pub mod virtio {
    pub use crate::net;
}
