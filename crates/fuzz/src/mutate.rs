//! A small deterministic mutator for the test suite's fuzzing pass: no
//! coverage feedback (that is cargo-fuzz's job), but the same inputs on
//! every run, so a failure in CI reproduces anywhere.

/// Values that tend to sit on parsers' edges.
const INTERESTING: [u64; 10] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    u64::MAX,
];

/// xorshift64* over a seed; never zero.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

impl Mutator {
    /// A mutator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// `input` changed by one to four random edits; `other` (another seed)
    /// is the source for splices.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            self.edit(&mut out, other);
        }
        out
    }

    fn edit(&mut self, out: &mut Vec<u8>, other: &[u8]) {
        let at = self.below(out.len() + 1);
        match self.below(8) {
            0 if !out.is_empty() => {
                let i = self.below(out.len());
                out[i] ^= 1 << self.below(8);
            }
            1 if !out.is_empty() => {
                let i = self.below(out.len());
                out[i] = INTERESTING[self.below(INTERESTING.len())] as u8;
            }
            2 => {
                let n = self.below(16).min(out.len() - at);
                out.drain(at..at + n);
            }
            3 => {
                let bytes: Vec<u8> = (0..=self.below(8)).map(|_| self.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            4 => out.truncate(at),
            5 => {
                let len = self.below(32).min(out.len() - at);
                let copy = out[at..at + len].to_vec();
                let to = self.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            6 if !other.is_empty() => {
                let from = self.below(other.len());
                let len = self.below(64).min(other.len() - from);
                out.splice(at..at, other[from..from + len].iter().copied());
            }
            _ => {
                let width = [1, 2, 4, 8][self.below(4)];
                if at + width <= out.len() {
                    let v = INTERESTING[self.below(INTERESTING.len())].to_le_bytes();
                    out[at..at + width].copy_from_slice(&v[..width]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let run = |seed| {
            let mut m = Mutator::new(seed);
            (0..50)
                .map(|_| m.mutate(b"hello, world", b"other"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn it_changes_most_inputs() {
        let mut m = Mutator::new(9);
        let changed = (0..1000)
            .filter(|_| m.mutate(b"hello, world", b"") != b"hello, world")
            .count();
        assert!(changed > 900, "only {changed} of 1000 changed");
    }
}
