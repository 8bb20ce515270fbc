//! `flows:`: the flow table's size and timeouts.

use super::super::raw::RawFlows;
use super::super::{ConfigError, Ctx, FlowsConfig};
use serde_saphyr::Spanned;

/// The flow table.
pub(super) fn flows(cx: &Ctx<'_>, raw: Option<&RawFlows>) -> Result<FlowsConfig, ConfigError> {
    let flows = match raw {
        None => FlowsConfig::default(),
        Some(f) => {
            let d = FlowsConfig::default();
            let capacity = match &f.capacity {
                None => d.capacity,
                Some(v) if (64..=(1 << 26)).contains(&v.value) => v.value as usize,
                Some(v) => {
                    return Err(cx.err(
                        v.referenced,
                        "flows.capacity",
                        format!("{} is outside 64..=67108864", v.value),
                    ))
                }
            };
            let secs = |v: &Option<Spanned<u64>>, key: &str, dflt_ms: u32| match v {
                None => Ok(dflt_ms),
                Some(v) if (1..=4_000_000).contains(&v.value) => Ok(v.value as u32 * 1000),
                Some(v) => Err(cx.err(
                    v.referenced,
                    format!("flows.{key}"),
                    format!("{} seconds is outside 1..=4000000", v.value),
                )),
            };
            let t = d.timeouts;
            let on_uplink_down = match &f.on_uplink_down {
                None => d.on_uplink_down,
                Some(v) => match v.value.trim() {
                    "repick" => dataplane::nat::OnDown::Repick,
                    "flush" => dataplane::nat::OnDown::Flush,
                    other => {
                        return Err(cx.err(
                            v.referenced,
                            "flows.on-uplink-down",
                            format!("'{other}' is not one of: repick, flush"),
                        ))
                    }
                },
            };
            FlowsConfig {
                capacity,
                on_uplink_down,
                timeouts: dataplane::flowtable::Timeouts {
                    tcp_established_ms: secs(
                        &f.tcp_established,
                        "tcp-established",
                        t.tcp_established_ms,
                    )?,
                    tcp_transitory_ms: secs(
                        &f.tcp_transitory,
                        "tcp-transitory",
                        t.tcp_transitory_ms,
                    )?,
                    tcp_closing_ms: secs(&f.tcp_closing, "tcp-closing", t.tcp_closing_ms)?,
                    udp_ms: secs(&f.udp, "udp", t.udp_ms)?,
                    icmp_ms: secs(&f.icmp, "icmp", t.icmp_ms)?,
                    other_ms: secs(&f.other, "other", t.other_ms)?,
                },
            }
        }
    };
    Ok(flows)
}
