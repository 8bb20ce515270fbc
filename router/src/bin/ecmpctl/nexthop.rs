//! `ecmpctl nexthop show` and `group show` as `ip nexthop show` prints them.
//!
//! A nexthop is `id N via A dev D scope link`, a group `id N group 1/2,3`
//! (a member's id, then `,weight` when the weight is not 1). The ids are the
//! router's own: a nexthop's slot, and for groups numbers after every
//! nexthop's, both stable while the object lives. As for routes, the API's
//! objects (typed: `crate::types`) become iproute2's JSON first and the text
//! is printed from it.

use crate::call::{call, get};
use crate::types::*;
use crate::{enc, print_objects, unknown, Opts, Usage};
use serde_json::{json, Map, Value};

/// Why a nexthop forwards nothing, as a flag word after iproute2's `dead`
/// (`None` when it forwards).
fn down_reason(n: &Nexthop) -> Option<&'static str> {
    if !n.enabled {
        Some("disabled")
    } else if n.link_down {
        Some("linkdown")
    } else if n.unreachable {
        Some("unreachable")
    } else if n.uplink_down {
        Some("uplinkdown")
    } else if n.live {
        None
    } else {
        Some("incomplete")
    }
}

/// iproute2's object for one API nexthop.
pub fn nexthop_object(n: &Nexthop, details: bool) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(n.id));
    o.insert("gateway".into(), json!(n.address));
    o.insert("dev".into(), json!(n.port));
    o.insert("scope".into(), json!("link"));
    let mut flags = Vec::new();
    if let Some(r) = down_reason(n) {
        flags.push("dead");
        if r == "linkdown" {
            flags.push("linkdown");
        }
    }
    o.insert("flags".into(), json!(flags));
    if let Some(r) = down_reason(n).filter(|r| *r != "linkdown") {
        o.insert("reason".into(), json!(r));
    }
    if details {
        o.insert("kind".into(), json!(n.kind));
        o.insert("lladdr".into(), json!(n.mac));
        o.insert("state".into(), json!(n.state));
    }
    Value::Object(o)
}

/// iproute2's object for one API group.
pub fn group_object(g: &Group, details: bool) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| match m.weight {
            1 => json!({ "id": m.id }),
            w => json!({ "id": m.id, "weight": w }),
        })
        .collect();
    let mut o = Map::new();
    o.insert("id".into(), json!(g.id));
    o.insert("group".into(), Value::Array(members));
    if g.algorithm == "resilient" {
        o.insert("type".into(), json!("resilient"));
    }
    o.insert("flags".into(), json!([]));
    if details {
        o.insert("name".into(), json!(g.name));
        o.insert("kind".into(), json!(g.kind));
        o.insert("origin".into(), json!(g.origin));
        o.insert("algorithm".into(), json!(g.algorithm));
        o.insert("live".into(), json!(g.live));
        o.insert("routes".into(), json!(g.routes));
    }
    Value::Object(o)
}

/// `ip nexthop show`'s line for an object of [`nexthop_object`] or [`group_object`].
pub fn text(o: &Value) -> String {
    let mut w = vec![format!("id {}", o["id"])];
    if let Some(members) = o["group"].as_array() {
        let g: Vec<String> = members
            .iter()
            .map(|m| match m["weight"].as_u64() {
                Some(wt) => format!("{},{wt}", m["id"]),
                None => m["id"].to_string(),
            })
            .collect();
        w.push(format!("group {}", g.join("/")));
        if let Some(t) = o["type"].as_str() {
            w.push(format!("type {t}"));
        }
    } else {
        w.push(format!("via {}", o["gateway"].as_str().unwrap_or("?")));
        w.push(format!("dev {}", o["dev"].as_str().unwrap_or("?")));
        w.push("scope link".into());
    }
    for f in o["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        w.push(f.to_owned());
    }
    if let Some(r) = o["reason"].as_str() {
        w.push(r.to_owned());
    }
    // -d: the router's own attributes.
    for k in ["name", "kind", "origin", "algorithm"] {
        if let Some(v) = o[k].as_str() {
            w.push(format!("{k} {v}"));
        }
    }
    if let Some(m) = o.get("lladdr") {
        w.push(format!("lladdr {}", m.as_str().unwrap_or("-")));
    }
    if let Some(s) = o["state"].as_str() {
        w.push(format!("nud {s}"));
    }
    if let (Some(l), Some(m)) = (o["live"].as_u64(), o["group"].as_array()) {
        w.push(format!("live {l}/{}", m.len()));
    }
    if let Some(r) = o["routes"].as_u64() {
        w.push(format!("routes {r}"));
    }
    w.join(" ")
}

/// `ip -j neigh show`'s object for one API neighbour: `dst`, `dev`,
/// `lladdr` (absent without a MAC) and `state` (the kernel's names).
pub fn neigh_object(n: &Nexthop) -> Value {
    let mut o = Map::new();
    o.insert("dst".into(), json!(n.address));
    o.insert("dev".into(), json!(n.port));
    if let Some(m) = &n.mac {
        o.insert("lladdr".into(), json!(m));
    }
    o.insert("state".into(), json!([n.state]));
    Value::Object(o)
}

/// `ip neigh show`'s line: no `lladdr` for an entry without a MAC.
pub fn neigh_text(o: &Value) -> String {
    let mut w = vec![
        o["dst"].as_str().unwrap_or("?").to_owned(),
        format!("dev {}", o["dev"].as_str().unwrap_or("?")),
    ];
    if let Some(m) = o["lladdr"].as_str() {
        w.push(format!("lladdr {m}"));
    }
    w.extend(
        o["state"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned),
    );
    w.join(" ")
}

/// `group add|replace NAME ...` arguments as the API's request body: the
/// words of `route add` that a group takes.
pub(crate) fn group_body(name: &str, args: &[String]) -> Result<GroupInput, Usage> {
    let r = crate::route::route_body(args)?;
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

/// `nexthop ...`: show (as `ip nexthop show`: the nexthops, then the groups), add, del, disable, enable.
pub(crate) fn nexthop_cmd(api: &str, opts: Opts, a: &[&str]) -> Result<Result<(), String>, Usage> {
    let r = match a {
        ["nexthop" | "nh", "show"] | ["nexthop" | "nh"] => {
            get::<Vec<Nexthop>>(api, "/api/v1/nexthops")
                .and_then(|n| Ok((n, get::<Vec<Group>>(api, "/api/v1/groups")?)))
                .map(|(n, g)| {
                    let mut objs: Vec<Value> =
                        n.iter().map(|n| nexthop_object(n, opts.details)).collect();
                    objs.extend(g.iter().map(|g| group_object(g, opts.details)));
                    print_objects(opts, objs, text)
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
        .map(|v| print_objects(opts, vec![nexthop_object(&v, opts.details)], text)),
        ["nexthop" | "nh", "del" | "delete", "via", addr, "dev", port] => call::<Done>(
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
        .map(|v| print_objects(opts, vec![nexthop_object(&v, opts.details)], text)),
        other => return Err(unknown(other)),
    };
    Ok(r)
}

/// `neigh show`, as `ip neigh show`; `q` picks a port.
pub(crate) fn neigh_show(api: &str, opts: Opts, q: &str) -> Result<(), String> {
    get::<Vec<Nexthop>>(api, &format!("/api/v1/neighbors{q}"))
        .map(|v| print_objects(opts, v.iter().map(neigh_object).collect(), neigh_text))
}

/// `neigh ...`: show [dev PORT], flush [dev PORT].
pub(crate) fn neigh_cmd(api: &str, opts: Opts, a: &[&str]) -> Result<Result<(), String>, Usage> {
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
pub(crate) fn group_cmd(
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
                let objs = g.iter().map(|g| group_object(g, opts.details)).collect();
                print_objects(opts, objs, text)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::GroupMember;

    /// A gateway as the API gives it: resolved and live.
    fn gateway() -> Nexthop {
        Nexthop {
            id: 1,
            address: "10.1.0.2".into(),
            port: "srv1".into(),
            kind: "gateway".into(),
            mac: Some("02:00:00:00:01:02".into()),
            live: true,
            enabled: true,
            link_down: false,
            unreachable: false,
            uplink_down: false,
            state: "REACHABLE".into(),
            permanent: false,
            last_seen_ms: Some(10),
            probes_unanswered: 0,
        }
    }

    #[test]
    fn nexthops_print_as_ip_nexthop() {
        let n = gateway();
        assert_eq!(
            text(&nexthop_object(&n, false)),
            "id 1 via 10.1.0.2 dev srv1 scope link"
        );
        assert_eq!(
            text(&nexthop_object(&n, true)),
            "id 1 via 10.1.0.2 dev srv1 scope link kind gateway lladdr 02:00:00:00:01:02 nud REACHABLE"
        );
        let mut down = gateway();
        down.live = false;
        down.unreachable = true;
        assert_eq!(
            text(&nexthop_object(&down, false)),
            "id 1 via 10.1.0.2 dev srv1 scope link dead unreachable"
        );
        down.link_down = true;
        assert_eq!(
            text(&nexthop_object(&down, false)),
            "id 1 via 10.1.0.2 dev srv1 scope link dead linkdown"
        );
        let mut off = gateway();
        off.enabled = false;
        assert_eq!(
            text(&nexthop_object(&off, false)),
            "id 1 via 10.1.0.2 dev srv1 scope link dead disabled"
        );
    }

    #[test]
    fn neighbours_print_as_ip_neigh() {
        let n = Nexthop {
            address: "10.1.0.9".into(),
            kind: "host".into(),
            mac: None,
            state: "INCOMPLETE".into(),
            ..gateway()
        };
        assert_eq!(
            neigh_text(&neigh_object(&n)),
            "10.1.0.9 dev srv1 INCOMPLETE"
        );
        let n = Nexthop {
            state: "STALE".into(),
            ..gateway()
        };
        let o = neigh_object(&n);
        assert_eq!(
            neigh_text(&o),
            "10.1.0.2 dev srv1 lladdr 02:00:00:00:01:02 STALE"
        );
        assert_eq!(o["state"], json!(["STALE"]));
    }

    #[test]
    fn groups_print_member_ids_and_weights() {
        let member = |id, weight| GroupMember {
            id,
            via: format!("10.1.0.{id}"),
            port: "srv1".into(),
            weight,
            live: true,
        };
        let g = Group {
            id: 65537,
            name: "web".into(),
            kind: "named".into(),
            origin: Some("api".into()),
            algorithm: "hash-threshold".into(),
            members: vec![member(1, 1), member(2, 3)],
            live: 2,
            routes: 1,
        };
        assert_eq!(text(&group_object(&g, false)), "id 65537 group 1/2,3");
        assert_eq!(
            text(&group_object(&g, true)),
            "id 65537 group 1/2,3 name web kind named origin api algorithm hash-threshold live 2/2 routes 1"
        );
        let r = Group {
            algorithm: "resilient".into(),
            ..g
        };
        assert_eq!(
            text(&group_object(&r, false)),
            "id 65537 group 1/2,3 type resilient"
        );
    }
}
