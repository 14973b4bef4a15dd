"""Dask workers as batch jobs (dask-jobqueue) for `hh4b run` and `hh4b generate --fileset`.

A configuration is a dask-jobqueue YAML file with one cluster kind under `jobqueue:`
(`slurm:` or `htcondor:`) and that cluster's settings below it, spelled as in dask-jobqueue
(`cores`, `memory`, `job-extra-directives`, ...). Relative `python` and `log-directory` paths
are relative to the project root, so that the bundled files work from any folder:
`--cluster slurm` is condor/slurm.yaml and `--cluster htcondor` is condor/jobqueue.yaml.

`cluster_client(config, jobs, timeout)` submits `jobs` worker jobs and keeps that many: a worker
job that ends (cancelled, pre-empted, out of walltime) is replaced by a new one. When no worker
has connected after `timeout` seconds the cluster is closed (its jobs cancelled) and HH4bError
names the cluster, the configuration and the time waited.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

from hh4b.errors import ConfigError, HH4bError

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS = {"slurm": "SLURMCluster", "htcondor": "HTCondorCluster"}
BUNDLED = {"slurm": ROOT / "condor" / "slurm.yaml", "htcondor": ROOT / "condor" / "jobqueue.yaml"}
PATH_KEYS = ("python", "log-directory")
REPLACE_POLL_S = 1.0

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    """--jobqueue CONFIG and --cluster KIND (a bundled CONFIG), shared by `hh4b run` and `hh4b generate`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--jobqueue", metavar="CONFIG", default=None,
                       help="dask-jobqueue YAML: Dask workers run as batch jobs (--workers of them)")
    group.add_argument("--cluster", choices=tuple(BUNDLED), default=None,
                       help="the bundled --jobqueue file of this batch system (condor/slurm.yaml, "
                            "condor/jobqueue.yaml)")


def config_path(jobqueue: str | None, cluster: str | None) -> Path | None:
    """The configuration named by --jobqueue or --cluster, or None when neither is given."""
    return Path(jobqueue) if jobqueue else BUNDLED[cluster] if cluster else None


def load_config(path) -> tuple[str, dict]:
    """(kind, settings) of a dask-jobqueue YAML file; errors name the file."""
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"--jobqueue {path}: cannot read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"--jobqueue {path}: not valid YAML ({' '.join(str(err).split())})") from None
    kinds = list(config.get("jobqueue") or {}) if isinstance(config, dict) else []
    if len(kinds) != 1 or kinds[0] not in CLUSTERS:
        raise ConfigError(f"--jobqueue {path}: expected one cluster under 'jobqueue:' "
                          f"({' or '.join(CLUSTERS)}), found {', '.join(map(str, kinds)) or 'none'}")
    kind = kinds[0]
    settings = dict(config["jobqueue"][kind] or {})
    for key in PATH_KEYS:
        if settings.get(key) and not Path(settings[key]).is_absolute():
            settings[key] = str(ROOT / settings[key])
    return kind, settings


def _dask_jobqueue():
    """dask_jobqueue, imported (in the main thread) without keeping the SIGINT handler it installs,
    which would turn Ctrl-C and the Dask watchdog's interrupt into a silent exit with status 0."""
    if "dask_jobqueue" not in sys.modules:
        handler = signal.getsignal(signal.SIGINT)
        import dask_jobqueue  # noqa: F401

        signal.signal(signal.SIGINT, handler)
    return sys.modules["dask_jobqueue"]


def make_cluster(path, **overrides):
    """(kind, dask-jobqueue cluster) built from the file; `overrides` replace its settings."""
    dask_jobqueue = _dask_jobqueue()
    kind, settings = load_config(path)
    settings.update(overrides)
    # the file's `name` is the jobs' name, as in dask-jobqueue's own configuration
    options = {"job_name" if key == "name" else key.replace("-", "_"): value for key, value in settings.items()}
    try:
        return kind, getattr(dask_jobqueue, CLUSTERS[kind])(**options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"--jobqueue {path}: {kind} cluster: {' '.join(str(err).split())}") from None


def job_ids(cluster) -> str:
    """The batch-system ids of the worker jobs the cluster has submitted, for error messages."""
    ids = [job.job_id for job in cluster.workers.values() if job.job_id]
    return (f"jobs {', '.join(ids)}: see the queue and the job logs" if ids else
            "no job submitted: see the submit command's error above")


class _Keeper:
    """Keeps the cluster at its planned number of jobs: SpecCluster drops a job whose worker has left
    the scheduler, and scaling to the same number submits a replacement."""

    def __init__(self, cluster, jobs: int):
        self.cluster, self.jobs = cluster, jobs
        self.callback = None

    def _check(self) -> None:
        if len(self.cluster.workers) < len(self.cluster.worker_spec):
            log.warning("%s: a worker job has ended; submitting a replacement", type(self.cluster).__name__)
            self.cluster.scale(jobs=self.jobs)

    def __enter__(self):
        from tornado.ioloop import PeriodicCallback

        self.callback = PeriodicCallback(self._check, REPLACE_POLL_S * 1000)
        self.cluster.loop.add_callback(self.callback.start)
        return self

    def __exit__(self, *exc) -> None:
        self.cluster.loop.add_callback(self.callback.stop)


@contextlib.contextmanager
def cluster_client(path, jobs: int, timeout: float):
    """A distributed Client on `jobs` worker jobs of the cluster the file describes; closes both."""
    from distributed import Client

    if jobs < 1:
        raise ConfigError(f"--workers must be >= 1 worker jobs, not {jobs}")
    kind, cluster = make_cluster(path)
    try:
        log.info("%s cluster (%s): submitting %d worker jobs; dashboard %s", kind, path, jobs,
                 cluster.dashboard_link)
        cluster.scale(jobs=jobs)
        client = Client(cluster)
        try:
            start = time.monotonic()
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise HH4bError(f"{kind} cluster ({path}): no worker started after {time.monotonic() - start:.0f} s "
                                f"of waiting ({job_ids(cluster)})") from None
            with _Keeper(cluster, jobs):
                yield client
        finally:
            client.close()
    finally:
        try:
            cluster.close()
        except Exception as err:  # jobs that were never submitted cannot be closed; the run's own error stands
            log.warning("%s cluster (%s): closing: %s", kind, path, " ".join(str(err).split()) or type(err).__name__)
