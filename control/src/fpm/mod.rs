//! The FPM protocol (FRR's Forwarding Plane Manager) as zebra's
//! `dplane_fpm_nl` module speaks it: a 4-byte header (version 1, type 1 =
//! netlink, big-endian u16 length including the header) and one netlink
//! message per frame (RFC 3549 framing, `rtnetlink(7)` bodies).
//!
//! Decoded: RTM_NEWROUTE / RTM_DELROUTE for IPv4 and IPv6 (RTA_DST,
//! RTA_GATEWAY, RTA_OIF, RTA_MULTIPATH with weight = rtnh_hops + 1,
//! RTA_TABLE, RTA_PRIORITY, RTA_NH_ID) and RTM_NEWNEXTHOP / RTM_DELNEXTHOP
//! (NHA_ID, NHA_GATEWAY, NHA_OIF, NHA_GROUP with weight = weight + 1,
//! NHA_BLACKHOLE). Everything else is skipped and counted.
//!
//! Netlink is host-endian (little-endian here). Decoding never panics and
//! never allocates more than the frame holds: a malformed frame is an
//! [`Error`], and the server resets the connection without applying it.
//!
//! Interfaces: FRR runs in its own namespace, with its own ifindexes, so the
//! router does not use RTA_OIF. A gateway maps to the router port whose subnet
//! holds it (the control plane's `fpm_port`).
//!
//! - `decode.rs`: frames and netlink messages into [`Message`]s;
//! - `session.rs`: one zebra session's state ([`Session`]): its nexthop
//!   objects, and each route message resolved to paths or an object.
//!
//! The server (accepting zebra, reading frames, applying them) is the
//! router's `fpm_server.rs`: it is I/O, and this crate has none.

mod decode;
mod session;
#[cfg(test)]
pub(crate) mod tests;

pub use decode::*;
pub use session::*;
