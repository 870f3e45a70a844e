//! OpenFlow 1.3 decoding on hostile bytes, as a switch sees them from a
//! controller and a client from a switch: framing a stream, decoding each
//! message, validating it, and the match, action and instruction parsers
//! on their own. Nothing may panic, and whatever decodes must encode back
//! into a message that decodes to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_openflow::{Action, Instruction, Match, Message, MessageFramer, OxmField};

fuzz_target!(|data: &[u8]| {
    // The input as one message.
    check_message(data);

    // The input as a stream, read in pieces of a size its first byte picks.
    let piece = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = MessageFramer::new();
    'stream: for chunk in data.chunks(piece) {
        framer.push(chunk);
        loop {
            match framer.next_message() {
                Ok(Some(frame)) => {
                    let frame = frame.to_vec();
                    check_message(&frame);
                }
                Ok(None) => break,
                Err(_) => break 'stream,
            }
        }
    }

    // The pieces a message is made of.
    if let Ok((m, used)) = Match::parse(data) {
        assert!(used <= data.len() && used % 8 == 0);
        let _ = m.validate();
        let mut out = Vec::new();
        m.emit(&mut out).expect("a decoded match re-encodes");
        assert_eq!(Match::parse(&out), Ok((m, out.len())));
    }
    if let Ok((field, used)) = OxmField::parse(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        field.emit(&mut out).expect("a decoded field re-encodes");
        assert_eq!(OxmField::parse(&out), Ok((field, out.len())));
    }
    if let Ok(actions) = Action::parse_list(data) {
        for action in &actions {
            let _ = action.validate();
        }
        let mut out = Vec::new();
        Action::emit_list(&actions, &mut out).expect("decoded actions re-encode");
        assert_eq!(Action::parse_list(&out), Ok(actions));
    }
    if let Ok(instructions) = Instruction::parse_list(data) {
        let _ = rvs_openflow::validate_instructions(&instructions, 0);
        let mut out = Vec::new();
        Instruction::emit_list(&instructions, &mut out).expect("decoded instructions re-encode");
        assert_eq!(Instruction::parse_list(&out), Ok(instructions));
    }
});

fn check_message(bytes: &[u8]) {
    let Ok(message) = Message::parse(bytes) else {
        return;
    };
    if let Err(error) = message.validate() {
        let reply = Message::error_reply(&error, bytes);
        let encoded = reply.to_bytes().expect("an error reply encodes");
        assert_eq!(Message::parse(&encoded), Ok(reply));
    }
    let again = message.to_bytes().expect("a decoded message re-encodes");
    assert_eq!(Message::parse(&again), Ok(message));
}
