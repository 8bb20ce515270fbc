#!/usr/bin/env python3
"""The anchor's cost and ours, per stage, from one run (issue 15).

    python3 bench/rate/stages.py [--seconds 10] [--fam v4|v6] [--stage-build DIR]

In one invocation, on the rate benchmark's set-up (bench/rate/run.py: net_pcap
in, net_null out, one worker on lcore 1):

1. l3fwd (LPM mode), with `perf record -C 1` on its worker core;
2. ecmp-router (the 8-way weighted route), with `perf record -C 1`;
3. ecmp-router built with `--features stage-cycles` (DIR/release/ecmp-router,
   built if missing), whose counters give our cycles per stage per packet.

Each perf profile is split by where the samples fall: the PMDs' rx (net_pcap)
and tx (net_null), the forwarder's own code, the mempool and the rest. With
the rate, a share becomes nanoseconds per packet, so the PMDs, whose work per
packet is the same for both, show how far apart the two forwarders' own work
is. perf here samples cpu-clock (this VM has no hardware counters).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

ROOT = run.ROOT


def perf_during(seconds, out, delay):
    """perf record on CPU 1 for `seconds`, starting after `delay`."""
    return subprocess.Popen(["bash", "-c", f"sleep {delay}; exec perf record -q -C 1 -o {out} -- sleep {seconds}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shares(data, own):
    """Percent of the samples by part: rx PMD, tx PMD, own code, mempool, other."""
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--sort", "dso"],
                         capture_output=True, text=True).stdout
    parts = {"rx (net_pcap)": 0.0, "tx (net_null)": 0.0, "forwarder": 0.0, "mempool/ring": 0.0, "kernel": 0.0, "other": 0.0}
    for line in rep.splitlines():
        f = line.split()
        if len(f) < 2 or not f[0].endswith("%"):
            continue
        pct, dso = float(f[0][:-1]), f[1]
        if "net_pcap" in dso:
            parts["rx (net_pcap)"] += pct
        elif "net_null" in dso:
            parts["tx (net_null)"] += pct
        elif own in dso:
            parts["forwarder"] += pct
        elif "mempool" in dso or "ring" in dso:
            parts["mempool/ring"] += pct
        elif "kernel" in dso:
            parts["kernel"] += pct
        else:
            parts["other"] += pct
    return parts


def ecmp_stages(binary, pcap, mem, seconds, tmp, v6):
    """Mpps and cycles per packet per stage of a stage-cycles build."""
    nhs, neigh = [], []
    for port in (1, 2):
        for h in range(2, 6):
            via = f"fd0{port}::{h}" if v6 else f"10.{port}.0.{h}"
            nhs.append(f"      - {{ via: \"{via}\", port: out{port}, weight: {h - 1} }}")
            neigh.append(f"  - {{ address: \"{via}\", port: out{port}, mac: \"02:00:00:00:0{port}:0{h}\" }}")
    api = 31000 + os.getpid() % 700
    cfg = run.ECMP_CFG.format(eal=", ".join(json.dumps(m) for m in mem), pid=os.getpid(), pcap=pcap,
                              prefix='"2001:200:0:1::/64"' if v6 else "198.18.1.0/24",
                              nexthops="\n".join(nhs), neighbors="\n".join(neigh), port=api, sticky="false", extra="",
                              rx_pcaps=f"rx_pcap={pcap},", tx_pcaps="tx_pcap=/dev/null", lcores="", workers="")
    path = os.path.join(tmp, "stages.yaml")
    open(path, "w").write(cfg)
    p = subprocess.Popen([binary, "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)

    def scrape():
        body = urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=2).read().decode()
        st, rx = {}, 0.0
        for l in body.splitlines():
            if l.startswith("ecmp_router_lcore_stage_cycles_total"):
                k = l.split('stage="')[1].split('"')[0]
                st[k] = st.get(k, 0.0) + float(l.split()[-1])
            elif l.startswith("ecmp_router_lcore_rx_packets_total"):
                rx += float(l.split()[-1])
        return st, rx
    try:
        for _ in range(50):
            time.sleep(0.2)
            try:
                scrape()
                break
            except OSError:
                pass
        time.sleep(3)
        (a, ra), t0 = scrape(), time.monotonic()
        time.sleep(seconds - 4)
        (b, rb), t1 = scrape(), time.monotonic()
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait()
    n = rb - ra
    return n / (t1 - t0) / 1e6, {k: (b[k] - a.get(k, 0.0)) / n for k in b}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--fam", default="v4", choices=["v4", "v6"])
    ap.add_argument("--stage-build", default=os.path.join(ROOT, "target", "stage-cycles"))
    a = ap.parse_args()
    v6 = a.fam == "v6"
    mem, memdesc = run.eal_mem()
    l3fwd = os.path.join(ROOT, "target", "bench", "l3fwd", "l3fwd", "build", "l3fwd-shared")
    if not os.path.exists(l3fwd):
        subprocess.run(["bash", os.path.join(ROOT, "bench", "rate", "build_l3fwd.sh"),
                        os.path.dirname(os.path.dirname(os.path.dirname(l3fwd)))], check=True, stdout=subprocess.DEVNULL)
    staged = os.path.join(a.stage_build, "release", "ecmp-router")
    if not os.path.exists(staged):
        subprocess.run(["cargo", "build", "--release", "-p", "router", "--features", "stage-cycles"], cwd=ROOT,
                       env={**os.environ, "CARGO_TARGET_DIR": a.stage_build}, check=True)
    tmp = tempfile.mkdtemp(prefix="ecmp-stages-")
    pcap = os.path.join(tmp, "p.pcap")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "rate", "gen_pcap.py"), pcap, run.PCAP_MAC, "1024"]
                   + (["v6"] if v6 else []), check=True)
    window = max(a.seconds - 5, 2)
    rows = {}
    perf = perf_during(window, os.path.join(tmp, "l3fwd.data"), 3)
    mpps = run.bench_l3fwd(l3fwd, pcap, mem, a.seconds)
    perf.wait()
    rows["l3fwd"] = (mpps, shares(os.path.join(tmp, "l3fwd.data"), "l3fwd"))
    perf = perf_during(window, os.path.join(tmp, "ecmp.data"), 3)
    mpps = run.bench_ecmp(pcap, mem, a.seconds, tmp, v6=v6)
    perf.wait()
    rows["ecmp"] = (mpps, shares(os.path.join(tmp, "ecmp.data"), os.path.basename(run.ROUTER)))
    smpps, stages = ecmp_stages(staged, pcap, mem, a.seconds, tmp, v6)

    print(f"One run, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {memdesc}; 64-byte {'IPv6' if v6 else 'IPv4'} UDP, 1024 flows")
    print("ns per packet by part (perf -C 1 share x 1000/Mpps):")
    names = list(next(iter(rows.values()))[1].keys())
    print(f"{'':14s} {'Mpps':>6s} {'ns/pkt':>7s} " + " ".join(f"{n:>14s}" for n in names))
    for k, (m, s) in rows.items():
        ns = 1000 / m
        print(f"{k:14s} {m:6.2f} {ns:7.1f} " + " ".join(f"{ns * s[n] / 100:14.1f}" for n in names))
    l, e = rows["l3fwd"], rows["ecmp"]
    pmd = lambda r: (r[1]["rx (net_pcap)"] + r[1]["tx (net_null)"]) / 100 * 1000 / r[0]
    own = lambda r: r[1]["forwarder"] / 100 * 1000 / r[0]
    print(f"own work per packet: l3fwd {own(l):.1f} ns, ecmp {own(e):.1f} ns ({own(e) / own(l):.1f}x); "
          f"PMDs: l3fwd {pmd(l):.1f} ns, ecmp {pmd(e):.1f} ns")
    print(f"stage-cycles build: {smpps:.2f} Mpps; cycles per packet by stage "
          f"(each boundary includes a TSC read): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(stages.items()))
          + f"; sum {sum(stages.values()):.0f}")


if __name__ == "__main__":
    main()
