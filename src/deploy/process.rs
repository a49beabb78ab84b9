//! OS-level plumbing: finding binaries, temp dirs, free ports, and owning
//! child processes so they are always signalled safely and reaped.
//!
//! Every child and temp dir alive is also listed in a process-wide registry, so
//! a second Ctrl-C/SIGTERM can kill the servers and remove the dirs from the
//! signal thread before exiting at once; and temp dirs left by a run that was
//! killed outright are removed by the next one.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::DeployError;

/// Cluster bus port = data port + this (Redis default).
pub(super) const BUS_PORT_OFFSET: u16 = 10000;
/// Data ports must stay below this so the bus port fits and stays clear of
/// the top of the ephemeral range.
pub(super) const MAX_CLUSTER_PORT: u16 = 55000;

/// Resolve `name` against `path_var` (a PATH-style list) to an executable file.
pub(super) fn find_binary(name: &str, path_var: Option<OsString>) -> Option<PathBuf> {
    let path_var = path_var?;
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

pub(super) fn find_redis_server() -> Result<PathBuf, DeployError> {
    find_binary("redis-server", std::env::var_os("PATH")).ok_or(DeployError::RedisServerNotFound)
}

pub(super) fn find_redis_cli() -> Result<PathBuf, DeployError> {
    find_binary("redis-cli", std::env::var_os("PATH")).ok_or(DeployError::RedisCliNotFound)
}

/// Children not reaped yet and temp dirs not removed yet, of this process.
///
/// A PID is listed from before `spawn` returns until the child is reaped, and
/// reaping happens with the registry locked: whoever holds the lock and sees a
/// PID listed may signal it, for it cannot have been recycled.
struct Live {
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    pids: Vec::new(),
    dirs: Vec::new(),
});

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Live {
    fn forget_pid(&mut self, pid: u32) {
        self.pids.retain(|&p| p != pid);
    }
}

/// For a second signal, on its way out: SIGKILL every child not reaped yet,
/// wait (up to 2 s) until they are dead so none writes again, then remove every
/// temp dir still listed. The registry stays locked, so the rest of rbench can
/// neither spawn nor create a dir any more: call it only right before exiting.
pub(super) fn kill_all_and_remove_dirs() {
    let live = live();
    // SIGKILL, unlike SIGTERM, also ends a server stopped by a `pause` fault (SIGSTOP): the kernel
    // wakes a stopped process to deliver it, so no SIGCONT is needed first.
    for &pid in &live.pids {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) on our own child, unreaped (it is still listed).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for &pid in &live.pids {
        while !has_exited(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for dir in &live.dirs {
        remove_dir_only(dir);
    }
    std::mem::forget(live);
}

/// Whether our child `pid` has exited (or is not ours to wait for), without
/// reaping it: its owner still does that.
fn has_exited(pid: u32) -> bool {
    // SAFETY: waitid(2) writes into a zeroed siginfo_t we own; WNOWAIT leaves
    // the child to be reaped by its owner.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r != 0 || info.si_pid() != 0
    }
}

/// Blocks until our child `pid` has exited, without reaping it.
fn wait_exited(pid: u32) {
    loop {
        // SAFETY: as in `has_exited`, blocking.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Create a fresh, uniquely named directory `rbench-<pid>-<counter>-<nanos>`
/// under the system temp dir (listed in the registry until [`remove_dir`]).
pub(super) fn create_temp_dir() -> Result<PathBuf, DeployError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let mut last_err = None;
    for _ in 0..16 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("rbench-{}-{n}-{nanos}", std::process::id()));
        let mut live = live();
        // create_dir (not create_dir_all) so we never adopt an existing dir.
        match fs::create_dir(&dir) {
            Ok(()) => {
                live.dirs.push(dir.clone());
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(DeployError::io(format!("creating {}", dir.display()), e)),
        }
    }
    Err(DeployError::io(
        format!("creating a temp dir under {}", base.display()),
        last_err.unwrap_or_else(|| io::Error::other("name collisions")),
    ))
}

/// Best-effort recursive removal of a temp dir, which leaves the registry; a
/// second try covers files a just-killed server (or its forked child) was
/// still writing.
pub(super) fn remove_dir(dir: &Path) {
    remove_dir_only(dir);
    live().dirs.retain(|d| d != dir);
}

fn remove_dir_only(dir: &Path) {
    for attempt in 0..3 {
        match fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) if attempt < 2 => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(_) => return,
        }
    }
}

/// Pick `n` distinct free loopback ports. With `cluster_bus`, each port is
/// below [`MAX_CLUSTER_PORT`] and port+10000 is free too. Ports in `avoid`
/// (and their bus ports) are never returned.
///
/// Accepted probe sockets are held until the end so the kernel cannot hand
/// the same port out twice; they are closed before returning, so a server may
/// still lose a race for the port — callers retry on "Address already in use".
pub(super) fn pick_ports(
    n: usize,
    cluster_bus: bool,
    avoid: &[u16],
) -> Result<Vec<u16>, DeployError> {
    let mut held: Vec<TcpListener> = Vec::new();
    let mut ports: Vec<u16> = Vec::with_capacity(n);
    let max_attempts = 200 + 20 * n;
    let mut attempts = 0;
    while ports.len() < n {
        attempts += 1;
        if attempts > max_attempts {
            return Err(DeployError::NoFreePorts { wanted: n });
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| DeployError::io("binding a probe socket on 127.0.0.1", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| DeployError::io("reading a probe socket address", e))?
            .port();
        if conflicts(port, cluster_bus, avoid) {
            continue;
        }
        if cluster_bus {
            if port >= MAX_CLUSTER_PORT {
                continue;
            }
            match TcpListener::bind((Ipv4Addr::LOCALHOST, port + BUS_PORT_OFFSET)) {
                Ok(bus) => held.push(bus),
                Err(_) => continue,
            }
        }
        // Rejected probes are closed right away (bounding open fds); the
        // kernel rarely hands the same ephemeral port out twice in a row.
        held.push(listener);
        ports.push(port);
    }
    drop(held);
    Ok(ports)
}

/// Whether process `pid` holds the socket listening on loopback `port`: Some(false) when another
/// process does. A PONG on a freshly picked port can come from a squatter (another test's or
/// program's server that took the port first) while ours is about to die of "Address already in
/// use"; only our own listener means our server is up. None when /proc cannot tell (not Linux).
pub(super) fn owns_listener(pid: u32, port: u16) -> Option<bool> {
    let inodes = listening_inodes(port)?;
    if inodes.is_empty() {
        return None;
    }
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let ours = fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            let t = target.to_string_lossy();
            inodes.iter().any(|i| t == format!("socket:[{i}]"))
        })
    });
    Some(ours)
}

/// The inodes of the IPv4 sockets in LISTEN state on `port` (from /proc/net/tcp).
fn listening_inodes(port: u16) -> Option<Vec<String>> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let local_port = format!(":{port:04X}");
    Some(
        table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // local_address, st (0A = LISTEN), inode
                let listening = f.get(1)?.ends_with(&local_port) && *f.get(3)? == "0A";
                listening.then(|| f.get(9).map(|i| i.to_string()))?
            })
            .collect(),
    )
}

/// The PID of the run that made a temp dir named `name`, when the name is
/// exactly `rbench-<pid>-<counter>-<nanos>` (digits only).
fn temp_dir_owner(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix("rbench-")?.split('-');
    let (pid, n, nanos) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !digits(n) || !digits(nanos) || !digits(pid) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

/// Removes the temp dirs under `base` that runs killed outright (SIGKILL, a
/// crash) left behind: named as [`create_temp_dir`] names them, owned by our
/// user, and made by a process that no longer exists. Returns how many.
pub(super) fn remove_leftover_temp_dirs(base: &Path) -> usize {
    // Without /proc every owner would look dead.
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(entries) = fs::read_dir(base) else {
        return 0;
    };
    // SAFETY: geteuid(2) cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(temp_dir_owner) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        let ours = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if ours && fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn conflicts(port: u16, cluster_bus: bool, avoid: &[u16]) -> bool {
    avoid.iter().any(|&a| {
        a == port
            || (cluster_bus
                && (u32::from(a) + u32::from(BUS_PORT_OFFSET) == u32::from(port)
                    || u32::from(port) + u32::from(BUS_PORT_OFFSET) == u32::from(a)))
    })
}

/// Ask the kernel to SIGKILL the child when its parent goes away, so servers
/// never outlive an rbench that was itself SIGKILLed.
///
/// Caveat: PDEATHSIG fires when the *thread* that forked the child exits, not
/// the process. `Deployment::spawn` must therefore run on a long-lived thread
/// (e.g. the main thread) — never inside tokio's `spawn_blocking`, whose pool
/// threads exit when idle and would take the servers down with them.
fn kill_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and only calls the
        // async-signal-safe prctl(2) and getppid(2); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect; then
                // nobody would ever kill us, so refuse to exec.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A child process we own. Signals are only ever sent while the child is
/// known to be unreaped, so its PID cannot have been recycled. Dropping it
/// SIGKILLs and reaps whatever is still running.
#[derive(Debug)]
pub(super) struct OwnedChild {
    child: Child,
    exit: Option<ExitStatus>,
    /// Set when we can no longer vouch for the PID (e.g. wait failed).
    lost: bool,
}

impl OwnedChild {
    pub(super) fn spawn(cmd: &mut Command) -> io::Result<Self> {
        kill_with_parent(cmd);
        let mut live = live();
        let child = cmd.spawn()?;
        live.pids.push(child.id());
        Ok(Self {
            child,
            exit: None,
            lost: false,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Exit status if the child has exited (reaping it), `None` while running.
    pub(super) fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() && !self.lost {
            let mut live = live();
            match self.child.try_wait() {
                Ok(None) => {}
                Ok(status) => self.exit = status,
                // Someone else reaped it; the PID is no longer ours to signal.
                Err(_) => self.lost = true,
            }
            if self.exit.is_some() || self.lost {
                live.forget_pid(self.child.id());
            }
        }
        self.exit
    }

    /// True while the child has not been reaped (and its PID is still ours).
    pub(super) fn is_running(&mut self) -> bool {
        self.poll_exit().is_none() && !self.lost
    }

    /// Sends `sig` (SIGSTOP, SIGCONT...) if the child is still running; whether it was sent.
    pub(super) fn signal(&mut self, sig: libc::c_int) -> bool {
        if !self.is_running() {
            return false;
        }
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return false;
        };
        // SAFETY: plain kill(2) on our own unreaped child.
        unsafe { libc::kill(pid, sig) == 0 }
    }

    /// SIGTERM, only if still running.
    pub(super) fn terminate(&mut self) {
        if self.is_running()
            && let Ok(pid) = libc::pid_t::try_from(self.child.id())
        {
            // SAFETY: plain kill(2) on our own unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// SIGKILL and reap, only if still running. Idempotent.
    pub(super) fn kill_and_reap(&mut self) {
        if self.is_running() {
            // Child::kill sends SIGKILL; an error means it already exited,
            // and wait() below reaps it either way. The wait for its death is
            // outside the registry lock; reaping, quick by then, is inside.
            let _ = self.child.kill();
            wait_exited(self.child.id());
            let mut live = live();
            match self.child.wait() {
                Ok(status) => self.exit = Some(status),
                Err(_) => self.lost = true,
            }
            live.forget_pid(self.child.id());
        }
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// One redis-server process and its working directory.
#[derive(Debug)]
pub(super) struct ServerProc {
    pub(super) child: OwnedChild,
    pub(super) port: u16,
    pub(super) dir: PathBuf,
    pub(super) started: Instant,
    /// What it was started with, so a `restart` fault can start it again the same way.
    bin: PathBuf,
    args: Vec<String>,
    /// Stopped with SIGSTOP (a `pause` fault) and not continued since.
    pub(super) paused: bool,
}

impl ServerProc {
    /// Launch `redis-server` on `port` with its data/log dir `<base>/<port>`.
    /// `extra_args` follow our defaults, so they override them.
    pub(super) fn launch(
        bin: &Path,
        base: &Path,
        port: u16,
        extra_args: &[String],
    ) -> Result<Self, DeployError> {
        let dir = base.join(port.to_string());
        // Not create_dir_all: a base removed by a second signal stays removed.
        fs::create_dir(&dir)
            .map_err(|e| DeployError::io(format!("creating {}", dir.display()), e))?;
        Self::start(bin, dir, port, extra_args)
    }

    /// Starts this (dead) server again on its port, in its directory, with its arguments: a
    /// cluster node finds its nodes.conf there and rejoins the cluster as the node it was.
    pub(super) fn relaunch(&self) -> Result<Self, DeployError> {
        if !self.dir.is_dir() {
            return Err(DeployError::StartFailed {
                port: self.port,
                reason: format!("its directory {} is gone", self.dir.display()),
            });
        }
        Self::start(&self.bin, self.dir.clone(), self.port, &self.args)
    }

    fn start(
        bin: &Path,
        dir: PathBuf,
        port: u16,
        extra_args: &[String],
    ) -> Result<Self, DeployError> {
        // Config errors are printed to stderr before the logfile is opened,
        // so stdout/stderr go to a file we can quote instead of /dev/null.
        let stdio_path = dir.join("stdio.log");
        let stdio = File::create(&stdio_path)
            .map_err(|e| DeployError::io(format!("creating {}", stdio_path.display()), e))?;
        let stdio2 = stdio
            .try_clone()
            .map_err(|e| DeployError::io("duplicating a file handle", e))?;

        let mut cmd = Command::new(bin);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--dir"])
            .arg(&dir)
            .args([
                "--daemonize",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
            ])
            .arg(dir.join("redis.log"))
            .args(["--protected-mode", "no"])
            .args(extra_args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdio))
            .stderr(Stdio::from(stdio2));
        let child = OwnedChild::spawn(&mut cmd).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                DeployError::RedisServerNotFound
            } else {
                DeployError::io(format!("spawning {}", bin.display()), e)
            }
        })?;
        Ok(Self {
            child,
            port,
            dir,
            started: Instant::now(),
            bin: bin.to_path_buf(),
            args: extra_args.to_vec(),
            paused: false,
        })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Last lines of stderr and the Redis log, on one line, for error messages.
    pub(super) fn output_tail(&self) -> String {
        let stderr = tail_lines(&self.dir.join("stdio.log"), 5);
        let log = tail_lines(&self.dir.join("redis.log"), 5);
        match (stderr.is_empty(), log.is_empty()) {
            (true, true) => "no output in stderr or redis.log".to_string(),
            (false, true) => format!("stderr: {stderr}"),
            (true, false) => format!("log: {log}"),
            (false, false) => format!("stderr: {stderr} || log: {log}"),
        }
    }

    /// Whether the server died because its port (or bus port) was taken.
    pub(super) fn lost_port_race(&self) -> bool {
        let log = tail_lines(&self.dir.join("redis.log"), 20);
        let stderr = tail_lines(&self.dir.join("stdio.log"), 20);
        log.contains("Address already in use") || stderr.contains("Address already in use")
    }
}

/// Whether `bin` takes `--enable-debug-command` (Redis 7 and later): asking for it from an older
/// server would stop it from starting, and Redis 7 refuses DEBUG (the `debug-sleep` fault) without it.
pub(super) fn takes_enable_debug_command(bin: &Path) -> bool {
    let Ok(out) = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    major_version(&String::from_utf8_lossy(&out.stdout)).is_some_and(|major| major >= 7)
}

/// The major version in `redis-server --version` output ("Redis server v=7.0.15 sha=...").
fn major_version(text: &str) -> Option<u32> {
    let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    v.split('.').next()?.parse().ok()
}

/// Last `n` non-empty lines of a file, joined with " | ". Empty if unreadable.
pub(super) fn tail_lines(path: &Path, n: usize) -> String {
    const MAX_TAIL_BYTES: u64 = 16 * 1024;
    const MAX_LINE_CHARS: usize = 300;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_TAIL_BYTES && file.seek(SeekFrom::Start(len - MAX_TAIL_BYTES)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l.chars().count() > MAX_LINE_CHARS {
                let cut: String = l.chars().take(MAX_LINE_CHARS).collect();
                format!("{cut}...")
            } else {
                l.to_string()
            }
        })
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_version_reads_redis_server_version_output() {
        let v7 = "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c";
        assert_eq!(major_version(v7), Some(7));
        assert_eq!(major_version("Redis server v=6.2.14 sha=0"), Some(6));
        assert_eq!(major_version("Redis server v=x.1 sha=0"), None);
        assert_eq!(major_version(""), None);
    }

    #[test]
    fn find_binary_uses_the_given_path_list() {
        assert_eq!(find_binary("sh", Some("/nonexistent-dir".into())), None);
        assert_eq!(find_binary("sh", None), None);
        let found = find_binary("sh", Some("/nonexistent-dir:/bin:/usr/bin".into()));
        assert!(found.is_some_and(|p| p.ends_with("sh")));
    }

    #[test]
    fn our_listener_is_told_from_another_process() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(owns_listener(std::process::id(), port), Some(true));
        // PID 1 holds no socket of ours.
        assert_eq!(owns_listener(1, port), Some(false));
    }

    #[test]
    fn pick_ports_gives_distinct_cluster_ports_with_free_bus_ports() {
        let ports = pick_ports(8, true, &[]).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        for &p in &ports {
            assert!(p > 0 && p < MAX_CLUSTER_PORT, "port {p}");
            assert!(!ports.contains(&(p + BUS_PORT_OFFSET)));
        }
        let more = pick_ports(4, true, &ports).unwrap();
        assert!(more.iter().all(|p| !conflicts(*p, true, &ports)));
    }

    #[test]
    fn conflicts_covers_bus_ports() {
        assert!(conflicts(7000, false, &[7000]));
        assert!(!conflicts(17000, false, &[7000]));
        assert!(conflicts(17000, true, &[7000]));
        assert!(conflicts(7000, true, &[17000]));
        assert!(!conflicts(7001, true, &[7000]));
    }

    #[test]
    fn tail_lines_keeps_last_non_empty_lines() {
        let dir = create_temp_dir().unwrap();
        let file = dir.join("log");
        fs::write(&file, "one\n\ntwo\r\nthree\n  \nfour\n").unwrap();
        assert_eq!(tail_lines(&file, 3), "two | three | four");
        assert_eq!(tail_lines(&file, 10), "one | two | three | four");
        assert_eq!(tail_lines(&dir.join("missing"), 3), "");
        remove_dir(&dir);
        assert!(!dir.exists());
    }

    #[test]
    fn owned_child_is_reaped_and_never_resignalled() {
        let mut child = OwnedChild::spawn(Command::new("sleep").arg("30")).unwrap();
        assert!(child.is_running());
        child.terminate();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while child.is_running() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!child.is_running());
        // Both are no-ops on a reaped child.
        child.terminate();
        child.kill_and_reap();
        assert!(child.poll_exit().is_some());
    }

    fn listed_pid(pid: u32) -> bool {
        live().pids.contains(&pid)
    }

    fn listed_dir(dir: &Path) -> bool {
        live().dirs.iter().any(|d| d == dir)
    }

    #[test]
    fn children_are_listed_until_reaped() {
        let mut sleeper = OwnedChild::spawn(Command::new("sleep").arg("30")).unwrap();
        let pid = sleeper.pid();
        assert!(listed_pid(pid));
        assert!(sleeper.is_running());
        assert!(listed_pid(pid), "a running child must stay listed");
        sleeper.kill_and_reap();
        assert!(!listed_pid(pid), "a reaped child must not be listed");

        let mut quick = OwnedChild::spawn(&mut Command::new("true")).unwrap();
        let pid = quick.pid();
        let deadline = Instant::now() + Duration::from_secs(10);
        while quick.poll_exit().is_none() {
            assert!(Instant::now() < deadline, "`true` did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!listed_pid(pid), "reaped by poll_exit, still listed");
    }

    #[test]
    fn temp_dirs_are_listed_until_removed() {
        let dir = create_temp_dir().unwrap();
        assert!(listed_dir(&dir));
        remove_dir(&dir);
        assert!(!dir.exists());
        assert!(!listed_dir(&dir));
    }

    #[test]
    fn temp_dir_owner_takes_only_our_exact_names() {
        assert_eq!(temp_dir_owner("rbench-1234-0-987654321"), Some(1234));
        assert_eq!(temp_dir_owner("rbench-1-12-0"), Some(1));
        for name in [
            "rbench-0-1-2",
            "rbench-1234-0",
            "rbench-1234-0-1-2",
            "rbench-1234--5",
            "rbench--0-5",
            "rbench-12a4-0-5",
            "rbench-1234-0-5x",
            "rbench-+12-0-5",
            "rbench-profile-test-1234-0-5",
            "rbench-test-sigterm-1234-0-5",
            "xrbench-1234-0-5",
            "rbench-99999999999-0-5",
            "",
        ] {
            assert_eq!(temp_dir_owner(name), None, "{name:?}");
        }
    }

    /// A PID that no longer exists: a child that has been reaped.
    fn dead_pid() -> u32 {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn leftover_temp_dirs_of_gone_processes_are_removed_and_nothing_else() {
        let base = create_temp_dir().unwrap();
        let dead = dead_pid();
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let gone = base.join(format!("rbench-{dead}-0-123"));
        fs::create_dir_all(gone.join("6379")).unwrap();
        fs::write(gone.join("6379/redis.log"), "log").unwrap();
        let gone2 = base.join(format!("rbench-{dead}-7-1"));
        fs::create_dir(&gone2).unwrap();
        let kept = [
            format!("rbench-{me}-0-456"),
            format!("rbench-{parent}-3-456"),
            format!("rbench-profile-test-{dead}-0-1"),
            format!("rbench-{dead}-0-12x"),
            format!("other-{dead}-0-1"),
        ];
        for k in &kept {
            fs::create_dir(base.join(k)).unwrap();
        }
        // A file with our name is not a dir of ours.
        let file = base.join(format!("rbench-{dead}-1-1"));
        fs::write(&file, "").unwrap();

        assert_eq!(remove_leftover_temp_dirs(&base), 2);
        assert!(!gone.exists() && !gone2.exists());
        for k in &kept {
            assert!(base.join(k).exists(), "{k} was removed");
        }
        assert!(file.exists());
        assert_eq!(remove_leftover_temp_dirs(&base), 0);
        assert_eq!(remove_leftover_temp_dirs(&base.join("missing")), 0);
        remove_dir(&base);
    }
}
