//! `rvs-vmm`: the rvs virtual machine monitor.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use rvs_vmm::devices::Platform;
use rvs_vmm::guest::TEST_GUEST;
use rvs_vmm::kvm::{BootInfo, Stop, Vm};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "rvs-vmm",
    version,
    about = "A small KVM virtual machine monitor whose NICs are vhost-user ports on rvs",
    long_about = "A small KVM virtual machine monitor whose NICs are vhost-user ports on rvs.\n\n\
        What works today: `run --test-guest` boots the built-in test guest (a tiny \
        64-bit program, no Linux kernel) with a serial console and PCI bus 0, which \
        checks that this host's KVM runs guests at all. Linux boot, virtio-net over \
        vhost-user and managed VMs are being built.\n\n\
        Examples:\n  rvs-vmm run --test-guest\n  rvs-vmm run --test-guest --cmdline 'hello' --memory 32"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Boot a VM with its console on this terminal; the command's exit
    /// status is the guest's (0 when it reports success).
    Run {
        /// Boot the built-in test guest.
        #[arg(long)]
        test_guest: bool,
        /// A Linux kernel to boot (not implemented yet).
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// The guest's command line.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 16)]
        memory: u64,
        /// The KVM device.
        #[arg(long, default_value = "/dev/kvm")]
        kvm: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            test_guest,
            kernel,
            cmdline,
            memory,
            kvm,
        } => {
            if let Some(k) = kernel {
                bail!(
                    "booting a Linux kernel ({}) is not implemented yet; --test-guest boots the built-in test guest",
                    k.display()
                );
            }
            if !test_guest {
                bail!("say what to boot: --test-guest (the built-in test guest)");
            }
            if !(1..=65536).contains(&memory) {
                bail!("--memory takes MiB between 1 and 65536, not {memory}");
            }
            let t0 = Instant::now();
            let mut vm = Vm::new(&kvm, memory << 20)?;
            vm.boot_flat(
                TEST_GUEST,
                &BootInfo {
                    cmdline: cmdline.clone(),
                },
            )?;
            let mut platform = Platform::new(std::io::stdout());
            let stop = vm.run(&mut platform)?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            match stop {
                Stop::Exit(code) => {
                    eprintln!(
                        "rvs-vmm: the guest exited with status {code} ({} exits, {ms:.1} ms)",
                        vm.exits()
                    );
                    std::process::exit(i32::from(code.min(125)));
                }
                Stop::Reset => {
                    eprintln!("rvs-vmm: the guest reset the machine; the VM ended ({ms:.1} ms)");
                }
            }
            Ok(())
        }
    }
}
