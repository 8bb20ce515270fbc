//! Ethdev ports and their queues.

use super::*;

/// An ethdev port. Cloning it is cheap (the API reads its MAC, link and
/// counters from any thread). It stops and closes when its last handle,
/// queues included, goes.
#[derive(Debug, Clone)]
pub struct Port {
    inner: Arc<PortInner>,
}

#[derive(Debug)]
pub(crate) struct PortInner {
    pub(crate) id: u16,
    /// The rx queues' pool, once started: freed after the port closes.
    pool: std::sync::OnceLock<Arc<Mempool>>,
    /// Closed before the EAL.
    _eal: Eal,
}

/// The ports a [`Port`] handle owns, by id: one owner per port, so no
/// other handle can close it under its queues.
static OWNED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// A port's rx queue: the one thread that owns it polls it
/// ([`Burst::rx`]). Not `Clone`, not `Sync`.
#[derive(Debug)]
pub struct RxQueue {
    pub(crate) port: Arc<PortInner>,
    pub(crate) queue: u16,
    _one: OneThread,
}

/// A port's tx queue: the one thread that owns it sends on it
/// ([`Burst::tx`]). Not `Clone`, not `Sync`.
#[derive(Debug)]
pub struct TxQueue {
    pub(crate) port: Arc<PortInner>,
    pub(crate) queue: u16,
    _one: OneThread,
}

impl RxQueue {
    /// The DPDK port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }
    /// The queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl TxQueue {
    /// The DPDK port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }
    /// An empty transmit: lets a PMD that sends frames of its own from its
    /// tx path send them. DPDK's bonding PMD in 802.3ad mode sends its
    /// LACPDUs only from there, and wants a call at least every 100 ms.
    #[inline]
    pub fn kick(&mut self) {
        let mut none = [std::ptr::null_mut::<sys::rte_mbuf>(); 1];
        // SAFETY: `self` is the queue's only handle and `&mut` (one thread);
        // the port is started while it lives; a valid array, of no mbuf.
        unsafe { sys::shim_rte_eth_tx_burst(self.port.id, self.queue, none.as_mut_ptr(), 0) };
    }
    /// The queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Port {
    /// Finds or hot-plugs the device `devargs` (e.g. `net_tap0,iface=lan` or a PCI address).
    ///
    /// # Errors
    /// When the device cannot be probed, or another handle owns it.
    pub fn probe(eal: &Eal, devargs: &str) -> Result<Port, PortError> {
        let id = Self::probe_device(eal, devargs)?;
        let mut owned = OWNED.lock().unwrap_or_else(|e| e.into_inner());
        if owned.contains(&id) {
            return Err(PortError::Started(id));
        }
        owned.push(id);
        Ok(Port {
            inner: Arc::new(PortInner {
                id,
                pool: std::sync::OnceLock::new(),
                _eal: eal.clone(),
            }),
        })
    }

    /// Finds or hot-plugs the device `devargs` without taking it as a
    /// port: a bond's member, which the bond configures, starts and polls.
    /// Its DPDK port id.
    ///
    /// # Errors
    /// When the device cannot be probed.
    pub fn probe_device(_eal: &Eal, devargs: &str) -> Result<u16, PortError> {
        let name = devargs.split(',').next().unwrap_or(devargs);
        Ok(match Self::by_name(name) {
            Some(id) => id,
            None => {
                let c = CString::new(devargs).map_err(|_| PortError::Devargs(devargs.into()))?;
                // SAFETY: the EAL is up (`eal`); c is a valid C string.
                let rc = unsafe { sys::rte_dev_probe(c.as_ptr()) };
                if rc < 0 {
                    return Err(PortError::Probe {
                        devargs: devargs.into(),
                        errno: -rc,
                    });
                }
                Self::by_name(name).ok_or_else(|| PortError::NoPort {
                    devargs: devargs.into(),
                    name: name.into(),
                })?
            }
        })
    }

    fn by_name(name: &str) -> Option<u16> {
        let c = CString::new(name).ok()?;
        let mut id = 0u16;
        // SAFETY: c is valid; id is a valid out-pointer.
        (unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) } == 0).then_some(id)
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// Configures `queues` rx and tx queues with `desc` descriptors each,
    /// sets the MTU, and starts the port: the queues' handles, by queue id.
    /// A port starts once.
    ///
    /// # Errors
    /// When the PMD refuses the configuration, or the port was started.
    pub fn start(
        &self,
        queues: u16,
        desc: u16,
        mtu: u16,
        pool: &Arc<Mempool>,
    ) -> Result<Vec<(RxQueue, TxQueue)>, PortError> {
        let id = self.inner.id;
        if self.inner.pool.set(pool.clone()).is_err() {
            return Err(PortError::Started(id));
        }
        let setup = |step, rc: i32| {
            if rc < 0 {
                Err(PortError::Setup {
                    port: id,
                    step,
                    errno: -rc,
                })
            } else {
                Ok(())
            }
        };
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        setup("reading the info", unsafe {
            sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        if info.max_rx_queues < queues || info.max_tx_queues < queues {
            return Err(PortError::TooFewQueues {
                port: id,
                rx: info.max_rx_queues,
                tx: info.max_tx_queues,
                wanted: queues,
            });
        }
        let mut conf = sys::rte_eth_conf::default();
        let rss = rss::configure(&info, &mut conf, queues);
        if queues > 1 {
            if rss == 0 {
                tracing::warn!(
                    port = id,
                    queues,
                    "the port has no RSS: every packet arrives on queue 0, so worker 0 does all of this port's work"
                );
            } else {
                tracing::info!(
                    port = id,
                    queues,
                    rss_hf = format!("{rss:#x}"),
                    "RSS over the workers' queues (symmetric key)"
                );
            }
        }
        // SAFETY: conf is a valid config (its key, if any, is static); the port is stopped.
        setup("configuring", unsafe {
            sys::rte_eth_dev_configure(id, queues, queues, &conf)
        })?;
        // SAFETY: the port is configured and stopped.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        let queue_error = |dir, queue, rc: i32| PortError::Queue {
            port: id,
            dir,
            queue,
            errno: -rc,
            data_room: pool.data_room(),
            mtu,
        };
        for q in 0..queues {
            // SAFETY: q < queues; NULL conf selects the PMD defaults; the
            // pool outlives the port (the port holds it).
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, desc, socket, std::ptr::null(), pool.as_ptr())
            };
            if rc < 0 {
                return Err(queue_error("rx", q, rc));
            }
            // SAFETY: as above.
            let rc = unsafe { sys::rte_eth_tx_queue_setup(id, q, desc, socket, std::ptr::null()) };
            if rc < 0 {
                return Err(queue_error("tx", q, rc));
            }
        }
        // SAFETY: valid port; some PMDs do not support MTU changes, which we log and accept.
        let rc = unsafe { sys::rte_eth_dev_set_mtu(id, mtu) };
        if rc < 0 {
            tracing::warn!(
                port = id,
                mtu,
                "PMD did not accept the MTU: {}",
                strerror(-rc)
            );
        }
        // SAFETY: configured port with its queues set up.
        setup("starting", unsafe { sys::rte_eth_dev_start(id) })?;
        // Multicast is needed for NDP (solicited-node addresses), and a bond
        // in 802.3ad mode drops broadcasts (ARP) too without it. Where the PMD
        // cannot (a bond of net_af_packet members), promiscuous mode gives
        // it: the router drops frames for other MACs itself, counted.
        // SAFETY: started port.
        if unsafe { sys::rte_eth_allmulticast_enable(id) } < 0 {
            // SAFETY: started port.
            let _ = unsafe { sys::rte_eth_promiscuous_enable(id) };
        }
        Ok((0..queues)
            .map(|queue| {
                (
                    RxQueue {
                        port: self.inner.clone(),
                        queue,
                        _one: OneThread::default(),
                    },
                    TxQueue {
                        port: self.inner.clone(),
                        queue,
                        _one: OneThread::default(),
                    },
                )
            })
            .collect())
    }

    /// The port's MAC address.
    pub fn mac(&self) -> dataplane::MacAddr {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        unsafe { sys::rte_eth_macaddr_get(self.inner.id, &mut a) };
        dataplane::MacAddr(a.addr_bytes)
    }

    /// True when the PMD reports the link up (non-blocking query).
    pub fn link_up(&self) -> bool {
        link_up_of(self.inner.id)
    }

    /// The PMD's counters.
    pub fn stats(&self) -> dataplane::stats::PortStats {
        stats_of(self.inner.id)
    }

    /// The bonding mode when the port is a bond (4: 802.3ad, whose LACP
    /// needs [`TxQueue::kick`]).
    pub fn bond_mode(&self) -> Option<u8> {
        // SAFETY: valid port id; the shim answers -ENOTSUP without the PMD,
        // and the bonding PMD a negative errno for a port that is no bond.
        let mode = unsafe { sys::shim_bond_mode(self.inner.id) };
        u8::try_from(mode).ok()
    }

    /// The bonding PMD's state when the port is a bond: its mode, and each
    /// member's link, activity, counters and (802.3ad) LACP state.
    pub fn bond(&self) -> Option<dataplane::stats::BondState> {
        let id = self.inner.id;
        let mode = self.bond_mode()? as i32;
        let max = sys::RTE_MAX_ETHPORTS as usize;
        let mut all = vec![0u16; max];
        let mut active = vec![0u16; max];
        // SAFETY: the buffers hold `max` ids, as the calls are told.
        let n = unsafe { sys::shim_bond_members(id, all.as_mut_ptr(), max as u16) }.max(0);
        // SAFETY: as above.
        let na =
            unsafe { sys::shim_bond_active_members(id, active.as_mut_ptr(), max as u16) }.max(0);
        let active = &active[..na as usize];
        let members = all[..n as usize]
            .iter()
            .map(|&m| {
                let lacp = (mode == sys::BONDING_MODE_8023AD as i32)
                    .then(|| {
                        let mut info = sys::shim_lacp_member::default();
                        // SAFETY: valid bond and member ids and out-pointer.
                        let rc = unsafe { sys::shim_bond_8023ad_member_info(id, m, &mut info) };
                        (rc == 0).then(|| lacp_of(&info))
                    })
                    .flatten();
                // DPDK's active members are those with their link up; in
                // 802.3ad, one is in use once LACP has it collecting and
                // distributing.
                let in_use = lacp.is_none_or(|l| l.actor.state & 0x30 == 0x30);
                dataplane::stats::BondMember {
                    name: name_of(m),
                    link_up: link_up_of(m),
                    active: active.contains(&m) && in_use,
                    stats: stats_of(m),
                    lacp,
                }
            })
            .collect();
        Some(dataplane::stats::BondState {
            mode: mode as u8,
            members,
        })
    }
}

fn lacp_of(i: &sys::shim_lacp_member) -> dataplane::stats::LacpMember {
    let side = |p: &sys::shim_lacp_port| dataplane::stats::LacpPort {
        system_priority: p.system_priority,
        system: dataplane::MacAddr(p.system),
        key: p.key,
        port_priority: p.port_priority,
        port: p.port_number,
        state: p.state,
    };
    dataplane::stats::LacpMember {
        selected: i.selected != 0,
        aggregator: i.aggregator,
        actor: side(&i.actor),
        partner: side(&i.partner),
    }
}

/// The DPDK device name of port `id` (empty when it has none).
fn name_of(id: u16) -> String {
    let mut buf = [0 as std::ffi::c_char; sys::RTE_DEV_NAME_MAX_LEN as usize];
    // SAFETY: the buffer has RTE_ETH_NAME_MAX_LEN bytes, as the call needs.
    if unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) } != 0 {
        return String::new();
    }
    // SAFETY: on success the name is NUL-terminated within the buffer.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn link_up_of(id: u16) -> bool {
    let mut l = sys::rte_eth_link::default();
    // SAFETY: out-pointer valid; an unknown id gives an error, not UB; the
    // nowait variant never sleeps.
    let rc = unsafe { sys::rte_eth_link_get_nowait(id, &mut l) };
    rc == 0 && l.link_status() != 0
}

fn stats_of(id: u16) -> dataplane::stats::PortStats {
    let mut s = sys::rte_eth_stats::default();
    // SAFETY: out-pointer valid; an unknown id leaves it zero;
    // callable from any thread.
    unsafe { sys::rte_eth_stats_get(id, &mut s) };
    dataplane::stats::PortStats {
        rx_packets: s.ipackets,
        rx_bytes: s.ibytes,
        tx_packets: s.opackets,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        rx_nombuf: s.rx_nombuf,
        tx_errors: s.oerrors,
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        if self.pool.get().is_some() {
            // SAFETY: this is the last handle: no queue of the port is left,
            // so nothing polls it. Its pool drops after (a field).
            unsafe {
                sys::rte_eth_dev_stop(self.id);
                sys::rte_eth_dev_close(self.id);
            }
        }
        OWNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&i| i != self.id);
    }
}
