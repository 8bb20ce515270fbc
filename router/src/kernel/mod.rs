//! Kernel interfaces (`kernel-interfaces: true`): a TAP per port, named like
//! the port, with its MAC, MTU and addresses, so that FRR, BIRD and sshd run
//! on the host unmodified and reach the wire through the router's ports.
//!
//! - Workers hand what is for the router and not consumed by it to this
//!   module's thread as whole mbufs, through one single-producer ring per
//!   worker ([`KernelRings::to_kernel`]); the thread writes each to its
//!   port's TAP and frees it.
//! - What the kernel sends on a TAP is read here, copied into mbufs
//!   (chained when longer than a segment), and handed to a worker through
//!   one ring per worker ([`KernelRings::from_kernel`]), round robin; the
//!   worker puts it on the port with its own tx queue.
//! - The thread also learns routing peers from what the host sends
//!   (`dataplane::punt::learned_peer`), and follows the ports' effective link
//!   state with the TAPs' carrier.
//!
//! TAPs come from the `tun` crate and are configured over rtnetlink (MAC,
//! MTU, addresses, carrier) and `/proc/sys` (no RA, no redirects, no DAD):
//! no `unsafe` here. A TAP is not persistent: it goes away when the process
//! does, crash included.
//!
//! - `tap`: the TAPs and their link configuration (MAC, MTU, addresses,
//!   carrier, sysctls);
//! - `io`: the rings and the thread that moves frames between them and the TAPs;
//! - `watch`: the kernel's neighbours and routes the router mirrors.

mod io;
mod tap;
mod watch;

pub use io::{rings, Io, KernelRings, ThreadRings, RING};
pub use tap::{create, KernelIf};
pub use watch::{watch_neighbors, watch_routes, KernelNeighbor};

/// True when the tests run as root (TAPs and DPDK need it; without it they skip).
#[cfg(test)]
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
