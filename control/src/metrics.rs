//! Prometheus exposition, built with the `prometheus` crate.
//!
//! Counters live in the workers (per-lcore, single writer) and in the PMDs;
//! at scrape time the control thread sums them into a fresh registry and
//! encodes it. Names follow `ecmp_router_<subsystem>_<what>[_total|_bytes]`
//! and pass `promtool check metrics`. See `docs/metrics.md`.

use crate::state::{ControlPlane, NexthopKind};
use dataplane::drop::DropReason;
use dataplane::stats::LcoreStats;
use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A port's state for the metrics: the PMD's counters, its link, and its
/// kernel interface's counters. One per config port, VLAN sub-interfaces
/// included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// The PMD's counters (`rte_eth_stats`); `None` for a VLAN
    /// sub-interface (the PMD counts per device: its trunk's are these).
    pub pmd: Option<dataplane::stats::PortStats>,
    /// Link state as the PMD reports it.
    pub link_up: bool,
    /// The port's kernel interface, if it has one.
    pub kernel: Option<crate::punt::KernelStats>,
    /// A bond's members and their LACP state.
    pub bond: Option<dataplane::stats::BondState>,
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric names are valid");
    reg.register(Box::new(c.clone()))
        .expect("metric names are unique");
    c
}

fn gauge(reg: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("metric names are valid");
    reg.register(Box::new(g.clone()))
        .expect("metric names are unique");
    g
}

/// What `/metrics` needs of the control plane, copied under its lock so
/// that the rendering (the costly part) runs without it: a scrape never
/// holds up ARP/NDP, probes or FPM. The copy costs the nexthops and groups,
/// never the routes (their counts are kept as the RIB changes).
pub struct Snapshot {
    port_names: Vec<String>,
    counters: crate::state::ControlCounters,
    nexthops: Vec<crate::state::NexthopView>,
    groups: Vec<crate::state::GroupView>,
    rib_counts: Vec<((u32, crate::state::Origin), usize)>,
    uplinks: Vec<crate::state::UplinkView>,
    snat: Arc<dataplane::nat::Snat>,
    fib: Arc<dataplane::fib::Fib>,
}

impl Snapshot {
    /// Copies what the metrics show (call with the control plane locked).
    pub fn of(cp: &ControlPlane) -> Snapshot {
        Snapshot {
            port_names: cp.config().ports.iter().map(|p| p.name.clone()).collect(),
            counters: cp.counters,
            nexthops: cp.nexthops(),
            groups: cp.groups(),
            rib_counts: cp.rib_counts().iter().map(|(k, v)| (*k, *v)).collect(),
            uplinks: cp.uplinks(),
            snat: cp.snat(),
            fib: cp.fib(),
        }
    }
}

/// Renders every metric in Prometheus text format.
pub fn render(
    cp: &Snapshot,
    ports: &[PortCounters],
    lcores: &[Arc<LcoreStats>],
    flows: &[Arc<dataplane::flowtable::FlowTable>],
    nat: &[Arc<dataplane::nat::NatCounters>],
    now_ms: u32,
) -> String {
    let reg = &Registry::new();
    let kernel_full = port_metrics(reg, cp, ports);
    bond_metrics(reg, cp, ports);
    punt_metrics(reg, lcores);
    drop_metrics(reg, cp, lcores, kernel_full);
    nexthop_metrics(reg, cp, lcores);
    lcore_metrics(reg, lcores);
    group_metrics(reg, cp);
    control_metrics(reg, cp);
    flow_metrics(reg, flows, now_ms);
    snat_metrics(reg, cp, nat);
    uplink_metrics(reg, cp);
    fib_metrics(reg, cp);
    log_metrics(reg, &crate::loglimit::LIMITER);

    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&reg.gather(), &mut out)
        .expect("text encoding cannot fail");
    String::from_utf8(out).expect("text format is UTF-8")
}

fn gauge_vec(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid");
    reg.register(Box::new(g.clone())).expect("unique");
    g
}

/// The ports' PMD counters, link state and kernel interfaces; returns the
/// packets the kernel interfaces' full queues dropped (a drop reason).
fn port_metrics(reg: &Registry, cp: &Snapshot, ports: &[PortCounters]) -> u64 {
    let pc = |n: &str, h: &str| counter(reg, n, h, &["port"]);
    let rx_p = pc(
        "ecmp_router_port_rx_packets_total",
        "Packets received by the port (PMD counter).",
    );
    let rx_b = pc(
        "ecmp_router_port_rx_bytes_total",
        "Bytes received by the port (PMD counter).",
    );
    let tx_p = pc(
        "ecmp_router_port_tx_packets_total",
        "Packets sent by the port (PMD counter).",
    );
    let tx_b = pc(
        "ecmp_router_port_tx_bytes_total",
        "Bytes sent by the port (PMD counter).",
    );
    let rx_d = pc(
        "ecmp_router_port_rx_dropped_total",
        "Packets the port dropped on receive: no descriptor (imissed) or no mbuf (rx_nombuf).",
    );
    let rx_e = pc(
        "ecmp_router_port_rx_errors_total",
        "Receive errors reported by the PMD.",
    );
    let tx_e = pc(
        "ecmp_router_port_tx_errors_total",
        "Transmit errors reported by the PMD.",
    );
    for (p, c) in cp.port_names.iter().zip(ports) {
        let Some(pmd) = c.pmd else { continue };
        let l = [p.as_str()];
        rx_p.with_label_values(&l).inc_by(pmd.rx_packets);
        rx_b.with_label_values(&l).inc_by(pmd.rx_bytes);
        tx_p.with_label_values(&l).inc_by(pmd.tx_packets);
        tx_b.with_label_values(&l).inc_by(pmd.tx_bytes);
        rx_d.with_label_values(&l)
            .inc_by(pmd.rx_missed + pmd.rx_nombuf);
        rx_e.with_label_values(&l).inc_by(pmd.rx_errors);
        tx_e.with_label_values(&l).inc_by(pmd.tx_errors);
    }

    let link = gauge_vec(
        reg,
        "ecmp_router_port_link_up",
        "1 when the PMD reports the port's link up (a VLAN sub-interface: its trunk's).",
        &["port"],
    );
    for (p, c) in cp.port_names.iter().zip(ports) {
        link.with_label_values(&[p.as_str()]).set(c.link_up as i64);
    }

    let kc = |n: &str, h: &str| counter(reg, n, h, &["port", "direction"]);
    let k_p = kc(
        "ecmp_router_kernel_interface_packets_total",
        "Frames between a port and its kernel interface: to_kernel (for the router, not consumed by it) and from_kernel (sent by the host on the interface, put on the port).",
    );
    let k_b = kc(
        "ecmp_router_kernel_interface_bytes_total",
        "Bytes of ecmp_router_kernel_interface_packets_total.",
    );
    let k_d = kc(
        "ecmp_router_kernel_interface_dropped_total",
        "Frames between a port and its kernel interface that were dropped: to_kernel when the interface's queue was full (also in drops_total as kernel_queue_full), from_kernel for lack of mbufs or queue room, or longer than the port takes.",
    );
    let mut kernel_full = 0;
    for (p, c) in cp.port_names.iter().zip(ports) {
        let Some(k) = c.kernel else { continue };
        for (dir, n, b, d) in [
            (
                "to_kernel",
                k.to_kernel_packets,
                k.to_kernel_bytes,
                k.to_kernel_dropped,
            ),
            (
                "from_kernel",
                k.from_kernel_packets,
                k.from_kernel_bytes,
                k.from_kernel_dropped,
            ),
        ] {
            let l = [p.as_str(), dir];
            k_p.with_label_values(&l).inc_by(n);
            k_b.with_label_values(&l).inc_by(b);
            k_d.with_label_values(&l).inc_by(d);
        }
        kernel_full += k.to_kernel_dropped;
    }
    kernel_full
}

/// Bonds: each member's link, activity, counters and LACP state.
fn bond_metrics(reg: &Registry, cp: &Snapshot, ports: &[PortCounters]) {
    let mg = |n: &str, h: &str| gauge_vec(reg, n, h, &["port", "member"]);
    let up = mg(
        "ecmp_router_bond_member_link_up",
        "1 when the PMD reports a bond member's link up.",
    );
    let active = mg(
        "ecmp_router_bond_member_active",
        "1 when the bond sends and receives on the member (802.3ad: collecting and distributing).",
    );
    let actor = mg(
        "ecmp_router_bond_lacp_actor_state",
        "The member's LACP actor state octet (IEEE 802.1AX; iproute2's ad_actor_oper_port_state): 1 activity, 2 short timeout, 4 aggregation, 8 in sync, 16 collecting, 32 distributing, 64 defaulted, 128 expired.",
    );
    let partner = mg(
        "ecmp_router_bond_lacp_partner_state",
        "The LACP state octet the partner's LACPDUs give for the member's link (bits as ecmp_router_bond_lacp_actor_state).",
    );
    let partner_info = gauge_vec(
        reg,
        "ecmp_router_bond_lacp_partner_info",
        "1 for the partner a bond member's LACPDUs come from: its system id (a MAC), key and port.",
        &["port", "member", "system", "key", "partner_port"],
    );
    let mc = |n: &str, h: &str| counter(reg, n, h, &["port", "member"]);
    let rx = mc(
        "ecmp_router_bond_member_rx_packets_total",
        "Packets a bond member received (its PMD's counter; the bond's own is the sum).",
    );
    let tx = mc(
        "ecmp_router_bond_member_tx_packets_total",
        "Packets a bond member sent (its PMD's counter).",
    );
    for (p, c) in cp.port_names.iter().zip(ports) {
        let Some(b) = &c.bond else { continue };
        for m in &b.members {
            let l = [p.as_str(), m.name.as_str()];
            up.with_label_values(&l).set(m.link_up as i64);
            active.with_label_values(&l).set(m.active as i64);
            rx.with_label_values(&l).inc_by(m.stats.rx_packets);
            tx.with_label_values(&l).inc_by(m.stats.tx_packets);
            if let Some(lacp) = m.lacp {
                actor.with_label_values(&l).set(lacp.actor.state as i64);
                partner.with_label_values(&l).set(lacp.partner.state as i64);
                partner_info
                    .with_label_values(&[
                        p.as_str(),
                        m.name.as_str(),
                        &lacp.partner.system.to_string(),
                        &lacp.partner.key.to_string(),
                        &lacp.partner.port.to_string(),
                    ])
                    .set(1);
            }
        }
    }
}

/// The punt policer, per class.
fn punt_metrics(reg: &Registry, lcores: &[Arc<LcoreStats>]) {
    let pclass = |n: &str, h: &str| counter(reg, n, h, &["class"]);
    let punt_p = pclass(
        "ecmp_router_punt_packets_total",
        "Packets the punt policer let through to a kernel interface, by class (routing, arp-nd, icmp, other).",
    );
    let punt_d = pclass(
        "ecmp_router_punt_policed_total",
        "Packets the punt policer kept from a kernel interface, by class: dropped (drops_total punt_policed), or for ARP/NDP only the kernel's copy.",
    );
    for c in dataplane::punt::PuntClass::ALL {
        let sum = |f: fn(&LcoreStats) -> &[std::sync::atomic::AtomicU64; 4]| -> u64 {
            lcores.iter().map(|s| f(s)[c as usize].load(Relaxed)).sum()
        };
        punt_p
            .with_label_values(&[c.name()])
            .inc_by(sum(|s| &s.kernel_punted));
        punt_d
            .with_label_values(&[c.name()])
            .inc_by(sum(|s| &s.kernel_policed));
    }
}

/// The drops, by reason.
fn drop_metrics(reg: &Registry, cp: &Snapshot, lcores: &[Arc<LcoreStats>], kernel_full: u64) {
    let drops = counter(
        reg,
        "ecmp_router_drops_total",
        "Packets dropped by the router, by reason (one reason per packet).",
        &["reason"],
    );
    for r in DropReason::ALL {
        let mut v: u64 = lcores.iter().map(|s| s.drops_of(*r)).sum();
        // Packets held for a neighbour that never got sent are dropped in the
        // control thread: they count with the workers' own.
        if *r == DropReason::NeighborUnresolved {
            v += cp.counters.neighbor_hold_dropped;
        }
        // The kernel interface's queue was full: counted by the thread
        // that writes to it.
        if *r == DropReason::KernelQueueFull {
            v += kernel_full;
        }
        drops.with_label_values(&[r.name()]).inc_by(v);
    }
}

/// The nexthops: traffic, resolution and liveness.
fn nexthop_metrics(reg: &Registry, cp: &Snapshot, lcores: &[Arc<LcoreStats>]) {
    let nh_p = counter(
        reg,
        "ecmp_router_nexthop_packets_total",
        "Packets forwarded through the nexthop.",
        &["nexthop", "port", "kind"],
    );
    let nh_b = counter(
        reg,
        "ecmp_router_nexthop_bytes_total",
        "Bytes (Ethernet frames) forwarded through the nexthop.",
        &["nexthop", "port", "kind"],
    );
    let nh_res = gauge_vec(
        reg,
        "ecmp_router_nexthop_resolved",
        "1 when the nexthop's MAC address is known.",
        &["nexthop", "port", "kind"],
    );
    let nh_up = gauge_vec(
        reg,
        "ecmp_router_nexthop_up",
        "1 when the nexthop is live: resolved and not down for any reason.",
        &["nexthop", "port", "kind"],
    );
    let nh_down = gauge_vec(
        reg,
        "ecmp_router_nexthop_down",
        "1 when the nexthop is down for this reason (admin, link, unreachable, uplink).",
        &["nexthop", "port", "kind", "reason"],
    );
    for n in &cp.nexthops {
        let addr = n.addr.to_string();
        let kind = match n.kind {
            NexthopKind::Gateway => "gateway",
            NexthopKind::Host => "host",
        };
        let l = [addr.as_str(), n.port.as_str(), kind];
        let i = n.id.index();
        let sum = |f: fn(&LcoreStats) -> &[std::sync::atomic::AtomicU64]| {
            lcores
                .iter()
                .map(|s| f(s).get(i).map_or(0, |c| c.load(Relaxed)))
                .sum::<u64>()
        };
        nh_p.with_label_values(&l).inc_by(sum(|s| &s.nh_packets));
        nh_b.with_label_values(&l).inc_by(sum(|s| &s.nh_bytes));
        nh_res.with_label_values(&l).set(n.mac.is_some() as i64);
        nh_up.with_label_values(&l).set(n.live as i64);
        for (reason, down) in [
            ("admin", n.admin_down),
            ("link", n.link_down),
            ("unreachable", n.unreachable),
            ("uplink", n.uplink_down),
        ] {
            nh_down
                .with_label_values(&[l[0], l[1], l[2], reason])
                .set(down as i64);
        }
    }
}

/// The workers' own counters.
fn lcore_metrics(reg: &Registry, lcores: &[Arc<LcoreStats>]) {
    let lc = |n: &str, h: &str, f: fn(&LcoreStats) -> u64| {
        let c = counter(reg, n, h, &[]);
        c.with_label_values(&[] as &[&str])
            .inc_by(lcores.iter().map(|s| f(s)).sum());
    };
    lc(
        "ecmp_router_punted_total",
        "Frames workers handed to the control thread (ARP, NDP).",
        |s| s.punted.load(Relaxed),
    );
    lc(
        "ecmp_router_icmp_sent_total",
        "ICMP errors and echo replies the workers generated.",
        |s| s.icmp_sent.load(Relaxed),
    );
    lc(
        "ecmp_router_echo_replies_total",
        "Echo requests to the router's addresses answered by the workers (packets delivered locally).",
        |s| s.echo_replies.load(Relaxed),
    );
    lc(
        "ecmp_router_icmp_rate_limited_total",
        "ICMP errors not sent because the rate limit (icmp.rate, icmp.burst per worker) was reached.",
        |s| s.icmp_rate_limited.load(Relaxed),
    );

    lc(
        "ecmp_router_fragmented_total",
        "IPv4 packets without DF longer than the egress MTU, forwarded as fragments (RFC 791).",
        |s| s.fragmented.load(Relaxed),
    );
    lc(
        "ecmp_router_fragments_created_total",
        "Fragments the workers made of those packets (a failure is drops_total{reason=\"fragmentation_failed\"}).",
        |s| s.fragments_created.load(Relaxed),
    );

    let he = counter(reg, "ecmp_router_hash_events_total", "Flow-hash events: ICMP errors steered by their embedded packet, embedded packets too short (fallback), IPv6 extension-header walks stopped at the limit.", &["event"]);
    for (e, f) in [
        (
            "icmp_steered",
            (|s: &LcoreStats| s.hash_icmp_steered.load(Relaxed)) as fn(&LcoreStats) -> u64,
        ),
        ("icmp_truncated", |s| s.hash_icmp_truncated.load(Relaxed)),
        ("ext_header_limit", |s| s.hash_ext_limit.load(Relaxed)),
    ] {
        he.with_label_values(&[e])
            .inc_by(lcores.iter().map(|s| f(s)).sum());
    }

    let lp = counter(
        reg,
        "ecmp_router_lcore_polls_total",
        "Worker poll-loop iterations, busy (received packets) or idle.",
        &["lcore", "state"],
    );
    let lr = counter(
        reg,
        "ecmp_router_lcore_rx_packets_total",
        "Packets received by the worker.",
        &["lcore"],
    );
    let lb = counter(
        reg,
        "ecmp_router_lcore_rx_bursts_total",
        "Non-empty rx bursts of the worker (packets per burst = rx_packets / rx_bursts).",
        &["lcore"],
    );
    for (i, st) in lcores.iter().enumerate() {
        let w = i.to_string();
        lp.with_label_values(&[w.as_str(), "busy"])
            .inc_by(st.polls_busy.load(Relaxed));
        lp.with_label_values(&[w.as_str(), "idle"])
            .inc_by(st.polls_idle.load(Relaxed));
        lr.with_label_values(&[w.as_str()])
            .inc_by(st.rx_packets.load(Relaxed));
        lb.with_label_values(&[w.as_str()])
            .inc_by(st.rx_bursts.load(Relaxed));
    }
    // Only a `stage-cycles` build counts these; others would export zeros.
    if lcores
        .iter()
        .any(|st| st.stage_cycles.iter().any(|c| c.load(Relaxed) != 0))
    {
        let sc = counter(
            reg,
            "ecmp_router_lcore_stage_cycles_total",
            "TSC cycles per pipeline stage (a stage-cycles build); divide by rx_packets for cycles per packet.",
            &["lcore", "stage"],
        );
        for (i, st) in lcores.iter().enumerate() {
            for (stage, name) in dataplane::stats::Stage::ALL {
                sc.with_label_values(&[i.to_string().as_str(), name])
                    .inc_by(st.stage_cycles[stage as usize].load(Relaxed));
            }
        }
    }
}

/// The groups and the RIB.
fn group_metrics(reg: &Registry, cp: &Snapshot) {
    let gm = gauge_vec(
        reg,
        "ecmp_router_group_members",
        "Members of the nexthop group.",
        &["group", "algorithm"],
    );
    let gl = gauge_vec(
        reg,
        "ecmp_router_group_live_members",
        "Live members of the nexthop group.",
        &["group", "algorithm"],
    );
    let gr = gauge_vec(
        reg,
        "ecmp_router_group_routes",
        "Main-table routes using the nexthop group.",
        &["group", "algorithm"],
    );
    for g in &cp.groups {
        let (name, alg, members, live) = (&g.name, g.algorithm, g.members.len(), g.live);
        gm.with_label_values(&[name.as_str(), alg])
            .set(members as i64);
        gl.with_label_values(&[name.as_str(), alg]).set(live as i64);
        gr.with_label_values(&[name.as_str(), alg])
            .set(g.routes as i64);
    }

    let rib = gauge_vec(
        reg,
        "ecmp_router_rib_routes",
        "Routes in the RIB by table and origin (active or overridden).",
        &["table", "origin"],
    );
    for &((t, o), n) in &cp.rib_counts {
        rib.with_label_values(&[t.to_string().as_str(), o.name()])
            .set(n as i64);
    }
}

/// The control thread's counters and gauges.
fn control_metrics(reg: &Registry, cp: &Snapshot) {
    let k = cp.counters;
    gauge(
        reg,
        "ecmp_router_fpm_connected",
        "1 while FRR's zebra is connected over FPM.",
    )
    .set(k.fpm_connected as i64);
    let lbs = prometheus::Gauge::new(
        "ecmp_router_fib_last_build_seconds",
        "Time from the last route change to the publication of its FIB generation.",
    )
    .expect("valid");
    reg.register(Box::new(lbs.clone())).expect("unique");
    lbs.set(k.last_build_us as f64 / 1e6);
    let cc = counter(
        reg,
        "ecmp_router_control_events_total",
        "Control-plane events by kind.",
        &["event"],
    );
    for (e, v) in [
        ("arp_rx", k.arp_rx),
        ("ndp_rx", k.ndp_rx),
        ("punt_invalid", k.punt_invalid),
        ("own_address_claim", k.own_address_claims),
        ("solicits_sent", k.solicits_sent),
        ("adverts_sent", k.adverts_sent),
        ("inject_queue_full", k.inject_full),
        ("nexthop_table_full", k.nexthop_table_full),
        // Events, not states: the gauges ecmp_router_nexthop_up and
        // ecmp_router_nexthop_down hold the states.
        ("nexthop_went_down", k.nexthop_down_events),
        ("nexthop_came_up", k.nexthop_up_events),
        ("resilient_rebalance", k.resilient_rebalances),
        ("fpm_connection", k.fpm_connections),
        ("fpm_message", k.fpm_messages),
        ("fpm_nexthop_message", k.fpm_nexthop_messages),
        ("fpm_error", k.fpm_errors),
        ("fpm_refused_busy", k.fpm_refused_busy),
        ("fpm_refused_silent", k.fpm_refused_silent),
        ("fpm_refused_route_limit", k.fpm_refused_route_limit),
        ("fpm_refused_nexthop_limit", k.fpm_refused_nexthop_limit),
        ("fpm_unresolvable_route", k.fpm_unresolvable),
        ("kernel_route_ignored", k.kernel_routes_ignored),
        ("fpm_not_installed_onlink", k.fpm_not_installed_onlink),
        ("fpm_not_installed_route_type", k.fpm_not_installed_type),
        (
            "fpm_not_installed_unknown_object",
            k.fpm_not_installed_object,
        ),
        ("fpm_object_kind_change", k.fpm_object_kind_changes),
        ("fpm_stale_route_swept", k.fpm_swept),
        ("neighbor_evicted", k.neighbor_evictions),
        ("neighbor_incomplete_full", k.neighbor_incomplete_full),
        ("solicits_rate_limited", k.solicits_rate_limited),
        ("neighbor_failed", k.neighbor_failed),
        ("neighbor_flushed", k.neighbor_flushed),
        ("neighbor_held", k.neighbor_held),
        ("neighbor_hold_sent", k.neighbor_hold_sent),
        ("neighbor_hold_dropped", k.neighbor_hold_dropped),
        ("api_connection_evicted", k.api_evicted),
        ("api_connection_idle_closed", k.api_idle_closed),
        ("api_refused_host", k.api_refused_host),
        ("api_refused_content_type", k.api_refused_content_type),
        ("api_refused_token", k.api_refused_token),
        ("api_write_ok", k.api_write_ok),
        ("api_write_failed", k.api_write_failed),
        ("fib_publish", k.fib_publishes),
        ("fib_route_change", k.fib_route_ops),
        ("fib_copy", k.fib_copies),
    ] {
        cc.with_label_values(&[e]).inc_by(v);
    }
}

/// Log lines the rate limits suppressed, by kind (every kind, 0 too).
fn log_metrics(reg: &Registry, limiter: &crate::loglimit::Limiter) {
    let c = counter(
        reg,
        "ecmp_router_log_suppressed_total",
        "Log lines that the network or a client triggered and the rate limit suppressed, by kind (the first lines of each interval pass, then one line tells the count).",
        &["kind"],
    );
    for &k in crate::loglimit::Kind::ALL {
        c.with_label_values(&[k.name()])
            .inc_by(limiter.suppressed(k));
    }
}

/// The workers' flow tables.
fn flow_metrics(reg: &Registry, flows: &[Arc<dataplane::flowtable::FlowTable>], now_ms: u32) {
    let fe = gauge_vec(
        reg,
        "ecmp_router_flow_entries",
        "Live flows in each worker's flow table (sticky routes).",
        &["lcore"],
    );
    let fcap = gauge_vec(
        reg,
        "ecmp_router_flow_capacity",
        "Flows each worker's table can hold.",
        &["lcore"],
    );
    let fev = counter(
        reg,
        "ecmp_router_flow_events_total",
        "Flow-table events: insert, expiry (a timed-out flow's slot reused), eviction (a live flow pushed out of a full bucket), repick (a flow's nexthop went down, so it was picked again), flush (a flow's nexthop went down and on-uplink-down: flush ended it).",
        &["lcore", "event"],
    );
    for (i, t) in flows.iter().enumerate() {
        let w = i.to_string();
        fe.with_label_values(&[w.as_str()])
            .set(t.flows(now_ms).count() as i64);
        fcap.with_label_values(&[w.as_str()])
            .set(t.capacity() as i64);
        let c = &t.counters;
        for (e, v) in [
            ("insert", &c.inserts),
            ("expiry", &c.expiries),
            ("eviction", &c.evictions),
            ("repick", &c.repicks),
            ("flush", &c.flushes),
        ] {
            fev.with_label_values(&[w.as_str(), e])
                .inc_by(v.load(Relaxed));
        }
    }
}

/// SNAT bindings, translations and addresses.
fn snat_metrics(reg: &Registry, cp: &Snapshot, nat: &[Arc<dataplane::nat::NatCounters>]) {
    let snat = cp.snat.clone();
    if !snat.is_empty() {
        let sb = gauge_vec(
            reg,
            "ecmp_router_snat_bindings",
            "SNAT bindings (translated flows) in each worker's NAT table.",
            &["lcore"],
        );
        let sev = counter(
            reg,
            "ecmp_router_snat_events_total",
            "SNAT binding events: create, expiry (idle timeout), repick (its uplink went down; bound again elsewhere), flush (its uplink went down; removed, on-uplink-down: flush).",
            &["lcore", "event"],
        );
        let spk = counter(
            reg,
            "ecmp_router_snat_packets_total",
            "Packets translated, by direction: out (source rewritten), in (destination rewritten back; ICMP errors included).",
            &["lcore", "direction"],
        );
        let serr = counter(
            reg,
            "ecmp_router_snat_icmp_errors_total",
            "ICMP errors about translated flows, translated with their embedded header: in (from outside, delivered to the inside host), out (from inside, about a packet that came in translated).",
            &["lcore", "direction"],
        );
        let ssteer = counter(
            reg,
            "ecmp_router_snat_steered_total",
            "Packets handed to another worker (several workers only): reply (from outside, for a translated port another worker owns), error (an ICMP error from inside about a flow this worker holds no binding for, passed to the next worker).",
            &["lcore", "kind"],
        );
        for (i, c) in nat.iter().enumerate() {
            let w = i.to_string();
            ssteer
                .with_label_values(&[w.as_str(), "reply"])
                .inc_by(c.steered.load(Relaxed));
            ssteer
                .with_label_values(&[w.as_str(), "error"])
                .inc_by(c.handed_on.load(Relaxed));
            sb.with_label_values(&[w.as_str()])
                .set(c.entries.load(Relaxed) as i64);
            for (e, v) in [
                ("create", &c.created),
                ("expiry", &c.expired),
                ("repick", &c.repicks),
                ("flush", &c.flushed),
            ] {
                sev.with_label_values(&[w.as_str(), e])
                    .inc_by(v.load(Relaxed));
            }
            spk.with_label_values(&[w.as_str(), "out"])
                .inc_by(c.out_packets.load(Relaxed));
            spk.with_label_values(&[w.as_str(), "in"])
                .inc_by(c.in_packets.load(Relaxed));
            serr.with_label_values(&[w.as_str(), "in"])
                .inc_by(c.in_icmp_errors.load(Relaxed));
            serr.with_label_values(&[w.as_str(), "out"])
                .inc_by(c.out_icmp_errors.load(Relaxed));
        }
        let sa = gauge_vec(
            reg,
            "ecmp_router_snat_address_info",
            "Each SNAT address and the uplink port it belongs to (value 1).",
            &["address", "port"],
        );
        for (a, p) in snat.addrs.iter() {
            let pn = cp.port_names.get(p.index()).map_or("?", |x| x.as_str());
            sa.with_label_values(&[a.to_string().as_str(), pn]).set(1);
        }
    }
}

/// The uplinks and their probes.
fn uplink_metrics(reg: &Registry, cp: &Snapshot) {
    let uup = gauge_vec(
        reg,
        "ecmp_router_uplink_up",
        "1 while the uplink's health probes pass (it takes new flows).",
        &["uplink", "port"],
    );
    let uloss = gauge_vec(
        reg,
        "ecmp_router_uplink_loss_percent",
        "Failed probe rounds among the last 10.",
        &["uplink"],
    );
    let urtt = prometheus::GaugeVec::new(
        Opts::new(
            "ecmp_router_uplink_rtt_seconds",
            "Round-trip time of the last answered probe, per target.",
        ),
        &["uplink", "target"],
    )
    .expect("valid");
    reg.register(Box::new(urtt.clone())).expect("unique");
    let uprobes = counter(
        reg,
        "ecmp_router_uplink_probes_total",
        "Uplink probes per target: sent, and answered.",
        &["uplink", "target", "result"],
    );
    let utrans = counter(
        reg,
        "ecmp_router_uplink_transitions_total",
        "Uplink state changes (up to down and back).",
        &["uplink"],
    );
    for u in &cp.uplinks {
        uup.with_label_values(&[u.name.as_str(), u.port.as_str()])
            .set(u.up as i64);
        uloss
            .with_label_values(&[u.name.as_str()])
            .set(u.loss_pct as i64);
        utrans
            .with_label_values(&[u.name.as_str()])
            .inc_by(u.transitions);
        for (t, sent, got, rtt) in &u.targets {
            let t = t.to_string();
            uprobes
                .with_label_values(&[u.name.as_str(), t.as_str(), "sent"])
                .inc_by(*sent);
            uprobes
                .with_label_values(&[u.name.as_str(), t.as_str(), "answered"])
                .inc_by(*got);
            if let Some(r) = rtt {
                urtt.with_label_values(&[u.name.as_str(), t.as_str()])
                    .set(r.as_secs_f64());
            }
        }
    }
}

/// The published FIB.
fn fib_metrics(reg: &Registry, cp: &Snapshot) {
    let fib = cp.fib.clone();
    gauge(
        reg,
        "ecmp_router_fib_generation",
        "Current FIB generation number.",
    )
    .set(fib.generation as i64);
    let routes = gauge_vec(
        reg,
        "ecmp_router_fib_routes",
        "Prefixes in the FIB, by family.",
        &["family"],
    );
    let (v4, v6) = fib.routes.counts();
    routes.with_label_values(&["ipv4"]).set(v4 as i64);
    routes.with_label_values(&["ipv6"]).set(v6 as i64);
}

/// The metrics reference (`docs/metrics-reference.md`), generated from an
/// exposition `text`: every family with its type, labels and help, then the
/// drop reasons with their meaning. Generated, so it cannot drift from the
/// code: a test fails when the committed file differs.
pub fn reference(text: &str) -> String {
    use std::collections::{BTreeMap, BTreeSet};
    let mut fams: BTreeMap<String, (String, String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, help)) = rest.split_once(' ') {
                fams.entry(name.to_owned()).or_default().1 = help.to_owned();
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                fams.entry(name.to_owned()).or_default().0 = kind.to_owned();
            }
        } else if !line.starts_with('#') {
            if let Some((name, labels)) = line.split_once('{') {
                let set = &mut fams.entry(name.to_owned()).or_default().2;
                for kv in labels.split("\",") {
                    if let Some((k, _)) = kv.split_once('=') {
                        set.insert(k.trim_start_matches(',').to_owned());
                    }
                }
            }
        }
    }
    let mut out = String::from(
        "# Metrics reference\n\n\
         Generated from the code by `UPDATE_DOCS=1 cargo test -p control metrics_reference`;\n\
         a test fails when this file and the code disagree. What the metrics mean\n\
         together, and how to read them, is in [metrics.md](metrics.md).\n\n\
         | metric | type | labels | help |\n|---|---|---|---|\n",
    );
    for (name, (kind, help, labels)) in &fams {
        let labels: Vec<String> = labels.iter().map(|l| format!("`{l}`")).collect();
        out.push_str(&format!(
            "| `{name}` | {kind} | {} | {} |\n",
            labels.join(", "),
            help.replace('|', "\\|")
        ));
    }
    out.push_str(
        "\n## Drop reasons\n\nValues of the `reason` label of `ecmp_router_drops_total`.\n\n\
         | reason | meaning |\n|---|---|\n",
    );
    for r in DropReason::ALL {
        let help: Vec<&str> = r.help().lines().map(str::trim).collect();
        out.push_str(&format!("| `{}` | {} |\n", r.name(), help.join(" ").trim()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::punt::Channels;
    use dataplane::types::MacAddr;

    #[test]
    fn renders_every_family() {
        let c = config::parse(
            "ports:\n  - { name: a, device: x, addresses: [10.0.0.1/24] }\nroutes:\n  - { prefix: 0.0.0.0/0, nexthops: [{ via: 10.0.0.2, port: a }] }\n",
            "t",
        )
        .unwrap();
        let cp = ControlPlane::new(
            c,
            &[MacAddr([2, 0, 0, 0, 0, 1])],
            vec![],
            Channels::default(),
            8,
        );
        let s = Arc::new(LcoreStats::new(8));
        s.count_drop(DropReason::TtlExceeded);
        s.nexthop(dataplane::NexthopId(0), 100);
        let text = render(
            &Snapshot::of(&cp),
            &[PortCounters {
                pmd: Some(dataplane::stats::PortStats {
                    rx_packets: 5,
                    ..Default::default()
                }),
                kernel: Some(Default::default()),
                ..Default::default()
            }],
            &[s.clone(), s],
            &[Arc::new({
                let t = dataplane::flowtable::FlowTable::new(64, Default::default());
                t.insert(
                    &dataplane::flow::Endpoints {
                        src: 1,
                        dst: 2,
                        proto: 17,
                        ..Default::default()
                    },
                    0,
                    dataplane::NexthopId(0),
                    0,
                );
                t
            })],
            &[],
            5,
        );
        assert!(
            text.contains("ecmp_router_flow_entries{lcore=\"0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ecmp_router_flow_events_total{event=\"insert\",lcore=\"0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ecmp_router_port_rx_packets_total{port=\"a\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("ecmp_router_drops_total{reason=\"ttl_exceeded\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ecmp_router_drops_total{reason=\"no_route\"} 0"),
            "{text}"
        );
        assert!(text.contains("ecmp_router_nexthop_bytes_total{kind=\"gateway\",nexthop=\"10.0.0.2\",port=\"a\"} 200"), "{text}");
        assert!(
            text.contains("ecmp_router_fib_routes{family=\"ipv4\"} 3"),
            "{text}"
        );
    }

    /// Every metric family the router can export, with SNAT, uplinks, flows
    /// and per-lcore counters all present.
    fn everything() -> String {
        let c = config::parse(&crate::testkit::fuzz::fixture_config(true), "t").unwrap();
        let ch = Channels::default();
        let mut cp = ControlPlane::new(c, &crate::testkit::fuzz::MACS, vec![], ch.clone(), 64);
        // One probe round, answered, so the uplinks' round-trip gauges exist.
        let t0 = std::time::Instant::now();
        cp.poll(t0);
        while let Some(f) = ch.inject.pop() {
            let d = f.bytes();
            if d.len() >= 42 && d[12..14] == [8, 0] && d[23] == 1 && d[34] == 8 {
                let (id, seq) = (
                    u16::from_be_bytes([d[38], d[39]]),
                    u16::from_be_bytes([d[40], d[41]]),
                );
                let mut icmp = dataplane::frames::icmp_echo(id, seq, &d[42..]);
                icmp[0] = 0;
                icmp[2..4].fill(0);
                let c = dataplane::checksum::checksum(&icmp);
                icmp[2..4].copy_from_slice(&c.to_be_bytes());
                let mac =
                    |o: usize| MacAddr([d[o], d[o + 1], d[o + 2], d[o + 3], d[o + 4], d[o + 5]]);
                let reply = dataplane::frames::ipv4(
                    mac(0),
                    mac(6),
                    std::net::Ipv4Addr::new(d[30], d[31], d[32], d[33]),
                    std::net::Ipv4Addr::new(d[26], d[27], d[28], d[29]),
                    1,
                    64,
                    &icmp,
                );
                let _ = ch
                    .punt
                    .push(crate::punt::PuntFrame::copy_from(f.port, &reply));
            }
        }
        cp.poll(t0 + std::time::Duration::from_millis(5));
        let s = Arc::new(LcoreStats::new(64));
        s.count_drop(DropReason::TtlExceeded);
        s.nexthop(dataplane::NexthopId(0), 100);
        render(
            &Snapshot::of(&cp),
            &[0, 1, 2].map(|i| PortCounters {
                pmd: Some(Default::default()),
                kernel: Some(Default::default()),
                // The first port a bond, so that its metrics are documented too.
                bond: (i == 0).then(|| dataplane::stats::BondState {
                    mode: 4,
                    members: vec![dataplane::stats::BondMember {
                        name: "net_af_packet0".into(),
                        lacp: Some(Default::default()),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            &[s],
            &[Arc::new(dataplane::flowtable::FlowTable::new(
                64,
                Default::default(),
            ))],
            &[Arc::new(dataplane::nat::NatCounters::default())],
            5,
        )
    }

    #[test]
    fn metrics_reference_is_current() {
        let want = reference(&everything());
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics-reference.md");
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/metrics-reference.md is out of date: run UPDATE_DOCS=1 cargo test -p control metrics_reference"
        );
    }

    #[test]
    fn every_metric_is_explained_in_the_guide() {
        let guide = include_str!("../../docs/metrics.md");
        let text = everything();
        let missing: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .filter(|n| !guide.contains(&format!("`{n}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/metrics.md does not explain: {missing:?}"
        );
        let reasons: Vec<&str> = DropReason::ALL
            .iter()
            .map(|r| r.name())
            .filter(|n| !guide.contains(&format!("`{n}`")))
            .collect();
        assert!(
            reasons.is_empty(),
            "docs/metrics.md lacks drop reasons: {reasons:?}"
        );
    }

    #[test]
    fn the_dashboard_uses_only_exported_metrics() {
        let names = exported();
        let dash: serde_json::Value =
            serde_json::from_str(include_str!("../../deploy/grafana/ecmp-router.json"))
                .expect("the dashboard is valid JSON");
        let mut exprs = Vec::new();
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        match (k.as_str(), x) {
                            ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                            _ => walk(x, out),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&dash, &mut exprs);
        assert!(exprs.len() >= 5, "found {} queries", exprs.len());
        let unknown: Vec<&str> = exprs
            .iter()
            .flat_map(|e| metric_names(e))
            .filter(|n| !names.contains(*n))
            .collect();
        assert!(
            unknown.is_empty(),
            "the dashboard queries metrics the router does not export: {unknown:?}"
        );
    }

    /// Every family name the router exports (`stage-cycles` builds add one).
    fn exported() -> std::collections::BTreeSet<String> {
        let mut names: std::collections::BTreeSet<String> = everything()
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next().map(str::to_owned))
            .collect();
        names.insert("ecmp_router_lcore_stage_cycles_total".into());
        names
    }

    /// The `ecmp_router_*` names in `text`; prefixes written as
    /// `ecmp_router_snat_*` are not names.
    fn metric_names(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("ecmp_router_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if !tail[..end].ends_with('_') {
                out.push(&tail[..end]);
            }
            rest = &tail[end..];
        }
        out
    }

    #[test]
    fn the_docs_name_only_exported_metrics() {
        let names = exported();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
        let mut unknown = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "md") {
                continue;
            }
            let doc = std::fs::read_to_string(&p).unwrap();
            for n in metric_names(&doc) {
                if !names.contains(n) {
                    unknown.push(format!("{}: {n}", p.file_name().unwrap().to_string_lossy()));
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "the docs name metrics the router does not export: {unknown:?}"
        );
    }
}
