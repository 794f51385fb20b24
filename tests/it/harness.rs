//! Starts a real `engram-server` process on a free 127.0.0.1 port with its own temp
//! directory, and kills it (SIGKILL) when dropped.
//!
//! The binary is the one cargo built next to this test binary (`target/<profile>/`);
//! the README's test command builds it first.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct TestServer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// Whether dropping the server removes `dir` (false for [`TestServer::start_in`]).
    owns_dir: bool,
    /// Where the process's stdout and stderr go, if captured.
    output: Option<PathBuf>,
}

/// Path of the engram-server binary built alongside the tests.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("ENGRAM_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash> -> target/<profile>/engram-server
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("engram-server");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --bin engram-server` first",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestServer {
    /// Starts a server with default settings.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `--name value` arguments.
    pub fn start_with(extra: &[&str]) -> TestServer {
        Self::start_args(&[], extra)
    }

    /// Starts a server as `engram-server <leading...> --port P --dir D <extra...>`;
    /// `leading` is where a config file goes (`&["path/to/engram.conf"]`).
    pub fn start_args(leading: &[&str], extra: &[&str]) -> TestServer {
        let dir = std::env::temp_dir().join(format!(
            "engram-it-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // A free port can be taken between probe and bind; retry a few times.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(binary())
                .args(leading)
                .args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
                .args(extra)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut server =
                TestServer { child, port, dir: dir.clone(), owns_dir: true, output: None };
            let password =
                extra.iter().position(|a| *a == "--requirepass").and_then(|i| extra.get(i + 1));
            if server.wait_ready(Duration::from_secs(10), password.copied()) {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("engram-server did not start");
    }

    /// Waits until the server answers a keyspace command (not PING: PING answers while
    /// the data directory is still loading, and a write sent then gets -LOADING). With
    /// `password` it authenticates first; a server protected by a password the harness
    /// does not know (config file) counts as up once it answers NOAUTH.
    fn wait_ready(&mut self, timeout: Duration, password: Option<&str>) -> bool {
        let deadline = Instant::now() + timeout;
        let probe = match password {
            Some(pw) => format!("AUTH {pw}\r\nDBSIZE\r\n"),
            None => "DBSIZE\r\n".to_string(),
        };
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(probe.as_bytes()).is_ok() {
                    if password.is_some() {
                        let mut ok = [0u8; 5];
                        if s.read_exact(&mut ok).is_err() || &ok != b"+OK\r\n" {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    }
                    let mut head = [0u8; 7];
                    if s.read_exact(&mut head[..1]).is_ok()
                        && (head[0] == b':'
                            || (s.read_exact(&mut head[1..]).is_ok() && &head == b"-NOAUTH"))
                    {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A blocking client connection.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }

    /// A RESP3 blocking client connection.
    pub fn client_resp3(&self) -> redis::Connection {
        redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// An async multiplexed connection.
    pub async fn async_client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// A raw TCP stream for protocol-level tests.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the process to exit; returns whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`"TERM"`, `"INT"`, `"KILL"`) with the system `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits up to `timeout` for the process to exit; returns its exit status if it did.
    pub fn wait_exit_status(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl TestServer {
    /// Starts a server on an existing data directory `dir` (kept when the server is dropped,
    /// so a later server can recover from it) and waits until it serves commands (PING and
    /// DBSIZE answer without `-LOADING`). Its stdout and stderr go to a file in `dir`
    /// ([`TestServer::output`]). Panics with that output if the server exits or does not
    /// become ready within a minute.
    pub fn start_in(dir: &Path, extra: &[&str]) -> TestServer {
        let mut last = String::new();
        // A free port can be taken between probe and bind; retry a few times.
        for _ in 0..3 {
            let mut server = Self::spawn_in(dir, extra);
            if server.wait_serving(Duration::from_secs(60)) {
                return server;
            }
            server.kill9();
            last = server.output();
        }
        panic!("engram-server on {} did not become ready; its output:\n{last}", dir.display());
    }

    /// Spawns a server on an existing data directory without waiting for it (for servers
    /// expected to refuse to start). Output is captured as for [`TestServer::start_in`].
    pub fn spawn_in(dir: &Path, extra: &[&str]) -> TestServer {
        Self::spawn_at(dir, free_port(), extra)
    }

    /// Spawns a server on `port` (a shard member must come back on the port its peers
    /// know) without waiting for it; output as for [`TestServer::start_in`].
    pub fn spawn_at(dir: &Path, port: u16, extra: &[&str]) -> TestServer {
        std::fs::create_dir_all(dir).unwrap();
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let output = dir.join(format!("server-{port}-{nanos}.out"));
        let out = File::create(&output).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(binary())
            .args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        TestServer { child, port, dir: dir.to_path_buf(), owns_dir: false, output: Some(output) }
    }

    /// Waits up to `timeout` until the server answers PING and a keyspace command (so it
    /// has finished loading); false if it exited or the time ran out.
    pub fn wait_serving(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.wait_ready(timeout, None) {
            return false;
        }
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(b"DBSIZE\r\n").is_ok() {
                    let mut buf = [0u8; 1];
                    if s.read_exact(&mut buf).is_ok() && &buf == b":" {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kills the process with SIGKILL (no chance to flush anything) and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the process wrote to stdout and stderr so far ("" if not captured).
    pub fn output(&self) -> String {
        self.output
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// A data directory that outlives server restarts ([`TestServer::start_in`]); removed on
/// drop, except when the test is panicking (it is kept for inspection and its path printed).
pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    /// A new, empty directory under the system temp dir; `name` goes into its name.
    pub fn new(name: &str) -> DataDir {
        let path = std::env::temp_dir().join(format!(
            "engram-it-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&path).unwrap();
        DataDir { path }
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping data dir {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends raw bytes and reads until `expected_len` bytes arrived or the peer closed.
pub fn raw_exchange(stream: &mut TcpStream, input: &[u8], expected_len: usize) -> Vec<u8> {
    stream.write_all(input).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < expected_len {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// Runs a command and returns the raw redis::Value (no type conversion).
pub fn cmd(con: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
}

/// Reads until the peer closes the connection (or resets it, or `timeout` passes).
/// Returns what arrived and whether the connection was closed.
pub fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left.min(Duration::from_millis(200)))).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return (out, true), // reset: closed with unread input
        }
    }
    (out, false)
}

/// Reads until the received bytes end with `suffix` (or the peer closed / timeout passed).
pub fn read_until_suffix(stream: &mut TcpStream, suffix: &[u8], timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(suffix) && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    out
}
