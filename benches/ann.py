#!/usr/bin/env python3
"""ANN benchmark of FT.* vector search through the RESP server, side by side (issue 6).

Driven by benches/ann.sh, which starts the servers; run directly against servers that are
already up:

    python benches/ann.py --dataset /work/ann-dev-data/glove-50-dev \\
        --server engram=127.0.0.1:16441 --server reference=127.0.0.1:16440 [--quick]

The dataset is a folder made by ../shared/ann/make_dev_dataset.py (base.npy, queries.npy,
gt_<METRIC>.npy, attrs.json, filters.json, gtf_<name>.npy, meta.json). For each server, one at
a time (the other stays idle), the build:

  1. build: FLUSHALL, FT.CREATE idx ON HASH PREFIX 1 doc: with an HNSW vector field (M 16,
     EF_CONSTRUCTION 200, the dataset's metric) and the TAG / NUMERIC fields of attrs.json,
     then the base vectors with pipelined HSET doc:<i> (batches of --batch), then FT.INFO is
     polled until num_docs == N and percent_indexed == 1. Reports the HSET time, the time
     until fully indexed (the build time), ms per 1k vectors and used_memory growth.
     --order load-first loads the keys first and times FT.CREATE's backfill instead.
then the queries, every row run --repeat times with the servers taking turns (the median QPS is
reported), so that load from others on the shared machine spreads over both sides:

  2. unfiltered KNN at each EF_RUNTIME: recall@10 against gt_<METRIC>.npy[:, :10], QPS with
     one client and with --clients client processes (processes, not threads: one Python
     process cannot drive 8 connections past the GIL).
  3. filtered KNN for each filter of filters.json, `(<expr>)=>[KNN 10 @vec $B EF_RUNTIME
     --filter-ef AS score]`, recall against gtf_<name>.npy; results that do not pass the
     filter are counted (they must be 0). A dataset without TAG fields (glove) also gets a
     bench-made TAG field `grp` (doc i has g<i mod 50>) and filters grp2 (2%), grp10 (10%) and
     rank2 (about 2% on NUMERIC) whose ground truth is computed here, exactly, with numpy.

Queries are pre-encoded RESP (NOCONTENT, LIMIT 0 10, DIALECT 2) so the client spends as little
CPU as possible; QPS is still client-bound in part, since the client and both servers share
the machine's cores. Each timed run lasts at least --seconds and covers every query once.
--quick: the first 200 queries, EF_RUNTIME 20 50 100, 1 s runs, 2 turns (a few minutes).

Prints one table (engram, reference and the ratio engram/reference per row) and writes the
results as JSON (--json, default /tmp/engram-ann-<dataset>-<time>.json). With --append FILE,
the build rows of the given servers are added to an earlier result (ann.sh uses this for the
build with engram's default durability) and the table is printed again.

Needs numpy and redis (hiredis optional); ann.sh runs it in a venv that has them.
"""
import argparse
import json
import multiprocessing as mp
import os
import re
import sys
import time

import numpy as np
import redis

K = 10
PREFIX = "doc:"
INDEX = "idx"
VEC = "vec"
EF_FULL = [10, 20, 50, 100, 200]
EF_QUICK = [20, 50, 100]
SYNTH_TAG = "grp"
SYNTH_GROUPS = 50


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ dataset
class Dataset:
    def __init__(self, path, metric, n_queries, extra_filters):
        self.path = path
        self.meta = json.load(open(os.path.join(path, "meta.json")))
        self.name = self.meta.get("name", os.path.basename(path.rstrip("/")))
        self.metric = metric or self.meta.get("default_metric", "COSINE")
        self.base = np.load(os.path.join(path, "base.npy"))
        self.queries = np.load(os.path.join(path, "queries.npy"))
        self.gt = np.load(os.path.join(path, f"gt_{self.metric}.npy"))[:, :K]
        attrs = json.load(open(os.path.join(path, "attrs.json")))
        self.tags = {f: [str(v) for v in vals] for f, vals in attrs.get("tags", {}).items()}
        self.numeric = {f: np.asarray(v, dtype=np.float64) for f, v in attrs.get("numeric", {}).items()}
        self.filters = []
        for f in json.load(open(os.path.join(path, "filters.json"))):
            gt = np.load(os.path.join(path, f"gtf_{f['name']}.npy"))[:, :K]
            self.filters.append(dict(f, gt=gt, origin="dataset"))
        if extra_filters and not self.tags:
            self.add_synthetic_filters()
        # a subset for --quick: the first n queries (the dataset's queries are already random)
        if n_queries and n_queries < len(self.queries):
            self.queries = self.queries[:n_queries]
            self.gt = self.gt[:n_queries]
            for f in self.filters:
                f["gt"] = f["gt"][:n_queries]
        for f in self.filters:
            f["mask"] = self.mask(f["expr"])
            f.setdefault("selectivity", round(float(f["mask"].mean()), 5))

    @property
    def n(self):
        return len(self.base)

    @property
    def dim(self):
        return self.base.shape[1]

    def add_synthetic_filters(self):
        """TAG filters (and a ~2% NUMERIC one) for datasets that only come with a 10% NUMERIC one."""
        self.tags[SYNTH_TAG] = [f"g{i % SYNTH_GROUPS}" for i in range(self.n)]
        made = [("grp2", f"@{SYNTH_TAG}:{{g7}}"),
                ("grp10", f"@{SYNTH_TAG}:{{g1 | g2 | g3 | g4 | g5}}")]
        if "rank" in self.numeric:
            cut = int(np.percentile(self.numeric["rank"], 2))
            made.append(("rank2", f"@rank:[0 {cut}]"))
        for name, expr in made:
            mask = self.mask(expr)
            self.filters.append(dict(name=name, expr=expr, metric=self.metric,
                                     gt=exact_topk(self.base, self.queries, self.metric, mask),
                                     origin="bench"))

    def mask(self, expr):
        """Evaluates the filter expressions these datasets use: `@tag:{a | b}` and `@num:[lo hi]`
        clauses joined by spaces (AND)."""
        m = np.ones(self.n, dtype=bool)
        rest = expr
        for field, vals in re.findall(r"@(\w+):\{([^}]*)\}", expr):
            wanted = {v.strip() for v in vals.split("|")}
            m &= np.isin(np.asarray(self.tags[field]), list(wanted))
        rest = re.sub(r"@(\w+):\{([^}]*)\}", "", rest)
        for field, lo, hi in re.findall(r"@(\w+):\[\s*(\S+)\s+(\S+)\s*\]", rest):
            v = self.numeric[field]
            m &= (v >= float(lo)) & (v <= float(hi))
        rest = re.sub(r"@(\w+):\[[^\]]*\]", "", rest)
        if rest.strip():
            raise SystemExit(f"filter expression not understood by the bench: {expr!r}")
        return m


def exact_topk(base, queries, metric, mask):
    """Exact top-K ids among the docs passing mask (float64, ties by id)."""
    ids = np.flatnonzero(mask)
    b = base[ids].astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "COSINE":
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
        d = 1.0 - q @ b.T
    elif metric == "IP":
        d = 1.0 - q @ b.T
    else:
        d = (q * q).sum(1)[:, None] - 2.0 * q @ b.T + (b * b).sum(1)[None, :]
    out = np.empty((len(q), K), np.int64)
    for r in range(len(q)):
        out[r] = ids[np.lexsort((ids, d[r]))[:K]]
    return out


# ------------------------------------------------------------------ server access
def connect(addr, timeout):
    host, port = addr.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), protocol=2, socket_timeout=timeout)


def raw_connection(addr, timeout):
    host, port = addr.rsplit(":", 1)
    conn = redis.Connection(host=host, port=int(port), protocol=2, socket_timeout=timeout)
    conn.connect()
    return conn


def ft_info(r):
    reply = r.execute_command("FT.INFO", INDEX)
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in zip(reply[::2], reply[1::2])}


def as_float(v):
    return float(v.decode() if isinstance(v, bytes) else v)


def used_memory(r):
    return int(r.info("memory")["used_memory"])


def create_index(r, ds):
    fields = [VEC, "VECTOR", "HNSW", "10", "TYPE", "FLOAT32", "DIM", str(ds.dim),
              "DISTANCE_METRIC", ds.metric, "M", "16", "EF_CONSTRUCTION", "200"]
    for f in ds.tags:
        fields += [f, "TAG"]
    for f in ds.numeric:
        fields += [f, "NUMERIC"]
    r.execute_command("FT.CREATE", INDEX, "ON", "HASH", "PREFIX", "1", PREFIX, "SCHEMA", *fields)


def load_docs(r, ds, batch):
    pipe = r.pipeline(transaction=False)
    tag_items = list(ds.tags.items())
    num_items = list(ds.numeric.items())
    for s in range(0, ds.n, batch):
        for i in range(s, min(s + batch, ds.n)):
            mapping = {VEC: ds.base[i].astype("<f4").tobytes()}
            for f, vals in tag_items:
                mapping[f] = vals[i]
            for f, vals in num_items:
                v = vals[i]
                mapping[f] = str(int(v)) if float(v).is_integer() else repr(float(v))
            pipe.hset(f"{PREFIX}{i}", mapping=mapping)
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception):
                raise RuntimeError(f"HSET failed: {reply}")


def wait_indexed(r, n, timeout):
    t0 = time.time()
    info = {}
    while time.time() - t0 < timeout:
        info = ft_info(r)
        if int(as_float(info.get("num_docs", 0))) == n and as_float(info.get("percent_indexed", 0)) >= 1.0:
            return info
        time.sleep(0.05)
    raise RuntimeError(f"not indexed after {timeout}s: num_docs {info.get('num_docs')} "
                       f"percent_indexed {info.get('percent_indexed')} (want {n})")


def build(addr, ds, args):
    r = connect(addr, args.timeout)
    r.execute_command("FLUSHALL")
    try:
        r.execute_command("FT.DROPINDEX", INDEX)
    except redis.ResponseError:
        pass
    mem0 = used_memory(r)
    t0 = time.time()
    if args.order == "create-first":
        create_index(r, ds)
        load_docs(r, ds, args.batch)
        t_load = time.time() - t0
    else:
        load_docs(r, ds, args.batch)
        t_load = time.time() - t0
        create_index(r, ds)
    info = wait_indexed(r, ds.n, args.index_timeout)
    t_total = time.time() - t0
    mem1 = used_memory(r)
    failures = int(as_float(info.get("hash_indexing_failures", 0)))
    res = dict(load_s=round(t_load, 3), build_s=round(t_total, 3),
               ms_per_1k=round(1000 * t_total / ds.n * 1000, 1),
               mem_bytes_per_doc=round((mem1 - mem0) / ds.n, 1), indexing_failures=failures,
               order=args.order)
    log(f"  {addr}: HSET {t_load:.2f}s, indexed {t_total:.2f}s "
        f"({res['ms_per_1k']} ms/1k), {res['mem_bytes_per_doc']} B/doc, failures {failures}")
    return res


# ------------------------------------------------------------------ queries
def knn_commands(ds, ef, expr):
    prefix = f"({expr})" if expr else "*"
    q = f"{prefix}=>[KNN {K} @{VEC} $B EF_RUNTIME {ef} AS score]"
    packer = redis.Connection()
    return [packer.pack_command("FT.SEARCH", INDEX, q, "PARAMS", "2", "B",
                                ds.queries[i].astype("<f4").tobytes(), "NOCONTENT",
                                "LIMIT", "0", str(K), "DIALECT", "2")
            for i in range(len(ds.queries))]


def ids_of(reply):
    """FT.SEARCH ... NOCONTENT in RESP2: [total, key, key, ...]."""
    out = []
    for key in reply[1:]:
        k = key.decode() if isinstance(key, bytes) else str(key)
        out.append(int(k[len(PREFIX):]) if k.startswith(PREFIX) else -1)
    return out


def run_queries(conn, commands, order, min_seconds):
    """Runs commands[order] in a loop for at least min_seconds and once through at least;
    returns (count, elapsed, ids of the first pass by command index)."""
    results = {}
    count = 0
    t0 = time.perf_counter()
    while True:
        for i in order:
            conn.send_packed_command(commands[i], check_health=False)
            reply = conn.read_response()
            if i not in results:
                results[i] = reply
            count += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return count, elapsed, results


# Set before forking the client processes, which inherit it (no pickling of the commands).
_SHARED = {}


def _client_worker(args):
    wid, nworkers, addr, timeout, min_seconds, start_at = args
    commands = _SHARED["commands"]
    conn = raw_connection(addr, timeout)
    order = list(range(wid, len(commands), nworkers)) or [0]
    # warm the connection, then start together
    conn.send_packed_command(commands[order[0]])
    conn.read_response()
    while time.time() < start_at:
        time.sleep(0.001)
    count, elapsed, _ = run_queries(conn, commands, order, min_seconds)
    conn.disconnect()
    return count, elapsed


def measure(addr, commands, gt, clients, args, mask=None):
    """Recall@K from a one-client pass, QPS with one client and with `clients` processes."""
    conn = raw_connection(addr, args.timeout)
    for c in commands[: min(20, len(commands))]:  # warm-up
        conn.send_packed_command(c)
        conn.read_response()
    count, elapsed, replies = run_queries(conn, commands, range(len(commands)), args.seconds)
    conn.disconnect()
    hits = 0
    violations = 0
    short = 0
    for i, reply in replies.items():
        ids = ids_of(reply)
        hits += len(set(ids[:K]) & set(gt[i].tolist()))
        short += len(ids) < K
        if mask is not None:
            violations += sum(1 for d in ids if d < 0 or d >= len(mask) or not mask[d])
    row = dict(recall=round(hits / (K * len(replies)), 4), qps1=round(count / elapsed, 1),
               short_replies=short)
    if mask is not None:
        row["filter_violations"] = violations
    if clients > 1:
        _SHARED["commands"] = commands
        start_at = time.time() + 0.3
        ctx = mp.get_context("fork")
        with ctx.Pool(clients) as pool:
            parts = pool.map(_client_worker, [(w, clients, addr, args.timeout, args.seconds, start_at)
                                              for w in range(clients)])
        row[f"qps{clients}"] = round(sum(c / e for c, e in parts), 1)
    return row


def median_row(rows):
    """Recall and counts from the first run, each QPS the median over the runs (the upper
    one of two)."""
    row = dict(rows[0])
    for k in list(row):
        if k.startswith("qps"):
            vals = sorted(r[k] for r in rows)
            row[k] = vals[len(vals) // 2]
            row[k + "_runs"] = [r[k] for r in rows]
    return row


def bench_queries(servers, ds, args, result, save):
    """Every row on every server, the servers taking turns run by run, so that load from
    others on the machine spreads over both sides instead of skewing one."""
    rows = [("knn", str(ef), knn_commands(ds, ef, None), ds.gt, None) for ef in args.ef]
    rows += [("filtered", f["name"], knn_commands(ds, args.filter_ef, f["expr"]), f["gt"], f["mask"])
             for f in ds.filters]
    for kind, key, commands, gt, mask in rows:
        runs = {name: [] for name in servers}
        for _ in range(args.repeat):
            for name, addr in servers.items():
                res = result["results"][name]
                if "error" in res:
                    continue
                try:
                    runs[name].append(measure(addr, commands, gt, args.clients, args, mask))
                except Exception as e:  # keep measuring the other server; report this one
                    res["error"] = f"{kind} {key}: {type(e).__name__}: {e}"
                    log(f"  {name} FAILED: {res['error']}")
        for name, rs in runs.items():
            if rs:
                row = median_row(rs)
                result["results"][name][kind][key] = row
                log(f"  {name} {kind} {key}: {row}")
        save()


def server_meta(addr, args):
    try:
        r = connect(addr, args.timeout)
        info = r.info("server")
        mods = r.execute_command("MODULE", "LIST")
        search = [dict(zip(m[::2], m[1::2])) for m in mods]
        search = [f"{m[b'name'].decode()} {m[b'ver']}" for m in search if m.get(b"name") == b"search"]
        return dict(version=info.get("redis_version"), search_module=search[0] if search else None)
    except Exception as e:  # metadata only: a missing MODULE LIST must not stop the run
        return dict(error=str(e))


# ------------------------------------------------------------------ report
def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b is None or not b else a / b


def best_at_recall(res, clients_key, target):
    """Highest QPS among the EF values whose recall@10 reaches target: (qps, ef)."""
    ok = [(row.get(clients_key), ef) for ef, row in res["knn"].items()
          if row.get("recall", 0) >= target and row.get(clients_key)]
    return max(ok) if ok else (None, None)


def print_table(result):
    servers = list(result["servers"])
    e, ref = (servers + [None, None])[:2]
    res = result["results"]
    clients = result["config"]["clients"]
    qn = f"qps{clients}"
    print()
    print(f"== ANN {result['dataset']['name']}: {result['dataset']['n']} x {result['dataset']['dim']} "
          f"{result['dataset']['metric']}, {result['dataset']['queries']} queries, K {K} ==")
    print(f"columns: {e} / {ref} / ratio {e}/{ref}")
    print()
    print(f"{'build':<28} {'HSET s':>21} {'indexed s':>21} {'ms/1k':>13} {'B/doc':>15}")
    for name in sorted({k for s in res.values() for k in s.get("build_extra", {})} | {"build"}):
        rows = [res[s]["build"] if name == "build" else res[s].get("build_extra", {}).get(name)
                for s in (e, ref)]
        if rows[0] is None and rows[1] is None:
            continue
        get = lambda i, k: rows[i][k] if rows[i] else None
        cells = []
        for k, spec in (("load_s", ".2f"), ("build_s", ".2f")):
            a, b = get(0, k), get(1, k)
            cells.append(f"{fmt(a, spec):>7} {fmt(b, spec):>7} {fmt(ratio(a, b), '.2f'):>5}")
        cells.append(f"{fmt(get(0, 'ms_per_1k'), '.0f'):>6} {fmt(get(1, 'ms_per_1k'), '.0f'):>6}")
        cells.append(f"{fmt(get(0, 'mem_bytes_per_doc'), '.0f'):>7} {fmt(get(1, 'mem_bytes_per_doc'), '.0f'):>7}")
        label = "build" if name == "build" else f"build ({name})"
        print(f"{label:<28} " + " ".join(cells))
    print()
    print(f"{'query':<28} {'recall@10':>15} {'QPS 1 client':>27} {f'QPS {clients} clients':>27}")

    def line(label, a, b):
        cells = [f"{fmt(a and a.get('recall'), '.3f'):>7} {fmt(b and b.get('recall'), '.3f'):>7}"]
        for k in ("qps1", qn):
            x, y = a and a.get(k), b and b.get(k)
            cells.append(f"{fmt(x, '.0f'):>9} {fmt(y, '.0f'):>9} {fmt(ratio(x, y), '.2f'):>7}")
        notes = []
        for s, row in ((e, a), (ref, b)):
            if row and row.get("filter_violations"):
                notes.append(f"{s}: {row['filter_violations']} results fail the filter")
            if row and row.get("short_replies"):
                notes.append(f"{s}: {row['short_replies']} replies < {K}")
            if row and row.get("error"):
                notes.append(f"{s}: {row['error']}")
        print(f"{label:<28} " + " ".join(cells) + ("  ! " + "; ".join(notes) if notes else ""))

    for ef in result["config"]["ef"]:
        line(f"KNN EF_RUNTIME {ef}", res.get(e, {}).get("knn", {}).get(str(ef)),
             res.get(ref, {}).get("knn", {}).get(str(ef)))
    for f in result["filters"]:
        line(f"{f['name']} {f['selectivity']:.1%} ef {result['config']['filter_ef']}",
             res.get(e, {}).get("filtered", {}).get(f["name"]),
             res.get(ref, {}).get("filtered", {}).get(f["name"]))
    print()
    for target in (0.95, 0.9):
        for key, label in (("qps1", "1 client"), (qn, f"{clients} clients")):
            (qa, ea), (qb, eb) = best_at_recall(res[e], key, target), best_at_recall(res[ref], key, target)
            print(f"best QPS at recall@10 >= {target} ({label}): {e} {fmt(qa, '.0f')} (ef {ea}), "
                  f"{ref} {fmt(qb, '.0f')} (ef {eb}), ratio {fmt(ratio(qa, qb), '.2f')}")
    print()
    for f in result["filters"]:
        print(f"filter {f['name']}: {f['expr']}  ({f['selectivity']:.2%}, {f['origin']})")
    for s in servers:
        print(f"{s}: {result['server_meta'].get(s)}")
    c = result["config"]
    print(f"HNSW M 16 EF_CONSTRUCTION 200; HSET batches of {c['batch']}, order {c['order']}; "
          f"each QPS run >= {c['seconds']} s, median of {c.get('repeat', 1)} runs; clients are processes on the same "
          f"{os.cpu_count()}-core machine as the servers")


# ------------------------------------------------------------------ main
def parse_servers(items):
    out = {}
    for s in items:
        name, addr = s.split("=", 1)
        out[name] = addr if ":" in addr else f"127.0.0.1:{addr}"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--server", action="append", required=True, help="NAME=HOST:PORT, in table order")
    ap.add_argument("--metric", choices=["COSINE", "IP", "L2"], help="default: the dataset's")
    ap.add_argument("--quick", action="store_true", help=f"200 queries, EF {EF_QUICK}, 1 s runs")
    ap.add_argument("--queries", type=int, help="use the first N queries")
    ap.add_argument("--ef", help="comma-separated EF_RUNTIME values")
    ap.add_argument("--filter-ef", type=int, default=100)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, help="minimum length of each QPS run [5, quick 1]")
    ap.add_argument("--repeat", type=int, help="runs per (row, server), servers taking turns; "
                    "the median QPS is reported [3, quick 2]")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--order", choices=["create-first", "load-first"], default="create-first")
    ap.add_argument("--no-extra-filters", action="store_true",
                    help="only the dataset's filters (no bench-made TAG / 2%% filters)")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--no-table", action="store_true", help="only the JSON (ann.sh prints the "
                    "table after --append)")
    ap.add_argument("--append", help="add these servers' build rows, as build_extra LABEL, to this JSON")
    ap.add_argument("--label", default="durability local", help="build_extra label for --append")
    ap.add_argument("--timeout", type=float, default=60.0, help="socket timeout per reply (s)")
    ap.add_argument("--index-timeout", type=float, default=1800.0)
    ap.add_argument("--json", help="where to write the results")
    a = ap.parse_args()
    a.ef = [int(x) for x in a.ef.split(",")] if a.ef else (EF_QUICK if a.quick else EF_FULL)
    a.repeat = a.repeat or (2 if a.quick else 3)
    a.seconds = a.seconds if a.seconds is not None else (1.0 if a.quick else 5.0)
    nq = a.queries or (200 if a.quick else None)
    servers = parse_servers(a.server)

    ds = Dataset(a.dataset, a.metric, nq, not a.no_extra_filters)
    log(f"dataset {ds.name}: {ds.n} x {ds.dim} {ds.metric}, {len(ds.queries)} queries, "
        f"filters {[f['name'] for f in ds.filters]}")

    if a.append:
        result = json.load(open(a.append))
        for name, addr in servers.items():
            log(f"== build only: {name} ({addr}), {a.label} ==")
            b = build(addr, ds, a)
            result["results"].setdefault(name, {}).setdefault("build_extra", {})[a.label] = b
        json.dump(result, open(a.append, "w"), indent=1)
        print_table(result)
        print(f"results: {a.append}")
        return

    result = dict(dataset=dict(name=ds.name, path=ds.path, n=ds.n, dim=ds.dim, metric=ds.metric,
                               queries=len(ds.queries)),
                  config=dict(ef=a.ef, filter_ef=a.filter_ef, clients=a.clients, seconds=a.seconds,
                              repeat=a.repeat,
                              batch=a.batch, order=a.order, quick=a.quick),
                  filters=[dict(name=f["name"], expr=f["expr"], selectivity=f["selectivity"],
                                origin=f["origin"]) for f in ds.filters],
                  servers=servers, server_meta={n: server_meta(s, a) for n, s in servers.items()},
                  results={}, started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    path = a.json or f"/tmp/engram-ann-{ds.name}-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def save():
        json.dump(result, open(path, "w"), indent=1)

    for name, addr in servers.items():
        log(f"== build {name} ({addr}) ==")
        result["results"][name] = {"build": None, "knn": {}, "filtered": {}}
        try:
            result["results"][name]["build"] = build(addr, ds, a)
        except Exception as e:  # report the failing server and go on with the other one
            log(f"  {name} FAILED: {type(e).__name__}: {e}")
            result["results"][name]["error"] = f"build: {type(e).__name__}: {e}"
        save()
    if not a.build_only:
        bench_queries(servers, ds, a, result, save)
    failed = {n: r["error"] for n, r in result["results"].items() if "error" in r}
    if len(servers) >= 2 and not a.no_table:
        print_table(result)
    for n, err in failed.items():
        print(f"!! {n} failed: {err}")
    print(f"results: {path}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
