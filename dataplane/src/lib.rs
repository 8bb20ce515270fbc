//! Everything a packet meets on its way through an ecmp-router worker:
//! wire formats and their validation, longest-prefix match, flow hashing,
//! weighted nexthop groups, the forwarding pipeline, ICMP generation, drop
//! reasons and per-lcore counters.
//!
//! This crate knows nothing of DPDK. It sees packets through [`PacketBuf`],
//! which DPDK mbufs implement in the `router` crate and [`VecBuf`] implements
//! here, so every forwarding rule is unit-tested without an EAL.
//!
//! Invariant: nothing reachable from [`forward::process`] allocates, locks,
//! logs or makes a system call.
//!
//! No `unsafe` code, but in [`arch`]: CPU intrinsics behind safe functions.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod arch;
pub mod buf;
pub mod checksum;
pub mod drop;
pub mod fib;
pub mod flow;
pub mod flowtable;
pub mod forward;
pub mod frag;
pub mod frames;
pub mod hash;
pub mod icmp_error;
pub mod intern;
pub mod lpm;
pub mod nat;
pub mod neighbor;
pub mod nhg;
pub mod policy;
pub mod poll;
pub mod punt;
pub mod stats;
pub mod tablegen;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod types;
pub mod vlan;
pub mod wire;

pub use buf::{PacketBuf, VecBuf};
pub use drop::DropReason;
pub use fib::Fib;
pub use forward::Verdict;
pub use types::{GroupId, MacAddr, NexthopId, PortId, Prefix, PrefixError};
