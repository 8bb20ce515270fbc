use super::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv6Addr};

/// Builds netlink messages the way zebra's dplane_fpm_nl does.
pub struct Nl(Vec<u8>);

impl Nl {
    pub fn new(kind: u16) -> Nl {
        let mut v = vec![0u8; 16];
        v[4..6].copy_from_slice(&kind.to_le_bytes());
        Nl(v)
    }
    pub fn raw(mut self, b: &[u8]) -> Nl {
        self.0.extend_from_slice(b);
        self
    }
    pub fn attr(mut self, kind: u16, p: &[u8]) -> Nl {
        self.0
            .extend_from_slice(&((4 + p.len()) as u16).to_le_bytes());
        self.0.extend_from_slice(&kind.to_le_bytes());
        self.0.extend_from_slice(p);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }
    /// The whole FPM frame.
    pub fn fpm(mut self) -> Vec<u8> {
        let n = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&n.to_le_bytes());
        let mut f = vec![1u8, 1];
        f.extend_from_slice(&((n as usize + 4) as u16).to_be_bytes());
        f.extend_from_slice(&self.0);
        f
    }
}

pub fn rtmsg(family: u8, dst_len: u8, rtype: u8) -> [u8; 12] {
    [family, dst_len, 0, 0, 254, 196, 0, rtype, 0, 0, 0, 0]
}

/// The route changes among `c`.
fn routes(c: Vec<Change>) -> Vec<Resolved> {
    c.into_iter()
        .filter_map(|c| match c {
            Change::Route(r) => Some(r),
            Change::Object(_) => None,
        })
        .collect()
}

fn one(f: &[u8]) -> Message {
    let (nl, used) = frame(f).unwrap().unwrap();
    assert_eq!(used, f.len());
    decode(nl).unwrap()
}

#[test]
fn multipath_route() {
    let mut mp = Vec::new();
    for (gw, hops) in [([10u8, 1, 0, 2], 0u8), ([10, 2, 0, 2], 1)] {
        mp.extend_from_slice(&16u16.to_le_bytes());
        mp.extend_from_slice(&[0, hops]);
        mp.extend_from_slice(&7u32.to_le_bytes());
        mp.extend_from_slice(&8u16.to_le_bytes());
        mp.extend_from_slice(&RTA_GATEWAY.to_le_bytes());
        mp.extend_from_slice(&gw);
    }
    let f = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .attr(RTA_TABLE, &254u32.to_le_bytes())
        .attr(RTA_DST, &[198, 51, 100, 0])
        .attr(RTA_PRIORITY, &20u32.to_le_bytes())
        .attr(RTA_MULTIPATH, &mp)
        .fpm();
    let m = one(&f);
    let Message::Route {
        table,
        prefix,
        priority,
        target: Some(Target::Paths(p)),
        ..
    } = m.clone()
    else {
        panic!("{m:?}")
    };
    assert_eq!(
        (table, prefix.to_string(), priority),
        (254, "198.51.100.0/24".to_owned(), 20)
    );
    assert_eq!(
        p.iter()
            .map(|x| (x.gateway.unwrap().to_string(), x.weight))
            .collect::<Vec<_>>(),
        [("10.1.0.2".into(), 1), ("10.2.0.2".into(), 2)]
    );
    let mut s = Session::default();
    let r = routes(s.apply(m).unwrap());
    assert_eq!(r[0].members.len(), 2);
}

#[test]
fn route_types_protocol_metric_and_rta_via() {
    use crate::config::Reject;
    let mut s = Session::default();
    let typed = |rtype: u8, o: u8| {
        let mut rtm = rtmsg(AF_INET, 24, rtype);
        rtm[5] = 186; // RTPROT_BGP
        Nl::new(RTM_NEWROUTE)
            .raw(&rtm)
            .attr(RTA_DST, &[192, 0, o, 0])
            .attr(RTA_PRIORITY, &20u32.to_le_bytes())
            .fpm()
    };
    for (rtype, o, want) in [
        (RTN_BLACKHOLE, 1, Reject::Blackhole),
        (RTN_UNREACHABLE, 2, Reject::Unreachable),
        (RTN_PROHIBIT, 3, Reject::Prohibit),
    ] {
        let r = routes(s.apply(one(&typed(rtype, o))).unwrap());
        assert_eq!(
            (r[0].reject, r[0].protocol, r[0].metric),
            (Some(want), 186, 20)
        );
        assert!(r[0].members.is_empty());
    }
    // RTN_LOCAL (2): held, not installable, with its type.
    let r = routes(s.apply(one(&typed(2, 4))).unwrap());
    assert_eq!((r[0].reject, r[0].unsupported_type), (None, Some(2)));
    // RTA_VIA: an IPv4 route through an IPv6 gateway.
    let mut v = 10u16.to_le_bytes().to_vec();
    v.extend_from_slice(&"fd01::2".parse::<Ipv6Addr>().unwrap().octets());
    let f = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .attr(RTA_DST, &[198, 51, 100, 0])
        .attr(RTA_VIA, &v)
        .fpm();
    let r = routes(s.apply(one(&f)).unwrap());
    assert_eq!(r[0].members, [("fd01::2".parse::<IpAddr>().unwrap(), 1)]);
    assert_eq!(r[0].protocol, 196);
    // A truncated RTA_VIA is an error naming it.
    let f = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .attr(RTA_DST, &[198, 51, 100, 0])
        .attr(RTA_VIA, &[10])
        .fpm();
    let (nl, _) = frame(&f).unwrap().unwrap();
    assert!(matches!(decode(nl), Err(Error::BadAttr(RTA_VIA, _))));
    // A route through a blackhole nexthop object is a blackhole.
    let bh = Nl::new(RTM_NEWNEXTHOP)
        .raw(&[AF_INET, 0, 0, 0, 0, 0, 0, 0])
        .attr(NHA_ID, &7u32.to_le_bytes())
        .attr(NHA_BLACKHOLE, &[])
        .fpm();
    let o = s.apply(one(&bh)).unwrap();
    assert!(matches!(
        &o[..],
        [Change::Object(Object {
            id: 7,
            blackhole: true,
            ..
        })]
    ));
    let f = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .attr(RTA_DST, &[203, 0, 113, 0])
        .attr(RTA_NH_ID, &7u32.to_le_bytes())
        .fpm();
    assert_eq!(routes(s.apply(one(&f)).unwrap())[0].object, Some(7));
}

#[test]
fn the_nexthop_limit_refuses_new_objects_and_keeps_the_session() {
    let mut s = Session::with_limits(Limits {
        routes: 1,
        nexthops: 1,
    });
    let route = |o: u8| {
        Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_DST, &[198, 51, o, 0])
            .attr(RTA_GATEWAY, &[10, 1, 0, 2])
            .fpm()
    };
    let nh = |id: u32| {
        Nl::new(RTM_NEWNEXTHOP)
            .raw(&[AF_INET, 0, 0, 0, 0, 0, 0, 0])
            .attr(NHA_ID, &id.to_le_bytes())
            .attr(NHA_GATEWAY, &[10, 1, 0, 2])
            .fpm()
    };
    // Routes are not the session's to count (the FPM server asks the
    // control plane, which holds them: tests/e2e/fpm_sessions.sh).
    assert_eq!(s.apply(one(&route(1))).unwrap().len(), 1);
    assert_eq!(s.apply(one(&route(2))).unwrap().len(), 1);
    assert!(s.apply(one(&nh(1))).is_ok());
    assert_eq!(s.apply(one(&nh(2))), Err(Refused::NexthopLimit));
    // An update of an object it holds is not a new one.
    assert!(s.apply(one(&nh(1))).is_ok());
    assert_eq!(s.objects().len(), 1);
}

#[test]
fn nexthop_objects_and_groups() {
    let mut s = Session::default();
    let nh = |id: u32, gw: [u8; 16]| {
        Nl::new(RTM_NEWNEXTHOP)
            .raw(&[AF_INET6, 0, 0, 0, 0, 0, 0, 0])
            .attr(NHA_ID, &id.to_le_bytes())
            .attr(NHA_GATEWAY, &gw)
            .attr(NHA_OIF, &3u32.to_le_bytes())
            .fpm()
    };
    let g1: Ipv6Addr = "fd01::2".parse().unwrap();
    let g2: Ipv6Addr = "fd02::2".parse().unwrap();
    s.apply(one(&nh(1, g1.octets()))).unwrap();
    s.apply(one(&nh(2, g2.octets()))).unwrap();
    let mut grp = Vec::new();
    for (id, w) in [(1u32, 0u8), (2, 2)] {
        grp.extend_from_slice(&id.to_le_bytes());
        grp.extend_from_slice(&[w, 0, 0, 0]);
    }
    s.apply(one(&Nl::new(RTM_NEWNEXTHOP)
        .raw(&[0; 8])
        .attr(NHA_ID, &10u32.to_le_bytes())
        .attr(NHA_GROUP, &grp)
        .fpm()))
        .unwrap();
    let route = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET6, 64, RTN_UNICAST))
        .attr(
            RTA_DST,
            &"2001:db8:100::".parse::<Ipv6Addr>().unwrap().octets(),
        )
        .attr(RTA_NH_ID, &10u32.to_le_bytes())
        .fpm();
    let r = routes(s.apply(one(&route)).unwrap());
    assert_eq!(r[0].object, Some(10));
    assert!(r[0].members.is_empty());
    assert_eq!(
        s.object(10).members,
        [(IpAddr::V6(g1), 1), (IpAddr::V6(g2), 3)]
    );
    // Changing a member object is one change to it and one to the group
    // that holds it, not one per route that uses the group.
    for o in 0..100u8 {
        let more = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET6, 64, RTN_UNICAST))
            .attr(
                RTA_DST,
                &[0x20, 1, 0xd, 0xb8, 2, o, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            )
            .attr(RTA_NH_ID, &10u32.to_le_bytes())
            .fpm();
        s.apply(one(&more)).unwrap();
    }
    let g3: Ipv6Addr = "fd03::2".parse().unwrap();
    let r = s.apply(one(&nh(2, g3.octets()))).unwrap();
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(matches!(&r[0], Change::Object(o) if o.id == 2 && o.members == [(IpAddr::V6(g3), 1)]));
    assert!(
        matches!(&r[1], Change::Object(o) if o.id == 10 && o.members[1] == (IpAddr::V6(g3), 3))
    );
    // Deleting the route withdraws it.
    let del = Nl::new(RTM_DELROUTE)
        .raw(&rtmsg(AF_INET6, 64, RTN_UNICAST))
        .attr(
            RTA_DST,
            &"2001:db8:100::".parse::<Ipv6Addr>().unwrap().octets(),
        )
        .fpm();
    let r = routes(s.apply(one(&del)).unwrap());
    assert_eq!((r[0].object, r[0].members.len()), (None, 0));
    assert_eq!(s.objects().len(), 3, "the objects stay");
}

#[test]
fn a_frame_may_carry_several_messages() {
    // zebra's route update: RTM_DELROUTE then RTM_NEWROUTE in one frame.
    let del = Nl::new(RTM_DELROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .attr(RTA_DST, &[203, 0, 113, 0])
        .fpm();
    let new = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .attr(RTA_DST, &[203, 0, 113, 0])
        .attr(RTA_NH_ID, &16u32.to_le_bytes())
        .fpm();
    let mut frame_bytes = vec![1u8, 1, 0, 0];
    frame_bytes.extend_from_slice(&del[4..]);
    frame_bytes.extend_from_slice(&new[4..]);
    let n = frame_bytes.len() as u16;
    frame_bytes[2..4].copy_from_slice(&n.to_be_bytes());
    let (nl, _) = frame(&frame_bytes).unwrap().unwrap();
    let msgs = decode_frame(nl).unwrap();
    assert_eq!(msgs.len(), 2);
    assert!(matches!(
        msgs[1],
        Message::Route {
            target: Some(Target::NexthopId(16)),
            ..
        }
    ));
    // A malformed second message rejects the whole frame.
    let mut bad = nl.to_vec();
    let last = bad.len() - 1;
    bad.truncate(last);
    assert!(decode_frame(&bad).is_err());
}

#[test]
fn malformed_input_is_an_error() {
    assert_eq!(frame(&[2, 1, 0, 8]).unwrap_err(), Error::BadHeader(2, 1));
    assert_eq!(frame(&[1, 1, 0, 2]).unwrap_err(), Error::BadLength(2));
    assert_eq!(
        frame(&[1, 1, 0, 40, 0]).unwrap(),
        None,
        "incomplete frame waits for more bytes"
    );
    let bad_attr = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .raw(&[200, 0, 1, 0])
        .fpm();
    assert!(matches!(
        decode(frame(&bad_attr).unwrap().unwrap().0),
        Err(Error::BadAttr(..))
    ));
    let bad_family = Nl::new(RTM_NEWROUTE).raw(&rtmsg(7, 24, RTN_UNICAST)).fpm();
    assert_eq!(
        decode(frame(&bad_family).unwrap().unwrap().0),
        Err(Error::BadFamily(7))
    );
    let host_bits = Nl::new(RTM_NEWROUTE)
        .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
        .attr(RTA_DST, &[198, 51, 100, 1])
        .fpm();
    assert!(decode(frame(&host_bits).unwrap().unwrap().0).is_err());
    assert_eq!(
        decode(
            frame(&Nl::new(RTM_NEWNEXTHOP).raw(&[0; 8]).fpm())
                .unwrap()
                .unwrap()
                .0
        ),
        Err(Error::BadAttr(NHA_ID, "missing"))
    );
    assert_eq!(one(&Nl::new(16).raw(&[0; 16]).fpm()), Message::Ignored(16));
}

proptest! {
    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = frame(&data);
        let _ = decode(&data);
        let mut d = data.clone();
        if d.len() >= 6 {
            d[4] = 24;
            d[5] = 0;
            let n = (d.len() as u32).to_le_bytes();
            d[..4].copy_from_slice(&n);
            let _ = decode(&d);
            d[4] = 104;
            let _ = decode(&d);
        }
    }
}
