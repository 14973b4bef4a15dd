"""Processing a fileset with the coffea processor: the library behind `hh4b run`.

Bookkeeping never loses events silently: every file is opened first to count its entries
(events in the fileset); unreadable files are listed as failed with their error; the processor
reports every chunk it processed and every chunk that failed after retries (file, entry range,
error). At the end, events processed + events in failed chunks must equal the events in the
fileset; any gap is listed as a failed range too.

Before any processing: every dataset's metadata is checked (process, xsec_pb, sumw) and every
readable file's b-tag working point is resolved (hh4b.analysis.events.btag_config; the rules used
are recorded as output["btag"]). Outputs are written under temporary names and renamed. A Dask run
with no worker left for `worker_timeout` seconds stops with an error instead of waiting for ever;
with a jobqueue configuration the Dask workers are batch jobs (hh4b.jobqueue).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
from pathlib import Path

from hh4b import jobqueue as batch
from hh4b.constants import SQRT_S
from hh4b.errors import ConfigError, HH4bError, InputFileError

EXECUTORS = ("iterative", "futures", "dask")
DELPHES_TREE = "Delphes"
OUTPUT_FILES = ("output.coffea", "summary.json")
DASK_WORKER_TIMEOUT_S = 60.0

log = logging.getLogger(__name__)


def load_fileset(path, resolve_paths: bool = True) -> dict:
    """The fileset, checked (structure and metadata, errors naming the file and dataset), with file
    paths resolved: relative paths are taken from the fileset's folder when the file exists there,
    else from the working directory; `resolve_paths=False` keeps them as written (generation)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: fileset not found")
    try:
        fileset = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(fileset, dict) or not fileset:
        raise InputFileError(f"{path}: a fileset is a non-empty mapping of dataset -> {{files, metadata}}")
    resolved = {}
    for dataset, entry in fileset.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            raise InputFileError(f"{path}: dataset {dataset!r} needs a 'files' mapping of path -> tree name")
        files = {}
        for name, tree in entry["files"].items():
            local = path.parent / name
            if resolve_paths:
                name = str(local if not Path(name).is_absolute() and local.exists() else Path(name))
            files[name] = tree
        resolved[dataset] = {"files": files, "metadata": entry.get("metadata")}
    validate_metadata(resolved, path)
    return resolved


def validate_metadata(fileset: dict, source) -> None:
    """Every dataset needs a metadata mapping with a `process`; xsec_pb and sumw, when given, are
    finite numbers > 0 (sumw 0 only with n_events 0); a dataset without them is filled with sums of
    genWeight, not yields."""
    for dataset, entry in fileset.items():
        meta = entry.get("metadata")
        if not isinstance(meta, dict):
            raise ConfigError(f"{source}: dataset {dataset!r} has no 'metadata' mapping (it needs at least "
                              f"'process')")
        process = meta.get("process")
        if not isinstance(process, str) or not process:
            raise ConfigError(f"{source}: dataset {dataset!r}: metadata 'process' missing or not a name "
                              f"({process!r}; e.g. resonant, nonresonant, qcd, qcd4b, ttbar, data)")
        for key in ("xsec_pb", "sumw"):
            value = meta.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{source}: dataset {dataset!r}: metadata {key!r} must be a number, not {value!r}")
            if value <= 0 and not (key == "sumw" and value == 0 and meta.get("n_events") == 0):
                raise ConfigError(f"{source}: dataset {dataset!r}: metadata {key!r} must be > 0, not {value!r}")


def _one_line(err: Exception) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


class OpenTrees:
    """The files the census opened, shared with processing in the same process.

    Opening a tree deserialises every branch's metadata, which on hh4b's files costs about as much
    as reading the analysis's branches. The census records each file's UUID (with its entries, what
    coffea's preprocessing would open the file again for); with `keep_open` it also keeps up to
    `limit` files open with one uproot object cache, which the iterative executor's chunks open
    again (Runner option uproot_options) and so find their tree already read. Other executors
    process in other processes and open their files themselves. `close()` closes the kept files.
    """

    def __init__(self, keep_open: bool = False, limit: int = 64):
        self.keep_open, self.limit = bool(keep_open), int(limit)
        self.object_cache: dict = {}
        self.uuids: dict = {}
        self._handles: list = []

    def open(self, name: str):
        import uproot

        if self.keep_open and len(self._handles) < self.limit:
            # no array cache: a kept file would hold the arrays of its chunks until the end of the run
            return uproot.open(name, object_cache=self.object_cache, array_cache=None)
        return uproot.open(name)

    def release(self, handle) -> None:
        """Keep `handle` open for processing when it was opened with the shared cache, else close it."""
        if self.keep_open and len(self._handles) < self.limit and handle.file.object_cache is self.object_cache:
            self._handles.append(handle)
        else:
            handle.close()

    def uproot_options(self) -> dict:
        """Runner uproot_options that reuse the kept trees. uproot's cache key is the file's UUID and
        the tree's position in it, so a run with two files of one UUID (a copy, a truncated copy)
        shares nothing: each chunk would otherwise find the other file's tree."""
        uuids = {name: uuid for (_, name), (_, uuid) in self.uuids.items()}
        if len(set(uuids.values())) < len(uuids):
            self.close()
        return {"object_cache": self.object_cache} if self._handles else {}

    def metadata_cache(self, fileset: dict) -> dict:
        """coffea's file metadata (user metadata, numentries, uuid) for every file the census read, so
        that the Runner's preprocessing opens none of them again."""
        from coffea.processor.executor import FileMeta

        cache = {}
        for dataset, entry in fileset.items():
            for name, tree in entry["files"].items():
                if (dataset, name) in self.uuids:
                    entries, uuid = self.uuids[(dataset, name)]
                    cache[FileMeta(dataset, name, tree)] = {**(entry.get("metadata") or {}),
                                                            "numentries": entries, "uuid": uuid}
        return cache

    def close(self) -> None:
        while self._handles:
            self._handles.pop().close()
        self.object_cache.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def census(fileset: dict, trees: OpenTrees | None = None) -> tuple[dict, list, dict]:
    """Entries per (dataset, file), the files that cannot be read (with their error on one line),
    and the jet fields per (dataset, file): (format "nanoaod"/"delphes", field names). `trees`
    records each readable file's UUID and may keep it open for processing (OpenTrees)."""
    trees = OpenTrees() if trees is None else trees
    entries, unreadable, jets = {}, [], {}
    for dataset, entry in fileset.items():
        for name, tree in entry["files"].items():
            handle = None
            try:
                handle = trees.open(name)
                events = handle[tree]
                entries[(dataset, name)] = int(events.num_entries)
                trees.uuids[(dataset, name)] = (int(events.num_entries), handle.file.fUUID)
                if tree == DELPHES_TREE:
                    leaves = (k.rsplit("/", 1)[-1] for k in events.keys(recursive=True))
                    fields = [k[len("Jet."):] for k in leaves if k.startswith("Jet.")]
                    jets[(dataset, name)] = ("delphes", fields)
                else:
                    fields = [k[len("Jet_"):] for k in events.keys(filter_name="Jet_*")]
                    jets[(dataset, name)] = ("nanoaod", fields)
            except Exception as err:  # uproot raises many types for damaged files
                entries.pop((dataset, name), None)
                trees.uuids.pop((dataset, name), None)
                jets.pop((dataset, name), None)
                if handle is not None:
                    handle.close()
                    handle = None
                n_events = entry["metadata"].get("n_events") if len(entry["files"]) == 1 else None
                unreadable.append({"dataset": dataset, "file": name, "entry_start": 0,
                                   "entry_stop": n_events, "error": f"{name}: {_one_line(err)}"})
            if handle is not None:
                trees.release(handle)
    return entries, unreadable, jets


def resolve_btag(fileset: dict, jets: dict, proc) -> tuple[dict, list]:
    """{dataset: b-tag rule} from each readable file's jet fields (hh4b.analysis.events.btag_config), checked
    before processing, and the files refused for a missing branch as (dataset, file, error). A working
    point unknown for the input is raised (ConfigError); the files of one dataset must agree."""
    from hh4b.analysis.events import btag_config, btag_options

    rules: dict = {}
    refused = []
    for (dataset, name), (fmt, fields) in jets.items():
        meta = fileset[dataset]["metadata"]
        try:
            rule = btag_config(fmt, fields, proc.config.working_point(meta), btag_options(meta, proc.btag),
                               f"dataset {dataset!r} ({name})")
        except InputFileError as err:
            refused.append((dataset, name, _one_line(err)))
            continue
        if rules.setdefault(dataset, rule) != rule:
            raise ConfigError(f"dataset {dataset!r}: its files need different b-tag rules ({rules[dataset]} "
                              f"and, for {name}, {rule})")
    return rules, refused


@contextlib.contextmanager
def quiet_coffea(progress: bool):
    """Silence coffea's progress bars (its futures executor draws them whatever `status` says)."""
    from coffea.util import coffea_console

    quiet = coffea_console.quiet
    coffea_console.quiet = quiet or not progress
    try:
        yield
    finally:
        coffea_console.quiet = quiet


class WorkerWatchdog:
    """Interrupts the main thread when the Dask scheduler has had no worker for `timeout` seconds."""

    def __init__(self, client, timeout: float, poll: float = 0.5):
        self.client, self.timeout, self.poll = client, float(timeout), poll
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hh4b-dask-watchdog", daemon=True)

    def _workers(self) -> int:
        try:
            return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception:  # a scheduler that cannot answer has no usable worker either
            return 0

    def _watch(self) -> None:
        import _thread

        since = None
        while not self._stop.wait(self.poll):
            if self._workers() > 0:
                since = None
                continue
            since = time.monotonic() if since is None else since
            if time.monotonic() - since >= self.timeout:
                self.fired = True
                _thread.interrupt_main()
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def _watched(client, timeout: float, scheduler: str):
    """Runs the body under a WorkerWatchdog; its interrupt becomes a one-line HH4bError."""
    watchdog = WorkerWatchdog(client, timeout)
    try:
        with watchdog:
            yield
    except KeyboardInterrupt:
        if not watchdog.fired:
            raise
        raise HH4bError(f"dask: no worker left for {timeout:g} s (scheduler {scheduler}); processing stopped") from None


@contextlib.contextmanager
def make_executor(kind: str, workers: int, scheduler: str | None, progress: bool,
                  worker_timeout: float = DASK_WORKER_TIMEOUT_S, jobqueue: Path | None = None):
    """A coffea executor; for dask, a client on `scheduler`, on `workers` batch jobs of the `jobqueue`
    configuration, or on a LocalCluster it owns, watched so that a run with no worker left for
    `worker_timeout` seconds raises HH4bError. The executor never retries: a chunk's retries are the
    processor's own (HH4bProcessor.retries, around the reading and the analysis of the chunk), which
    lists a chunk that still fails in the bookkeeping instead of stopping the run."""
    from coffea import processor

    if kind == "dask":
        # coffea's DaskExecutor imports dask.dataframe (and pandas) when it is first called, while the
        # client's threads are running; imported here, in one thread, before any client exists
        import dask.dataframe  # noqa: F401
    if kind == "iterative":
        with quiet_coffea(progress):
            yield processor.IterativeExecutor(status=progress, retries=0)
    elif kind == "futures":
        with quiet_coffea(progress):
            yield processor.FuturesExecutor(workers=workers, status=progress, retries=0)
    elif kind == "dask" and jobqueue is not None:
        with batch.cluster_client(jobqueue, workers, worker_timeout) as client, \
                _watched(client, worker_timeout, f"of the --jobqueue {jobqueue} cluster"), quiet_coffea(progress):
            yield processor.DaskExecutor(client=client, status=progress, retries=0)
    elif kind == "dask":
        from distributed import Client, LocalCluster

        if scheduler:
            try:
                client = Client(scheduler, timeout=worker_timeout)
            except OSError as err:
                raise HH4bError(f"--scheduler {scheduler}: cannot connect ({_one_line(err)})") from err
            cluster = None
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        try:
            with _watched(client, worker_timeout, scheduler or "of the local cluster"), quiet_coffea(progress):
                yield processor.DaskExecutor(client=client, status=progress, retries=0)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        raise ConfigError(f"--executor {kind!r}: choose from {', '.join(EXECUTORS)}")


def run_processor(fileset: dict, proc, executor, chunksize: int, trees: OpenTrees | None = None) -> dict:
    """Run `proc` over the fileset, one coffea Runner per schema (NanoAOD or Delphes); `trees`, the
    census's files (OpenTrees), spares the Runner from opening them again to count their entries."""
    from coffea import processor
    from coffea.nanoevents import DelphesSchema

    from hh4b.analysis.events import NanoSchema

    groups: dict = {}
    for dataset, entry in fileset.items():
        schema = DelphesSchema if DELPHES_TREE in entry["files"].values() else NanoSchema
        groups.setdefault(schema, {})[dataset] = entry
    outputs = []
    for schema, group in groups.items():
        # this run's metadata cache: coffea's default one is process-wide and keeps the fileset metadata
        # of an earlier run over the same dataset and file, which would override this run's
        cache = trees.metadata_cache(group) if trees is not None else {}
        runner = processor.Runner(executor=executor, chunksize=chunksize, schema=schema, metadata_cache=cache)
        options = trees.uproot_options() if trees is not None else {}
        branches = getattr(proc, "branch_filter", None) if schema is NanoSchema else None
        try:
            outputs.append(runner(group, proc, uproot_options=options,
                                  iteritems_options={"filter_name": branches} if branches else {}))
        except Exception as err:
            raise HH4bError(f"processing stopped: {err}") from err
    return processor.accumulate(outputs) if outputs else {}


def bookkeeping(output: dict, entries: dict, unreadable: list) -> dict:
    """events_in == events_processed + events_failed, with every failed range listed."""
    book = output.get("bookkeeping", {})
    failed = list(book.get("failed_chunks", [])) + list(unreadable)
    covered: dict = {}
    for dataset, name, start, stop in book.get("chunks", []):
        covered.setdefault((dataset, name), []).append((start, stop))
    for chunk in book.get("failed_chunks", []):
        covered.setdefault((chunk["dataset"], chunk["file"]), []).append((chunk["entry_start"], chunk["entry_stop"]))
    for key, n in entries.items():  # ranges neither processed nor reported failed
        position = 0
        for start, stop in sorted(covered.get(key, [])):
            if start > position:
                failed.append({"dataset": key[0], "file": key[1], "entry_start": position, "entry_stop": start,
                               "error": "chunk never reported back by the executor"})
            position = max(position, stop)
        if position < n:
            failed.append({"dataset": key[0], "file": key[1], "entry_start": position, "entry_stop": n,
                           "error": "chunk never reported back by the executor"})
    events_in = sum(entries.values()) + sum(f["entry_stop"] or 0 for f in unreadable)
    events_failed = sum((f["entry_stop"] or 0) - f["entry_start"] for f in failed)
    return {"events_in": events_in, "events_processed": int(book.get("events_processed", 0)),
            "events_failed": events_failed, "failed_chunks": failed,
            "nonfinite_jets": {d: int(n) for d, n in book.get("nonfinite_jets", {}).items()}}


def summary(output: dict) -> dict:
    """Small JSON digest: cutflows, SR yields per method and tag category, pairing efficiencies."""
    out = {"bookkeeping": output["bookkeeping"], "lumi_fb": output["lumi_fb"], "cutflow": output["cutflow"],
           "btag": output.get("btag", {}), "pairing_efficiency": {}, "sr_yield_4b": {}}
    for dataset, methods in output["truth"].items():
        out["pairing_efficiency"][dataset] = {
            m: (c["correct"] / c["matched"] if c["matched"] else None) for m, c in methods.items()}
    mhh = output["hists"].get("mhh")
    if mhh is not None:
        for dataset in mhh.axes["dataset"]:
            out["sr_yield_4b"][dataset] = {
                m: float(mhh[{"dataset": dataset, "region": "SR", "tags": "4b", "method": m}].sum(flow=True).value)
                for m in mhh.axes["method"]}
    return out


def prepare_output(directory) -> Path:
    """Make the output directory, check that it takes files, and remove a previous run's outputs
    (so that an interrupted run never leaves them looking like its own); before any processing."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".hh4b-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        for name in OUTPUT_FILES:
            if (directory / name).exists():
                (directory / name).unlink()
                log.info("removed the previous run's %s", directory / name)
    except OSError as err:
        raise ConfigError(f"--output {directory}: cannot write there ({err.strerror or err})") from err
    return directory


def _write_atomically(path: Path, write) -> None:
    """`write(temporary path)`, then rename over `path`: a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save(output: dict, directory) -> tuple[Path, Path]:
    """OUTPUT/output.coffea and OUTPUT/summary.json, each written under a temporary name and renamed."""
    from coffea.util import save as coffea_save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    coffea_path, summary_path = directory / "output.coffea", directory / "summary.json"
    text = json.dumps(summary(output), indent=2, default=str)
    _write_atomically(coffea_path, lambda tmp: coffea_save(output, str(tmp)))
    _write_atomically(summary_path, lambda tmp: tmp.write_text(text))
    return coffea_path, summary_path


def process_fileset(fileset: dict, proc, executor_kind: str = "futures", workers: int = 2,
                    chunksize: int = 100_000, scheduler: str | None = None, progress: bool = True,
                    worker_timeout: float = DASK_WORKER_TIMEOUT_S,
                    jobqueue: Path | None = None) -> dict:
    """Checks, census, processing and bookkeeping: the complete output dict of docs/formats.md."""
    validate_metadata(fileset, "fileset")
    with OpenTrees(keep_open=executor_kind == "iterative") as trees:
        return _process(fileset, proc, executor_kind, workers, chunksize, scheduler, progress, worker_timeout,
                        jobqueue, trees)


def _process(fileset, proc, executor_kind, workers, chunksize, scheduler, progress, worker_timeout, jobqueue,
             trees: OpenTrees) -> dict:
    """process_fileset with the census's files in `trees`."""
    entries, unreadable, jets = census(fileset, trees)
    btag, refused = resolve_btag(fileset, jets, proc)
    for dataset, name, error in refused:  # counted as failed, like unreadable files
        unreadable.append({"dataset": dataset, "file": name, "entry_start": 0,
                           "entry_stop": entries.pop((dataset, name)), "error": error})
    readable = {}
    for dataset, entry in fileset.items():
        files = {n: t for n, t in entry["files"].items() if entries.get((dataset, n), 0) > 0}
        if files:
            readable[dataset] = {"files": files, "metadata": entry["metadata"]}
    output: dict = {}
    if readable:
        with make_executor(executor_kind, workers, scheduler, progress, worker_timeout,
                           jobqueue) as executor:
            output = run_processor(readable, proc, executor, chunksize, trees)
    output.setdefault("hists", {})
    output.setdefault("cutflow", {})
    output.setdefault("truth", {})
    output["bookkeeping"] = bookkeeping(output, entries, unreadable)
    output["metadata"] = {dataset: entry["metadata"] for dataset, entry in fileset.items()}
    output["btag"] = btag
    output["lumi_fb"] = proc.config.lumi_fb
    output["sqrt_s"] = next((e["metadata"]["sqrt_s"] for e in fileset.values() if "sqrt_s" in e["metadata"]), SQRT_S)
    return output


def neural_methods(models: Path, analysis: str, kappa_lambda: float) -> dict:
    """The neural methods whose ONNX files exist for this analysis (checked now, not mid-run); a
    models directory that does not exist is an error."""
    from hh4b.analysis.methods import NN_METHODS, build_methods

    if analysis == "all":
        return {}
    if not models.is_dir():
        raise ConfigError(f"--models {models}: no such directory (give the folder of the ONNX models, "
                          f"or --no-nn for the cut-based methods only)")
    from hh4b.nn.card import model_exists, model_filename

    spanet = models / model_filename("spanet", analysis)
    dnns = {m: models / model_filename(m, analysis) for m in ("dnn_mindr", "dnn_spanet")}
    dnns = {m: p for m, p in dnns.items() if model_exists(p)}
    deepsets = models / model_filename("deepsets", analysis)
    have_spanet, have_deepsets = model_exists(spanet), model_exists(deepsets)
    available = {"dnn_mindr": "dnn_mindr" in dnns, "deepsets": have_deepsets}
    wanted = [m for m in NN_METHODS if available.get(m, have_spanet and (not m.startswith("dnn_") or m in dnns))]
    if not wanted:
        log.warning("--models %s: no ONNX model for analysis %s; cut-based methods only", models, analysis)
    return build_methods(wanted, spanet if have_spanet else None, dnns, kappa_lambda=kappa_lambda,
                         deepsets_path=deepsets if have_deepsets else None)


def fileset_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
