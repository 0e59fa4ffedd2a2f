#!/usr/bin/env python3
"""Turn run.sh's raw rows (TSV) into markdown tables: one per workload and step.

usage: summarize.py RAW.tsv RUNS WORKLOAD...

Each cell is the median over the successful runs of that tool (statistics.median: the mean of
the two middle values for an even count), taken per column, so the CPU and RSS medians need
not come from the same run as the wall-time median. The pages reclaimed directly (the
machine's `pgscan_direct` during the step) show the median and the largest. A tool with any
failed or unverified run says so in its row.
"""

import csv
import statistics
import sys

OPS = [("upload", "upload (local → empty bucket)"),
       ("no-change", "no-change re-run of the upload"),
       ("download", "download (bucket → empty directory)")]
MIB = 1024 * 1024
GIB = 1024 * MIB


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def med(rows, key):
    vals = [v for v in (key(r) for r in rows) if v is not None]
    return statistics.median(vals) if vals else None


def cpu(r):
    u, s = num(r["user_s"]), num(r["sys_s"])
    return None if u is None or s is None else u + s


def ok(r):
    return r["rc"] == "0" and r["verified"] in ("ok", "-")


def table(rows, op, nbytes):
    by_tool = {}
    for r in rows:
        by_tool.setdefault(r["tool"], []).append(r)
    lines = []
    data = []
    for tool, rs in by_tool.items():
        good = [r for r in rs if ok(r)]
        bad = [r for r in rs if not ok(r)]
        wall = med(good, lambda r: num(r["wall_s"]))
        walls = [num(r["wall_s"]) for r in good if num(r["wall_s"]) is not None]
        c = med(good, cpu)
        rss = med(good, lambda r: num(r["maxrss_kib"]))
        gw = med(good, lambda r: num(r["gateway_cpu_s"]))
        # System-wide, so it says which steps ran while memory was being reclaimed, not who
        # caused it; absent from raw rows written before the column existed.
        scans = [x for x in (num(r.get("direct_reclaim_pages")) for r in good) if x is not None]
        reclaim = f"{statistics.median(scans):.0f} ({max(scans):.0f})" if scans else "–"
        note = ""
        if bad:
            reasons = sorted({f"exit {r['rc']}" if r["rc"] != "0" else r["verified"] for r in bad})
            note = f" **{len(bad)} failed** ({', '.join(reasons)})"
        data.append((wall if wall is not None else float("inf"), tool, rs[0]["settings"],
                     len(good), len(rs), wall, walls, c, rss, gw, reclaim, note))
    data.sort()
    peers = [(d[5], d[1]) for d in data if d[1] != "haul" and d[5] is not None]
    best_peer, best_name = min(peers) if peers else (None, None)
    haul_wall = next((d[5] for d in data if d[1] == "haul"), None)
    if op == "no-change":
        lines.append("| tool | settings | runs ok | wall s median (min–max) | CPU s user+sys "
                     "| peak RSS MiB | gateway CPU s |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    else:
        lines.append("| tool | settings | runs ok | wall s median (min–max) | MiB/s | CPU s user+sys "
                     "| CPU s per GiB | peak RSS MiB | gateway CPU s "
                     "| pages reclaimed directly, median (max) |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, tool, settings, ngood, nall, wall, walls, c, rss, gw, reclaim, note in data:
        spread = f"{fmt(wall)} ({fmt(min(walls))}–{fmt(max(walls))})" if walls else "–"
        name = f"**{tool}**" if tool == "haul" else tool
        rss_mib = None if rss is None else rss / 1024
        if op == "no-change":
            lines.append(f"| {name} | `{settings}` | {ngood}/{nall}{note} | {spread} | {fmt(c)} "
                         f"| {fmt(rss_mib, 0)} | {fmt(gw)} |")
        else:
            rate = None if not wall else nbytes / MIB / wall
            per_gib = None if c is None or not nbytes else c / (nbytes / GIB)
            lines.append(f"| {name} | `{settings}` | {ngood}/{nall}{note} | {spread} | {fmt(rate, 1)} "
                         f"| {fmt(c)} | {fmt(per_gib)} | {fmt(rss_mib, 0)} | {fmt(gw)} | {reclaim} |")
    if haul_wall and best_peer:
        lines.append("")
        if haul_wall <= best_peer:
            verdict = f"haul {best_peer / haul_wall:.2f}× as fast as the best peer ({best_name})"
        else:
            verdict = f"the best peer ({best_name}) {haul_wall / best_peer:.2f}× as fast as haul"
        lines.append(f"Median wall time: {verdict}.")
    return lines


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    raw, runs, workloads = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(raw, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    sweep = [r for r in rows if r["phase"] == "sweep"]
    if sweep:
        out += ["### Concurrency sweep (one run per level, upload + download)", ""]
        out += ["| workload | tool | concurrency | upload wall s | download wall s | ok |",
                "| --- | --- | --- | --- | --- | --- |"]
        cells = {}
        for r in sweep:
            k = (r["workload"], r["tool"], int(r["concurrency"]))
            cells.setdefault(k, {})[r["op"]] = r
        for (wl, tool, n), ops in sorted(cells.items()):
            up, down = ops.get("upload"), ops.get("download")
            good = all(x is not None and ok(x) for x in (up, down))
            out.append(f"| {wl} | {tool} | {n} | {up['wall_s'] if up else '–'} "
                       f"| {down['wall_s'] if down else '–'} | {'yes' if good else 'no'} |")
        out.append("")
    main_rows = [r for r in rows if r["phase"] == "main"]
    for wl in workloads:
        wrows = [r for r in main_rows if r["workload"] == wl]
        if not wrows:
            continue
        up = [r for r in wrows if r["op"] == "upload"]
        files, nbytes = int(up[0]["files"]), int(up[0]["bytes"])
        out.append(f"### Workload `{wl}`: {files} files, {nbytes / MIB:.1f} MiB "
                   f"(median of {runs} run{'s' if runs != '1' else ''})")
        out.append("")
        for op, title in OPS:
            orows = [r for r in wrows if r["op"] == op]
            if not orows:
                continue
            out.append(f"#### {wl}: {title}")
            out.append("")
            out += table(orows, op, nbytes)
            out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
