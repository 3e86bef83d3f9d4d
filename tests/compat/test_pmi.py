"""srun's PMI server (corral.compat.slurm.pmi) spoken to as MPICH's PMI client does."""

from __future__ import annotations

import socket
import threading

from corral.compat.slurm.pmi import PmiServer, task_argv


def _rank(port: int, rank: int, out: dict[int, list[str]]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rw")

        def ask(line: str, answers: int = 1) -> list[str]:
            f.write(line + "\n")
            f.flush()
            return [f.readline().strip() for _ in range(answers)]

        got = ask(f"cmd=initack pmiid={rank}", 4)
        got += ask("cmd=init pmi_version=1 pmi_subversion=1")
        got += ask("cmd=get_my_kvsname")
        got += ask(f"cmd=put kvsname=kvs_corral_0 key=card-{rank} value=addr-{rank}")
        got += ask("cmd=barrier_in")
        got += ask(f"cmd=get kvsname=kvs_corral_0 key=card-{(rank + 1) % 3}")
        got += ask("cmd=get kvsname=kvs_corral_0 key=PMI_process_mapping")
        got += ask("cmd=frobnicate")
        got += ask("cmd=finalize")
        out[rank] = got


def test_three_ranks_exchange_cards_across_a_barrier() -> None:
    server = PmiServer().start()  # its size comes once the step is made
    out: dict[int, list[str]] = {}
    threads = [threading.Thread(target=_rank, args=(server.port, r, out)) for r in range(3)]
    try:
        for t in threads:
            t.start()
        server.set_size(3)
        for t in threads:
            t.join(20)
    finally:
        server.close()
    assert sorted(out) == [0, 1, 2]
    for rank, got in out.items():
        assert got[:4] == ["cmd=initack", "cmd=set size=3", f"cmd=set rank={rank}",
                           "cmd=set debug=0"]
        assert got[4] == "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0"
        assert got[5] == "cmd=my_kvsname kvsname=kvs_corral_0 rc=0"
        assert got[6:8] == ["cmd=put_result rc=0", "cmd=barrier_out rc=0"]
        assert got[8] == f"cmd=get_result rc=0 value=addr-{(rank + 1) % 3}"
        assert got[9] == "cmd=get_result rc=-1 msg=key_not_found"
        assert got[10] == "cmd=frobnicate rc=-1 msg=unknown_command"
        assert got[11] == "cmd=finalize_ack rc=0"


def test_tasks_get_their_rank_from_slurm_procid() -> None:
    import subprocess

    argv = task_argv(["sh", "-c", 'echo "$PMI_PORT $PMI_ID $PMI_RANK $PMI_SIZE"'], 4242)
    env = {"SLURM_LAUNCH_NODE_IPADDR": "10.1.2.3", "SLURM_PROCID": "2", "SLURM_NTASKS": "4",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    assert out == "10.1.2.3:4242 2 2 4\n"
