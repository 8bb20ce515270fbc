//! `icmp:` (the errors the router sends) and `punt-policer:` (what it lets
//! through to its own kernel side).

use super::super::raw::{RawIcmp, RawPuntPolicer};
use super::super::{ConfigError, Ctx, PuntPolicerConfig};
use serde_saphyr::Spanned;
use std::net::IpAddr;

/// The ICMP error rate limit: (rate, burst).
pub(super) fn icmp(cx: &Ctx<'_>, raw: Option<&RawIcmp>) -> Result<(u32, u32), ConfigError> {
    let (icmp_rate, icmp_burst) = {
        let get = |v: Option<&Spanned<u32>>, key: &str, hi: u32, d: u32| match v {
            None => Ok(d),
            Some(v) if v.value <= hi => Ok(v.value),
            Some(v) => Err(cx.err(
                v.referenced,
                key.to_owned(),
                format!("{} is outside 0..={hi}", v.value),
            )),
        };
        let i = raw;
        (
            get(
                i.and_then(|i| i.rate.as_ref()),
                "icmp.rate",
                1_000_000,
                1000,
            )?,
            get(i.and_then(|i| i.burst.as_ref()), "icmp.burst", 100_000, 100)?,
        )
    };
    Ok((icmp_rate, icmp_burst))
}

/// The punt policer, per class, and the peers it exempts.
pub(super) fn punt_policer(
    cx: &Ctx<'_>,
    raw: Option<&RawPuntPolicer>,
) -> Result<PuntPolicerConfig, ConfigError> {
    let punt_policer = {
        let mut c = PuntPolicerConfig::default();
        if let Some(pp) = raw {
            let classes = [&pp.routing, &pp.arp_nd, &pp.icmp, &pp.other];
            for (i, (class, l)) in dataplane::punt::PuntClass::ALL
                .iter()
                .zip(classes)
                .enumerate()
            {
                let Some(l) = l else { continue };
                for (v, field, hi) in [
                    (&l.rate, "rate", 10_000_000u32),
                    (&l.burst, "burst", 1_000_000),
                ] {
                    let Some(v) = v else { continue };
                    if v.value > hi {
                        return Err(cx.err(
                            v.referenced,
                            format!("punt-policer.{}.{field}", class.name()),
                            format!("{} is outside 0..={hi}", v.value),
                        ));
                    }
                    if field == "rate" {
                        c.limits[i].rate = v.value;
                    } else {
                        c.limits[i].burst = v.value;
                    }
                }
            }
            for (j, a) in pp.peers.iter().enumerate() {
                let Ok(ip) = a.value.trim().parse::<IpAddr>() else {
                    return Err(cx.err(
                        a.referenced,
                        format!("punt-policer.peers[{j}]"),
                        format!("'{}' is not an IP address", a.value),
                    ));
                };
                c.peers.push(ip);
            }
        }
        c
    };
    Ok(punt_policer)
}
