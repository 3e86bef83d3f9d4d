"""The pilot factory's loop (docs/pilots.md). Per site, every `poll_s`: ask the
controller what waits for the site (`GET /v1/sites`), list the factory's pilots in
the site's batch system, and submit or withdraw pilots (corral.pilot.plan). Each pilot
is a small shell script that runs `corral-agent --pilot` with a token of its own,
signed with the site's key: it may register one node of that site, until its
allocation could have ended."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.client import Client
from corral.config import Config, SiteConfig, load_config
from corral.model.errors import CorralError, InvalidRequest
from corral.model.pilots import MIN_KEY_BYTES, mint_token
from corral.pilot.batch import BatchError, BatchSystem, Request, batch_system
from corral.pilot.plan import plan

log = logging.getLogger("corral.pilot")
LOG_FORMAT = "%(asctime)s corral-pilot[%(process)d] %(levelname)s %(message)s"


def read_site_key(site: SiteConfig) -> bytes:
    """The site's key: at least MIN_KEY_BYTES, readable by its owner only."""
    path = site.key_file
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            key = f.read(4096).strip()
    except OSError as exc:
        raise CorralError(f"sites {site.name}: key_file {path}: {exc.strerror or exc}"
                          ) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CorralError(f"sites {site.name}: key_file {path} may be read by other users "
                          f"(mode {stat.S_IMODE(st.st_mode):04o}): make it 0600")
    if len(key) < MIN_KEY_BYTES:
        raise CorralError(f"sites {site.name}: key_file {path} holds {len(key)} bytes, "
                          f"fewer than {MIN_KEY_BYTES}")
    return key


def pilot_script(site: SiteConfig, node: str, token: str) -> str:
    """The batch job: the agent in pilot mode, for this node of this site."""
    agent = site.agent_command or [sys.executable, "-m", "corral.agent.main"]
    argv = [*agent, "--pilot", "--site", site.name, "--node", node,
            "--controller", site.controller_url,
            "--wall-time-s", str(site.pilot_wall_time_s),
            "--deadline-margin-s", str(site.deadline_margin_s),
            "--idle-timeout-s", str(site.idle_timeout_s), "--mem-mb", str(site.pilot_mem_mb),
            "--no-cgroups"]
    return (f"#!/bin/sh\n"
            f"# corral pilot {node} of site {site.name} (written by corral pilot)\n"
            f"CORRAL_PILOT_TOKEN={shlex.quote(token)}\n"
            f"export CORRAL_PILOT_TOKEN\n"
            f"exec {shlex.join(argv)}\n")


@dataclass
class SiteFactory:
    site: SiteConfig
    batch: BatchSystem
    key: bytes
    work: Path  # scripts, logs, the pilots' list
    pilots: dict[str, dict[str, object]] = field(default_factory=dict)  # batch id -> facts
    submitted: int = 0

    @classmethod
    def of(cls, cfg: Config, site: SiteConfig) -> SiteFactory:
        work = Path(cfg.state_dir) / "pilots" / site.name
        work.mkdir(parents=True, exist_ok=True)
        os.chmod(work, 0o700)
        batch = batch_system(site.batch, site.bin_dir, site.env, site.command_prefix)
        f = cls(site, batch, read_site_key(site), work)
        f._load()
        return f

    @property
    def _list_file(self) -> Path:
        return self.work / "pilots.json"

    def _load(self) -> None:
        try:
            data = json.loads(self._list_file.read_text())
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            self.pilots = {str(k): v for k, v in data.items() if isinstance(v, dict)}

    def _save(self) -> None:
        tmp = self._list_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.pilots, sort_keys=True))
        tmp.replace(self._list_file)

    def step(self, summary: dict[str, Any] | None) -> None:
        """One pass: compare what waits for the site with the pilots."""
        listed = self.batch.states()
        ours = {i: s for i, s in listed.items() if i in self.pilots}
        gone = [i for i in self.pilots if i not in listed]
        for i in gone:
            log.info("site %s: pilot %s (batch job %s) has ended", self.site.name,
                     self.pilots[i].get("node"), i)
            del self.pilots[i]
        nodes = summary.get("nodes", []) if summary else []
        registered = {str(n["batch_job"]) for n in nodes
                      if isinstance(n, dict) and n.get("batch_job")}
        queued = int(summary.get("queued_cpus", 0)) if summary else 0
        todo = plan(queued, self.site.pilot_cpus, self.site.max_pilots, ours, registered)
        for i in todo.withdraw:
            log.info("site %s: nothing waits; withdrawing queued pilot %s", self.site.name, i)
            try:
                self.batch.cancel(i)
            except BatchError as exc:
                log.warning("site %s: %s", self.site.name, exc)
        for _ in range(todo.submit):
            self._submit()
        if gone or todo.submit:
            self._save()

    def _submit(self) -> None:
        site = self.site
        node = f"{site.name}-{secrets.token_hex(4)}"
        # its token outlives any allocation it could get: its wall time, after at most
        # a day in the batch queue (a pilot starting later cannot register, and exits)
        expires = time.time() + site.pilot_wall_time_s + 86400
        script = self.work / f"{node}.sh"
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(fd, "w") as f:
            f.write(pilot_script(site, node, mint_token(self.key, site.name, node, expires)))
        req = Request(name=f"corral-pilot-{site.name}", script=script,
                      log=self.work / f"{node}.log", wall_time_s=site.pilot_wall_time_s,
                      cpus=site.pilot_cpus, mem_mb=site.pilot_mem_mb,
                      options=tuple(site.submit_options))
        job_id = self.batch.submit(req)
        self.pilots[job_id] = {"node": node, "t_submit": time.time()}
        self.submitted += 1
        log.info("site %s: submitted pilot %s as %s job %s", site.name, node,
                 self.batch.kind, job_id)


def run_factory(names: list[str], *, once: bool = False, verbose: bool = False,
                cfg: Config | None = None) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT,
                        stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cfg = cfg or load_config()
    for name in names:
        if cfg.site(name) is None:
            have = ", ".join(s.name for s in cfg.sites) or "none"
            raise InvalidRequest(f"site: no site named {name!r} in the configuration "
                                 f"(have: {have})")
    chosen = [s for s in cfg.sites if not names or s.name in names]
    if not chosen:
        raise InvalidRequest("sites: the configuration has no [[sites]] entry")
    factories = [SiteFactory.of(cfg, s) for s in chosen]
    due = dict.fromkeys(range(len(factories)), 0.0)
    log.info("pilot factory for site(s) %s", ", ".join(s.name for s in chosen))
    with Client() as client:
        while True:
            now = time.monotonic()
            ready = [i for i, t in due.items() if t <= now]
            if ready:
                try:
                    summaries = {s["name"]: s for s in client.sites()}
                except CorralError as exc:
                    log.warning("controller: %s", exc)
                    summaries = None
                for i in ready:
                    f = factories[i]
                    due[i] = now + f.site.poll_s
                    if summaries is None:
                        continue
                    try:
                        f.step(summaries.get(f.site.name))
                    except BatchError as exc:
                        log.warning("site %s: %s", f.site.name, exc)
            if once:
                return
            time.sleep(max(0.05, min(due.values()) - time.monotonic()))
