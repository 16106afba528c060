//! Posting lists: the seqs of one user's (or one sandbox's) entries in one
//! write of the search index, as one value instead of one index row each.
//!
//! Why: a B-tree index on a column with many values (users, sandboxes) costs
//! a descent and a page change per row, and that work is most of what the
//! indexer does while appenders wait for the CPU. Grouped per write, a
//! hundred thousand events from a thousand users become a thousand rows.
//!
//! Encoding: ascending seqs as LEB128 varints, the first one whole, then
//! each as its distance from the one before (small numbers: one or two
//! bytes each). The bytes come from `index.db`, which anyone with the data
//! directory can edit, so decoding checks everything and fails closed.

/// Encodes ascending, distinct `seqs`.
pub fn encode(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 2 + 8);
    let mut prev = None;
    for &seq in seqs {
        let delta = match prev {
            None => seq,
            Some(p) => {
                debug_assert!(seq > p, "posting lists hold ascending seqs");
                seq - p
            }
        };
        put_varint(&mut out, delta);
        prev = Some(seq);
    }
    out
}

/// Decodes a list written by [`encode`]; `None` for anything else
/// (truncated, overlong, overflowing or not strictly ascending).
pub fn decode(mut bytes: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(bytes.len());
    while !bytes.is_empty() {
        let (delta, rest) = take_varint(bytes)?;
        bytes = rest;
        let seq = match out.last() {
            None => delta,
            Some(&p) if delta > 0 => u64::checked_add(p, delta)?,
            Some(_) => return None,
        };
        out.push(seq);
    }
    Some(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One varint and what follows it.
fn take_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        // The tenth byte may hold only the top bit of a u64.
        if i == 9 && part > 1 {
            return None;
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            // Overlong: a zero last byte after the first adds nothing.
            if i > 0 && b == 0 {
                return None;
            }
            return Some((v, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cases: [&[u64]; 5] = [
            &[],
            &[0],
            &[5, 6, 200, 100_000, 100_001],
            &[u64::MAX],
            &[1, u64::MAX],
        ];
        for seqs in cases {
            assert_eq!(decode(&encode(seqs)).as_deref(), Some(seqs));
        }
    }

    #[test]
    fn close_seqs_take_a_byte_each() {
        let seqs: Vec<u64> = (1_000_000..1_000_100).collect();
        assert_eq!(encode(&seqs).len(), 3 + 99);
    }

    #[test]
    fn damage_is_refused() {
        let good = encode(&[3, 300, 70_000]);
        // Cut short inside a varint.
        assert_eq!(decode(&good[..good.len() - 1]), None);
        // A repeated or descending seq (delta 0).
        assert_eq!(decode(&[3, 0]), None);
        // Overlong: a trailing zero continuation byte.
        assert_eq!(decode(&[0x83, 0x00]), None);
        // More than 64 bits.
        assert_eq!(decode(&[0xff; 10]), None);
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            None
        );
        // Overflowing the sum.
        let mut wrap = encode(&[u64::MAX]);
        wrap.push(1);
        assert_eq!(decode(&wrap), None);
    }
}
