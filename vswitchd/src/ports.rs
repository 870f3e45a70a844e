//! Opening interfaces as datapath ports, by `Interface.type`:
//!
//! | type | port | notes |
//! |---|---|---|
//! | `internal` | TAP device named after the interface | the bridge's own port; created, removed when closed |
//! | `tap` | TAP device | created if absent |
//! | `system`, `afpacket`, empty | AF_PACKET (TPACKET_V3 rings) on an existing netdev | completes partial TCP/UDP checksums |
//! | `afxdp` | AF_XDP on an existing netdev | `options:xdp-mode=generic\|native\|best-effort` |
//! | `vhostuserclient` | vhost-user, rvs connects to the frontend | `options:vhost-server-path` (required), `options:n_rxq` (queue pairs, 1-8), `options:mtu_request` |
//! | `vhostuser` | vhost-user, rvs listens on `<rundir>/<name>` | `options:n_rxq`, `options:mtu_request` |
//!
//! Anything else, or an option the type does not take, is refused with a
//! sentence for `Interface.error`.

use crate::config::IfaceCfg;
use crate::switch::PortFactory;
use rvs_datapath::port::afpacket::AfPacketPort;
use rvs_datapath::port::afxdp::{AfXdpPort, XdpMode};
use rvs_datapath::port::tap::TapPort;
use rvs_datapath::port::vhost::{VhostMode, VhostUserConfig, VhostUserPort, MAX_QUEUE_PAIRS};
use rvs_datapath::port::Port;
use std::path::PathBuf;

/// Opens real devices.
#[derive(Debug, Default)]
pub struct SystemPorts {
    /// Where `vhostuser` ports listen (`<rundir>/<interface name>`).
    pub rundir: PathBuf,
}

/// The vhost-user options common to both modes.
fn vhost_config(iface: &IfaceCfg, mode: VhostMode) -> Result<VhostUserConfig, String> {
    let queue_pairs = match iface.options.get("n_rxq") {
        None => 1,
        Some(n) => match n.parse::<usize>() {
            Ok(q) if (1..=MAX_QUEUE_PAIRS).contains(&q) => q,
            _ => {
                return Err(format!(
                "options:n_rxq={n:?} must be a number of queue pairs from 1 to {MAX_QUEUE_PAIRS}"
            ))
            }
        },
    };
    let mtu = match iface.options.get("mtu_request") {
        None => 1500,
        Some(m) => match m.parse::<u16>() {
            Ok(v) if (68..=9000).contains(&v) => v,
            _ => return Err(format!("options:mtu_request={m:?} must be from 68 to 9000")),
        },
    };
    Ok(VhostUserConfig {
        mode,
        queue_pairs,
        mtu,
    })
}

fn check_options(iface: &IfaceCfg, allowed: &[&str]) -> Result<(), String> {
    for k in iface.options.keys() {
        if !allowed.contains(&k.as_str()) {
            let kind = if iface.kind.is_empty() {
                "system"
            } else {
                &iface.kind
            };
            return Err(if allowed.is_empty() {
                format!("interface type {kind} takes no options, but options:{k} is set")
            } else {
                format!(
                    "interface type {kind} has no option {k:?} (it takes {})",
                    allowed.join(", ")
                )
            });
        }
    }
    Ok(())
}

impl PortFactory for SystemPorts {
    fn open(&mut self, _bridge: &str, iface: &IfaceCfg) -> Result<Box<dyn Port>, String> {
        let name = iface.name.as_str();
        let port: Box<dyn Port> = match iface.kind.as_str() {
            "internal" | "tap" => {
                check_options(iface, &[])?;
                Box::new(TapPort::open(name, true).map_err(|e| e.to_string())?)
            }
            "" | "system" | "afpacket" => {
                check_options(iface, &[])?;
                Box::new(AfPacketPort::open(name).map_err(|e| e.to_string())?)
            }
            "afxdp" => {
                check_options(iface, &["xdp-mode", "n_rxq"])?;
                let mode: XdpMode = match iface.options.get("xdp-mode") {
                    Some(m) => m.parse().map_err(|e: rvs_datapath::port::PortError| e.to_string())?,
                    None => XdpMode::BestEffort,
                };
                if let Some(n) = iface.options.get("n_rxq") {
                    if n != "1" {
                        return Err(format!(
                            "options:n_rxq={n:?}: this version serves one receive queue per afxdp port; use n_rxq=1"
                        ));
                    }
                }
                Box::new(AfXdpPort::open(name, mode).map_err(|e| e.to_string())?)
            }
            "vhostuserclient" => {
                check_options(iface, &["vhost-server-path", "n_rxq", "mtu_request"])?;
                let path = iface.options.get("vhost-server-path").ok_or_else(|| {
                    "vhostuserclient needs options:vhost-server-path (the frontend's socket)"
                        .to_string()
                })?;
                let cfg = vhost_config(iface, VhostMode::Client(PathBuf::from(path)))?;
                Box::new(VhostUserPort::open(name, cfg).map_err(|e| e.to_string())?)
            }
            "vhostuser" => {
                check_options(iface, &["n_rxq", "mtu_request"])?;
                let path = self.rundir.join(name);
                let cfg = vhost_config(iface, VhostMode::Server(path))?;
                Box::new(VhostUserPort::open(name, cfg).map_err(|e| e.to_string())?)
            }
            other => {
                return Err(format!(
                    "unsupported interface type {other:?}: use internal, tap, system, afpacket, afxdp, vhostuser or vhostuserclient"
                ))
            }
        };
        Ok(port)
    }
}
