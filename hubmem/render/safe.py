"""The one way the terminal output shows text that comes from a repo (names, paths, revisions, config
values, error messages): as literal ``rich.text.Text``, never parsed as console markup, with control
characters shown escaped. A tensor named ``[/x]`` cannot break the printer, ``[red]`` or an ANSI escape
in a config value cannot restyle or hide output, a newline cannot start a second line, and ``[[gpus]]``
in a hint prints as written. Styles are attached to parts, never written into the text.
"""

from __future__ import annotations

import re

from rich.text import Text

Part = str | Text | tuple[str, str]  # plain text, a Text, or (text, style)
Basis = tuple[str, str]  # the basis label every section title carries, with its style
EXACT: Basis = ("exact", "bold green")
PROJECTED: Basis = ("projected", "bold yellow")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def literal(text: str) -> str:
    """``text`` with every control character (newline, escape ...) written as its ``\\x..`` escape."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def line(*parts: Part) -> Text:
    """One line from literal parts: ``line(("hubmem: gated:", "bold red"), " ", message)``."""
    out = Text()
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            out.append(literal(part[0]), style=part[1])
        else:
            out.append(literal(part))
    return out


def title(text: str, basis: Basis) -> Text:
    """A section title after a blank line: ``Weights [exact]``."""
    return Text("\n") + line((text, "bold"), " [", basis, "]")


def cells(*values: object) -> list[Text]:
    """Table cells as literal text (``Table.add_row`` would parse plain strings as markup)."""
    return [value if isinstance(value, Text) else line(str(value)) for value in values]
