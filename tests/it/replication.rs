//! Replicated shards (issue 7): three real processes on 127.0.0.1 ports sharing one raft
//! log. Primaries are killed with SIGKILL, frozen with SIGSTOP and cut off behind
//! proxies while clients write; every acknowledged write must survive on every node.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{free_port, DataDir, TestServer};
use crate::linearizable::{self, Kind, Op};

/// Election timeouts short enough that a test's many failovers stay quick.
const FAST_RAFT: &[&str] = &["--raft-heartbeat-ms", "50", "--raft-election-timeout-ms", "300"];

/// A port whose bus port (+10000) is free too.
fn shard_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// A shard of real processes; node ids are 1-based, `nodes[i - 1]`.
pub struct Shard {
    pub dir: DataDir,
    pub ports: Vec<u16>,
    pub nodes: Vec<Option<TestServer>>,
    extra: Vec<String>,
    peers: String,
}

impl Shard {
    pub fn start(size: usize, extra: &[&str]) -> Shard {
        let ports: Vec<u16> = (0..size).map(|_| shard_port()).collect();
        let peers = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let mut shard = Shard {
            dir: DataDir::new("shard"),
            ports,
            nodes: (0..size).map(|_| None).collect(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            peers,
        };
        for id in 1..=size {
            shard.spawn(id, &[]);
        }
        for id in 1..=size {
            shard.wait_serving(id);
        }
        shard.leader(Duration::from_secs(20));
        shard
    }

    fn node_dir(&self, id: usize) -> PathBuf {
        self.dir.path.join(format!("n{id}"))
    }

    /// Starts node `id` (again) on its port and directory.
    pub fn spawn(&mut self, id: usize, more: &[&str]) {
        let mut args: Vec<String> =
            vec!["--node-id".into(), id.to_string(), "--cluster-peers".into(), self.peers.clone()];
        args.extend(self.extra.iter().cloned());
        args.extend(more.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = TestServer::spawn_at(&self.node_dir(id), self.ports[id - 1], &args);
        self.nodes[id - 1] = Some(server);
    }

    pub fn wait_serving(&mut self, id: usize) {
        let server = self.nodes[id - 1].as_mut().unwrap();
        assert!(server.wait_serving(Duration::from_secs(30)), "node {id}:\n{}", server.output());
    }

    pub fn kill9(&mut self, id: usize) {
        if let Some(mut server) = self.nodes[id - 1].take() {
            server.kill9();
        }
    }

    pub fn server(&self, id: usize) -> &TestServer {
        self.nodes[id - 1].as_ref().unwrap()
    }

    pub fn client(&self, id: usize) -> redis::Connection {
        connect(self.ports[id - 1]).unwrap()
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (1..=self.nodes.len()).filter(|id| self.nodes[id - 1].is_some())
    }

    /// The node every live member agrees is the leader (polls up to `timeout`).
    pub fn leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let roles: Vec<(usize, String)> =
                self.live().filter_map(|id| role_of(self.ports[id - 1]).map(|r| (id, r))).collect();
            let masters: Vec<usize> =
                roles.iter().filter(|(_, r)| r == "master").map(|(id, _)| *id).collect();
            let leader_port = masters.first().map(|id| self.ports[id - 1]);
            let agreed = roles.iter().all(|(id, r)| {
                r == "master" || leader_port.is_some_and(|p| follows(self.ports[id - 1], p))
            });
            if masters.len() == 1 && agreed && roles.len() == self.live().count() {
                return masters[0];
            }
            assert!(Instant::now() < deadline, "no agreed leader; roles: {roles:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `cmd` on the leader as a client that follows the leader does: while the answer
    /// says the command did not run there ([`refused`]), finds the leader again and retries,
    /// for up to `timeout`. Returns the node that gave the final answer, and that answer.
    pub fn on_leader<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        timeout: Duration,
    ) -> (usize, redis::RedisResult<T>) {
        let deadline = Instant::now() + timeout;
        let mut node = 0;
        let reply = until_not_refused(timeout, || {
            node = self.leader(deadline.saturating_duration_since(Instant::now()));
            cmd.query(&mut self.client(node))
        });
        (node, reply)
    }

    /// Waits until every live node has applied the same log index.
    pub fn converge(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let offsets: Vec<Option<i64>> =
                self.live().map(|id| applied_offset(self.ports[id - 1])).collect();
            if offsets.iter().all(|o| o.is_some()) && offsets.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            assert!(Instant::now() < deadline, "nodes did not converge: {offsets:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    con.set_read_timeout(Some(Duration::from_secs(3)))?;
    con.set_write_timeout(Some(Duration::from_secs(3)))?;
    Ok(con)
}

fn role_of(port: u16) -> Option<String> {
    let mut con = connect(port).ok()?;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut con).ok()?;
    match role.first()? {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Whether the node on `port` reports following the leader on `leader_port`.
fn follows(port: u16, leader_port: u16) -> bool {
    let Ok(mut con) = connect(port) else { return false };
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut con).unwrap_or_default();
    matches!(role.get(2), Some(redis::Value::Int(p)) if *p == i64::from(leader_port))
        || matches!(role.get(2), Some(redis::Value::BulkString(p)) if p == leader_port.to_string().as_bytes())
}

fn applied_offset(port: u16) -> Option<i64> {
    let mut con = connect(port).ok()?;
    let info: String = redis::cmd("INFO").arg("replication").query(&mut con).ok()?;
    let line = info.lines().find(|l| l.starts_with("master_repl_offset:"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// Whether an error says the command was refused before it ran because the node cannot
/// act as the leader just now: a client retries it on the leader. Besides a replica (or a
/// deposed leader), a leader answers READONLY to a write, and TRYAGAIN to a read, while no
/// majority has acknowledged it for an election timeout (its raft lease lapsed), which
/// happens on a loaded machine though no other node is elected.
fn refused(e: &redis::RedisError) -> bool {
    matches!(e.code(), Some("READONLY" | "MOVED" | "CLUSTERDOWN" | "TRYAGAIN"))
}

/// Calls `f` until its answer is not a [`refused`] error or `timeout` has passed (then the
/// last refusal is returned). An error that leaves a write's outcome unknown (a dropped
/// connection) is returned, not retried.
fn until_not_refused<T>(
    timeout: Duration,
    mut f: impl FnMut() -> redis::RedisResult<T>,
) -> redis::RedisResult<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Err(e) if refused(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            reply => return reply,
        }
    }
}

fn error_code(e: &redis::RedisError) -> String {
    e.code().map(str::to_string).unwrap_or_else(|| e.to_string())
}

#[test]
fn shard_replicates_and_redirects() {
    let shard = Shard::start(3, FAST_RAFT);
    // Writes are sent as a client sends them, to whichever node leads when they go out.
    let patience = Duration::from_secs(20);
    let (_, set) = shard.on_leader::<()>(redis::cmd("SET").arg("k").arg("v1"), patience);
    set.unwrap();
    let (leader, pushed) =
        shard.on_leader::<i64>(redis::cmd("RPUSH").arg("l").arg("a").arg("b"), patience);
    assert_eq!(pushed.unwrap(), 2);
    let replica = (1..=3).find(|id| *id != leader).unwrap();
    let mut primary = shard.client(leader);

    let mut con = shard.client(replica);
    let err = redis::cmd("SET").arg("k").arg("x").query::<()>(&mut con).unwrap_err();
    assert_eq!(error_code(&err), "READONLY", "{err}");
    assert!(err.to_string().contains("You can't write against a read only replica"), "{err}");
    // Reads on a replica are served from its own state: eventually the write is there.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Option<String> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
        if got.as_deref() == Some("v1") {
            break;
        }
        assert!(Instant::now() < deadline, "replica never saw the write");
        std::thread::sleep(Duration::from_millis(10));
    }
    shard.converge(Duration::from_secs(10));
    for id in 1..=3 {
        // On the leader a read waits until a majority confirms it leads (TRYAGAIN if not).
        let list: Vec<String> = until_not_refused(patience, || {
            redis::cmd("LRANGE").arg("l").arg(0).arg(-1).query(&mut shard.client(id))
        })
        .unwrap();
        assert_eq!(list, ["a", "b"], "node {id}");
    }
    // Roles as Redis shows them.
    let info: String = redis::cmd("INFO").arg("replication").query(&mut primary).unwrap();
    assert!(info.contains("role:master") && info.contains("connected_slaves:2"), "{info}");
    let info: String = redis::cmd("INFO").arg("replication").query(&mut con).unwrap();
    assert!(info.contains("role:slave"), "{info}");
    assert!(info.contains(&format!("master_port:{}", shard.ports[leader - 1])), "{info}");
    // A read-only transaction runs on a replica; one that writes fails as in Redis.
    let (v,): (Option<String>,) =
        redis::pipe().atomic().cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v.as_deref(), Some("v1"));
    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let err = redis::cmd("SET").arg("k").arg("z").query::<()>(&mut con).unwrap_err();
    assert_eq!(error_code(&err), "READONLY");
    let err = redis::cmd("EXEC").query::<()>(&mut con).unwrap_err();
    assert_eq!(error_code(&err), "EXECABORT", "{err}");
    // A replica refuses scripts that write, too.
    let err =
        redis::cmd("EVAL").arg("return redis.call('SET','k','z')").arg(0).query::<()>(&mut con);
    assert_eq!(error_code(&err.unwrap_err()), "READONLY");
    // min-replicas-to-write counts the replicas that acknowledged the log: two here. Set on
    // every node, so that it holds on whichever one leads when the writes go out.
    let set_to = |n: &str| {
        for id in 1..=3 {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("min-replicas-to-write")
                .arg(n)
                .query(&mut shard.client(id))
                .unwrap();
        }
    };
    set_to("2");
    let (_, set) = shard.on_leader::<()>(redis::cmd("SET").arg("k").arg("v2"), patience);
    set.unwrap();
    set_to("3");
    let (refuser, set) = shard.on_leader::<()>(redis::cmd("SET").arg("k").arg("v3"), patience);
    let err = set.unwrap_err();
    assert_eq!(error_code(&err), "NOREPLICAS", "{err}");
    let info: String =
        redis::cmd("INFO").arg("replication").query(&mut shard.client(refuser)).unwrap();
    assert!(info.contains("min_slaves_good_slaves:2"), "{info}");
    set_to("0");
    let (_, got) = shard.on_leader::<String>(redis::cmd("GET").arg("k"), patience);
    assert_eq!(got.unwrap(), "v2");
}

#[test]
fn cluster_mode_moves_clients_to_the_primary() {
    let mut extra = FAST_RAFT.to_vec();
    extra.extend(["--cluster-enabled", "yes"]);
    let shard = Shard::start(3, &extra);
    let leader = shard.leader(Duration::from_secs(20));
    let replica = (1..=3).find(|id| *id != leader).unwrap();
    let mut primary = shard.client(leader);
    let _: () = redis::cmd("SET").arg("foo").arg("bar").query(&mut primary).unwrap();
    let mut con = shard.client(replica);
    let err = redis::cmd("SET").arg("foo").arg("x").query::<()>(&mut con).unwrap_err();
    let moved = format!("{err:?}");
    assert!(
        moved.contains("12182")
            && moved.contains(&format!("127.0.0.1:{}", shard.ports[leader - 1])),
        "{moved}"
    );
    // Reads are redirected too, until the client says READONLY.
    let err = redis::cmd("GET").arg("foo").query::<Option<String>>(&mut con).unwrap_err();
    assert!(format!("{err:?}").contains("12182"), "{err:?}");
    let _: () = redis::cmd("READONLY").query(&mut con).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("GET").arg("foo").query::<Option<String>>(&mut con).unwrap().is_none() {
        assert!(Instant::now() < deadline, "replica never saw the write");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _: () = redis::cmd("READWRITE").query(&mut con).unwrap();
    assert!(redis::cmd("GET").arg("foo").query::<Option<String>>(&mut con).is_err());
}

/// A shard that lost its leader still shows cluster clients who owned the slots, as
/// Redis Cluster does until a failover ends: redis-py's RedisCluster gives up for good
/// on a topology with uncovered slots, but keeps retrying a master that refuses
/// connections. With the majority gone no successor is elected, so the survivor stays in
/// that state and the check is not a race with an election.
#[test]
fn a_shard_without_a_leader_keeps_showing_the_failed_master() {
    let mut extra = FAST_RAFT.to_vec();
    extra.extend(["--cluster-enabled", "yes"]);
    let mut shard = Shard::start(3, &extra);
    let leader = shard.leader(Duration::from_secs(20));
    let survivor = (1..=3).find(|id| *id != leader).unwrap();
    let other = (1..=3).find(|id| *id != leader && *id != survivor).unwrap();
    let mut con = shard.client(survivor);
    let master_name: String =
        redis::cmd("CLUSTER").arg("MYID").query(&mut shard.client(leader)).unwrap();
    shard.kill9(other);
    shard.kill9(leader);
    let deadline = Instant::now() + Duration::from_secs(20);
    let nodes = loop {
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).unwrap();
        if nodes.contains("master,fail") {
            break nodes;
        }
        assert!(Instant::now() < deadline, "the survivor never saw its master fail: {nodes}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let line = nodes.lines().find(|l| l.starts_with(&master_name)).unwrap();
    assert!(line.contains(" master,fail - ") && line.ends_with(" disconnected 0-16383"), "{line}");
    let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut con).unwrap();
    assert_eq!(slots.len(), 1, "{slots:?}");
    let range: (i64, i64) =
        redis::from_redis_value(redis::Value::Array(slots[0][..2].to_vec())).unwrap();
    assert_eq!(range, (0, 16383));
    let owner: (String, u16, String, redis::Value) =
        redis::from_redis_value(slots[0][2].clone()).unwrap();
    assert_eq!(owner.2, master_name);
    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
    assert!(
        info.contains("cluster_state:fail") && info.contains("cluster_slots_fail:16384"),
        "{info}"
    );
}

/// What the writers were told: per writer, acknowledged INCRs, INCRs with unknown
/// outcome, and the values whose RPUSH was acknowledged (in order) or unknown.
#[derive(Default, Clone)]
struct Ledger {
    incr_acked: u64,
    incr_unknown: u64,
    pushed: Vec<u64>,
    push_unknown: Vec<u64>,
    sets: BTreeMap<String, String>,
}

/// Writers that follow the leader: on any error they try the next node.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    last_ack_ns: Arc<AtomicU64>,
    ledgers: Vec<Arc<Mutex<Ledger>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    origin: Instant,
}

impl Writers {
    fn start(ports: &[u16], count: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let last_ack_ns = Arc::new(AtomicU64::new(0));
        let origin = Instant::now();
        let mut ledgers = Vec::new();
        let mut threads = Vec::new();
        for w in 0..count {
            let ledger = Arc::new(Mutex::new(Ledger::default()));
            ledgers.push(ledger.clone());
            let (stop, acked, last_ack_ns, ports) =
                (stop.clone(), acked.clone(), last_ack_ns.clone(), ports.to_vec());
            threads.push(std::thread::spawn(move || {
                let mut node = w % ports.len();
                let mut con: Option<redis::Connection> = None;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if con.is_none() {
                        con = connect(ports[node]).ok();
                        if con.is_none() {
                            node = (node + 1) % ports.len();
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                    }
                    let c = con.as_mut().unwrap();
                    i += 1;
                    let op = i % 3;
                    let result: redis::RedisResult<()> = match op {
                        0 => redis::cmd("INCR").arg(format!("cnt:{w}")).query::<i64>(c).map(drop),
                        1 => redis::cmd("RPUSH")
                            .arg(format!("list:{w}"))
                            .arg(i)
                            .query::<i64>(c)
                            .map(drop),
                        _ => {
                            redis::cmd("SET").arg(format!("k:{w}:{}", i % 50)).arg(i).query::<()>(c)
                        }
                    };
                    let mut l = ledger.lock().unwrap();
                    match result {
                        Ok(()) => {
                            match op {
                                0 => l.incr_acked += 1,
                                1 => l.pushed.push(i),
                                _ => {
                                    l.sets.insert(format!("k:{w}:{}", i % 50), i.to_string());
                                }
                            }
                            acked.fetch_add(1, Ordering::Relaxed);
                            last_ack_ns
                                .store(origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        }
                        Err(e) => {
                            match op {
                                0 => l.incr_unknown += 1,
                                1 => l.push_unknown.push(i),
                                // A SET with unknown outcome makes the key's final value
                                // uncertain: stop checking it.
                                _ => {
                                    l.sets.insert(format!("k:{w}:{}", i % 50), String::new());
                                }
                            }
                            let readonly = e.code() == Some("READONLY");
                            drop(l);
                            con = None;
                            node = (node + 1) % ports.len();
                            if !readonly {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        }
                    }
                }
            }));
        }
        Writers { stop, acked, last_ack_ns, ledgers, threads, origin }
    }

    /// Waits until `more` further writes were acknowledged.
    fn wait_acks(&self, more: u64, timeout: Duration) {
        let target = self.acked.load(Ordering::Relaxed) + more;
        let deadline = Instant::now() + timeout;
        while self.acked.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "writes stalled");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Time from `since` until a write was acknowledged after it.
    fn first_ack_after(&self, since: Instant, timeout: Duration) -> Duration {
        let since_ns = since.duration_since(self.origin).as_nanos() as u64;
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.last_ack_ns.load(Ordering::Relaxed);
            if last > since_ns {
                return Duration::from_nanos(last - since_ns);
            }
            assert!(Instant::now() < deadline, "no write was acknowledged after the failure");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// What the writers have been told so far.
    fn snapshot(&self) -> Vec<Ledger> {
        self.ledgers.iter().map(|l| l.lock().unwrap().clone()).collect()
    }

    fn stop(mut self) -> Vec<Ledger> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        self.ledgers.into_iter().map(|l| std::mem::take(&mut *l.lock().unwrap())).collect()
    }

    /// The end of a fault run: `more` acknowledgements after the faults stop, then the
    /// writers stop, a leader is elected, every node converges (within `patience` each)
    /// and holds every acknowledged write. Returns the acknowledged INCR/RPUSH count.
    fn settle_and_verify(self, shard: &Shard, more: u64, patience: Duration) -> u64 {
        self.wait_acks(more, patience);
        let ledgers = self.stop();
        shard.leader(patience);
        shard.converge(patience);
        for id in 1..=3 {
            verify(shard.ports[id - 1], &ledgers);
        }
        ledgers.iter().map(|l| l.incr_acked + l.pushed.len() as u64).sum()
    }
}

/// Every acknowledged push is in `list`, in the order it was acknowledged.
fn assert_pushes_in(list: &[u64], pushed: &[u64], whose: &str) {
    let mut present = list.iter().peekable();
    for v in pushed {
        while present.next_if(|x| *x < v).is_some() {}
        assert_eq!(present.next(), Some(v), "{whose}: acknowledged push {v} lost");
    }
}

/// While writers go on: every write acknowledged before `ledgers` was taken is on the
/// primary at `port` (counters at least as high, acknowledged pushes in order).
fn verify_acknowledged(port: u16, ledgers: &[Ledger]) {
    let mut con = connect(port).unwrap();
    for (w, l) in ledgers.iter().enumerate() {
        let count: Option<u64> = redis::cmd("GET").arg(format!("cnt:{w}")).query(&mut con).unwrap();
        assert!(
            count.unwrap_or(0) >= l.incr_acked,
            "writer {w}: counter {count:?} < {} acknowledged",
            l.incr_acked
        );
        let list: Vec<u64> =
            redis::cmd("LRANGE").arg(format!("list:{w}")).arg(0).arg(-1).query(&mut con).unwrap();
        assert_pushes_in(&list, &l.pushed, &format!("new primary, writer {w}"));
    }
}

/// Every acknowledged write is on node `port`, and nothing that was never written.
fn verify(port: u16, ledgers: &[Ledger]) {
    let mut con = connect(port).unwrap();
    // In cluster mode a replica serves reads only after READONLY (elsewhere it is an error).
    let _ = redis::cmd("READONLY").query::<()>(&mut con);
    for (w, l) in ledgers.iter().enumerate() {
        let count: Option<u64> = redis::cmd("GET").arg(format!("cnt:{w}")).query(&mut con).unwrap();
        let count = count.unwrap_or(0);
        assert!(
            count >= l.incr_acked && count <= l.incr_acked + l.incr_unknown,
            "port {port} writer {w}: counter {count}, acknowledged {} (+{} unknown)",
            l.incr_acked,
            l.incr_unknown
        );
        let list: Vec<u64> =
            redis::cmd("LRANGE").arg(format!("list:{w}")).arg(0).arg(-1).query(&mut con).unwrap();
        assert!(
            list.windows(2).all(|p| p[0] < p[1]),
            "port {port} writer {w}: list out of order: {list:?}"
        );
        for v in &list {
            assert!(
                l.pushed.contains(v) || l.push_unknown.contains(v),
                "port {port} writer {w}: {v} was never pushed"
            );
        }
        assert_pushes_in(&list, &l.pushed, &format!("port {port}, writer {w}"));
        for (key, value) in l.sets.iter().filter(|(_, v)| !v.is_empty()) {
            let got: Option<String> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
            assert_eq!(got.as_deref(), Some(value.as_str()), "port {port}: {key}");
        }
    }
}

#[test]
fn killing_the_primary_loses_no_acknowledged_write() {
    let rounds: usize =
        std::env::var("ENGRAM_FAILOVER_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut shard = Shard::start(3, FAST_RAFT);
    let writers = Writers::start(&shard.ports, 4);
    let mut failovers = Vec::new();
    for round in 0..rounds {
        writers.wait_acks(200, Duration::from_secs(30));
        let leader = shard.leader(Duration::from_secs(20));
        let killed_at = Instant::now();
        shard.kill9(leader);
        let took = writers.first_ack_after(killed_at, Duration::from_secs(30));
        failovers.push(took);
        // Everything acknowledged up to now is on the new primary (its reads are
        // linearizable, so a read there sees every acknowledged write).
        let told = writers.snapshot();
        let new = shard.leader(Duration::from_secs(20));
        verify_acknowledged(shard.ports[new - 1], &told);
        eprintln!("round {round}: killed node {leader}; first acknowledged write after {took:?}");
        shard.spawn(leader, &[]);
        shard.wait_serving(leader);
        // Its persisted vote still names itself; it must not claim to be the primary.
        let role = role_of(shard.ports[leader - 1]);
        assert_ne!(role.as_deref(), Some("master"), "the restarted old primary claims to lead");
    }
    let acked = writers.settle_and_verify(&shard, 100, Duration::from_secs(30));
    let worst = failovers.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{rounds} failovers, worst {worst:?}; {acked} acknowledged INCR/RPUSH verified on 3 nodes"
    );
    // Liveness, not a benchmark: the goal (3 s with default timeouts) is measured by
    // benches/shard.sh; here a stuck election would show as minutes.
    assert!(worst < Duration::from_secs(15), "failover took {worst:?}");
}

#[test]
fn a_frozen_primary_is_replaced_and_rejoins_without_acknowledging_lost_writes() {
    let shard = Shard::start(3, FAST_RAFT);
    let writers = Writers::start(&shard.ports, 3);
    writers.wait_acks(200, Duration::from_secs(30));
    let old = shard.leader(Duration::from_secs(20));
    // A connection opened before the freeze: whatever the old primary answers after it
    // resumes must be true.
    let mut stale = shard.client(old);
    shard.server(old).signal("STOP");
    let frozen_at = Instant::now();
    writers.first_ack_after(frozen_at, Duration::from_secs(30));
    writers.wait_acks(200, Duration::from_secs(30));
    shard.server(old).signal("CONT");
    let late = redis::cmd("SET").arg("after-resume").arg("1").query::<()>(&mut stale);
    writers.wait_acks(200, Duration::from_secs(30));
    let ledgers = writers.stop();
    let leader = shard.leader(Duration::from_secs(20));
    shard.converge(Duration::from_secs(30));
    for id in 1..=3 {
        verify(shard.ports[id - 1], &ledgers);
        if late.is_ok() {
            let mut c = shard.client(id);
            let v: Option<String> = redis::cmd("GET").arg("after-resume").query(&mut c).unwrap();
            assert_eq!(
                v.as_deref(),
                Some("1"),
                "an acknowledged write on the resumed node was lost"
            );
        }
    }
    eprintln!("old primary {old}, leader now {leader}; late write: {late:?}");
}

/// A TCP proxy for one link that a test can cut (and heal).
struct Link {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    fn new(target: u16) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                if !up2.load(Ordering::Relaxed) {
                    continue; // dropped: refused in effect
                }
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let pairs = [
                    (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (outbound, inbound),
                ];
                for (mut from, mut to) in pairs {
                    conns2.lock().unwrap().push(from.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Link { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::Relaxed);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.up.store(true, Ordering::Relaxed);
    }
}

/// A 3-node shard whose every node dials every peer through its own proxy, so one node
/// can be cut off in both directions while clients still reach it. Also returns each
/// node's `--cluster-bus-routes` value (a restart must pass it again).
fn proxied_shard(name: &str) -> (Shard, BTreeMap<(usize, usize), Link>, Vec<String>) {
    let ports: Vec<u16> = (0..3).map(|_| shard_port()).collect();
    let mut links: BTreeMap<(usize, usize), Link> = BTreeMap::new();
    let mut routes: Vec<String> = Vec::new();
    for from in 1..=3 {
        let mut r = Vec::new();
        for to in (1..=3).filter(|t| *t != from) {
            let link = Link::new(ports[to - 1] + 10000);
            r.push(format!("{to}=127.0.0.1:{}", link.port));
            links.insert((from, to), link);
        }
        routes.push(r.join(","));
    }
    let peers = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let mut shard = Shard {
        dir: DataDir::new(name),
        ports,
        nodes: (0..3).map(|_| None).collect(),
        extra: FAST_RAFT.iter().map(|s| s.to_string()).collect(),
        peers,
    };
    for id in 1..=3 {
        shard.spawn(id, &["--cluster-bus-routes", &routes[id - 1]]);
    }
    for id in 1..=3 {
        shard.wait_serving(id);
    }
    (shard, links, routes)
}

#[test]
fn a_partitioned_primary_keeps_no_write_and_the_majority_elects() {
    let (shard, links, _) = proxied_shard("partition");
    let old = shard.leader(Duration::from_secs(20));
    let mut primary = shard.client(old);
    let _: () = redis::cmd("SET").arg("before").arg("1").query(&mut primary).unwrap();
    for ((from, to), link) in &links {
        if *from == old || *to == old {
            link.cut();
        }
    }
    // The cut-off primary must not acknowledge anything from now on.
    let cut_write = redis::cmd("SET").arg("during-cut").arg("1").query::<()>(&mut primary);
    assert!(cut_write.is_err(), "the isolated primary acknowledged a write it cannot commit");
    let cut_read = connect(shard.ports[old - 1])
        .and_then(|mut c| redis::cmd("GET").arg("before").query::<Option<String>>(&mut c));
    assert!(
        cut_read.is_err(),
        "the isolated primary served a read it cannot prove current: {cut_read:?}"
    );
    // The majority elects a new primary that takes writes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let found = (1..=3)
            .filter(|id| *id != old)
            .find(|id| role_of(shard.ports[id - 1]).as_deref() == Some("master"));
        if let Some(id) = found {
            let mut c = shard.client(id);
            if redis::cmd("SET").arg("majority").arg("1").query::<()>(&mut c).is_ok() {
                break id;
            }
        }
        assert!(Instant::now() < deadline, "the majority did not elect a primary");
        std::thread::sleep(Duration::from_millis(20));
    };
    for link in links.values() {
        link.heal();
    }
    let leader = shard.leader(Duration::from_secs(30));
    shard.converge(Duration::from_secs(30));
    for id in 1..=3 {
        let mut c = shard.client(id);
        let v: (Option<String>, Option<String>, Option<String>) = redis::cmd("MGET")
            .arg("before")
            .arg("majority")
            .arg("during-cut")
            .query(&mut c)
            .unwrap();
        assert_eq!(v.0.as_deref(), Some("1"), "node {id}");
        assert_eq!(v.1.as_deref(), Some("1"), "node {id}");
        assert_eq!(v.2, None, "node {id}: a write the cut-off primary never committed appeared");
    }
    eprintln!("cut node {old}; node {new} elected; leader after healing: {leader}");
}

#[test]
fn single_register_histories_are_linearizable_across_failovers() {
    // Operations completed before the kill and after the new leader is agreed, each.
    const PHASE_OPS: usize = 30;
    let mut shard = Shard::start(3, FAST_RAFT);
    let ports = shard.ports.clone();
    let origin = Instant::now();
    let history: Arc<Mutex<Vec<Op>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..3usize {
        let (history, stop, ports) = (history.clone(), stop.clone(), ports.clone());
        clients.push(std::thread::spawn(move || {
            let mut node = client;
            let mut con: Option<redis::Connection> = None;
            let mut n = 0;
            // Clients run until told to stop, not for a fixed number of attempts: while
            // there is no leader every attempt fails at once, and a budget of attempts
            // would be spent before the failover ends (leaving nothing after it to check).
            // A client that has to move on waits a little, so it does not spin.
            let move_on = |con: &mut Option<redis::Connection>, node: &mut usize| {
                *con = None;
                *node += 1;
                std::thread::sleep(Duration::from_millis(10));
            };
            while !stop.load(Ordering::Relaxed) {
                if con.is_none() {
                    con = connect(ports[node % 3]).ok();
                    if con.is_none() {
                        move_on(&mut con, &mut node);
                        continue;
                    }
                }
                n += 1;
                let c = con.as_mut().unwrap();
                let write = n % 2 == 0;
                let value = format!("{client}-{n}");
                let invoked = origin.elapsed().as_nanos() as u64;
                let (kind, ok) = if write {
                    match redis::cmd("SET").arg("reg").arg(&value).query::<()>(c) {
                        // A replica refused it: certainly not applied, nothing to record.
                        Err(e) if e.code() == Some("READONLY") => {
                            move_on(&mut con, &mut node);
                            continue;
                        }
                        r => (Kind::Write(value), r.is_ok()),
                    }
                } else {
                    // Reads answered by a replica are allowed to be stale, so only the
                    // primary's answers are checked. Whether this node leads is asked
                    // right before and right after the read, in the same pipeline: a
                    // node asked only afterwards may have been a lagging replica when it
                    // answered and won an election since (a new leader learns that the
                    // old leader's last writes were committed only after it is elected).
                    let mut pipe = redis::pipe();
                    pipe.cmd("ROLE").cmd("GET").arg("reg").cmd("ROLE");
                    type Reply = (Vec<redis::Value>, Option<String>, Vec<redis::Value>);
                    match pipe.query::<Reply>(c) {
                        Ok((before, v, after)) => {
                            let master = |role: &[redis::Value]| match role.first() {
                                Some(redis::Value::BulkString(b)) => b == b"master",
                                _ => false,
                            };
                            if !(master(&before) && master(&after)) {
                                move_on(&mut con, &mut node);
                                continue;
                            }
                            (Kind::Read(v), true)
                        }
                        Err(_) => (Kind::Read(None), false),
                    }
                };
                let completed = ok.then(|| origin.elapsed().as_nanos() as u64);
                history.lock().unwrap().push(Op { client, invoked, completed, kind });
                if !ok {
                    move_on(&mut con, &mut node);
                }
            }
        }));
    }
    // Completed operations invoked at or after `since` (nanoseconds from `origin`).
    let completed_since = |since: u64| {
        history
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.completed.is_some() && o.invoked >= since)
            .count()
    };
    let wait_for = |since: u64, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while completed_since(since) < PHASE_OPS {
            assert!(
                Instant::now() < deadline,
                "only {} operations completed {what}",
                completed_since(since)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(0, "before the failover");
    let leader = shard.leader(Duration::from_secs(20));
    shard.kill9(leader);
    // The survivors elect a new leader before the old one is back: restarted at once, it
    // resumes leading its own term before any follower's election timeout runs out.
    let new_leader = shard.leader(Duration::from_secs(30));
    shard.spawn(leader, &[]);
    wait_for(origin.elapsed().as_nanos() as u64, "after the failover");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let history = history.lock().unwrap().clone();
    let checked = history.iter().filter(|o| o.completed.is_some()).count();
    eprintln!(
        "killed leader {leader}, new leader {new_leader}; {checked} completed operations checked"
    );
    linearizable::check(None, &history).unwrap();
}

#[test]
fn a_replica_too_far_behind_is_sent_a_snapshot_and_a_restart_loads_its_own() {
    let mut extra = FAST_RAFT.to_vec();
    extra.extend(["--raft-snapshot-entries", "500", "--raft-log-keep", "100"]);
    let mut shard = Shard::start(3, &extra);
    let leader = shard.leader(Duration::from_secs(20));
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    shard.kill9(lagging);
    let mut con = shard.client(leader);
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
        pipe.cmd("RPUSH").arg("list").arg(i).ignore();
    }
    pipe.cmd("HSET").arg("h").arg("f").arg("v").ignore();
    let _: () = pipe.query(&mut con).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    shard.spawn(lagging, &[]);
    shard.wait_serving(lagging);
    shard.converge(Duration::from_secs(30));
    let snapshots = |shard: &Shard, id: usize| -> usize {
        std::fs::read_dir(shard.dir.path.join(format!("n{id}/raft/snapshot")))
            .map(|d| {
                d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".snap")).count()
            })
            .unwrap_or(0)
    };
    assert_eq!(snapshots(&shard, lagging), 1, "the lagging replica holds the leader's snapshot");
    let check = |shard: &Shard, id: usize| {
        let mut c = shard.client(id);
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(n, 3002, "node {id}");
        let len: i64 = redis::cmd("LLEN").arg("list").query(&mut c).unwrap();
        assert_eq!(len, 3000, "node {id}");
        let v: String = redis::cmd("GET").arg("key:2999").query(&mut c).unwrap();
        assert_eq!(v, "2999", "node {id}");
    };
    check(&shard, lagging);
    // Restarting every node: each loads its own snapshot and log tail.
    for id in 1..=3 {
        shard.kill9(id);
    }
    for id in 1..=3 {
        shard.spawn(id, &[]);
    }
    for id in 1..=3 {
        shard.wait_serving(id);
    }
    shard.leader(Duration::from_secs(20));
    shard.converge(Duration::from_secs(30));
    for id in 1..=3 {
        check(&shard, id);
    }
}

#[test]
fn manual_failover_moves_leadership_without_losing_writes() {
    let mut extra = FAST_RAFT.to_vec();
    extra.extend(["--cluster-enabled", "yes"]);
    let shard = Shard::start(3, &extra);
    let writers = Writers::start(&shard.ports, 2);
    writers.wait_acks(100, Duration::from_secs(30));
    let old = shard.leader(Duration::from_secs(20));
    let target = (1..=3).find(|id| *id != old).unwrap();
    let mut primary = shard.client(old);
    let err = redis::cmd("CLUSTER").arg("FAILOVER").query::<()>(&mut primary).unwrap_err();
    assert!(err.to_string().contains("send CLUSTER FAILOVER to a replica"), "{err}");
    let mut con = shard.client(target);
    let _: () = redis::cmd("CLUSTER").arg("FAILOVER").query(&mut con).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while role_of(shard.ports[target - 1]).as_deref() != Some("master") {
        assert!(Instant::now() < deadline, "node {target} never took over");
        std::thread::sleep(Duration::from_millis(10));
    }
    writers.wait_acks(100, Duration::from_secs(30));
    let ledgers = writers.stop();
    assert_eq!(shard.leader(Duration::from_secs(20)), target);
    shard.converge(Duration::from_secs(30));
    for id in 1..=3 {
        verify(shard.ports[id - 1], &ledgers);
    }
}

#[test]
fn a_member_is_added_online_and_another_removed() {
    let mut extra = FAST_RAFT.to_vec();
    extra.extend(["--cluster-enabled", "yes"]);
    let mut shard = Shard::start(3, &extra);
    let leader = shard.leader(Duration::from_secs(20));
    let mut primary = shard.client(leader);
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut primary).unwrap();
    // A fourth node knows the shard (its own id is its position in the list) and waits.
    let port = shard_port();
    shard.peers = format!("{},127.0.0.1:{port}", shard.peers);
    shard.ports.push(port);
    shard.nodes.push(None);
    shard.spawn(4, &[]);
    shard.wait_serving(4);
    let met =
        redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(port).query::<()>(&mut primary);
    assert!(met.is_ok(), "{met:?}; node 4 said:\n{}", shard.server(4).output());
    shard.leader(Duration::from_secs(20));
    shard.converge(Duration::from_secs(30));
    let mut fourth = shard.client(4);
    let _: () = redis::cmd("READONLY").query(&mut fourth).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut fourth).unwrap();
    assert_eq!(n, 500);
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut primary).unwrap();
    assert_eq!(nodes.lines().count(), 4, "{nodes}");
    // A write now needs 3 of 4; it reaches the new member too.
    let _: () = redis::cmd("SET").arg("after-join").arg("1").query(&mut primary).unwrap();
    // Remove a replica that is not the leader.
    let gone = (1..=3).find(|id| *id != leader).unwrap();
    let name: String = redis::cmd("CLUSTER").arg("MYID").query(&mut shard.client(gone)).unwrap();
    let _: () = redis::cmd("CLUSTER").arg("FORGET").arg(&name).query(&mut primary).unwrap();
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut primary).unwrap();
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    assert!(!nodes.contains(&name), "{nodes}");
    shard.kill9(gone);
    // The shard of three that is left takes writes and survives losing its leader.
    let _: () = redis::cmd("SET").arg("after-forget").arg("1").query(&mut primary).unwrap();
    shard.kill9(leader);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let took = (1..=4).filter(|id| shard.nodes[id - 1].is_some()).any(|id| {
            connect(shard.ports[id - 1])
                .and_then(|mut c| {
                    redis::cmd("SET").arg("after-failover").arg("1").query::<()>(&mut c)
                })
                .is_ok()
        });
        if took {
            break;
        }
        assert!(Instant::now() < deadline, "the remaining members did not elect a leader");
        std::thread::sleep(Duration::from_millis(20));
    }
    shard.converge(Duration::from_secs(30));
    let mut c = shard.client(4);
    let _: () = redis::cmd("READONLY").query(&mut c).unwrap();
    let v: (Option<String>, Option<String>, Option<String>) = redis::cmd("MGET")
        .arg("after-join")
        .arg("after-forget")
        .arg("after-failover")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, (Some("1".into()), Some("1".into()), Some("1".into())));
}

#[test]
fn json_documents_and_search_indexes_exist_on_every_replica() {
    let shard = Shard::start(3, FAST_RAFT);
    let leader = shard.leader(Duration::from_secs(20));
    let mut primary = shard.client(leader);
    let _: () = redis::cmd("FT.CREATE")
        .arg("idx")
        .arg("ON")
        .arg("JSON")
        .arg("PREFIX")
        .arg(1)
        .arg("doc:")
        .arg("SCHEMA")
        .arg("$.tag")
        .arg("AS")
        .arg("tag")
        .arg("TAG")
        .arg("$.n")
        .arg("AS")
        .arg("n")
        .arg("NUMERIC")
        .query(&mut primary)
        .unwrap();
    for i in 0..50 {
        let doc = format!(r#"{{"tag":"{}","n":{i}}}"#, if i % 2 == 0 { "even" } else { "odd" });
        let _: () = redis::cmd("JSON.SET")
            .arg(format!("doc:{i}"))
            .arg("$")
            .arg(doc)
            .query(&mut primary)
            .unwrap();
    }
    shard.converge(Duration::from_secs(30));
    for id in 1..=3 {
        let mut c = shard.client(id);
        let found: Vec<redis::Value> = redis::cmd("FT.SEARCH")
            .arg("idx")
            .arg("@tag:{even} @n:[10 19]")
            .arg("NOCONTENT")
            .query(&mut c)
            .unwrap();
        assert_eq!(found.first(), Some(&redis::Value::Int(5)), "node {id}: {found:?}");
        let n: String = redis::cmd("JSON.GET").arg("doc:7").arg("$.n").query(&mut c).unwrap();
        assert_eq!(n, "[7]", "node {id}");
    }
}

#[test]
fn a_script_killed_on_the_primary_stops_on_every_replica_and_after_restart() {
    let mut extra = FAST_RAFT.to_vec();
    extra.extend(["--busy-reply-threshold", "100"]);
    let mut shard = Shard::start(3, &extra);
    let leader = shard.leader(Duration::from_secs(20));
    let replica = (1..=3).find(|id| *id != leader).unwrap();
    let mut spinner = shard.client(leader);
    spinner.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let spinning = std::thread::spawn(move || {
        redis::cmd("EVAL").arg("while true do end").arg(0).query::<()>(&mut spinner)
    });
    // The script runs in apply on every node: each one turns -BUSY.
    for id in [leader, replica] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = connect(shard.ports[id - 1])
                .and_then(|mut c| redis::cmd("GET").arg("x").query::<Option<String>>(&mut c));
            if matches!(&r, Err(e) if e.code() == Some("BUSY")) {
                break;
            }
            assert!(Instant::now() < deadline, "node {id} never got busy: {r:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut c = shard.client(replica);
    let err = redis::cmd("SCRIPT").arg("KILL").query::<()>(&mut c).unwrap_err();
    assert!(err.to_string().contains("primary"), "{err}");
    let mut c = shard.client(leader);
    let _: () = redis::cmd("SCRIPT").arg("KILL").query(&mut c).unwrap();
    let killed = spinning.join().unwrap().unwrap_err();
    assert!(killed.to_string().contains("killed"), "{killed}");
    // Replicas stop too, and the shard goes on.
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut c).unwrap();
    shard.converge(Duration::from_secs(30));
    for id in 1..=3 {
        let v: Option<String> =
            redis::cmd("GET").arg("after").query(&mut shard.client(id)).unwrap();
        assert_eq!(v.as_deref(), Some("1"), "node {id}");
    }
    // A restart replays the log without running the killed script again.
    shard.kill9(replica);
    shard.spawn(replica, &[]);
    shard.wait_serving(replica);
    shard.converge(Duration::from_secs(30));
    let v: Option<String> =
        redis::cmd("GET").arg("after").query(&mut shard.client(replica)).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
}

#[test]
fn a_replica_left_alone_reports_its_link_down() {
    let mut shard = Shard::start(3, FAST_RAFT);
    let leader = shard.leader(Duration::from_secs(20));
    let others: Vec<usize> = (1..=3).filter(|id| *id != leader).collect();
    shard.kill9(leader);
    shard.kill9(others[0]);
    let alone = others[1];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = shard.client(alone);
        let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
        if info.contains("master_link_status:down") {
            let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c).unwrap();
            assert_eq!(
                role.get(3),
                Some(&redis::Value::BulkString(b"connect".to_vec())),
                "{role:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "still reports a link to a dead primary:\n{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Once the others are back, it follows a leader again.
    shard.spawn(leader, &[]);
    shard.spawn(others[0], &[]);
    shard.wait_serving(leader);
    shard.wait_serving(others[0]);
    shard.leader(Duration::from_secs(20));
    let mut c = shard.client(alone);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
        if info.contains("master_link_status:up") || info.contains("role:master") {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_learner_serves_reads_but_does_not_vote() {
    let mut shard = Shard::start(3, FAST_RAFT);
    let leader = shard.leader(Duration::from_secs(20));
    let mut primary = shard.client(leader);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut primary).unwrap();
    let port = shard_port();
    shard.peers = format!("{},127.0.0.1:{port}", shard.peers);
    shard.ports.push(port);
    shard.nodes.push(None);
    shard.spawn(4, &["--cluster-learner", "yes"]);
    shard.wait_serving(4);
    let _: () =
        redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(port).query(&mut primary).unwrap();
    shard.converge(Duration::from_secs(30));
    let mut learner = shard.client(4);
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut learner).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let err = redis::cmd("SET").arg("k").arg("x").query::<()>(&mut learner).unwrap_err();
    assert_eq!(err.code(), Some("READONLY"));
    // Two of the three voters gone: the learner and one voter are not a majority.
    let voters: Vec<usize> = (1..=3).filter(|id| *id != leader).collect();
    shard.kill9(leader);
    shard.kill9(voters[0]);
    std::thread::sleep(Duration::from_millis(1500)); // several election timeouts pass
    for id in [voters[1], 4] {
        assert_ne!(
            role_of(shard.ports[id - 1]).as_deref(),
            Some("master"),
            "node {id} was elected without a majority"
        );
        let r = connect(shard.ports[id - 1])
            .and_then(|mut c| redis::cmd("SET").arg("k").arg("y").query::<()>(&mut c));
        assert!(r.is_err(), "node {id} acknowledged a write without a majority");
    }
}

#[test]
fn a_member_that_lost_its_data_directory_is_restored_by_the_shard() {
    let mut shard = Shard::start(3, FAST_RAFT);
    let leader = shard.leader(Duration::from_secs(20));
    let mut primary = shard.client(leader);
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut primary).unwrap();
    shard.kill9(1);
    std::fs::remove_dir_all(shard.dir.path.join("n1")).unwrap();
    shard.spawn(1, &[]);
    shard.wait_serving(1);
    let leader = shard.leader(Duration::from_secs(20));
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut shard.client(leader)).unwrap();
    shard.converge(Duration::from_secs(30));
    let mut c = shard.client(1);
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 301, "node 1 was not restored from the shard");
}

#[test]
fn a_primary_whose_disk_fails_refuses_writes_keeps_reads_and_is_replaced() {
    let shard = Shard::start(3, FAST_RAFT);
    let old = shard.leader(Duration::from_secs(20));
    let mut con = shard.client(old);
    let _: () = redis::cmd("SET").arg("before").arg("1").query(&mut con).unwrap();
    let _: () = redis::cmd("DEBUG").arg("LOG-FAULT").arg("fsync").query(&mut con).unwrap();
    let err = redis::cmd("SET").arg("lost").arg("1").query::<()>(&mut con).unwrap_err();
    assert!(err.to_string().contains("Errors writing to the log"), "{err}");
    // Reads keep working there; writes keep failing, with the reason.
    let v: Option<String> = redis::cmd("GET").arg("before").query(&mut con).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    let err = redis::cmd("SET").arg("x").arg("1").query::<()>(&mut con).unwrap_err();
    assert!(err.to_string().contains("Errors writing to the log"), "{err}");
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains("log_poisoned:1"), "{info}");
    assert_ne!(role_of(shard.ports[old - 1]).as_deref(), Some("master"));
    // The others elect a primary that takes writes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let took = (1..=3).filter(|id| *id != old).find(|id| {
            connect(shard.ports[id - 1])
                .and_then(|mut c| redis::cmd("SET").arg("after").arg("1").query::<()>(&mut c))
                .is_ok()
        });
        if let Some(id) = took {
            break id;
        }
        assert!(Instant::now() < deadline, "no new primary after the old one's disk failed");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut c = shard.client(new);
    // "lost" got an error, so its outcome is unknown: the replicas may have made it
    // durable and committed it though the old primary's own fsync failed.
    let v: Option<String> = redis::cmd("GET").arg("before").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
}

/// Random faults while clients write: SIGKILL and restart, SIGSTOP for longer than an
/// election, and cutting a node off, one at a time, for `ENGRAM_NEMESIS_SECS` (8 by
/// default; set it to hours for a soak). Every acknowledged write must survive.
#[test]
fn nemesis_kills_freezes_and_cuts_nodes_while_clients_write() {
    let secs: u64 =
        std::env::var("ENGRAM_NEMESIS_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let (mut shard, links, routes) = proxied_shard("nemesis");
    shard.leader(Duration::from_secs(20));
    let writers = Writers::start(&shard.ports, 3);
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let end = Instant::now() + Duration::from_secs(secs);
    let mut faults = Vec::new();
    while Instant::now() < end {
        writers.wait_acks(50, Duration::from_secs(60));
        let victim = random(3) as usize + 1;
        // How long the fault lasts (not a synchronisation: the fault is the point).
        let hold = Duration::from_millis(300 + random(900));
        match random(3) {
            0 => {
                shard.kill9(victim);
                std::thread::sleep(hold);
                shard.spawn(victim, &["--cluster-bus-routes", &routes[victim - 1]]);
                shard.wait_serving(victim);
                faults.push(format!("kill {victim}"));
            }
            1 => {
                shard.server(victim).signal("STOP");
                std::thread::sleep(hold);
                shard.server(victim).signal("CONT");
                faults.push(format!("stop {victim} {hold:?}"));
            }
            _ => {
                let cut: Vec<&Link> = links
                    .iter()
                    .filter(|((f, t), _)| *f == victim || *t == victim)
                    .map(|(_, l)| l)
                    .collect();
                cut.iter().for_each(|l| l.cut());
                std::thread::sleep(hold);
                cut.iter().for_each(|l| l.heal());
                faults.push(format!("cut {victim} {hold:?}"));
            }
        }
    }
    let acked = writers.settle_and_verify(&shard, 50, Duration::from_secs(60));
    eprintln!(
        "{} faults ({}); {acked} acknowledged INCR/RPUSH verified on 3 nodes",
        faults.len(),
        faults.join(", ")
    );
}

#[test]
fn large_values_keep_the_raft_log_bounded_in_bytes() {
    let mut extra = FAST_RAFT.to_vec();
    extra.extend(["--snapshot-log-bytes", "4mb"]);
    let shard = Shard::start(3, &extra);
    let leader = shard.leader(Duration::from_secs(20));
    let mut con = shard.client(leader);
    let value = "x".repeat(64 * 1024);
    for i in 0..800 {
        let _: () =
            redis::cmd("SET").arg(format!("big:{}", i % 50)).arg(&value).query(&mut con).unwrap();
    }
    shard.converge(Duration::from_secs(60));
    // 50 MB went through the log; what each node keeps is bounded (the log is purged
    // behind snapshots, and the file rewritten once most of it is dead).
    for id in 1..=3 {
        let wal = shard.dir.path.join(format!("n{id}/raft/raft.wal"));
        let size = std::fs::metadata(&wal).unwrap().len();
        assert!(size < 40 << 20, "node {id}: raft.wal is {size} bytes");
        let n: i64 = redis::cmd("DBSIZE").query(&mut shard.client(id)).unwrap();
        assert_eq!(n, 50, "node {id}");
    }
}

#[test]
fn replicaof_is_a_view_of_the_shard() {
    let shard = Shard::start(3, FAST_RAFT);
    let leader = shard.leader(Duration::from_secs(20));
    let replica = (1..=3).find(|id| *id != leader).unwrap();
    let mut con = shard.client(replica);
    let ok: String = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(shard.ports[leader - 1])
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK Already connected to specified master");
    let err = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(1).query::<()>(&mut con).unwrap_err();
    assert!(err.to_string().contains("CLUSTER MEET"), "{err}");
    // NO ONE promotes this replica, as a handover that keeps every write.
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut shard.client(leader)).unwrap();
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut con).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while role_of(shard.ports[replica - 1]).as_deref() != Some("master") {
        assert!(Instant::now() < deadline, "REPLICAOF NO ONE did not promote node {replica}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(shard.leader(Duration::from_secs(20)), replica);
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
}

/// A leader whose followers stop answering loses its lease, and raft refuses writes
/// before appending them. The client is told TRYAGAIN: READONLY would send it looking for
/// another master when this node still leads. Nothing refused is written, and once the
/// followers answer again writes go through.
#[test]
fn a_leader_without_a_majority_asks_writers_to_try_again() {
    let shard = Shard::start(3, FAST_RAFT);
    let leader = shard.leader(Duration::from_secs(20));
    let followers: Vec<String> =
        (1..=3).filter(|id| *id != leader).map(|id| shard.server(id).pid().to_string()).collect();
    let signal = |signal: &str| {
        for pid in &followers {
            let sent = std::process::Command::new("kill").args([signal, pid]).status();
            assert!(sent.is_ok_and(|s| s.success()), "kill {signal} {pid}");
        }
    };
    let mut con = shard.client(leader);
    signal("-STOP");
    // The lease is the election timeout (300 ms): wait well past it. Nothing observable
    // marks its end, so this is a wait, not a synchronization.
    std::thread::sleep(Duration::from_millis(1000));
    let refused = redis::cmd("SET").arg("refused").arg("x").query::<()>(&mut con);
    let role = redis::cmd("ROLE").query::<Vec<redis::Value>>(&mut con);
    signal("-CONT");
    let err = refused.expect_err("a write without a majority was acknowledged");
    assert_eq!(err.code(), Some("TRYAGAIN"), "{err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");
    assert!(
        matches!(role.as_deref(), Ok([redis::Value::BulkString(r), ..]) if r == b"master"),
        "the refusing node still leads: {role:?}"
    );
    let (_, set) =
        shard.on_leader::<()>(redis::cmd("SET").arg("after").arg("y"), Duration::from_secs(30));
    assert!(set.is_ok(), "{set:?}");
    let (_, got) = shard.on_leader::<(Option<String>, Option<String>)>(
        redis::cmd("MGET").arg("refused").arg("after"),
        Duration::from_secs(30),
    );
    assert_eq!(got.ok(), Some((None, Some("y".to_string()))));
}
