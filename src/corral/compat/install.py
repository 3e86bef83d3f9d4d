"""Launchers for the Slurm, Grid Engine, LSF and HTCondor command names, written on request only.

Each launcher is a short Python script bound to this interpreter, so the
commands work without activating the environment, and a real Slurm or Grid
Engine is never shadowed unless the user puts the directory first on PATH.
It is bound too to the controller it was installed for, so that a tool which
runs `sbatch` with a cleaned environment (`env -i`) still reaches it; CORRAL_URL,
CORRAL_SOCKET or CORRAL_STATE_DIR, when set, still choose another.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from corral.client import default_url

# command name -> module with a main()
COMMANDS: dict[str, str] = {
    "sbatch": "corral.compat.slurm.sbatch",
    "squeue": "corral.compat.slurm.squeue",
    "scancel": "corral.compat.slurm.scancel",
    "sacct": "corral.compat.slurm.sacct",
    "sinfo": "corral.compat.slurm.sinfo",
    "scontrol": "corral.compat.slurm.scontrol",
    "srun": "corral.compat.slurm.srun",
    "salloc": "corral.compat.slurm.salloc",
    "sprio": "corral.compat.slurm.sprio",
    "sstat": "corral.compat.slurm.sstat",
    "sacctmgr": "corral.compat.slurm.sacctmgr",
    "sshare": "corral.compat.slurm.sshare",
    "sreport": "corral.compat.slurm.sreport",
    "qsub": "corral.compat.sge.qsub",
    "qstat": "corral.compat.sge.qstat",
    "qdel": "corral.compat.sge.qdel",
    "qhost": "corral.compat.sge.qhost",
    "qacct": "corral.compat.sge.qacct",
    "qhold": "corral.compat.sge.qhold",
    "qrls": "corral.compat.sge.qrls",
    "bsub": "corral.compat.lsf.bsub",
    "bjobs": "corral.compat.lsf.bjobs",
    "bkill": "corral.compat.lsf.bkill",
    "bqueues": "corral.compat.lsf.bqueues",
    "bhosts": "corral.compat.lsf.bhosts",
    "glite-wms-job-submit": "corral.compat.glite.submit",
    "glite-wms-job-status": "corral.compat.glite.status",
    "glite-wms-job-cancel": "corral.compat.glite.cancel",
    "glite-wms-job-logging-info": "corral.compat.glite.logging_info",
    "glite-wms-job-output": "corral.compat.glite.output",
    "condor_submit": "corral.compat.condor.submit",
    "condor_q": "corral.compat.condor.condor_q",
    "condor_history": "corral.compat.condor.condor_history",
    "condor_rm": "corral.compat.condor.condor_rm",
    "condor_hold": "corral.compat.condor.condor_hold",
    "condor_release": "corral.compat.condor.condor_release",
    "condor_status": "corral.compat.condor.status",
    "condor_submit_dag": "corral.compat.condor.submit_dag",
}
FAMILIES = {
    "slurm": [n for n, m in COMMANDS.items() if ".slurm." in m],
    "sge": [n for n, m in COMMANDS.items() if ".sge." in m],
    "lsf": [n for n, m in COMMANDS.items() if ".lsf." in m],
    "glite": [n for n, m in COMMANDS.items() if ".glite." in m],
    "condor": [n for n, m in COMMANDS.items() if ".condor." in m],
}


def launcher_text(module: str, python: str | None = None, url: str | None = None) -> str:
    """The interpreter and the corral that installed it, whatever PYTHONPATH says,
    and the controller's address (`url`, default: the one this process finds).

    The interpreter runs with -S: the drop-in commands need only the standard
    library and corral, so the site start-up (every .pth file of site-packages,
    some of which import packages) is skipped, and it is done after all if an
    import needs it."""
    import corral
    where = str(Path(corral.__file__).resolve().parent.parent)
    return (f"#!{python or sys.executable} -S\n"
            f"# corral's drop-in for this command (corral compat install).\n"
            f"import sys\n"
            f"sys.path.insert(0, {where!r})\n"
            f"try:\n"
            f"    import corral.client.api\n"
            f"    from {module} import main\n"
            f"except ImportError:  # it needs site-packages after all\n"
            f"    import site\n"
            f"    site.main()\n"
            f"    import corral.client.api\n"
            f"    from {module} import main\n"
            f"corral.client.api.BOUND_URL = {url or default_url()!r}\n"
            f"main()\n")


def install(directory: Path, names: list[str] | None = None, *,
            force: bool = False, url: str | None = None) -> list[Path]:
    """Write the launchers into `directory` (made if missing), bound to the
    controller at `url` (default: the one found here); -> their paths.
    An existing file that is not one of ours is left alone unless `force`."""
    url = url or default_url()
    if url.startswith("unix://"):  # wherever the launcher is run from
        url = "unix://" + os.path.abspath(url[len("unix://"):])
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(COMMANDS):
        path = directory / name
        if path.exists() and not force:
            head = path.read_text(errors="replace")[:200] if path.is_file() else ""
            if "corral compat install" not in head:
                raise FileExistsError(f"{path} exists and is not a corral launcher "
                                      "(use --force to replace it)")
        tmp = directory / f".{name}.tmp{os.getpid()}"
        tmp.write_text(launcher_text(COMMANDS[name], url=url))
        tmp.chmod(0o755)
        tmp.replace(path)
        written.append(path)
    return written
