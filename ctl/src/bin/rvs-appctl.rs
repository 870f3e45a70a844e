//! `rvs-appctl`: asks a running rvs daemon a question through its control
//! socket. The work is in [`rvs_ctl::appctl`].

#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(rvs_ctl::appctl::main_with(&args));
}
