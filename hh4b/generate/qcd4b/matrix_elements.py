"""Tree-level |M|^2 for p p -> b b~ b b~ from pyamplicol artifacts, generated once and cached.

Subprocesses at leading order in the 5-flavour scheme with massless quarks (the built-in
pyamplicol Standard Model: b and c are massless, couplings QCD-only at the minimal QED order):

- g g > b b~ b b~
- q q~ > b b~ b b~ and q~ q > b b~ b b~ for q = u, d, s, c. With massless quarks and pure QCD
  the four flavours have the same |M|^2, so one artifact process (u u~) serves all of them;
  the q~ q ordering is the same function with the two incoming momenta swapped. Both
  statements are checked against separately generated d d~ and u~ u processes in test_qcd4b.
  (b b~ -> b b~ b b~ is left out, as in the issue: it is suppressed by two b-quark PDFs.)

pyamplicol returns spin- and colour-averaged |M|^2 including the 1/(2! 2!) symmetry factor of
the identical final-state b and b~, evaluated at the model's reference coupling
`normalization.alpha_s_me_check` (0.118); `MatrixElements` rescales by (alpha_s / ref)^4.

Artifacts live in `cache_dir()` ($HH4B_CACHE/amplicol, else ~/.cache/hh4b/amplicol), one
directory per (process list, colour accuracy, pyamplicol version). Generating uses Symbolica,
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
ALPHA_S_PARAMETER = "normalization.alpha_s_me_check"


def cache_dir() -> Path:
    """Where artifacts are kept: $HH4B_CACHE/amplicol, else ~/.cache/hh4b/amplicol."""
    base = os.environ.get("HH4B_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "hh4b") / "amplicol"


def _pyamplicol_version() -> str:
    from importlib.metadata import version

    return version("pyamplicol")


def artifact_key(processes: tuple[str, ...], accuracy: str) -> str:
    """Directory name for an artifact: readable prefix + hash of what determines its content."""
    blob = json.dumps({"processes": list(processes), "accuracy": accuracy, "pyamplicol": _pyamplicol_version()})
    return f"bbbb_{accuracy}_{len(processes)}proc_{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def ensure_artifact(processes: tuple[str, ...] = PROCESSES, accuracy: str = "full", cache: Path | None = None) -> Path:
    """The artifact directory for `processes` at colour `accuracy`, generated on first use.

    Generation (~10-60 s per process) runs in a child process under an exclusive lock on the
    cache directory, writes to a temporary directory and renames it into place, so concurrent
    jobs wait for one generation instead of racing.
    """
    if accuracy not in ACCURACIES:
        raise ConfigError(f"colour accuracy {accuracy!r} not in {ACCURACIES}")
    root = Path(cache) if cache is not None else cache_dir()
    path = root / artifact_key(tuple(processes), accuracy)
    if (path / "artifact.json").is_file():
        return path
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the matrix-element cache {root}: {err.strerror}") from None
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "artifact.json").is_file():
            _generate_in_child(tuple(processes), accuracy, path)
    return path


def _generate_in_child(processes: tuple[str, ...], accuracy: str, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    command = [sys.executable, "-m", "hh4b.generate.qcd4b.matrix_elements", str(tmp), accuracy, *processes]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not (tmp / "artifact.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ConfigError(f"pyamplicol could not generate {list(processes)} ({accuracy} colour) into {path}: "
                          + " | ".join(tail))
    os.replace(tmp, path)


def _generate(output: str, accuracy: str, processes: list[str]) -> None:
    """Child-process entry: run pyamplicol's generator (needs Symbolica)."""
    import pyamplicol
    from pyamplicol.config.models import Action, ColorAccuracy

    colour = {"full": ColorAccuracy.FULL, "lc": ColorAccuracy.LC}[accuracy]
    config = pyamplicol.RunConfig(action=Action.GENERATE, color=pyamplicol.ColorConfig(accuracy=colour))
    pyamplicol.generate(processes, output, config=config, mode="replace")


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


def reference_alpha_s(runtime) -> float:
    """The alpha_s at which the artifact evaluates |M|^2."""
    for parameter in runtime.physics.model_parameters:
        if parameter.name == ALPHA_S_PARAMETER:
            return float(parameter.default_real)
    raise ConfigError(f"artifact has no {ALPHA_S_PARAMETER} parameter")


def evaluate(runtime, momenta: np.ndarray, **selectors) -> np.ndarray:
    """|M|^2 at the artifact's reference coupling for momenta of shape (N, 6, 4) [E, px, py, pz]."""
    momenta = np.ascontiguousarray(momenta, dtype=np.float64)
    if len(momenta) == 0:
        return np.zeros(0)
    return np.array(runtime.evaluate(momenta, **selectors), dtype=complex).real


class MatrixElements:
    """Full-colour |M|^2 of the g g and q q~ subprocesses, rescaled to a running alpha_s."""

    def __init__(self, accuracy: str = "full", cache: Path | None = None):
        self.accuracy = accuracy
        self.artifact = ensure_artifact(PROCESSES, accuracy, cache)
        self.runtimes = {process: load_runtime(self.artifact, process) for process in PROCESSES}
        self.alpha_s_ref = reference_alpha_s(self.runtimes[GG])

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
    """`python -m hh4b.generate.qcd4b.matrix_elements OUTPUT ACCURACY PROCESS...`"""
    _generate(argv[0], argv[1], argv[2:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
