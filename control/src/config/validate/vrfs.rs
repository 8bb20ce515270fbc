//! `vrfs:`, and the `vrf:` of interfaces and routes.

use super::super::raw::RawVrf;
use super::super::{ConfigError, Ctx, VrfConfig, RESERVED_TABLES};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The most VRFs (a VRF id is a byte; 0 is the default VRF).
pub(in crate::config) const MAX_VRFS: usize = 254;

/// `vrfs:`, in name order: each with a table of its own, none of
/// iproute2's reserved ones.
pub(super) fn vrfs(
    cx: &Ctx<'_>,
    raw: &BTreeMap<String, Spanned<RawVrf>>,
) -> Result<Vec<VrfConfig>, ConfigError> {
    let mut vrfs: Vec<VrfConfig> = Vec::new();
    for (name, v) in raw {
        let key = format!("vrfs.{name}");
        if name.is_empty()
            || name == "main"
            || name == "default"
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(cx.err(
                v.referenced,
                key,
                format!("'{name}' cannot name a VRF (letters, digits, '-', '_'; main and default are the default VRF)"),
            ));
        }
        let Some(t) = &v.value.table else {
            return Err(cx.err(
                v.referenced,
                format!("{key}.table"),
                "a VRF without a table: give it one (vrfs: { NAME: { table: N } })",
            ));
        };
        if t.value == 0 {
            return Err(cx.err(
                t.referenced,
                format!("{key}.table"),
                "table ids are 1 or more",
            ));
        }
        if let Some((n, _)) = RESERVED_TABLES.iter().find(|(_, id)| *id == t.value) {
            return Err(cx.err(
                t.referenced,
                format!("{key}.table"),
                format!("{}: that id is iproute2's table '{n}'", t.value),
            ));
        }
        if let Some(o) = vrfs.iter().find(|o| o.table == t.value) {
            return Err(cx.err(
                t.referenced,
                format!("{key}.table"),
                format!("table {} is VRF '{}''s already", t.value, o.name),
            ));
        }
        vrfs.push(VrfConfig {
            name: name.clone(),
            table: t.value,
        });
    }
    if let (true, Some(last)) = (vrfs.len() > MAX_VRFS, raw.values().last()) {
        return Err(cx.err(last.referenced, "vrfs", format!("at most {MAX_VRFS} VRFs")));
    }
    Ok(vrfs)
}

/// The VRF a `vrf:` (at `key`) names: 0 when absent or `default`/`main`.
pub(super) fn vrf_ref(
    cx: &Ctx<'_>,
    vrfs: &[VrfConfig],
    v: Option<&Spanned<String>>,
    key: &str,
) -> Result<u8, ConfigError> {
    let Some(v) = v else { return Ok(0) };
    let name = v.value.trim();
    if name == "default" || name == "main" {
        return Ok(0);
    }
    match vrfs.iter().position(|x| x.name == name) {
        Some(i) => Ok(i as u8 + 1),
        None => {
            let known: Vec<&str> = vrfs.iter().map(|x| x.name.as_str()).collect();
            Err(cx.err(
                v.referenced,
                key,
                format!(
                    "unknown VRF '{name}' (VRFs are: default{}{})",
                    if known.is_empty() { "" } else { ", " },
                    known.join(", ")
                ),
            ))
        }
    }
}
