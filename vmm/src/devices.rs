//! The legacy platform devices a guest reaches through port I/O:
//!
//! | ports | device |
//! |---|---|
//! | 0x3f8–0x3ff | COM1, a 16550 UART (`vm-superio`), its output to a writer |
//! | 0x60, 0x64 | the i8042 as far as reset goes: command 0xfe resets (ends the VM) |
//! | 0xcf8, 0xcfc–0xcff | PCI configuration mechanism 1 for bus 0 ([`PciBus`]) |
//! | 0xf4 | an exit port: a byte written there ends the VM with that status |
//!
//! Reads of any other port return all ones and writes are ignored, as on
//! real hardware with nothing decoding the address; both are counted.

use crate::kvm::{PortIo, Stop};
use std::io::Write;
use vm_superio::{Serial, Trigger};

pub const COM1: u16 = 0x3f8;
pub const EXIT_PORT: u16 = 0xf4;
pub const I8042_DATA: u16 = 0x60;
pub const I8042_CMD: u16 = 0x64;
pub const PCI_CONFIG_ADDRESS: u16 = 0xcf8;
pub const PCI_CONFIG_DATA: u16 = 0xcfc;

/// The serial port's interrupt line: an eventfd KVM turns into IRQ 4
/// (an irqfd on the in-kernel interrupt controllers), or nothing.
#[derive(Debug)]
pub struct IrqLine(pub Option<vmm_sys_util::eventfd::EventFd>);

impl Trigger for IrqLine {
    type E = std::io::Error;
    fn trigger(&self) -> Result<(), Self::E> {
        match &self.0 {
            Some(e) => e.write(1),
            None => Ok(()),
        }
    }
}

/// A device on PCI bus 0: its configuration space.
pub trait PciFunction: Send {
    /// The dword at `reg` (a multiple of 4) of configuration space.
    fn config_read(&mut self, reg: u16) -> u32;
    /// Writes `data` at `reg + offset` (`offset` + len within the dword).
    fn config_write(&mut self, reg: u16, offset: u16, data: &[u8]);
    /// The memory BAR (address, size) whose accesses come to
    /// [`PciFunction::bar_read`] and [`PciFunction::bar_write`].
    fn bar(&self) -> Option<(u64, u64)> {
        None
    }
    /// A read at `offset` into the BAR.
    fn bar_read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0xff);
    }
    /// A write at `offset` into the BAR.
    fn bar_write(&mut self, _offset: u64, _data: &[u8]) {}
}

/// The host bridge at 00:00.0 (Intel's 440FX ids, as QEMU's `pc`
/// machine has; class 06.00).
#[derive(Debug, Default)]
pub struct HostBridge;

impl PciFunction for HostBridge {
    fn config_read(&mut self, reg: u16) -> u32 {
        match reg {
            0x00 => 0x1237_8086,
            0x08 => 0x0600_0000,
            _ => 0,
        }
    }

    fn config_write(&mut self, _reg: u16, _offset: u16, _data: &[u8]) {}
}

/// PCI configuration mechanism 1 for bus 0, function 0 of each slot.
pub struct PciBus {
    address: u32,
    slots: Vec<Option<Box<dyn PciFunction>>>,
}

impl std::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PciBus")
            .field("address", &self.address)
            .field("slots", &self.slots.iter().filter(|s| s.is_some()).count())
            .finish()
    }
}

impl Default for PciBus {
    fn default() -> Self {
        PciBus::new()
    }
}

impl PciBus {
    /// A bus with the host bridge in slot 0.
    pub fn new() -> PciBus {
        let mut slots: Vec<Option<Box<dyn PciFunction>>> = (0..32).map(|_| None).collect();
        slots[0] = Some(Box::new(HostBridge));
        PciBus { address: 0, slots }
    }

    /// Puts `f` in the first free slot; its slot number, or `None` when
    /// the bus is full.
    pub fn add(&mut self, f: Box<dyn PciFunction>) -> Option<u8> {
        let i = self.slots.iter().position(Option::is_none)?;
        self.slots[i] = Some(f);
        Some(i as u8)
    }

    /// The function the address register selects, and the register.
    fn target(&mut self) -> Option<(&mut Box<dyn PciFunction>, u16)> {
        let a = self.address;
        let enabled = a & 0x8000_0000 != 0;
        let bus = (a >> 16) & 0xff;
        let slot = ((a >> 11) & 0x1f) as usize;
        let func = (a >> 8) & 0x7;
        if !enabled || bus != 0 || func != 0 {
            return None;
        }
        let reg = (a & 0xfc) as u16;
        self.slots[slot].as_mut().map(|f| (f, reg))
    }

    fn read_data(&mut self, offset: u16, data: &mut [u8]) {
        let v = match self.target() {
            Some((f, reg)) => f.config_read(reg),
            None => u32::MAX,
        };
        let bytes = v.to_le_bytes();
        for (i, b) in data.iter_mut().enumerate() {
            *b = bytes.get(usize::from(offset) + i).copied().unwrap_or(0xff);
        }
    }

    /// The function whose BAR holds `addr`, and the offset into it.
    fn bar_at(&mut self, addr: u64, len: usize) -> Option<(&mut Box<dyn PciFunction>, u64)> {
        self.slots.iter_mut().flatten().find_map(|f| {
            let (base, size) = f.bar()?;
            let off = addr.checked_sub(base)?;
            (off.checked_add(len as u64)? <= size).then_some((f, off))
        })
    }

    /// A guest read of memory at `addr`: false when no BAR holds it.
    pub fn mmio_read(&mut self, addr: u64, data: &mut [u8]) -> bool {
        match self.bar_at(addr, data.len()) {
            Some((f, off)) => {
                f.bar_read(off, data);
                true
            }
            None => false,
        }
    }

    /// A guest write of memory at `addr`: false when no BAR holds it.
    pub fn mmio_write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.bar_at(addr, data.len()) {
            Some((f, off)) => {
                f.bar_write(off, data);
                true
            }
            None => false,
        }
    }

    fn write_data(&mut self, offset: u16, data: &[u8]) {
        if usize::from(offset) + data.len() > 4 {
            return;
        }
        if let Some((f, reg)) = self.target() {
            f.config_write(reg, offset, data);
        }
    }
}

/// The platform: serial, reset, PCI, exit port.
pub struct Platform<W: Write> {
    serial: Serial<IrqLine, vm_superio::serial::NoEvents, W>,
    pub pci: PciBus,
    /// Accesses to ports nothing decodes.
    pub unhandled: u64,
}

impl<W: Write> std::fmt::Debug for Platform<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("pci", &self.pci)
            .field("unhandled", &self.unhandled)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Platform<W> {
    /// The platform with the serial console writing to `console` and
    /// interrupting through `irq`.
    pub fn new(console: W, irq: IrqLine) -> Platform<W> {
        Platform {
            serial: Serial::new(irq, console),
            pci: PciBus::new(),
            unhandled: 0,
        }
    }

    /// The console writer.
    pub fn console(&mut self) -> &mut W {
        self.serial.writer_mut()
    }

    /// Puts console input into the UART's receive FIFO (64 bytes);
    /// returns how many bytes it took (the caller retries the rest once
    /// the guest read some).
    pub fn console_input(&mut self, bytes: &[u8]) -> usize {
        let room = self.serial.fifo_capacity().min(bytes.len());
        if room == 0 {
            return 0;
        }
        self.serial.enqueue_raw_bytes(&bytes[..room]).unwrap_or(0)
    }
}

impl<W: Write> PortIo for Platform<W> {
    fn read(&mut self, port: u16, data: &mut [u8]) {
        match port {
            COM1..=0x3ff if data.len() == 1 => data[0] = self.serial.read((port - COM1) as u8),
            I8042_CMD if data.len() == 1 => data[0] = 0, // nothing to read, ready for commands
            I8042_DATA if data.len() == 1 => data[0] = 0,
            PCI_CONFIG_ADDRESS if data.len() == 4 => {
                data.copy_from_slice(&self.pci.address.to_le_bytes())
            }
            PCI_CONFIG_DATA..=0xcff => self.pci.read_data(port - PCI_CONFIG_DATA, data),
            _ => {
                self.unhandled += 1;
                data.fill(0xff);
            }
        }
    }

    fn write(&mut self, port: u16, data: &[u8]) -> Option<Stop> {
        match port {
            COM1..=0x3ff if data.len() == 1 => {
                // The UART's only error is its interrupt's eventfd being
                // full, which cannot happen to a counter of this size.
                let _ = self.serial.write((port - COM1) as u8, data[0]);
                if port == COM1 {
                    let _ = self.serial.writer_mut().flush();
                }
            }
            EXIT_PORT => return Some(Stop::Exit(data.first().copied().unwrap_or(0))),
            I8042_CMD if data == [0xfe] => return Some(Stop::Reset),
            I8042_CMD | I8042_DATA => {}
            PCI_CONFIG_ADDRESS if data.len() == 4 => {
                self.pci.address = u32::from_le_bytes([data[0], data[1], data[2], data[3]])
            }
            PCI_CONFIG_DATA..=0xcff => self.pci.write_data(port - PCI_CONFIG_DATA, data),
            _ => self.unhandled += 1,
        }
        None
    }

    fn mmio_read(&mut self, addr: u64, data: &mut [u8]) {
        if !self.pci.mmio_read(addr, data) {
            self.unhandled += 1;
            data.fill(0xff);
        }
    }

    fn mmio_write(&mut self, addr: u64, data: &[u8]) {
        if !self.pci.mmio_write(addr, data) {
            self.unhandled += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(p: &mut Platform<Vec<u8>>, port: u16, data: &[u8]) -> Option<Stop> {
        p.write(port, data)
    }

    fn inl(p: &mut Platform<Vec<u8>>, port: u16) -> u32 {
        let mut d = [0u8; 4];
        p.read(port, &mut d);
        u32::from_le_bytes(d)
    }

    #[test]
    fn serial_output_reaches_the_console_and_the_exit_port_stops() {
        let mut p = Platform::new(Vec::new(), IrqLine(None));
        for b in b"hi\n" {
            assert_eq!(out(&mut p, COM1, &[*b]), None);
        }
        assert_eq!(p.console().as_slice(), b"hi\n");
        assert_eq!(out(&mut p, EXIT_PORT, &[3]), Some(Stop::Exit(3)));
        assert_eq!(out(&mut p, I8042_CMD, &[0xfe]), Some(Stop::Reset));
        assert_eq!(out(&mut p, I8042_CMD, &[0xd1]), None);
    }

    #[test]
    fn pci_configuration_finds_the_host_bridge_and_nothing_else() {
        let mut p = Platform::new(Vec::new(), IrqLine(None));
        out(&mut p, PCI_CONFIG_ADDRESS, &0x8000_0000u32.to_le_bytes());
        assert_eq!(inl(&mut p, PCI_CONFIG_ADDRESS), 0x8000_0000);
        assert_eq!(inl(&mut p, PCI_CONFIG_DATA), 0x1237_8086);
        let mut w = [0u8; 2];
        p.read(PCI_CONFIG_DATA + 2, &mut w);
        assert_eq!(u16::from_le_bytes(w), 0x1237);
        out(
            &mut p,
            PCI_CONFIG_ADDRESS,
            &(0x8000_0000u32 | 1 << 11).to_le_bytes(),
        );
        assert_eq!(inl(&mut p, PCI_CONFIG_DATA), u32::MAX, "an empty slot");
        out(&mut p, PCI_CONFIG_ADDRESS, &0x0000_0000u32.to_le_bytes());
        assert_eq!(inl(&mut p, PCI_CONFIG_DATA), u32::MAX, "disabled");
        assert_eq!(inl(&mut p, 0x1234), u32::MAX);
        assert_eq!(p.unhandled, 1);
    }
}
