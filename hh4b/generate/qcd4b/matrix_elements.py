"""Tree-level |M|^2 for p p -> b b~ b b~ from pyamplicol artifacts, generated once and cached.

Two flavour schemes (`SCHEMES`):
- "5fs": massless b quarks, pyamplicol's built-in Standard Model (b and c massless);
- "4fs": massive b quarks, the UFO Standard Model that pyamplicol ships as JSON with its
  `restrict_default` parameter card (MB = 4.7 GeV, c massless), which is what MadGraph's
  default `sm` model uses. The model is compiled once into a prepared bundle
  (`pyamplicol model compile ... --backend jit`, ~40 s) and kept in the cache. Massive quarks
  flip helicity, so all 64 helicity configurations contribute (24 of 64 are non-zero when
  massless): |M|^2 costs ~10x more per point.

Subprocesses at leading order (couplings QCD-only at the minimal QED order):

- g g > b b~ b b~
- q q~ > b b~ b b~ and q~ q > b b~ b b~ for q = u, d, s, c. With massless quarks and pure QCD
  the four flavours have the same |M|^2, so one artifact process (u u~) serves all of them;
  the q~ q ordering is the same function with the two incoming momenta swapped. Both
  statements are checked against separately generated d d~ and u~ u processes in test_qcd4b.
  (b b~ -> b b~ b b~ is left out, as in the issue: it is suppressed by two b-quark PDFs, and
  in the 4-flavour scheme there is no b in the proton.)

pyamplicol returns spin- and colour-averaged |M|^2 including the 1/(2! 2!) symmetry factor of
the identical final-state b and b~, evaluated at the model's reference coupling
`normalization.alpha_s_me_check` (0.118); `MatrixElements` rescales by (alpha_s / ref)^4.

Artifacts live in `cache_dir()` ($HH4B_CACHE/amplicol, else ~/.cache/hh4b/amplicol), one
directory per (process list, colour accuracy, scheme, pyamplicol version). Generating uses Symbolica,
which in its free mode allows one process per user at a time: generation runs in a child
process under a file lock, and evaluation imports pyamplicol without Symbolica (the Rust
runtime does not need it), so that several generator jobs can evaluate side by side.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from hh4b.errors import ConfigError

GG = "g g > b b~ b b~"
QQBAR = "u u~ > b b~ b b~"
PROCESSES = (GG, QQBAR)
ACCURACIES = ("full", "lc")
QCD_POWER = 4  # |M|^2 is proportional to alpha_s^4 at tree level
ALPHA_S_PARAMETERS = ("normalization.alpha_s_me_check", "aS")  # built-in SM, JSON SM
B_MASS_PARAMETER = "MB"
SCHEMES = ("5fs", "4fs")
JSON_SM = ("assets/models/json/sm/sm.json", "assets/models/json/sm/restrict_default.json")  # 4fs, in pyamplicol


def cache_dir() -> Path:
    """Where artifacts are kept: $HH4B_CACHE/amplicol, else ~/.cache/hh4b/amplicol."""
    base = os.environ.get("HH4B_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "hh4b") / "amplicol"


def _pyamplicol_version() -> str:
    from importlib.metadata import version

    return version("pyamplicol")


def artifact_key(processes: tuple[str, ...], accuracy: str, scheme: str = "5fs") -> str:
    """Directory name for an artifact: readable prefix + hash of what determines its content."""
    blob = {"processes": list(processes), "accuracy": accuracy, "pyamplicol": _pyamplicol_version()}
    if scheme != "5fs":  # 5fs keys are those of the artifacts made before the schemes existed
        blob["scheme"] = scheme
    digest = hashlib.sha256(json.dumps(blob).encode()).hexdigest()[:12]
    return f"bbbb_{accuracy}_{'' if scheme == '5fs' else scheme + '_'}{len(processes)}proc_{digest}"


def ensure_artifact(processes: tuple[str, ...] = PROCESSES, accuracy: str = "full", cache: Path | None = None,
                    scheme: str = "5fs") -> Path:
    """The artifact directory for `processes` at colour `accuracy`, generated on first use.

    Generation (~10-60 s per process) runs in a child process under an exclusive lock on the
    cache directory, writes to a temporary directory and renames it into place, so concurrent
    jobs wait for one generation instead of racing.
    """
    if accuracy not in ACCURACIES:
        raise ConfigError(f"colour accuracy {accuracy!r} not in {ACCURACIES}")
    if scheme not in SCHEMES:
        raise ConfigError(f"flavour scheme {scheme!r} not in {SCHEMES}")
    root = Path(cache) if cache is not None else cache_dir()
    path = root / artifact_key(tuple(processes), accuracy, scheme)
    if (path / "artifact.json").is_file():
        return path
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the matrix-element cache {root}: {err.strerror}") from None
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "artifact.json").is_file():
            model = _prepared_model(root) if scheme == "4fs" else ""
            _generate_in_child(tuple(processes), accuracy, path, model)
    return path


def _run_child(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ConfigError(f"pyamplicol could not {what}: " + " | ".join(tail))


def _prepared_model(root: Path) -> str:
    """The 4fs model (JSON SM, restrict_default) as a prepared bundle in the cache; compiled on first use."""
    from importlib.util import find_spec

    base = Path(find_spec("pyamplicol").origin).parent  # not imported: that would take the Symbolica licence
    source, restriction = (base / part for part in JSON_SM)
    path = root / f"sm_restrict_default_{_pyamplicol_version()}.pyamplicol-model"
    if not path.is_file():
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}.pyamplicol-model")
        command = [sys.executable, "-m", "pyamplicol", "model", "compile", str(source), str(tmp), "--restriction",
                   str(restriction), "--backend", "jit", "--progress", "off", "--no-model-cache"]
        _run_child(command, f"compile the model {source} with {restriction.name} into {path}")
        os.replace(tmp, path)
    return str(path)


def _generate_in_child(processes: tuple[str, ...], accuracy: str, path: Path, model: str = "") -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    command = [sys.executable, "-m", "hh4b.generate.qcd4b.matrix_elements", str(tmp), accuracy, model, *processes]
    try:
        _run_child(command, f"generate {list(processes)} ({accuracy} colour) into {path}")
        if not (tmp / "artifact.json").is_file():
            raise ConfigError(f"pyamplicol wrote no artifact.json for {list(processes)} ({accuracy} colour) in {tmp}")
    except ConfigError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.replace(tmp, path)


def _generate(output: str, accuracy: str, model: str, processes: list[str]) -> None:
    """Child-process entry: run pyamplicol's generator (needs Symbolica); model "" is the built-in SM,
    else the path of a prepared model bundle."""
    import pyamplicol
    from pyamplicol.config.models import Action, ColorAccuracy

    colour = {"full": ColorAccuracy.FULL, "lc": ColorAccuracy.LC}[accuracy]
    config = pyamplicol.RunConfig(action=Action.GENERATE, color=pyamplicol.ColorConfig(accuracy=colour))
    source = pyamplicol.ModelSource.from_path(model) if model else None
    pyamplicol.generate(processes, output, model=source, config=config, mode="replace")


def _import_runtime():
    """pyamplicol's Runtime class, imported without Symbolica when nothing has loaded it yet."""
    if "pyamplicol" in sys.modules or "symbolica" in sys.modules:
        import pyamplicol

        return pyamplicol.Runtime
    sys.modules["symbolica"] = None  # makes `import symbolica` fail; pyamplicol then skips it
    try:
        import pyamplicol
    finally:
        del sys.modules["symbolica"]
    return pyamplicol.Runtime


def load_runtime(artifact: Path, process: str):
    """One process of an artifact as a pyamplicol Runtime."""
    runtime_class = _import_runtime()
    try:
        return runtime_class.load(artifact, process=process, mute_warnings=True)
    except Exception as err:  # noqa: BLE001 (pyamplicol raises several unrelated types)
        raise ConfigError(f"cannot load process {process!r} from artifact {artifact}: {err}") from None


def _model_parameter(runtime, names: tuple[str, ...]) -> float | None:
    """Default value of the first of the artifact's model parameters named in `names`, else None."""
    for parameter in runtime.physics.model_parameters:
        if parameter.name in names:
            return float(parameter.default_real)
    return None


def b_mass(runtime) -> float:
    """The b-quark mass of the artifact's model in GeV (0 when the model has no MB parameter)."""
    mass = _model_parameter(runtime, (B_MASS_PARAMETER,))
    return 0.0 if mass is None else mass


def reference_alpha_s(runtime) -> float:
    """The alpha_s at which the artifact evaluates |M|^2."""
    alpha_s = _model_parameter(runtime, ALPHA_S_PARAMETERS)
    if alpha_s is None:
        raise ConfigError(f"artifact has none of the alpha_s parameters {ALPHA_S_PARAMETERS}")
    return alpha_s


def evaluate(runtime, momenta: np.ndarray, **selectors) -> np.ndarray:
    """|M|^2 at the artifact's reference coupling for momenta of shape (N, 6, 4) [E, px, py, pz]."""
    momenta = np.ascontiguousarray(momenta, dtype=np.float64)
    if len(momenta) == 0:
        return np.zeros(0)
    return np.array(runtime.evaluate(momenta, **selectors), dtype=complex).real


class MatrixElements:
    """Full-colour |M|^2 of the g g and q q~ subprocesses, rescaled to a running alpha_s."""

    def __init__(self, accuracy: str = "full", cache: Path | None = None, scheme: str = "5fs"):
        self.accuracy, self.scheme = accuracy, scheme
        self.artifact = ensure_artifact(PROCESSES, accuracy, cache, scheme)
        self.runtimes = {process: load_runtime(self.artifact, process) for process in PROCESSES}
        self.alpha_s_ref = reference_alpha_s(self.runtimes[GG])
        self.b_mass = b_mass(self.runtimes[GG])

    def _rescale(self, alpha_s: np.ndarray) -> np.ndarray:
        return (np.asarray(alpha_s) / self.alpha_s_ref) ** QCD_POWER

    def gg(self, momenta: np.ndarray, alpha_s: np.ndarray) -> np.ndarray:
        """|M|^2(g g -> b b~ b b~)."""
        return evaluate(self.runtimes[GG], momenta) * self._rescale(alpha_s)

    def qqbar(self, momenta: np.ndarray, alpha_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(|M|^2(q q~ -> 4b), |M|^2(q~ q -> 4b)): quark in beam 1, and quark in beam 2."""
        swapped = momenta[:, [1, 0, 2, 3, 4, 5]]
        both = evaluate(self.runtimes[QQBAR], np.concatenate([momenta, swapped]))
        n = len(momenta)
        rescale = self._rescale(alpha_s)
        return both[:n] * rescale, both[n:] * rescale


def main(argv: list[str]) -> int:
    """`python -m hh4b.generate.qcd4b.matrix_elements OUTPUT ACCURACY MODEL PROCESS...` (MODEL "": built-in SM)"""
    _generate(argv[0], argv[1], argv[2], argv[3:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
