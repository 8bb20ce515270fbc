//! One zebra session: its nexthop objects, and its route messages resolved.

use super::*;
use dataplane::types::Prefix;
use std::collections::HashMap;
use std::net::IpAddr;

/// A route as the session resolved it: paths with gateways, a nexthop
/// object, a reject route, or withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Table and prefix.
    pub key: (u32, Prefix),
    /// The paths of inline routes; empty (with no `reject` and no
    /// `object`) means withdraw.
    pub members: Vec<Hop>,
    /// A blackhole, unreachable or prohibit route (an RTN_* type).
    pub reject: Option<crate::config::Reject>,
    /// Set when the session holds the route but its type cannot be installed
    /// (RTN_LOCAL, RTN_BROADCAST, ...): the `rtm_type`.
    pub unsupported_type: Option<u8>,
    /// The nexthop object the route uses (RTA_NH_ID): its resolution comes
    /// as an [`Object`] change and is shared by every route that uses it.
    pub object: Option<u32>,
    /// `rtm_protocol`.
    pub protocol: u8,
    /// `RTA_PRIORITY`.
    pub metric: u32,
}

impl Resolved {
    /// `key` withdrawn (or, with `members` set, a plain unicast route).
    pub fn withdrawn(key: (u32, Prefix)) -> Resolved {
        Resolved {
            key,
            members: Vec::new(),
            reject: None,
            unsupported_type: None,
            object: None,
            protocol: 0,
            metric: 0,
        }
    }
}

/// One path of a resolved route or object: a gateway (none: a device route,
/// `dev X` with no gateway), the interface FRR named (RTA_OIF / NHA_OIF, 0
/// when absent), and a weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    /// Gateway.
    pub via: Option<IpAddr>,
    /// FRR's ifindex: with kernel interfaces, the router's own interface.
    pub ifindex: u32,
    /// Weight.
    pub weight: u32,
}

impl From<(IpAddr, u32)> for Hop {
    fn from((via, weight): (IpAddr, u32)) -> Hop {
        Hop {
            via: Some(via),
            ifindex: 0,
            weight,
        }
    }
}

impl PartialEq<(IpAddr, u32)> for Hop {
    fn eq(&self, o: &(IpAddr, u32)) -> bool {
        self.via == Some(o.0) && self.weight == o.1
    }
}

/// A nexthop object as the session resolved it: the gateways of a single
/// nexthop or of a group's members, a blackhole, or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The object's id (NHA_ID).
    pub id: u32,
    /// Its paths. A single nexthop has one, of weight 1.
    pub members: Vec<Hop>,
    /// A blackhole object.
    pub blackhole: bool,
    /// False when the object was deleted.
    pub exists: bool,
}

/// One change an FPM session hands the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A route's resolution changed.
    Route(Resolved),
    /// A nexthop object changed: one update for all the routes that use it.
    Object(Object),
}

impl From<Resolved> for Change {
    fn from(r: Resolved) -> Change {
        Change::Route(r)
    }
}

/// How much one session may hold (`fpm.max-routes`, `fpm.max-nexthops`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Routes: enforced by the FPM server against the control plane, which
    /// holds the routes ([`crate::state::ControlPlane::fpm_route_is_new`]).
    pub routes: usize,
    /// Nexthop objects.
    pub nexthops: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            routes: usize::MAX,
            nexthops: usize::MAX,
        }
    }
}

/// Why a well-formed message was not applied. The session goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A new route past `fpm.max-routes`.
    #[error("route limit (fpm.max-routes) reached")]
    RouteLimit,
    /// A new nexthop object past `fpm.max-nexthops`.
    #[error("nexthop object limit (fpm.max-nexthops) reached")]
    NexthopLimit,
}

/// A route as the session holds it.
#[derive(Debug, Clone)]
struct Held {
    target: Target,
    protocol: u8,
    metric: u32,
}

/// One FPM session's state: its nexthop objects. Its routes are not kept
/// here: each route message resolves on its own (a route names its paths or
/// an object), and the control plane's RIB holds what was resolved, so a
/// full table is not held twice. The route limit is the FPM server's, which
/// asks the RIB whether a route is new.
#[derive(Debug, Default)]
pub struct Session {
    nexthops: HashMap<u32, Nexthop>,
    limits: Limits,
}

impl Session {
    /// A session bounded by `limits`.
    pub fn with_limits(limits: Limits) -> Session {
        Session {
            limits,
            ..Session::default()
        }
    }

    /// Applies a message; returns what changed. A route message changes
    /// that route; a nexthop message changes that object and the groups that
    /// hold it, never the routes that use them (their number does not matter).
    ///
    /// # Errors
    /// [`Refused::NexthopLimit`] when a new nexthop object is past its
    /// limit; the message changes nothing (an update of an existing one is
    /// applied).
    pub fn apply(&mut self, m: Message) -> Result<Vec<Change>, Refused> {
        Ok(match m {
            Message::Ignored(_) => Vec::new(),
            Message::Route {
                table,
                prefix,
                target,
                priority,
                protocol,
            } => {
                let key = (table, prefix);
                let held = target.map(|target| Held {
                    target,
                    protocol,
                    metric: priority,
                });
                vec![Change::Route(Self::resolve(key, held.as_ref()))]
            }
            Message::Nexthop { id, nexthop } => {
                match nexthop {
                    Some(n) => {
                        if self.nexthops.len() >= self.limits.nexthops
                            && !self.nexthops.contains_key(&id)
                        {
                            return Err(Refused::NexthopLimit);
                        }
                        self.nexthops.insert(id, n)
                    }
                    None => self.nexthops.remove(&id),
                };
                // The object and every group that holds it: the routes follow
                // through the control plane's group, whatever their number.
                let mut ids: Vec<u32> = self
                    .nexthops
                    .iter()
                    .filter(|(_, n)| matches!(n, Nexthop::Group(g) if g.iter().any(|m| m.0 == id)))
                    .map(|(g, _)| *g)
                    .collect();
                ids.sort_unstable();
                std::iter::once(id)
                    .chain(ids)
                    .map(|i| Change::Object(self.object(i)))
                    .collect()
            }
        })
    }

    /// Bytes of the objects the session holds (an estimate, as
    /// [`crate::state::ControlPlane::memory`] gives).
    pub fn memory(&self) -> usize {
        self.nexthops.capacity() * 64
    }

    /// A nexthop object's paths.
    pub fn object(&self, id: u32) -> Object {
        let single = |p: &Path| {
            Some(Hop {
                via: p.gateway,
                ifindex: p.ifindex,
                weight: p.weight,
            })
        };
        let n = self.nexthops.get(&id);
        Object {
            id,
            members: match n {
                Some(Nexthop::Single(p)) => single(p).into_iter().collect(),
                Some(Nexthop::Group(g)) => g
                    .iter()
                    .filter_map(|(m, w)| match self.nexthops.get(m) {
                        Some(Nexthop::Single(p)) => Some(Hop {
                            via: p.gateway,
                            ifindex: p.ifindex,
                            weight: *w,
                        }),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
            blackhole: matches!(n, Some(Nexthop::Blackhole)),
            exists: n.is_some(),
        }
    }

    /// The paths of a route (empty: withdrawn, special, or an object's);
    /// `held` is what its message said (none: withdrawn).
    fn resolve(key: (u32, Prefix), held: Option<&Held>) -> Resolved {
        use crate::config::Reject;
        let single = |p: &Path| {
            Some(Hop {
                via: p.gateway,
                ifindex: p.ifindex,
                weight: p.weight,
            })
        };
        let Some(held) = held else {
            return Resolved::withdrawn(key);
        };
        let mut out = Resolved {
            protocol: held.protocol,
            metric: held.metric,
            ..Resolved::withdrawn(key)
        };
        out.members = match &held.target {
            Target::Special(RTN_BLACKHOLE) => {
                out.reject = Some(Reject::Blackhole);
                Vec::new()
            }
            Target::Special(RTN_UNREACHABLE) => {
                out.reject = Some(Reject::Unreachable);
                Vec::new()
            }
            Target::Special(RTN_PROHIBIT) => {
                out.reject = Some(Reject::Prohibit);
                Vec::new()
            }
            Target::Special(t) => {
                out.unsupported_type = Some(*t);
                Vec::new()
            }
            Target::Paths(ps) => ps.iter().filter_map(single).collect(),
            Target::NexthopId(id) => {
                out.object = Some(*id);
                Vec::new()
            }
        };
        out
    }

    /// Every object the session holds, resolved.
    pub fn objects(&self) -> Vec<Change> {
        let mut ids: Vec<u32> = self.nexthops.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|i| Change::Object(self.object(i)))
            .collect()
    }
}
