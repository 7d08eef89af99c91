#!/usr/bin/env python3
"""Ray's core microbenchmarks, measured against a real Ray, for a side-by-side
comparison with SwiftRay. Run it through tools/ray-bench/run-ray.sh, which
installs Ray (ray==2.60.0 by default) in a venv outside the repo.

What is measured mirrors `ray microbenchmark`, i.e.
python/ray/_private/ray_perf.py in ray-project/ray (Ray 2.x), with its timing
helper python/ray/_private/ray_microbenchmark_helpers.py::timeit: the workload
functions are the same; timeit runs the function for a warm-up period, sets a
step of (warm-up calls // 10 + 1), then runs 4 rounds, each calling the
function `step` times at a go until the round's time is up, and reports the
mean over the rounds of multiplier * calls / seconds. Ray's helper sleeps 10 s
before each figure and uses a 1 s warm-up and 2 s rounds; here the defaults are
shorter so that each figure takes a few seconds (see TIMINGS below;
`--ray-timing` restores Ray's exact 10 s / 1 s / 4 x 2 s).

The cluster is a fresh local one from ray.init() with default settings
(num_cpus = the cores Ray detects, which is checked against os.cpu_count()),
except that its node address is 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0)
so that Ray's traffic stays on loopback, usage-stats reporting is off, and
HTTP to anywhere but loopback is sent to a closed loopback port (Ray's
dashboard otherwise probes cloud metadata addresses at startup).

Figures (stdout, one line each: name<TAB>value<TAB>unit):
  memcpy_gigabytes                  numpy copy (np.copyto) of 1 GiB between two
                                    pre-touched arrays: the memory-bandwidth
                                    ceiling for put; GB as in ray_perf (below)
  cluster_start_seconds             wall time of ray.init() on a fresh cluster
  cluster_rss_mib                   sum of RSS of the driver and every process
                                    of the cluster (GCS, raylet, workers,
                                    helpers: the driver's descendants plus any
                                    process naming this session's directory),
                                    after init and a ~1 s task warm-up; the
                                    per-process list goes to stderr
  single_client_get_calls           ray.get of a small object put once
                                    (ray_perf "single client get calls (Plasma Store)")
  single_client_put_calls           ray.put(0)  ("single client put calls (Plasma Store)")
  single_client_put_gigabytes       ray.put of np.zeros(100*1024*1024, int64),
                                    counted as 0.8 GB per put exactly as
                                    ray_perf does (multiplier 8 * 0.1), so
                                    1 "GB" here = 1000 MiB = 1,048,576,000 B;
                                    memcpy_gigabytes uses the same unit
  single_client_tasks_and_get_batch submit 1000 trivial tasks then ray.get the
                                    list; unit is batches/s (multiplier 1, as
                                    ray_perf)
  single_client_wait_1k_refs        submit 1000 trivial tasks, then ray.wait
                                    the not-ready list one ref at a time until
                                    none is left (fetch_local only on the first
                                    wait, as ray_perf); unit is such rounds/s
                                    (multiplier 1, as ray_perf), i.e. 1000
                                    waits per round
  single_client_tasks_sync          ray.get(f.remote()) in a loop, tasks/s
  single_client_tasks_async         ray.get([f.remote() for 1000]), tasks/s
  actor_calls_sync                  ray_perf's 1:1 actor calls sync: ray.get of
                                    one call of an actor (num_cpus=0) at a time
  actor_calls_async                 ray_perf's 1:1 actor calls async: 1000 calls
                                    submitted, then ray.get of the list; calls/s
  actor_calls_concurrent            ray_perf's 1:1 actor calls concurrent: the
                                    same with max_concurrency=16
  actor_calls_1_n                   ray_perf's 1:n actor calls async: a Client
                                    actor calls each of n_cpu actors 5000 times
                                    (n_cpu = cpu_count // 2, at least 1)
  actor_calls_n_n_with_arg          ray_perf's n:n actor calls with arg async:
                                    n_cpu clients, each calling its actor 1000
                                    times with a put reference as argument
  actor_calls_n_n                   ray_perf's n:n actor calls async: 4 tasks,
                                    each making 5000 calls over n_cpu actors
  actors_created                    not in ray_perf: 10 actors created, each
                                    called once, then killed; actors/s
  placement_group_create_removal    ray_perf's placement group create/removal:
                                    100 groups of one {custom: 0.001} bundle
                                    created, each waited for, then removed
  nested_tasks_async                not in ray_perf: 10 parents, each submitting
                                    100 trivial tasks from its body and getting
                                    them; tasks/s counts the 1000 children
  multi_client_tasks_async          4 actors (num_cpus=0), each submitting n
                                    trivial tasks from inside the actor and
                                    getting them, the driver getting all 4;
                                    tasks/s = 4 * n per call. ray_perf uses
                                    n = 10000; here n = 1000 by default (on 2
                                    cores one call of 4 x 10000 tasks takes
                                    ~16 s, more than a whole figure may), 250
                                    with --quick, 10000 with --ray-timing
  task_roundtrip_median_us          median and 99th percentile (nearest rank)
  task_roundtrip_p99_us             of 2000 (--quick: 1000) sequential
                                    ray.get(f.remote()) each timed alone with
                                    perf_counter_ns, after 200 warm-up calls
  chain_1000_seconds                1000 dependent tasks, each taking the
                                    previous task's ObjectRef as its argument
                                    (the first takes 0, each returns x + 1):
                                    time from the first submit to ray.get of
                                    the last returning (checked == 1000);
                                    median of 3 runs (--quick: 1) after a
                                    10-task warm-up chain

Options: --quick (every measurement shortened), --only NAME[,NAME...] (run just
these figures; ray.init is always timed), --ray-timing (Ray's own timeit
timings and sizes; slow). Progress and Ray's logging go to stderr.
"""

import argparse
import math
import multiprocessing
import os
import statistics
import sys
import time

# No usage report to the outside, and every Ray process on 127.0.0.1: on Linux
# Ray otherwise uses the address of the default route's interface for its node
# (even when ray.init is given _node_ip_address="127.0.0.1"); this switch only
# changes services.get_node_ip_address() (Ray 2.60).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Ray's dashboard probes cloud metadata services over HTTP at startup even with
# usage stats off (usage_lib.get_cluster_config_to_report: 169.254.169.254 and
# metadata.google.internal). Send any such HTTP request (requests honours these
# variables) to a closed port on loopback instead; loopback itself is exempt,
# so Ray's own HTTP and gRPC between its processes are untouched.
for _var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
    os.environ[_var] = "http://127.0.0.1:9"
for _var in ("no_proxy", "NO_PROXY"):
    os.environ[_var] = "localhost,127.0.0.1,127.0.0.0/8,::1"

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import ray  # noqa: E402

# (settle sleep before each figure, warm-up seconds, rounds, seconds per round)
TIMINGS = {
    "ray": (10.0, 1.0, 4, 2.0),  # ray_microbenchmark_helpers.timeit
    "default": (0.5, 1.0, 4, 0.75),
    "quick": (0.0, 0.2, 2, 0.3),
}

RAY_GB = 1000 * 1024 * 1024  # ray_perf counts 100 Mi int64 (800 MiB) as 0.8 GB
GIB = 1024 ** 3

FIGURES = [
    "memcpy_gigabytes",
    "cluster_start_seconds",
    "cluster_rss_mib",
    "single_client_get_calls",
    "single_client_put_calls",
    "single_client_put_gigabytes",
    "single_client_tasks_and_get_batch",
    "single_client_wait_1k_refs",
    "single_client_tasks_sync",
    "single_client_tasks_async",
    "actor_calls_sync",
    "actor_calls_async",
    "actor_calls_concurrent",
    "actor_calls_1_n",
    "actor_calls_n_n_with_arg",
    "actor_calls_n_n",
    "actors_created",
    "placement_group_create_removal",
    "nested_tasks_async",
    "multi_client_tasks_async",
    "task_roundtrip_median_us",
    "task_roundtrip_p99_us",
    "chain_1000_seconds",
]


def progress(*args):
    print("ray-bench:", *args, file=sys.stderr, flush=True)


def fmt(v):
    a = abs(v)
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.3f}"
    return f"{v:.4f}"


def emit(name, value, unit):
    print(f"{name}\t{fmt(value)}\t{unit}", flush=True)


# --- the workload of ray_perf.py -------------------------------------------


@ray.remote
def small_value():
    return b"ok"


@ray.remote(num_cpus=0)
class Actor:
    def small_value(self):
        return b"ok"

    def small_value_arg(self, x):
        return b"ok"

    def small_value_batch(self, n):
        ray.get([small_value.remote() for _ in range(n)])


@ray.remote(num_cpus=0)
class Client:
    # ray_perf.py's Client, as there.
    def __init__(self, servers):
        if not isinstance(servers, list):
            servers = [servers]
        self.servers = servers

    def small_value_batch(self, n):
        results = []
        for s in self.servers:
            results.extend([s.small_value.remote() for _ in range(n)])
        ray.get(results)

    def small_value_batch_arg(self, n):
        x = ray.put(0)
        results = []
        for s in self.servers:
            results.extend([s.small_value_arg.remote(x) for _ in range(n)])
        ray.get(results)


@ray.remote
def actor_work(actors, n):
    # ray_perf.py's n:n `work(actors)`.
    ray.get([actors[i % len(actors)].small_value.remote() for i in range(n)])


@ray.remote
def nested_parent(n):
    # Not in ray_perf.py: a parent submits n tasks from its body and gets them (nested tasks).
    return len(ray.get([small_value.remote() for _ in range(n)]))


@ray.remote
def chain_step(x):
    return x + 1


# --- timing ------------------------------------------------------------------


def timeit(name, fn, multiplier, timing):
    """ray_microbenchmark_helpers.timeit with configurable durations."""
    settle, warmup, rounds, round_time = timing
    if settle:
        time.sleep(settle)
    start = time.perf_counter()
    count = 0
    while time.perf_counter() - start < warmup:
        fn()
        count += 1
    step = count // 10 + 1
    stats = []
    for _ in range(rounds):
        start = time.perf_counter()
        count = 0
        while time.perf_counter() - start < round_time:
            for _ in range(step):
                fn()
            count += step
        end = time.perf_counter()
        stats.append(multiplier * count / (end - start))
    mean = float(np.mean(stats))
    sd = float(np.std(stats))
    progress(f"{name}: {mean:.2f} +- {sd:.2f} per second ({rounds} rounds, step {step})")
    return mean


def cluster_processes():
    """The driver, its descendants, and any process naming this session's dir."""
    me = psutil.Process()
    procs = {me.pid: me}
    for p in me.children(recursive=True):
        procs[p.pid] = p
    session_dir = None
    try:
        session_dir = ray._private.worker._global_node.get_session_dir_path()
    except Exception:
        pass
    if session_dir:
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if p.pid not in procs and any(session_dir in a for a in (p.info["cmdline"] or [])):
                    procs[p.pid] = p
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    return list(procs.values())


def measure_rss():
    total_rss = 0
    total_pss = 0
    lines = []
    for p in cluster_processes():
        try:
            rss = p.memory_info().rss
            try:
                pss = p.memory_full_info().pss
            except Exception:
                pss = 0
            name = p.name()
            argv = p.cmdline()
            # for python helpers, name the script they run rather than the interpreter
            scripts = [os.path.basename(a) for a in argv[1:] if a.endswith(".py")]
            cmd = scripts[0] if scripts else " ".join(argv)[:60]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total_rss += rss
        total_pss += pss
        lines.append((rss, p.pid, name, cmd, pss))
    for rss, pid, name, cmd, pss in sorted(lines, reverse=True):
        progress(f"  {rss / 2**20:8.1f} MiB RSS {pss / 2**20:8.1f} MiB PSS  pid {pid} {name}: {cmd}")
    progress(f"  {len(lines)} processes, {total_rss / 2**20:.1f} MiB RSS, {total_pss / 2**20:.1f} MiB PSS in all")
    return total_rss / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorten every measurement")
    ap.add_argument("--ray-timing", action="store_true",
                    help="Ray's own timeit durations and sizes (10 s sleep, 1 s warm-up, 4 x 2 s)")
    ap.add_argument("--only", default="", help="comma-separated figure names")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    unknown = only - set(FIGURES)
    if unknown:
        ap.error(f"unknown figures {sorted(unknown)}; known: {', '.join(FIGURES)}")

    def want(*names):
        return not only or any(n in only for n in names)

    mode = "ray" if args.ray_timing else ("quick" if args.quick else "default")
    timing = TIMINGS[mode]
    multi_n = {"ray": 10000, "default": 1000, "quick": 250}[mode]
    roundtrips = 1000 if args.quick else 2000
    chains = 1 if args.quick else 3
    t_all = time.perf_counter()
    progress(f"ray {ray.__version__}, python {sys.version.split()[0]}, numpy {np.__version__}, "
             f"{os.cpu_count()} cpus, mode {mode} (settle/warm-up/rounds/round s = {timing})")

    # memcpy reference, before any Ray process exists.
    if want("memcpy_gigabytes"):
        progress("memcpy_gigabytes ...")
        src = np.ones(GIB // 8, dtype=np.int64)
        dst = np.zeros_like(src)
        np.copyto(dst, src)  # touch every page of both
        emit("memcpy_gigabytes", timeit("memcpy 1 GiB", lambda: np.copyto(dst, src), GIB / RAY_GB, timing), "GB/s")
        del src, dst

    progress("ray.init() ...")
    t0 = time.perf_counter()
    ray.init(resources={"custom": 100})  # ray_perf's, for placement_group_create_removal
    start_s = time.perf_counter() - t0
    emit("cluster_start_seconds", start_s, "s")
    cpus = ray.cluster_resources().get("CPU")
    progress(f"cluster up in {start_s:.3f} s with {cpus} CPUs")
    if cpus != os.cpu_count():
        progress(f"WARNING: Ray detected {cpus} CPUs, os.cpu_count() is {os.cpu_count()}")

    # Warm-up: trivial tasks for ~1 s and a batch of 1000, then the memory figure.
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        ray.get(small_value.remote())
    ray.get([small_value.remote() for _ in range(1000)])
    if want("cluster_rss_mib"):
        emit("cluster_rss_mib", measure_rss(), "MiB")

    # ray_perf.py order from here on.
    value = ray.put(0)

    if want("single_client_get_calls"):
        emit("single_client_get_calls", timeit("single client get calls", lambda: ray.get(value), 1, timing), "gets/s")

    if want("single_client_put_calls"):
        emit("single_client_put_calls", timeit("single client put calls", lambda: ray.put(0), 1, timing), "puts/s")

    if want("single_client_put_gigabytes"):
        arr = np.zeros(100 * 1024 * 1024, dtype=np.int64)
        emit("single_client_put_gigabytes",
             timeit("single client put gigabytes", lambda: ray.put(arr), 8 * 0.1, timing), "GB/s")
        del arr

    if want("single_client_tasks_and_get_batch"):
        def small_value_batch():
            submitted = [small_value.remote() for _ in range(1000)]
            ray.get(submitted)
            return 0

        emit("single_client_tasks_and_get_batch",
             timeit("single client tasks and get batch", small_value_batch, 1, timing), "batches/s")

    if want("single_client_wait_1k_refs"):
        def wait_multiple_refs():
            num_objs = 1000
            not_ready = [small_value.remote() for _ in range(num_objs)]
            fetch_local = True
            for _ in range(num_objs):
                _ready, not_ready = ray.wait(not_ready, fetch_local=fetch_local)
                if fetch_local:
                    fetch_local = False

        emit("single_client_wait_1k_refs",
             timeit("single client wait 1k refs", wait_multiple_refs, 1, timing), "rounds/s")

    if want("single_client_tasks_sync"):
        emit("single_client_tasks_sync",
             timeit("single client tasks sync", lambda: ray.get(small_value.remote()), 1, timing), "tasks/s")

    if want("single_client_tasks_async"):
        emit("single_client_tasks_async",
             timeit("single client tasks async",
                    lambda: ray.get([small_value.remote() for _ in range(1000)]), 1000, timing), "tasks/s")

    if want("actor_calls_sync", "actor_calls_async"):
        a = Actor.remote()
        ray.get(a.small_value.remote())
        if want("actor_calls_sync"):
            emit("actor_calls_sync",
                 timeit("1:1 actor calls sync", lambda: ray.get(a.small_value.remote()), 1, timing), "calls/s")
        if want("actor_calls_async"):
            emit("actor_calls_async",
                 timeit("1:1 actor calls async", lambda: ray.get([a.small_value.remote() for _ in range(1000)]),
                        1000, timing), "calls/s")
        ray.kill(a)

    n_cpu = max(1, multiprocessing.cpu_count() // 2)
    if want("actor_calls_concurrent"):
        a = Actor.options(max_concurrency=16).remote()
        ray.get(a.small_value.remote())
        emit("actor_calls_concurrent",
             timeit("1:1 actor calls concurrent", lambda: ray.get([a.small_value.remote() for _ in range(1000)]),
                    1000, timing), "calls/s")
        ray.kill(a)

    if want("actor_calls_1_n"):
        servers = [Actor.remote() for _ in range(n_cpu)]
        client = Client.remote(servers)
        emit("actor_calls_1_n",
             timeit("1:n actor calls async", lambda: ray.get(client.small_value_batch.remote(5000)),
                    5000 * len(servers), timing), "calls/s")
        for a in servers + [client]:
            ray.kill(a)

    if want("actor_calls_n_n_with_arg"):
        servers = [Actor.remote() for _ in range(n_cpu)]
        clients = [Client.remote(a) for a in servers]
        emit("actor_calls_n_n_with_arg",
             timeit("n:n actor calls with arg async",
                    lambda: ray.get([c.small_value_batch_arg.remote(1000) for c in clients]),
                    1000 * len(clients), timing), "calls/s")
        for a in servers + clients:
            ray.kill(a)

    if want("actor_calls_n_n"):
        actors = [Actor.remote() for _ in range(n_cpu)]
        emit("actor_calls_n_n",
             timeit("n:n actor calls async", lambda: ray.get([actor_work.remote(actors, 5000) for _ in range(4)]),
                    4 * 5000, timing), "calls/s")
        for a in actors:
            ray.kill(a)

    if want("actors_created"):
        # Not in ray_perf.py: 10 actors created and each called once (so each is up), then killed.
        def create_ten():
            actors = [Actor.remote() for _ in range(10)]
            ray.get([a.small_value.remote() for a in actors])
            for a in actors:
                ray.kill(a)

        emit("actors_created", timeit("actors created", create_ten, 10, timing), "actors/s")

    if want("placement_group_create_removal"):
        # ray_perf's, on the same cluster (ray_perf starts one with resources={"custom": 100}; here
        # ray.init gave it "custom" too).
        def placement_group_create_removal(num_pgs):
            pgs = [ray.util.placement_group(bundles=[{"custom": 0.001}]) for _ in range(num_pgs)]
            [pg.wait(timeout_seconds=30) for pg in pgs]
            for pg in pgs:
                ray.util.remove_placement_group(pg)

        emit("placement_group_create_removal",
             timeit("placement group create/removal", lambda: placement_group_create_removal(100), 100, timing),
             "groups/s")

    if want("nested_tasks_async"):
        emit("nested_tasks_async",
             timeit("nested tasks async",
                    lambda: ray.get([nested_parent.remote(100) for _ in range(10)]), 1000, timing), "tasks/s")

    if want("multi_client_tasks_async"):
        m = 4
        actors = [Actor.remote() for _ in range(m)]

        def multi_task():
            ray.get([a.small_value_batch.remote(multi_n) for a in actors])

        emit("multi_client_tasks_async",
             timeit(f"multi client tasks async (n={multi_n})", multi_task, multi_n * m, timing), "tasks/s")
        for a in actors:
            ray.kill(a)
        del actors

    if want("task_roundtrip_median_us", "task_roundtrip_p99_us"):
        progress(f"task roundtrip: {roundtrips} sequential calls ...")
        for _ in range(200):
            ray.get(small_value.remote())
        samples = []
        clock = time.perf_counter_ns
        for _ in range(roundtrips):
            t0 = clock()
            ray.get(small_value.remote())
            samples.append(clock() - t0)
        samples.sort()
        median_us = statistics.median(samples) / 1000
        p99_us = samples[math.ceil(0.99 * len(samples)) - 1] / 1000
        progress(f"task roundtrip: median {median_us:.1f} us, p99 {p99_us:.1f} us, "
                 f"min {samples[0] / 1000:.1f} us, max {samples[-1] / 1000:.1f} us")
        if want("task_roundtrip_median_us"):
            emit("task_roundtrip_median_us", median_us, "us")
        if want("task_roundtrip_p99_us"):
            emit("task_roundtrip_p99_us", p99_us, "us")

    if want("chain_1000_seconds"):
        def chain(length):
            ref = 0
            t0 = time.perf_counter()
            for _ in range(length):
                ref = chain_step.remote(ref)
            result = ray.get(ref)
            elapsed = time.perf_counter() - t0
            assert result == length, result
            return elapsed

        chain(10)
        runs = [chain(1000) for _ in range(chains)]
        progress("chain of 1000: " + ", ".join(f"{r:.3f} s" for r in runs))
        emit("chain_1000_seconds", statistics.median(runs), "s")

    ray.shutdown()
    progress(f"done in {time.perf_counter() - t_all:.1f} s")


if __name__ == "__main__":
    main()
