use super::*;
use dataplane::hash::{Field, FieldSet, HashConfig, HashPolicy};
use dataplane::nhg::Algorithm;
use dataplane::types::{MacAddr, PortId};
use std::net::Ipv4Addr;

/// The example of the README and issue #2.
pub const EXAMPLE: &str = r#"eal: [--no-huge, --no-shconf, -m, "512", --file-prefix, lab]   # extra EAL arguments (optional)
ports:
  - name: lan
    device: net_tap0,iface=lan
    addresses: [10.0.0.1/24, fd00::1/64]
  - name: srv1
    device: net_tap1,iface=srv1
    addresses: [10.1.0.1/24, fd01::1/64]
  - name: srv2
    device: net_tap2,iface=srv2
    addresses: [10.2.0.1/24, fd02::1/64]
hash: { policy: l4 }
routes:
  - prefix: 198.51.100.0/24
    nexthops:
      - { via: 10.1.0.2, port: srv1, weight: 1 }
      - { via: 10.2.0.2, port: srv2, weight: 2 }
api: { listen: 127.0.0.1:9464 }
"#;

fn err(src: &str) -> ConfigError {
    parse(src, "t.yaml").expect_err("config should be refused")
}

#[test]
fn example_parses() {
    let c = parse(EXAMPLE, "t.yaml").unwrap();
    assert_eq!(c.ports.len(), 3);
    assert_eq!(
        c.eal,
        [
            "--no-huge",
            "--no-shconf",
            "-m",
            "512",
            "--file-prefix",
            "lab"
        ]
    );
    assert_eq!(
        c.groups[match c.routes[0].target {
            RouteTarget::Group(g) => g,
            RouteTarget::Reject(_) => panic!(),
        }]
        .nexthops[1],
        NexthopConfig {
            via: "10.2.0.2".parse().unwrap(),
            port: PortId(2),
            weight: 2
        }
    );
    assert_eq!(c.hash.policy, HashPolicy::L4);
    assert_eq!(c.hash.seed, dataplane::hash::DEFAULT_SEED);
    assert_eq!(c.listen, "127.0.0.1:9464".parse().unwrap());
    assert_eq!(c.workers, 1);
    assert_eq!(c.ports[0].addresses[1].to_string(), "fd00::1/64");
}

#[test]
fn unknown_port_names_key_line_and_column() {
    let e = err(&EXAMPLE.replace("port: srv2,", "port: srv3,"));
    assert_eq!(
        (e.key.as_str(), e.line, e.column),
        ("routes[0].nexthops[1].port", 17, 32)
    );
    assert!(e.message.contains("unknown port 'srv3'"), "{e}");
    assert!(e.to_string().starts_with("t.yaml:17:32: routes[0].nexthops[1].port: unknown port 'srv3' (ports are: lan, srv1, srv2)"), "{e}");
}

#[test]
fn type_error_names_key() {
    let e = err(&EXAMPLE.replace("weight: 2", "weight: two"));
    assert_eq!(e.key, "routes[0].nexthops[1].weight");
    assert_eq!(e.line, 17);
    let e = err(&EXAMPLE.replace("weight: 2", "weight: 70000"));
    assert_eq!(e.key, "routes[0].nexthops[1].weight");
    assert!(e.message.contains("outside 1..=65535"));
}

#[test]
fn flows_and_sticky() {
    let c = parse(
        &format!("{EXAMPLE}\nflows: {{ capacity: 1024, udp: 30, tcp-closing: 5 }}\n").replace(
            "  - prefix: 198.51.100.0/24\n",
            "  - prefix: 198.51.100.0/24\n    sticky: true\n",
        ),
        "t",
    )
    .unwrap();
    assert_eq!(c.flows.capacity, 1024);
    assert_eq!(c.flows.timeouts.udp_ms, 30_000);
    assert_eq!(c.flows.timeouts.tcp_closing_ms, 5_000);
    assert!(c.routes[0].sticky);
    for (bad, key) in [
        ("flows: { capacity: 3 }", "flows.capacity"),
        ("flows: { udp: 0 }", "flows.udp"),
        (
            "flows: { tcp-established: 9999999 }",
            "flows.tcp-established",
        ),
        ("flows: { udpp: 3 }", "flows"),
    ] {
        let e = err(&format!("{EXAMPLE}\n{bad}\n"));
        assert!(e.key.starts_with(key), "{bad}: {e}");
    }
}

#[test]
fn rules_and_last_resort() {
    let up = "uplinks:\n  - { name: isp1, port: srv1, gateway: 10.1.0.2, probe: { targets: [192.0.2.1] } }\n";
    let rule = "rules:\n  - { match: { in-port: lan, src: 10.0.0.0/24, proto: tcp, dport: 8000-8100, sport: 40000 }, action: { uplink: isp1 }, sticky: true }\nlast-resort: blackhole\n";
    let c = parse(&format!("{EXAMPLE}\n{up}{rule}"), "t").unwrap();
    let r = &c.rules[0];
    assert_eq!(
        (r.proto, r.dport, r.sport, r.sticky),
        (Some(6), (8000, 8100), (40000, 40000), true)
    );
    assert_eq!(r.in_port, Some(PortId(0)));
    assert_eq!(c.last_resort, dataplane::policy::LastResort::Blackhole);
    for (from, to, key) in [
        ("uplink: isp1", "uplink: isp9", "rules[0].action.uplink"),
        ("{ uplink: isp1 }", "{ }", "rules[0].action"),
        (
            "dport: 8000-8100",
            "dport: 8100-8000",
            "rules[0].match.dport",
        ),
        ("proto: tcp", "proto: tcpx", "rules[0].match.proto"),
        ("src: 10.0.0.0/24", "src: 10.0.0.1/24", "rules[0].match.src"),
        ("in-port: lan", "in-port: wan", "rules[0].match.in-port"),
        (
            "last-resort: blackhole",
            "last-resort: maybe",
            "last-resort",
        ),
        (
            "src: 10.0.0.0/24",
            "src: 10.0.0.0/24, dst: 'fd00::/64'",
            "rules[0].match.dst",
        ),
    ] {
        let e = err(&format!("{EXAMPLE}\n{up}{}", rule.replace(from, to)));
        assert_eq!(e.key, key, "{to}: {e}");
    }
}

#[test]
fn icmp_limit() {
    let c = parse(&format!("{EXAMPLE}\nicmp: {{ rate: 5, burst: 0 }}\n"), "t").unwrap();
    assert_eq!((c.icmp_rate, c.icmp_burst), (5, 0));
    let d = parse(EXAMPLE, "t").unwrap();
    assert_eq!((d.icmp_rate, d.icmp_burst), (1000, 100));
    let e = err(&format!("{EXAMPLE}\nicmp: {{ rate: 2000000 }}\n"));
    assert_eq!(e.key, "icmp.rate");
}

#[test]
fn shipped_examples_parse() {
    // Every file in deploy/examples is a config the docs point operators at.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "yaml") {
            let src = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = parse(&src, &path.display().to_string()) {
                panic!("{e}");
            }
            n += 1;
        }
    }
    assert!(n >= 2, "found {n} examples");
    let c = parse(
        include_str!("../../../deploy/examples/dual-wan.yaml"),
        "dual-wan",
    )
    .unwrap();
    assert_eq!(c.uplinks[1].snat.len(), 2);
    assert!(matches!(c.rules[2].action, RuleAction::Table(200)));
}

#[test]
fn named_tables() {
    let with = |extra: &str| {
        EXAMPLE.replace(
                "api:",
                &format!("  - {{ prefix: 0.0.0.0/0, table: guest, nexthops: [{{ via: 10.2.0.2, port: srv2 }}] }}\nrules:\n  - {{ match: {{ src: 10.0.200.0/24 }}, action: {{ table: guest }} }}\n{extra}api:"),
            )
    };
    let c = parse(&with("tables: { guest: 200, voice: 201 }\n"), "t").unwrap();
    assert_eq!(c.tables["guest"], 200);
    assert_eq!(c.routes.iter().filter(|r| r.table == 200).count(), 1);
    assert!(matches!(c.rules[0].action, RuleAction::Table(200)));
    let e = err(&with(""));
    assert_eq!(e.key, "routes[1].table");
    assert!(
        e.message
            .contains("unknown table 'guest' (tables are: main)"),
        "{}",
        e.message
    );
    let e = err(&with("tables: { guest: 200, voice: 200 }\n"));
    assert!(e.message.contains("also table 'guest'"), "{}", e.message);
    let e = err(&with("tables: { guest: 254 }\n"));
    assert_eq!(e.key, "tables.guest");
    for (t, says) in [
        ("{ guest: 200, local: 201 }", "'local' cannot name a table"),
        (
            "{ guest: 200, default: 201 }",
            "'default' cannot name a table",
        ),
        ("{ guest: 200, all: 201 }", "'all' cannot name a table"),
        ("{ guest: 255 }", "iproute2's table 'local'"),
        ("{ guest: 253 }", "iproute2's table 'default'"),
    ] {
        let e = err(&with(&format!("tables: {t}\n")));
        assert!(e.message.contains(says), "{t}: {}", e.message);
        assert!(e.key.starts_with("tables."), "{t}: {}", e.key);
    }
    let e = err(&EXAMPLE.replace(
        "api:",
        "rules:\n  - { match: { proto: udp }, action: { table: main } }\napi:",
    ));
    assert_eq!(e.key, "rules[0].action.table");
}

#[test]
fn snat_forms_and_errors() {
    let up = |snat: &str| {
        format!(
                "{EXAMPLE}\nuplinks:\n  - {{ name: isp1, port: srv1, gateway: 10.1.0.2, probe: {{ targets: [192.0.2.1] }}, snat: {snat} }}\n  - {{ name: isp2, port: srv2, gateway: 10.2.0.2, probe: {{ targets: [192.0.2.1] }} }}\n"
            )
    };
    let c = parse(&up("masquerade"), "t").unwrap();
    assert_eq!(c.uplinks[0].snat, vec![Ipv4Addr::new(10, 1, 0, 1)]);
    assert!(c.uplinks[1].snat.is_empty());
    let c = parse(&up("[10.1.0.50, 10.1.0.51]"), "t").unwrap();
    assert_eq!(c.uplinks[0].snat.len(), 2);
    assert_eq!(
        parse(&up("10.1.0.50"), "t").unwrap().uplinks[0].snat,
        vec![Ipv4Addr::new(10, 1, 0, 50)]
    );
    for (snat, key, words) in [
        ("fd01::9", "uplinks[0].snat", "IPv4 only"),
        (
            "[10.1.0.5, nope]",
            "uplinks[0].snat[1]",
            "not an IPv4 address",
        ),
        ("[10.1.0.5, 10.1.0.5]", "uplinks[0].snat[1]", "used twice"),
        ("10.2.0.1", "uplinks[0].snat", "address of port 'srv2'"),
        ("255.255.255.255", "uplinks[0].snat", "cannot be a source"),
        ("[]", "uplinks[0].snat", "empty list"),
    ] {
        let e = err(&up(snat));
        assert_eq!(e.key, key, "{snat}");
        assert!(e.message.contains(words), "{snat}: {}", e.message);
    }
    // Several workers share the port space (dataplane::nat::owner).
    let c = parse(&format!("workers: 2\n{}", up("masquerade")), "t").unwrap();
    assert_eq!(c.workers, 2);
    let e = err(&format!(
        "{}flows: {{ on-uplink-down: sometimes }}\n",
        up("masquerade")
    ));
    assert_eq!(e.key, "flows.on-uplink-down");
    let c = parse(
        &format!("{}flows: {{ on-uplink-down: flush }}\n", up("masquerade")),
        "t",
    )
    .unwrap();
    assert_eq!(c.flows.on_uplink_down, dataplane::nat::OnDown::Flush);
}

#[test]
fn uplink_errors_name_the_field() {
    let good = "uplinks:\n  - { name: isp1, port: srv1, gateway: 10.1.0.2, probe: { targets: [192.0.2.1] } }\n";
    let c = parse(&format!("{EXAMPLE}\n{good}"), "t").unwrap();
    assert_eq!(c.uplinks[0].interval_ms, 1000);
    assert_eq!((c.uplinks[0].down_after, c.uplinks[0].up_after), (3, 2));
    for (from, to, key) in [
        (
            "gateway: 10.1.0.2",
            "gateway: 10.9.0.2",
            "uplinks[0].gateway",
        ),
        (
            "port: srv1, gateway",
            "port: srv7, gateway",
            "uplinks[0].port",
        ),
        (
            "targets: [192.0.2.1]",
            "targets: []",
            "uplinks[0].probe.targets",
        ),
        (
            "targets: [192.0.2.1]",
            "targets: [nope]",
            "uplinks[0].probe.targets[0]",
        ),
        (
            "targets: [192.0.2.1] }",
            "targets: [192.0.2.1], interval-ms: 5 }",
            "uplinks[0].probe.interval-ms",
        ),
        (
            "targets: [192.0.2.1] }",
            "targets: [192.0.2.1], timeout-ms: 5000 }",
            "uplinks[0].probe.timeout-ms",
        ),
        (
            "targets: [192.0.2.1] }",
            "targets: [192.0.2.1], down-after: 0 }",
            "uplinks[0].probe.down-after",
        ),
    ] {
        let e = err(&format!("{EXAMPLE}\n{}", good.replace(from, to)));
        assert_eq!(e.key, key, "{to}: {e}");
    }
}

#[test]
fn unknown_key_refused() {
    let e = err(&EXAMPLE.replace("hash: { policy: l4 }", "hash: { polcy: l4 }"));
    assert!(e.message.contains("unknown field `polcy`"), "{e}");
    assert_eq!(e.line, 12);
}

#[test]
fn semantic_errors() {
    for (from, to, key, msg) in [
        (
            "198.51.100.0/24",
            "198.51.100.1/24",
            "routes[0].prefix",
            "host bits",
        ),
        (
            "via: 10.2.0.2",
            "via: 10.9.0.2",
            "routes[0].nexthops[1].via",
            "not on a subnet of port 'srv2'",
        ),
        (
            "via: 10.2.0.2",
            "via: fd02::2",
            "routes[0].nexthops[1].via",
            "same address family",
        ),
        (
            "policy: l4",
            "policy: l5",
            "hash.policy",
            "unknown hash policy",
        ),
        ("name: srv2", "name: srv1", "ports[2].name", "defined twice"),
        (
            "10.2.0.1/24",
            "10.2.0.1/33",
            "ports[2].addresses[0]",
            "not an interface address",
        ),
        (
            "listen: 127.0.0.1:9464",
            "listen: localhost",
            "api.listen",
            "address:port",
        ),
        (
            "weight: 1 }",
            "weight: 0 }",
            "routes[0].nexthops[0].weight",
            "outside",
        ),
    ] {
        let e = err(&EXAMPLE.replacen(from, to, 1));
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(msg), "{e}");
        assert!(e.line > 0 && e.column > 0, "{e}");
    }
}

#[test]
fn neighbors_and_syntax() {
    let c = parse(&format!("{EXAMPLE}neighbors: [{{ address: 10.1.0.2, mac: \"02:00:00:00:00:01\", port: srv1 }}]\n"), "t").unwrap();
    assert_eq!(c.neighbors[0].mac, MacAddr([2, 0, 0, 0, 0, 1]));
    let e = err(&format!(
        "{EXAMPLE}neighbors: [{{ address: 10.1.0.2, mac: \"02:00:00:00:01\", port: srv1 }}]\n"
    ));
    assert_eq!(e.key, "neighbors[0].mac");
    let e = err("ports: [ { name: a\n");
    assert!(e.line > 0, "{e}");
    let e = err("ports: []\n");
    assert_eq!(e.key, "ports");
    let e = err("routes: []\n");
    assert!(e.message.contains("ports"), "{e}");
}

#[test]
fn reject_routes() {
    let with = |extra: &str| EXAMPLE.replace("api: {", &format!("{extra}api: {{"));
    let c = parse(
            &with("  - { prefix: 192.0.2.0/24, type: blackhole }\n  - { prefix: 198.18.0.0/24, type: unreachable, metric: 7 }\n  - { prefix: \"2001:db8:dead::/48\", type: prohibit }\n"),
            "t",
        )
        .unwrap();
    let n = c.routes.len();
    assert_eq!(
        c.routes[n - 3..]
            .iter()
            .map(|r| (r.target, r.metric))
            .collect::<Vec<_>>(),
        [
            (RouteTarget::Reject(Reject::Blackhole), 0),
            (RouteTarget::Reject(Reject::Unreachable), 7),
            (RouteTarget::Reject(Reject::Prohibit), 0)
        ]
    );
    let e = err(&with("  - { prefix: 192.0.2.0/24, type: blackhole, nexthops: [{ via: 10.1.0.2, port: srv1 }] }\n"));
    assert!(
        e.key.ends_with(".nexthops") && e.message.contains("blackhole"),
        "{e}"
    );
    let e = err(&with("  - { prefix: 192.0.2.0/24, type: throw }\n"));
    assert!(
        e.key.ends_with(".type") && e.message.contains("throw"),
        "{e}"
    );
}

#[test]
fn kernel_interfaces_are_per_port_with_valid_names() {
    let c = parse(
            "kernel-interfaces: true\nports:\n  - { name: spine1, device: \"net_tap0,iface=sp1-wire\" }\n  - { name: hosts, device: \"net_tap1\", kernel-interface: false }\n",
            "t",
        )
        .unwrap();
    assert!(c.ports[0].kernel_interface);
    assert!(!c.ports[1].kernel_interface);
    // Off by default.
    let c = parse("ports:\n  - { name: a, device: net_null0 }\n", "t").unwrap();
    assert!(!c.ports[0].kernel_interface);
    let e = err(
        "kernel-interfaces: true\nports:\n  - { name: a-very-long-port-name, device: net_null0 }\n",
    );
    assert_eq!(e.key, "ports[0].name");
    assert!(e.message.contains("15 characters"), "{}", e.message);
    let e = err("kernel-interfaces: true\nports:\n  - { name: lo, device: net_null0 }\n");
    assert!(e.message.contains("reserved"), "{}", e.message);
    // A long name is fine for a port without a kernel interface.
    parse("kernel-interfaces: true\nports:\n  - { name: a-very-long-port-name, device: net_null0, kernel-interface: false }\n", "t").unwrap();
    let e = err("kernel-interfaces: true\nports:\n  - { name: spine1, device: \"net_tap0,iface=spine1\" }\n");
    assert_eq!(e.key, "ports[0].device");
    assert!(e.message.contains("another iface="), "{}", e.message);
}

#[test]
fn kernel_routes_need_kernel_interfaces() {
    let e = err("kernel-routes: true\nports:\n  - { name: a, device: net_null0 }\n");
    assert_eq!(e.key, "kernel-routes");
    let c = parse("kernel-interfaces: true\nkernel-routes: true\nports:\n  - { name: a, device: net_null0 }\n", "t").unwrap();
    assert!(c.kernel_routes);
    assert!(
        !parse("ports:\n  - { name: a, device: net_null0 }\n", "t")
            .unwrap()
            .kernel_routes
    );
}

#[test]
fn punt_policer_classes_and_peers() {
    let c = parse("ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  routing: { rate: 500 }\n  other: { rate: 10, burst: 5 }\n  peers: [10.1.0.2, fd01::2]\n", "t").unwrap();
    let d = PuntPolicerConfig::default();
    assert_eq!(c.punt_policer.limits[0].rate, 500);
    assert_eq!(c.punt_policer.limits[0].burst, d.limits[0].burst);
    assert_eq!(
        c.punt_policer.limits[3],
        dataplane::punt::Limit { rate: 10, burst: 5 }
    );
    assert_eq!(c.punt_policer.limits[1], d.limits[1]);
    assert_eq!(c.punt_policer.peers.len(), 2);
    let e =
        err("ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  peers: [10.1.0.300]\n");
    assert_eq!(e.key, "punt-policer.peers[0]");
    let e = err(
        "ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  arp-nd: { burst: 2000000 }\n",
    );
    assert_eq!(e.key, "punt-policer.arp-nd.burst");
    let e = err("ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  bgp: { rate: 1 }\n");
    assert!(e.message.contains("bgp"), "{}", e.message);
}

#[test]
fn monitor_link_defaults_to_auto_by_device() {
    let cfg = |dev: &str, ml: &str| {
        parse(
            &format!(
                "ports:\n  - {{ name: a, device: \"{dev}\", addresses: [10.0.0.1/24]{ml} }}\n"
            ),
            "t",
        )
        .map(|c| (c.ports[0].monitor_link_setting, c.ports[0].monitor_link))
    };
    // The default follows the device: the PMD's link state only where it means something.
    for dev in [
        "net_tap0,iface=lan",
        "net_tap_lab1,iface=x",
        "net_null0,no-rx=1",
        "net_ring0",
        "net_pcap0,rx_pcap=a.pcap",
    ] {
        assert_eq!(cfg(dev, "").unwrap(), (MonitorLink::Auto, false), "{dev}");
    }
    for dev in [
        "0000:03:00.0",
        "net_af_packet0,iface=eth1",
        "net_memif0",
        "net_tapper0",
    ] {
        assert_eq!(cfg(dev, "").unwrap(), (MonitorLink::Auto, true), "{dev}");
    }
    assert_eq!(
        cfg("net_tap0", ", monitor-link: true").unwrap(),
        (MonitorLink::On, true)
    );
    assert_eq!(
        cfg("0000:03:00.0", ", monitor-link: false").unwrap(),
        (MonitorLink::Off, false)
    );
    assert_eq!(
        cfg("net_tap0", ", monitor-link: auto").unwrap(),
        (MonitorLink::Auto, false)
    );
    let e = cfg("net_tap0", ", monitor-link: sometimes").unwrap_err();
    assert_eq!(e.key, "ports[0].monitor-link", "{e}");
    assert!(e.message.contains("auto"), "{e}");
}

const GROUPS: &str = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24, fd00::1/64], monitor-link: false }
hash: { policy: fields, fields: [src-ip, dst-port], seed: 7 }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 512
    idle-timer: 30
    unbalanced-timer: 600
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a, weight: 3 }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web }
  - { prefix: 203.0.113.0/24, nexthop-group: web, hash: { policy: l3-inner } }
  - prefix: 2001:db8::/32
    group: modulo
    hash: { policy: flowlabel, seed: 9 }
    nexthops: [{ via: fd00::2, port: a }]
liveness: { probe-interval-ms: 250, probe-failures: 2 }
";

#[test]
fn groups_policies_and_liveness() {
    let c = parse(GROUPS, "t").unwrap();
    assert_eq!(
        c.hash,
        HashConfig {
            policy: HashPolicy::Fields(FieldSet::default().with(Field::SrcIp).with(Field::DstPort)),
            seed: 7
        }
    );
    assert_eq!(c.groups.len(), 2);
    let web = &c.groups[0];
    assert_eq!(
        (
            web.algorithm,
            web.buckets,
            web.idle_timer_ms,
            web.unbalanced_timer_ms
        ),
        (Algorithm::Resilient, 512, 30_000, 600_000)
    );
    assert_eq!(
        (c.routes[0].target, c.routes[1].target, c.routes[2].target),
        (
            RouteTarget::Group(0),
            RouteTarget::Group(0),
            RouteTarget::Group(1)
        )
    );
    assert_eq!(c.routes[0].hash, c.hash);
    assert_eq!(
        c.routes[1].hash,
        HashConfig {
            policy: HashPolicy::L3Inner,
            seed: 7
        },
        "an override inherits the default seed"
    );
    assert_eq!(
        c.routes[2].hash,
        HashConfig {
            policy: HashPolicy::FlowLabel,
            seed: 9
        }
    );
    assert_eq!(c.groups[1].algorithm, Algorithm::Modulo);
    assert_eq!(
        c.liveness,
        Liveness {
            probe_interval_ms: 250,
            probe_failures: 2
        }
    );
    assert!(!c.ports[0].monitor_link);
}

#[test]
fn group_and_policy_errors() {
    for (from, to, key, msg) in [
        (
            "fields: [src-ip, dst-port]",
            "fields: [src-ip, dest-port]",
            "hash.fields[1]",
            "unknown field 'dest-port'",
        ),
        (
            "{ policy: fields, fields: [src-ip, dst-port], seed: 7 }",
            "{ policy: l4, fields: [src-ip] }",
            "hash.fields",
            "only allowed with policy 'fields'",
        ),
        (
            "{ policy: fields, fields: [src-ip, dst-port], seed: 7 }",
            "{ policy: fields }",
            "hash.fields",
            "needs a fields list",
        ),
        (
            "policy: l3-inner",
            "policy: l7",
            "routes[1].hash.policy",
            "unknown hash policy 'l7'",
        ),
        (
            "group: resilient",
            "group: random",
            "nexthop-groups[0].group",
            "unknown group algorithm",
        ),
        (
            "group: modulo",
            "group: modulo\n    buckets: 64",
            "routes[2].buckets",
            "resilient groups only",
        ),
        (
            "nexthop-group: web }",
            "nexthop-group: webb }",
            "routes[0].nexthop-group",
            "unknown nexthop group 'webb' (groups are: web)",
        ),
        (
            "buckets: 512",
            "buckets: 1",
            "nexthop-groups[0].buckets",
            "cannot hold 2 members",
        ),
        (
            "probe-failures: 2",
            "probe-failures: 0",
            "liveness.probe-failures",
            "outside",
        ),
        (
            "{ prefix: 203.0.113.0/24, nexthop-group: web,",
            "{ prefix: 203.0.113.0/24, nexthop-group: web, group: modulo,",
            "routes[1].group",
            "takes the algorithm from that group",
        ),
    ] {
        assert!(GROUPS.contains(from), "{from}");
        let e = err(&GROUPS.replacen(from, to, 1));
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(msg), "{e}");
    }
    let e = err(&GROUPS.replace(
        "- { prefix: 198.51.100.0/24, nexthop-group: web }",
        "- { prefix: 2001:db9::/32, nexthop-group: web }",
    ));
    assert!(e.message.contains("other address family"), "{e}");
    let e = err(&GROUPS.replace(
        "- { prefix: 198.51.100.0/24, nexthop-group: web }",
        "- { prefix: 198.51.100.0/24 }",
    ));
    assert!(
        e.message
            .contains("needs nexthops, a nexthop-group, or a type"),
        "{e}"
    );
}

#[test]
fn api_off_loopback_needs_a_token() {
    let e = err(&EXAMPLE.replace("listen: 127.0.0.1:9464", "listen: 0.0.0.0:9464"));
    assert_eq!(e.key, "api.listen");
    assert!(e.message.contains("set api.token"), "{e}");
    let e = err(&EXAMPLE.replace(
        "listen: 127.0.0.1:9464",
        "listen: 0.0.0.0:9464, token: short",
    ));
    assert_eq!(e.key, "api.token");
    let c = parse(
        &EXAMPLE.replace(
            "listen: 127.0.0.1:9464",
            "listen: \"[::]:9464\", token: 0123456789abcdef",
        ),
        "t",
    )
    .unwrap();
    assert_eq!(c.token.as_deref(), Some("0123456789abcdef"));
}

#[test]
fn fpm_section() {
    let c = parse(&format!("{EXAMPLE}fpm: {{ stale-time: 5 }}\n"), "t").unwrap();
    assert_eq!(
        c.fpm,
        Some(FpmConfig {
            listen: "127.0.0.1:2620".parse().unwrap(),
            stale_time_ms: 5000,
            max_routes: DEFAULT_FPM_MAX_ROUTES,
            max_nexthops: DEFAULT_FPM_MAX_NEXTHOPS,
        })
    );
    let c = parse(
        &format!("{EXAMPLE}fpm: {{ max-routes: 10, max-nexthops: 3 }}\n"),
        "t",
    )
    .unwrap();
    let f = c.fpm.unwrap();
    assert_eq!((f.max_routes, f.max_nexthops), (10, 3));
    let e = err(&format!("{EXAMPLE}fpm: {{ max-routes: 0 }}\n"));
    assert_eq!(e.key, "fpm.max-routes");
    assert_eq!(
        parse(EXAMPLE, "t").unwrap().fpm,
        None,
        "off unless configured"
    );
    let e = err(&format!("{EXAMPLE}fpm: {{ listen: 0.0.0.0:2620 }}\n"));
    assert_eq!(e.key, "fpm.listen");
    assert!(e.message.contains("loopback"), "{e}");
}

#[test]
fn vlan_sub_interfaces_and_their_errors() {
    let with = |vlans: &str| {
        EXAMPLE.replace(
            "    device: net_tap1,iface=srv1\n",
            &format!("    device: net_tap1,iface=srv1\n    vlans:\n{vlans}"),
        )
    };
    let good = "      - { id: 100, addresses: [10.100.0.1/24] }\n      - { id: 200, name: guest, addresses: [10.200.0.1/24], mtu: 1400 }\n";
    let c = parse(&with(good), "t").unwrap();
    assert_eq!(c.devices(), 3);
    assert_eq!(c.ports.len(), 5);
    assert_eq!(c.ports[3].name, "srv1.100");
    assert_eq!(
        c.ports[3].vlan,
        Some(VlanOf {
            parent: PortId(1),
            id: 100
        })
    );
    assert_eq!((c.ports[3].mtu, c.ports[4].mtu), (1500, 1400));
    assert_eq!(c.port_id("guest"), Some(PortId(4)));
    assert_eq!(c.vlan_port(PortId(1), 200), Some(PortId(4)));
    assert_eq!(c.device_of(PortId(4)), PortId(1));
    // A route through a sub-interface names it like a port.
    let routed = with(good).replace("port: srv2, weight: 2", "port: srv1.100, weight: 2");
    let routed = routed.replace("via: 10.2.0.2", "via: 10.100.0.2");
    parse(&routed, "t").unwrap();
    for (bad, key, says) in [
        (
            "      - { id: 0 }\n",
            "ports[1].vlans[0].id",
            "outside 1..=4094",
        ),
        (
            "      - { id: 4095 }\n",
            "ports[1].vlans[0].id",
            "outside 1..=4094",
        ),
        (
            "      - { id: -3 }\n",
            "ports[1].vlans[0].id",
            "outside 1..=4094",
        ),
        (
            "      - { id: 7 }\n      - { id: 7 }\n",
            "ports[1].vlans[1].id",
            "VLAN 7 is defined twice on port 'srv1'",
        ),
        (
            "      - { id: 7, name: lan }\n",
            "ports[1].vlans[0].name",
            "'lan' is defined twice",
        ),
        (
            "      - { id: 7, name: \"a b\" }\n",
            "ports[1].vlans[0].name",
            "not a valid interface name",
        ),
        (
            "      - { id: 7, mtu: 1600 }\n",
            "ports[1].vlans[0].mtu",
            "at most its port's",
        ),
        (
            "      - { id: 7, addresses: [10.1.0.1/24] }\n",
            "ports[1].vlans[0].addresses[0]",
            "already used",
        ),
        (
            "      - { id: 7, mtu: 1000, addresses: [\"fd07::1/64\"] }\n",
            "ports[1].vlans[0].addresses[0]",
            "IPv6 needs",
        ),
        (
            "      - { id: 7, vid: 8 }\n",
            "ports[1].vlans[0]",
            "unknown field",
        ),
    ] {
        let e = err(&with(bad));
        assert!(e.key.starts_with(key), "{bad}: key {} ({e})", e.key);
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
}

#[test]
fn bonds_and_their_errors() {
    let with = |srv1: &str| EXAMPLE.replace("    device: net_tap1,iface=srv1\n", srv1);
    let good = "    bond: { members: [\"net_af_packet0,iface=a\", \"net_af_packet1,iface=b\"] }\n";
    let c = parse(&with(good), "t").unwrap();
    let b = c.ports[1].bond.as_ref().unwrap();
    assert_eq!(
        b.members,
        ["net_af_packet0,iface=a", "net_af_packet1,iface=b"]
    );
    assert_eq!(b.xmit_hash_policy, XmitHashPolicy::Layer34, "the default");
    assert_eq!(
        c.ports[1].device,
        "net_bonding_ecmp1,mode=4,xmit_policy=l34,slave=net_af_packet0,slave=net_af_packet1"
    );
    assert!(c.ports[1].monitor_link, "a bond's link is monitored");
    // VLANs on the bond are fine; its policy by Linux's names.
    let c = parse(
        &with("    bond: { members: [net_af_packet0], mode: 802.3ad, xmit-hash-policy: layer2+3 }\n    vlans: [{ id: 5 }]\n"),
        "t",
    )
    .unwrap();
    assert_eq!(
        c.ports[1].bond.as_ref().unwrap().xmit_hash_policy,
        XmitHashPolicy::Layer23
    );
    assert!(c.ports[1].device.contains("xmit_policy=l23"));
    for (bad, key, says) in [
        (
            "    bond: { members: [] }\n",
            "ports[1].bond.members",
            "at least one member",
        ),
        (
            "    bond: { members: [net_af_packet0], mode: balance-rr }\n",
            "ports[1].bond.mode",
            "802.3ad",
        ),
        (
            "    bond: { members: [net_af_packet0], xmit-hash-policy: l34 }\n",
            "ports[1].bond.xmit-hash-policy",
            "not a transmit hash policy",
        ),
        (
            "    bond: { members: [\"net_af_packet0,iface=a\", \"net_af_packet0,iface=b\"] }\n",
            "ports[1].bond.members[1]",
            "a member twice",
        ),
        (
            "    bond: { members: [\"\"] }\n",
            "ports[1].bond.members[0]",
            "empty",
        ),
        (
            "    device: net_tap1,iface=srv1\n    bond: { members: [net_af_packet0] }\n",
            "ports[1].device",
            "no device of its own",
        ),
        (
            "    bond: { members: [net_af_packet0], lacp-rate: fast }\n",
            "ports[1].bond",
            "unknown field",
        ),
        // A member of srv1's bond is srv2's device too.
        (
            "    bond: { members: [net_tap2] }\n",
            "ports[2].device",
            "is a member of bond port 'srv1'",
        ),
        // A raw bonding device's slave= counts as well.
        (
            "    device: net_bonding0,mode=4,slave=net_tap2\n",
            "ports[2].device",
            "is a member of bond port 'srv1'",
        ),
    ] {
        let e = err(&with(bad));
        assert!(e.key.starts_with(key), "{bad}: key {} ({e})", e.key);
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
    let e = err(&EXAMPLE.replace("    device: net_tap1,iface=srv1\n", ""));
    assert_eq!(e.key, "ports[1].device");
    assert!(
        e.message.contains("a device (DPDK devargs) or a bond"),
        "{e}"
    );
    // A VLAN on a member.
    let e = err(&EXAMPLE
        .replace(
            "    device: net_tap1,iface=srv1\n",
            "    bond: { members: [net_tap2] }\n",
        )
        .replace(
            "    device: net_tap2,iface=srv2\n",
            "    device: net_tap2,iface=srv2\n    vlans: [{ id: 9 }]\n",
        ));
    assert_eq!(e.key, "ports[2].vlans[0]");
    assert!(e.message.contains("a VLAN on a bond member"), "{e}");
    // The same device in two bonds.
    let e = err(&EXAMPLE
        .replace(
            "    device: net_tap1,iface=srv1\n",
            "    bond: { members: [net_af_packet0] }\n",
        )
        .replace(
            "    device: net_tap2,iface=srv2\n",
            "    bond: { members: [\"net_af_packet0,iface=x\"] }\n",
        ));
    assert_eq!(e.key, "ports[2]");
    assert!(e.message.contains("in one bond at most"), "{e}");
}

#[test]
fn vrfs_and_their_errors() {
    // srv2 in blue, with srv1's address; the service route in both VRFs.
    let blue = |srv2: &str, extra: &str| {
        format!(
            "{}vrfs: {{ blue: {{ table: 10 }} }}\n{extra}",
            EXAMPLE
                .replace(
                    "    device: net_tap2,iface=srv2\n    addresses: [10.2.0.1/24, fd02::1/64]\n",
                    srv2,
                )
                .replace("      - { via: 10.2.0.2, port: srv2, weight: 2 }\n", "")
        )
    };
    let good = "    device: net_tap2,iface=srv2\n    addresses: [10.1.0.1/24, fd02::1/64]\n    vrf: blue\n";
    let route = "routes:\n  - { prefix: 198.51.100.0/24, vrf: blue, nexthops: [{ via: 10.1.0.2, port: srv2 }] }\n";
    let src = blue(good, "").replace("routes:\n", route);
    let c = parse(&src, "t").unwrap();
    assert_eq!(
        c.vrfs,
        [VrfConfig {
            name: "blue".into(),
            table: 10
        }]
    );
    assert_eq!((c.ports[1].vrf, c.ports[2].vrf), (0, 1));
    assert_eq!(c.vrf_table(1), 10);
    assert_eq!(
        (c.vrf_id("blue"), c.vrf_id("default"), c.vrf_id("red")),
        (Some(1), Some(0), None)
    );
    let blue_route = c.routes.iter().find(|r| r.table == 10).unwrap();
    assert_eq!(blue_route.prefix.to_string(), "198.51.100.0/24");
    assert!(
        c.routes
            .iter()
            .any(|r| r.table == MAIN_TABLE && r.prefix == blue_route.prefix),
        "the same prefix in main"
    );
    for (src, key, says) in [
        (
            format!("{EXAMPLE}vrfs: {{ blue: {{}} }}\n"),
            "vrfs.blue.table",
            "a VRF without a table",
        ),
        (
            format!("{EXAMPLE}vrfs: {{ blue: {{ table: 254 }} }}\n"),
            "vrfs.blue.table",
            "iproute2's table 'main'",
        ),
        (
            format!("{EXAMPLE}vrfs: {{ blue: {{ table: 10 }}, red: {{ table: 10 }} }}\n"),
            "vrfs.red.table",
            "VRF 'blue''s already",
        ),
        (
            format!("{EXAMPLE}vrfs: {{ main: {{ table: 10 }} }}\n"),
            "vrfs.main",
            "cannot name a VRF",
        ),
        (
            blue(&good.replace("vrf: blue", "vrf: red"), ""),
            "ports[2].vrf",
            "unknown VRF 'red' (VRFs are: default, blue)",
        ),
        (
            blue(
                &good.replace(
                    "vrf: blue\n",
                    "vrf: blue\n    vlans: [{ id: 5, vrf: green }]\n",
                ),
                "",
            ),
            "ports[2].vlans[0].vrf",
            "unknown VRF 'green'",
        ),
        (
            blue(
                &good.replace("10.1.0.1/24, fd02::1/64", "10.1.0.1/24, 10.1.0.1/16"),
                "",
            ),
            "ports[2].addresses[1]",
            "already used in this VRF",
        ),
        (
            blue(good, "").replace("routes:\n", &route.replace("port: srv2", "port: srv1")),
            "routes[0].nexthops",
            "port 'srv1' is in VRF default, the route in VRF blue",
        ),
        (
            blue(good, "").replace("routes:\n", &route.replace("vrf: blue, ", "")),
            "routes[0].nexthops",
            "port 'srv2' is in VRF blue, the route in VRF default",
        ),
        (
            blue(good, "").replace(
                "routes:\n",
                &route.replace("vrf: blue", "vrf: blue, table: 10"),
            ),
            "routes[0].table",
            "not both",
        ),
        (
            blue(good, "").replace("routes:\n", &route.replace("vrf: blue", "vrf: red")),
            "routes[0].vrf",
            "unknown VRF 'red'",
        ),
    ] {
        let e = err(&src);
        assert!(e.key.starts_with(key), "key {} ({e})", e.key);
        assert!(e.to_string().contains(says), "{e}");
    }
    // Without VRFs, srv1's address on srv2 is refused as before.
    let e = err(&EXAMPLE.replace("[10.2.0.1/24, fd02::1/64]", "[10.1.0.1/24, fd02::1/64]"));
    assert!(e.message.contains("already used"), "{e}");
}
