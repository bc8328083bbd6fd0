//! Helpers shared by the benches.

/// CPU time of the calling thread, in seconds. Timings are CPU, not wall, time: on a
/// machine shared with other builds a run of tens of milliseconds is preempted and
/// its wall time inflated several-fold while a sub-millisecond run is not, which
/// skewed ratios between long and short runs; `benches/roadrunner/compare.py` times
/// libRoadRunner the same way (`time.thread_time`).
pub fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a Linux constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + 1e-9 * ts.tv_nsec as f64
}
