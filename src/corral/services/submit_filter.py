"""The site's submit filter: a Python callable named in the configuration that sees
every job before it is queued and may refuse or amend it (Slurm's job_submit plugins
do this), docs/configuration.md.

    [controller]
    submit_filter = "mysite.filters:check"           # a module on the controller's path
    submit_filter = "/etc/corral/filter.py:check"    # or a file

`check(caller, spec)` is called with the `Caller` (user, uid, gid, role) and the
`JobSpec` asked for, on every submit path (one job, a batch, an array, the drop-in
commands), before anything is stored. It returns None (accepted as it is), a
JobSpec (the job as amended, e.g. `dataclasses.replace(spec, account="phys")`, which
is checked again as a submission is), or refuses the job: it raises SubmitRefused
(or returns a message). A filter that raises anything else, or returns anything
else, refuses the job too, saying that the filter failed; the controller logs the
traceback and carries on. The filter runs on the controller's event loop: it must
be quick and must not block.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import types
import typing
from collections.abc import Callable
from types import ModuleType
from typing import Any

from corral.model.errors import CorralError, InvalidRequest, SubmitRefused
from corral.model.job import JobSpec
from corral.services.identity import Caller
from corral.services.submit import validate_spec

log = logging.getLogger("corral.submit_filter")

MAX_MESSAGE_CHARS = 300
FILE_MODULE = "corral_site_submit_filter"

FilterFn = Callable[[Caller, JobSpec], object]


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[:MAX_MESSAGE_CHARS - 1] + "…"


def _module(where: str) -> ModuleType:
    if not where.endswith(".py"):
        return importlib.import_module(where)
    spec = importlib.util.spec_from_file_location(FILE_MODULE, where)
    if spec is None or spec.loader is None:
        raise ImportError(f"{where} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fits(value: object, hint: Any) -> bool:
    """Whether `value` is of the annotated type (the few kinds a JobSpec has)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is tuple:
        return isinstance(value, tuple) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


_SPEC_TYPES = typing.get_type_hints(JobSpec)


def check_types(spec: JobSpec) -> None:
    """Every field of an amended spec of its declared type (a JobSpec does not
    check its own)."""
    for f in dataclasses.fields(JobSpec):
        value = getattr(spec, f.name)
        if not _fits(value, _SPEC_TYPES[f.name]):
            hint = _SPEC_TYPES[f.name]
            raise InvalidRequest(f"{f.name}: {value!r:.60} is not of the type a job takes "
                                 f"there ({getattr(hint, '__name__', None) or hint})")


def load_filter(ref: str) -> FilterFn:
    """The callable `ref` names ("module:function" or "/path/file.py:function")."""
    where, _, name = ref.rpartition(":")
    try:
        fn = getattr(_module(where), name)
    except Exception as e:  # the site's code: anything may go wrong in it
        raise InvalidRequest(f"controller.submit_filter: {ref!r} cannot be loaded "
                             f"({type(e).__name__}: {_one_line(str(e))})") from None
    if not callable(fn):
        raise InvalidRequest(f"controller.submit_filter: {ref!r} is a "
                             f"{type(fn).__name__}, not a function")
    return fn  # type: ignore[no-any-return]


class SubmitFilter:
    def __init__(self, ref: str | None) -> None:
        self.ref = ref
        self.fn = load_filter(ref) if ref else None

    def apply(self, caller: Caller, spec: JobSpec) -> JobSpec:
        """The job as the filter accepts it; SubmitRefused if it does not."""
        if self.fn is None:
            return spec
        try:
            out = self.fn(caller, spec)
        except SubmitRefused as e:
            raise SubmitRefused(f"submit refused: {_one_line(e.message)}") from None
        except CorralError as e:  # the filter's own InvalidRequest, NotFound…
            raise type(e)(_one_line(e.message)) from None
        except Exception as e:
            log.exception("submit filter %s failed on a job of %s", self.ref, caller.user)
            raise self._failed(f"raised {type(e).__name__}: {_one_line(str(e))}") from None
        if out is None:
            return spec
        if isinstance(out, str):
            raise SubmitRefused(f"submit refused: {_one_line(out)}")
        if not isinstance(out, JobSpec):
            raise self._failed(f"returned {type(out).__name__} {out!r:.40}, not a JobSpec, "
                               "None or a message")
        try:
            check_types(out)
            validate_spec(out)
        except CorralError as e:
            raise type(e)(f"{e.message} (as amended by the site's submit filter)") from None
        except Exception as e:
            log.exception("submit filter %s amended a job of %s into an unreadable one",
                          self.ref, caller.user)
            raise self._failed(f"amended the job into one that cannot be read "
                               f"({type(e).__name__}: {_one_line(str(e))})") from None
        return out

    def _failed(self, what: str) -> SubmitRefused:
        return SubmitRefused(f"submit refused: the site's submit filter {self.ref} {what}; "
                             "the job was not queued (tell the cluster's administrators)")
