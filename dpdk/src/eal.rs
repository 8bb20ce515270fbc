//! The Environment Abstraction Layer: init, lcores, launch, cleanup.

use super::*;

/// The initialised Environment Abstraction Layer. Cloning it is cheap:
/// every mempool, ring and port holds one. When the last goes, it waits for
/// the worker lcores and runs `rte_eal_cleanup`.
#[derive(Debug, Clone)]
pub struct Eal {
    _inner: Arc<EalInner>,
}

/// The EAL itself: cleaned up when the last handle goes.
#[derive(Debug)]
struct EalInner {
    _private: (),
}

/// True while an EAL is initialised in this process (`rte_eal_init` may run once).
static EAL_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Eal {
    /// Runs `rte_eal_init` with `args` (the first is the program name).
    ///
    /// # Errors
    /// When the EAL refuses the arguments or cannot start.
    pub fn init(args: &[String]) -> Result<Eal, EalError> {
        let cargs: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| EalError::Argument(a.clone())))
            .collect::<Result<_, _>>()?;
        if EAL_UP.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(EalError::Init {
                args: args.get(1..).unwrap_or_default().join(" "),
                errno: 114, // EALREADY, as rte_eal_init says it
            });
        }
        let mut argv: Vec<*mut std::os::raw::c_char> =
            cargs.iter().map(|c| c.as_ptr() as *mut _).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the
        // call (the EAL keeps no pointer into them after init returns:
        // it copies what it keeps).
        let rc = unsafe { sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if rc < 0 {
            EAL_UP.store(false, std::sync::atomic::Ordering::SeqCst);
            return Err(EalError::Init {
                args: args.get(1..).unwrap_or_default().join(" "),
                errno: rte_errno(),
            });
        }
        Ok(Eal {
            _inner: Arc::new(EalInner { _private: () }),
        })
    }

    /// The worker lcores (all enabled lcores but the main one).
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX;
        loop {
            // SAFETY: valid after rte_eal_init; any index is accepted.
            i = unsafe { sys::rte_get_next_lcore(i, 1, 0) };
            if i >= sys::RTE_MAX_LCORE {
                return out;
            }
            out.push(i);
        }
    }

    /// Starts `f` on worker lcore `lcore`.
    ///
    /// # Errors
    /// When the lcore is not a free worker.
    pub fn launch(&self, lcore: u32, f: Box<dyn FnOnce() + Send>) -> Result<(), EalError> {
        unsafe extern "C" fn trampoline(arg: *mut c_void) -> i32 {
            // SAFETY: `arg` is the Box<Box<dyn FnOnce>> leaked below, passed
            // exactly once to exactly one lcore.
            let f = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) };
            f();
            0
        }
        let arg = Box::into_raw(Box::new(f)) as *mut c_void;
        // SAFETY: trampoline has the lcore_function_t signature and takes
        // ownership of `arg`; on failure we reclaim it below.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc < 0 {
            // SAFETY: the launch failed, so nobody else owns `arg`.
            drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) });
            return Err(EalError::Launch { lcore, errno: -rc });
        }
        Ok(())
    }

    /// Waits for every worker lcore to return.
    pub fn wait_workers(&self) {
        // SAFETY: valid on the main lcore after init.
        unsafe { sys::rte_eal_mp_wait_lcore() };
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: valid after init.
        unsafe { sys::rte_get_tsc_hz() }
    }
}

/// Set when a pool was dropped with mbufs still held: the EAL's memory must
/// outlive them, so `rte_eal_cleanup` does not run.
static KEEP_MEMORY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keeps the EAL's memory (no `rte_eal_cleanup`) until the process ends.
pub(crate) fn keep_memory() {
    KEEP_MEMORY.store(true, std::sync::atomic::Ordering::SeqCst);
}

impl Drop for EalInner {
    fn drop(&mut self) {
        // SAFETY: plain reads, valid after init.
        let (me, main) = unsafe { (sys::shim_rte_lcore_id(), sys::rte_get_main_lcore()) };
        if me != main && me != u32::MAX {
            // A worker lcore let the last handle go: it cannot wait for
            // itself, and cleanup belongs to the main lcore. The EAL stays up
            // until the process ends.
            return;
        }
        // SAFETY: valid after init, on the main lcore or a non-EAL thread.
        unsafe { sys::rte_eal_mp_wait_lcore() };
        // SAFETY: valid after init; DPDK returns a NUL-terminated path it owns.
        let dir = unsafe {
            let p = sys::rte_eal_get_runtime_dir();
            (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        if KEEP_MEMORY.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(
                "an mbuf outlives its pool: the EAL's memory is kept until the process ends"
            );
        } else {
            // SAFETY: called once (the last handle), after every mempool,
            // ring and port is gone (each holds a handle), no mbuf is held
            // (a pool with mbufs out sets KEEP_MEMORY), and the workers returned.
            unsafe { sys::rte_eal_cleanup() };
        }
        // rte_eal_cleanup leaves the runtime directory (/var/run/dpdk/PREFIX)
        // behind, with the telemetry socket that an exit handler unlinks
        // later: remove both, so a stopped router leaves nothing. Only a
        // directory DPDK named (PREFIX under a `dpdk` directory), never
        // anything else.
        if let Some(d) = dir.map(std::path::PathBuf::from) {
            if d.parent().and_then(|p| p.file_name()) == Some(std::ffi::OsStr::new("dpdk")) {
                let _ = std::fs::remove_dir_all(&d);
            }
        }
    }
}

/// Reads the TSC.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: a plain instruction read.
    unsafe { sys::shim_rte_rdtsc() }
}

/// The mbuf data room (headroom included) that holds a whole frame of a
/// port with IP MTU `mtu` in one segment: Ethernet header, two VLAN tags and
/// the CRC on top. Never less than DPDK's default (2048 + headroom). One
/// segment per frame is what the pipeline reads, so jumbo MTUs get big mbufs
/// rather than scattered rx (which the worker would drop).
pub fn data_room_for_mtu(mtu: u16) -> u16 {
    let frame = mtu as u32 + 14 + 8 + 4;
    let room = (sys::RTE_PKTMBUF_HEADROOM + frame).next_multiple_of(64);
    room.max(sys::RTE_MBUF_DEFAULT_BUF_SIZE)
        .min(u16::MAX as u32) as u16
}
