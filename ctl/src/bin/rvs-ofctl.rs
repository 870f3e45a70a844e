//! `rvs-ofctl`: manages an OpenFlow 1.3 switch in the command language of
//! `ovs-ofctl`. The work is in [`rvs_ctl::ofctl`].

#![forbid(unsafe_code)]

fn main() {
    std::process::exit(rvs_ctl::ofctl::main());
}
