//! Opening interfaces as datapath ports, by `Interface.type`:
//!
//! | type | port | notes |
//! |---|---|---|
//! | `internal` | TAP device named after the interface | the bridge's own port; created, removed when closed |
//! | `tap` | TAP device | created if absent |
//! | `system`, `afpacket`, empty | AF_PACKET (TPACKET_V3 rings) on an existing netdev | completes partial TCP/UDP checksums |
//! | `afxdp` | AF_XDP on an existing netdev | `options:xdp-mode=generic\|native\|best-effort` |
//!
//! Anything else, or an option the type does not take, is refused with a
//! sentence for `Interface.error`.

use crate::config::IfaceCfg;
use crate::switch::PortFactory;
use rvs_datapath::port::afpacket::AfPacketPort;
use rvs_datapath::port::afxdp::{AfXdpPort, XdpMode};
use rvs_datapath::port::tap::TapPort;
use rvs_datapath::port::Port;

/// Opens real devices.
#[derive(Debug, Default)]
pub struct SystemPorts;

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
            other => {
                return Err(format!(
                    "unsupported interface type {other:?}: use internal, tap, system, afpacket or afxdp"
                ))
            }
        };
        Ok(port)
    }
}
