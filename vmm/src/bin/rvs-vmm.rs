//! `rvs-vmm`: the rvs virtual machine monitor.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use rvs_vmm::devices::Platform;
use rvs_vmm::guest::TEST_GUEST;
use rvs_vmm::kvm::{BootInfo, Stop, Vm};
use rvs_vmm::vhost_user::VhostUserNet;
use rvs_vmm::virtio_pci::{VirtioNet, BAR_SIZE};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the NICs' BARs go: in the 32-bit PCI hole, above any RAM the
/// test VMs have.
const BAR_BASE: u64 = 0xe000_0000;

/// One `--net` option.
#[derive(Debug, Clone)]
struct NetSpec {
    socket: PathBuf,
    mac: [u8; 6],
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

/// `vhost-user=PATH[,mac=MAC]`.
fn parse_net(s: &str, index: usize) -> Result<NetSpec> {
    let mut socket = None;
    let pid = std::process::id();
    // Locally administered, unique per process and NIC.
    let mut mac = [
        0x02,
        0x72,
        (pid >> 16) as u8,
        (pid >> 8) as u8,
        pid as u8,
        index as u8,
    ];
    for item in s.split(',') {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        match k {
            "vhost-user" if !v.is_empty() => socket = Some(PathBuf::from(v)),
            "bridge" => bail!(
                "--net bridge= (the VMM adding its port to a bridge) is not implemented yet; \
                 use --net vhost-user=PATH with a type=vhostuser port on the switch"
            ),
            "mac" => {
                mac = parse_mac(v).ok_or_else(|| {
                    anyhow::anyhow!("--net mac={v}: not a MAC address like 02:00:00:00:00:01")
                })?;
                if mac[0] & 1 != 0 {
                    bail!("--net mac={v} is a multicast address");
                }
            }
            _ => bail!("--net {s:?}: expected vhost-user=PATH[,mac=MAC]"),
        }
    }
    let socket =
        socket.ok_or_else(|| anyhow::anyhow!("--net {s:?}: expected vhost-user=PATH[,mac=MAC]"))?;
    Ok(NetSpec { socket, mac })
}

#[derive(Parser, Debug)]
#[command(
    name = "rvs-vmm",
    version,
    about = "A small KVM virtual machine monitor whose NICs are vhost-user ports on rvs",
    long_about = "A small KVM virtual machine monitor whose NICs are vhost-user ports on rvs.\n\n\
        What works today: `run --test-guest` boots the built-in test guest (a tiny \
        64-bit program, no Linux kernel) with a serial console, PCI bus 0 and \
        virtio-net NICs (virtio-pci) whose data path is a vhost-user backend such as an \
        rvs port. With `--cmdline 'ip=A.B.C.D/N echo=A.B.C.D:PORT'` the guest sends a \
        UDP datagram to that host and prints ECHO OK when it comes back (exit status 0), \
        ECHO FAIL otherwise (1). Linux boot, --net bridge= and managed VMs are being built.\n\n\
        Examples:\n  rvs-vmm run --test-guest\n  rvs-vmm run --test-guest --cmdline 'hello' --memory 32\n  \
        rvs-vsctl add-port br0 vm1 -- set Interface vm1 type=vhostuser\n  \
        rvs-vmm run --test-guest --net vhost-user=$RVS_RUNDIR/vm1 --cmdline 'ip=10.0.0.3/24 echo=10.0.0.1:7'"
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
        /// A virtio-net NIC on PCI whose data path is the vhost-user
        /// backend listening at PATH (rvs: a type=vhostuser port, whose
        /// socket is <rundir>/<port>; Open vSwitch: dpdkvhostuser):
        /// vhost-user=PATH[,mac=MAC]. Repeat for more NICs.
        #[arg(long)]
        net: Vec<String>,
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
            net,
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
            let nets = net
                .iter()
                .enumerate()
                .map(|(i, n)| parse_net(n, i))
                .collect::<Result<Vec<_>>>()?;
            if nets.len() > 8 {
                bail!("at most 8 NICs");
            }
            if (memory << 20) > BAR_BASE {
                bail!(
                    "--memory above {} MiB would overlap the PCI hole",
                    BAR_BASE >> 20
                );
            }
            let t0 = Instant::now();
            let mut vm = Vm::new(&kvm, memory << 20)?;
            let mut platform = Platform::new(std::io::stdout());
            for (i, n) in nets.iter().enumerate() {
                let conn = VhostUserNet::connect(&n.socket, Duration::from_secs(10))?;
                let dev = VirtioNet::new(
                    vm.fd(),
                    BAR_BASE + i as u64 * BAR_SIZE * 4,
                    conn,
                    vm.memory().clone(),
                    n.mac,
                )
                .map_err(|e| anyhow::anyhow!("NIC {} ({}): {e}", i, n.socket.display()))?;
                if platform.pci.add(Box::new(dev)).is_none() {
                    bail!("PCI bus 0 is full");
                }
            }
            vm.boot_flat(
                TEST_GUEST,
                &BootInfo {
                    cmdline: cmdline.clone(),
                },
            )?;
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
