//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Rewriting an address or a port must not re-sum the whole packet: the
//! incremental forms below fold the old and new values of the changed words
//! into the existing checksum, as RFC 1624 eqn. 3 does: `HC' = ~(~HC + ~m + m')`.

/// One's-complement sum of `data` (as big-endian 16-bit words, an odd last
/// byte padded with zero) added to `initial`, not yet folded or inverted.
pub fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = initial as u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u64) << 8;
    }
    fold64(acc)
}

/// Folds a 64-bit accumulator into 16 bits (still in a u32, not inverted).
#[inline]
fn fold64(mut acc: u64) -> u32 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Finishes a sum into the value that goes on the wire.
#[inline]
pub fn finish(sum: u32) -> u16 {
    !(fold64(sum as u64) as u16)
}

/// The checksum of `data` alone.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// Checksum after a 16-bit word of the covered data changed from `old` to `new`.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let acc = (!check as u32) + (!old as u32) + new as u32;
    !(fold64(acc as u64) as u16)
}

/// Checksum after a 32-bit value of the covered data changed from `old` to `new`.
#[inline]
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    let c = update16(check, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// Checksum after a 128-bit value (an IPv6 address) changed from `old` to `new`.
pub fn update128(mut check: u16, old: &[u8; 16], new: &[u8; 16]) -> u16 {
    for i in (0..16).step_by(2) {
        check = update16(
            check,
            u16::from_be_bytes([old[i], old[i + 1]]),
            u16::from_be_bytes([new[i], new[i + 1]]),
        );
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The example words of RFC 1071 section 3: sum 0xddf2, checksum 0x220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data, 0), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn incremental_update_matches_full_recompute() {
        let mut data: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37)).collect();
        let before = checksum(&data);
        let old = u32::from_be_bytes([data[12], data[13], data[14], data[15]]);
        let new: u32 = 0xc0a8_0101;
        data[12..16].copy_from_slice(&new.to_be_bytes());
        assert_eq!(update32(before, old, new), checksum(&data));
        let old16 = u16::from_be_bytes([data[20], data[21]]);
        data[20..22].copy_from_slice(&0xbeefu16.to_be_bytes());
        assert_eq!(
            update16(update32(before, old, new), old16, 0xbeef),
            checksum(&data)
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12], 0), 0x1200);
    }
}
