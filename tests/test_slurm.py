"""`hh4b run --jobqueue` on a real one-node Slurm cluster that this module starts (tests/slurm_cluster.py).

Skipped, with the reason, where Slurm and munge are not installed or the daemons do not come up.
The toy samples have integer event weights (xsec * lumi / sumw = 200), so every sum is exact in any
order and the batch run must equal the iterative run bit for bit.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import dask
import distributed  # noqa: F401  (its configuration must be loaded before a dask.config.set of one of its keys)
import pytest
import yaml
from coffea.util import load

from hh4b.analysis.processing import load_fileset, process_fileset
from hh4b.analysis.processor import HH4bProcessor
from hh4b.cli import main as cli_main
from hh4b.errors import HH4bError

from slurm_cluster import SlurmCluster, unavailable
from toys import assert_same_outputs, hh_events, ttbar_events, write_nanoaod

pytestmark = [pytest.mark.slurm, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

EVENTS = 1500
CHUNKSIZE = 100


class SlowProcessor(HH4bProcessor):
    """HH4bProcessor that takes at least 0.4 s per chunk, so that a run lasts long enough to cancel a
    worker job in the middle of it."""

    def process(self, events):
        time.sleep(0.4)
        return super().process(events)


cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except RuntimeError as err:  # e.g. a container that forbids the daemons, or no name for this host
        pytest.skip(f"test Slurm cluster did not come up: {err}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(cluster.conf))
        yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def fileset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("slurm_toys")
    datasets = {"resonant_M500": (hh_events(EVENTS, 500, 3), "resonant"), "ttbar": (ttbar_events(EVENTS, 8), "ttbar")}
    content = {}
    for name, (events, process) in datasets.items():
        n = write_nanoaod(folder / f"{name}.root", events)
        content[name] = {"files": {str(folder / f"{name}.root"): "Events"},
                         "metadata": {"process": process, "xsec_pb": 1.0, "sumw": float(n), "n_events": n,
                                      "btag_wp": "70", "sqrt_s": 13000}}
    path = folder / "fileset.json"
    path.write_text(json.dumps(content))
    return path


@pytest.fixture(scope="module")
def iterative(fileset):
    return process_fileset(load_fileset(fileset), HH4bProcessor(), "iterative", chunksize=CHUNKSIZE, progress=False)


def write_config(folder: Path, **settings) -> Path:
    """A Slurm dask-jobqueue file for the test cluster: one core per worker, logs in `folder`."""
    options = {"cores": 1, "processes": 1, "memory": "1 GiB", "walltime": "00:10:00", "queue": "debug",
               "python": sys.executable, "log-directory": str(folder / "logs"), "local-directory": str(folder),
               "death-timeout": 30, "scheduler-options": {"dashboard_address": ":0"}, **settings}
    path = folder / "slurm.yaml"
    path.write_text(yaml.safe_dump({"jobqueue": {"slurm": options}}))
    return path


def assert_identical(first: dict, second: dict) -> None:
    """Equal bit for bit: every histogram's values and variances, every cutflow and the bookkeeping."""
    assert_same_outputs(first, second, rtol=0.0, also=("cutflow", "bookkeeping"))


def no_jobs_left(cluster: SlurmCluster, wait: float = 20.0) -> bool:
    """True once squeue lists no job (finishing jobs pass through COMPLETING), within `wait` seconds."""
    deadline = time.monotonic() + wait
    while cluster.jobs() and time.monotonic() < deadline:
        time.sleep(0.3)
    return not cluster.jobs()


class JobWatcher(threading.Thread):
    """Polls squeue while the run goes on; `seen` maps every job id to the states it was seen in.
    With `action`, calls it once (with the running job ids) `after` seconds after `jobs` were running."""

    def __init__(self, cluster: SlurmCluster, action=None, jobs: int = 2, after: float = 2.0):
        super().__init__(daemon=True)
        self.cluster, self.seen = cluster, {}
        self.done = threading.Event()
        self.action, self.jobs, self.after = action, jobs, after
        self.acted_on, self.all_running = None, None

    def run(self) -> None:
        while not self.done.wait(0.3):
            for job, state in self.cluster.jobs().items():
                self.seen.setdefault(job, set()).add(state)
            if self.action is None or self.acted_on:
                continue
            if self.all_running is None and len(self.running()) == self.jobs:
                self.all_running = time.monotonic()
            elif self.all_running and time.monotonic() - self.all_running >= self.after:
                self.acted_on = self.running()
                self.action(self.acted_on)

    def running(self) -> list[str]:
        return sorted(job for job, states in self.seen.items() if "RUNNING" in states)


def test_cli_run_on_slurm_equals_iterative(slurm, fileset, iterative, tmp_path):
    """`hh4b run --jobqueue` with two worker jobs: squeue lists them running; outputs equal the iterative run's."""
    config = write_config(tmp_path)
    watcher = JobWatcher(slurm)
    watcher.start()
    start = time.monotonic()
    try:
        code = cli_main(["run", str(fileset), "--jobqueue", str(config), "--workers", "2", "--chunksize",
                         str(CHUNKSIZE), "--output", str(tmp_path / "out"), "--no-progress",
                         "--dask-worker-timeout", "60"])
    finally:
        watcher.done.set()
        watcher.join()
    print(f"slurm run: {time.monotonic() - start:.1f} s, jobs seen {watcher.seen}")
    assert code == 0
    assert len(watcher.running()) == 2, watcher.seen
    assert_identical(load(tmp_path / "out" / "output.coffea"), iterative)
    assert no_jobs_left(slurm), f"the worker jobs outlive the run: {slurm.jobs()}"


def test_scancel_of_a_worker_job_mid_run(slurm, fileset, iterative, tmp_path):
    """One of two worker jobs cancelled while chunks are running: a replacement job is submitted and
    the run completes with the same histograms and cutflows."""
    config = write_config(tmp_path)
    # two seconds after both jobs run, their workers are connected and busy with chunks
    watcher = JobWatcher(slurm, action=lambda running: slurm.run("scancel", running[0]))
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"}):
        watcher.start()
        try:
            output = process_fileset(load_fileset(fileset), SlowProcessor(), "dask", workers=2, chunksize=CHUNKSIZE,
                                     progress=False, worker_timeout=60, jobqueue=config)
        finally:
            watcher.done.set()
            watcher.join()
    print(f"cancelled job {watcher.acted_on[0]}; jobs seen {watcher.seen}")
    assert watcher.acted_on, f"the run ended before a worker job could be cancelled: {watcher.seen}"
    assert len(watcher.seen) >= 3, f"no replacement job after scancel {watcher.acted_on[0]}: {watcher.seen}"
    assert_identical(output, iterative)


def test_workers_lost_for_good_stop_the_run(slurm, fileset, tmp_path):
    """The partition set DOWN and the worker job cancelled mid-run: the replacement stays pending and
    the watchdog stops the run with a one-line error after --dask-worker-timeout, not a hang."""

    def close_partition(running):
        slurm.run("scontrol", "update", "PartitionName=debug", "State=DOWN")
        slurm.run("scancel", *running)

    watcher = JobWatcher(slurm, action=close_partition, jobs=1)
    watcher.start()
    try:
        with pytest.raises(HH4bError, match=r"^dask: no worker left for 8 s \(scheduler of the --jobqueue "
                                            r".*slurm\.yaml cluster\); processing stopped$"):
            process_fileset(load_fileset(fileset), SlowProcessor(), "dask", workers=1, chunksize=CHUNKSIZE,
                            progress=False, worker_timeout=8, jobqueue=write_config(tmp_path))
    finally:
        watcher.done.set()
        watcher.join()
        slurm.run("scontrol", "update", "PartitionName=debug", "State=UP")
    assert watcher.acted_on, f"the run ended before its worker job could be cancelled: {watcher.seen}"
    assert no_jobs_left(slurm), f"pending worker jobs not cancelled: {slurm.jobs()}"


@pytest.mark.parametrize("settings, detail", [
    ({"queue": "closed"}, r"jobs \d+: see the queue and the job logs"),  # pending for ever
    ({"cores": 4}, r"jobs \d+: see the queue and the job logs"),  # the node has two CPUs
    ({"job-extra-directives": ["--no-such-option"]}, r"no job submitted: see the submit command's error above"),
], ids=["down-partition", "too-many-cpus", "sbatch-refuses"])
def test_workers_that_never_start_fail_in_bounded_time(slurm, fileset, tmp_path, settings, detail):
    """Worker jobs that cannot run: a one-line error names the cluster, its file and the time waited."""
    config = write_config(tmp_path, **settings)
    start = time.monotonic()
    with pytest.raises(HH4bError, match=r"^slurm cluster \(.*slurm\.yaml\): no worker started after \d+ s of waiting "
                                        rf"\({detail}\)$") as err:
        process_fileset(load_fileset(fileset), HH4bProcessor(), "dask", workers=1, chunksize=CHUNKSIZE,
                        progress=False, worker_timeout=5, jobqueue=config)
    assert 5 <= time.monotonic() - start < 30
    assert "\n" not in str(err.value)
    assert no_jobs_left(slurm), f"pending worker jobs not cancelled: {slurm.jobs()}"


def test_generate_fileset_on_slurm(slurm, tmp_path):
    """`hh4b generate --fileset --jobqueue`: the missing file is made by a Slurm worker job."""
    path = tmp_path / "fs.json"
    gen = {"sample": "resonant", "mass": 400, "events": 40, "seed": 11}
    path.write_text(json.dumps({"sig": {"files": {"gen/sig.root": "Events"},
                                        "metadata": {"process": "resonant", "xsec_pb": None, "generate": gen}}}))
    watcher = JobWatcher(slurm)
    watcher.start()
    try:
        code = cli_main(["generate", "--fileset", str(path), "--jobqueue", str(write_config(tmp_path)),
                         "--workers", "1", "--no-progress", "--dask-worker-timeout", "60"])
    finally:
        watcher.done.set()
        watcher.join()
    assert code == 0
    assert len(watcher.running()) == 1, watcher.seen
    assert (tmp_path / "gen" / "sig.root").is_file()
    md = json.loads(path.read_text())["sig"]["metadata"]
    assert md["xsec_pb"] > 0 and md["sumw"] == 40 and md["n_events"] == 40
    assert no_jobs_left(slurm)
