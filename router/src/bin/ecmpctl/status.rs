//! `ecmpctl uplink`, `port`, `flow`, `stats` and `reload`: the router's
//! state, printed as lines (or its JSON under `-j`).

use crate::call::{call, get, http, pages};
use crate::types::*;
use crate::{enc, show, unknown, Opts, Usage};

pub(crate) fn print_flows(flows: &[Flow]) {
    for f in flows {
        let proto = match f.proto {
            6 => "tcp".to_owned(),
            17 => "udp".to_owned(),
            1 => "icmp".to_owned(),
            n => n.to_string(),
        };
        let (via, dev) = f
            .nexthop
            .as_ref()
            .map_or(("?", "?"), |n| (n.via.as_str(), n.port.as_str()));
        say!(
            "{proto} {} {} <-> {} {} via {via} dev {dev} {} packets {} idle {}ms expires {}ms worker {}",
            f.a.addr,
            f.a.port,
            f.b.addr,
            f.b.port,
            f.tcp_state,
            f.packets,
            f.idle_ms,
            f.expires_in_ms,
            f.worker
        );
    }
}

pub(crate) fn print_uplinks(uplinks: &[Uplink]) {
    for u in uplinks {
        say!(
            "{} via {} dev {} {} for {}ms loss {}% rounds {} transitions {}",
            u.name,
            u.gateway,
            u.port,
            u.state.to_uppercase(),
            u.since_ms,
            u.loss_pct,
            u.rounds,
            u.transitions
        );
        for t in &u.targets {
            let rtt = t
                .last_rtt_us
                .map_or("-".to_owned(), |r| format!("{:.2}ms", r as f64 / 1000.0));
            say!(
                "\tprobe {} sent {} answered {} rtt {}",
                t.addr,
                t.sent,
                t.answered,
                rtt
            );
        }
    }
}

pub(crate) fn print_ports(ports: &[Port]) {
    for p in ports {
        // iproute2's name@link for a VLAN device.
        let name = match &p.link {
            Some(l) => format!("{}@{l}", p.name),
            None => p.name.clone(),
        };
        say!(
            "{}: {} mtu {} link/ether {} device {} monitor-link {} ({})",
            name,
            if p.link_up { "UP" } else { "DOWN" },
            p.mtu,
            p.mac.as_deref().unwrap_or("?"),
            p.device,
            p.monitor_link,
            if p.monitor_link_effective {
                "used"
            } else {
                "ignored"
            }
        );
        say!("\tinet {}", p.addresses.join(" "));
        if let Some(id) = p.vlan_id {
            // Its packets are counted on its trunk's device.
            say!("\tvlan protocol 802.1Q id {id}");
            continue;
        }
        say!(
            "\tRX: packets {} bytes {} missed {} errors {} nombuf {}",
            p.rx_packets,
            p.rx_bytes,
            p.rx_missed,
            p.rx_errors,
            p.rx_nombuf
        );
        say!(
            "\tTX: packets {} bytes {} errors {}",
            p.tx_packets,
            p.tx_bytes,
            p.tx_errors
        );
        if let Some(b) = &p.bond {
            print_bond(b);
        }
    }
}

/// A bond and its members, in iproute2's words (`ip -d link show`: `bond
/// mode 802.3ad`, and each member's `bond_slave` line).
fn print_bond(b: &Bond) {
    say!(
        "\tbond mode {} xmit_hash_policy {} active_members {}/{}",
        b.mode,
        b.xmit_hash_policy.as_deref().unwrap_or("-"),
        b.active_members,
        b.members.len()
    );
    for m in &b.members {
        say!(
            "\tmember {} state {} mii_status {} RX packets {} TX packets {}",
            m.name,
            if m.active { "ACTIVE" } else { "BACKUP" },
            if m.link_up { "UP" } else { "DOWN" },
            m.rx_packets,
            m.tx_packets
        );
        if let Some(l) = &m.lacp {
            let flags = |f: &[String]| f.join(",");
            say!(
                "\t    ad_aggregator_id {} ad_actor_system {} ad_actor_key {} ad_actor_port {} ad_actor_oper_port_state {} ad_actor_oper_port_state_str <{}>",
                l.aggregator_id,
                l.actor.system,
                l.actor.key,
                l.actor.port,
                l.actor.state,
                flags(&l.actor.state_flags)
            );
            say!(
                "\t    ad_partner_system {} ad_partner_key {} ad_partner_port {} ad_partner_oper_port_state {} ad_partner_oper_port_state_str <{}>",
                l.partner.system,
                l.partner.key,
                l.partner.port,
                l.partner.state,
                flags(&l.partner.state_flags)
            );
        }
    }
}

/// `uplink`, `port`, `reload`, `stats` and `flow`.
pub(crate) fn other_cmd(api: &str, opts: Opts, a: &[&str]) -> Result<Result<(), String>, Usage> {
    let r = match a {
        ["uplink" | "uplinks", "show"] | ["uplink" | "uplinks"] => {
            get::<Vec<Uplink>>(api, "/api/v1/uplinks").map(|v| show(opts, &v[..], &print_uplinks))
        }
        ["port" | "link", "show"] | ["port" | "link"] => {
            get::<Vec<Port>>(api, "/api/v1/ports").map(|v| show(opts, &v[..], &print_ports))
        }
        ["reload"] => {
            call::<Written>(api, "POST", "/api/v1/reload", None).map(|v| match opts.json {
                true => opts.print_json(&v),
                false => say!("reloaded (FIB generation {})", v.fib_generation),
            })
        }
        ["stats"] => http(api, "GET", "/metrics", None).and_then(|(code, text)| {
            if code != 200 {
                return Err(format!("/metrics answered {code}"));
            }
            // Every non-zero counter, and the alarms even at 0: a link down,
            // zebra not connected, a nexthop down are what an operator looks for.
            let alarm = |l: &str| {
                [
                    "ecmp_router_port_link_up",
                    "ecmp_router_fpm_connected",
                    "ecmp_router_nexthop_up",
                ]
                .iter()
                .any(|a| l.strip_prefix(a).is_some_and(|r| r.starts_with(['{', ' '])))
            };
            for l in text
                .lines()
                .filter(|l| !l.starts_with('#') && (!l.ends_with(" 0") || alarm(l)))
            {
                say!("{l}");
            }
            Ok(())
        }),
        ["flow" | "flows", "show", rest @ ..] | ["flow" | "flows", rest @ ..] => {
            let mut qs: Vec<String> = Vec::new();
            let mut it = rest.iter();
            while let Some(k) = it.next() {
                let key = match *k {
                    "addr" | "port" | "proto" | "worker" | "limit" => *k,
                    other => return Err(Usage(format!("flow show: unexpected '{other}' (expected addr, port, proto, worker or limit)"))),
                };
                let v = it
                    .next()
                    .ok_or_else(|| Usage(format!("{key} needs a value")))?;
                qs.push(format!("{key}={}", enc(v)));
            }
            // `limit` is the size of each page; every page is shown.
            let q = if qs.is_empty() {
                String::new()
            } else {
                format!("?{}", qs.join("&"))
            };
            if opts.json {
                let mut all: Vec<Flow> = Vec::new();
                pages(api, "/api/v1/flows", &q, |v: Vec<Flow>| all.extend(v))
                    .map(|()| show(opts, &all[..], &print_flows))
            } else {
                pages(api, "/api/v1/flows", &q, |v: Vec<Flow>| print_flows(&v))
            }
        }
        [] => return Err(Usage("a command is needed".into())),
        other => return Err(unknown(other)),
    };
    Ok(r)
}
