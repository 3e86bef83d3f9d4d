"""The files that hold `--credential` jobs' access tokens on their batch node.

Each job's token is in SPOOL/credentials/job-ID.token, mode 0600 and owned by the
job's user (the agent runs as root; otherwise the file is the agent's own, as are
its jobs), in a directory others may traverse but not list (0711). A renewal
replaces the file whole (a new file, then rename): a job reading it sees the old
token or the new one, never a part. The file goes when the job ends. The job finds
it in CORRAL_CREDENTIAL_FILE and BEARER_TOKEN_FILE (the WLCG bearer token discovery
name, as HTCondor sets it)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from pathlib import Path

from corral.agent.protocol import Launch

log = logging.getLogger(__name__)

ENV_NAMES = ("CORRAL_CREDENTIAL_FILE", "BEARER_TOKEN_FILE")


class CredentialFiles:
    def __init__(self, spool: Path) -> None:
        self.dir = spool / "credentials"
        self.owners: dict[int, tuple[int, int]] = {}  # job -> (uid, gid) of its file

    def path(self, job_id: int) -> Path:
        return self.dir / f"job-{job_id}.token"

    def prepare(self, launch: Launch, token: str | None) -> Launch:
        """Before a credential job starts: its file (when the token is there yet)
        and the variables naming it."""
        self.owners[launch.job_id] = (launch.uid, launch.gid)
        if token is not None:
            try:
                self.write(launch.job_id, token)
            except OSError as e:
                log.error("job %d: cannot write its credential file %s: %s",
                          launch.job_id, self.path(launch.job_id), e.strerror)
        env = dict(launch.environment)
        env.update(dict.fromkeys(ENV_NAMES, str(self.path(launch.job_id))))
        return dataclasses.replace(launch, environment=env)

    def renew(self, job_id: int, token: str) -> bool:
        """A renewed token for a job running here -> False if it is not a credential
        job of this agent (an order that arrived after the job's end)."""
        if job_id not in self.owners:
            try:  # a job this agent re-adopted after a restart
                st = self.path(job_id).stat()
            except OSError:
                return False
            self.owners[job_id] = (st.st_uid, st.st_gid)
        try:
            self.write(job_id, token)
        except OSError as e:
            log.error("job %d: cannot renew its credential file: %s", job_id, e.strerror)
            return False
        return True

    def write(self, job_id: int, token: str) -> Path:
        uid, gid = self.owners[job_id]
        self.dir.mkdir(mode=0o711, exist_ok=True)
        path = self.path(job_id)
        tmp = self.dir / f".job-{job_id}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            if os.geteuid() == 0:
                os.fchown(fd, uid, gid)
            os.write(fd, token.encode() + b"\n")
            os.fsync(fd)
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, path)
        return path

    def remove(self, job_id: int) -> None:
        """The job has ended here: its token goes."""
        self.owners.pop(job_id, None)
        with contextlib.suppress(FileNotFoundError):
            self.path(job_id).unlink()
