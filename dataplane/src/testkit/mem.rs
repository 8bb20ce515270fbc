//! [`Io`] over memory: frames in [`VecBuf`]s, queues in `VecDeque`s
//! with the capacities a test sets. For tests and benchmarks (it
//! allocates: a `VecDeque` per queue, a `Vec` per burst).

use crate::poll::*;
use crate::types::PortId;
use crate::{PacketBuf, VecBuf};
use std::collections::VecDeque;
use std::net::IpAddr;

/// A frame the loop owns: bytes with headroom and the metadata of a
/// DPDK mbuf that the loop reads.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The bytes.
    pub buf: VecBuf,
    /// The user tag.
    pub tag: u32,
    /// The device port it came in on.
    pub port: u16,
    /// Buffers it is in.
    pub segments: u16,
}

impl Frame {
    /// A one-segment frame of `bytes` received on device port `port`.
    pub fn new(port: u16, bytes: &[u8]) -> Self {
        Frame {
            buf: VecBuf::new(bytes),
            tag: 0,
            port,
            segments: 1,
        }
    }
}

impl PacketBuf for Frame {
    fn data(&self) -> &[u8] {
        self.buf.data()
    }
    fn data_mut(&mut self) -> &mut [u8] {
        self.buf.data_mut()
    }
    fn prepend(&mut self, n: usize) -> bool {
        self.buf.prepend(n)
    }
    fn truncate(&mut self, len: usize) {
        self.buf.truncate(len)
    }
    fn adj(&mut self, n: usize) -> bool {
        self.buf.adj(n)
    }
}

impl Owned for Frame {
    fn segments(&self) -> u16 {
        self.segments
    }
    fn tag(&self) -> u32 {
        self.tag
    }
    fn set_tag(&mut self, tag: u32) {
        self.tag = tag
    }
    fn rx_port(&self) -> u16 {
        self.port
    }
    fn append(&mut self, bytes: &[u8]) -> bool {
        self.buf.extend(bytes);
        true
    }
}

/// Up to `N` frames.
#[derive(Debug)]
pub struct Frames<const N: usize>(Vec<Frame>);

impl<const N: usize> Default for Frames<N> {
    fn default() -> Self {
        Frames(Vec::with_capacity(N))
    }
}

impl<const N: usize> Burst for Frames<N> {
    type Pkt = Frame;
    const CAP: usize = N;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn pkts(&mut self) -> &mut [Frame] {
        &mut self.0
    }
    fn push(&mut self, p: Frame) -> Result<(), Frame> {
        if self.0.len() == N {
            return Err(p);
        }
        self.0.push(p);
        Ok(())
    }
    fn split_into(&mut self, into: &mut Self, mut take: impl FnMut(usize, &Frame) -> bool) {
        let mut kept = Vec::with_capacity(N);
        for (i, p) in std::mem::take(&mut self.0).into_iter().enumerate() {
            if !into.is_full() && take(i, &p) {
                into.0.push(p);
            } else {
                kept.push(p);
            }
        }
        self.0 = kept;
    }
    fn retain(&mut self, mut keep: impl FnMut(&Frame) -> bool) -> usize {
        let n = self.0.len();
        self.0.retain(|p| keep(p));
        n - self.0.len()
    }
    fn drain(&mut self) -> impl Iterator<Item = Frame> + '_ {
        self.0.drain(..)
    }
    fn clear(&mut self) -> usize {
        let n = self.0.len();
        self.0.clear();
        n
    }
}

/// A bounded queue: what a test feeds in or reads out.
#[derive(Debug)]
pub struct Queue<T> {
    /// The items, oldest first.
    pub items: VecDeque<T>,
    /// The most it holds; pushing beyond is refused.
    pub cap: usize,
}

impl<T> Queue<T> {
    /// An empty queue of capacity `cap`.
    pub fn new(cap: usize) -> Self {
        Queue {
            items: VecDeque::new(),
            cap,
        }
    }
    /// Adds `t` unless the queue is full.
    pub fn offer(&mut self, t: T) -> Result<(), T> {
        if self.items.len() >= self.cap {
            return Err(t);
        }
        self.items.push_back(t);
        Ok(())
    }
}

/// A frame waiting for a neighbour ([`Io::hold`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Port the neighbour is on.
    pub port: PortId,
    /// The neighbour.
    pub addr: IpAddr,
    /// The port the frame came in on.
    pub in_port: PortId,
    /// The frame.
    pub frame: Vec<u8>,
}

/// A worker's queues in memory. Every field is a test's to fill and read.
#[derive(Debug)]
pub struct MemIo {
    /// Frames waiting on each port's rx queue.
    pub rx: Vec<VecDeque<Frame>>,
    /// Frames each port's tx queue took.
    pub sent: Vec<Vec<Frame>>,
    /// How many frames each tx call takes at most (a full queue takes fewer).
    pub tx_room: usize,
    /// Copies for the control thread: (ingress port, bytes).
    pub punted: Queue<(PortId, Vec<u8>)>,
    /// Resolution requests.
    pub resolving: Vec<(PortId, IpAddr)>,
    /// Frames held for a neighbour.
    pub held: Queue<Held>,
    /// The longest frame the hold queue takes.
    pub hold_max: usize,
    /// Frames for the kernel interfaces (`None`: there are none).
    pub kernel: Option<Queue<Frame>>,
    /// Frames from the kernel interfaces, tagged with their port.
    pub from_kernel: VecDeque<Frame>,
    /// Frames the control thread asks to send (`None`: no buffer for it).
    pub inject: VecDeque<Option<(PortId, Vec<u8>)>>,
    /// Rings to each worker (the own index unused).
    pub steer_to: Vec<Queue<Frame>>,
    /// Rings from the other workers.
    pub steer_from: Vec<VecDeque<Frame>>,
    /// Buffers the pool still gives ([`Io::alloc`]).
    pub pool: usize,
}

impl MemIo {
    /// `ports` ports, roomy queues, no kernel interfaces, one worker.
    pub fn new(ports: usize) -> Self {
        MemIo {
            rx: (0..ports).map(|_| VecDeque::new()).collect(),
            sent: (0..ports).map(|_| Vec::new()).collect(),
            tx_room: usize::MAX,
            punted: Queue::new(1024),
            resolving: Vec::new(),
            held: Queue::new(1024),
            hold_max: 256,
            kernel: None,
            from_kernel: VecDeque::new(),
            inject: VecDeque::new(),
            steer_to: Vec::new(),
            steer_from: Vec::new(),
            pool: usize::MAX,
        }
    }
}

fn fill<const N: usize>(q: &mut VecDeque<Frame>, into: &mut Frames<N>) -> usize {
    let mut n = 0;
    while !into.is_full() {
        let Some(f) = q.pop_front() else { break };
        into.0.push(f);
        n += 1;
    }
    n
}

impl Io for MemIo {
    type Pkt = Frame;
    type Rx = Frames<BURST>;
    type Tx = Frames<{ 2 * BURST }>;
    fn rx(&mut self, port: usize, into: &mut Self::Rx) -> usize {
        fill(&mut self.rx[port], into)
    }
    fn tx(&mut self, port: usize, pkts: &mut Self::Tx) {
        let n = pkts.len().min(self.tx_room);
        self.sent[port].extend(pkts.0.drain(..n));
    }
    fn punt(&mut self, in_port: PortId, frame: &[u8]) -> bool {
        self.punted.offer((in_port, frame.to_vec())).is_ok()
    }
    fn resolve(&mut self, port: PortId, addr: IpAddr) {
        self.resolving.push((port, addr));
    }
    fn hold(&mut self, port: PortId, addr: IpAddr, in_port: PortId, frame: &[u8]) -> bool {
        let h = Held {
            port,
            addr,
            in_port,
            frame: frame.to_vec(),
        };
        frame.len() <= self.hold_max && self.held.offer(h).is_ok()
    }
    fn to_kernel(&mut self, p: Frame) -> Result<(), Refused> {
        let k = self.kernel.as_mut().ok_or(Refused::Absent)?;
        k.offer(p).map_err(|_| Refused::Full)
    }
    fn kernel_frames(&mut self, into: &mut Self::Rx) -> usize {
        fill(&mut self.from_kernel, into)
    }
    fn inject(&mut self) -> Option<Injected<Frame>> {
        Some(match self.inject.pop_front()? {
            Some((port, bytes)) => Injected::Frame(port, Frame::new(u16::MAX, &bytes)),
            None => Injected::NoBuffer,
        })
    }
    fn alloc(&mut self) -> Option<Frame> {
        self.pool = self.pool.checked_sub(1)?;
        Some(Frame::new(u16::MAX, &[]))
    }
    fn steer(&mut self, worker: u16, pkts: &mut Self::Rx) -> usize {
        let Some(q) = self.steer_to.get_mut(worker as usize) else {
            return 0;
        };
        let n = pkts.len().min(q.cap.saturating_sub(q.items.len()));
        q.items.extend(pkts.0.drain(..n));
        n
    }
    fn steer_one(&mut self, worker: u16, p: Frame) -> Result<(), Frame> {
        match self.steer_to.get_mut(worker as usize) {
            Some(q) => q.offer(p),
            None => Err(p),
        }
    }
    fn steered_rings(&self) -> usize {
        self.steer_from.len()
    }
    fn steered(&mut self, ring: usize, into: &mut Self::Rx) -> usize {
        fill(&mut self.steer_from[ring], into)
    }
}
