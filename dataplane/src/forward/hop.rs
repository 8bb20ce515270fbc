//! The nexthop of a route: groups, sticky flows, policy rules and SNAT.

use super::*;

/// What [`snat_hop`] learned for [`snat_out`].
#[derive(Default)]
pub(super) struct SnatState {
    /// The packet's NAT key, or why it has none.
    pub(super) key: Option<Result<(NatKey, u8), Untranslatable>>,
    /// Its binding, when it has one.
    pub(super) binding: Option<u32>,
    /// The source is already an SNAT address: leave untranslated.
    pub(super) pass: bool,
    /// An ICMP error from inside about a packet of `binding` that came in
    /// translated ([`nat::error_key_out`]).
    pub(super) error: bool,
    /// An ICMP error from inside about a flow with no binding here.
    pub(super) orphan_error: bool,
}

/// The nexthop SNAT decides for an IPv4 packet before routing does: a
/// source that is an uplink's SNAT address leaves through that uplink
/// (like `ip rule from A lookup T`), and a flow with a binding keeps its
/// uplink. `None`: routing decides (and [`snat_out`] binds if needed).
#[inline(never)]
pub(super) fn snat_hop(
    ctx: &mut Ctx<'_>,
    ip: &[u8],
    st: &mut SnatState,
) -> Option<Result<Hop, Miss>> {
    let fib = ctx.fib;
    let snat = &*fib.snat;
    let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
    if let Some(i) = snat.addr_index(src) {
        st.pass = true;
        let port = snat.addrs[i].1;
        let gw = snat.ports.get(port.index()).and_then(|p| p.gateway)?;
        return Some(fib.resolve(gw).map_err(Miss::from));
    }
    let key = *st.key.get_or_insert_with(|| nat::key_out(ip));
    let Ok((k, flags)) = key else {
        // An ICMP error about a flow that has a binding leaves by its
        // uplink, translated; without one it is not translatable.
        let k = nat::error_key_out(ip)?;
        let Some(b) = ctx.nat.as_deref().and_then(|n| n.find(&k, ctx.now_ms)) else {
            st.orphan_error = true;
            return None;
        };
        let hop = fib.resolve(b.nh).ok()?;
        st.binding = Some(b.id);
        st.error = true;
        return Some(Ok(hop));
    };
    let (now, on_down) = (ctx.now_ms, snat.on_down);
    let nat = ctx.nat.as_deref_mut()?;
    let b = nat.lookup_out(&k, flags, now)?;
    if let Ok(hop) = fib.resolve(b.nh) {
        st.binding = Some(b.id);
        return Some(Ok(hop));
    }
    // Its uplink is down.
    nat.remove(b.id);
    match on_down {
        OnDown::Repick => {
            bump(&nat.counters.repicks, 1);
            None
        }
        OnDown::Flush => {
            bump(&nat.counters.flushed, 1);
            Some(Err(Miss::Verdict(dropped(
                ctx.stats,
                DropReason::FlowFlushed,
            ))))
        }
    }
}

/// Translates an IPv4 packet leaving through `out` when that port is an
/// SNAT uplink: by its binding, or by a new one made now.
#[inline(never)]
pub(super) fn snat_out(
    ctx: &mut Ctx<'_>,
    ip: &mut [u8],
    nh: NexthopId,
    out: PortId,
    st: &SnatState,
) -> Result<(), DropReason> {
    let fib = ctx.fib;
    let snat = &*fib.snat;
    let Some(sp) = snat.port(out) else {
        return Ok(());
    };
    if st.pass {
        return Ok(());
    }
    let now = ctx.now_ms;
    let Some(nat) = ctx.nat.as_deref_mut() else {
        return Ok(());
    };
    let id = match (st.binding, st.key) {
        (Some(id), _) => id,
        (None, Some(Ok((k, flags)))) => match nat.create(&k, flags, &sp.addrs, nh, out, now) {
            Ok(b) => b.id,
            Err(Untranslatable::Exhausted) => return Err(DropReason::SnatExhausted),
            Err(Untranslatable::Unsupported) => return Err(DropReason::SnatUnsupported),
        },
        _ => return Err(DropReason::SnatUnsupported),
    };
    let done = if st.error {
        nat.translate_error_out(ip, id, snat)
    } else {
        nat.translate_out(ip, id, snat)
    };
    if done {
        Ok(())
    } else {
        Err(DropReason::SnatUnsupported)
    }
}

pub(super) enum Miss {
    Verdict(Verdict),
    AllDown,
    /// An id the FIB generation does not hold (`dangling_id`).
    Dangling,
    /// An `unreachable` or `prohibit` route: an ICMP error under its own reason.
    Reject(DropReason),
}

impl From<NoHop> for Miss {
    #[inline(always)]
    fn from(e: NoHop) -> Self {
        match e {
            NoHop::Down => Miss::AllDown,
            NoHop::Dangling => Miss::Dangling,
        }
    }
}

/// The ICMP error a kernel sends for a reject route or a down group
/// (Linux: `ip_error`, `ip6_pkt_discard` / `ip6_pkt_prohibit`).
pub(super) fn miss_error(fam: Fam, miss_reason: DropReason) -> ErrorKind {
    match miss_reason {
        DropReason::Unreachable => fam.error(
            (icmp::kind::DEST_UNREACHABLE, 1),
            (icmpv6::kind::DEST_UNREACHABLE, 0),
            0,
        ),
        DropReason::Prohibit => fam.error(
            (icmp::kind::DEST_UNREACHABLE, 13),
            (icmpv6::kind::DEST_UNREACHABLE, 1),
            0,
        ),
        DropReason::NeighborFailed => fam.error(
            (icmp::kind::DEST_UNREACHABLE, 1),
            (icmpv6::kind::DEST_UNREACHABLE, 3),
            0,
        ),
        _ => fam.unreachable(),
    }
}

/// Picks the nexthop, egress port and MAC for a forwarded packet. `ip` is the
/// IP packet, parsed for the flow hash only when the route has a group.
#[inline]
pub(super) fn next_hop(
    ctx: &mut Ctx<'_>,
    route: &Route,
    dst: IpAddr,
    ip: &[u8],
) -> Result<Hop, Miss> {
    let fib = ctx.fib;
    match route.target {
        Target::Group(g) => {
            let Some(group) = fib.group(g) else {
                return Err(Miss::Dangling);
            };
            ctx.spray = ctx.spray.wrapping_add(1);
            // Most packets take the fast key; its hash is computed where the
            // key is built, so the key never goes through memory.
            let plain = (fib.policy.rules.is_empty()
                || fib.port(ctx.in_port).is_some_and(|p| p.vrf != 0))
                && !(route.sticky && ctx.flows.is_some());
            if let (true, Some(outer)) = (plain, flow::fast(ip)) {
                let key = flow::FlowKey { outer, inner: None };
                return Ok(fib.pick(group, flow_hash(&route.hash, &key, ctx.spray))?);
            }
            let Some((key, notes)) = flow::extract(ip) else {
                return Err(Miss::Verdict(dropped(ctx.stats, unparsable(ip))));
            };
            count_notes(ctx.stats, &notes);
            let flags = if notes.icmp_error { 0 } else { tcp_flags(ip) };
            group_hop(ctx, route, group, &key, flags, notes.icmp_error)
        }
        Target::Connected(p) => {
            let resolve = |_: &Ctx<'_>| Err(Miss::Verdict(Verdict::Resolve { port: p }));
            let vrf = fib.port(p).map_or(0, |x| x.vrf);
            match fib.hosts.get(&(vrf, dst)) {
                Some(&nh) => match fib.neighbors.get(nh) {
                    Some(mac) => Ok(Hop {
                        nh,
                        port: p,
                        mac: mac.to_u64(),
                    }),
                    // FAILED: the control plane gave up on it for a while.
                    None if fib
                        .neighbors
                        .is_down(nh, crate::neighbor::DownFlag::Unreachable) =>
                    {
                        Err(Miss::Reject(DropReason::NeighborFailed))
                    }
                    None => resolve(ctx),
                },
                None => resolve(ctx),
            }
        }
        Target::Blackhole => Err(Miss::Verdict(dropped(ctx.stats, DropReason::Blackhole))),
        Target::Unreachable => Err(Miss::Reject(DropReason::Unreachable)),
        Target::Prohibit => Err(Miss::Reject(DropReason::Prohibit)),
        Target::Local => Err(Miss::Verdict(dropped(
            ctx.stats,
            DropReason::LocalUnhandled,
        ))),
    }
}

/// The hop of a group packet (the spray counter already counted) once its
/// flow key is known: a policy rule's, else the flow table's for a sticky
/// route, else a pick by hash. The staged path and the general one both
/// come here, so the side branches have one implementation.
#[inline]
pub(super) fn group_hop(
    ctx: &mut Ctx<'_>,
    route: &Route,
    group: &crate::nhg::Group,
    key: &flow::FlowKey,
    flags: u8,
    icmp_error: bool,
) -> Result<Hop, Miss> {
    // Rules are the default VRF's: a VRF's traffic never meets them.
    if !ctx.fib.policy.rules.is_empty() && ctx.fib.port(ctx.in_port).is_none_or(|p| p.vrf == 0) {
        if let Some(hop) = policy_hop(ctx, route, key, flags, icmp_error)? {
            return Ok(hop);
        }
    }
    if route.sticky {
        if let Some(ft) = ctx.flows {
            return sticky_pick(ctx, ft, route, group, key, flags, icmp_error);
        }
    }
    let h = flow_hash(&route.hash, key, ctx.spray);
    Ok(ctx.fib.pick(group, h)?)
}

/// The nexthop the dataplane gives a flow with `key` arriving on `in_port`
/// whose route is `route`: the policy rules first, then the route's hash, by
/// the code [`process`] runs. No flow table is read or written (a sticky
/// route's stored choice is `ecmpctl flow show`'s), and nothing is counted
/// anywhere a worker reads. `None` when the route is not a group route, or
/// no member is live. For the control plane: `ecmpctl route get`.
pub fn pick_for(fib: &Fib, in_port: PortId, route: &Route, key: &flow::FlowKey) -> Option<Hop> {
    let Target::Group(g) = route.target else {
        return None;
    };
    let group = fib.group(g)?;
    let stats = LcoreStats::new(0);
    let mut icmp = IcmpLimiter::new(0);
    let mut ctx = Ctx::new(fib, &stats, &mut icmp);
    ctx.in_port = in_port;
    // TCP flags matter only to the flow table, which is not here.
    group_hop(&mut ctx, route, group, key, 0, false).ok()
}

/// The nexthop a policy rule gives: the first matching rule whose group has
/// a live member. `None` sends the packet along its route (no rule matched,
/// or `last_resort: default`).
#[inline(never)]
pub(super) fn policy_hop(
    ctx: &mut Ctx<'_>,
    route: &Route,
    key: &flow::FlowKey,
    flags: u8,
    icmp_error: bool,
) -> Result<Option<Hop>, Miss> {
    let fib = ctx.fib;
    let mut matched = false;
    for rule in fib.policy.rules.iter() {
        if !rule.matches(ctx.in_port, &key.outer) {
            continue;
        }
        matched = true;
        // A table lookup gives the group, and its route's hash and stickiness.
        let (g, via, sticky) = match rule.action {
            crate::policy::Action::Group(g) => (g, route, rule.sticky),
            crate::policy::Action::Table(id) => {
                let found = fib
                    .policy
                    .table(id)
                    .and_then(|t| t.lookup(key.outer.dst, key.outer.v6));
                match found {
                    Some(r) => match r.target {
                        Target::Group(g) => (g, r, rule.sticky || r.sticky),
                        Target::Blackhole => {
                            return Err(Miss::Verdict(dropped(ctx.stats, DropReason::Blackhole)))
                        }
                        Target::Unreachable => return Err(Miss::Reject(DropReason::Unreachable)),
                        Target::Prohibit => return Err(Miss::Reject(DropReason::Prohibit)),
                        // No route there (or one the policy cannot use): next rule.
                        _ => continue,
                    },
                    None => continue,
                }
            }
        };
        let Some(group) = fib.group(g) else {
            continue;
        };
        let picked = match (sticky, ctx.flows) {
            (true, Some(ft)) => sticky_pick(ctx, ft, via, group, key, flags, icmp_error),
            _ => {
                let h = flow_hash(&via.hash, key, ctx.spray);
                fib.pick(group, h).map_err(Miss::from)
            }
        };
        match picked {
            Ok(hop) => return Ok(Some(hop)),
            Err(Miss::AllDown) => continue,
            Err(other) => return Err(other),
        }
    }
    if !matched {
        return Ok(None);
    }
    match fib.policy.last_resort {
        crate::policy::LastResort::Default => Ok(None),
        crate::policy::LastResort::Unreachable => Err(Miss::AllDown),
        crate::policy::LastResort::Blackhole => {
            Err(Miss::Verdict(dropped(ctx.stats, DropReason::Blackhole)))
        }
    }
}

/// The hop of a packet on a sticky route, once its flow key is known: the stored choice, or a pick
/// by hash that is stored unless the packet is an ICMP error.
#[inline]
pub(super) fn sticky_pick(
    ctx: &mut Ctx<'_>,
    ft: &FlowTable,
    route: &Route,
    group: &crate::nhg::Group,
    key: &flow::FlowKey,
    flags: u8,
    icmp_error: bool,
) -> Result<Hop, Miss> {
    let fib = ctx.fib;
    let found = ft.lookup(&key.outer, flags, ctx.now_ms);
    if let crate::flowtable::Found::Hit(nh) = found {
        if let Ok(hop) = fib.resolve(nh) {
            return Ok(hop);
        }
        if fib.snat.on_down == OnDown::Flush {
            ft.expire(&key.outer, ctx.now_ms);
            bump(&ft.counters.flushes, 1);
            return Err(Miss::Verdict(dropped(ctx.stats, DropReason::FlowFlushed)));
        }
        bump(&ft.counters.repicks, 1);
    }
    let h = flow_hash(&route.hash, key, ctx.spray);
    let hop = fib.pick(group, h)?;
    if !icmp_error {
        ft.insert(&key.outer, flags, hop.nh, ctx.now_ms);
    }
    Ok(hop)
}
