"""The one line a request's validation error becomes (corral.api.errors)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from corral.api.errors import validation_message

SECONDS = TypeAdapter(Annotated[float, Field(ge=0, le=3600)])


def _first_error(value: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as e:
        SECONDS.validate_python(value)
    err: dict[str, Any] = dict(e.value.errors()[0])
    err["loc"] = ("query", "timeout_s")
    return err


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("nan", "timeout_s: 'nan' is not a finite number"),
        ("inf", "timeout_s: 'inf' is not a finite number"),
        ("-inf", "timeout_s: '-inf' is not a finite number"),
        (float("nan"), "timeout_s: nan is not a finite number"),
        ("5000", "timeout_s: '5000' is over the maximum of 3600.0"),
        ("-5", "timeout_s: '-5' is below the minimum of 0.0"),
        ("soon", "timeout_s: Input should be a valid number, unable to parse string as a "
                 "number (got 'soon')"),
    ],
)
def test_a_bad_number_is_named_for_what_is_wrong(value: Any, line: str) -> None:
    """A NaN or an infinity is not 'over the maximum' (pydantic reports it out of
    every range): it is said to be what it is."""
    assert validation_message(_first_error(value)) == line
