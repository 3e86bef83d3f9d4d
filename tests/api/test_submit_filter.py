"""The site's submit filter in-process: it refuses, amends, or fails, on every
submit path, and a failing filter costs the job, not the controller."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.config import load_config
from corral.model.errors import InvalidRequest
from corral.services.controller import Controller
from corral.store.db import make_engine
from tests.api.harness import Ctx, run

FILTER = '''
import dataclasses
from corral.model.errors import SubmitRefused

SEEN = []

def check(caller, spec):
    SEEN.append((caller.user, spec.name))
    if spec.name == "refuse":
        raise SubmitRefused("jobs named refuse are not welcome here\\n(see the wiki)")
    if spec.name == "message":
        return "name an account"
    if spec.name == "amend":
        env = {**spec.environment, "FILTERED_FOR": caller.user}
        return dataclasses.replace(spec, time_limit_s=600, nice=5, environment=env)
    if spec.name == "amend-badly":
        return dataclasses.replace(spec, cpus_per_node=0)
    if spec.name == "amend-garbage":
        return dataclasses.replace(spec, nodes="two")
    if spec.name == "crash":
        return {}["no such key"]
    if spec.name == "odd":
        return 42
    return None
'''


def _config(tmp_path: Path) -> str:
    (tmp_path / "site_filter.py").write_text(FILTER)
    return f"""
[controller]
submit_filter = "{tmp_path}/site_filter.py:check"

[[partitions]]
name = "main"
default = true
"""


def _queued(ctx: Ctx) -> int:
    return len(ctx.ctl.jobs) + len(ctx.ctl.arrays.rests)


def test_the_filter_refuses_amends_and_fails_on_every_path(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        r = await ctx.submit(name="refuse")
        assert r.status_code == 403, r.text
        assert r.json() == {"error": "refused", "message": "submit refused: jobs named "
                            "refuse are not welcome here (see the wiki)"}
        r = await ctx.submit(name="message")
        assert (r.status_code, r.json()["message"]) == (403, "submit refused: name an account")
        r = await ctx.submit(name="refuse", array="0-9")  # an array: not one task queued
        assert r.status_code == 403, r.text
        assert _queued(ctx) == 0

        r = await ctx.submit(name="amend", nice=0)
        assert r.status_code == 201, r.text
        j = await ctx.job(int(r.json()["id"]))
        assert (j["time_limit_s"], j["spec"]["nice"]) == (600, 5)
        caller = ctx.ctl.jobs[j["id"]].user  # the filter saw who submitted it
        assert ctx.ctl.jobs[j["id"]].spec.environment["FILTERED_FOR"] == caller

        r = await ctx.submit(name="amend-badly")  # checked again after the filter
        assert r.status_code == 400, r.text
        assert r.json()["message"] == ("cpus_per_node: 0 is below the minimum of 1 "
                                       "(as amended by the site's submit filter)")
        r = await ctx.submit(name="amend-garbage")
        assert r.status_code == 400, r.text
        assert r.json()["message"] == ("nodes: 'two' is not of the type a job takes there "
                                       "(int) (as amended by the site's submit filter)")
        for name, what in (("crash", "raised KeyError: 'no such key'"),
                           ("odd", "returned int 42, not a JobSpec, None or a message")):
            r = await ctx.submit(name=name)
            assert r.status_code == 403, r.text
            message = r.json()["message"]
            assert message.startswith(f"submit refused: the site's submit filter "
                                      f"{tmp_path}/site_filter.py:check {what}"), message
            assert "\n" not in message
        assert _queued(ctx) == 1  # only the amended job

        r = await ctx.user.post("/v1/jobs:batch", json={"jobs": [
            {"name": "ok", "working_dir": "/tmp", "argv": ["true"]},
            {"name": "refuse", "working_dir": "/tmp", "argv": ["true"]},
            {"name": "crash", "working_dir": "/tmp", "argv": ["true"]},
            {"name": "amend", "working_dir": "/tmp", "argv": ["true"]}]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["accepted"], body["refused"]) == (2, 2)
        assert [i["error"] for i in body["results"]] == [None, "refused", "refused", None]
        amended = await ctx.job(int(body["results"][3]["id"]))
        assert amended["time_limit_s"] == 600
        assert _queued(ctx) == 3  # and the controller still serves
        assert (await ctx.user.get("/v1/jobs")).status_code == 200
    run(tmp_path, _config(tmp_path), {"n1": {}}, scenario)


@pytest.mark.parametrize(("ref", "error"), [
    ("{dir}/missing.py:check", "FileNotFoundError"),
    ("{dir}/site_filter.py:nothing", "AttributeError"),
    ("{dir}/site_filter.py:SEEN", "is a list, not a function"),
    ("no_such_site_module:check", "ModuleNotFoundError"),
])
def test_a_filter_that_cannot_be_loaded_stops_the_controller_from_starting(
        tmp_path: Path, ref: str, error: str) -> None:
    (tmp_path / "site_filter.py").write_text(FILTER)
    ref = ref.format(dir=tmp_path)
    (tmp_path / "corral.toml").write_text(f'[controller]\nsubmit_filter = "{ref}"\n')
    cfg = load_config(str(tmp_path))
    engine = make_engine(cfg.database_url)
    with pytest.raises(InvalidRequest) as e:
        Controller(cfg, engine)
    engine.dispose()
    assert str(e.value).startswith(f"controller.submit_filter: {ref!r}")
    assert error in str(e.value)
