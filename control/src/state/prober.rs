//! Uplinks: health probes, rounds and their verdicts.

use super::*;

impl ControlPlane {
    /// (Re)builds the uplinks from the config, keeping the state of those
    /// whose definition did not change; an uplink that is gone has its down
    /// flag cleared.
    pub(super) fn set_uplinks(&mut self) {
        let now = Instant::now();
        let mut old: Vec<UplinkState> = std::mem::take(&mut self.uplinks);
        for cfg in self.config.uplinks.clone() {
            if let Some(i) = old.iter().position(|u| u.cfg == cfg) {
                self.uplinks.push(old.swap_remove(i));
                continue;
            }
            let nh = self.add_nexthop(cfg.port, cfg.gateway, NexthopKind::Gateway);
            self.uplinks.push(UplinkState::new(cfg, nh, now));
        }
        for u in old {
            if let Some(nh) = u.nh {
                self.neighbors.set_down(nh, DownFlag::Uplink, false);
            }
        }
    }

    /// Runs the uplinks' probe rounds: judges the round that ends, applies
    /// the hysteresis, and sends the next round's echo requests.
    pub(super) fn uplink_tick(&mut self, now: Instant) {
        for i in 0..self.uplinks.len() {
            let u = &self.uplinks[i];
            let interval = Duration::from_millis(u.cfg.interval_ms);
            if u.round_started
                .is_some_and(|t| now.duration_since(t) < interval)
            {
                continue;
            }
            if u.round_started.is_some() {
                self.judge_round(i, now);
            }
            self.send_round(i, now);
        }
    }

    pub(super) fn judge_round(&mut self, i: usize, now: Instant) {
        let u = &mut self.uplinks[i];
        let timeout = Duration::from_millis(u.cfg.timeout_ms);
        let max_rtt = Duration::from_millis(u.cfg.max_rtt_ms);
        let mut ok = u
            .answered
            .iter()
            .flatten()
            .any(|&rtt| rtt <= timeout && (u.cfg.max_rtt_ms == 0 || rtt <= max_rtt));
        u.rounds += 1;
        u.history = (u.history << 1) | (!ok) as u32;
        if u.cfg.max_loss_pct < 100 && u.loss_pct() > u.cfg.max_loss_pct {
            ok = false;
        }
        if ok {
            u.streak_ok += 1;
            u.streak_bad = 0;
        } else {
            u.streak_bad += 1;
            u.streak_ok = 0;
        }
        let change = if u.up && u.streak_bad >= u.cfg.down_after {
            Some(false)
        } else if !u.up && u.streak_ok >= u.cfg.up_after {
            Some(true)
        } else {
            None
        };
        if let Some(up) = change {
            u.up = up;
            u.since = now;
            u.transitions += 1;
            let (name, loss, nh) = (u.cfg.name.clone(), u.loss_pct(), u.nh);
            if let Some(nh) = nh {
                self.neighbors.set_down(nh, DownFlag::Uplink, !up);
            }
            if up {
                self.counters.nexthop_up_events += 1;
                crate::log_limited!(info, crate::loglimit::Kind::UplinkState, crate::loglimit::source(&name); uplink = %name, loss_pct = loss, "uplink probes answered again: up");
            } else {
                self.counters.nexthop_down_events += 1;
                crate::log_limited!(warn, crate::loglimit::Kind::UplinkState, crate::loglimit::source(&name); uplink = %name, loss_pct = loss, "uplink probes failing: down, no new flows");
            }
        }
    }

    pub(super) fn send_round(&mut self, i: usize, now: Instant) {
        let u = &mut self.uplinks[i];
        u.round = u.round.wrapping_add(1);
        u.round_started = Some(now);
        u.answered.iter_mut().for_each(|a| *a = None);
        let (port, round, nh) = (u.cfg.port, u.round, u.nh);
        let targets = u.cfg.targets.clone();
        let Some(gw_mac) = nh.and_then(|nh| self.neighbors.get(nh)) else {
            // The gateway is not resolved: nothing can be sent, the round fails.
            return;
        };
        let mac = self.ports[port.index()].mac;
        let id = UPLINK_ID | i as u16;
        for (j, t) in targets.iter().enumerate() {
            let Some(src) = self.source_for(port, *t) else {
                continue;
            };
            let frame = match (src.addr, t) {
                (IpAddr::V4(s), IpAddr::V4(d)) => frames::ipv4(
                    mac,
                    gw_mac,
                    s,
                    *d,
                    proto::ICMP,
                    64,
                    &frames::icmp_echo(id, round, b"ecmp-probe"),
                ),
                (IpAddr::V6(s), IpAddr::V6(d)) => frames::ipv6_icmp(
                    mac,
                    gw_mac,
                    s,
                    *d,
                    64,
                    &frames::icmpv6_echo_message(id, round, b"ecmp-probe"),
                ),
                _ => continue,
            };
            if self.send(port, &frame) {
                self.uplinks[i].sent[j] += 1;
            }
        }
    }

    pub(super) fn handle_echo_reply_v4(&mut self, port: PortId, payload: &[u8], now: Instant) {
        let Ok(ip) = dataplane::wire::ipv4::Packet::new_checked(payload) else {
            self.counters.punt_invalid += 1;
            return;
        };
        let hl = ip.header_len();
        let b = &payload[hl..ip.total_len()];
        if ip.protocol() != proto::ICMP
            || b.len() < 8
            || b[0] != dataplane::wire::icmp::kind::ECHO_REPLY
            || dataplane::checksum::checksum(b) != 0
        {
            self.counters.punt_invalid += 1;
            return;
        }
        let (id, seq) = (
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]),
        );
        self.probe_reply(port, IpAddr::V4(ip.src()), id, seq, now);
    }

    /// Records an echo reply if it answers the current round of an uplink's probes.
    pub(super) fn probe_reply(
        &mut self,
        port: PortId,
        from: IpAddr,
        id: u16,
        seq: u16,
        now: Instant,
    ) {
        if id & 0xf000 != UPLINK_ID {
            return;
        }
        let Some(u) = self.uplinks.get_mut((id & 0x0fff) as usize) else {
            return;
        };
        if u.cfg.port != port || u.round != seq {
            return;
        }
        let (Some(start), Some(j)) = (
            u.round_started,
            u.cfg.targets.iter().position(|t| *t == from),
        ) else {
            return;
        };
        if u.answered[j].is_none() {
            let rtt = now.duration_since(start);
            u.answered[j] = Some(rtt);
            u.received[j] += 1;
            u.last_rtt[j] = Some(rtt);
        }
    }

    /// Every uplink with its probe state.
    pub fn uplinks(&self) -> Vec<UplinkView> {
        self.uplinks
            .iter()
            .map(|u| UplinkView {
                name: u.cfg.name.clone(),
                port: self.config.ports[u.cfg.port.index()].name.clone(),
                gateway: u.cfg.gateway,
                up: u.up,
                since_ms: u.since.elapsed().as_millis() as u64,
                loss_pct: u.loss_pct(),
                rounds: u.rounds,
                transitions: u.transitions,
                targets: u
                    .cfg
                    .targets
                    .iter()
                    .enumerate()
                    .map(|(j, t)| (*t, u.sent[j], u.received[j], u.last_rtt[j]))
                    .collect(),
            })
            .collect()
    }
}
