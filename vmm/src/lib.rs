//! rvs-vmm: a small KVM VMM whose guests' virtio-net NICs are vhost-user
//! ports on the switch (issue "rvs-vmm"). It has no code yet.
