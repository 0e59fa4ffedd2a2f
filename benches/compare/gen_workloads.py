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
  logs      a log volume like the runbook's /var/lib/deis/store: 8 components, each with
            its current log and 4 rotated ones of ~51 MiB (~2 GiB of timestamped text
            lines with ids and numbers; gzip -6 makes it about 3.3x smaller), plus small
            state files (the tar benchmark's data)

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


LOG_WORDS = (
    "GET POST PUT DELETE HEAD /v2/apps /v2/keys /healthz /v2/builds /v2/config /objects "
    "200 201 204 301 304 400 401 403 404 409 500 502 503 app release build deploy scale "
    "container started stopped healthy unhealthy timeout retry connection reset upstream "
    "checkpoint complete wal segment archived vacuum analyze autovacuum tuples pages "
    "session opened closed user git push receive slug compiled layer pushed manifest"
).split()


def log_pool(rng: random.Random, n: int):
    """Distinct log message bodies: fixed vocabulary, varying numbers and ids."""
    levels = ["INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR"]
    pool = []
    for _ in range(n):
        words = " ".join(rng.choices(LOG_WORDS, k=rng.randint(4, 12)))
        pool.append(
            f" {rng.choice(levels)} [{rng.choice(('router', 'controller', 'registry', 'builder', 'database'))}]"
            f" 10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            f" {words} {rng.randint(0, 99999)}ms req_id={rng.getrandbits(64):016x}\n"
        )
    return pool


def gen_logs(tree: str, scale: float, src: Source):
    rng = src.rng
    pool = log_pool(rng, 50_000)
    files = total = 0
    seconds = 0
    for comp in ("router", "controller", "registry", "builder", "database", "logger",
                 "store-gateway", "store-monitor"):
        for gen in ("", ".4", ".3", ".2", ".1"):
            size = scaled(51 * MIB, scale) if scale < 1 else int(51 * MIB * scale)
            chunks = []
            written = 0
            while written < size:
                lines = rng.choices(pool, k=4096)
                block = "".join(
                    f"2026-11-{24 + (seconds + i) // 86400 % 5:02d}T"
                    f"{(seconds + i) // 3600 % 24:02d}:{(seconds + i) // 60 % 60:02d}:"
                    f"{(seconds + i) % 60:02d}.{(i * 7919) % 1000000:06d}Z{line}"
                    for i, line in enumerate(lines)
                ).encode()
                seconds += len(lines)
                block = block[: size - written]
                chunks.append(block)
                written += len(block)
            total += write_file(os.path.join(tree, comp, f"{comp}.log{gen}"), chunks)
            files += 1
        state = f'{{"component": "{comp}", "pid": {rng.randint(100, 99999)}}}\n'.encode()
        total += write_file(os.path.join(tree, comp, "state.json"), [state])
        files += 1
    return files, total


GENERATORS = {
    "registry": gen_registry,
    "wal": gen_wal,
    "small": gen_small,
    "big": gen_big,
    "logs": gen_logs,
}


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
