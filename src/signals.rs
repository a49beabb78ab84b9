//! SIGINT (Ctrl-C), SIGTERM (`docker stop`, CI timeouts) and SIGHUP stop a run.
//!
//! The first of them sets [`flag`], which deployment start-up, target checks and the engine poll:
//! the run stops, what was measured is printed and saved, spawned servers are stopped, temp dirs
//! removed, and rbench exits 128 + that signal. A second one exits at once: the spawned servers are
//! killed and the temp dirs removed first (see `deploy::kill_spawned_and_remove_temp_dirs`).
//!
//! One thread with its own runtime listens, so the flag flips even while the main thread is blocked
//! starting redis-server processes. [`start_run`] returns only once the handlers are in place: a
//! signal that came before would kill rbench outright (leaving its temp dir), or be lost if the
//! signal was ignored when rbench started (as SIGINT is for a background job of a script).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// Set by the first signal of a run; polled by start-up and copied into each phase's stop flag.
static STOP: AtomicBool = AtomicBool::new(false);
/// The first signal of the run, 0 while none came.
static FIRST: Seen = Seen(AtomicI32::new(0));

/// Held while results are printed and saved (see [`saving`]).
static SAVING: Mutex<()> = Mutex::new(());

/// The signals that stop a run.
pub const HANDLED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Installs the handlers (once per process, returning when they are in place) and forgets any
/// signal of an earlier run of this process. Call at the start of a run, before anything is
/// spawned.
pub fn start_run() {
    install();
    FIRST.0.store(0, Ordering::SeqCst);
    STOP.store(false, Ordering::SeqCst);
}

/// The flag the run polls: true once a signal asked it to stop.
pub fn flag() -> &'static AtomicBool {
    &STOP
}

/// The first signal received since [`start_run`].
pub fn received() -> Option<i32> {
    FIRST.get()
}

/// Hold this while printing and saving results. A second signal takes it for good before it kills
/// the servers: a save under way finishes whole, and nothing measured while the servers die (a
/// test cut short, its requests failing) is printed or saved afterwards.
pub fn saving() -> MutexGuard<'static, ()> {
    SAVING.lock().unwrap_or_else(PoisonError::into_inner)
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

/// Which signal came first, shared between the listener and the run.
struct Seen(AtomicI32);

impl Seen {
    /// Records `sig`; true when it is the first since the last reset.
    fn note(&self, sig: i32) -> bool {
        self.0
            .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    fn get(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
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

fn on_signal(sig: i32) {
    if FIRST.note(sig) {
        STOP.store(true, Ordering::SeqCst);
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
    fn the_first_signal_is_kept_and_a_second_is_told_apart() {
        let seen = Seen(AtomicI32::new(0));
        assert_eq!(seen.get(), None);
        assert!(seen.note(libc::SIGTERM));
        assert!(!seen.note(libc::SIGINT));
        assert!(!seen.note(libc::SIGTERM));
        assert_eq!(seen.get(), Some(libc::SIGTERM));
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
