"""Shared test fixtures: where shared/ lives, the PostgreSQL URL."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
PG_URL = os.environ.get("CORRAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A TCP port free on the loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

# Tests that take more than a few seconds each, marked `slow` here in one place
# (`scripts/test --quick` and `-m "not slow"` leave them out). The unit tier's were
# measured (3.5 to 20 s each on a loaded 2-core machine); the system tier's are so
# by what they do: explicit sleeps, hundreds of jobs, a controller restart, or a
# third-party workflow tool starting up.
SLOW = (
    "tests/agent/test_launcher.py::test_many_short_jobs_are_all_reaped",
    "tests/sim/test_sdsc_cqsim.py::test_every_start_time_matches_cqsim",
    "tests/sim/test_cli_and_reader.py::test_cli_json_csv_plots",
    "tests/sched/test_properties.py::test_easy_never_delays_the_head",
    "tests/sched/test_properties.py::test_no_job_enters_a_foreign_reservation",
    "tests/sched/test_properties.py::test_never_over_allocates_and_matches",
    "tests/sched/test_properties.py::test_conservative_later_jobs_never_delay_earlier_ones",
    "tests/sched/test_properties.py::test_same_inputs_same_decisions",
    "tests/sched/test_stateful.py::TestLoop",
    "tests/cli/test_scripts.py::test_every_slow_entry_names_tests_and_marks_them",
    "tests/e2e/test_jobs.py::test_two_hundred_jobs_never_more_than_two_at_once",
    "tests/e2e/test_jobs.py::test_job_endings",
    "tests/e2e/test_restart.py",
    "tests/e2e/test_arrays.py",
    "tests/compat/test_arrays.py",
    "tests/e2e/test_idempotency.py::test_a_retry_after_a_controller_crash_returns_the_same_job",
    "tests/e2e/test_policies.py",
    "tests/e2e/test_jdl.py::test_a_checkpointable_job_saves_when_preempted_and_resumes",
    "tests/e2e/test_netns.py",
    "tests/e2e/test_netns_sandboxes.py",
    "tests/e2e/test_netns_login.py",
    "tests/e2e/test_takeover.py",
    "tests/e2e/test_netns_takeover.py",
    "tests/e2e/test_pilots.py",
    "tests/e2e/test_why.py",
    "tests/e2e/test_gpus.py",
    "tests/e2e/test_reaching.py::test_submit_wait_outlives_the_client_timeout",
    "tests/e2e/test_hostile.py",
    "tests/e2e/test_remote_login.py",
    "tests/e2e/test_uws.py",
    "tests/e2e/test_dashboard.py",
    "tests/api/test_fuzz.py",
    "tests/compat/test_snakemake.py",
    "tests/compat/test_snakemake_plugin_suite.py",
    "tests/compat/test_parsl.py",
    "tests/compat/test_dask_jobqueue.py",
    "tests/compat/test_submitit.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
