"""The token file of a `--credential` job (agent/credentials.py): mode 0600, owned
by the job's user, replaced whole on renewal, named in the job's environment, gone
at the end; a renewal for a job not running here writes nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from corral.agent.credentials import CredentialFiles
from corral.agent.protocol import Launch

OTHER_UID, OTHER_GID = 65534, 65534  # nobody


def _launch(uid: int, gid: int) -> Launch:
    return Launch.from_dict({"job_id": 7, "uid": uid, "gid": gid, "argv": ["true"],
                             "working_dir": "/tmp", "environment": {"A": "1"}})


def test_the_file_is_the_jobs_users_alone_and_goes_at_the_end(tmp_path: Path) -> None:
    uid, gid = (OTHER_UID, OTHER_GID) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    files = CredentialFiles(tmp_path)
    launch = files.prepare(_launch(uid, gid), "token-1")
    path = files.path(7)
    assert launch.environment["CORRAL_CREDENTIAL_FILE"] == str(path)
    assert launch.environment["BEARER_TOKEN_FILE"] == str(path)
    assert launch.environment["A"] == "1"
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o711
    assert path.read_text() == "token-1\n"

    assert files.renew(7, "token-2")
    st2 = path.stat()
    assert path.read_text() == "token-2\n"
    assert st2.st_ino != st.st_ino  # a new file renamed in place, never rewritten
    assert stat.S_IMODE(st2.st_mode) == 0o600 and st2.st_uid == uid
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left

    files.remove(7)
    assert not path.exists()
    assert not files.renew(7, "token-3")  # an order after the end
    assert not path.exists()


def test_a_restarted_agent_renews_the_file_of_a_job_it_readopted(tmp_path: Path) -> None:
    uid, gid = (OTHER_UID, OTHER_GID) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    CredentialFiles(tmp_path).prepare(_launch(uid, gid), "token-1")
    again = CredentialFiles(tmp_path)  # knows nothing of job 7 but its file
    assert again.renew(7, "token-2")
    st = again.path(7).stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (uid, 0o600)
    assert not again.renew(8, "token-x")


def test_a_launch_whose_token_is_not_there_yet_names_the_file(tmp_path: Path) -> None:
    files = CredentialFiles(tmp_path)
    launch = files.prepare(_launch(os.getuid(), os.getgid()), None)
    assert launch.environment["CORRAL_CREDENTIAL_FILE"] == str(files.path(7))
    assert not files.path(7).exists()
    assert files.renew(7, "token-1")  # the first renewal writes it
    assert files.path(7).read_text() == "token-1\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="reading as another user needs root")
def test_another_user_cannot_read_it(tmp_path: Path) -> None:
    tmp_path.chmod(0o711)
    files = CredentialFiles(tmp_path)
    files.prepare(_launch(OTHER_UID, OTHER_GID), "secret")
    pid = os.fork()
    if pid == 0:  # as a third user
        code = 1
        try:
            os.setgid(65533)
            os.setuid(65533)
            try:
                files.path(7).read_text()
            except PermissionError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
