//! The DPDK layer on real devices: `net_null` and `net_ring` ports, rings and
//! mempools, under one EAL (an EAL starts once per process, so this is one
//! test). Needs root, like every DPDK program here (`--no-huge`).

use dataplane::PacketBuf;
use dpdk::{Burst, CreateError, Eal, EalError, Mbuf, Mempool, Port, PortError, Ring};
use std::sync::Arc;

fn eal() -> Eal {
    let prefix = format!("dpdk-crate-test-{}", std::process::id());
    let args: Vec<String> = [
        "dpdk-test",
        "--no-huge",
        "--no-shconf",
        "--no-pci",
        "-m",
        "256",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Eal::init(&args).expect("the EAL starts (as root)")
}

/// A burst of `n` frames, frame `i` of 60 bytes of `i`.
fn frames<const N: usize>(pool: &Mempool, n: usize) -> Burst<N> {
    let mut b = Burst::default();
    for i in 0..n {
        let m = Mbuf::from_bytes(pool, &[i as u8; 60]).expect("an mbuf");
        assert!(b.push(m).is_ok());
    }
    b
}

#[test]
fn ports_rings_and_pools_on_virtual_devices() {
    if unsafe_is_not_root() {
        eprintln!("skipped: DPDK needs root here");
        return;
    }
    let eal = eal();
    // A second EAL in the same process is refused, not undefined.
    assert!(matches!(
        Eal::init(&["again".to_string()]),
        Err(EalError::Init { errno: 114, .. })
    ));
    let pool = Arc::new(Mempool::new(&eal, "test_pool", 1023, 32, 2176).expect("a pool"));
    assert!(matches!(
        Mempool::new(&eal, "bad\0name", 63, 0, 2176),
        Err(CreateError::Name(_))
    ));

    // net_null with no-rx: tx takes everything, rx gives nothing.
    let null = Port::probe(&eal, "net_null0,no-rx=1").expect("net_null probes");
    assert!(
        matches!(
            Port::probe(&eal, "net_null0,no-rx=1"),
            Err(PortError::Started(id)) if id == null.id()
        ),
        "a second handle on a port is refused"
    );
    let mut queues = null.start(2, 256, 1500, &pool).expect("net_null starts");
    assert!(matches!(
        null.start(2, 256, 1500, &pool),
        Err(PortError::Started(_))
    ));
    assert_eq!(queues.len(), 2);
    assert_eq!(
        (queues[1].0.queue_id(), queues[1].1.port_id()),
        (1, null.id())
    );
    let mut out: Burst<32> = frames(&pool, 5);
    assert_eq!(out.tx(&mut queues[1].1), 5);
    assert_eq!(out.len(), 0);
    let mut inb: Burst<32> = Burst::default();
    assert_eq!(inb.rx(&mut queues[0].0), 0);
    assert_eq!(null.stats().tx_packets, 5);

    // net_ring: one ring is both rx and tx, so what is sent comes back.
    let ring_port = Port::probe(&eal, "net_ring0").expect("net_ring probes");
    let mut rq = ring_port
        .start(1, 256, 1500, &pool)
        .expect("net_ring starts");
    let mut out: Burst<32> = frames(&pool, 3);
    assert_eq!(out.tx(&mut rq[0].1), 3);
    assert_eq!(inb.rx(&mut rq[0].0), 3);
    let got: Vec<Vec<u8>> = inb.drain().map(|m| m.data().to_vec()).collect();
    assert_eq!(got, vec![vec![0u8; 60], vec![1u8; 60], vec![2u8; 60]]);

    // A ring between two threads: 8 slots hold 7; the eighth comes back.
    let (mut p, mut c) = Ring::create(&eal, "test_ring", 8).expect("a ring");
    assert!(
        matches!(
            Ring::create(&eal, "test_ring", 8),
            Err(CreateError::Ring { .. })
        ),
        "a taken name is an error"
    );
    let mut b: Burst<8> = frames(&pool, 8);
    assert_eq!(b.enqueue(&mut p), 7);
    let last = b.drain().next().expect("one left");
    assert!(p.enqueue_one(last).is_err(), "full");
    let consumer = std::thread::spawn(move || {
        let mut got: Burst<8> = Burst::default();
        let n = got.dequeue(&mut c);
        (n, got.drain().map(|m| m.data()[0]).collect::<Vec<u8>>(), c)
    });
    let (n, firsts, c) = consumer.join().expect("the consumer thread");
    assert_eq!((n, firsts), (7, (0..7).collect::<Vec<u8>>()));
    // Mbufs still queued when both ends go are freed with the ring.
    let mut b: Burst<8> = frames(&pool, 3);
    assert_eq!(b.enqueue(&mut p), 3);
    drop((p, c));

    // An 802.1Q tag in and out of a real mbuf: prepend into the headroom
    // (128 bytes, no more), adj gives the bytes back.
    let mut m = Mbuf::from_bytes(&pool, &(0..60u8).collect::<Vec<u8>>()).expect("an mbuf");
    assert!(dataplane::vlan::tag(&mut m, 100));
    assert_eq!(m.data().len(), 64);
    assert_eq!(m.data()[12..16], [0x81, 0x00, 0x00, 100]);
    assert_eq!(m.data()[16], 12);
    assert!(dataplane::vlan::strip(&mut m));
    assert_eq!(m.data(), &(0..60u8).collect::<Vec<u8>>()[..]);
    assert!(!m.prepend(129), "no more than the headroom");
    assert!(m.prepend(128));
    assert!(!m.prepend(1));
    assert!(m.adj(188) && m.data().is_empty());
    assert!(!m.adj(1));
    drop(m);

    // Teardown in any order: the ports close with their last handle, the
    // pool after them, the EAL last. An mbuf held past all of them stays
    // valid: its pool and the EAL's memory are kept.
    let held = Mbuf::from_bytes(&pool, &[7u8; 60]).expect("an mbuf");
    drop(eal);
    drop(null);
    drop(queues);
    drop(ring_port);
    drop(rq);
    drop(pool);
    assert_eq!(held.data(), &[7u8; 60][..]);
    drop(held);
}

/// True when not root (DPDK needs it for its memory even with --no-huge).
fn unsafe_is_not_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) != Some("0"))
        })
        .unwrap_or(true)
}
