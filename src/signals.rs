//! SIGINT (Ctrl-C), SIGTERM (`docker stop`, CI timeouts) and SIGHUP stop a run.
//!
//! The first of them stops every run registered with [`watch`] (each run's own [`Stop`]): deployment
//! start-up, target checks and the engine see it, what was measured is printed and saved, spawned
//! servers are stopped, temp dirs removed, and rbench exits 128 + that signal. A signal that finds
//! every run already stopping exits at once: the spawned servers are killed and the temp dirs
//! removed first (see `deploy::kill_spawned_and_remove_temp_dirs`).
//!
//! One thread with its own runtime listens, so runs stop even while the main thread is blocked
//! starting redis-server processes. [`watch`] returns only once the handlers are in place: a signal
//! that came before would kill rbench outright (leaving its temp dir), or be lost if the signal was
//! ignored when rbench started (as SIGINT is for a background job of a script).

use std::sync::{Mutex, MutexGuard, Once, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::stop::Stop;

/// The runs a signal stops. The registry is process-wide because signals are; each run keeps its
/// own `Stop`, so runs in one process neither reset nor share each other's.
static RUNS: Mutex<Vec<Stop>> = Mutex::new(Vec::new());

/// Held while results are printed and saved (see [`saving`]).
static SAVING: Mutex<()> = Mutex::new(());

/// The signals that stop a run.
pub const HANDLED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Signals stop `stop` while the returned guard lives. Installs the handlers first (once per
/// process, returning when they are in place). Call at the start of a run, before anything is
/// spawned.
pub fn watch(stop: &Stop) -> Watching {
    install();
    runs().push(stop.clone());
    Watching(stop.clone())
}

/// Unregisters its run when dropped.
pub struct Watching(Stop);

impl Drop for Watching {
    fn drop(&mut self) {
        runs().retain(|s| !s.same(&self.0));
    }
}

fn runs() -> MutexGuard<'static, Vec<Stop>> {
    RUNS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hold this while printing and saving results. A second signal takes it for good before it kills
/// the servers: a save under way finishes whole, and nothing measured while the servers die (a
/// test cut short, its requests failing) is printed or saved afterwards.
pub fn saving() -> MutexGuard<'static, ()> {
    SAVING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The signal that stopped `stop`, if it was stopped (SIGINT when stopped without a signal, as an
/// in-process caller's stop).
pub fn stopped_by(stop: &Stop) -> Option<i32> {
    stop.is_stopped()
        .then(|| stop.signal_received().unwrap_or(libc::SIGINT))
}

/// The exit code of a run stopped by `sig`, as a shell reports a process killed by it.
pub fn exit_code(sig: i32) -> i32 {
    128 + sig
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (ready, registered) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("rbench-signals".into())
            .spawn(move || listen(ready));
        if spawned.is_ok() {
            // Returns when the listener has registered its handlers, or has given up (dropping
            // `ready`).
            let _ = registered.recv();
        }
    });
}

/// The listener thread: registers the handlers, says so on `ready`, then waits for signals forever.
fn listen(ready: std::sync::mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        let mut listeners = Vec::new();
        for sig in HANDLED {
            // `nohup rbench ...` asks for hang-ups to be ignored: so be it.
            if sig == libc::SIGHUP && ignored_at_start(sig) {
                continue;
            }
            let Ok(mut stream) = signal(SignalKind::from_raw(sig)) else {
                continue;
            };
            listeners.push(tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    on_signal(sig);
                }
            }));
        }
        let _ = ready.send(());
        for l in listeners {
            let _ = l.await;
        }
    });
}

/// Whether `sig` is ignored (SIG_IGN), as rbench's parent left it.
fn ignored_at_start(sig: i32) -> bool {
    // SAFETY: with a null new action, sigaction(2) only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Stops every run not stopping yet; true when there was one.
fn stop_runs(sig: i32) -> bool {
    let mut any = false;
    for s in runs().iter() {
        any |= s.signal(sig);
    }
    any
}

fn on_signal(sig: i32) {
    if stop_runs(sig) {
        return;
    }
    // A second signal: whoever sent it does not want to wait for the graceful stop.
    hold_saving_for_good();
    crate::deploy::kill_spawned_and_remove_temp_dirs();
    write_stderr(&format!(
        "rbench: second signal ({}): exiting now; the test in progress is not saved\n",
        name(sig)
    ));
    std::process::exit(exit_code(sig));
}

/// Takes the [`saving`] lock and never gives it back, waiting at most 2 s for a save under way (the
/// main thread might be stuck writing to a stdout nobody reads).
fn hold_saving_for_good() {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match SAVING.try_lock() {
            Ok(guard) => return std::mem::forget(guard),
            Err(TryLockError::Poisoned(p)) => return std::mem::forget(p.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => return,
        }
    }
}

/// Writes straight to fd 2: the main thread holds the stderr lock for the whole run.
fn write_stderr(msg: &str) {
    let mut bytes = msg.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: write(2) from a valid buffer of the given length.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_stops_the_registered_runs_only_while_they_are_registered() {
        let (a, b) = (Stop::new(), Stop::new());
        let wa = watch(&a);
        {
            let _wb = watch(&b);
            assert!(stop_runs(libc::SIGTERM));
            // Both already stopping: the next one is a second signal.
            assert!(!stop_runs(libc::SIGINT));
        }
        assert_eq!(a.signal_received(), Some(libc::SIGTERM));
        assert_eq!(b.signal_received(), Some(libc::SIGTERM));
        drop(wa);
        assert!(!runs().iter().any(|s| s.same(&a) || s.same(&b)));
    }

    #[test]
    fn exit_codes_and_names_follow_the_shell() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGINT), crate::EXIT_INTERRUPTED);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGHUP), 129);
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGHUP), "SIGHUP");
        assert_eq!(name(libc::SIGINT), "SIGINT");
    }

    #[test]
    fn ignored_at_start_reads_the_disposition() {
        // SIGURG's default action is to ignore it, but that is SIG_DFL, not SIG_IGN; SIGPIPE is set
        // to SIG_IGN by the Rust runtime.
        assert!(!ignored_at_start(libc::SIGURG));
        assert!(ignored_at_start(libc::SIGPIPE));
    }
}
