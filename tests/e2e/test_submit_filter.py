"""The site's submit filter with a real controller: `corral submit` and the drop-in
`sbatch` are refused with the filter's one-line message, or queue the job as the
filter amended it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.cluster import make_cluster

FILTER = '''
import dataclasses
from corral.model.errors import SubmitRefused

def check(caller, spec):
    if spec.name == "refuse":
        raise SubmitRefused(f"{caller.user}: jobs named refuse are not welcome here")
    if spec.name == "amend":
        return dataclasses.replace(spec, time_limit_s=600)
    if spec.name == "crash":
        raise RuntimeError("the site's database is down")
    return None
'''


def test_corral_submit_and_sbatch_go_through_the_filter() -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-e2e-"))
    root.chmod(0o755)
    (root / "site_filter.py").write_text(FILTER)
    c = make_cluster(root, controller_config=f'submit_filter = "{root}/site_filter.py:check"')
    try:
        refused = c.corral("submit", "-J", "refuse", "--wrap", "true", check=False)
        assert refused.returncode != 0
        assert "Traceback" not in refused.stderr
        assert "submit refused: " in refused.stderr
        assert "jobs named refuse are not welcome here" in refused.stderr
        crashed = c.corral("submit", "-J", "crash", "--wrap", "true", check=False)
        assert crashed.returncode != 0 and "Traceback" not in crashed.stderr
        assert "submit filter" in crashed.stderr
        assert "RuntimeError: the site's database is down" in crashed.stderr
        job_id = int(c.corral("submit", "--parsable", "-J", "amend", "-t", "5",
                              "--wrap", "true").stdout)
        assert c.show(job_id)["time_limit_s"] == 600
        assert c.wait(job_id)["state"] == "COMPLETED"

        c.corral("compat", "install", str(root / "bin"))
        env = {**c.env, "PATH": f"{root / 'bin'}:{c.env.get('PATH', '/usr/bin:/bin')}"}
        sbatch = subprocess.run(["sbatch", "-J", "refuse", "--wrap", "true"], env=env,
                                cwd=root, capture_output=True, text=True, timeout=60)
        assert sbatch.returncode != 0 and "Traceback" not in sbatch.stderr
        assert "jobs named refuse are not welcome here" in sbatch.stderr
        sbatch = subprocess.run(["sbatch", "--parsable", "-J", "amend", "--wrap", "true"],
                                env=env, cwd=root, capture_output=True, text=True,
                                timeout=60)
        assert sbatch.returncode == 0, sbatch.stderr
        assert c.show(int(sbatch.stdout.split(";")[0]))["time_limit_s"] == 600
        with c.client() as client:
            assert {j["name"] for j in client.jobs(history=True)} == {"amend"}
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
