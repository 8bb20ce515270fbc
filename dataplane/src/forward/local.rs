//! Packets for the router itself (echo, ICMP errors it sends) and those it
//! hands to its kernel interfaces.

use super::*;

/// A packet for the router that it does not consume: to the ingress port's
/// kernel interface, if the policer admits it (`control_too`: the control
/// plane reads a copy in any case). Without a kernel interface, the
/// control plane's copy, or a `local_unhandled` drop.
pub(super) fn to_kernel<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &B,
    control_too: bool,
) -> Verdict {
    if !port.kernel {
        return if control_too {
            Verdict::Punt
        } else {
            dropped(ctx.stats, DropReason::LocalUnhandled)
        };
    }
    let d = pkt.data();
    let class = if d.get(12..14) == Some(&[0x08, 0x06]) {
        PuntClass::ArpNd
    } else {
        d.get(ethernet::HEADER_LEN..)
            .and_then(punt::l4_of)
            .map_or(PuntClass::Other, |l| punt::classify(&l, ctx.peers))
    };
    let admitted = ctx.policer.as_deref_mut().is_none_or(|p| p.admit(class));
    if admitted {
        bump(&ctx.stats.kernel_punted[class as usize], 1);
        if control_too {
            Verdict::PuntKernel
        } else {
            Verdict::Kernel
        }
    } else {
        bump(&ctx.stats.kernel_policed[class as usize], 1);
        if control_too {
            Verdict::Punt
        } else {
            dropped(ctx.stats, DropReason::PuntPoliced)
        }
    }
}

/// Sends an ICMP error in place of the packet, or just drops it. Counts `reason` either way.
pub(super) fn icmp_error<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    pkt: &mut B,
    port: &PortInfo,
    reason: DropReason,
    err: ErrorKind,
    l2_multicast: bool,
) -> Verdict {
    ctx.stats.count_drop(reason);
    if !ctx.icmp.take() {
        bump(&ctx.stats.icmp_rate_limited, 1);
        return Verdict::Drop(reason);
    }
    let sent = match err {
        ErrorKind::V4 { kind, code, rest } => ipv4_error(pkt, port, kind, code, rest),
        ErrorKind::V6 { kind, code, rest } => ipv6_error(pkt, port, kind, code, rest, l2_multicast),
    };
    if sent {
        bump(&ctx.stats.icmp_sent, 1);
        Verdict::Reply
    } else {
        ctx.icmp.refill(1);
        Verdict::Drop(reason)
    }
}

#[derive(Clone, Copy)]
pub(super) enum ErrorKind {
    V4 { kind: u8, code: u8, rest: u32 },
    V6 { kind: u8, code: u8, rest: u32 },
}

pub(super) fn local_v4<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &mut B,
    protocol: u8,
) -> Verdict {
    let eth_len = ethernet::HEADER_LEN;
    if protocol != proto::ICMP {
        return to_kernel(ctx, port, pkt, false);
    }
    let fragment = ipv4::Packet::new_unchecked(&pkt.data()[eth_len..]).is_fragment();
    if fragment {
        // No reassembly here: the kernel interface reassembles, if any.
        return to_kernel(ctx, port, pkt, false);
    }
    let d = pkt.data_mut();
    let mut ip = ipv4::Packet::new_unchecked(&mut d[eth_len..]);
    let (src, dst) = (ip.src(), ip.dst());
    let kind = {
        let Ok(m) = icmp::Packet::new_checked(ip.payload_mut()) else {
            return dropped(ctx.stats, DropReason::BadIcmp);
        };
        if !m.verify_checksum() {
            return dropped(ctx.stats, DropReason::BadIcmp);
        }
        m.msg_type()
    };
    if kind == icmp::kind::ECHO_REPLY {
        // Answers to the control plane's uplink probes (and to the host's pings).
        return to_kernel(ctx, port, pkt, true);
    }
    if kind != icmp::kind::ECHO_REQUEST {
        return to_kernel(ctx, port, pkt, false);
    }
    let d = pkt.data_mut();
    let mut ip = ipv4::Packet::new_unchecked(&mut d[eth_len..]);
    if let Ok(mut m) = icmp::Packet::new_checked(ip.payload_mut()) {
        m.make_echo_reply();
    }
    ip.set_src(dst);
    ip.set_dst(src);
    ip.set_ttl(64);
    ip.fill_checksum();
    reflect_l2(d, port.mac);
    bump(&ctx.stats.icmp_sent, 1);
    bump(&ctx.stats.echo_replies, 1);
    Verdict::Reply
}

pub(super) fn local_v6<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &mut B,
    next: u8,
    src: Ipv6Addr,
    dst: Ipv6Addr,
) -> Verdict {
    let eth_len = ethernet::HEADER_LEN;
    if next != proto::ICMPV6 {
        return to_kernel(ctx, port, pkt, false);
    }
    let kind = {
        let Ok(ip) = ipv6::Packet::new_checked(&mut pkt.data_mut()[eth_len..]) else {
            return dropped(ctx.stats, DropReason::Ipv6Truncated);
        };
        let Ok(m) = icmpv6::Packet::new_checked(ip.payload()) else {
            return dropped(ctx.stats, DropReason::BadIcmp);
        };
        if !m.verify_checksum(&src, &dst) {
            return dropped(ctx.stats, DropReason::BadIcmp);
        }
        m.msg_type()
    };
    if kind == icmpv6::kind::ECHO_REPLY {
        // Answers to the control plane's uplink probes (and to the host's pings).
        return to_kernel(ctx, port, pkt, true);
    }
    if kind != icmpv6::kind::ECHO_REQUEST {
        return to_kernel(ctx, port, pkt, false);
    }
    let d = pkt.data_mut();
    let Ok(mut ip) = ipv6::Packet::new_checked(&mut d[eth_len..]) else {
        return dropped(ctx.stats, DropReason::Ipv6Truncated);
    };
    ip.set_src(dst);
    ip.set_dst(src);
    ip.set_hop_limit(64);
    if let Ok(mut m) = icmpv6::Packet::new_checked(ip.payload_mut()) {
        m.set_type_code(icmpv6::kind::ECHO_REPLY, 0);
        m.fill_checksum(&dst, &src);
    }
    reflect_l2(d, port.mac);
    bump(&ctx.stats.icmp_sent, 1);
    bump(&ctx.stats.echo_replies, 1);
    Verdict::Reply
}
