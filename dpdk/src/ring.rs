//! Single-producer, single-consumer rings and their two ends.

use super::*;

/// A single-producer, single-consumer ring of mbufs between two threads
/// (`rte_ring` with `RING_F_SP_ENQ | RING_F_SC_DEQ`): lock-free, fixed
/// size, no allocation after creation. [`Ring::create`] gives its two ends.
#[derive(Debug)]
pub struct Ring {
    pub(crate) ptr: NonNull<sys::rte_ring>,
    /// Freed before the EAL.
    _eal: Eal,
}

// SAFETY: the ring is only reached through its one Producer and one
// Consumer (neither Clone nor Sync); rte_ring synchronises the two with its
// head/tail indexes. Ring itself is only shared (Arc) by the two ends, and
// dropped by the last.
unsafe impl Send for Ring {}
// SAFETY: as above: &Ring offers nothing but its drop.
unsafe impl Sync for Ring {}

/// The sending end of a [`Ring`]: one thread owns it.
#[derive(Debug)]
pub struct Producer(pub(crate) Arc<Ring>, OneThread);

/// The receiving end of a [`Ring`]: one thread owns it.
#[derive(Debug)]
pub struct Consumer(pub(crate) Arc<Ring>, OneThread);

/// Makes a handle `Send` but not `Sync`: one thread at a time owns it.
pub(crate) type OneThread = std::marker::PhantomData<std::cell::Cell<()>>;

impl Ring {
    /// A ring of `size` slots (a power of two; it holds `size - 1`): its
    /// producer and its consumer.
    ///
    /// # Errors
    /// When DPDK cannot allocate it, or the name is taken.
    pub fn create(eal: &Eal, name: &str, size: u32) -> Result<(Producer, Consumer), CreateError> {
        let cname = CString::new(name).map_err(|_| CreateError::Name(name.to_owned()))?;
        // SAFETY: the EAL is up (`eal`); cname is a valid C string; the flags are DPDK's own.
        let p = unsafe {
            sys::rte_ring_create(
                cname.as_ptr(),
                size,
                -1,
                sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
            )
        };
        let ring = NonNull::new(p)
            .map(|ptr| Ring {
                ptr,
                _eal: eal.clone(),
            })
            .ok_or_else(|| CreateError::Ring {
                name: name.to_owned(),
                size,
                errno: rte_errno(),
            })?;
        let ring = Arc::new(ring);
        Ok((
            Producer(ring.clone(), OneThread::default()),
            Consumer(ring, OneThread::default()),
        ))
    }
}

impl Producer {
    /// Enqueues one mbuf; gives it back when the ring is full.
    #[inline]
    pub fn enqueue_one(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        let mut b: Burst<1> = Burst::default();
        let _ = b.push(m);
        if b.enqueue(self) == 1 {
            return Ok(());
        }
        Err(b.drain().next().expect("the burst holds the mbuf"))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Both ends are gone: free what is still queued, then the ring.
        let mut left = [std::ptr::null_mut::<c_void>(); 32];
        loop {
            // SAFETY: no end is left, so this is the only consumer; `left`
            // has room for 32, and the ring hands over what it returns.
            let n = unsafe {
                sys::shim_rte_ring_sc_dequeue_burst(self.ptr.as_ptr(), left.as_mut_ptr(), 32)
            };
            if n == 0 {
                break;
            }
            // SAFETY: the n pointers are mbufs the ring owned, now ours.
            unsafe {
                sys::shim_rte_pktmbuf_free_bulk(left.as_mut_ptr() as *mut *mut sys::rte_mbuf, n)
            };
        }
        // SAFETY: created by rte_ring_create, freed once.
        unsafe { sys::rte_ring_free(self.ptr.as_ptr()) };
    }
}
