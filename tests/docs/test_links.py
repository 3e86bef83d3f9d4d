"""Every relative link in README.md and docs/ leads somewhere: a markdown link
`[text](path#anchor)` to an existing file (and, for a markdown file, to one of its
headings), and a plain mention of `docs/NAME.md` to an existing page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MENTION = re.compile(r"(?<![\w/.])docs/[\w./-]+\.md")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _text(page: Path) -> str:
    """The page without its fenced code blocks (examples, not links)."""
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation but `-`
    and `_` dropped, spaces as `-`, a repeated one numbered."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for heading in HEADING.findall(_text(page)):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    bad: list[str] = []
    text = _text(page)
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor}")
    for mention in MENTION.findall(text):
        if not (root / mention).exists():
            bad.append(f"{mention}: no such page")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_the_checker_finds_a_broken_link_mention_and_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Top\n\n## The site's part (`--x`)\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text("[a](a.md#the-sites-part---x) [b](a.md#top) [c](https://x/y.md)\n"
                    "[d](gone.md) [e](a.md#nowhere) see docs/ha.md\n"
                    "```\n[f](in-code.md)\n```\n", encoding="utf-8")
    assert broken_links(page, tmp_path) == ["gone.md: no such file",
                                            "a.md#nowhere: no heading #nowhere",
                                            "docs/ha.md: no such page"]
