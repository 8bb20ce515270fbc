//! `ecmpctl`: drives the ecmp-router API with the syntax operators know from iproute2.
//!
//! ```text
//! ecmpctl [--api ADDR] [-j] [-p] [-d] [-4|-6] route show [table T|all] [proto P] [dev D] [[exact|root|match] PREFIX]
//!         (as `ip route show`: the main table unless `table` says otherwise; -d adds the
//!         inactive routes and the router's own attributes: origin, group, hash, sticky)
//! ecmpctl route add|replace PREFIX [table T] [metric M] [proto static] [group ALGO] [hash POLICY] [sticky]
//!         nexthop via ADDR dev PORT [weight W] [nexthop via ...]
//! ecmpctl route add|replace PREFIX via ADDR dev PORT            (single path)
//! ecmpctl route add|replace PREFIX [table T] [hash POLICY] nhg GROUP  (a named group)
//! ecmpctl route del PREFIX [table T]
//! ecmpctl route get ADDR [from SRC] [iif PORT] [ipproto tcp|udp|sctp|icmp|N] [sport N] [dport N]
//! ecmpctl nexthop show | nexthop disable|enable ADDR dev PORT
//! ecmpctl nexthop add|del via ADDR dev PORT
//! ecmpctl group show
//! ecmpctl group add|replace NAME [group ALGO] nexthop via ADDR dev PORT [weight W] [nexthop ...]
//! ecmpctl group del NAME
//! ecmpctl uplink show
//! ecmpctl port show
//! ecmpctl neigh show [dev PORT] | neigh flush [dev PORT]
//! ecmpctl flow show [addr A] [port N] [proto P] [worker W] [limit N]
//! ecmpctl stats
//! ecmpctl reload
//! ```
//!
//! The API comes from `--api` (ADDR:PORT, or the path of the API's Unix socket), else
//! `ECMP_ROUTER_API`, else the socket /run/ecmp-router/api.sock when a router answers
//! there, else 127.0.0.1:9464.
//! A bearer token (for a router with `api.token`) comes from `--token-file FILE`, else
//! `ECMP_ROUTER_TOKEN`; never from the command line itself.
//! Exit status: 0 on success, 1 when the router refused the request, 2 on a usage error
//! or when the router cannot be reached.

/// `println!` that ends the program quietly when stdout is gone
/// (`ecmpctl route show | head`): a closed pipe is not an error.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

mod call;
mod client;
mod nexthop;
mod route;
/// The API's types: the server's own (one set for the server, the OpenAPI
/// description and this client), so a renamed field breaks this build.
#[path = "../../api/types.rs"]
#[allow(dead_code)]
mod types;

use call::{call, get, http, pages};
use serde::Serialize;
use serde_json::{json, Value};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use types::{
    Flow, Flushed, Group, GroupInput, GroupWritten, HashInput, Member, Nexthop, NexthopInput, Port,
    Route, RouteGet, RouteInput, TableRef, Uplink, Written,
};

const DEFAULT_API: &str = "127.0.0.1:9464";
/// The socket of the shipped config and systemd unit (`api.socket`).
const DEFAULT_SOCKET: &str = "/run/ecmp-router/api.sock";

static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

#[derive(Debug)]
struct Usage(String);

fn take<'a>(args: &mut std::slice::Iter<'a, String>, what: &str) -> Result<&'a str, Usage> {
    args.next()
        .map(String::as_str)
        .ok_or_else(|| Usage(format!("{what} needs a value")))
}

fn enc(s: &str) -> String {
    s.replace('/', "%2F").replace(':', "%3A")
}

/// `route add|replace` arguments as the API's request body.
fn route_body(args: &[String]) -> Result<RouteInput, Usage> {
    // iproute2's route types lead: `route add blackhole PREFIX`.
    let kind = args
        .first()
        .map(String::as_str)
        .filter(|a| matches!(*a, "unicast" | "blackhole" | "unreachable" | "prohibit"));
    let rest = &args[kind.is_some() as usize..];
    let prefix = match rest.first().map(String::as_str) {
        Some("default") => {
            // The family from the first gateway (`via`), IPv4 when there is none.
            let v6 = rest
                .iter()
                .skip_while(|a| *a != "via")
                .nth(1)
                .is_some_and(|g| g.contains(':'));
            if v6 {
                "::/0"
            } else {
                "0.0.0.0/0"
            }
        }
        Some(p) => p,
        None => return Err(Usage("route add needs a prefix".into())),
    };
    let mut body = RouteInput {
        prefix: prefix.to_owned(),
        kind: kind.filter(|k| *k != "unicast").map(str::to_owned),
        ..RouteInput::default()
    };
    let mut it = rest[1..].iter();
    let mut nexthops: Vec<Member> = Vec::new();
    let mut cur: Option<Member> = None;
    let number = |what: &str, v: &str| {
        v.parse::<u32>()
            .map_err(|_| Usage(format!("{what} '{v}' is not a number")))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "table" => {
                let t = take(&mut it, "table")?;
                body.table = Some(TableRef::Id(route::table_id(t).ok_or_else(|| {
                    Usage(format!("table '{t}': expected main, default, local or an id"))
                })?));
            }
            "group" => body.group = Some(take(&mut it, "group")?.to_owned()),
            "hash" => {
                body.hash = Some(HashInput {
                    policy: Some(take(&mut it, "hash")?.to_owned()),
                    ..HashInput::default()
                })
            }
            "nhg" => body.nexthop_group = Some(take(&mut it, "nhg")?.to_owned()),
            "sticky" => body.sticky = Some(true),
            "metric" | "preference" | "priority" => {
                body.metric = Some(number("metric", take(&mut it, a)?)?)
            }
            // The router's own routes are static, as `proto static` says.
            "proto" | "protocol" => match take(&mut it, a)? {
                "static" => {}
                p => return Err(Usage(format!("proto {p}: routes added here are proto static (FRR's come over FPM)"))),
            },
            "nexthop" => nexthops.extend(cur.replace(Member {
                via: String::new(),
                port: None,
                weight: None,
            })),
            "via" | "dev" | "weight" => {
                let n = cur.get_or_insert_with(|| Member {
                    via: String::new(),
                    port: None,
                    weight: None,
                });
                let v = take(&mut it, a)?;
                match a.as_str() {
                    "via" => n.via = v.to_owned(),
                    "dev" => n.port = Some(v.to_owned()),
                    _ => n.weight = Some(number("weight", v)?),
                }
            }
            other => return Err(Usage(format!("unexpected '{other}' in route add (expected table, group, hash, sticky, metric, proto, nhg, nexthop, via, dev or weight)"))),
        }
    }
    nexthops.extend(cur);
    if nexthops.is_empty() && (body.nexthop_group.is_some() || body.kind.is_some()) {
        return Ok(body);
    }
    if nexthops.is_empty() {
        return Err(Usage(
            "route add needs at least one 'nexthop via ADDR dev PORT' (or 'via ADDR dev PORT')"
                .into(),
        ));
    }
    body.nexthops = Some(nexthops);
    Ok(body)
}

/// `group add|replace NAME ...` arguments as the API's request body: the
/// words of `route add` that a group takes.
fn group_body(name: &str, args: &[String]) -> Result<GroupInput, Usage> {
    let r = route_body(args)?;
    let route_only = [
        ("table", r.table.is_some()),
        ("hash", r.hash.is_some()),
        ("nhg", r.nexthop_group.is_some()),
        ("sticky", r.sticky.is_some()),
        ("metric", r.metric.is_some()),
        ("a route type", r.kind.is_some()),
    ];
    if let Some((w, _)) = route_only.iter().find(|(_, set)| *set) {
        return Err(Usage(format!(
            "group add: {w} is a route's, not a group's (a group takes group, nexthop, via, dev and weight)"
        )));
    }
    Ok(GroupInput {
        name: name.to_owned(),
        nexthops: r.nexthops.unwrap_or_default(),
        group: r.group,
        buckets: r.buckets,
        idle_timer: r.idle_timer,
        unbalanced_timer: r.unbalanced_timer,
    })
}

fn print_flows(flows: &[Flow]) {
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

fn print_uplinks(uplinks: &[Uplink]) {
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

fn print_ports(ports: &[Port]) {
    for p in ports {
        say!(
            "{}: {} mtu {} link/ether {} device {} monitor-link {} ({})",
            p.name,
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
    }
}

/// The options before or between the command's words, as `ip` takes them.
#[derive(Clone, Copy, Default)]
struct Opts {
    /// `-j`, `--json`: JSON out, compact.
    json: bool,
    /// `-p`, `--pretty`: JSON indented.
    pretty: bool,
    /// `-4` / `-6`.
    family: Option<u8>,
    /// `-d`, `--details`.
    details: bool,
}

impl Opts {
    fn print_json<T: Serialize + ?Sized>(&self, v: &T) {
        let s = if self.pretty {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        };
        say!("{}", s.unwrap_or_default());
    }
}

/// iproute2-style objects: as a JSON array under `-j`, else a line each.
fn print_objects(opts: Opts, objs: Vec<Value>, line: fn(&Value) -> String) {
    if opts.json {
        opts.print_json(&Value::Array(objs));
    } else {
        for o in &objs {
            say!("{}", line(o));
        }
    }
}

/// `route show`: the routes of the tables `s` names, as `ip route show`.
fn route_show(api: &str, opts: Opts, s: &route::Show) -> Result<(), String> {
    use route::{Select, Tables, TABLE_LOCAL, TABLE_MAIN};
    let mut q = match s.tables {
        Tables::One(t) => format!("?table={t}"),
        Tables::All => String::new(),
    };
    // The API keeps routes inside a prefix; the exact and root selections
    // are inside it too, so the router sends only those.
    if let Some(Select::Exact(p) | Select::Root(p)) = s.select {
        let sep = if q.is_empty() { '?' } else { '&' };
        q.push_str(&format!(
            "{sep}prefix={}",
            enc(&format!("{}/{}", p.addr, p.len))
        ));
    }
    let mut objs: Vec<Value> = Vec::new();
    pages(api, "/api/v1/routes", &q, |routes: Vec<Route>| {
        objs.extend(routes.iter().filter_map(|r| route::route_object(r, s)))
    })?;
    let system_tables: &[u32] = match s.tables {
        Tables::One(TABLE_MAIN) => &[TABLE_MAIN],
        Tables::One(TABLE_LOCAL) => &[TABLE_LOCAL],
        Tables::One(_) => &[],
        Tables::All => &[TABLE_MAIN, TABLE_LOCAL],
    };
    if !system_tables.is_empty() {
        let ports: Vec<Port> = get(api, "/api/v1/ports")?;
        for &t in system_tables {
            for mut o in route::system_objects(&ports, t) {
                if t == TABLE_LOCAL && s.tables == Tables::All {
                    o["table"] = json!("local");
                }
                objs.push(o);
            }
        }
    }
    objs.retain(|o| route::keep(o, s));
    objs.iter_mut().for_each(|o| route::trim(o, s));
    // Main before local, then the kernel's order within a table.
    objs.sort_by_key(|o| (o["table"].is_string(), route::order(o)));
    print_objects(opts, objs, route::text);
    Ok(())
}

/// `other` is no command: the whole command line, as typed.
fn unknown(other: &[&str]) -> Usage {
    Usage(format!("unknown command '{}'", other.join(" ")))
}

/// A read's answer: JSON under -j, else `pretty`.
fn show<T: Serialize + ?Sized>(opts: Opts, v: &T, pretty: &dyn Fn(&T)) {
    if opts.json {
        opts.print_json(v);
    } else {
        pretty(v);
    }
}

/// A write's answer: under -j, what the router said.
fn wrote<T: Serialize>(opts: Opts, r: Result<T, String>) -> Result<(), String> {
    r.map(|v| {
        if opts.json {
            opts.print_json(&v);
        }
    })
}

fn run(api: &str, opts: Opts, args: &[String]) -> Result<Result<(), String>, Usage> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["route", ..] => route_cmd(api, opts, args, &a),
        ["nexthop" | "nh", "group" | "groups", "show"]
        | ["nexthop" | "nh", "show", "groups"]
        | ["group" | "nhg", ..] => group_cmd(api, opts, args, &a),
        ["nexthop" | "nh", ..] => nexthop_cmd(api, opts, &a),
        ["neigh" | "neighbor", ..] => neigh_cmd(api, opts, &a),
        _ => other_cmd(api, opts, &a),
    }
}

/// `route ...`: show, add, replace, del, get.
fn route_cmd(
    api: &str,
    opts: Opts,
    args: &[String],
    a: &[&str],
) -> Result<Result<(), String>, Usage> {
    let r = match a {
        ["route", "show" | "list" | "ls", rest @ ..] => {
            let sh = route::parse_show(rest, opts.family, opts.details).map_err(Usage)?;
            route_show(api, opts, &sh)
        }
        ["route"] => {
            let sh = route::parse_show(&[], opts.family, opts.details).map_err(Usage)?;
            route_show(api, opts, &sh)
        }
        ["route", op @ ("add" | "replace"), ..] => {
            let body = route_body(&args[2..])?;
            let method = if *op == "add" { "POST" } else { "PUT" };
            wrote(
                opts,
                call::<Written>(api, method, "/api/v1/routes", Some(&body)),
            )
        }
        ["route", "del" | "delete", prefix, rest @ ..] => {
            let t = match rest {
                ["table", t] => format!(
                    "&table={}",
                    route::table_id(t).ok_or_else(|| Usage(format!(
                        "table '{t}': expected main, default, local or an id"
                    )))?
                ),
                [] => String::new(),
                _ => return Err(Usage("route del PREFIX [table T]".into())),
            };
            let path = format!("/api/v1/routes?prefix={}{t}", enc(prefix));
            wrote(opts, call::<Written>(api, "DELETE", &path, None))
        }
        ["route", "get", dst, rest @ ..] => route_get(api, opts, dst, rest)?,
        other => return Err(unknown(other)),
    };
    Ok(r)
}

/// `route get DST [from S] [iif P] [ipproto P] [sport N] [dport N]`, as
/// `ip route get` prints it, with the route, its origin and the hash.
fn route_get(api: &str, opts: Opts, dst: &str, rest: &[&str]) -> Result<Result<(), String>, Usage> {
    let mut q = format!("dst={}", enc(dst));
    let mut it = rest.iter();
    while let Some(k) = it.next() {
        let key = match *k {
            "from" => "src",
            // iproute2's word for the protocol; `proto` stays.
            "ipproto" | "proto" => "proto",
            "sport" | "dport" | "iif" => k,
            other => {
                return Err(Usage(format!(
                "unexpected '{other}' in route get (expected from, iif, ipproto, sport or dport)"
            )))
            }
        };
        let v = it
            .next()
            .ok_or_else(|| Usage(format!("{k} needs a value")))?;
        q.push_str(&format!("&{key}={}", enc(v)));
    }
    Ok(
        get::<RouteGet>(api, &format!("/api/v1/route/get?{q}")).map(|v| {
            show(opts, &v, &|v: &RouteGet| {
                // As `ip route get`: DST [from SRC] via GW dev D [iif P],
                // then what the router adds: the route, its origin, the hash.
                let mut line = dst.to_string();
                let word = |w: &str| {
                    rest.iter()
                        .position(|x| *x == w)
                        .and_then(|i| rest.get(i + 1))
                };
                if let Some(s) = word("from") {
                    line.push_str(&format!(" from {s}"));
                }
                match &v.nexthop {
                    Some(nh) if v.kind == "connected" => {
                        line.push_str(&format!(" dev {}", nh.port))
                    }
                    Some(nh) => line.push_str(&format!(" via {} dev {}", nh.via, nh.port)),
                    None => line.push_str(&format!(" {}", v.kind)),
                }
                if let Some(p) = word("iif") {
                    line.push_str(&format!(" iif {p}"));
                }
                match &v.prefix {
                    Some(p) => line.push_str(&format!(
                        " route {p} origin {}",
                        v.origin.as_deref().unwrap_or("?")
                    )),
                    None if v.kind == "connected" => line.push_str(" route connected"),
                    None => {}
                }
                if let Some(h) = v.hash {
                    line.push_str(&format!(" hash 0x{h:08x}"));
                }
                say!("{line}");
            })
        }),
    )
}

/// `nexthop ...`: show (as `ip nexthop show`: the nexthops, then the groups), add, del, disable, enable.
fn nexthop_cmd(api: &str, opts: Opts, a: &[&str]) -> Result<Result<(), String>, Usage> {
    let r = match a {
        ["nexthop" | "nh", "show"] | ["nexthop" | "nh"] => {
            get::<Vec<Nexthop>>(api, "/api/v1/nexthops")
                .and_then(|n| Ok((n, get::<Vec<Group>>(api, "/api/v1/groups")?)))
                .map(|(n, g)| {
                    let mut objs: Vec<Value> = n
                        .iter()
                        .map(|n| nexthop::nexthop_object(n, opts.details))
                        .collect();
                    objs.extend(g.iter().map(|g| nexthop::group_object(g, opts.details)));
                    print_objects(opts, objs, nexthop::text)
                })
        }
        ["nexthop" | "nh", "add", "via", addr, "dev", port] => call::<Nexthop>(
            api,
            "POST",
            "/api/v1/nexthops",
            Some(&NexthopInput {
                via: (*addr).to_owned(),
                port: (*port).to_owned(),
            }),
        )
        .map(|v| {
            print_objects(
                opts,
                vec![nexthop::nexthop_object(&v, opts.details)],
                nexthop::text,
            )
        }),
        ["nexthop" | "nh", "del" | "delete", "via", addr, "dev", port] => call::<types::Done>(
            api,
            "DELETE",
            &format!("/api/v1/nexthops/{port}/{}", enc(addr)),
            None,
        )
        .map(|v| match opts.json {
            true => opts.print_json(&v),
            false => say!("nexthop {addr} dev {port} deleted"),
        }),
        ["nexthop" | "nh", op @ ("disable" | "enable"), addr, "dev", port] => call::<Nexthop>(
            api,
            "POST",
            &format!("/api/v1/nexthops/{port}/{}/{op}", enc(addr)),
            None,
        )
        .map(|v| {
            print_objects(
                opts,
                vec![nexthop::nexthop_object(&v, opts.details)],
                nexthop::text,
            )
        }),
        other => return Err(unknown(other)),
    };
    Ok(r)
}

/// `neigh show`, as `ip neigh show`; `q` picks a port.
fn neigh_show(api: &str, opts: Opts, q: &str) -> Result<(), String> {
    get::<Vec<Nexthop>>(api, &format!("/api/v1/neighbors{q}")).map(|v| {
        print_objects(
            opts,
            v.iter().map(nexthop::neigh_object).collect(),
            nexthop::neigh_text,
        )
    })
}

/// `neigh ...`: show [dev PORT], flush [dev PORT].
fn neigh_cmd(api: &str, opts: Opts, a: &[&str]) -> Result<Result<(), String>, Usage> {
    let r = match a {
        ["neigh" | "neighbor"] | ["neigh" | "neighbor", "show"] => neigh_show(api, opts, ""),
        ["neigh" | "neighbor", "show", "dev", port] => {
            neigh_show(api, opts, &format!("?port={port}"))
        }
        ["neigh" | "neighbor", "flush", rest @ ..] => {
            let q = match rest {
                [] | ["all"] => String::new(),
                ["dev", port] => format!("?dev={port}"),
                _ => return Err(Usage("neigh flush [dev PORT]".into())),
            };
            call::<Flushed>(api, "POST", &format!("/api/v1/neighbors/flush{q}"), None).map(|v| {
                if opts.json {
                    opts.print_json(&v);
                } else {
                    say!("flushed {} learned host(s)", v.flushed);
                }
            })
        }
        other => return Err(unknown(other)),
    };
    Ok(r)
}

/// `group ...` (and `nexthop group show`): show, add, replace, del.
fn group_cmd(
    api: &str,
    opts: Opts,
    args: &[String],
    a: &[&str],
) -> Result<Result<(), String>, Usage> {
    let r = match a {
        ["group" | "nhg", "show"]
        | ["group" | "nhg"]
        | ["nexthop" | "nh", "group" | "groups", "show"]
        | ["nexthop" | "nh", "show", "groups"] => {
            get::<Vec<Group>>(api, "/api/v1/groups").map(|g| {
                let objs = g
                    .iter()
                    .map(|g| nexthop::group_object(g, opts.details))
                    .collect();
                print_objects(opts, objs, nexthop::text)
            })
        }
        ["group" | "nhg", op @ ("add" | "replace"), name, ..] => {
            // `route add`'s words after the name; a prefix first for its parser.
            let words: Vec<String> = std::iter::once("0.0.0.0/0".to_owned())
                .chain(args[3..].iter().cloned())
                .collect();
            let body = group_body(name, &words)?;
            let method = if *op == "add" { "POST" } else { "PUT" };
            call::<GroupWritten>(api, method, "/api/v1/groups", Some(&body)).map(|v| {
                if opts.json {
                    return opts.print_json(&v);
                }
                say!(
                    "group {} {} (FIB generation {})",
                    v.group.as_ref().map_or(*name, |g| g.name.as_str()),
                    if *op == "add" { "added" } else { "replaced" },
                    v.fib_generation
                )
            })
        }
        ["group" | "nhg", "del" | "delete", name] => {
            call::<Written>(api, "DELETE", &format!("/api/v1/groups/{name}"), None).map(|v| {
                if opts.json {
                    return opts.print_json(&v);
                }
                say!("group {name} deleted (FIB generation {})", v.fib_generation)
            })
        }
        other => return Err(unknown(other)),
    };
    Ok(r)
}

/// `uplink`, `port`, `reload`, `stats` and `flow`.
fn other_cmd(api: &str, opts: Opts, a: &[&str]) -> Result<Result<(), String>, Usage> {
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

/// The command words of `ecmpctl --help`: this file's opening comment.
fn words_help() -> String {
    include_str!("main.rs")
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ecmpctl`'s options. They come before the command words, as `ip`'s do,
/// or among them (see [`options_first`]); short ones bundle (`-dj`, `-6jp`).
#[derive(clap::Parser)]
#[command(
    name = "ecmpctl",
    version,
    about = "Drives a running ecmp-router through its API, with iproute2's words.",
    after_long_help = words_help(),
    after_help = "Commands: route, nexthop, group, neigh, uplink, port, flow, stats, reload (--help lists their words)."
)]
struct Cli {
    /// The API: ADDR:PORT, or the path of its Unix socket [default: $ECMP_ROUTER_API, else
    /// /run/ecmp-router/api.sock when a router answers there, else 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR")]
    api: Option<String>,
    /// JSON out (iproute2's keys for route, nexthop and neigh), compact.
    #[arg(short = 'j', long)]
    json: bool,
    /// Indented JSON.
    #[arg(short = 'p', long)]
    pretty: bool,
    /// The router's own attributes and the inactive routes too.
    #[arg(short = 'd', long)]
    details: bool,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    ipv6: bool,
    /// A file holding the API's bearer token [default: $ECMP_ROUTER_TOKEN].
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// Refused: a token on the command line is visible to every user (ps).
    #[arg(long, hide = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Prints a completion script for SHELL and exits.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
    /// Prints the manual page, ecmpctl(8), in roff and exits (the package's build runs it).
    #[arg(long, hide = true)]
    man: bool,
    /// The command, in iproute2's words (route show, nexthop show, ...).
    #[arg(trailing_var_arg = true, value_name = "WORDS")]
    words: Vec<String>,
}

/// The arguments with every option that came among the command words moved
/// before them (`ecmpctl route show -j` is `ecmpctl -j route show`), so that
/// clap checks them as it checks the leading ones: an unknown option is a
/// usage error, never a word. `None`: no option among the words.
fn options_first(args: &[String], words: &[String]) -> Option<Vec<String>> {
    const VALUED: [&str; 3] = ["--api", "--token-file", "--completions"];
    let (mut opts, mut rest) = (Vec::new(), Vec::new());
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w.len() > 1 && w.starts_with('-') {
            opts.push(w.clone());
            if VALUED.contains(&w.as_str()) {
                opts.extend(it.next().cloned());
            }
        } else {
            rest.push(w.clone());
        }
    }
    if opts.is_empty() {
        return None;
    }
    let lead = &args[..args.len() - words.len()];
    Some(
        lead.iter()
            .cloned()
            .chain(opts)
            .chain(["--".to_owned()])
            .chain(rest)
            .collect(),
    )
}

fn main() -> ExitCode {
    use clap::{CommandFactory, Parser};
    let mut cli = Cli::parse();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(a) = options_first(&args, &cli.words) {
        cli = Cli::parse_from(a);
    }
    if let Some(shell) = cli.completions {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "ecmpctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    if cli.man {
        let page = clap_mangen::Man::new(Cli::command()).section("8");
        return match page.render(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: writing the manual page: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.token.is_some() {
        eprintln!("Error: --token is gone: a token on the command line is visible to every user (ps); use ECMP_ROUTER_TOKEN or --token-file FILE");
        return ExitCode::from(2);
    }
    // The socket first (file permissions are its access control), then TCP.
    let api = cli
        .api
        .or_else(|| std::env::var("ECMP_ROUTER_API").ok())
        .unwrap_or_else(|| {
            if UnixStream::connect(DEFAULT_SOCKET).is_ok() {
                DEFAULT_SOCKET.to_owned()
            } else {
                DEFAULT_API.to_owned()
            }
        });
    let token = match &cli.token_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t.trim().to_owned()),
            Err(e) => {
                eprintln!("Error: --token-file {}: {e}", f.display());
                return ExitCode::from(2);
            }
        },
        None => std::env::var("ECMP_ROUTER_TOKEN").ok(),
    };
    let opts = Opts {
        json: cli.json,
        pretty: cli.pretty,
        family: match (cli.ipv4, cli.ipv6) {
            (true, _) => Some(4),
            (_, true) => Some(6),
            _ => None,
        },
        details: cli.details,
    };
    if cli.words.is_empty() {
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    }
    let _ = TOKEN.set(token);
    match run(&api, opts, &cli.words) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("Error: {e}");
            ExitCode::from(if e.starts_with("cannot reach") { 2 } else { 1 })
        }
        Err(Usage(u)) => {
            eprintln!("Usage error: {u}. See ecmpctl --help.");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{group_body, options_first, route_body};

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    /// The router's lab config: what the request bodies are checked against.
    fn config() -> control::config::Config {
        control::config::parse(
            "ports:\n  - { name: lan, device: net_null0, addresses: [10.0.0.1/24, fd00::1/64] }\n  - { name: srv1, device: net_null1, addresses: [10.1.0.1/24, fd01::1/64] }\n  - { name: srv2, device: net_null2, addresses: [10.2.0.1/24, fd02::1/64] }\nnexthop-groups:\n  - { name: web, nexthops: [{ via: 10.1.0.2, port: srv1 }] }\n",
            "t",
        )
        .expect("the config")
    }

    /// A body as the API takes it: JSON, with the config's kebab-case keys
    /// (the router's `kebab_keys` accepts either spelling).
    fn wire(body: &impl serde::Serialize) -> String {
        serde_json::to_string(body)
            .unwrap()
            .replace("nexthop_group", "nexthop-group")
            .replace("idle_timer", "idle-timer")
            .replace("unbalanced_timer", "unbalanced-timer")
    }

    /// What `route add` sends is a route the config's own parser takes, and
    /// the route it means: the request types and the parser agree.
    #[test]
    fn route_add_bodies_are_routes_the_config_parser_takes() {
        let c = config();
        for (words, prefix, hops) in [
            ("198.51.100.0/24 nexthop via 10.1.0.2 dev srv1 weight 2 nexthop via 10.2.0.2 dev srv2", "198.51.100.0/24", 2),
            ("203.0.113.0/24 via 10.1.0.2 dev srv1 table 100 metric 20 hash l3 sticky group resilient", "203.0.113.0/24", 1),
            ("default via fd01::2 dev srv1", "::/0", 1),
            ("blackhole 192.0.2.0/24", "192.0.2.0/24", 0),
            ("198.18.0.0/24 nhg web", "198.18.0.0/24", 0),
        ] {
            let body = route_body(&v(words)).unwrap_or_else(|e| panic!("{words}: {}", e.0));
            let spec = control::config::parse_route(&wire(&body), &c)
                .unwrap_or_else(|e| panic!("{words}: {e}"));
            assert_eq!(spec.prefix.to_string(), prefix, "{words}");
            let n = match &spec.group {
                control::config::RouteGroup::Inline(g) => g.nexthops.len(),
                _ => 0,
            };
            assert_eq!(n, hops, "{words}");
        }
        let body = route_body(&v(
            "203.0.113.0/24 via 10.1.0.2 dev srv1 table 100 metric 20",
        ))
        .unwrap();
        let spec = control::config::parse_route(&wire(&body), &c).unwrap();
        assert_eq!((spec.table, spec.metric), (100, 20));
    }

    /// What `group add` sends is a group the config's parser takes; a
    /// route's word is refused before anything is sent.
    #[test]
    fn group_add_bodies_are_groups_the_config_parser_takes() {
        let c = config();
        let words = v("0.0.0.0/0 group resilient nexthop via 10.1.0.2 dev srv1 nexthop via 10.2.0.2 dev srv2 weight 3");
        let body = group_body("api1", &words).unwrap_or_else(|e| panic!("{}", e.0));
        let g =
            control::config::parse_named_group(&wire(&body), &c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((g.name.as_deref(), g.nexthops.len()), (Some("api1"), 2));
        let e = group_body("x", &v("0.0.0.0/0 table 100 via 10.1.0.2 dev srv1"))
            .err()
            .unwrap();
        assert!(e.0.contains("table is a route's"), "{}", e.0);
    }

    #[test]
    fn options_after_the_object_move_before_the_words() {
        let args = v("ecmpctl route show --json");
        assert_eq!(
            options_first(&args, &args[1..]),
            Some(v("ecmpctl --json -- route show"))
        );
        let args = v("ecmpctl -6 neigh show dev lan -j");
        assert_eq!(
            options_first(&args, &args[2..]),
            Some(v("ecmpctl -6 -j -- neigh show dev lan"))
        );
    }

    #[test]
    fn a_valued_option_keeps_its_value() {
        let args = v("ecmpctl route show --api 127.0.0.1:1 -dj");
        assert_eq!(
            options_first(&args, &args[1..]),
            Some(v("ecmpctl --api 127.0.0.1:1 -dj -- route show"))
        );
    }

    #[test]
    fn words_without_options_are_left_alone() {
        let args = v("ecmpctl -j route show table all");
        assert_eq!(options_first(&args, &args[2..]), None);
    }
}
