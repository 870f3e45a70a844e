//! rvs-openflow: the OpenFlow 1.3 wire protocol and the `ovs-ofctl` flow
//! syntax, in one place for the switch (rvs-vswitchd) and the client
//! (rvs-ofctl).

#![forbid(unsafe_code)]
