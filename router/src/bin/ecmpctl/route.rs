//! `ecmpctl route show` as `ip route show` prints it.
//!
//! The router's routes (`GET /api/v1/routes`) and its ports' addresses
//! (`GET /api/v1/ports`, for the connected and local routes the kernel would
//! have) become iproute2's JSON objects first (`ip -j route show`: `dst`,
//! `gateway`, `dev`, `protocol`, `scope`, `prefsrc`, `metric`, `flags`,
//! `nexthops[]`); the text is printed from those objects, so `-j` and the
//! text never disagree.

use crate::call::{call, get, pages};
use crate::types::*;
use crate::{enc, print_objects, show, take, unknown, wrote, Opts, Usage};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// The routing tables iproute2 names (`/etc/iproute2/rt_tables`).
pub const TABLE_DEFAULT: u32 = 253;
pub const TABLE_MAIN: u32 = 254;
pub const TABLE_LOCAL: u32 = 255;

/// Which tables `route show` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tables {
    One(u32),
    All,
}

/// A prefix as iproute2 reads it: an address with an optional length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    pub fn parse(s: &str) -> Option<Prefix> {
        if s == "default" {
            return None;
        }
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.parse().ok().filter(|&n| n <= max)?,
            None => max,
        };
        Some(Prefix { addr, len })
    }

    fn bits(&self) -> (bool, u128) {
        match self.addr {
            IpAddr::V4(a) => (false, (u32::from(a) as u128) << 96),
            IpAddr::V6(a) => (true, u128::from(a)),
        }
    }

    /// True when `other` lies inside this prefix (it may equal it).
    pub fn covers(&self, other: &Prefix) -> bool {
        let ((f1, a), (f2, b)) = (self.bits(), other.bits());
        if f1 != f2 || other.len < self.len {
            return false;
        }
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - self.len as u32)
        };
        a & mask == b & mask
    }

    /// The network of this address and length (host bits cleared).
    fn network(&self) -> Prefix {
        let (v6, a) = self.bits();
        // Both families sit in the top bits of `a`.
        let n = match self.len {
            0 => 0,
            l => a & u128::MAX << (128 - l as u32),
        };
        let addr = if v6 {
            IpAddr::V6(n.into())
        } else {
            IpAddr::V4(((n >> 96) as u32).into())
        };
        Prefix {
            addr,
            len: self.len,
        }
    }

    fn text(&self) -> String {
        if self.len == 0 {
            return "default".to_owned();
        }
        let host = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.len == host {
            self.addr.to_string()
        } else {
            format!("{}/{}", self.addr, self.len)
        }
    }
}

/// How `route show PREFIX` selects (iproute2's `exact`, `root`, `match`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// Only this prefix (a bare prefix, or `exact P`).
    Exact(Prefix),
    /// Prefixes inside P (`root P`).
    Root(Prefix),
    /// Prefixes that contain P (`match P`).
    Match(Prefix),
}

/// What `route show` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Show {
    pub tables: Tables,
    /// 4 or 6, from `-4` / `-6`; `None` for both.
    pub family: Option<u8>,
    pub proto: Option<String>,
    pub dev: Option<String>,
    pub select: Option<Select>,
    /// `-d`: inactive routes too, and the router's own attributes.
    pub details: bool,
    /// `vrf NAME`: that VRF's table, as `ip route show vrf NAME`.
    pub vrf: Option<String>,
}

/// A table's number from its iproute2 name or its id.
pub fn table_id(t: &str) -> Option<u32> {
    match t {
        "main" => Some(TABLE_MAIN),
        "local" => Some(TABLE_LOCAL),
        "default" => Some(TABLE_DEFAULT),
        n => n.parse().ok().filter(|&n| n > 0),
    }
}

/// `route show` arguments: `[table T|all] [proto P] [dev D] [[exact|root|match] PREFIX]`.
pub fn parse_show(args: &[&str], family: Option<u8>, details: bool) -> Result<Show, String> {
    let mut s = Show {
        tables: Tables::One(TABLE_MAIN),
        family,
        proto: None,
        dev: None,
        select: None,
        details,
        vrf: None,
    };
    let mut it = args.iter().copied();
    let prefix = |p: Option<&str>, what: &str| -> Result<Prefix, String> {
        let p = p.ok_or_else(|| format!("{what} needs a prefix"))?;
        Prefix::parse(p).ok_or_else(|| format!("'{p}' is not a prefix (ADDR or ADDR/LEN)"))
    };
    while let Some(a) = it.next() {
        match a {
            "table" => {
                let t = it.next().ok_or("table needs a value (main, local, default, all or an id)")?;
                s.tables = match t {
                    "all" => Tables::All,
                    t => Tables::One(table_id(t).ok_or_else(|| {
                        format!("table '{t}': expected main, local, default, all or an id")
                    })?),
                };
            }
            "proto" | "protocol" => {
                s.proto = Some(it.next().ok_or("proto needs a value")?.to_owned());
            }
            "vrf" => s.vrf = Some(it.next().ok_or("vrf needs a name")?.to_owned()),
            "dev" | "oif" => s.dev = Some(it.next().ok_or("dev needs a port")?.to_owned()),
            "exact" | "to" => s.select = Some(Select::Exact(prefix(it.next(), a)?)),
            "root" => s.select = Some(Select::Root(prefix(it.next(), a)?)),
            "match" => s.select = Some(Select::Match(prefix(it.next(), a)?)),
            "default" => {
                let fam = family.unwrap_or(4);
                let any: IpAddr = if fam == 6 {
                    IpAddr::V6(0u128.into())
                } else {
                    IpAddr::V4(0u32.into())
                };
                s.select = Some(Select::Exact(Prefix { addr: any, len: 0 }));
            }
            p => match Prefix::parse(p) {
                Some(p) => s.select = Some(Select::Exact(p)),
                None => {
                    return Err(format!(
                        "unexpected '{p}' in route show (expected table, vrf, proto, dev, exact, root, match or a prefix)"
                    ))
                }
            },
        }
    }
    if let Some(Select::Exact(p) | Select::Root(p) | Select::Match(p)) = s.select {
        let fam = if p.addr.is_ipv4() { 4 } else { 6 };
        if s.family.is_some_and(|f| f != fam) {
            return Err(format!(
                "{} is not an IPv{} prefix",
                p.text(),
                s.family.unwrap_or(0)
            ));
        }
    }
    Ok(s)
}

fn is_v6(dst: &str) -> bool {
    dst.contains(':')
}

/// iproute2's JSON object of one API route, or `None` when `show` leaves it out.
/// `table` is printed only when the listing spans several tables.
pub fn route_object(r: &Route, show: &Show) -> Option<Value> {
    let active = r.active;
    if !active && !show.details {
        return None;
    }
    let prefix = Prefix::parse(&r.prefix)?;
    let table = r.table;
    let mut o = Map::new();
    let kind = r.kind.as_str();
    if kind != "unicast" {
        o.insert("type".into(), json!(kind));
    }
    o.insert("dst".into(), json!(prefix.text()));
    if let Some(id) = r.nhid {
        o.insert("nhid".into(), json!(id));
    }
    let hops: &[Member] = r.nexthops.as_deref().unwrap_or_default();
    if let [n] = hops {
        o.insert("gateway".into(), json!(n.via));
        o.insert("dev".into(), json!(n.port));
    }
    if let Some(d) = &r.dev {
        o.insert("dev".into(), json!(d));
    }
    o.insert("protocol".into(), json!(r.protocol));
    if r.dev.is_some() && kind == "unicast" {
        o.insert("scope".into(), json!("link"));
    }
    // As the kernel: an IPv6 route always has a metric (0 means 1024), an
    // IPv4 route only when it is not 0.
    let metric = r.metric;
    if is_v6(&prefix.addr.to_string()) {
        o.insert(
            "metric".into(),
            json!(if metric == 0 { 1024 } else { metric }),
        );
    } else if metric != 0 {
        o.insert("metric".into(), json!(metric));
    }
    o.insert("flags".into(), json!([]));
    if hops.len() > 1 {
        let list: Vec<Value> = hops
            .iter()
            .map(|n| json!({ "gateway": n.via, "dev": n.port, "weight": n.weight, "flags": [] }))
            .collect();
        o.insert("nexthops".into(), Value::Array(list));
    }
    if matches!(show.tables, Tables::All) && table != TABLE_MAIN {
        o.insert("table".into(), json!(table_name(table)));
    }
    if show.details {
        o.insert("origin".into(), json!(r.origin));
        o.insert("active".into(), json!(active));
        if let Some(g) = &r.group {
            o.insert("group".into(), json!(g));
        }
        if let Some(g) = &r.nexthop_group {
            o.insert("nexthop_group".into(), json!(g));
        }
        o.insert("hash".into(), json!(r.hash.policy));
        if r.sticky == Some(true) {
            o.insert("sticky".into(), json!(true));
        }
    }
    Some(Value::Object(o))
}

fn table_name(t: u32) -> String {
    match t {
        TABLE_MAIN => "main".into(),
        TABLE_LOCAL => "local".into(),
        TABLE_DEFAULT => "default".into(),
        n => n.to_string(),
    }
}

/// The routes the kernel would have for the ports' addresses, as iproute2
/// objects: the connected subnets in `main` (IPv4 `scope link src A`, IPv6
/// metric 256, and `fe80::/64` on every port), and in `local` each address
/// (IPv4 also its subnet's broadcast address).
pub fn system_objects(ports: &[Port], table: u32) -> Vec<Value> {
    let mut out = Vec::new();
    for p in ports {
        let dev = p.name.as_str();
        let addrs: Vec<Prefix> = p
            .addresses
            .iter()
            .filter_map(|a| Prefix::parse(a))
            .collect();
        for a in &addrs {
            let host = Prefix {
                addr: a.addr,
                len: if a.addr.is_ipv4() { 32 } else { 128 },
            };
            match (table, a.addr) {
                (TABLE_MAIN, IpAddr::V4(_)) if a.len < 32 => out.push(json!({
                    "dst": a.network().text(), "dev": dev, "protocol": "kernel", "scope": "link",
                    "prefsrc": a.addr.to_string(), "flags": [] })),
                (TABLE_MAIN, IpAddr::V6(_)) if a.len < 128 => out.push(json!({
                    "dst": a.network().text(), "dev": dev, "protocol": "kernel", "metric": 256, "flags": [] })),
                (TABLE_LOCAL, IpAddr::V4(v4)) => {
                    out.push(json!({ "type": "local", "dst": host.text(), "dev": dev, "protocol": "kernel",
                        "scope": "host", "prefsrc": a.addr.to_string(), "flags": [] }));
                    if a.len < 31 {
                        let b = u32::from(v4) | (u32::MAX >> a.len);
                        out.push(json!({ "type": "broadcast", "dst": std::net::Ipv4Addr::from(b).to_string(),
                            "dev": dev, "protocol": "kernel", "scope": "link", "prefsrc": a.addr.to_string(), "flags": [] }));
                    }
                }
                (TABLE_LOCAL, IpAddr::V6(_)) => out.push(json!({ "type": "local", "dst": host.text(),
                    "dev": dev, "protocol": "kernel", "metric": 0, "flags": [] })),
                _ => {}
            }
        }
        if table == TABLE_MAIN {
            out.push(json!({ "dst": "fe80::/64", "dev": dev, "protocol": "kernel", "metric": 256, "flags": [] }));
        }
    }
    out
}

/// True when `show` keeps the iproute2 object `o`.
pub fn keep(o: &Value, show: &Show) -> bool {
    let dst = o["dst"].as_str().unwrap_or("");
    let v6 = is_v6(dst) || (dst == "default" && o["gateway"].as_str().is_some_and(is_v6));
    if let Some(f) = show.family {
        if (f == 6) != v6 {
            return false;
        }
    }
    if let Some(p) = &show.proto {
        if o["protocol"].as_str() != Some(p.as_str()) {
            return false;
        }
    }
    // As the kernel's dump filter: the route's own device, which a
    // multipath route does not have.
    if let Some(d) = &show.dev {
        if o["dev"].as_str() != Some(d.as_str()) {
            return false;
        }
    }
    if let Some(sel) = show.select {
        let p = match dst {
            "default" => Prefix {
                addr: if v6 {
                    IpAddr::V6(0u128.into())
                } else {
                    IpAddr::V4(0u32.into())
                },
                len: 0,
            },
            d => match Prefix::parse(d) {
                Some(p) => p,
                None => return false,
            },
        };
        let ok = match sel {
            Select::Exact(s) => s.network() == p,
            Select::Root(s) => s.covers(&p),
            Select::Match(s) => p.covers(&s),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// As iproute2, a field the filter fixes is not printed: `dev D` drops the
/// device, `proto P` the protocol.
pub fn trim(o: &mut Value, show: &Show) {
    if let Some(m) = o.as_object_mut() {
        if show.dev.is_some() {
            m.remove("dev");
        }
        if show.proto.is_some() {
            m.remove("protocol");
        }
    }
}

/// Sort key: IPv4 before IPv6, then address, then length (the kernel's dump order).
pub fn order(o: &Value) -> (bool, u128, u8) {
    let dst = o["dst"].as_str().unwrap_or("");
    match Prefix::parse(dst) {
        Some(p) => {
            let (v6, a) = p.bits();
            (v6, a, p.len)
        }
        None => (
            dst == "default" && o["gateway"].as_str().is_some_and(is_v6),
            0,
            0,
        ),
    }
}

/// `ip route show`'s text for one iproute2 object (no trailing spaces).
pub fn text(o: &Value) -> String {
    let mut w: Vec<String> = Vec::new();
    let s = |k: &str| o[k].as_str().map(str::to_owned);
    if let Some(t) = s("type") {
        w.push(t);
    }
    w.push(s("dst").unwrap_or_default());
    if let Some(id) = o["nhid"].as_u64() {
        w.push(format!("nhid {id}"));
    }
    if let Some(g) = s("gateway") {
        w.push(format!("via {g}"));
    }
    if let Some(d) = s("dev") {
        w.push(format!("dev {d}"));
    }
    if let Some(t) = s("table") {
        w.push(format!("table {t}"));
    }
    if let Some(p) = s("protocol").filter(|p| p != "boot") {
        w.push(format!("proto {p}"));
    }
    if let Some(sc) = s("scope") {
        w.push(format!("scope {sc}"));
    }
    if let Some(a) = s("prefsrc") {
        w.push(format!("src {a}"));
    }
    if let Some(m) = o["metric"].as_u64() {
        w.push(format!("metric {m}"));
    }
    for f in o["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        w.push(f.to_owned());
    }
    if let Some(x) = s("origin") {
        w.push(format!("origin {x}"));
    }
    if let Some(g) = s("group") {
        w.push(format!("group {g}"));
    }
    if let Some(g) = s("nexthop_group") {
        w.push(format!("nhg {g}"));
    }
    if let Some(h) = s("hash") {
        w.push(format!("hash {h}"));
    }
    if o["sticky"].as_bool() == Some(true) {
        w.push("sticky".into());
    }
    if o["active"].as_bool() == Some(false) {
        w.push("inactive".into());
    }
    let mut out = w.join(" ");
    for n in o["nexthops"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n\tnexthop via {} dev {} weight {}",
            n["gateway"].as_str().unwrap_or("?"),
            n["dev"].as_str().unwrap_or("?"),
            n["weight"]
        ));
        for f in n["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            out.push(' ');
            out.push_str(f);
        }
    }
    out
}

/// `route add|replace` arguments as the API's request body.
pub(crate) fn route_body(args: &[String]) -> Result<RouteInput, Usage> {
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
            "vrf" => body.vrf = Some(take(&mut it, "vrf")?.to_owned()),
            "table" => {
                let t = take(&mut it, "table")?;
                body.table = Some(TableRef::Id(table_id(t).ok_or_else(|| {
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
            other => return Err(Usage(format!("unexpected '{other}' in route add (expected table, vrf, group, hash, sticky, metric, proto, nhg, nexthop, via, dev or weight)"))),
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

/// `route show`: the routes of the tables `s` names, as `ip route show`.
pub(crate) fn route_show(api: &str, opts: Opts, s: &Show) -> Result<(), String> {
    // `vrf NAME`: its table, and the connected routes of its interfaces
    // (the default VRF's are main's).
    let vrf = s.vrf.as_deref().filter(|n| *n != "default" && *n != "main");
    let mut s = s.clone();
    if let Some(name) = vrf {
        let vrfs: Vec<Vrf> = get(api, "/api/v1/vrfs")?;
        let v = vrfs.iter().find(|v| v.name == name).ok_or_else(|| {
            let known: Vec<&str> = vrfs.iter().map(|v| v.name.as_str()).collect();
            format!("unknown VRF '{name}' (VRFs: {})", known.join(", "))
        })?;
        s.tables = Tables::One(v.table);
    } else if s.vrf.is_some() {
        s.tables = Tables::One(TABLE_MAIN);
    }
    let s = &s;
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
        objs.extend(routes.iter().filter_map(|r| route_object(r, s)))
    })?;
    if let Some(name) = vrf {
        // A VRF's interfaces' connected routes, as main's are the others'.
        let ports: Vec<Port> = get(api, "/api/v1/ports")?;
        let mine: Vec<Port> = ports
            .into_iter()
            .filter(|p| p.vrf.as_deref() == Some(name))
            .collect();
        objs.extend(system_objects(&mine, TABLE_MAIN));
    }
    let system_tables: &[u32] = match s.tables {
        _ if vrf.is_some() => &[],
        Tables::One(TABLE_MAIN) => &[TABLE_MAIN],
        Tables::One(TABLE_LOCAL) => &[TABLE_LOCAL],
        Tables::One(_) => &[],
        Tables::All => &[TABLE_MAIN, TABLE_LOCAL],
    };
    if !system_tables.is_empty() {
        let ports: Vec<Port> = get(api, "/api/v1/ports")?;
        // Main's and local's are the default VRF's interfaces'.
        let ports: Vec<Port> = ports.into_iter().filter(|p| p.vrf.is_none()).collect();
        for &t in system_tables {
            for mut o in system_objects(&ports, t) {
                if t == TABLE_LOCAL && s.tables == Tables::All {
                    o["table"] = json!("local");
                }
                objs.push(o);
            }
        }
    }
    objs.retain(|o| keep(o, s));
    objs.iter_mut().for_each(|o| trim(o, s));
    // Main before local, then the kernel's order within a table.
    objs.sort_by_key(|o| (o["table"].is_string(), order(o)));
    print_objects(opts, objs, text);
    Ok(())
}

/// `route ...`: show, add, replace, del, get.
pub(crate) fn route_cmd(
    api: &str,
    opts: Opts,
    args: &[String],
    a: &[&str],
) -> Result<Result<(), String>, Usage> {
    let r = match a {
        ["route", "show" | "list" | "ls", rest @ ..] => {
            let sh = parse_show(rest, opts.family, opts.details).map_err(Usage)?;
            route_show(api, opts, &sh)
        }
        ["route"] => {
            let sh = parse_show(&[], opts.family, opts.details).map_err(Usage)?;
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
                    table_id(t).ok_or_else(|| Usage(format!(
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
pub(crate) fn route_get(
    api: &str,
    opts: Opts,
    dst: &str,
    rest: &[&str],
) -> Result<Result<(), String>, Usage> {
    let mut q = format!("dst={}", enc(dst));
    let mut it = rest.iter();
    while let Some(k) = it.next() {
        let key = match *k {
            "from" => "src",
            // iproute2's word for the protocol; `proto` stays.
            "ipproto" | "proto" => "proto",
            "sport" | "dport" | "iif" | "vrf" => k,
            other => {
                return Err(Usage(format!(
                "unexpected '{other}' in route get (expected from, iif, vrf, ipproto, sport or dport)"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn show(args: &[&str]) -> Show {
        parse_show(args, None, false).unwrap()
    }

    /// An API route from the keys a test sets; the rest as the router
    /// gives them by default.
    fn api(v: Value) -> Route {
        let mut r = json!({ "table": 254, "origin": "api", "protocol": "static", "metric": 0, "active": true,
            "type": "unicast", "hash": { "policy": "l4", "seed": 0 } });
        for (k, x) in v.as_object().unwrap() {
            r[k] = x.clone();
        }
        serde_json::from_value(r).expect("a Route")
    }

    /// An API port with these addresses.
    fn port(name: &str, addresses: &[&str]) -> Port {
        serde_json::from_value(json!({ "name": name, "device": "net_null0", "mac": null,
            "addresses": addresses, "mtu": 1500, "monitor_link": "auto", "monitor_link_effective": false,
            "link_up": true, "rx_packets": 0, "rx_bytes": 0, "tx_packets": 0, "tx_bytes": 0, "rx_missed": 0,
            "rx_errors": 0, "rx_nombuf": 0, "tx_errors": 0 }))
        .expect("a Port")
    }

    #[test]
    fn multipath_and_single_path_print_as_ip_route() {
        let r = api(
            json!({ "table": 254, "prefix": "198.51.100.0/24", "origin": "api", "protocol": "static",
            "metric": 20, "active": true, "type": "unicast",
            "nexthops": [{ "via": "10.1.0.2", "port": "srv1", "weight": 1 }, { "via": "10.2.0.2", "port": "srv2", "weight": 2 }] }),
        );
        let o = route_object(&r, &show(&[])).unwrap();
        assert_eq!(
            text(&o),
            "198.51.100.0/24 proto static metric 20\n\tnexthop via 10.1.0.2 dev srv1 weight 1\n\tnexthop via 10.2.0.2 dev srv2 weight 2"
        );
        let r = api(
            json!({ "table": 254, "prefix": "203.0.113.0/24", "protocol": "bgp", "metric": 20, "active": true,
            "nexthops": [{ "via": "10.1.0.2", "port": "srv1", "weight": 1 }] }),
        );
        let o = route_object(&r, &show(&[])).unwrap();
        assert_eq!(
            text(&o),
            "203.0.113.0/24 via 10.1.0.2 dev srv1 proto bgp metric 20"
        );
        assert_eq!(o["gateway"], "10.1.0.2");
        assert!(o.get("nexthops").is_none());
    }

    #[test]
    fn ipv6_metric_zero_is_the_kernels_1024_and_default_is_named() {
        let r = api(
            json!({ "table": 254, "prefix": "::/0", "protocol": "static", "metric": 0, "active": true,
            "nexthops": [{ "via": "fd01::2", "port": "srv1", "weight": 1 }] }),
        );
        let o = route_object(&r, &show(&[])).unwrap();
        assert_eq!(
            text(&o),
            "default via fd01::2 dev srv1 proto static metric 1024"
        );
        assert!(keep(&o, &parse_show(&[], Some(6), false).unwrap()));
        assert!(!keep(&o, &parse_show(&[], Some(4), false).unwrap()));
    }

    #[test]
    fn inactive_only_with_details_and_reject_types_lead() {
        let r = api(
            json!({ "table": 254, "prefix": "192.0.2.0/24", "protocol": "static", "metric": 0,
            "active": false, "type": "blackhole", "origin": "config" }),
        );
        assert!(route_object(&r, &show(&[])).is_none());
        let o = route_object(&r, &parse_show(&[], None, true).unwrap()).unwrap();
        assert_eq!(
            text(&o),
            "blackhole 192.0.2.0/24 proto static origin config hash l4 inactive"
        );
    }

    #[test]
    fn connected_and_local_routes_follow_the_port_addresses() {
        let ports = [port("srv1", &["10.1.0.1/24", "fd01::1/64"])];
        let main: Vec<String> = system_objects(&ports, TABLE_MAIN)
            .iter()
            .map(text)
            .collect();
        assert_eq!(
            main,
            [
                "10.1.0.0/24 dev srv1 proto kernel scope link src 10.1.0.1",
                "fd01::/64 dev srv1 proto kernel metric 256",
                "fe80::/64 dev srv1 proto kernel metric 256"
            ]
        );
        let local: Vec<String> = system_objects(&ports, TABLE_LOCAL)
            .iter()
            .map(text)
            .collect();
        assert_eq!(
            local,
            [
                "local 10.1.0.1 dev srv1 proto kernel scope host src 10.1.0.1",
                "broadcast 10.1.0.255 dev srv1 proto kernel scope link src 10.1.0.1",
                "local fd01::1 dev srv1 proto kernel metric 0"
            ]
        );
    }

    #[test]
    fn filters_select_as_iproute2_does() {
        let r = api(
            json!({ "table": 254, "prefix": "198.51.100.0/24", "protocol": "static", "active": true,
            "nexthops": [{ "via": "10.1.0.2", "port": "srv1", "weight": 1 }, { "via": "10.2.0.2", "port": "srv2", "weight": 1 }] }),
        );
        let o = route_object(&r, &show(&[])).unwrap();
        assert!(keep(&o, &show(&["198.51.100.0/24"])));
        assert!(
            keep(&o, &show(&["198.51.100.7/24"])),
            "a bare prefix is its network"
        );
        assert!(!keep(&o, &show(&["198.51.100.0/25"])));
        assert!(keep(&o, &show(&["root", "198.51.0.0/16"])));
        assert!(!keep(&o, &show(&["root", "198.51.100.0/25"])));
        assert!(keep(&o, &show(&["match", "198.51.100.9"])));
        assert!(
            !keep(&o, &show(&["dev", "srv2"])),
            "a multipath route has no device of its own"
        );
        let one = json!({ "dst": "10.1.0.0/24", "dev": "srv1", "protocol": "kernel", "flags": [] });
        assert!(keep(&one, &show(&["dev", "srv1"])));
        let mut t = one.clone();
        trim(&mut t, &show(&["dev", "srv1", "proto", "kernel"]));
        assert_eq!(text(&t), "10.1.0.0/24");
        assert!(keep(&o, &show(&["proto", "static"])));
        assert!(!keep(&o, &show(&["proto", "bgp"])));
    }

    #[test]
    fn bad_words_are_named() {
        assert!(parse_show(&["tabel", "main"], None, false)
            .unwrap_err()
            .contains("'tabel'"));
        assert!(parse_show(&["table", "nope"], None, false)
            .unwrap_err()
            .contains("'nope'"));
        assert!(parse_show(&["10.0.0.0/8"], Some(6), false).is_err());
        assert_eq!(show(&["table", "all"]).tables, Tables::All);
        assert_eq!(show(&["table", "local"]).tables, Tables::One(TABLE_LOCAL));
    }
}
