//! A linearizability checker for histories of a single read/write register, for
//! replication tests: record what each client invoked, when, and what it got back, then
//! ask `check` whether some atomic register could have produced exactly that.
//!
//! The search is a depth-first walk over "which operation takes effect next" (Wing & Gong,
//! with Lowe's memoization): a state is the set of operations already linearized plus the
//! register value, and a state that failed once is never explored again. Three facts keep
//! it small on real histories:
//!
//! * Real time bounds the frontier. An operation may go next only if no other pending
//!   operation completed before it was invoked; with sequential clients that is at most
//!   each client's earliest pending operation (plus unknown-outcome writes), so the sets
//!   of linearized operations stay close to per-client prefixes.
//! * A pending read that returns the current value can always go next: moving a read to
//!   the front of any valid continuation keeps it valid (reads change nothing, and being a
//!   candidate means nothing pending must precede it). Such reads are taken without
//!   branching.
//! * A write whose outcome is unknown only matters if a read returns its value, and then
//!   it can be placed immediately before such a read (between it and the next write there
//!   are only reads of its value; if there are none, dropping it changes nothing). So
//!   unknown writes no read observes are dropped up front, and the others are only ever
//!   linearized paired with a read of their value.
//!
//! None of this relies on written values being unique, nor on clients being sequential;
//! those only make the search fast.

use std::collections::{HashMap, HashSet};

/// One operation on one register, as a client saw it. Times are nanoseconds from any common origin.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: usize,
    pub invoked: u64,
    pub completed: Option<u64>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Write(String),
    Read(Option<String>),
}

/// Explored states after which `check` gives up (and says so) rather than run on.
const STATE_LIMIT: usize = 5_000_000;

/// How many of the last linearized operations an explanation lists.
const TAIL: usize = 8;

/// Ok if some total order of the operations respects real time (an op that completed
/// before another was invoked comes first) and register semantics (each read returns the
/// latest preceding write, or None/initial if none). `completed: None` means the outcome
/// is unknown (the client got an error or timeout): such a write may have taken effect at
/// any point after its invocation, or never; such a read is ignored. Err carries a
/// readable explanation (e.g. the smallest prefix/the op that could not be placed).
pub fn check(initial: Option<String>, history: &[Op]) -> Result<(), String> {
    Checker::new(initial.as_deref(), history)?.run()
}

/// An operation as the search sees it: values interned, unknown completion = `u64::MAX`.
#[derive(Debug, Clone, Copy)]
struct Event {
    /// Index in the caller's history, for explanations.
    op: usize,
    invoked: u64,
    completed: u64,
    write: bool,
    value: u32,
}

/// One step of the search. Unknown-outcome writes only appear in `Pair`s.
#[derive(Debug, Clone, Copy)]
enum Move {
    /// A completed operation.
    One(usize),
    /// An unknown-outcome write, immediately followed by a read of its value.
    Pair(usize, usize),
}

struct Frame {
    moves: Vec<Move>,
    /// Moves `..next` have been tried (the latest one is applied while `next > 0`).
    next: usize,
    /// The register value in this frame's state.
    value: u32,
}

/// The deepest state reached, for the explanation.
struct Best {
    linearized: usize,
    path: Vec<Move>,
    value: u32,
    candidates: Vec<usize>,
}

struct Checker<'a> {
    history: &'a [Op],
    /// Interned values; id 0 is "no value" (None).
    names: Vec<Option<&'a str>>,
    initial: u32,
    /// Completed operations sorted by invocation (`..known`), then the unknown-outcome
    /// writes some read observes.
    events: Vec<Event>,
    known: usize,
    /// Unknown-outcome writes (event indices) by value.
    unknown_by_value: HashMap<u32, Vec<usize>>,
}

impl<'a> Checker<'a> {
    fn new(initial: Option<&'a str>, history: &'a [Op]) -> Result<Self, String> {
        let mut names: Vec<Option<&'a str>> = vec![None];
        let mut ids: HashMap<&'a str, u32> = HashMap::new();
        let mut intern = |s: &'a str| -> u32 {
            *ids.entry(s).or_insert_with(|| {
                names.push(Some(s));
                u32::try_from(names.len() - 1).unwrap_or(u32::MAX)
            })
        };
        let initial_id = initial.map_or(0, &mut intern);
        let mut producible = HashSet::from([initial_id]);
        let mut write_ids = Vec::with_capacity(history.len());
        for (i, op) in history.iter().enumerate() {
            if op.completed.is_some_and(|c| c < op.invoked) {
                return Err(format!(
                    "invalid history: {} completed before it was invoked",
                    describe(i, op)
                ));
            }
            let id = match &op.kind {
                Kind::Write(v) => intern(v),
                Kind::Read(_) => 0,
            };
            if matches!(op.kind, Kind::Write(_)) {
                producible.insert(id);
            }
            write_ids.push(id);
        }
        let mut events = Vec::new();
        let mut observed = HashSet::new();
        for (i, op) in history.iter().enumerate() {
            let Some(completed) = op.completed else { continue };
            let (write, value) = match &op.kind {
                Kind::Write(_) => (true, write_ids[i]),
                Kind::Read(v) => {
                    let id = match v.as_deref() {
                        None => 0,
                        Some(s) => ids.get(s).copied().unwrap_or(u32::MAX),
                    };
                    if !producible.contains(&id) {
                        return Err(format!(
                            "not linearizable: {} returns a value that no write produced \
                             (and that is not the initial value {initial:?})",
                            describe(i, op)
                        ));
                    }
                    observed.insert(id);
                    (false, id)
                }
            };
            events.push(Event { op: i, invoked: op.invoked, completed, write, value });
        }
        events.sort_by_key(|e| (e.invoked, e.completed, e.op));
        let known = events.len();
        let mut unknown: Vec<Event> = history
            .iter()
            .enumerate()
            .filter(|(i, op)| {
                op.completed.is_none()
                    && matches!(op.kind, Kind::Write(_))
                    && observed.contains(&write_ids[*i])
            })
            .map(|(i, op)| Event {
                op: i,
                invoked: op.invoked,
                completed: u64::MAX,
                write: true,
                value: write_ids[i],
            })
            .collect();
        unknown.sort_by_key(|e| (e.invoked, e.op));
        events.extend(unknown);
        let mut unknown_by_value: HashMap<u32, Vec<usize>> = HashMap::new();
        for (e, event) in events.iter().enumerate().skip(known) {
            unknown_by_value.entry(event.value).or_default().push(e);
        }
        Ok(Checker { history, names, initial: initial_id, events, known, unknown_by_value })
    }

    /// The completed operations that may be linearized next (each still pending, none
    /// preceded in real time by another pending one), and the earliest completion among
    /// the pending ones: nothing invoked after it can go next.
    fn frontier(&self, done: &[u64]) -> (Vec<usize>, u64) {
        let first = first_zero(done).min(self.known);
        let mut horizon = u64::MAX;
        for (e, event) in self.events[..self.known].iter().enumerate().skip(first) {
            if event.invoked > horizon {
                break;
            }
            if !is_set(done, e) {
                horizon = horizon.min(event.completed);
            }
        }
        let candidates = (first..self.known)
            .take_while(|&e| self.events[e].invoked <= horizon)
            .filter(|&e| !is_set(done, e))
            .collect();
        (candidates, horizon)
    }

    fn moves(&self, done: &[u64], value: u32, candidates: &[usize], horizon: u64) -> Vec<Move> {
        let events = &self.events;
        if let Some(&read) =
            candidates.iter().find(|&&e| !events[e].write && events[e].value == value)
        {
            return vec![Move::One(read)];
        }
        let mut moves = Vec::new();
        for &e in candidates {
            if events[e].write {
                moves.push(Move::One(e));
            } else if let Some(writes) = self.unknown_by_value.get(&events[e].value) {
                for &w in writes {
                    if !is_set(done, w) && events[w].invoked <= horizon {
                        moves.push(Move::Pair(w, e));
                    }
                }
            }
        }
        moves
    }

    fn run(&self) -> Result<(), String> {
        let mut done = vec![0u64; self.events.len().div_ceil(64).max(1)];
        let mut value = self.initial;
        let mut linearized = 0;
        let mut visited: HashSet<(Box<[u64]>, u32)> = HashSet::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut best: Option<Best> = None;
        'state: loop {
            if linearized == self.known {
                return Ok(());
            }
            if visited.insert((done.clone().into_boxed_slice(), value)) {
                if visited.len() > STATE_LIMIT {
                    return Err(format!(
                        "inconclusive: gave up after exploring {STATE_LIMIT} states \
                         ({linearized} of {} completed operations linearized at the time)",
                        self.known
                    ));
                }
                let (candidates, horizon) = self.frontier(&done);
                let moves = self.moves(&done, value, &candidates, horizon);
                if best.as_ref().is_none_or(|b| linearized > b.linearized) {
                    let path = stack.iter().map(|f| f.moves[f.next - 1]).collect();
                    best = Some(Best { linearized, path, value, candidates });
                }
                stack.push(Frame { moves, next: 0, value });
            }
            // Backtrack to the next untried move.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Err(self.explain(best, visited.len()));
                };
                if top.next > 0 {
                    clear(&mut done, top.moves[top.next - 1]);
                    linearized -= 1;
                    value = top.value;
                }
                if let Some(&mv) = top.moves.get(top.next) {
                    top.next += 1;
                    let (Move::One(e) | Move::Pair(e, _)) = mv;
                    if self.events[e].write {
                        value = self.events[e].value;
                    }
                    set(&mut done, mv);
                    linearized += 1;
                    continue 'state;
                }
                stack.pop();
            }
        }
    }

    fn explain(&self, best: Option<Best>, states: usize) -> String {
        let Some(best) = best else { return "not linearizable".to_string() };
        let unknown = self.events.len() - self.known;
        let mut out = format!(
            "not linearizable: at most {} of the {} completed operations can be linearized \
             (initial value {:?}; {unknown} unknown-outcome writes observed by reads; \
             {states} states explored)\n",
            best.linearized,
            self.known,
            self.name(self.initial),
        );
        let steps: Vec<usize> = best
            .path
            .iter()
            .flat_map(|&mv| match mv {
                Move::One(e) => vec![e],
                Move::Pair(w, r) => vec![w, r],
            })
            .collect();
        if steps.is_empty() {
            out.push_str("not even the first operation can be linearized\n");
        } else {
            let skip = steps.len().saturating_sub(TAIL);
            out.push_str(&format!(
                "longest linearizable prefix, last {} steps:\n",
                steps.len() - skip
            ));
            for &e in &steps[skip..] {
                out.push_str(&format!("  {}\n", self.describe_event(e)));
            }
        }
        out.push_str(&format!(
            "after which the register holds {:?} and no candidate can be placed next:\n",
            self.name(best.value)
        ));
        for &e in &best.candidates {
            let event = self.events[e];
            let why = if !event.write && event.value != best.value {
                format!("returns {:?}, not {:?}", self.name(event.value), self.name(best.value))
            } else {
                "every continuation after it fails".to_string()
            };
            out.push_str(&format!("  {}: {why}\n", self.describe_event(e)));
        }
        out
    }

    fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).copied().flatten()
    }

    fn describe_event(&self, e: usize) -> String {
        let op = self.events[e].op;
        describe(op, &self.history[op])
    }
}

fn describe(i: usize, op: &Op) -> String {
    let completed = op.completed.map_or("?".to_string(), |c| c.to_string());
    let kind = match &op.kind {
        Kind::Write(v) => format!("write {v:?}"),
        Kind::Read(v) => format!("read -> {v:?}"),
    };
    format!("op #{i} (client {}, {}..{completed}) {kind}", op.client, op.invoked)
}

fn is_set(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

fn set(bits: &mut [u64], mv: Move) {
    for i in move_bits(mv) {
        bits[i / 64] |= 1 << (i % 64);
    }
}

fn clear(bits: &mut [u64], mv: Move) {
    for i in move_bits(mv) {
        bits[i / 64] &= !(1 << (i % 64));
    }
}

fn move_bits(mv: Move) -> impl Iterator<Item = usize> {
    let (a, b) = match mv {
        Move::One(e) => (e, None),
        Move::Pair(w, r) => (w, Some(r)),
    };
    std::iter::once(a).chain(b)
}

fn first_zero(bits: &[u64]) -> usize {
    bits.iter()
        .position(|&w| w != u64::MAX)
        .map_or(bits.len() * 64, |i| i * 64 + bits[i].trailing_ones() as usize)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, Instant};

    use super::{check, Kind, Op};

    fn w(client: usize, invoked: u64, completed: u64, v: &str) -> Op {
        Op { client, invoked, completed: Some(completed), kind: Kind::Write(v.to_string()) }
    }

    fn w_unknown(client: usize, invoked: u64, v: &str) -> Op {
        Op { client, invoked, completed: None, kind: Kind::Write(v.to_string()) }
    }

    fn r(client: usize, invoked: u64, completed: u64, v: Option<&str>) -> Op {
        Op { client, invoked, completed: Some(completed), kind: Kind::Read(v.map(str::to_string)) }
    }

    fn accept(initial: Option<&str>, history: &[Op]) {
        if let Err(e) = check(initial.map(str::to_string), history) {
            panic!("expected linearizable, got:\n{e}\nhistory: {history:#?}");
        }
    }

    fn reject(initial: Option<&str>, history: &[Op]) -> String {
        match check(initial.map(str::to_string), history) {
            Ok(()) => panic!("expected a violation: {history:#?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_and_sequential_histories_are_accepted() {
        accept(None, &[]);
        accept(Some("x"), &[r(0, 0, 1, Some("x"))]);
        accept(
            None,
            &[
                r(0, 0, 1, None),
                w(0, 2, 3, "a"),
                r(1, 4, 5, Some("a")),
                w(1, 6, 7, "b"),
                r(0, 8, 9, Some("b")),
                r(1, 10, 11, Some("b")),
            ],
        );
    }

    #[test]
    fn concurrent_read_may_see_old_or_new_value() {
        for seen in [Some("old"), Some("new")] {
            accept(Some("old"), &[w(0, 0, 10, "new"), r(1, 2, 8, seen)]);
            // The read may also straddle the write entirely.
            accept(Some("old"), &[w(0, 5, 6, "new"), r(1, 0, 10, seen)]);
        }
        // Touching intervals (completion == invocation) count as concurrent.
        accept(Some("old"), &[w(0, 0, 10, "new"), r(1, 10, 20, Some("old"))]);
    }

    #[test]
    fn stale_read_is_rejected() {
        let e = reject(None, &[w(0, 0, 10, "a"), w(0, 20, 30, "b"), r(1, 40, 50, Some("a"))]);
        assert!(e.contains("op #2"), "explanation should name the read: {e}");
        assert!(e.contains("holds Some(\"b\")"), "{e}");
        // Reading the initial value after a completed write is stale too.
        reject(Some("init"), &[w(0, 0, 10, "a"), r(1, 11, 12, Some("init"))]);
        reject(None, &[w(0, 0, 10, "a"), r(1, 11, 12, None)]);
    }

    #[test]
    fn read_of_a_value_never_written_is_rejected() {
        let e = reject(Some("a"), &[w(0, 0, 10, "b"), r(1, 0, 10, Some("zzz"))]);
        assert!(e.contains("op #1") && e.contains("no write produced"), "{e}");
        // None is not producible once the register started with a value.
        reject(Some("a"), &[r(0, 0, 1, None)]);
        // ...but a read whose outcome is unknown is ignored whatever it says.
        accept(
            Some("a"),
            &[Op { client: 0, invoked: 0, completed: None, kind: Kind::Read(Some("zzz".into())) }],
        );
    }

    #[test]
    fn unknown_outcome_writes_may_or_may_not_take_effect() {
        // Observed later: it took effect.
        accept(None, &[w_unknown(0, 0, "a"), r(1, 100, 110, Some("a"))]);
        // Takes effect long after the client gave up and moved on.
        accept(
            None,
            &[
                w_unknown(0, 0, "a"),
                w(0, 50, 60, "b"),
                r(1, 70, 80, Some("b")),
                r(1, 90, 95, Some("a")),
            ],
        );
        // Never observed: it never happened (or was overwritten).
        accept(None, &[w_unknown(0, 0, "a"), r(1, 100, 110, None), r(1, 120, 130, None)]);
        accept(Some("i"), &[w_unknown(0, 0, "a"), w(1, 1, 2, "b"), r(1, 100, 110, Some("b"))]);
        // It cannot take effect before it was invoked...
        reject(None, &[r(1, 0, 10, Some("a")), w_unknown(0, 20, "a")]);
        // ...nor twice.
        reject(
            None,
            &[
                w_unknown(0, 0, "a"),
                r(1, 10, 20, Some("a")),
                w(1, 30, 40, "b"),
                r(1, 50, 60, Some("a")),
            ],
        );
    }

    #[test]
    fn read_new_then_read_old_is_rejected() {
        // Same client.
        let e = reject(None, &[w(0, 0, 100, "a"), r(1, 10, 20, Some("a")), r(1, 30, 40, None)]);
        assert!(e.contains("op #2"), "{e}");
        // Different clients, in real-time order.
        reject(None, &[w(0, 0, 100, "a"), r(1, 10, 20, Some("a")), r(2, 30, 40, None)]);
        // Concurrent reads may see them in either order.
        accept(None, &[w(0, 0, 100, "a"), r(1, 10, 40, Some("a")), r(2, 20, 30, None)]);
    }

    #[test]
    fn repeated_values_are_handled() {
        // A value written twice may legitimately reappear.
        accept(
            None,
            &[w(0, 0, 1, "a"), r(1, 2, 3, Some("a")), w(0, 4, 5, "b"), r(1, 6, 7, Some("b"))]
                .into_iter()
                .chain([w(0, 8, 9, "a"), r(1, 10, 11, Some("a"))])
                .collect::<Vec<_>>(),
        );
        // Without the second write it may not.
        reject(None, &[w(0, 0, 10, "a"), w(0, 20, 30, "b"), r(1, 40, 50, Some("a"))]);
        // A concurrent rewrite of the old value explains it.
        accept(
            None,
            &[w(0, 0, 10, "a"), w(0, 20, 30, "b"), w(2, 35, 60, "a"), r(1, 40, 50, Some("a"))],
        );
    }

    #[test]
    fn unordered_clients_are_still_correct() {
        // One "client" with overlapping operations: real time alone decides.
        accept(None, &[w(0, 0, 100, "a"), w(0, 10, 20, "b"), r(0, 30, 40, Some("a"))]);
        reject(
            None,
            &[
                w(0, 0, 100, "a"),
                w(0, 10, 20, "b"),
                r(0, 30, 40, Some("a")),
                r(0, 110, 120, Some("b")),
            ],
        );
    }

    /// xorshift64*: enough randomness for histories, and no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform-ish in `lo..=hi`.
        fn range(&mut self, lo: u64, hi: u64) -> u64 {
            lo + self.next() % (hi - lo + 1)
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    /// A history of a correct atomic register: every op that takes effect does so at a
    /// random point inside its interval (unknown-outcome writes: after invocation, maybe
    /// long after, or never), and reads return what that order dictates.
    fn simulate(seed: u64, clients: usize, per_client: usize) -> Vec<Op> {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut ops = Vec::new();
        let mut effects: Vec<(u64, usize)> = Vec::new(); // (linearization point, op)
        for client in 0..clients {
            let mut t = rng.range(0, 50);
            for n in 0..per_client {
                let invoked = t + rng.range(1, 30);
                let duration = rng.range(1, 200);
                let completed = invoked + duration;
                let point = rng.range(invoked, completed);
                let unknown = rng.chance(5);
                let i = ops.len();
                if rng.chance(50) {
                    let kind = Kind::Write(format!("c{client}-{n}"));
                    if !unknown {
                        ops.push(Op { client, invoked, completed: Some(completed), kind });
                        effects.push((point, i));
                    } else {
                        ops.push(Op { client, invoked, completed: None, kind });
                        if rng.chance(50) {
                            effects.push((rng.range(invoked, completed + 1000), i));
                        }
                    }
                } else {
                    let kind = Kind::Read(Some("garbage".to_string()));
                    ops.push(Op {
                        client,
                        invoked,
                        completed: (!unknown).then_some(completed),
                        kind,
                    });
                    if !unknown {
                        effects.push((point, i));
                    }
                }
                // A client that timed out moves on at the timeout.
                t = completed;
            }
        }
        effects.sort_unstable();
        let mut register: Option<String> = None;
        for (_, i) in effects {
            match &mut ops[i].kind {
                Kind::Write(v) => register = Some(v.clone()),
                Kind::Read(v) => *v = register.clone(),
            }
        }
        ops
    }

    /// Makes one completed read return a value that is unambiguously stale: a write W1
    /// of it completed before a write W2 was invoked, and W2 completed before the read
    /// was invoked, so W2 always sits between them. Picks the latest such read, which
    /// makes the search refute everything before it. Returns the read's index.
    fn make_stale(ops: &mut [Op]) -> usize {
        let known_writes: Vec<usize> = (0..ops.len())
            .filter(|&i| matches!(ops[i].kind, Kind::Write(_)) && ops[i].completed.is_some())
            .collect();
        let mut reads: Vec<usize> = (0..ops.len())
            .filter(|&i| matches!(ops[i].kind, Kind::Read(_)) && ops[i].completed.is_some())
            .collect();
        reads.sort_by_key(|&i| std::cmp::Reverse(ops[i].invoked));
        for read in reads {
            let invoked = ops[read].invoked;
            // The latest-invoked write that completed before the read leaves the most room.
            let Some(&w2) = known_writes
                .iter()
                .filter(|&&w| ops[w].completed.unwrap() < invoked)
                .max_by_key(|&&w| ops[w].invoked)
            else {
                continue;
            };
            let w2_invoked = ops[w2].invoked;
            let Some(&w1) = known_writes.iter().find(|&&w| ops[w].completed.unwrap() < w2_invoked)
            else {
                continue;
            };
            let Kind::Write(stale) = ops[w1].kind.clone() else { unreachable!() };
            ops[read].kind = Kind::Read(Some(stale));
            return read;
        }
        panic!("no read can be made unambiguously stale");
    }

    #[test]
    fn random_correct_histories_are_accepted_and_stale_mutations_rejected() {
        const BUDGET: Duration = Duration::from_secs(2);
        let mut slowest = Duration::ZERO;
        for seed in 1..=30 {
            let mut ops = simulate(seed, 5, 60);
            assert_eq!(ops.len(), 300);
            let started = Instant::now();
            if let Err(e) = check(None, &ops) {
                panic!("seed {seed}: a correct register's history was rejected:\n{e}");
            }
            let elapsed = started.elapsed();
            assert!(elapsed < BUDGET, "seed {seed}: accepting took {elapsed:?}");
            slowest = slowest.max(elapsed);

            let read = make_stale(&mut ops);
            let started = Instant::now();
            let Err(e) = check(None, &ops) else {
                panic!("seed {seed}: stale read op #{read} was accepted");
            };
            let elapsed = started.elapsed();
            assert!(elapsed < BUDGET, "seed {seed}: rejecting took {elapsed:?}");
            assert!(e.starts_with("not linearizable"), "seed {seed}: {e}");
            slowest = slowest.max(elapsed);
        }
        eprintln!("slowest check over 30 seeds x 300 ops: {slowest:?}");
    }
}
