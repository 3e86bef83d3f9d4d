"""Run pyss on an SWF trace and print every job's start time (Python 2.7).

usage: python2.7 -O pyss_jobs.py PYSS_SRC_DIR TRACE(.swf|.swf.gz) PROCS SCHEDULER [LIMIT]
Prints: job_id submit start finish procs estimate runtime (one line per job, by id).
"""
import gzip
import sys
import time

src, trace, procs, sched_name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
limit = int(sys.argv[5]) if len(sys.argv) > 5 else None
sys.path.insert(0, src)
from base.workload_parser import parse_lines
from base.prototype import _job_inputs_to_jobs
from schedulers.simulator import Simulator
from schedulers.conservative_scheduler import ConservativeScheduler
from schedulers.easy_plus_plus_scheduler import EasyPlusPlusScheduler
from schedulers.easy_scheduler import EasyBackfillScheduler
from schedulers.fcfs_scheduler import FcfsScheduler

classes = {
    "ConservativeScheduler": ConservativeScheduler,
    "EasyPlusPlusScheduler": EasyPlusPlusScheduler,
    "EasyBackfillScheduler": EasyBackfillScheduler,
    "FcfsScheduler": FcfsScheduler,
}
fh = gzip.open(trace) if trace.endswith(".gz") else open(trace)
lines = []
for line in fh:
    if limit is not None and not line.lstrip().startswith(";") and line.strip():
        if limit <= 0:
            break
        limit -= 1
    lines.append(line)
jobs = list(_job_inputs_to_jobs(parse_lines(lines), procs))
t0 = time.time()
sim = Simulator(jobs, procs, classes[sched_name](procs))
sim.run()
sys.stderr.write("%d jobs in %.1f s\n" % (len(jobs), time.time() - t0))
out = sys.stdout
out.write("# job_id submit start finish procs user_estimate actual_runtime (pyss %s, %d procs)\n"
          % (sched_name, procs))
for j in sorted(sim.terminated_jobs, key=lambda j: j.id):
    out.write("%d %d %d %d %d %d %d\n" % (j.id, j.submit_time, j.start_to_run_at_time,
              j.start_to_run_at_time + j.actual_run_time, j.num_required_processors,
              j.user_estimated_run_time, j.actual_run_time))
