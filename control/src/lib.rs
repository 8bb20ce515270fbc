//! The control plane of ecmp-router: YAML config, FIB building and RCU
//! publication, neighbour resolution (ARP/NDP), and Prometheus exposition.
//!
//! Nothing here touches DPDK; the router crate moves frames between the
//! workers and this crate through lock-free bounded queues ([`punt`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod fpm;
pub mod hold;
pub mod host_pool;
pub mod loglimit;
pub mod metrics;
pub mod punt;
pub mod rcu;
pub mod rib;
pub mod state;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
