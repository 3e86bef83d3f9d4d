"""Grid Engine front ends: qsub, qstat, qdel, qhold, qrls, qhost, qacct."""
