"""Is this text a JDL? Read before anything heavy is imported (`corral submit`'s fast
path asks it of every script)."""

from __future__ import annotations

import re

_ATTR = re.compile(r"^\s*(Executable|JobType|Type|Nodes)\s*=", re.IGNORECASE | re.MULTILINE)


def looks_like_jdl(text: str) -> bool:
    """A ClassAd (`[ ... ]`) or JDL statements (`Executable = "...";`), and not a
    script with an interpreter line."""
    body = "\n".join(line for line in text.splitlines()
                     if line.strip() and not line.lstrip().startswith(("#", "//")))
    if text.startswith("#!"):
        return False
    return body.lstrip().startswith("[") or bool(_ATTR.search(body))
