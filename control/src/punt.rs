//! Frames crossing between workers and the control thread, through bounded
//! lock-free queues (`crossbeam_queue::ArrayQueue`): pushing and popping never
//! allocate or block, and a full queue is a counted drop.
//!
//! - punt: worker -> control, ARP and NDP frames (copied, truncated to [`PUNT_BYTES`]).
//! - resolve: worker -> control, "please resolve this neighbour".
//! - hold: worker -> control, a packet for a neighbour being resolved, to be
//!   sent once it answers (a few per neighbour, like the kernel's queue).
//! - inject: control -> worker, frames to transmit (ARP/NDP requests and
//!   replies, held packets).

use crossbeam_queue::ArrayQueue;
use dataplane::types::PortId;
use std::net::IpAddr;
use std::sync::Arc;

/// Bytes of a punted frame kept (ARP and NDP fit easily).
pub const PUNT_BYTES: usize = 256;
/// Bytes of an injected frame.
pub const INJECT_BYTES: usize = 256;
/// Queue capacity of each direction.
pub const QUEUE_LEN: usize = 1024;

/// A frame copied out of a worker.
#[derive(Clone, Copy, Debug)]
pub struct PuntFrame {
    /// Ingress port.
    pub port: PortId,
    /// Bytes used in `data`.
    pub len: u16,
    /// The frame, from the Ethernet header.
    pub data: [u8; PUNT_BYTES],
}

impl PuntFrame {
    /// Copies up to [`PUNT_BYTES`] of `frame`.
    #[inline]
    pub fn copy_from(port: PortId, frame: &[u8]) -> Self {
        let n = frame.len().min(PUNT_BYTES);
        let mut data = [0u8; PUNT_BYTES];
        data[..n].copy_from_slice(&frame[..n]);
        PuntFrame {
            port,
            len: n as u16,
            data,
        }
    }
    /// The frame bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

/// A frame the control thread wants sent.
#[derive(Clone, Copy, Debug)]
pub struct InjectFrame {
    /// Egress port.
    pub port: PortId,
    /// Bytes used in `data`.
    pub len: u16,
    /// The frame, from the Ethernet header.
    pub data: [u8; INJECT_BYTES],
}

impl InjectFrame {
    /// Builds a frame; `None` when `frame` is longer than [`INJECT_BYTES`].
    pub fn new(port: PortId, frame: &[u8]) -> Option<Self> {
        if frame.len() > INJECT_BYTES {
            return None;
        }
        let mut data = [0u8; INJECT_BYTES];
        data[..frame.len()].copy_from_slice(frame);
        Some(InjectFrame {
            port,
            len: frame.len() as u16,
            data,
        })
    }
    /// The frame bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

/// A worker's request to resolve a neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResolveRequest {
    /// Port the neighbour is on.
    pub port: PortId,
    /// Its address.
    pub addr: IpAddr,
}

/// A packet for a neighbour being resolved, as received (not yet rewritten).
#[derive(Clone, Copy, Debug)]
pub struct HeldFrame {
    /// Port the neighbour is on.
    pub port: PortId,
    /// The neighbour.
    pub addr: IpAddr,
    /// The whole packet, from the Ethernet header (never truncated: a packet
    /// longer than [`PUNT_BYTES`] is not held).
    pub frame: PuntFrame,
}

/// The queues shared by the control thread and the workers.
#[derive(Debug, Clone)]
pub struct Channels {
    /// Worker -> control frames.
    pub punt: Arc<ArrayQueue<PuntFrame>>,
    /// Worker -> control resolution requests.
    pub resolve: Arc<ArrayQueue<ResolveRequest>>,
    /// Worker -> control packets waiting for a neighbour.
    pub hold: Arc<ArrayQueue<HeldFrame>>,
    /// Control -> worker 0 frames to send.
    pub inject: Arc<ArrayQueue<InjectFrame>>,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            punt: Arc::new(ArrayQueue::new(QUEUE_LEN)),
            resolve: Arc::new(ArrayQueue::new(QUEUE_LEN)),
            hold: Arc::new(ArrayQueue::new(QUEUE_LEN)),
            inject: Arc::new(ArrayQueue::new(QUEUE_LEN)),
        }
    }
}

/// One kernel interface's counters, kept by the thread that moves its
/// frames (router::kernel) and read by `/metrics`.
#[derive(Debug, Default)]
pub struct KernelCounters {
    /// Frames written to the kernel interface.
    pub to_kernel_packets: std::sync::atomic::AtomicU64,
    /// Their bytes.
    pub to_kernel_bytes: std::sync::atomic::AtomicU64,
    /// Frames for the kernel that it did not take (its queue was full).
    pub to_kernel_dropped: std::sync::atomic::AtomicU64,
    /// Frames the kernel sent on the interface, put on the port.
    pub from_kernel_packets: std::sync::atomic::AtomicU64,
    /// Their bytes.
    pub from_kernel_bytes: std::sync::atomic::AtomicU64,
    /// Frames the kernel sent that were dropped (no mbuf, a full queue to
    /// the workers, or longer than the port's MTU allows).
    pub from_kernel_dropped: std::sync::atomic::AtomicU64,
}

/// A copy of [`KernelCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// See [`KernelCounters::to_kernel_packets`].
    pub to_kernel_packets: u64,
    /// See [`KernelCounters::to_kernel_bytes`].
    pub to_kernel_bytes: u64,
    /// See [`KernelCounters::to_kernel_dropped`].
    pub to_kernel_dropped: u64,
    /// See [`KernelCounters::from_kernel_packets`].
    pub from_kernel_packets: u64,
    /// See [`KernelCounters::from_kernel_bytes`].
    pub from_kernel_bytes: u64,
    /// See [`KernelCounters::from_kernel_dropped`].
    pub from_kernel_dropped: u64,
}

impl KernelCounters {
    /// The counters now.
    pub fn snapshot(&self) -> KernelStats {
        use std::sync::atomic::Ordering::Relaxed;
        KernelStats {
            to_kernel_packets: self.to_kernel_packets.load(Relaxed),
            to_kernel_bytes: self.to_kernel_bytes.load(Relaxed),
            to_kernel_dropped: self.to_kernel_dropped.load(Relaxed),
            from_kernel_packets: self.from_kernel_packets.load(Relaxed),
            from_kernel_bytes: self.from_kernel_bytes.load(Relaxed),
            from_kernel_dropped: self.from_kernel_dropped.load(Relaxed),
        }
    }
}
