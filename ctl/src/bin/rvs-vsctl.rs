//! `rvs-vsctl`: configures rvs through its database, in the command
//! language of `ovs-vsctl`. The work is in [`rvs_ctl::vsctl`].

#![forbid(unsafe_code)]

fn main() {
    std::process::exit(rvs_ctl::vsctl::main());
}
