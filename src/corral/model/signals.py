"""`--signal=[B:]SIG[@seconds]`: a warning signal sent before the time limit."""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass

from corral.model.errors import InvalidRequest

DEFAULT_BEFORE_S = 60
MAX_BEFORE_S = 65535


@dataclass(frozen=True, slots=True)
class SignalSpec:
    signum: int
    before_s: int
    main_only: bool  # "B:": only the batch script's own process


def signal_number(field: str, name: str) -> int:
    text = name.strip()
    if text.isdigit():
        num = int(text)
        if not 1 <= num <= 64:
            raise InvalidRequest(f"{field}: signal {num} is outside 1..64")
        return num
    key = text.upper()
    key = key if key.startswith("SIG") else "SIG" + key
    try:
        return int(_signal.Signals[key])
    except KeyError:
        raise InvalidRequest(f"{field}: {name!r} is not a signal name") from None


def parse_signal_spec(text: str) -> SignalSpec:
    body = text.strip()
    main_only = False
    if body[:2].upper() == "B:":
        main_only, body = True, body[2:]
    name, at, before = body.partition("@")
    before_s = DEFAULT_BEFORE_S
    if at:
        if not before.isdigit() or int(before) > MAX_BEFORE_S:
            raise InvalidRequest(
                f"signal: {text!r}: the time before the limit must be 0..{MAX_BEFORE_S} seconds"
            )
        before_s = int(before)
    return SignalSpec(signal_number("signal", name), before_s, main_only)
