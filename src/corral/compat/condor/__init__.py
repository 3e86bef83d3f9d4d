"""HTCondor's commands (condor_submit, condor_q, condor_rm, …) over corral."""
