"""Drop-in Slurm and Grid Engine front ends over the corral SDK.

`corral compat install DIR` writes launchers named sbatch, squeue, …, qsub, …
into DIR. Each front end imports only the standard library, `corral.client`
and `corral.model`, so it starts fast enough to be called in a tight loop.
"""
