"""IBM Spectrum LSF's commands (bsub, bjobs, bkill, bqueues, bhosts) over corral."""
