//! CPU intrinsics behind safe functions: the one module of `dataplane`
//! with `unsafe` code (ARCHITECTURE.md, crates). Each function is a hint
//! to the CPU that cannot change what the program computes.
#![allow(unsafe_code)]

/// Asks the CPU to start loading the cache line that holds `r` into every
/// cache level, without waiting for it. A lookup that prefetches the
/// entries of a whole burst before it reads any of them has all their cache
/// misses in flight at once, instead of the few that the reorder window
/// holds. A no-op where the target has no prefetch instruction we use.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads nothing into the program and never faults,
    // even on an invalid address; `r` is a live reference in any case. SSE,
    // which the instruction needs, is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>(),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_changes_nothing() {
        let v = vec![7u32; 64];
        super::prefetch(&v[10]);
        assert_eq!(v, vec![7u32; 64]);
    }
}
