#!/usr/bin/env python3
"""End-to-end packet-rate benchmark: forwarding cost on one core, side by side.

    python3 bench/rate/run.py [--rounds 3] [--seconds 8] [--out target/bench/rate]

Primary method (issue 5): DPDK's net_pcap PMD replays a pcap of 64-byte UDP
frames (1024 flows) with infinite_rx=1, an in-process source with no cross-core
hand-off; the forwarder sends to net_null (no-rx=1), which frees the packets.
Forwarding runs on one lcore (lcore 1); lcore 0 only reads counters.

Forwarders, run in turn within each round (the order rotates between rounds,
so a noisy neighbour on this shared VM hits all of them alike):
  testpmd   dpdk-testpmd in io mode: the I/O ceiling
  l3fwd     DPDK's l3fwd example (LPM mode), built from the dpdk-doc sources
            by build_l3fwd.sh (rx offloads masked for net_pcap; a stats print)
  ecmp      ecmp-router: an 8-way weighted ECMP route (weights 1..4 over two
            ports), l4 hash, static neighbours
  sticky    the same route with sticky: true (every packet looks up its flow
            in the worker's flow table)
  snat      the same route with both out ports SNAT uplinks (masquerade):
            every packet looks up its binding and is rewritten, with its
            checksums (the uplinks' probes are slowed so they never go down)
  l3fwd6    l3fwd again, on IPv6 frames to its built-in IPv6 routes (LPM mode
            does both families; 2001:200:0:1::/64 goes to port 1)
  ecmp6     ecmp-router: the same 8-way weighted route for IPv6
            (2001:200:0:1::/64), l4 hash, static neighbours, on those frames
  ecmp2     ecmp with --workers workers (2 by default; on this 2-vCPU
            machine EAL lcores 1 and 2 on CPUs 0 and 1, the control thread
            sharing CPU 0 and sleeping): net_pcap has one rx pcap per queue,
            so each worker has its own source and nothing crosses cores but
            what workers share (the FIB, the neighbour slots). Compare with
            ecmp. On a 16-core host: --workers 15 --only ecmp,ecmp2.
  ecmpk     ecmp with kernel-interfaces: true (a TAP per port, the punt
            policer on; the forwarded packets never reach them)
  ecmpvlan  ecmp with 802.1Q on both sides (issue 28): the frames come in
            tagged VID 100 on a sub-interface of the in port, and the
            nexthops are on VLANs 201 and 202 of the out ports
  frag      ecmp fragmenting: 1,500-byte IPv4 packets without DF into out
            ports of MTU 1,280 (two fragments each); its rate is
            fragments sent per second
  ecmpload  ecmp while a full table arrives over FPM (not in the default
            list; issue 29): the router also listens for FPM, and after a
            warm-up and an idle window, control/examples/table_scale --send
            (pinned to CPU 0, with the router's control thread) writes
            --table-v4 + --table-v6 routes, shaped as zebra sends them, as
            fast as the router reads. Its rate is the one from the first
            message to a full FIB; printed with it: the idle rate over a
            window before (an empty table), their ratio, and the rate after
            (the full table in place)
  kernel    Linux forwarding between namespaces over an 8-way ECMP route
            (fib_multipath_hash_policy=1), fed by testpmd txonly on
            net_af_packet; its rate is divided by the cores the kernel kept
            busy in softirq (from /proc/stat)

The figures: per forwarder, the median and range of its per-round rates
(each round's rate is the median of its one-second samples after a 2-second
warm-up), and each median's ratio to testpmd and to l3fwd. A JSON file and an
SVG plot are written to --out.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# ECMP_ROUTER=PATH: another build (A/B runs of two binaries).
ROUTER = os.environ.get("ECMP_ROUTER") or os.path.join(ROOT, "target", "release", "ecmp-router")
PCAP_MAC = "02:70:63:61:70:00"  # net_pcap's MAC for the first pcap vdev


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, text=True, capture_output=True, **kw).stdout


def eal_mem():
    """Hugepages when they can be had (as DPDK is run in production), else --no-huge."""
    try:
        os.makedirs("/dev/hugepages", exist_ok=True)
        if subprocess.run("mountpoint -q /dev/hugepages", shell=True).returncode != 0:
            sh("mount -t hugetlbfs nodev /dev/hugepages")
        with open("/proc/sys/vm/nr_hugepages") as f:
            if int(f.read()) < 512:
                with open("/proc/sys/vm/nr_hugepages", "w") as w:
                    w.write("512")
        free = int(re.search(r"HugePages_Free:\s+(\d+)", open("/proc/meminfo").read()).group(1))
        if free >= 256:
            return ["--in-memory", "--iova-mode=va", "-m", "256"], "2 MiB hugepages"
    except (OSError, subprocess.CalledProcessError):
        pass
    return ["--no-huge", "--no-shconf", "-m", "512"], "no hugepages (--no-huge)"


def samples_after_warmup(rates, warm=2):
    rates = rates[warm:] or rates
    return statistics.median(rates) if rates else 0.0


def run_proc(cmd, seconds, env=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env, start_new_session=True)
    return p


def stop(p, sig=signal.SIGINT, wait=10):
    if p.poll() is None:
        os.killpg(p.pid, sig)
        try:
            return p.communicate(timeout=wait)[0]
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            return p.communicate()[0]
    return p.communicate()[0]


def bench_testpmd(pcap, mem, seconds):
    cmd = ["dpdk-testpmd", "-l", "0,1", "-n", "1", "--no-pci", *mem, "--file-prefix", f"bt{os.getpid()}",
           "--vdev", f"net_pcap0,rx_pcap={pcap},infinite_rx=1,tx_pcap=/dev/null",
           "--vdev", "net_null0,no-rx=1", "--", "--forward-mode=io", "--nb-cores=1",
           "--stats-period", "1", "--auto-start"]
    p = run_proc(cmd, seconds)
    time.sleep(seconds)
    out = stop(p)
    # Port 0's Rx-pps line comes first in each stats block.
    rates = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", out)]
    rates = [r for r in rates if r > 0]
    return samples_after_warmup(rates) / 1e6


def bench_l3fwd(l3fwd, pcap, mem, seconds):
    cmd = [l3fwd, "-l", "0,1", "-n", "1", "--no-pci", *mem, "--file-prefix", f"bl{os.getpid()}",
           "--vdev", f"net_pcap0,rx_pcap={pcap},infinite_rx=1,tx_pcap=/dev/null,tx_pcap=/dev/null",
           "--vdev", "net_null0,no-rx=1", "--", "-p", "0x3", "-P",
           "--config", "(0,0,1),(1,0,1)", "--parse-ptype"]
    p = run_proc(cmd, seconds)
    time.sleep(seconds)
    out = stop(p)
    pts = [(float(t), int(o)) for t, o in re.findall(r"L3FWD-STATS (\S+) port 1 ipackets \d+ opackets (\d+)", out)]
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(pts, pts[1:])]
    if not rates:
        raise SystemExit("l3fwd printed no counters:\n" + out[-2000:])
    return samples_after_warmup(rates) / 1e6


ECMP_CFG = """eal: [{eal}, --no-pci, --file-prefix, be{pid}{lcores}]
{workers}ports:
  - {{ name: in, device: "net_pcap0,{rx_pcaps}infinite_rx=1,{tx_pcaps}", addresses: [10.0.0.1/16, fd00::1/64]{in_extra} }}
  - {{ name: out1, device: "net_null0,no-rx=1", {out1} }}
  - {{ name: out2, device: "net_null1,no-rx=1", {out2} }}
hash: {{ policy: l4 }}
routes:
  - prefix: {prefix}
    sticky: {sticky}
    nexthops:
{nexthops}
neighbors:
{neighbors}
api: {{ listen: 127.0.0.1:{port} }}
{extra}"""

SNAT_UPLINKS = """uplinks:
  - { name: a, port: out1, gateway: 10.1.0.2, snat: masquerade, probe: { targets: [192.0.2.1], interval-ms: 60000, down-after: 100 } }
  - { name: b, port: out2, gateway: 10.2.0.2, snat: masquerade, probe: { targets: [192.0.2.1], interval-ms: 60000, down-after: 100 } }
"""


def bench_ecmpload(pcap, mem, seconds, tmp, v4, v6):
    """ecmp's forwarding rate while a full table is pushed over FPM: (the rate
    during the load, the idle rate before it, the rate after it, the load's
    seconds), in Mpps and seconds."""
    scale = os.path.join(ROOT, "target", "release", "examples", "table_scale")
    if not os.path.exists(scale):
        subprocess.run(["cargo", "build", "--release", "-p", "control", "--example", "table_scale"],
                       cwd=ROOT, check=True)
    fpm = 33000 - os.getpid() % 1000
    p, api = start_ecmp(pcap, mem, seconds, tmp, extra=f"fpm: {{ listen: 127.0.0.1:{fpm} }}\n")

    def metrics():
        body = urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=2).read().decode()
        tx = port_tx(body)
        fib = {f: float(l.split()[-1]) for f in ("ipv4", "ipv6") for l in body.splitlines()
               if l.startswith(f'ecmp_router_fib_routes{{family="{f}"}}')}
        return time.monotonic(), tx, fib
    deadline = time.monotonic() + 30
    while True:
        try:
            base = metrics()
            break
        except OSError:
            if p.poll() is not None or time.monotonic() > deadline:
                stop(p, signal.SIGTERM)
                raise SystemExit("ecmp-router did not start:\n" + p.communicate()[0][-2000:])
            time.sleep(0.2)
    go = os.path.join(tmp, "go-load")
    for f in (go, go + ".ready"):
        if os.path.exists(f):
            os.remove(f)
    sender = subprocess.Popen(["taskset", "-c", "0", scale, "--v4", str(v4), "--v6", str(v6),
                               "--send", f"127.0.0.1:{fpm}", "--wait", go],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    first = sender.stdout.readline()  # "table: N IPv4 + M IPv6 distinct prefixes"
    n4, n6 = (int(x) for x in re.findall(r"(\d+) IPv", first))
    while not os.path.exists(go + ".ready"):
        time.sleep(0.05)
    time.sleep(2)  # warm-up, with the sender's frames built
    try:
        idle0 = metrics()
        time.sleep(max(seconds - 2, 2))
        idle1 = metrics()
        open(go, "w").close()
        load0 = metrics()
        while True:
            cur = metrics()
            if (cur[2]["ipv4"] >= base[2]["ipv4"] + n4 - 1 and cur[2]["ipv6"] >= base[2]["ipv6"] + n6):
                break
            if p.poll() is not None or cur[0] - load0[0] > 600:
                raise SystemExit("ecmp-router exited or the table never arrived:\n" + stop(p, signal.SIGTERM)[-3000:])
            time.sleep(0.05)
        # The same length again with the full table in place, loading over.
        time.sleep(max(seconds - 2, 2))
        full = metrics()
    finally:
        stop(sender, signal.SIGTERM)
        stop(p, signal.SIGTERM)
    load = (cur[1] - load0[1]) / (cur[0] - load0[0]) / 1e6
    idle = (idle1[1] - idle0[1]) / (idle1[0] - idle0[0]) / 1e6
    after = (full[1] - cur[1]) / (full[0] - cur[0]) / 1e6
    return load, idle, after, cur[0] - load0[0]


def worker_lcores(workers):
    """EAL lcores for `workers` workers: with a CPU for each and one for the
    control thread, lcore i on CPU i (-l 0-N); with fewer (this 2-vCPU
    machine), workers on CPUs 0..N-1 in turn and the control thread, which
    mostly sleeps, on CPU 0 with the first."""
    if workers == 1:
        return ""
    if (os.cpu_count() or 1) > workers:
        return f", -l, 0-{workers}"
    cpus = os.cpu_count() or 1
    m = ",".join(["0@0"] + [f"{w + 1}@{w % cpus}" for w in range(workers)])
    return f", --lcores, '{m}'"


def start_ecmp(pcap, mem, seconds, tmp, sticky=False, snat=False, v6=False, workers=1, kernel=False,
               vlan=False, frag=False, extra=""):
    """Starts ecmp-router on the rate benchmark's config (with `extra` YAML
    appended); returns the process and its API port."""
    nhs, neigh = [], []
    for port in (1, 2):
        for h in range(2, 6):
            via = f"fd0{port}::{h}" if v6 else f"10.{port}.0.{h}"
            dev = f"out{port}.20{port}" if vlan else f"out{port}"
            nhs.append(f"      - {{ via: \"{via}\", port: {dev}, weight: {h - 1} }}")
            neigh.append(f"  - {{ address: \"{via}\", port: {dev}, mac: \"02:00:00:00:0{port}:0{h}\" }}")

    def out(port):
        addrs = f"addresses: [10.{port}.0.1/24, fd0{port}::1/64]"
        if vlan:
            return f"vlans: [{{ id: 20{port}, {addrs} }}]"
        return addrs + (", mtu: 1280" if frag else "")
    api = 32000 - os.getpid() % 1000  # below the ephemeral range (32768-60999)
    cfg = ECMP_CFG.format(eal=", ".join(json.dumps(m) for m in mem), pid=os.getpid(), pcap=pcap,
                          prefix='"2001:200:0:1::/64"' if v6 else "198.18.1.0/24",
                          in_extra=", vlans: [{ id: 100, addresses: [10.100.0.1/16] }]" if vlan else "",
                          out1=out(1), out2=out(2),
                          nexthops="\n".join(nhs), neighbors="\n".join(neigh), port=api,
                          sticky="true" if sticky else "false",
                          extra=(SNAT_UPLINKS if snat else "") + ("kernel-interfaces: true\n" if kernel else "") + extra,
                          rx_pcaps=f"rx_pcap={pcap}," * workers, tx_pcaps=",".join(["tx_pcap=/dev/null"] * workers),
                          lcores=worker_lcores(workers),
                          workers="" if workers == 1 else f"workers: {workers}\n")
    path = os.path.join(tmp, "ecmp.yaml")
    with open(path, "w") as f:
        f.write(cfg)
    return run_proc([ROUTER, "--config", path], seconds, env={**os.environ, "RUST_LOG": "warn"}), api


def port_tx(body):
    """Packets sent on every port, from a /metrics body."""
    return sum(float(l.split()[-1]) for l in body.splitlines()
               if l.startswith("ecmp_router_port_tx_packets_total"))


def bench_ecmp(pcap, mem, seconds, tmp, **kw):
    p, api = start_ecmp(pcap, mem, seconds, tmp, **kw)

    def tx():
        return port_tx(urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=2).read().decode())
    pts = []
    deadline = time.monotonic() + seconds + 10
    while len(pts) < seconds and time.monotonic() < deadline:
        time.sleep(1)
        try:
            pts.append((time.monotonic(), tx()))
        except OSError:
            if p.poll() is not None:
                raise SystemExit("ecmp-router exited:\n" + p.communicate()[0][-2000:])
    stop(p, signal.SIGTERM)
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(pts, pts[1:])]
    return samples_after_warmup(rates) / 1e6


def softirq_jiffies():
    tot = 0
    for line in open("/proc/stat"):
        if line.startswith("cpu "):
            tot = int(line.split()[7])
    return tot


def bench_kernel(mem, seconds):
    """gen ns --veth--> rtr ns (8-way ECMP, 2 veths) --veth--> sink ns. The sink's
    veths have no addresses and the neighbours' MACs are not theirs, so the sink
    drops each frame as soon as it arrives (PACKET_OTHERHOST)."""
    tag = f"k{os.getpid() % 10000}"
    ns = [f"{tag}-gen", f"{tag}-rtr", f"{tag}-sink"]
    try:
        for n in ns:
            sh(f"ip netns add {n}")
            sh(f"ip -n {n} link set lo up")
        sh(f"ip link add {tag}g type veth peer name {tag}r0")
        sh(f"ip link set {tag}g netns {ns[0]}; ip link set {tag}r0 netns {ns[1]}")
        for i in (1, 2):
            sh(f"ip link add {tag}r{i} type veth peer name {tag}s{i}")
            sh(f"ip link set {tag}r{i} netns {ns[1]}; ip link set {tag}s{i} netns {ns[2]}")
            sh(f"ip -n {ns[1]} addr add 10.{i}.0.1/24 dev {tag}r{i}; ip -n {ns[1]} link set {tag}r{i} up")
            sh(f"ip -n {ns[2]} link set {tag}s{i} up")
        sh(f"ip -n {ns[1]} addr add 10.0.0.1/16 dev {tag}r0; ip -n {ns[1]} link set {tag}r0 up")
        sh(f"ip -n {ns[0]} link set {tag}g up")
        sh(f"ip netns exec {ns[1]} sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1")
        hops = []
        for i in (1, 2):
            for h in range(2, 6):
                sh(f"ip -n {ns[1]} neigh add 10.{i}.0.{h} lladdr 02:00:00:00:0{i}:0{h} dev {tag}r{i} nud permanent")
                hops.append(f"nexthop via 10.{i}.0.{h} dev {tag}r{i} weight {h - 1}")
        sh(f"ip -n {ns[1]} route add 198.18.1.0/24 " + " ".join(hops))
        rmac = sh(f"ip -n {ns[1]} -j link show {tag}r0")
        rmac = json.loads(rmac)[0]["address"]

        def fwd():
            out = json.loads(sh(f"ip -n {ns[1]} -j -s link show"))
            return sum(i["stats64"]["tx"]["packets"] for i in out if i["ifname"] in (f"{tag}r1", f"{tag}r2"))
        cmd = ["ip", "netns", "exec", ns[0], "dpdk-testpmd", "-l", "0,1", "-n", "1", "--no-pci", *mem,
               "--file-prefix", f"bk{os.getpid()}", "--vdev", f"net_af_packet0,iface={tag}g",
               "--", "--forward-mode=txonly", "--txonly-multi-flow", "--tx-ip=10.0.0.2,198.18.1.1",
               f"--eth-peer=0,{rmac}", "--auto-start", "--stats-period", "1", "--txpkts=60"]
        p = run_proc(cmd, seconds)
        time.sleep(2)
        a, sa, ta = fwd(), softirq_jiffies(), time.monotonic()
        time.sleep(max(seconds - 3, 2))
        b, sb, tb = fwd(), softirq_jiffies(), time.monotonic()
        stop(p)
        hz = os.sysconf("SC_CLK_TCK")
        pps = (b - a) / (tb - ta)
        busy = (sb - sa) / hz / (tb - ta)
        return pps / max(busy, 1e-3) / 1e6, pps / 1e6, busy
    finally:
        for n in ns:
            subprocess.run(f"ip netns del {n}", shell=True, capture_output=True)


def svg(results, path):
    names = list(results)
    vals = [results[n]["median"] for n in names]
    top = max(vals + [1e-9])
    w, h, bw = 640, 300, 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 60}" font-family="sans-serif" font-size="12">',
             f'<text x="10" y="18" font-size="14">Mpps on one core (median of rounds; bars: range)</text>']
    for i, n in enumerate(names):
        r = results[n]
        x = 40 + i * (bw + 40)
        bh = (r["median"] / top) * (h - 60)
        y = h - bh
        parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bw}" height="{bh:.1f}" fill="#4a7ab5"/>')
        lo, hi = (r["min"] / top) * (h - 60), (r["max"] / top) * (h - 60)
        parts.append(f'<line x1="{x + bw / 2}" x2="{x + bw / 2}" y1="{h - lo:.1f}" y2="{h - hi:.1f}" stroke="black"/>')
        parts.append(f'<text x="{x}" y="{y - 6:.1f}">{r["median"]:.2f}</text>')
        parts.append(f'<text x="{x}" y="{h + 18}">{n}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench", "rate"))
    ap.add_argument("--workers", type=int, default=2, help="workers of the ecmp2 forwarder")
    ap.add_argument("--table-v4", type=int, default=1_000_000, help="ecmpload: IPv4 routes pushed")
    ap.add_argument("--table-v6", type=int, default=250_000, help="ecmpload: IPv6 routes pushed")
    ap.add_argument("--only", default="testpmd,l3fwd,ecmp,sticky,snat,l3fwd6,ecmp6,ecmp2,ecmpk,ecmpvlan,frag,kernel")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    mem, memdesc = eal_mem()
    l3fwd_dir = os.path.join(ROOT, "target", "bench", "l3fwd")
    l3fwd = os.path.join(l3fwd_dir, "l3fwd", "build", "l3fwd-shared")
    if not os.path.exists(l3fwd):
        subprocess.run(["bash", os.path.join(ROOT, "bench", "rate", "build_l3fwd.sh"), l3fwd_dir],
                       check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(ROUTER):
        subprocess.run(["cargo", "build", "--release", "-p", "router"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="ecmp-rate-")
    pcap = os.path.join(tmp, "udp64.pcap")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "rate", "gen_pcap.py"), pcap, PCAP_MAC, "1024"], check=True)
    pcap6 = os.path.join(tmp, "udp6.pcap")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "rate", "gen_pcap.py"), pcap6, PCAP_MAC, "1024", "v6"], check=True)
    pcapv = os.path.join(tmp, "udpvlan.pcap")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "rate", "gen_pcap.py"), pcapv, PCAP_MAC, "1024", "vlan"], check=True)
    pcapf = os.path.join(tmp, "udp1500.pcap")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "rate", "gen_pcap.py"), pcapf, PCAP_MAC, "1024", "frag"], check=True)
    order = [x for x in ["testpmd", "l3fwd", "ecmp", "ecmpload", "sticky", "snat", "l3fwd6", "ecmp6", "ecmp2", "ecmpk", "ecmpvlan", "frag", "kernel"]
             if x in a.only.split(",")]
    per = {k: [] for k in order}
    kernel_detail = []
    load_detail = []
    for r in range(a.rounds):
        rot = order[r % len(order):] + order[:r % len(order)]
        for k in rot:
            if k == "testpmd":
                v = bench_testpmd(pcap, mem, a.seconds)
            elif k == "l3fwd":
                v = bench_l3fwd(l3fwd, pcap, mem, a.seconds)
            elif k == "ecmp":
                v = bench_ecmp(pcap, mem, a.seconds, tmp)
            elif k == "ecmpload":
                v, idle, after, secs = bench_ecmpload(pcap, mem, a.seconds, tmp, a.table_v4, a.table_v6)
                load_detail.append({"load_mpps": v, "idle_mpps": idle, "after_mpps": after,
                                    "ratio": v / idle if idle else 0.0, "load_seconds": secs})
                print(f"round {r + 1}: ecmpload idle {idle:.2f} Mpps; during the load ({secs:.2f} s): "
                      f"{v:.2f} Mpps, {v / idle if idle else 0:.3f} of idle; full table loaded: {after:.2f} Mpps",
                      flush=True)
            elif k == "sticky":
                v = bench_ecmp(pcap, mem, a.seconds, tmp, sticky=True)
            elif k == "snat":
                v = bench_ecmp(pcap, mem, a.seconds, tmp, snat=True)
            elif k == "l3fwd6":
                v = bench_l3fwd(l3fwd, pcap6, mem, a.seconds)
            elif k == "ecmp6":
                v = bench_ecmp(pcap6, mem, a.seconds, tmp, v6=True)
            elif k == "ecmp2":
                v = bench_ecmp(pcap, mem, a.seconds, tmp, workers=a.workers)
            elif k == "ecmpk":
                v = bench_ecmp(pcap, mem, a.seconds, tmp, kernel=True)
            elif k == "ecmpvlan":
                v = bench_ecmp(pcapv, mem, a.seconds, tmp, vlan=True)
            elif k == "frag":
                v = bench_ecmp(pcapf, mem, a.seconds, tmp, frag=True)
            else:
                v, pps, busy = bench_kernel(mem, a.seconds)
                kernel_detail.append({"forwarded_mpps": pps, "softirq_cores": busy})
            per[k].append(v)
            print(f"round {r + 1}: {k:8s} {v:7.2f} Mpps", flush=True)
    res = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "rounds": v} for k, v in per.items()}
    print()
    print(f"Machine: {os.cpu_count()} vCPU, {memdesc}; {a.rounds} rounds of {a.seconds} s; 64-byte UDP, 1024 flows")
    print(f"{'forwarder':10s} {'Mpps median':>12s} {'range':>15s} {'/ testpmd':>10s} {'/ l3fwd':>8s}  (IPv6 rows: / l3fwd6)")
    for k, r in res.items():
        t = r["median"] / res["testpmd"]["median"] if "testpmd" in res else float("nan")
        # IPv6 forwarders against l3fwd's own IPv6 run.
        ref = "l3fwd6" if k.endswith("6") else "l3fwd"
        l = r["median"] / res[ref]["median"] if ref in res else float("nan")
        print(f"{k:10s} {r['median']:12.2f} {r['min']:7.2f}-{r['max']:<7.2f} {t:10.2f} {l:8.2f}")
    if kernel_detail:
        print("kernel: Mpps per softirq-busy core; detail per round:", json.dumps(kernel_detail))
        if "ecmp" in res:
            print(f"ecmp-router / kernel per core: {res['ecmp']['median'] / res['kernel']['median']:.1f}x")
    if load_detail:
        print("ecmpload: detail per round:", json.dumps(load_detail))
    with open(os.path.join(a.out, "rate.json"), "w") as f:
        json.dump({"results": res, "kernel": kernel_detail, "load": load_detail, "memory": memdesc}, f, indent=2)
    svg(res, os.path.join(a.out, "rate.svg"))
    print(f"wrote {a.out}/rate.json and rate.svg")


if __name__ == "__main__":
    main()
