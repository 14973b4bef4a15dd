"""Start an HTCondor-backed Dask cluster and print its scheduler address for `hh4b run --scheduler`.

    python condor/cluster.py --jobs 50            # keep 50 workers, Ctrl-C stops everything
    python condor/cluster.py --adapt 10 200       # adaptive between 10 and 200 workers

Settings come from condor/jobqueue.yaml (override with --config), read as `hh4b run --jobqueue` reads
them (hh4b.jobqueue). `hh4b run --cluster htcondor` does the same in one command; this script keeps a
cluster alive for several runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hh4b.jobqueue import BUNDLED, make_cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=BUNDLED["htcondor"])
    parser.add_argument("--jobs", type=int, default=10, help="fixed number of worker jobs")
    parser.add_argument("--adapt", type=int, nargs=2, metavar=("MIN", "MAX"), help="adaptive scaling instead")
    parser.add_argument("--print-job-script", action="store_true",
                        help="show the job script that would be submitted and exit")
    args = parser.parse_args()
    _kind, cluster = make_cluster(args.config)
    if args.print_job_script:
        print(cluster.job_script())
        cluster.close()
        return 0
    if args.adapt:
        cluster.adapt(minimum_jobs=args.adapt[0], maximum_jobs=args.adapt[1])
    else:
        cluster.scale(jobs=args.jobs)
    print(f"scheduler address: {cluster.scheduler_address}", flush=True)
    print(f"run: hh4b run fileset.json --scheduler {cluster.scheduler_address} --output outputs", flush=True)
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        print("stopping the cluster")
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
