//! CPU of the client's own threads, read from `/proc/self/task/*/stat` once a second: how busy the
//! busiest engine thread was, all engine threads together, and the whole process. A saturated
//! engine thread means the client, not the server, bounds the run. Not Linux: all zeros.

use std::collections::HashMap;
use std::time::Instant;

/// Engine threads are named `rbench-w<index>` (runner's `spawn_workers`).
const ENGINE_PREFIX: &str = "rbench-w";

/// One thread's fields of `/proc/<pid>/task/<tid>/stat` that matter here.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskStat {
    pub comm: String,
    /// utime + stime, in clock ticks.
    pub ticks: u64,
}

/// Parses a `stat` line: `tid (comm) state ...`, utime and stime being fields 14 and 15. The comm
/// may hold spaces and parentheses, so it runs to the *last* `)`.
pub fn parse_stat(line: &str) -> Option<TaskStat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?.to_string();
    // Fields after the comm start at field 3 (state): utime is the 12th of them, stime the 13th.
    let mut rest = line.get(close + 1..)?.split_ascii_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some(TaskStat {
        comm,
        ticks: utime + stime,
    })
}

/// The busy fractions over one interval (see `ThreadCpu::sample`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuSecond {
    /// The busiest engine thread: fraction of one core (0.0..=1.0, a little over with rounding).
    pub busiest: f64,
    /// Every engine thread together, in cores.
    pub engine: f64,
    /// The whole process, in cores.
    pub process: f64,
    /// The busiest engine thread's demand: the time it ran *or waited to run* (schedstat), as a
    /// fraction of the wall time. A thread sharing its core with another process is the
    /// bottleneck at 50% CPU; its demand says so. Equals `busiest` where schedstat is missing.
    pub busiest_demand: f64,
}

/// The client's observation of one second of a phase, merged over its threads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClientSecond {
    /// The busiest engine thread's share of one core.
    pub busiest_cpu: f64,
    /// The busiest engine thread's demand (running or runnable), share of the wall time.
    pub busiest_demand: f64,
    /// Cores used by the engine threads together.
    pub engine_cpu: f64,
    /// Cores used by the whole process.
    pub process_cpu: f64,
    /// Open loop: the most an engine thread itself was late taking a due request (ms).
    pub own_lag_ms: f64,
    /// Open loop: the most a request left after its intended time (ms).
    pub sched_lag_ms: f64,
}

/// The last reading of every thread's CPU ticks, to tell the next one's difference.
pub struct ThreadCpu {
    at: Instant,
    /// tid → (ticks, engine thread).
    last: HashMap<u32, (u64, bool)>,
    /// Clock ticks per second.
    hz: f64,
    /// Engine tid → nanoseconds run plus waited for a CPU (schedstat).
    demand: HashMap<u32, u64>,
}

impl ThreadCpu {
    /// The first reading.
    pub fn new() -> ThreadCpu {
        let last = read_tasks();
        ThreadCpu {
            at: Instant::now(),
            demand: read_demand(&last),
            last,
            hz: clock_ticks(),
        }
    }

    /// Busy fraction of one core per engine thread since the last call (0.0..=1.0+), and the
    /// whole process's cores busy, over the wall time since the last call.
    pub fn sample(&mut self) -> CpuSecond {
        let now = Instant::now();
        let wall = now.duration_since(self.at).as_secs_f64();
        let tasks = read_tasks();
        let mut out = busy(&self.last, &tasks, wall * self.hz);
        let demand = read_demand(&tasks);
        out.busiest_demand = busiest_demand(&self.demand, &demand, wall * 1e9).max(out.busiest);
        self.at = now;
        self.last = tasks;
        self.demand = demand;
        out
    }
}

impl Default for ThreadCpu {
    fn default() -> Self {
        Self::new()
    }
}

/// The busy fractions between two readings, `span` clock ticks of wall time apart. A thread new
/// since the last reading counts from 0 (engine threads are started after the first reading).
fn busy(
    before: &HashMap<u32, (u64, bool)>,
    after: &HashMap<u32, (u64, bool)>,
    span: f64,
) -> CpuSecond {
    if span <= 0.0 {
        return CpuSecond::default();
    }
    let mut out = CpuSecond::default();
    for (tid, &(ticks, engine)) in after {
        let was = before.get(tid).map_or(0, |b| b.0);
        let share = ticks.saturating_sub(was) as f64 / span;
        out.process += share;
        if engine {
            out.engine += share;
            out.busiest = out.busiest.max(share);
        }
    }
    out
}

/// tid → (CPU ticks, whether it is an engine thread), for every thread of this process.
#[cfg(target_os = "linux")]
fn read_tasks() -> HashMap<u32, (u64, bool)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread that ended between the listing and the read is skipped.
        let Ok(line) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(t) = parse_stat(&line) {
            out.insert(tid, (t.ticks, t.comm.starts_with(ENGINE_PREFIX)));
        }
    }
    out
}

#[cfg(not(target_os = "linux"))]
fn read_tasks() -> HashMap<u32, (u64, bool)> {
    HashMap::new()
}

/// The largest share of `span_ns` an engine thread ran or waited to run between two readings.
fn busiest_demand(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>, span_ns: f64) -> f64 {
    if span_ns <= 0.0 {
        return 0.0;
    }
    after
        .iter()
        .map(|(tid, &ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)) as f64 / span_ns)
        .fold(0.0, f64::max)
}

/// Engine tid → run + wait nanoseconds, from `/proc/self/task/<tid>/schedstat` ("run wait
/// slices"); absent where the kernel has no schedstat.
fn read_demand(tasks: &HashMap<u32, (u64, bool)>) -> HashMap<u32, u64> {
    tasks
        .iter()
        .filter(|(_, t)| t.1)
        .filter_map(|(&tid, _)| {
            let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
            Some((tid, parse_schedstat(&text)?))
        })
        .collect()
}

/// A local process's main thread: nanoseconds it ran or waited to run (a spawned server's main
/// thread is its process id). None where schedstat is missing or the process is gone.
pub fn main_thread_demand(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/schedstat")).ok()?;
    parse_schedstat(&text)
}

/// `run_ns wait_ns slices` → run + wait.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>().ok());
    Some(it.next()?? + it.next()??)
}

/// Clock ticks per second (`_SC_CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf reads a constant of the system; no memory is handed over.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz > 0 {
            return hz as f64;
        }
    }
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stat line as the kernel writes it, with `comm`, utime and stime.
    fn line(tid: u32, comm: &str, utime: u64, stime: u64) -> String {
        format!(
            "{tid} ({comm}) S 1 2 3 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 4 0 500 \
             1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0"
        )
    }

    #[test]
    fn parses_utime_and_stime_past_a_comm_with_spaces_and_parens() {
        let t = parse_stat(&line(42, "rbench-w3", 120, 30)).unwrap();
        assert_eq!((t.comm.as_str(), t.ticks), ("rbench-w3", 150));
        let odd = parse_stat(&line(7, "a (b) c) d", 5, 6)).unwrap();
        assert_eq!((odd.comm.as_str(), odd.ticks), ("a (b) c) d", 11));
        assert_eq!(parse_stat("12 (x) S 1 2"), None, "too few fields");
        assert_eq!(parse_stat("no parens here"), None);
        let bad = line(1, "x", 777, 0).replace(" 777 ", " - ");
        assert_eq!(parse_stat(&bad), None, "utime not a number");
    }

    #[test]
    fn demand_counts_the_time_waited_for_a_core() {
        assert_eq!(
            parse_schedstat("1004781517 1000190826 254\n"),
            Some(2_004_972_343)
        );
        assert_eq!(parse_schedstat("12"), None);
        // Ran 0.5 s and waited 0.45 s of one second: 95% demand, though 50% CPU.
        let before = HashMap::from([(2, 1_000_000_000u64)]);
        let after = HashMap::from([(2, 1_950_000_000u64), (3, 100_000_000)]);
        assert!((busiest_demand(&before, &after, 1e9) - 0.95).abs() < 1e-9);
        assert_eq!(busiest_demand(&before, &after, 0.0), 0.0);
    }

    #[test]
    fn busy_fractions_per_engine_thread_and_process() {
        let before = HashMap::from([(1, (100, false)), (2, (50, true)), (3, (10, true))]);
        // Over one second at 100 ticks/s: thread 2 busy 90%, 3 busy 40%, a new engine thread
        // 4 busy 20%, the main thread 10%.
        let after = HashMap::from([
            (1, (110, false)),
            (2, (140, true)),
            (3, (50, true)),
            (4, (20, true)),
        ]);
        let c = busy(&before, &after, 100.0);
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(c.busiest, 0.9), "{c:?}");
        assert!(near(c.engine, 1.5), "{c:?}");
        assert!(near(c.process, 1.6), "{c:?}");
        assert_eq!(busy(&before, &after, 0.0), CpuSecond::default());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn samples_this_process_s_own_threads() {
        let mut cpu = ThreadCpu::new();
        let worker = std::thread::Builder::new()
            .name("rbench-w0".into())
            .spawn(|| {
                let t = Instant::now();
                let mut x = 0u64;
                while t.elapsed().as_millis() < 300 {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                x
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let c = cpu.sample();
        let _ = worker.join();
        // A spinning engine thread shows as busy (not a timing check: any tick counts).
        assert!(
            c.busiest > 0.0 && c.engine >= c.busiest && c.process >= c.engine,
            "{c:?}"
        );
    }
}
