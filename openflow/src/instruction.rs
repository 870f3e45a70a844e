//! Instructions (`ofp_instruction_*`): what a flow does when it matches —
//! go to a later table, write metadata, apply actions now, write or clear
//! the action set, meter.
//!
//! As with actions, decoding keeps unknown and experimenter instructions
//! ([`Instruction::Unknown`], [`Instruction::Experimenter`]) and fails only
//! on structure (BAD_INSTRUCTION/BAD_LEN; an action inside fails with its
//! own BAD_ACTION code). [`validate_instructions`] is the switch's check:
//! unknown types (BAD_INSTRUCTION/UNKNOWN_INST), experimenters
//! (BAD_EXPERIMENTER), a type given twice (UNSUP_INST, since OpenFlow 1.3
//! has no DUP_INST code), `goto_table` not forward (BAD_TABLE_ID), and
//! every action.

use crate::action::{read_actions, write_actions, Action};
use crate::error::OfError;
use crate::types::table;
use crate::wire::{Reader, Within, Writer};

/// Instruction type numbers (`ofp_instruction_type`).
pub mod instruction_type {
    /// Continue in a later table.
    pub const GOTO_TABLE: u16 = 1;
    /// Write masked metadata.
    pub const WRITE_METADATA: u16 = 2;
    /// Merge actions into the action set.
    pub const WRITE_ACTIONS: u16 = 3;
    /// Apply actions now.
    pub const APPLY_ACTIONS: u16 = 4;
    /// Empty the action set.
    pub const CLEAR_ACTIONS: u16 = 5;
    /// Apply a meter.
    pub const METER: u16 = 6;
    /// Experimenter instruction.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// Continue processing in this (later) table.
    GotoTable(u8),
    /// Set the metadata bits `mask` selects to those of `metadata`.
    WriteMetadata {
        /// The new bits.
        metadata: u64,
        /// Which bits to write.
        mask: u64,
    },
    /// Merge these actions into the action set.
    WriteActions(Vec<Action>),
    /// Apply these actions at once, in order.
    ApplyActions(Vec<Action>),
    /// Empty the action set.
    ClearActions,
    /// Send the packet through this meter.
    Meter(u32),
    /// An experimenter instruction: the experimenter id and the bytes after.
    Experimenter {
        /// The experimenter id.
        experimenter: u32,
        /// The rest of the instruction.
        data: Vec<u8>,
    },
    /// An instruction type OpenFlow 1.3 does not define, kept as it came.
    Unknown {
        /// The instruction type.
        instruction_type: u16,
        /// Everything after the type and length.
        body: Vec<u8>,
    },
}

impl Instruction {
    /// The instruction type number.
    pub fn instruction_type(&self) -> u16 {
        use self::instruction_type as t;
        match self {
            Instruction::GotoTable(_) => t::GOTO_TABLE,
            Instruction::WriteMetadata { .. } => t::WRITE_METADATA,
            Instruction::WriteActions(_) => t::WRITE_ACTIONS,
            Instruction::ApplyActions(_) => t::APPLY_ACTIONS,
            Instruction::ClearActions => t::CLEAR_ACTIONS,
            Instruction::Meter(_) => t::METER,
            Instruction::Experimenter { .. } => t::EXPERIMENTER,
            Instruction::Unknown {
                instruction_type, ..
            } => *instruction_type,
        }
    }

    /// The specification's name of the instruction, lower case.
    pub fn name(&self) -> &'static str {
        instruction_name(self.instruction_type())
    }

    /// The actions of an apply or write instruction.
    pub fn actions(&self) -> Option<&[Action]> {
        match self {
            Instruction::WriteActions(actions) | Instruction::ApplyActions(actions) => {
                Some(actions)
            }
            _ => None,
        }
    }

    /// Reads one instruction.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Instruction, OfError> {
        let instruction_type = r.u16()?;
        let len = usize::from(r.u16()?);
        let name = instruction_name(instruction_type);
        if len < 8 || len % 8 != 0 {
            return Err(OfError::BadInstructionLength { what: name });
        }
        let body = r
            .bytes(len - 4)
            .map_err(|_| OfError::BadInstructionLength { what: name })?;
        let mut b = Reader::new(body, Within::Instruction(name));
        use self::instruction_type as t;
        let instruction = match instruction_type {
            t::GOTO_TABLE => {
                let table_id = b.u8()?;
                b.skip(3)?;
                Instruction::GotoTable(table_id)
            }
            t::WRITE_METADATA => {
                b.skip(4)?;
                Instruction::WriteMetadata {
                    metadata: b.u64()?,
                    mask: b.u64()?,
                }
            }
            t::WRITE_ACTIONS | t::APPLY_ACTIONS => {
                b.skip(4)?;
                let actions = read_actions(b.rest())?;
                if instruction_type == t::WRITE_ACTIONS {
                    Instruction::WriteActions(actions)
                } else {
                    Instruction::ApplyActions(actions)
                }
            }
            t::CLEAR_ACTIONS => {
                b.skip(4)?;
                Instruction::ClearActions
            }
            t::METER => Instruction::Meter(b.u32()?),
            t::EXPERIMENTER => Instruction::Experimenter {
                experimenter: b.u32()?,
                data: b.rest().to_vec(),
            },
            _ => Instruction::Unknown {
                instruction_type,
                body: b.rest().to_vec(),
            },
        };
        b.finish()?;
        Ok(instruction)
    }

    /// Appends the instruction, padded to 8 bytes.
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let start = w.len();
        w.u16(self.instruction_type());
        w.u16(0);
        match self {
            Instruction::GotoTable(table_id) => {
                w.u8(*table_id);
                w.zeros(3);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                w.zeros(4);
                w.u64(*metadata);
                w.u64(*mask);
            }
            Instruction::WriteActions(actions) | Instruction::ApplyActions(actions) => {
                w.zeros(4);
                write_actions(actions, w);
            }
            Instruction::ClearActions => w.zeros(4),
            Instruction::Meter(id) => w.u32(*id),
            Instruction::Experimenter { experimenter, data } => {
                w.u32(*experimenter);
                w.bytes(data);
            }
            Instruction::Unknown { body, .. } => w.bytes(body),
        }
        w.pad_to_8(start);
        w.patch_len16(start + 2, start);
    }

    /// Decodes a list of instructions that fills `buf` exactly.
    pub fn parse_list(buf: &[u8]) -> Result<Vec<Instruction>, OfError> {
        read_instructions(buf)
    }

    /// Appends a list of instructions to `out`.
    pub fn emit_list(instructions: &[Instruction], out: &mut Vec<u8>) -> Result<(), OfError> {
        let start = out.len();
        let mut w = Writer::new(out);
        write_instructions(instructions, &mut w);
        if let Some(length) = w.overflow() {
            out.truncate(start);
            return Err(OfError::TooLong {
                what: "an instruction",
                length,
                max: u16::MAX as usize,
            });
        }
        Ok(())
    }
}

/// The specification's name of an instruction type, lower case.
pub fn instruction_name(instruction_type: u16) -> &'static str {
    use self::instruction_type as t;
    match instruction_type {
        t::GOTO_TABLE => "goto_table",
        t::WRITE_METADATA => "write_metadata",
        t::WRITE_ACTIONS => "write_actions",
        t::APPLY_ACTIONS => "apply_actions",
        t::CLEAR_ACTIONS => "clear_actions",
        t::METER => "meter",
        t::EXPERIMENTER => "experimenter",
        _ => "unknown instruction",
    }
}

/// The switch's checks on the instructions of a flow in table `table_id`
/// (see the module docs). With `table_id` [`table::ALL`] (a deletion or a
/// statistics request), `goto_table` is only checked against the last
/// table.
pub fn validate_instructions(instructions: &[Instruction], table_id: u8) -> Result<(), OfError> {
    for (i, instruction) in instructions.iter().enumerate() {
        let kind = instruction.instruction_type();
        if instructions[..i]
            .iter()
            .any(|earlier| earlier.instruction_type() == kind)
        {
            return Err(OfError::DuplicateInstruction {
                instruction_type: kind,
            });
        }
        match instruction {
            Instruction::GotoTable(next) => {
                let backwards = table_id != table::ALL && *next <= table_id;
                if backwards || *next > table::MAX {
                    return Err(OfError::BadGotoTable {
                        table_id: *next,
                        from_table: table_id,
                    });
                }
            }
            Instruction::WriteActions(actions) | Instruction::ApplyActions(actions) => {
                actions.iter().try_for_each(Action::validate)?;
            }
            Instruction::Experimenter { experimenter, .. } => {
                return Err(OfError::ExperimenterInstruction {
                    experimenter: *experimenter,
                });
            }
            Instruction::Unknown {
                instruction_type, ..
            } => {
                return Err(OfError::UnknownInstruction {
                    instruction_type: *instruction_type,
                });
            }
            Instruction::WriteMetadata { .. }
            | Instruction::ClearActions
            | Instruction::Meter(_) => {}
        }
    }
    Ok(())
}

/// Reads instructions until `buf` is used up.
pub(crate) fn read_instructions(buf: &[u8]) -> Result<Vec<Instruction>, OfError> {
    let mut r = Reader::new(buf, Within::Instruction("instruction header"));
    let mut instructions = Vec::new();
    while !r.is_empty() {
        instructions.push(Instruction::read(&mut r)?);
    }
    Ok(instructions)
}

/// Appends instructions.
pub(crate) fn write_instructions(instructions: &[Instruction], w: &mut Writer<'_>) {
    for instruction in instructions {
        instruction.write(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{bad_action, bad_instruction, ErrorType};
    use crate::types::PortNo;

    fn encode(instructions: &[Instruction]) -> Vec<u8> {
        let mut out = Vec::new();
        Instruction::emit_list(instructions, &mut out).unwrap();
        out
    }

    #[test]
    fn apply_actions_output_layout() {
        #[rustfmt::skip]
        let bytes = [
            0x00, 0x04, 0x00, 0x18, 0, 0, 0, 0,                 // apply_actions, 24 bytes
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02,     // output:2
            0x00, 0x00, 0, 0, 0, 0, 0, 0,
        ];
        let instructions = vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])];
        assert_eq!(encode(&instructions), bytes);
        assert_eq!(Instruction::parse_list(&bytes), Ok(instructions));
    }

    #[test]
    fn every_instruction_round_trips() {
        let instructions = vec![
            Instruction::GotoTable(3),
            Instruction::WriteMetadata {
                metadata: 0x1234,
                mask: 0xffff,
            },
            Instruction::WriteActions(vec![Action::Group(1), Action::DecNwTtl]),
            Instruction::ApplyActions(vec![]),
            Instruction::ClearActions,
            Instruction::Meter(7),
            Instruction::Experimenter {
                experimenter: 0x2320,
                data: vec![9; 8],
            },
            Instruction::Unknown {
                instruction_type: 40,
                body: vec![1, 2, 3, 4],
            },
        ];
        let bytes = encode(&instructions);
        assert_eq!(bytes.len(), 8 + 24 + 24 + 8 + 8 + 8 + 16 + 8);
        assert_eq!(Instruction::parse_list(&bytes), Ok(instructions));
    }

    #[test]
    fn lengths_are_checked() {
        let code = |bytes: &[u8]| Instruction::parse_list(bytes).unwrap_err().code();
        assert_eq!(code(&[0, 1, 0, 4]).code, bad_instruction::BAD_LEN);
        assert_eq!(
            code(&[0, 1, 0, 16, 0, 0, 0, 0]).code,
            bad_instruction::BAD_LEN
        );
        // write_metadata must be 24 bytes.
        assert_eq!(
            code(&[0, 2, 0, 8, 0, 0, 0, 0]).code,
            bad_instruction::BAD_LEN
        );
        // An action inside reports itself.
        let err = code(&[0, 4, 0, 16, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1]);
        assert_eq!(err.kind, ErrorType::BadAction);
        assert_eq!(err.code, bad_action::BAD_LEN);
    }

    #[test]
    fn validation() {
        let code = |list: &[Instruction], table: u8| {
            validate_instructions(list, table).unwrap_err().code()
        };
        assert_eq!(
            validate_instructions(&[Instruction::GotoTable(1), Instruction::ClearActions], 0),
            Ok(())
        );
        assert_eq!(
            code(&[Instruction::GotoTable(1)], 1).code,
            bad_instruction::BAD_TABLE_ID
        );
        assert_eq!(
            code(&[Instruction::GotoTable(table::ALL)], table::ALL).code,
            bad_instruction::BAD_TABLE_ID
        );
        assert_eq!(
            code(
                &[Instruction::Unknown {
                    instruction_type: 40,
                    body: vec![0; 4]
                }],
                0
            )
            .code,
            bad_instruction::UNKNOWN_INST
        );
        assert_eq!(
            code(&[Instruction::ClearActions, Instruction::ClearActions], 0).code,
            bad_instruction::UNSUP_INST
        );
        let bad_action = code(
            &[Instruction::ApplyActions(vec![Action::output(PortNo::ANY)])],
            0,
        );
        assert_eq!(bad_action.kind, ErrorType::BadAction);
    }
}
