"""Per-user rate limiting against a real controller, as a real Unix user over its
socket: a raw client over the rate gets 429 with Retry-After (listings are answered
on the read path, and refused there too); corral's own commands wait as told and
every one succeeds, no faster than the bucket allows; root is not limited."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from tests.e2e.cluster import make_cluster
from tests.e2e.users import ensure_user, run_as, user_pythonpath

LIMIT = "[rate_limit]\nenabled = true\nbucket_size = 2\nrefill_per_s = 2\n"

# GET /v1/jobs N times in a row on one connection, no waiting: each answer's status,
# Retry-After and message
RAW = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
out = []
for _ in range(int(sys.argv[2])):
    s.sendall(b"GET /v1/jobs HTTP/1.1\r\nHost: corral\r\n\r\n")
    status = int(f.readline().split()[1]); headers = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        k, _, v = line.decode().partition(":"); headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers["content-length"]))
    out.append([status, headers.get("retry-after"),
                json.loads(body).get("message") if status != 200 else None])
print(json.dumps(out))
"""


def test_a_user_over_the_rate_waits_and_root_does_not() -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-rl-"))
    root.chmod(0o755)
    try:
        user = ensure_user("corraltestr", root)
        pythonpath = user_pythonpath(root)
        c = make_cluster(root, extra_config=LIMIT)
        try:
            sock = str(c.state / "corral.sock")
            script = root / "raw.py"
            script.write_text(RAW)
            script.chmod(0o644)
            proc = run_as(user, [str(script), sock, "6"], c.env, pythonpath)
            answers = json.loads(proc.stdout)
            assert [a[0] for a in answers[:2]] == [200, 200]
            refused = [a for a in answers if a[0] == 429]
            assert refused, answers  # 6 at once against a bucket of 2 refilled at 2/s
            _, retry_after, message = refused[0]
            assert retry_after == "1"
            assert message.startswith("rate limit: user corraltestr is over 2 requests")
            # root (an administrator) is never held back
            proc = run_as(None, [str(script), sock, "20"], c.env, pythonpath)
            assert [a[0] for a in json.loads(proc.stdout)] == [200] * 20
            # the user's commands wait as they are told: every one succeeds, and 8 of
            # them take at least (8 - 2) / 2 s, the bucket's pace
            time.sleep(1.5)  # (the bucket refilled)
            t0 = time.monotonic()
            for _ in range(8):
                proc = run_as(user, ["-m", "corral.cli", "jobs"], c.env, pythonpath)
                assert proc.returncode == 0, proc.stderr
                assert proc.stdout.startswith("JOBID") or "JOBID" in proc.stdout
            assert time.monotonic() - t0 >= 2.5
        finally:
            c.down()
    finally:
        shutil.rmtree(root, ignore_errors=True)
