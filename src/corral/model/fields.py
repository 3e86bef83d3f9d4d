"""The shapes of the values that cross the wire, as pydantic types built on the
ranges of corral.model.bounds: the REST request bodies (corral.api.schemas) and the
agent protocol's messages (corral.model.agent_messages) share them. A value outside
is refused naming the field and the limit; floats are finite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from corral.model import bounds as b


def checked(problem: Callable[[str], str | None]) -> AfterValidator:
    """A text check: `problem(value)` says what is wrong with it, or None."""
    def check(value: str) -> str:
        found = problem(value)
        if found is not None:
            raise ValueError(found)
        return value
    return AfterValidator(check)


def ints(bounds: tuple[int, int]) -> Any:
    return Field(ge=bounds[0], le=bounds[1])


def floats(bounds: tuple[float, float]) -> Any:
    return Field(ge=bounds[0], le=bounds[1], allow_inf_nan=False)


Text = Annotated[str, checked(b.text_problem)]  # free text: no NUL, no lone surrogate
Ident = Annotated[str, checked(lambda v: b.name_problem(v, b.MAX_IDENT_LEN))]
Feature = Annotated[str, checked(lambda v: b.name_problem(v, b.MAX_FEATURE_LEN))]
NodeName = Annotated[str, checked(b.node_name_problem)]
Features = Annotated[list[Feature], Field(max_length=b.MAX_FEATURES)]
JobId = Annotated[int, ints(b.JOB_ID)]
Epoch = Annotated[float, floats(b.EPOCH_S)]
Measure = Annotated[float, floats(b.MEASURE)]
# what a node's programs said (health checks, prologs, failed starts): kept, made storable
Message = Annotated[str, AfterValidator(b.storable)]
