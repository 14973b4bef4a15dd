"""A one-node Slurm cluster for the tests: munged, slurmctld and slurmd started by hand (no systemd).

`SlurmCluster(folder).start()` writes a slurm.conf for this host with two CPUs and two partitions
(`debug`, up and the default; `closed`, down, so that jobs submitted there stay pending), starts the
daemons as root, and waits until `sinfo` shows the node idle. slurmctld and slurmd run in the foreground
as child processes of the tests; `stop()` ends them (and munged, when it started it, by its pid file).
`unavailable()` says why no cluster can be started here (Slurm or munge not installed, not root), or
None. Nothing is installed here: the packages come from `apt-get install slurm-wlm munge` (the
README's install step and .ci/run).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sinfo", "squeue", "sbatch", "scancel")
MUNGE_DIRS = ("/run/munge", "/var/log/munge", "/var/lib/munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")

SLURM_CONF = """\
ClusterName=hh4b-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MessageTimeout=10
KillWait=2
InactiveLimit=0
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName={host} CPUs=2 RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName=closed Nodes={host} MaxTime=INFINITE State=DOWN
"""


def unavailable() -> str | None:
    """Why a test Slurm cluster cannot be started on this machine, or None when it can."""
    missing = [name for name in DAEMONS + COMMANDS if shutil.which(name) is None
               and not Path("/usr/sbin", name).exists()]
    if missing:
        return f"Slurm/munge not installed (no {', '.join(missing)}; apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test Slurm cluster runs its daemons as root; this user is not root"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SlurmCluster:
    """Daemons of a one-node Slurm cluster whose files all live in `folder`."""

    def __init__(self, folder: Path, start_timeout: float = 30.0):
        self.folder = Path(folder)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.folder / "slurm.conf"
        self.start_timeout = start_timeout
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: list[subprocess.Popen] = []
        self._munged_pid_file: Path | None = None

    def run(self, *command: str, check: bool = True) -> str:
        """A Slurm client command (sinfo, squeue, scancel, scontrol) against this cluster; its stdout."""
        done = subprocess.run(command, check=False, env=self.env, capture_output=True, text=True, timeout=30)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def jobs(self, partition: str | None = None) -> dict[str, str]:
        """Job id -> state (PENDING, RUNNING, ...) of the jobs squeue lists."""
        command = ["squeue", "--noheader", "--format=%i %T"] + ([f"--partition={partition}"] if partition else [])
        out = self.run(*command)
        return dict(line.split() for line in out.splitlines() if line.strip())

    def _start_munge(self) -> None:
        if MUNGE_SOCKET.exists() and subprocess.run(["sh", "-c", "munge -n | unmunge"],
                                                    check=False, capture_output=True).returncode == 0:
            return  # a munged already answers (e.g. a machine set up with the packages' service)
        for folder in MUNGE_DIRS:
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "munge", "munge")
        if not MUNGE_KEY.exists():
            MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
            MUNGE_KEY.write_bytes(os.urandom(1024))
            shutil.chown(MUNGE_KEY, "munge", "munge")
            MUNGE_KEY.chmod(0o400)
        subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", _binary("munged")], check=True,
                       capture_output=True, timeout=30)
        self._munged_pid_file = Path("/run/munge/munged.pid")

    def start(self) -> SlurmCluster:
        """Write slurm.conf, start the daemons, and wait (bounded) until the node is idle; on any
        failure the daemons already started are stopped and RuntimeError says what went wrong."""
        try:
            return self._start()
        except RuntimeError:
            raise
        except (OSError, LookupError, subprocess.SubprocessError) as err:
            self.stop()
            detail = getattr(err, "stderr", None)
            detail = detail.decode(errors="replace") if isinstance(detail, bytes) else detail
            raise RuntimeError(" ".join(f"{err} {detail or ''}".split())) from err

    def _start(self) -> SlurmCluster:
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(SLURM_CONF.format(host=self.host, folder=self.folder,
                                               ctld_port=_free_port(), slurmd_port=_free_port()))
        self._start_munge()
        for daemon in ("slurmctld", "slurmd"):
            with open(self.folder / f"{daemon}.out", "wb") as out:
                self._daemons.append(subprocess.Popen([_binary(daemon), "-D", "-f", str(self.conf)], env=self.env,
                                                      stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + self.start_timeout
        state, ended = "", []
        while time.monotonic() < deadline and not ended:
            state = self.run("sinfo", "--noheader", "--partition=debug", "--format=%T", check=False).strip()
            if state == "idle":
                return self
            ended = [Path(d.args[0]).name for d in self._daemons if d.poll() is not None]
            time.sleep(0.5)
        log = (self.folder / "slurmctld.log").read_text(errors="replace").splitlines()[-3:] if \
            (self.folder / "slurmctld.log").exists() else []
        self.stop()
        why = f"{', '.join(ended)} exited" if ended else f"not idle after {self.start_timeout:g} s"
        raise RuntimeError(f"Slurm node {self.host}: {why} (sinfo: {state or 'no answer'}; "
                           f"slurmctld.log: {' | '.join(log)})")

    def stop(self) -> None:
        """Cancel every job, then end the daemons this object started (slurmd first, munged last)."""
        if all(d.poll() is None for d in self._daemons[:1]):  # slurmctld answers: no job is left running
            self.run("scancel", "--full", "--partition=debug,closed", check=False)
        for daemon in reversed(self._daemons):
            daemon.terminate()
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        self._daemons.clear()
        if self._munged_pid_file is not None:
            try:
                os.kill(int(self._munged_pid_file.read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError, IndexError):
                pass  # already gone
            self._munged_pid_file = None
