#!/usr/bin/python3
"""Turns bench/run.sh's raw results into docs/bench-results.md, PNG charts and a short summary.

Input (in --work): results.jsonl, one JSON object per measurement:
  {"server": "etcd"|"etcdpp", "transport": "tls"|"plain", "case": ..., "rep": n, "r": {...}}
where r is loadgen's JSON output (or {"rss_kib":..}, {"bytes":..}, {"failed": true}), plus
meta-start.json / meta-end.json describing the machine and the run.

Every figure is the median over repetitions with the min-max range; ratios are etcdpp/etcd of
the medians. The summary goes between the markers
  <!-- bench-summary:begin --> ... <!-- bench-summary:end -->
of --summary (docs/benchmarks.md) and nothing else in that file is touched.
Standard library only; charts need gnuplot (Debian gnuplot-nox) and are skipped without it.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

SERVERS = ("etcd", "etcdpp")
TRANSPORTS = ("tls", "plain")

# Request-shaped cases, in display order: (case, short label for charts, description).
REQUEST_CASES = [
    ("put-1", "put 1c", "put, 1 conn / 1 client, key 8 B, value 256 B"),
    ("range-s-1", "range s 1c", "range 1 key, serializable, 1 conn / 1 client (a round trip "
     "with no disk write: with the disk's fdatasync, the floor of put's latency)"),
    ("put-1000", "put 1000c", "put, 100 conns / 1000 clients"),
    ("range-l-1000", "range l", "range 1 key, linearizable, 100 conns / 1000 clients"),
    ("range-s-1000", "range s", "range 1 key, serializable, 100 conns / 1000 clients"),
    ("txn-put-1000", "txn-put", "txn with 1 put, 100 conns / 1000 clients"),
    ("watch-10k", "watch", "put-to-event latency, 10k watchers (1000 streams x 10, 100 conns)"),
    ("lease-keepalive-1000", "lease ka", "lease keep-alive round trips, 1000 clients"),
    ("put-1000-3m", "put 3 members", "put, 3 members, 100 conns / 1000 clients over all "
     "members' endpoints (CPU summed over members)"),
    ("put-1-3m", "put 1c 3 members", "put, 3 members, 1 conn / 1 client (CPU summed over "
     "members)"),
]

# Targets of issue 8. kind: "ratio_ge"/"ratio_le" compare etcdpp/etcd medians, "abs_le" the
# etcdpp median alone. Keys: (transport, case, metric).
TARGETS = {}
for _c in ("put-1000", "range-l-1000", "range-s-1000"):
    TARGETS[("tls", _c, "qps")] = ("ratio_ge", 10.0, "≥ 10× (or CPU/op ≤ 0.1×)")
    TARGETS[("tls", _c, "cpu")] = ("ratio_le", 0.1, "≤ 0.1× (or QPS ≥ 10×)")
    TARGETS[("tls", _c, "p99")] = ("ratio_le", 0.5, "≤ 0.5×")
# Either of the two suffices for these ("where the client saturates the machine first").
ALTERNATIVES = {}
for _c in ("put-1000", "range-l-1000", "range-s-1000"):
    ALTERNATIVES[("tls", _c, "qps")] = "cpu"
    ALTERNATIVES[("tls", _c, "cpu")] = "qps"
# Paired put runs (run.sh paired_put_session): the median of per-pair ratios, not of medians.
TARGETS[("tls", "put-1000-paired", "cpu")] = ("abs_le", 0.1, "≤ 0.1×")
TARGETS[("plain", "put-1000-paired", "cpu")] = ("abs_le", 1 / 3, "≤ ⅓×")
TARGETS[("tls", "put-1", "qps")] = ("ratio_ge", 3.0, "≥ 3×")
TARGETS[("tls", "put-1", "p50")] = ("abs_le", 0.25, "≤ 0.25 ms")
TARGETS[("tls", "watch-10k", "p99")] = ("ratio_le", 0.5, "≤ 0.5×")
TARGETS[("tls", "put-1000-3m", "qps")] = ("ratio_ge", 5.0, "≥ 5×")
TARGETS[("tls", "put-1000-3m", "p99")] = ("ratio_le", 0.5, "≤ 0.5×")
for _c, _n, _d in REQUEST_CASES:
    if _c == "range-s-1":
        continue  # a reference for put-1's floor, not a target
    if _c != "watch-10k":
        TARGETS[("plain", _c, "qps")] = ("ratio_ge", 3.0, "≥ 3×")
    TARGETS[("plain", _c, "cpu")] = ("ratio_le", 1 / 3, "≤ ⅓×")
TARGETS[("tls", "mem-1m", "anon")] = ("ratio_le", 1 / 3, "≤ ⅓×")
TARGETS[("tls", "fullread-100k", "seconds")] = ("ratio_le", 0.25, "≤ 0.25× (≥ 4× faster)")
TARGETS[("tls", "fullread-100k", "addedx")] = ("abs_le", 1.0, "≤ 1 (one response)")
TARGETS[("tls", "coldstart-1m", "ms")] = ("abs_le", 1000.0, "≤ 1000 ms")

# Cores of the machine the run was on (set from its metadata in main).
CORES = [0]


def client_bound_qps(r):
    """The QPS the load generator alone would fill the machine at: cores ÷ its CPU per op. No
    server, however cheap, can be measured faster on a machine the client shares."""
    us = r["r"]["client_cpu_us_per_op"]
    return CORES[0] * 1e6 / us if CORES[0] and us else None


# Request metrics: (key, column title, extractor, format).
REQUEST_METRICS = [
    ("qps", "QPS", lambda r: r["r"]["qps"], "{:.0f}"),
    ("p50", "p50 ms", lambda r: r["r"]["p50_ms"], "{:.2f}"),
    ("p99", "p99 ms", lambda r: r["r"]["p99_ms"], "{:.1f}"),
    ("p999", "p99.9 ms", lambda r: r["r"]["p999_ms"], "{:.1f}"),
    ("cpu", "server CPU µs/op", lambda r: r["r"]["server_cpu_us_per_op"], "{:.0f}"),
    ("client", "client CPU µs/op", lambda r: r["r"]["client_cpu_us_per_op"], "{:.0f}"),
    ("bound", "client-bound QPS", client_bound_qps, "{:.0f}"),
]


def load(work):
    rows = []
    with open(os.path.join(work, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    meta = {}
    for phase in ("start", "end"):
        p = os.path.join(work, "meta-%s.json" % phase)
        if os.path.exists(p):
            with open(p) as f:
                meta[phase] = json.load(f)
    return rows, meta


class Results:
    """Values per (server, transport, case) over repetitions, failures counted separately."""

    def __init__(self, rows):
        self.by = {}
        self.failed = {}
        for row in rows:
            key = (row["server"], row["transport"], row["case"])
            if row["r"].get("failed"):
                self.failed[key] = self.failed.get(key, 0) + 1
                continue
            self.by.setdefault(key, []).append(row)

    def values(self, server, transport, case, fn):
        out = []
        for row in self.by.get((server, transport, case), []):
            try:
                v = fn(row)
            except (KeyError, TypeError, ZeroDivisionError):
                v = None
            if v is not None:
                out.append(float(v))
        return out

    def row_of(self, server, transport, case, rep):
        for row in self.by.get((server, transport, case), []):
            if row["rep"] == rep:
                return row
        return None

    def has(self, server):
        return any(k[0] == server for k in self.by)


def paired_ratios(res, transport, case, fn):
    """etcdpp/etcd ratios of a paired case (run.sh paired_put_session): the i-th run of each
    server in a repetition form a pair (run.sh alternates them a few seconds apart)."""
    runs = {}
    for server in SERVERS:
        for row in res.by.get((server, transport, case), []):
            runs.setdefault((row["rep"], server), []).append(row)
    ratios = []
    for (rep, server), rows in sorted(runs.items()):
        if server != "etcdpp":
            continue
        for e, p in zip(runs.get((rep, "etcd"), []), rows):
            try:
                ev, pv = fn(e), fn(p)
            except (KeyError, TypeError):
                continue
            if ev:
                ratios.append(pv / ev)
    return ratios


def paired_section(res, out):
    metrics = [("cpu", "server CPU µs/op", lambda r: r["r"]["server_cpu_us_per_op"]),
               ("qps", "QPS", lambda r: r["r"]["qps"])]
    out.append("| transport | metric | etcd | etcdpp | pairs | etcdpp/etcd per pair: median "
               "(min–max) | target | status |")
    out.append("|---|---|---:|---:|---:|---:|---|---|")
    for t in TRANSPORTS:
        for key, title, fn in metrics:
            ratios = paired_ratios(res, t, "put-1000-paired", fn)
            if not ratios:
                continue
            e = stat(res.values("etcd", t, "put-1000-paired", fn))
            p = stat(res.values("etcdpp", t, "put-1000-paired", fn))
            r = stat(ratios)
            ttext, status = verdict(TARGETS.get((t, "put-1000-paired", key)), None, r)
            out.append("| %s | %s | %s | %s | %d | %s | %s | %s |" % (
                t, title, fmt_stat(e, "{:.0f}"), fmt_stat(p, "{:.0f}"), len(ratios),
                fmt_stat(r, "{:.3f}×"), ttext, status))


def stat(vals):
    if not vals:
        return None
    return (statistics.median(vals), min(vals), max(vals), len(vals))


def fmt_stat(s, fmt):
    if s is None:
        return "pending"
    med, lo, hi, n = s
    if n == 1 or lo == hi:
        return fmt.format(med)
    return "%s (%s–%s)" % (fmt.format(med), fmt.format(lo), fmt.format(hi))


def verdict(target, e, p):
    if target is None:
        return "", ""
    kind, val, text = target
    if p is None:
        return text, "pending"
    if kind == "abs_le":
        return text, "met" if p[0] <= val else "missed"
    if e is None or e[0] == 0:
        return text, "n/a"
    ratio = p[0] / e[0]
    ok = ratio >= val if kind == "ratio_ge" else ratio <= val
    return text, "met" if ok else "missed"


ALT_FNS = {"qps": lambda r: r["r"]["qps"], "cpu": lambda r: r["r"]["server_cpu_us_per_op"]}


def with_alternative(res, transport, case, key, status):
    """A missed QPS (or CPU/op) target still counts when its alternative is met."""
    alt = ALTERNATIVES.get((transport, case, key))
    if status != "missed" or not alt:
        return status
    paired = case + "-paired"
    if (transport, paired, alt) in TARGETS:
        # The paired runs' median ratio is the steadier estimate when there are any.
        r = stat(paired_ratios(res, transport, paired, ALT_FNS[alt]))
        if r is not None:
            _, pstatus = verdict(TARGETS[(transport, paired, alt)], None, r)
            return ("met (by paired %s)" % ("CPU/op" if alt == "cpu" else "QPS")
                    if pstatus == "met" else status)
    _, astatus = verdict(TARGETS[(transport, case, alt)],
                         stat(res.values("etcd", transport, case, ALT_FNS[alt])),
                         stat(res.values("etcdpp", transport, case, ALT_FNS[alt])))
    if astatus == "met":
        return "met (by %s)" % ("CPU/op" if alt == "cpu" else "QPS")
    return status


def ratio_text(e, p):
    if e is None or p is None:
        return "pending"
    if e[0] == 0:
        return "n/a"
    return "%.2f×" % (p[0] / e[0])


def table(res, transport, metrics, cases, out):
    """metrics: (key, title, fn(row), fmt); cases: (case, description)."""
    out.append("| case | metric | etcd | etcdpp | etcdpp/etcd | target | status |")
    out.append("|---|---|---:|---:|---:|---|---|")
    for case, desc in cases:
        first = True
        for key, title, fn, fmt in metrics:
            e = stat(res.values("etcd", transport, case, fn))
            p = stat(res.values("etcdpp", transport, case, fn))
            if e is None and p is None:
                continue
            ttext, status = verdict(TARGETS.get((transport, case, key)), e, p)
            status = with_alternative(res, transport, case, key, status)
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                desc if first else "", title, fmt_stat(e, fmt), fmt_stat(p, fmt),
                ratio_text(e, p), ttext, status))
            first = False


def memory_section(res, out):
    mib = lambda k: (lambda r: r["r"][k] / 1024.0)
    t = "tls"
    cases = []
    for case, desc in [("mem-empty", "empty, after start"),
                       ("mem-100k", "after loading 100k × 1 KiB"),
                       ("mem-100k-restart", "restarted with 100k × 1 KiB"),
                       ("mem-1m", "after loading 1M × 128 B"),
                       ("mem-1m-restart", "restarted with 1M × 128 B")]:
        cases.append((case, desc))
    metrics = [("rss", "RSS MiB", mib("rss_kib"), "{:.0f}"),
               ("anon", "anonymous MiB", mib("anon_kib"), "{:.0f}")]
    out.append("### Memory (RSS and RssAnon from /proc/<pid>/status)")
    out.append("")
    table_cases(res, t, metrics, cases, out)

    out.append("")
    out.append("### Full-range read of 100k × 1 KiB (one Range over the whole prefix, 1 client; "
               "TLS, then plain HTTP)")
    out.append("")

    def added(row, peak="peak_rss_kib", base="rss_kib"):
        before = res.row_of(row["server"], row["transport"], "mem-100k", row["rep"])
        return (row["r"][peak] - before["r"][base]) / 1024.0

    def response_mib(row):
        return row["r"]["extra"]["kv_bytes"] / 1048576.0

    metrics = [("seconds", "time s", lambda r: r["r"]["seconds"], "{:.2f}"),
               ("peak", "peak RSS MiB", lambda r: r["r"]["peak_rss_kib"] / 1024.0, "{:.0f}"),
               ("peakanon", "peak anonymous MiB", lambda r: r["r"]["peak_anon_kib"] / 1024.0,
                "{:.0f}"),
               ("added", "RSS added by the read MiB", added, "{:.0f}"),
               ("anonadded", "anonymous memory added by the read MiB",
                lambda r: added(r, "peak_anon_kib", "anon_kib"), "{:.0f}"),
               ("resp", "keys + values in the response MiB", response_mib, "{:.0f}"),
               ("addedx", "RSS added ÷ keys + values in the response",
                lambda r: added(r) / response_mib(r), "{:.2f}"),
               ("cpu", "server CPU s", lambda r: r["r"]["server_cpu_s"], "{:.2f}"),
               ("client", "client CPU s", lambda r: r["r"]["client_cpu_s"], "{:.2f}"),
               ("clientsys", "… of it in the kernel s", lambda r: r["r"]["client_sys_s"],
                "{:.2f}"),
               ("clientpf", "client page faults (thousands)",
                lambda r: r["r"]["client_page_faults"] / 1000.0, "{:.0f}")]
    table_cases(res, t, metrics, [("fullread-100k", "full read, TLS")], out)
    out.append("")
    table_cases(res, "plain", metrics, [("fullread-100k", "full read, plain HTTP")], out)

    out.append("")
    out.append("### Start-up, disk, defragmentation")
    out.append("")
    metrics = [("ms", "to healthy ms", lambda r: r["r"]["seconds"] * 1000.0, "{:.0f}")]
    table_cases(res, t, metrics, [
        ("coldstart-empty", "cold start, fresh data dir"),
        ("coldstart-100k", "cold start with 100k × 1 KiB"),
        ("coldstart-1m", "cold start with 1M × 128 B"),
        ("coldstart-3m", "3-member cluster, fresh, until all agree on a leader")], out)
    out.append("")
    metrics = [("mib", "data dir MiB", lambda r: r["r"]["bytes"] / 1048576.0, "{:.0f}")]
    table_cases(res, t, metrics, [
        ("disk-100k", "after 100k × 1 KiB"),
        ("disk-100k-defrag", "… after defragment"),
        ("disk-1m", "after 1M × 128 B")], out)
    out.append("")
    metrics = [("defrag", "Defragment ms", lambda r: r["r"]["extra"]["defrag_ms"], "{:.0f}"),
               ("pause", "longest put during it ms", lambda r: r["r"]["max_ms"], "{:.0f}")]
    table_cases(res, t, metrics, [
        ("defrag-100k", "defragment with 100k × 1 KiB (1 client putting meanwhile)")], out)
    out.append("")
    metrics = [("keys", "keys/s", lambda r: r["r"]["extra"]["keys_per_s"], "{:.0f}"),
               ("cpu", "server CPU s", lambda r: r["r"]["server_cpu_s"], "{:.1f}")]
    table_cases(res, t, metrics, [
        ("load-100k", "loading 100k × 1 KiB (txns of 128 puts, 16 clients)"),
        ("load-1m", "loading 1M × 128 B (same)")], out)


def table_cases(res, transport, metrics, cases, out):
    table(res, transport, metrics, cases, out)


# ---- charts -------------------------------------------------------------------------------------

def chart_data(res, work, name, fn, cases):
    """Writes a gnuplot data file: label, then median/min/max per server (NaN when missing)."""
    path = os.path.join(work, "plot-%s.dat" % name)
    any_pp = False
    with open(path, "w") as f:
        for case, label in cases:
            cols = ['"%s"' % label]
            for s in SERVERS:
                st = stat(res.values(s, case[0], case[1], fn))
                if st is None:
                    cols += ["NaN"] * 3
                else:
                    cols += ["%g" % st[0], "%g" % st[1], "%g" % st[2]]
                    any_pp = any_pp or s == "etcdpp"
            f.write(" ".join(cols) + "\n")
    return path, any_pp


def charts(res, work, img):
    if shutil.which("gnuplot") is None:
        print("report.py: gnuplot not found; charts skipped", file=sys.stderr)
        return []
    os.makedirs(img, exist_ok=True)
    made = []
    req = [c for c in REQUEST_CASES if c[0] != "watch-10k"]

    def panel(name, fn, cases, transport, title, ylabel, logy):
        data, any_pp = chart_data(res, work, name, fn,
                                  [((transport, c[0]), c[1]) for c in cases])
        plots = ["'%s' using 2:3:4:xtic(1) title 'etcd 3.4' lc rgb '#4477aa'" % data]
        if any_pp:
            plots.append("'' using 5:6:7 title 'etcdpp' lc rgb '#ee6677'")
        return "\n".join([
            "set title '%s'" % title,
            "set ylabel '%s'" % ylabel,
            "set logscale y" if logy else "unset logscale y",
            "plot " + ", ".join(plots),
        ])

    def figure(fname, panels, rows, cols, height):
        path = os.path.join(img, fname)
        script = "\n".join([
            "set terminal pngcairo size 1400,%d font 'sans,10'" % height,
            "set output '%s'" % path,
            "set style data histogram",
            "set style histogram errorbars gap 1 lw 1",
            "set style fill solid 0.8 border -1",
            "set grid ytics",
            "set key top left",
            "set xtics rotate by -20",
            "set yrange [*:*]",
            "set multiplot layout %d,%d" % (rows, cols),
        ] + panels + ["unset multiplot"])
        p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if p.returncode != 0:
            print("report.py: gnuplot failed for %s:\n%s" % (fname, p.stderr), file=sys.stderr)
            return
        made.append(fname)

    qps = lambda r: r["r"]["qps"]
    figure("bench-throughput.png", [
        panel("qps-tls", qps, req, "tls", "Throughput, TLS + client certs", "requests/s", True),
        panel("qps-plain", qps, req, "plain", "Throughput, plain HTTP", "requests/s", True),
    ], 1, 2, 500)
    p50 = lambda r: r["r"]["p50_ms"]
    p99 = lambda r: r["r"]["p99_ms"]
    figure("bench-latency.png", [
        panel("p50-tls", p50, REQUEST_CASES, "tls", "p50 latency, TLS", "ms (log)", True),
        panel("p50-plain", p50, REQUEST_CASES, "plain", "p50 latency, plain", "ms (log)", True),
        panel("p99-tls", p99, REQUEST_CASES, "tls", "p99 latency, TLS", "ms (log)", True),
        panel("p99-plain", p99, REQUEST_CASES, "plain", "p99 latency, plain", "ms (log)", True),
    ], 2, 2, 900)
    cpu = lambda r: r["r"]["server_cpu_us_per_op"]
    figure("bench-cpu.png", [
        panel("cpu-tls", cpu, REQUEST_CASES, "tls", "Server CPU per op, TLS", "µs/op", True),
        panel("cpu-plain", cpu, REQUEST_CASES, "plain", "Server CPU per op, plain", "µs/op",
              True),
    ], 1, 2, 500)
    mem = [("mem-empty", "empty"), ("mem-100k", "100k x 1 KiB"), ("mem-1m", "1M x 128 B")]
    anon = lambda r: r["r"]["anon_kib"] / 1024.0
    rss = lambda r: r["r"]["rss_kib"] / 1024.0
    figure("bench-memory.png", [
        panel("anon", anon, mem, "tls", "Anonymous memory", "MiB", False),
        panel("rss", rss, mem, "tls", "RSS", "MiB", False),
    ], 1, 2, 450)
    return made


# ---- document -----------------------------------------------------------------------------------

def build(res, meta, made, img_rel):
    start = meta.get("start", {})
    end = meta.get("end", {})
    out = []
    out.append("# Benchmark results: etcdpp vs etcd 3.4")
    out.append("")
    out.append("Generated by `bench/run.sh` (`make bench`); do not edit by hand — rerun it. "
               "How to read these figures and what the targets mean: "
               "[benchmarks.md](benchmarks.md).")
    out.append("")
    if not res.has("etcdpp"):
        note = start.get("skipped") or ("etcdpp was not part of this run (its binary "
                                         "build/release/src/cmd/etcdpp did not exist yet)")
        out.append("> **etcdpp columns are pending:** %s. Only etcd 3.4's figures below are "
                   "real; they are the baseline etcdpp's ratios will be computed against." % note)
        out.append("")
    out.append("## Run")
    out.append("")
    try:
        busy = max(float(m.get("loadavg", "0").split()[0]) for m in (start, end) if m)
        if busy > float(start.get("nproc", 0) or 0):
            out.append("> **Noisy machine:** the load average (%.1f) exceeded the core count "
                       "(%s) during this run (other work was running), so absolute figures and "
                       "min–max ranges are wider than on an idle machine; server CPU per "
                       "operation is the least affected figure." % (busy, start.get("nproc")))
            out.append("")
    except ValueError:
        pass
    out.append("- Command: `%s`%s, %s repetition(s) per case, interleaved between servers" % (
        start.get("cmd", "?"), " (QUICK)" if start.get("quick") else "", start.get("reps", "?")))
    out.append("- Date: %s → %s (UTC); load average at start %s, at end %s" % (
        start.get("date", "?"), end.get("date", "?"), start.get("loadavg", "?"),
        end.get("loadavg", "?")))
    out.append("- Machine: %s, %s cores, %s RAM, Linux %s" % (
        start.get("cpu", "?"), start.get("nproc", "?"), start.get("mem", "?"),
        start.get("kernel", "?")))
    out.append("- CPU idle: %s; free page reporting to the host: %s (see benchmarks.md, "
               "\"How to read the figures\": how the VM idles moves every single-client "
               "latency)" % (start.get("cpuidle", "?"), start.get("free_page_reporting", "?")))
    out.append("- Disk for data dirs: %s; a 4 KiB write + fdatasync over blocks written before "
               "(dd oflag=dsync conv=notrunc, as the WAL writes) takes %s ms"
               % (start.get("disk", "?"), start.get("fsync_4k_ms", "?")))
    out.append("- etcd: %s; etcdpp: %s" % (start.get("etcd", "?"),
                                          start.get("etcdpp", "not run")))
    out.append("- Client: bench/loadgen (Go clientv3 3.4 from Debian golang-etcd-server-dev, "
               "%s), git %s" % (start.get("go", "?"), start.get("git", "?")))
    out.append("- Both servers get identical flags: single member (plus two 3-member cases), "
               "fresh data dirs, `--client-cert-auth` and `--peer-client-cert-auth` with "
               "kubeadm-layout certificates (EC P-256) for the TLS runs, `http://` URLs for the "
               "plain ones.")
    out.append("- Each cell: median over repetitions (min–max). Ratio: etcdpp median / etcd "
               "median. Server CPU per op: utime+stime of the server process over the measured "
               "phase (from /proc/<pid>/stat) divided by successful operations; on 2 cores the "
               "client competes with the server, so this is the fairer engine comparison when "
               "QPS is client-bound. Client CPU per op: the load generator's own utime+stime "
               "(getrusage) over the same phase; client-bound QPS = cores ÷ client CPU per op, "
               "the throughput at which the client alone would fill the machine, so no server "
               "can be measured above it here.")
    out.append("")
    for t, title in (("tls", "TLS with client certificates (the Kubernetes set-up; the targets)"),
                     ("plain", "Plain HTTP (the engine without TLS costs)")):
        out.append("## Requests: %s" % title)
        out.append("")
        table(res, t, REQUEST_METRICS, [(c, d) for c, _, d in REQUEST_CASES], out)
        out.append("")
    out.append("For watch-latency, QPS is events delivered per second (each put fans out to all "
               "10k watchers) and latency is from just before the put is sent until a watcher "
               "receives the event; CPU/op is per delivered event.")
    out.append("")
    out.append("## Paired put runs, 100 conns / 1000 clients (key 8 B, value 256 B)")
    out.append("")
    out.append("Both servers run at once, fresh; their put runs alternate a few seconds apart, "
               "each ratio is one etcdpp run over the etcd run next to it. A run's server CPU per "
               "op drifts by about ±15% between sessions minutes apart on this VM, for either "
               "server; a pair's ratio does not see that drift, so this median is the steadier "
               "estimate of the CPU-per-put ratio. The target column judges that median.")
    out.append("")
    paired_section(res, out)
    out.append("")
    out.append("## Memory, full read, start-up, disk (TLS; the full read also over plain HTTP)")
    out.append("")
    memory_section(res, out)
    out.append("")
    if res.failed:
        out.append("## Failed runs")
        out.append("")
        out.append("Cases that failed (server did not start, died, or more than 1% of requests "
                   "failed); they are left out of the medians above. Server logs: "
                   "`build/bench/run/<server>.server.log`, client log: `build/bench/run/log.txt`.")
        out.append("")
        for (srv, t, case), n in sorted(res.failed.items()):
            out.append("- %s, %s, %s: %d run(s)" % (srv, t, case, n))
        out.append("")
    if made:
        out.append("## Charts")
        out.append("")
        out.append("Bars: median; whiskers: min–max over repetitions.")
        out.append("")
        for m in made:
            out.append("![%s](%s/%s)" % (m[:-4], img_rel, m))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


SUMMARY_BEGIN = "<!-- bench-summary:begin -->"
SUMMARY_END = "<!-- bench-summary:end -->"


def summary(res, meta):
    """A few headline rows for docs/benchmarks.md."""
    start = meta.get("start", {})
    out = [SUMMARY_BEGIN, ""]
    out.append("Latest run: %s, `%s`%s. Full tables: [bench-results.md](bench-results.md)." % (
        start.get("date", "?"), start.get("cmd", "?"), " (QUICK)" if start.get("quick") else ""))
    if not res.has("etcdpp"):
        out.append("")
        out.append("etcdpp columns are pending (%s)." % (
            start.get("skipped") or "etcdpp not run: its binary did not exist yet"))
    out.append("")
    out.append("| headline (TLS unless noted) | etcd 3.4 | etcdpp | ratio | target |")
    out.append("|---|---:|---:|---:|---|")
    qps = lambda r: r["r"]["qps"]
    p50 = lambda r: r["r"]["p50_ms"]
    p99 = lambda r: r["r"]["p99_ms"]
    cpu = lambda r: r["r"]["server_cpu_us_per_op"]
    try:
        fsync_ms = float(start.get("fsync_4k_ms"))
    except (TypeError, ValueError):
        fsync_ms = None
    floor = lambda r: None if fsync_ms is None else fsync_ms + r["r"]["p50_ms"]
    # (transport, case, title, metric key of TARGETS, extractor, format)
    rows = [
        ("tls", "put-1", "put 1 client QPS", "qps", qps, "{:.0f}"),
        ("tls", "put-1", "put 1 client p50 ms", "p50", p50, "{:.2f}"),
        ("tls", "range-s-1", "put 1 client p50 floor here: 4 KiB write + fdatasync, plus one "
         "client's read round trip (range (s) p50) ms", "floor", floor, "{:.2f}"),
        ("tls", "put-1000", "put 1000 clients QPS", "qps", qps, "{:.0f}"),
        ("tls", "put-1000", "put 1000 clients server CPU µs/op (ratio of session medians)", "cpu",
         cpu, "{:.0f}"),
        ("tls", "put-1000-paired", "put 1000 clients server CPU/op, paired runs (median of "
         "per-pair ratios)", "cpu", cpu, "{:.3f}×"),
        ("tls", "put-1000", "put 1000 clients: client-bound QPS (cores ÷ client CPU/op)", "bound",
         client_bound_qps, "{:.0f}"),
        ("tls", "put-1000", "put 1000 clients p99 ms", "p99", p99, "{:.0f}"),
        ("tls", "range-l-1000", "range (l) 1000 clients QPS", "qps", qps, "{:.0f}"),
        ("tls", "range-s-1000", "range (s) 1000 clients QPS", "qps", qps, "{:.0f}"),
        ("plain", "put-1000", "put 1000 clients QPS, plain HTTP", "qps", qps, "{:.0f}"),
        ("plain", "put-1000", "put 1000 clients server CPU µs/op, plain HTTP (ratio of session "
         "medians)", "cpu", cpu, "{:.0f}"),
        ("plain", "put-1000-paired", "put 1000 clients server CPU/op, plain HTTP, paired runs "
         "(median of per-pair ratios)", "cpu", cpu, "{:.3f}×"),
        ("tls", "put-1000-3m", "3-member put 1000 clients QPS", "qps", qps, "{:.0f}"),
        ("tls", "put-1000-3m", "3-member put 1000 clients server CPU µs/op (summed)", "cpu", cpu,
         "{:.0f}"),
        ("tls", "put-1000-3m", "3-member put 1000 clients: client-bound QPS", "bound",
         client_bound_qps, "{:.0f}"),
        ("tls", "put-1-3m", "3-member put 1 client p50 ms", "p50", p50, "{:.2f}"),
        ("tls", "watch-10k", "watch 10k watchers p99 ms", "p99", p99, "{:.0f}"),
        ("tls", "mem-1m", "anonymous MiB after 1M × 128 B", "anon",
         lambda r: r["r"]["anon_kib"] / 1024, "{:.0f}"),
        ("tls", "fullread-100k", "full read 100k × 1 KiB s", "seconds",
         lambda r: r["r"]["seconds"], "{:.2f}"),
        ("tls", "coldstart-1m", "cold start with 1M keys ms", "ms",
         lambda r: r["r"]["seconds"] * 1000, "{:.0f}"),
    ]
    for t, case, title, metric, fn, fmt in rows:
        if case.endswith("-paired"):
            r = stat(paired_ratios(res, t, case, fn))
            if r is not None:
                ttext, status = verdict(TARGETS.get((t, case, metric)), None, r)
                out.append("| %s | | | %s | %s — %s |" % (title, fmt_stat(r, fmt), ttext, status))
            continue
        e = stat(res.values("etcd", t, case, fn))
        p = stat(res.values("etcdpp", t, case, fn))
        if e is None and p is None:
            continue
        ttext, status = verdict(TARGETS.get((t, case, metric)), e, p)
        status = with_alternative(res, t, case, metric, status)
        out.append("| %s | %s | %s | %s | %s |" % (
            title, fmt_stat(e, fmt), fmt_stat(p, fmt), ratio_text(e, p),
            (ttext + (" — " + status if status else "")) if ttext else ""))
    out += ["", SUMMARY_END]
    return "\n".join(out)


def update_summary(path, text):
    """Replaces the marked block in path, leaving every other line (colleagues' sections) alone."""
    if not os.path.exists(path):
        return False
    with open(path) as f:
        doc = f.read()
    b = doc.find(SUMMARY_BEGIN)
    e = doc.find(SUMMARY_END)
    if b < 0 or e < b:
        print("report.py: no summary markers in %s; left unchanged" % path, file=sys.stderr)
        return False
    doc = doc[:b] + text + doc[e + len(SUMMARY_END):]
    with open(path, "w") as f:
        f.write(doc)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--img", required=True)
    ap.add_argument("--summary")
    a = ap.parse_args()
    rows, meta = load(a.work)
    try:
        CORES[0] = int(meta.get("start", {}).get("nproc", 0))
    except ValueError:
        pass
    res = Results(rows)
    with tempfile.TemporaryDirectory(prefix="bench-plot-") as tmp:
        made = charts(res, tmp, a.img)
    img_rel = os.path.relpath(a.img, os.path.dirname(os.path.abspath(a.out)))
    doc = build(res, meta, made, img_rel)
    with open(a.out, "w") as f:
        f.write(doc)
    print("report.py: wrote %s and %d chart(s) in %s" % (a.out, len(made), a.img),
          file=sys.stderr)
    if a.summary and update_summary(a.summary, summary(res, meta)):
        print("report.py: updated the summary in %s" % a.summary, file=sys.stderr)


if __name__ == "__main__":
    main()
