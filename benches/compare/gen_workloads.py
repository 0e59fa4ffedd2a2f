#!/usr/bin/env python3
"""Generate the comparison workloads of benches/compare/run.sh, deterministically.

usage: gen_workloads.py OUT_DIR WORKLOAD SCALE

Writes the tree into OUT_DIR/tree and, last, OUT_DIR/manifest.json (file count, total
bytes, generator version, parameters). The same WORKLOAD, SCALE and GENERATOR_VERSION give
byte-identical trees (contents and names; mtimes are the time of generation). run.sh treats
a directory whose manifest matches as ready and regenerates anything else.

Workloads (counts at SCALE=1; every count is multiplied by SCALE and kept >= 1 of each kind):
  registry  a docker registry v2 blob store: docker/registry/v2/blobs/sha256/XX/<hex>/data,
            <hex> the SHA-256 of the blob: 1,400 blobs of 1-64 KiB, 90 of 1-8 MiB and
            10 of 32 MiB (~770 MiB)
  wal       64 PostgreSQL-like WAL segments of exactly 16 MiB (1 GiB) under
            wal_005/0000000100000000000000XX
  small     20,000 files of 1-16 KiB (~160 MiB) in 100 directories
  big       two files of 1 GiB (the size, not the count, is scaled: 1 GiB x SCALE, at
            least 64 MiB so they stay multipart for every tool)

Contents are pseudo-random (incompressible): 1 MiB blocks cut from a seeded 32 MiB random
pool at seeded offsets, each block stamped with its file and block number so that no two
blocks are equal. Nothing on the path compresses or deduplicates; the pool only makes
generation disk-bound instead of PRNG-bound.
"""

import hashlib
import json
import os
import random
import sys

GENERATOR_VERSION = 1
SEED = 20240503
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
POOL_BYTES = 32 * MIB


class Source:
    """Deterministic incompressible bytes for one workload."""

    def __init__(self, name: str):
        self.rng = random.Random(f"{SEED}:{name}")
        self.pool = self.rng.randbytes(POOL_BYTES)
        self.file_no = 0

    def blocks(self, size: int):
        """Yield the contents of the next file, in blocks of at most 1 MiB."""
        self.file_no += 1
        block_no = 0
        left = size
        while left > 0:
            n = min(MIB, left)
            off = self.rng.randrange(0, POOL_BYTES - n + 1)
            block = bytearray(self.pool[off : off + n])
            stamp = f"{self.file_no}:{block_no}:".encode()
            block[: min(len(stamp), n)] = stamp[: min(len(stamp), n)]
            yield bytes(block)
            left -= n
            block_no += 1


def write_file(path: str, chunks) -> int:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    total = 0
    with open(path, "wb") as f:
        for c in chunks:
            f.write(c)
            total += len(c)
    return total


def scaled(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def gen_registry(tree: str, scale: float, src: Source):
    rng = src.rng
    sizes = (
        [rng.randint(1 * KIB, 64 * KIB) for _ in range(scaled(1400, scale))]
        + [rng.randint(1 * MIB, 8 * MIB) for _ in range(scaled(90, scale))]
        + [32 * MIB for _ in range(scaled(10, scale))]
    )
    rng.shuffle(sizes)
    files = total = 0
    for size in sizes:
        data = b"".join(src.blocks(size))
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(tree, "docker/registry/v2/blobs/sha256", digest[:2], digest, "data")
        total += write_file(path, [data])
        files += 1
    return files, total


def gen_wal(tree: str, scale: float, src: Source):
    files = total = 0
    for i in range(scaled(64, scale)):
        name = f"wal_005/{1:08X}{0:08X}{i + 1:08X}"
        total += write_file(os.path.join(tree, name), src.blocks(16 * MIB))
        files += 1
    return files, total


def gen_small(tree: str, scale: float, src: Source):
    rng = src.rng
    files = total = 0
    for i in range(scaled(20000, scale)):
        size = rng.randint(1 * KIB, 16 * KIB)
        path = os.path.join(tree, f"d{i % 100:03d}", f"f{i:06d}.bin")
        total += write_file(path, src.blocks(size))
        files += 1
    return files, total


def gen_big(tree: str, scale: float, src: Source):
    size = max(64 * MIB, (int(GIB * scale) // MIB) * MIB)
    files = total = 0
    for name in ("base/base.tar.1", "base/base.tar.2"):
        total += write_file(os.path.join(tree, name), src.blocks(size))
        files += 1
    return files, total


GENERATORS = {"registry": gen_registry, "wal": gen_wal, "small": gen_small, "big": gen_big}


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[2] not in GENERATORS:
        print(__doc__, file=sys.stderr)
        return 2
    out, name, scale_s = sys.argv[1], sys.argv[2], sys.argv[3]
    scale = float(scale_s)
    if not 0 < scale <= 100:
        print("SCALE must be in (0, 100]", file=sys.stderr)
        return 2
    tree = os.path.join(out, "tree")
    os.makedirs(tree)
    files, total = GENERATORS[name](tree, scale, Source(name))
    manifest = {
        "workload": name,
        "scale": scale_s,
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "files": files,
        "bytes": total,
    }
    tmp = os.path.join(out, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "manifest.json"))
    print(f"{name}: {files} files, {total} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
