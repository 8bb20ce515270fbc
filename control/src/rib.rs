//! The RIB: every route of every table and origin, with the count of routes
//! per (table, origin) kept as it changes, so that `/metrics` never walks it.

use crate::config::RouteSpec;
use dataplane::types::Prefix;
use std::collections::BTreeMap;

/// Where a route came from. When several origins hold the same prefix in the
/// same table, the highest wins: `api` over `config` over `fpm`. An operator's
/// runtime change beats the file, and both beat a routing daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Mirrored from the kernel's routing table (`kernel-routes`): BIRD,
    /// `ip route`, any daemon that writes the kernel. The lowest: zebra
    /// writes both the kernel and FPM, and its FPM route wins.
    Kernel,
    /// Pushed by FRR over FPM.
    Fpm,
    /// From the config file.
    Config,
    /// Added through the API.
    Api,
}

impl Origin {
    /// The API spelling.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Kernel => "kernel",
            Origin::Fpm => "fpm",
            Origin::Config => "config",
            Origin::Api => "api",
        }
    }
}

/// A prefix's routes by origin, lowest first (at most one per origin). An
/// exact-size boxed slice: a full table has a million of these, nearly all
/// holding one route, and a `Vec`'s first growth reserves four.
#[derive(Clone, Debug, Default)]
pub struct ByOrigin(Box<[(Origin, RouteSpec)]>);

impl ByOrigin {
    fn position(&self, o: &Origin) -> Result<usize, usize> {
        self.0.binary_search_by_key(o, |e| e.0)
    }
    fn insert(&mut self, o: Origin, s: RouteSpec) -> Option<RouteSpec> {
        match self.position(&o) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, s)),
            Err(i) => {
                let mut v = std::mem::take(&mut self.0).into_vec();
                v.insert(i, (o, s));
                self.0 = v.into_boxed_slice();
                None
            }
        }
    }
    fn remove(&mut self, o: &Origin) -> Option<RouteSpec> {
        let i = self.position(o).ok()?;
        let mut v = std::mem::take(&mut self.0).into_vec();
        let (_, s) = v.remove(i);
        self.0 = v.into_boxed_slice();
        Some(s)
    }
    pub fn contains_key(&self, o: &Origin) -> bool {
        self.position(o).is_ok()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Origin> {
        self.0.iter().map(|e| &e.0)
    }
    pub fn values(&self) -> impl Iterator<Item = &RouteSpec> {
        self.0.iter().map(|e| &e.1)
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Origin, &RouteSpec)> {
        self.0.iter().map(|e| (&e.0, &e.1))
    }
}

/// Routes by (table, prefix), then origin. Reads go through `Deref`; every
/// change goes through [`Rib::set`] and [`Rib::remove`], which keep the counts.
#[derive(Debug, Default)]
pub struct Rib {
    map: BTreeMap<(u32, Prefix), ByOrigin>,
    counts: BTreeMap<(u32, Origin), usize>,
}

impl std::ops::Deref for Rib {
    type Target = BTreeMap<(u32, Prefix), ByOrigin>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl Rib {
    /// Sets `origin`'s route for `(table, prefix)`; returns the one it replaced.
    pub fn set(
        &mut self,
        key: (u32, Prefix),
        origin: Origin,
        spec: RouteSpec,
    ) -> Option<RouteSpec> {
        let old = self.map.entry(key).or_default().insert(origin, spec);
        if old.is_none() {
            *self.counts.entry((key.0, origin)).or_default() += 1;
        }
        old
    }

    /// Removes `origin`'s route for `(table, prefix)`, and the prefix when no
    /// origin is left.
    pub fn remove(&mut self, key: (u32, Prefix), origin: Origin) -> Option<RouteSpec> {
        let by = self.map.get_mut(&key)?;
        let old = by.remove(&origin)?;
        if by.is_empty() {
            self.map.remove(&key);
        }
        if let Some(n) = self.counts.get_mut(&(key.0, origin)) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&(key.0, origin));
            }
        }
        Some(old)
    }

    /// Removes every route of `origin`.
    pub fn remove_origin(&mut self, origin: Origin) {
        self.map.retain(|_, by| {
            by.remove(&origin);
            !by.is_empty()
        });
        self.counts.retain(|(_, o), _| *o != origin);
    }

    /// Routes per (table, origin), active or not.
    pub fn counts(&self) -> &BTreeMap<(u32, Origin), usize> {
        &self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteGroup;

    fn spec(p: &str) -> RouteSpec {
        RouteSpec {
            table: 254,
            prefix: p.parse().unwrap(),
            group: RouteGroup::Reject(crate::config::Reject::Blackhole),
            hash: Default::default(),
            sticky: false,
            protocol: 0,
            metric: 0,
        }
    }

    #[test]
    fn counts_follow_every_change() {
        let mut r = Rib::default();
        let k = |p: &str| (254u32, p.parse::<Prefix>().unwrap());
        r.set(k("10.0.0.0/8"), Origin::Fpm, spec("10.0.0.0/8"));
        r.set(k("10.0.0.0/8"), Origin::Fpm, spec("10.0.0.0/8"));
        r.set(k("10.0.0.0/8"), Origin::Api, spec("10.0.0.0/8"));
        r.set(k("11.0.0.0/8"), Origin::Fpm, spec("11.0.0.0/8"));
        assert_eq!(
            r.counts()[&(254, Origin::Fpm)],
            2,
            "a replacement is not a new route"
        );
        assert_eq!(r.counts()[&(254, Origin::Api)], 1);
        assert!(r.remove(k("10.0.0.0/8"), Origin::Api).is_some());
        assert!(r.remove(k("10.0.0.0/8"), Origin::Api).is_none());
        assert!(!r.counts().contains_key(&(254, Origin::Api)));
        r.remove_origin(Origin::Fpm);
        assert!(r.counts().is_empty() && r.is_empty());
    }
}
