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

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

    /// The echo requests of a round: (port, target, id, seq).
    fn probes(ch: &Channels) -> Vec<(PortId, Ipv4Addr, u16, u16)> {
        drain(ch)
            .iter()
            .filter_map(|f| {
                let b = f.bytes();
                let eth = ethernet::Frame::new_checked(b).ok()?;
                if eth.ethertype() != ethernet::ethertype::IPV4 {
                    return None;
                }
                let ip = dataplane::wire::ipv4::Packet::new_checked(eth.payload()).ok()?;
                let icmp = &eth.payload()[ip.header_len()..];
                (ip.protocol() == proto::ICMP && icmp[0] == 8).then(|| {
                    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
                    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
                    (f.port, ip.dst(), id, seq)
                })
            })
            .collect()
    }

    fn uplink_down_flag(cp: &ControlPlane) -> bool {
        cp.nexthops()
            .iter()
            .find(|n| n.addr == "10.1.0.2".parse::<IpAddr>().unwrap())
            .expect("the uplink's gateway")
            .uplink_down
    }

    /// With the defaults (a round a second, down after 3 failed rounds, up
    /// after 2 answered ones), unanswered rounds take the uplink and its
    /// gateway down, and answered ones bring them back. A reply to an old
    /// round or from another port counts for nothing.
    #[test]
    fn an_uplink_goes_down_after_unanswered_rounds_and_up_after_answered_ones() {
        let cfg = format!(
            "{CFG}uplinks:\n  - {{ name: isp1, port: srv1, gateway: 10.1.0.2, probe: {{ targets: [192.0.2.1] }} }}\n"
        );
        let c = config::parse(&cfg, "t").unwrap();
        let ch = Channels::default();
        let mut cp = ControlPlane::new(c, &MACS, vec![], ch.clone(), 64);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(1000 * s);
        drain(&ch);
        cp.uplink_tick(at(0));
        let first = probes(&ch);
        assert_eq!(first.len(), 1, "one probe per target per round");
        let (port, dst, id, seq) = first[0];
        assert_eq!((port, dst), (PortId(1), "192.0.2.1".parse().unwrap()));
        assert!(cp.uplinks()[0].up, "an uplink starts up");
        // Answers from the wrong port and for the wrong round are ignored.
        cp.probe_reply(PortId(2), "192.0.2.1".parse().unwrap(), id, seq, at(0));
        cp.probe_reply(
            PortId(1),
            "192.0.2.1".parse().unwrap(),
            id,
            seq.wrapping_add(1),
            at(0),
        );
        for s in 1..=2 {
            cp.uplink_tick(at(s));
            assert!(cp.uplinks()[0].up, "round {s}: still up");
        }
        cp.uplink_tick(at(3));
        let u = &cp.uplinks()[0];
        assert!(!u.up, "down after 3 unanswered rounds");
        assert_eq!((u.rounds, u.transitions), (3, 1));
        assert!(uplink_down_flag(&cp), "its gateway takes no new flows");
        // Answer the next rounds.
        for s in 4..=5 {
            let (_, dst, id, seq) = *probes(&ch).last().expect("a round's probe");
            cp.probe_reply(
                PortId(1),
                IpAddr::V4(dst),
                id,
                seq,
                at(s - 1) + Duration::from_millis(5),
            );
            cp.uplink_tick(at(s));
        }
        let u = &cp.uplinks()[0];
        assert!(u.up, "up after 2 answered rounds");
        assert_eq!(u.transitions, 2);
        assert!(!uplink_down_flag(&cp));
        assert_eq!(u.targets[0].2, 2, "two replies counted");
    }
}
