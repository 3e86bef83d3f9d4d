"""Slurm front ends: sbatch, squeue, scancel, sacct, sinfo, scontrol, srun."""
