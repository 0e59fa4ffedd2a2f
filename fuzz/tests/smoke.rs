//! Every target over pseudo-random inputs and over mutations of its corpus, on stable: a
//! short, deterministic stand-in for a fuzzing run that keeps the invariants honest where
//! libFuzzer cannot run. `HAUL_FUZZ_SMOKE=N` runs N inputs per target (default 200).

use std::path::Path;

use haul_fuzz::TARGETS;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths.iter().map(|p| fs_err::read(p).unwrap()).collect()
}

/// A seed changed the way libFuzzer would: bytes flipped, inserted, removed, cut.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => {
                const INTERESTING: &[u8] = b"<>&/%+ \n\t\x01\xff0";
                out.insert(at, INTERESTING[rng.below(INTERESTING.len())]);
            }
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => out.truncate(at),
            _ => {
                let byte = u8::try_from(rng.below(256)).unwrap_or(0);
                out.insert(at, byte);
            }
        }
    }
    out
}

#[test]
fn targets_hold_on_random_and_mutated_inputs() {
    let n: usize = std::env::var("HAUL_FUZZ_SMOKE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for (name, target) in TARGETS {
        let seeds = corpus(name);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        for i in 0..n {
            let input = match (i % 2, seeds.len()) {
                (0, k) if k > 0 => {
                    let seed = rng.below(k);
                    mutate(&mut rng, &seeds[seed])
                }
                _ => (0..rng.below(600))
                    .map(|_| rng.next().to_le_bytes()[0])
                    .collect(),
            };
            let result = std::panic::catch_unwind(|| target(&input));
            if result.is_err() {
                let file = std::env::temp_dir().join(format!("haul-fuzz-smoke-{name}"));
                fs_err::write(&file, &input).unwrap();
                panic!("{name} failed on input {i}, saved to {}", file.display());
            }
        }
    }
}
