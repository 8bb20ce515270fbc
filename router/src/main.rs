//! `ecmp-router`: the DPDK ECMP router daemon.
//!
//! Start-up: load and validate the config (refuse it whole on any error),
//! initialise the EAL, probe and start every port, build the first FIB, launch
//! one worker per worker lcore, then serve `/metrics` and run the control loop
//! on the main lcore until SIGINT or SIGTERM. Teardown runs in reverse.

use anyhow::{bail, Context, Result};
use clap::Parser;
use control::config::{self, Config};
use control::punt::Channels;
use control::rcu::Quiescent;
use control::state::ControlPlane;
use dataplane::stats::LcoreStats;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod api;
mod fpm_server;
mod http_server;
mod kernel;
mod systemd;
mod worker;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Nexthops (gateways plus learned hosts) the router can hold.
const MAX_NEXTHOPS: usize = 65536;
/// Descriptors per rx and tx queue.
const QUEUE_DESC: u16 = 1024;

#[derive(Parser, Debug)]
#[command(name = "ecmp-router", version, about = "DPDK ECMP router")]
struct Args {
    /// Run the router with this YAML config.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["check_config", "man", "openapi"])]
    config: Option<PathBuf>,
    /// Validate this config and exit (0 when valid, 1 with the error when not).
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,
    /// Prints the manual page, ecmp-router(8), in roff and exits (the package's build runs it).
    #[arg(long, hide = true)]
    man: bool,
    /// Prints the API's OpenAPI description (docs/openapi.json) and exits.
    #[arg(long)]
    openapi: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.man {
        use clap::CommandFactory;
        let page = clap_mangen::Man::new(Args::command()).section("8");
        return match page.render(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: writing the manual page: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.openapi {
        return match serde_json::to_string_pretty(&api::openapi()) {
            Ok(j) => {
                println!("{j}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(path) = args.check_config {
        return match config::load(&path) {
            Ok(c) => {
                println!(
                    "{}: OK ({} ports, {} routes, {} static neighbours, {} worker(s), api {})",
                    path.display(),
                    c.ports.len(),
                    c.routes.len(),
                    c.neighbors.len(),
                    c.workers,
                    c.listen
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Route tables made from here on ask for huge pages (full-table lookups).
    dataplane::lpm::advise_tables(dpdk::advise_hugepages);
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if systemd::stderr_is_journal() {
        // The journal stamps and ranks each line itself: priorities, no times.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(systemd::Journal)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let path = args.config.expect("clap requires --config");
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(cfg, path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn eal_args(cfg: &Config) -> Vec<String> {
    let mut a = vec!["ecmp-router".to_owned()];
    let has_cores = cfg.eal.iter().any(|x| {
        matches!(x.as_str(), "-l" | "-c" | "--lcores")
            || x.starts_with("--lcores=")
            || x.starts_with("-l")
    });
    if !has_cores {
        a.push("-l".into());
        a.push(format!("0-{}", cfg.workers));
    }
    a.extend(cfg.eal.iter().cloned());
    a
}

/// The workers' millisecond clock (TSC since start), which flow timeouts use.
#[derive(Clone, Copy)]
struct Clock {
    epoch: u64,
    ticks_per_ms: u64,
}

impl Clock {
    fn now_ms(&self) -> u32 {
        (dpdk::rdtsc().wrapping_sub(self.epoch) / self.ticks_per_ms) as u32
    }
}

struct Shared {
    /// Each worker's flow table.
    flows: Vec<Arc<dataplane::flowtable::FlowTable>>,
    /// Each worker's SNAT counters (empty without SNAT).
    nat: Vec<Arc<dataplane::nat::NatCounters>>,
    clock: Clock,
    cp: Mutex<ControlPlane>,
    config_path: PathBuf,
    /// `api.token`; a reload replaces it (rotation).
    token: std::sync::RwLock<Option<String>>,
    /// `api.hosts`.
    api_hosts: Vec<String>,
    /// Connections the TCP API server closed, by reason.
    api_closed: Arc<http_server::Closed>,
    /// What the API's guard refused, and the writes by outcome.
    api_counters: api::Counters,
    ports: Vec<dpdk::Port>,
    lcores: Vec<Arc<LcoreStats>>,
    /// Changes of the kernel's routes to mirror (kernel::watch_routes).
    kernel_routes: Mutex<std::sync::mpsc::Receiver<Vec<control::fpm::Change>>>,
    /// Kernel neighbours to mirror (kernel::watch_neighbors).
    kernel_neighbors: Mutex<std::sync::mpsc::Receiver<kernel::KernelNeighbor>>,
    /// Effective link state of each port, which the kernel interfaces' carrier follows.
    kernel_links: Arc<Vec<AtomicBool>>,
    /// Each port's kernel interface counters (none: no kernel interface).
    kernel_counters: Vec<Option<Arc<control::punt::KernelCounters>>>,
}

impl Shared {
    /// The control plane, locked (a panic elsewhere does not poison it for us).
    fn cp(&self) -> std::sync::MutexGuard<'_, ControlPlane> {
        self.cp.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The control loop: every millisecond, link states (every 100 ms: a PMD
/// query is not free on every PMD), then punted frames, resolution requests,
/// held packets and timers. Runs on its own thread until `stop`.
fn control_thread(shared: &Shared, stop: &AtomicBool) {
    let mut announced = false;
    let mut last_link = Instant::now() - Duration::from_secs(1);
    let mut last_flush = Instant::now();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1));
        let now = Instant::now();
        let links: Option<Vec<bool>> =
            (now.duration_since(last_link) >= Duration::from_millis(100)).then(|| {
                last_link = now;
                shared.ports.iter().map(|p| p.link_up()).collect()
            });
        let mut cp = shared.cp();
        for (i, up) in links.into_iter().flatten().enumerate() {
            cp.set_link(dataplane::PortId(i as u16), up);
            let monitored = cp.config().ports.get(i).is_some_and(|p| p.monitor_link);
            if let Some(k) = shared.kernel_links.get(i) {
                k.store(!monitored || up, Ordering::Relaxed);
            }
        }
        if let Ok(rx) = shared.kernel_routes.try_lock() {
            // A bounded batch per pass: a full table's dump does not hold the loop.
            for _ in 0..64 {
                let Ok(c) = rx.try_recv() else { break };
                cp.apply_kernel(c);
            }
        }
        if let Ok(rx) = shared.kernel_neighbors.try_lock() {
            while let Ok(n) = rx.try_recv() {
                cp.set_kernel_neighbor(dataplane::PortId(n.port as u16), n.addr, n.mac);
            }
        }
        cp.poll(now);
        if !announced && cp.gateways_resolved() {
            announced = true;
            tracing::info!("all route gateways resolved");
        }
        drop(cp);
        // The rate-limited lines' summaries, once their interval is over.
        if now.duration_since(last_flush) >= Duration::from_secs(1) {
            last_flush = now;
            control::loglimit::flush();
        }
    }
}

/// Slots in each ring between two workers (SNAT reply steering).
const STEER_RING: u32 = 512;

/// With SNAT and several workers: a ring from every worker to every other,
/// and each worker's [`worker::Steer`]. `None`s otherwise.
fn steer_rings(
    eal: &dpdk::Eal,
    snat: &dataplane::nat::Snat,
    nq: u16,
    ports: &[dpdk::Port],
) -> Result<Vec<Option<worker::Steer>>> {
    if snat.is_empty() || nq < 2 {
        return Ok((0..nq).map(|_| None).collect());
    }
    let n = nq as usize;
    let mut port_index = vec![u16::MAX; dpdk_sys::RTE_MAX_ETHPORTS as usize];
    for (i, p) in ports.iter().enumerate() {
        port_index[p.id() as usize] = i as u16;
    }
    let mut steer: Vec<worker::Steer> = (0..n)
        .map(|_| worker::Steer {
            workers: nq,
            to: (0..n).map(|_| None).collect(),
            from: Vec::new(),
            port_index: port_index.clone(),
        })
        .collect();
    // The ring from worker a to worker b: a holds its producer, b its consumer.
    for a in 0..n {
        for b in (0..n).filter(|&b| b != a) {
            let (p, c) = dpdk::Ring::create(eal, &format!("steer_{a}_{b}"), STEER_RING)
                .context("creating the SNAT steering rings")?;
            steer[a].to[b] = Some(p);
            steer[b].from.push(c);
        }
    }
    Ok(steer.into_iter().map(Some).collect())
}

/// The packet pool: room for every rx and tx ring, the SNAT steering rings
/// and the kernel interfaces' rings; mbufs sized for the largest MTU.
fn packet_pool(eal: &dpdk::Eal, cfg: &Config, nq: u16) -> Result<Arc<dpdk::Mempool>> {
    // Bond members have rings of their own, as many as their bond's.
    let members: usize = cfg.ports[..cfg.devices()]
        .iter()
        .map(|p| {
            p.device
                .split(',')
                .filter(|kv| kv.trim().starts_with("slave="))
                .count()
        })
        .sum();
    let nports = (cfg.devices() + members) as u32;
    // Rx and tx rings of every queue, the SNAT steering rings between
    // workers (worker::Steer), and room for the control thread's frames.
    let steering = nq as u32 * (nq as u32 - 1) * STEER_RING;
    let with_kernel = cfg.ports.iter().any(|p| p.kernel_interface);
    let kernel_rings = if with_kernel {
        2 * nq as u32 * kernel::RING
    } else {
        0
    };
    let mbufs = (nports * 2 * QUEUE_DESC as u32 * nq as u32 + steering + kernel_rings + 4096)
        .next_power_of_two()
        - 1;
    let max_mtu = cfg.ports.iter().map(|p| p.mtu).max().unwrap_or(1500);
    let data_room = dpdk::data_room_for_mtu(max_mtu);
    if data_room as u32 > dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE {
        tracing::info!(
            mtu = max_mtu,
            data_room,
            mbufs,
            "jumbo MTU: mbufs sized for a whole frame"
        );
    }
    Ok(Arc::new(
        dpdk::Mempool::new(eal, "ecmp_pkt", mbufs, 256, data_room)
            .context("creating the packet pool")?,
    ))
}

/// The started ports: their handles, their MACs, and each worker's queues
/// (`queues[worker][config port]`).
struct Started {
    ports: Vec<dpdk::Port>,
    macs: Vec<dataplane::MacAddr>,
    queues: Vec<Vec<(dpdk::RxQueue, dpdk::TxQueue)>>,
}

/// Probes, configures and starts every port.
fn start_ports(
    eal: &dpdk::Eal,
    cfg: &Config,
    nq: u16,
    pool: &Arc<dpdk::Mempool>,
) -> Result<Started> {
    let mut st = Started {
        ports: Vec::new(),
        macs: Vec::new(),
        queues: (0..nq).map(|_| Vec::new()).collect(),
    };
    // The device ports (VLAN sub-interfaces come after them, on their trunks).
    for p in &cfg.ports[..cfg.devices()] {
        // A bond's members first: the bonding PMD finds them by name.
        for m in p.bond.iter().flat_map(|b| &b.members) {
            dpdk::Port::probe_device(eal, m)
                .with_context(|| format!("port '{}': bond member '{m}'", p.name))?;
        }
        let port =
            dpdk::Port::probe(eal, &p.device).with_context(|| format!("port '{}'", p.name))?;
        let queues = port
            .start(nq, QUEUE_DESC, p.mtu, pool)
            .with_context(|| format!("port '{}'", p.name))?;
        for (w, q) in queues.into_iter().enumerate() {
            st.queues[w].push(q);
        }
        tracing::info!(port = %p.name, dpdk_port = port.id(), mac = %port.mac(), device = %p.device, "port up");
        st.macs.push(port.mac());
        st.ports.push(port);
    }
    Ok(st)
}

/// The kernel side of the ports: their kernel interfaces and rings, and the
/// kernel's neighbours and routes as the router mirrors them.
struct KernelSide {
    ifs: Vec<kernel::KernelIf>,
    links: Arc<Vec<AtomicBool>>,
    counters: Vec<Option<Arc<control::punt::KernelCounters>>>,
    rings: Vec<kernel::KernelRings>,
    thread_rings: Vec<kernel::ThreadRings>,
    ifindex: Vec<(u32, dataplane::PortId)>,
    neighbors: std::sync::mpsc::Receiver<kernel::KernelNeighbor>,
    routes: std::sync::mpsc::Receiver<Vec<control::fpm::Change>>,
}

fn kernel_side(
    eal: &dpdk::Eal,
    cfg: &Config,
    ports: &[dpdk::Port],
    macs: &[dataplane::MacAddr],
    nq: u16,
) -> Result<KernelSide> {
    // Kernel interfaces: their carrier starts as the port's effective link
    // state (monitor-link off: always up).
    let effective: Vec<bool> = cfg
        .ports
        .iter()
        .zip(ports)
        .map(|(c, p)| !c.monitor_link || p.link_up())
        .collect();
    let kifs =
        kernel::create(&cfg.ports, &cfg.vrfs, macs, &effective).context("kernel interfaces")?;
    let kernel_links: Arc<Vec<AtomicBool>> =
        Arc::new(effective.iter().map(|&u| AtomicBool::new(u)).collect());
    let mut kernel_counters: Vec<Option<Arc<control::punt::KernelCounters>>> =
        vec![None; cfg.ports.len()];
    for k in &kifs {
        kernel_counters[k.port] = Some(k.counters.clone());
    }
    let (krings, thread_rings) = if kifs.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        kernel::rings(eal, nq).context("kernel interface rings")?
    };
    let kernel_ifindex: Vec<(u32, dataplane::PortId)> = kifs
        .iter()
        .map(|k| (k.ifindex, dataplane::PortId(k.port as u16)))
        .collect();
    // The kernel's neighbours on the kernel interfaces that the router mirrors (RFC 5549).
    let (neigh_tx, neigh_rx) = std::sync::mpsc::channel();
    if !kifs.is_empty() {
        let by_ifindex = kifs.iter().map(|k| (k.ifindex, k.port)).collect();
        kernel::watch_neighbors(by_ifindex, neigh_tx).context("kernel neighbours")?;
    }
    // kernel-routes: the kernel's main table, mirrored (BIRD, ip route, ...).
    let (routes_tx, routes_rx) = std::sync::mpsc::channel();
    if cfg.kernel_routes {
        kernel::watch_routes(routes_tx, cfg.vrfs.iter().map(|v| v.table).collect())
            .context("kernel routes")?;
    }
    Ok(KernelSide {
        ifs: kifs,
        links: kernel_links,
        counters: kernel_counters,
        rings: krings,
        thread_rings,
        ifindex: kernel_ifindex,
        neighbors: neigh_rx,
        routes: routes_rx,
    })
}

/// Per worker: its flow table, its NAT table (with SNAT), its steering
/// rings; and the NAT tables' counters for the metrics.
type FlowTables = (
    Vec<Arc<dataplane::flowtable::FlowTable>>,
    Vec<Option<dataplane::nat::NatTable>>,
    Vec<Option<worker::Steer>>,
    Vec<Arc<dataplane::nat::NatCounters>>,
);

fn flow_tables(
    eal: &dpdk::Eal,
    flow_cfg: &control::config::FlowsConfig,
    snat: &dataplane::nat::Snat,
    nq: u16,
    ports: &[dpdk::Port],
) -> Result<FlowTables> {
    let flows: Vec<Arc<dataplane::flowtable::FlowTable>> = (0..nq)
        .map(|_| {
            Arc::new(dataplane::flowtable::FlowTable::new(
                flow_cfg.capacity,
                flow_cfg.timeouts,
            ))
        })
        .collect();
    // Each worker's table hands out only its share of the ports, so a reply
    // that reaches another worker can be steered back (dataplane::nat).
    let nat_tables: Vec<Option<dataplane::nat::NatTable>> = (0..nq)
        .map(|i| {
            (!snat.is_empty()).then(|| {
                dataplane::nat::NatTable::new(
                    flow_cfg.capacity,
                    snat.addrs.len(),
                    flow_cfg.timeouts,
                )
                .shared(i, nq)
            })
        })
        .collect();
    let steer = steer_rings(eal, snat, nq, ports)?;
    let nat: Vec<Arc<dataplane::nat::NatCounters>> = nat_tables
        .iter()
        .flatten()
        .map(|t| t.counters.clone())
        .collect();
    Ok((flows, nat_tables, steer, nat))
}

fn run(cfg: Config, config_path: PathBuf) -> Result<()> {
    let eal = dpdk::Eal::init(&eal_args(&cfg)).context("starting DPDK")?;
    dataplane::stats::set_stage_clock(dpdk::rdtsc);
    let lcores = eal.worker_lcores();
    if lcores.len() < cfg.workers as usize {
        bail!("the EAL has {} worker lcore(s) but the config asks for workers: {} (give more cores with eal: [-l, ...])", lcores.len(), cfg.workers);
    }
    let nq = cfg.workers as u16;
    let pool = packet_pool(&eal, &cfg, nq)?;

    let Started {
        ports,
        macs,
        queues,
    } = start_ports(&eal, &cfg, nq, &pool)?;

    let mut ks = kernel_side(&eal, &cfg, &ports, &macs, nq)?;
    let peers = Arc::new(dataplane::punt::Peers::default());
    for &p in &cfg.punt_policer.peers {
        peers.learn(p, Some(false));
    }
    let punt_limits = cfg.punt_policer.limits;
    let channels = Channels::default();
    let quiescent: Vec<Arc<Quiescent>> = (0..nq).map(|_| Arc::new(Quiescent::default())).collect();
    let stats: Vec<Arc<LcoreStats>> = (0..nq)
        .map(|_| Arc::new(LcoreStats::new(MAX_NEXTHOPS)))
        .collect();
    let listen = cfg.listen;
    let token = cfg.token.clone();
    let cfg_api_hosts = cfg.api_hosts.clone();
    let socket = cfg
        .api_socket
        .clone()
        .map(|p| (p, cfg.api_socket_group.clone()));
    let fpm = cfg.fpm;
    let flow_cfg = cfg.flows;
    let (icmp_rate, icmp_burst) = (cfg.icmp_rate, cfg.icmp_burst);
    let clock = Clock {
        epoch: dpdk::rdtsc(),
        ticks_per_ms: (eal.tsc_hz() / 1000).max(1),
    };
    let mut cp = ControlPlane::new(
        cfg,
        &macs,
        quiescent.clone(),
        channels.clone(),
        MAX_NEXTHOPS,
    );
    // Neighbour states see traffic through the workers' per-nexthop counters.
    cp.set_traffic(stats.clone());
    // FPM paths name their port by the kernel interface's ifindex.
    cp.set_kernel_interfaces(ks.ifindex);
    let stop = Arc::new(AtomicBool::new(false));
    let fib = cp.fib_handle();
    let snat = cp.snat();
    let (flows, mut nat_tables, mut steer, nat) = flow_tables(&eal, &flow_cfg, &snat, nq, &ports)?;
    let mut kernel_rings = std::mem::take(&mut ks.rings).into_iter();
    let bonds: Vec<usize> = (0..ports.len())
        .filter(|&i| ports[i].bond_mode() == Some(dpdk_sys::BONDING_MODE_8023AD as u8))
        .collect();
    for ((i, &lcore), queues) in lcores.iter().take(nq as usize).enumerate().zip(queues) {
        let w = worker::Worker {
            index: i as u16,
            queues,
            fib: fib.clone(),
            stats: stats[i].clone(),
            quiescent: quiescent[i].clone(),
            channels: channels.clone(),
            pool: pool.clone(),
            stop: stop.clone(),
            tsc_hz: eal.tsc_hz(),
            flows: flows[i].clone(),
            nat: nat_tables[i].take(),
            steer: steer[i].take(),
            clock_epoch: clock.epoch,
            icmp_rate,
            icmp_burst,
            kernel: kernel_rings.next(),
            punt_limits,
            workers: nq,
            peers: peers.clone(),
            bonds: bonds.clone(),
        };
        eal.launch(lcore, Box::new(move || w.run()))?;
        tracing::info!(worker = i, lcore, "worker started");
    }

    let kernel_thread = if ks.ifs.is_empty() {
        None
    } else {
        let io = kernel::Io {
            ifs: ks.ifs,
            rings: ks.thread_rings,
            pool: pool.clone(),
            dpdk_ports: ports.iter().map(|p| p.id()).collect(),
            peers: peers.clone(),
            links: ks.links.clone(),
            stop: stop.clone(),
        };
        Some(
            std::thread::Builder::new()
                .name("kernel-io".into())
                .spawn(move || io.run())
                .context("starting the kernel interfaces' thread")?,
        )
    };

    let shared = Arc::new(Shared {
        kernel_neighbors: Mutex::new(ks.neighbors),
        kernel_routes: Mutex::new(ks.routes),
        kernel_links: ks.links,
        kernel_counters: ks.counters,
        cp: Mutex::new(cp),
        config_path,
        token: std::sync::RwLock::new(token),
        api_hosts: cfg_api_hosts,
        api_closed: Arc::default(),
        api_counters: api::Counters::default(),
        ports: ports.clone(),
        lcores: stats,
        flows,
        nat,
        clock,
    });
    let result = control_loop(shared.clone(), listen, fpm, socket);

    stop.store(true, Ordering::Relaxed);
    eal.wait_workers();
    if let Some(t) = kernel_thread {
        let _ = t.join();
    }
    // The ports close when their last handles go (the workers' queues went
    // with the workers), their pool after them, and the EAL last.
    drop(shared);
    drop(ports);
    drop(pool);
    drop(eal);
    tracing::info!("stopped");
    result
}

fn control_loop(
    shared: Arc<Shared>,
    listen: std::net::SocketAddr,
    fpm: Option<control::config::FpmConfig>,
    socket: Option<(std::path::PathBuf, Option<String>)>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    rt.block_on(async move {
        let (app, unix_app) = api::apps(&shared, socket.is_some());
        let unix_server = match (&socket, unix_app) {
            (Some((path, group)), Some(app)) => {
                let l = http_server::bind_socket(path, group.as_deref())?;
                tracing::info!(socket = %path.display(), "serving the API on a Unix socket");
                Some(tokio::spawn(async move { axum::serve(l, app).await }))
            }
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (api.listen)"))?;
        tracing::info!(%listen, "serving /metrics");
        let server = tokio::spawn(http_server::serve(listener, app, shared.api_closed.clone()));
        let fpm_task = match fpm {
            Some(f) => {
                let l = tokio::net::TcpListener::bind(f.listen).await.with_context(|| format!("listening on {} (fpm.listen)", f.listen))?;
                tracing::info!(listen = %f.listen, "FPM server for FRR");
                Some(tokio::spawn(fpm_server::serve(shared.clone(), l, fpm_server::Settings::from(&f))))
            }
            None => None,
        };

        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        // The control loop has a thread of its own: no API request, scrape or
        // FPM read on the runtime's thread can delay ARP/NDP, probes and timers.
        let control_stop = Arc::new(AtomicBool::new(false));
        let control = {
            let (shared, stop) = (shared.clone(), control_stop.clone());
            std::thread::Builder::new()
                .name("control".into())
                .spawn(move || control_thread(&shared, &stop))?
        };
        // The ports are started and the config's routes are in the FIB (not
        // carrier up: a NIC with no cable must not hold start-up).
        systemd::notify("READY=1");
        tracing::info!("ready");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break; }
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
                _ = hup.recv() => { tracing::info!("SIGHUP: reloading the config"); let _ = api::do_reload(&shared); }
            }
        }
        systemd::notify("STOPPING=1");
        control_stop.store(true, Ordering::Release);
        let _ = control.join();
        server.abort();
        if let Some(t) = fpm_task {
            t.abort();
        }
        if let Some(t) = unix_server {
            t.abort();
        }
        if let Some((path, _)) = &socket {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    })
}
