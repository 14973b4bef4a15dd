"""hh4b.jobqueue without a batch system: the job scripts the bundled configurations would submit
(HTCondor cannot run here, so its submit description is what is checked) and the errors of bad files."""

from __future__ import annotations

import re

import pytest
import yaml

from hh4b.errors import ConfigError
from hh4b.jobqueue import BUNDLED, ROOT, config_path, load_config, make_cluster

QUIET = {"scheduler-options": {"dashboard_address": ":0"}}  # no fixed dashboard port in tests


@pytest.fixture
def job_script():
    clusters = []

    def script(path, **overrides) -> str:
        _kind, cluster = make_cluster(path, **overrides)
        clusters.append(cluster)
        return cluster.job_script()

    yield script
    for cluster in clusters:
        cluster.close()


def test_htcondor_submit_description(job_script):
    """What condor_submit would get from condor/jobqueue.yaml: the README's shared-file-system set-up."""
    kind, settings = load_config(BUNDLED["htcondor"])
    assert kind == "htcondor" and settings["scheduler-options"]["port"] == 8786  # open to the worker nodes
    script = job_script(BUNDLED["htcondor"], **{"scheduler-options": {"port": 0, "dashboard_address": ":0"}})
    lines = set(script.splitlines())
    # environment: the submit shell's environment and the project's venv, seen through the shared file system
    assert "getenv = True" in lines
    assert f"{ROOT}/.venv/bin/python -m distributed.cli.dask_worker" in script
    assert not re.search(r"(?i)transfer_input_files|should_transfer_files\s*=\s*YES", script)
    # one core and 4 GiB (memory and disk) per worker job, with the matching worker limits
    assert {"MY.DaskWorkerCores = 1", "request_cpus = 1", "RequestCpus = MY.DaskWorkerCores",
            "MY.DaskWorkerMemory = 4294967296", "RequestMemory = floor(MY.DaskWorkerMemory / 1048576)",
            "MY.DaskWorkerDisk = 4294967296"} <= lines
    worker = re.search(r"^Arguments = \"-c '(.*)'\"$", script, re.MULTILINE).group(1)
    assert re.search(r"dask_worker tcp://\S+:\d+ --name ", worker), worker
    assert "--nthreads 1" in worker and "--memory-limit 4.00GiB" in worker
    assert "--death-timeout 120" in worker and "--local-directory $_CONDOR_SCRATCH_DIR" in worker
    assert "Executable = /bin/sh" in lines
    # logs in condor/logs of the project, and the site's run-time class
    assert f"LogDirectory = {ROOT}/condor/logs" in lines
    assert '+JobFlavour = "workday"' in lines


def test_slurm_job_script(job_script):
    script = job_script(BUNDLED["slurm"], **QUIET)
    lines = set(script.splitlines())
    assert {"#SBATCH -J hh4b-worker", "#SBATCH -n 1", "#SBATCH --cpus-per-task=1", "#SBATCH --mem=2G",
            "#SBATCH -t 04:00:00", f"#SBATCH -o {ROOT}/condor/logs/hh4b-worker-%J.out"} <= lines
    assert f"{ROOT}/.venv/bin/python -m distributed.cli.dask_worker" in script
    assert "--memory-limit 2.00GiB" in script and "--death-timeout 60" in script
    assert "#SBATCH -p debug" in job_script(BUNDLED["slurm"], queue="debug", **QUIET)


def test_cluster_option_names_the_bundled_file():
    assert config_path(None, "slurm") == ROOT / "condor" / "slurm.yaml"
    assert config_path(None, "htcondor") == ROOT / "condor" / "jobqueue.yaml"
    assert str(config_path("site.yaml", None)) == "site.yaml"
    assert config_path(None, None) is None


@pytest.mark.parametrize("content, message", [
    ({"jobqueue": {"pbs": {"cores": 1}}}, r"expected one cluster under 'jobqueue:' \(slurm or htcondor\), found pbs"),
    ({"jobqueue": {"slurm": {}, "htcondor": {}}}, r".*found htcondor, slurm$"),
    ({"cores": 1}, r".*found none$"),
    ({"jobqueue": {"htcondor": {"cores": 1, "memory": "1 GiB", "walltime": "01:00:00"}}},
     r"htcondor cluster: .*unexpected keyword argument 'walltime'"),
])
def test_bad_configuration_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match=rf"^--jobqueue {re.escape(str(path))}: {message}") as err:
        make_cluster(path)
    assert "\n" not in str(err.value)


def test_unreadable_configuration(tmp_path):
    with pytest.raises(ConfigError, match=r"--jobqueue .*missing\.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("jobqueue: [\n")
    with pytest.raises(ConfigError, match=r"--jobqueue .*bad\.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_ctrl_c_handler_survives_the_import(job_script):
    """dask_jobqueue installs a SIGINT handler that exits silently; hh4b keeps the one it had, so that
    Ctrl-C and the Dask watchdog's interrupt still raise KeyboardInterrupt."""
    import signal

    job_script(BUNDLED["slurm"], **QUIET)
    assert getattr(signal.getsignal(signal.SIGINT), "__module__", "") != "dask_jobqueue.runner"


@pytest.mark.parametrize("command", [["run", "missing.json"], ["generate", "--fileset", "missing.json"]])
def test_scheduler_and_jobqueue_exclude_each_other(command, capsys):
    from hh4b.cli import main as cli_main

    assert cli_main([*command, "--scheduler", "tcp://127.0.0.1:9", "--cluster", "slurm"]) == 2
    assert "--scheduler and --jobqueue/--cluster: give one" in capsys.readouterr().err
