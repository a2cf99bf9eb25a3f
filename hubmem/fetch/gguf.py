"""Which GGUF of a repo to read, decided from the file list alone (no I/O).

* Every ``.gguf`` is listed. Split files (``llama-gguf-split``: ``<name>-00001-of-00003.gguf``) form one
  model, read shard by shard; ``mmproj*`` files (multimodal projectors, loaded beside a language model with
  ``--mmproj``) are told apart and never chosen by default.
* ``--gguf-file NAME`` picks a model by file name (the repo path, the bare name, or a split model's name
  without the shard suffix); ``--quant Q4_K_M`` by the quantization its name carries.
* Otherwise the default is the one a user would pick: the only model there is, else Q4_K_M (the
  quantization llama.cpp's quick start, Ollama and LM Studio default to), else the first present of
  :data:`PREFERENCE` (the common 4-5 bit K-quants, then 8-bit and 16-bit), else the first by name.
* GGUF-my-repo (the Hub's conversion Space) names its repos ``<model>-<QUANT>-GGUF`` and the file
  ``<model lower case>-<quant lower case>.gguf``: :func:`conventional_name` lets the fetch read that file
  speculatively, before the file list arrives.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from hubmem.errors import BadOptionError
from hubmem.snapshot import GGUFModel

_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
_QUANT = re.compile(
    r"(?:^|[-_.])(?P<q>I?Q\d_K(?:_(?:XXS|XS|S|M|L|XL))?|IQ\d_(?:XXS|XS|S|M|NL)|Q\d_\d|TQ\d_\d|MXFP4(?:_MOE)?"
    r"|BF16|F16|F32|FP16)(?=[-_.]|$)",
    re.IGNORECASE,
)
_GGUF_MY_REPO = re.compile(r"^(?P<model>.+)-(?P<quant>I?Q\d\w*|F16|BF16|F32)-GGUF$", re.IGNORECASE)
PREFERENCE = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q4_0", "Q6_K", "Q8_0", "BF16", "F16", "F32")


def quant_of(name: str) -> str | None:
    """The quantization a GGUF file name carries (upper case), e.g. ``Qwen3-8B-Q4_K_M.gguf`` -> ``Q4_K_M``."""
    found = _QUANT.findall(name.removesuffix(".gguf"))
    if not found:
        return None
    q = str(found[-1]).upper()
    return "F16" if q == "FP16" else q


def gguf_models(paths: Iterable[str]) -> list[GGUFModel]:
    """Every GGUF model among ``paths``: splits grouped (shards in order), in name order."""
    splits: dict[tuple[str, str], list[tuple[int, str]]] = {}
    models: list[GGUFModel] = []
    for path in sorted(p for p in paths if p.lower().endswith(".gguf")):
        base = posixpath.basename(path)
        m = _SPLIT.match(base)
        if m is None:
            models.append(_model(base, (path,)))
        else:
            folder = posixpath.dirname(path)
            splits.setdefault((folder, m["stem"]), []).append((int(m["no"]), path))
    for (_, stem), shards in splits.items():
        models.append(_model(stem + ".gguf", tuple(p for _, p in sorted(shards))))
    return sorted(models, key=lambda m: m.name)


def _model(name: str, paths: tuple[str, ...]) -> GGUFModel:
    return GGUFModel(name, paths, quant_of(name), posixpath.basename(name).lower().startswith("mmproj"))


def choose_gguf(
    models: list[GGUFModel], *, gguf_file: str | None = None, quant: str | None = None
) -> tuple[GGUFModel, str]:
    """The model to read and why. Raises BadOptionError when ``gguf_file`` / ``quant`` match none."""
    if gguf_file:
        named = [m for m in models if gguf_file in (m.name, *m.paths, *map(posixpath.basename, m.paths))]
        if not named:
            raise _no_match(f"no GGUF file {gguf_file!r}", models)
        return named[0], f"--gguf-file {gguf_file}"
    candidates = [m for m in models if not m.mmproj] or models
    if quant:
        wanted = [m for m in candidates if m.quant == quant.upper()]
        if not wanted:
            raise _no_match(f"no GGUF file of quantization {quant.upper()}", models)
        return wanted[0], f"--quant {quant.upper()}"
    if len(candidates) == 1:
        return candidates[0], "the only GGUF model in the repo"
    for q in PREFERENCE:
        match = next((m for m in candidates if m.quant == q), None)
        if match is not None:
            return match, _preferred(q) + " (--gguf-file / --quant pick another)"
    return candidates[
        0
    ], "the first GGUF by name: no known quantization in the names (--gguf-file picks another)"


def _preferred(quant: str) -> str:
    if quant == PREFERENCE[0]:
        return f"{quant}, the quantization llama.cpp, Ollama and LM Studio default to"
    return f"no {PREFERENCE[0]}; {quant} comes first in the order {', '.join(PREFERENCE)}"


def _no_match(problem: str, models: list[GGUFModel]) -> BadOptionError:
    names = ", ".join(m.name for m in models) or "none"
    return BadOptionError(problem, hint=f"GGUF models in the repo: {names}")


def conventional_name(repo_id: str) -> str | None:
    """The file GGUF-my-repo writes into ``<user>/<model>-<QUANT>-GGUF``: ``<model>-<quant>.gguf`` in lower
    case (ggml-org/gguf-my-repo app.py), or None for a repo not named that way."""
    m = _GGUF_MY_REPO.match(repo_id.rsplit("/", 1)[-1])
    return None if m is None else f"{m['model'].lower()}-{m['quant'].lower()}.gguf"
