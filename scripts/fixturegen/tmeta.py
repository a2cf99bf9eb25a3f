"""Tensor lists from real config.json files via transformers, on the meta device (no memory used).

transformers 5 fuses some checkpoint tensors in memory (e.g. MoE experts into one 3-D tensor). The
checkpoint names on the Hub are the *original* ones, so every in-memory tensor is passed through
transformers' own ``revert_weight_conversion`` (what ``save_pretrained`` does), one source tensor at a
time so that module order is kept (save_pretrained in transformers 4.x shards in module order).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from fixturegen.stheader import TORCH_TO_ST, TensorSpec

STR_TO_TORCH = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32", "half": "float16"}


def config_dtype(config: dict[str, Any]) -> str:
    for key in ("torch_dtype", "dtype"):
        if isinstance(config.get(key), str):
            return STR_TO_TORCH[config[key]]
    text = config.get("text_config")
    if isinstance(text, dict):
        return config_dtype(text)
    return "float32"  # transformers' default when the config names no dtype


def build_meta_model(
    config: dict[str, Any], *, model_class: str | None = None, dtype: str | None = None
) -> Any:
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    cfgd = copy.deepcopy(config)
    cfgd.pop("quantization_config", None)  # build the unquantized module tree; layouts are applied later
    cfgd.pop("auto_map", None)
    cfg = AutoConfig.for_model(**cfgd)
    torch_dtype = getattr(torch, dtype or config_dtype(config))
    with torch.device("meta"):
        if model_class is None:
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch_dtype)
        else:
            model = getattr(transformers, model_class)._from_config(cfg, dtype=torch_dtype)
    return model


class MetaResult(list[TensorSpec]):
    """The tensor list, plus which names are weights of linear layers (what quantizers convert)."""

    linear: set[str]


def meta_tensors(
    config: dict[str, Any],
    *,
    model_class: str | None = None,
    dtype: str | None = None,
    keep_tied: bool = False,
    revert: bool = True,
) -> MetaResult:
    """Checkpoint tensors (name, dtype, shape) in module order, as save_pretrained would store them."""
    import torch
    from transformers.core_model_loading import revert_weight_conversion
    from transformers.modeling_utils import remove_tied_weights_from_state_dict

    model = build_meta_model(config, model_class=model_class, dtype=dtype)
    modules = dict(model.named_modules())
    state = model.state_dict()
    if not keep_tied:
        state = remove_tied_weights_from_state_dict(state, model)
    out = MetaResult()
    out.linear = set()
    for key, tensor in state.items():
        owner, _, leaf = key.rpartition(".")
        mod = modules.get(owner)
        is_linear = isinstance(mod, torch.nn.Linear) and leaf == "weight"
        # fused MoE experts (3-D parameters of an *Experts module) are per-expert nn.Linear in the checkpoint
        is_linear |= mod is not None and "Experts" in type(mod).__name__ and tensor.dim() == 3
        converted = revert_weight_conversion(model, {key: tensor}) if revert else {key: tensor}
        for name, t in converted.items():
            out.append(TensorSpec(name, TORCH_TO_ST[str(t.dtype)], tuple(int(d) for d in t.shape)))
            if is_linear:
                out.linear.add(name)
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise SystemExit("FATAL: weight conversion produced duplicate names")
    return out


_EXPERT = re.compile(r"^(?P<pre>.*\.experts\.)(?P<j>\d+)\.(?P<leaf>.+)$")


def group_experts(tensors: list[TensorSpec], leaf_order: list[str]) -> list[TensorSpec]:
    """Re-order each contiguous run of per-expert tensors expert-major (transformers 4.x module order).

    ``leaf_order`` is the registration order of an expert's sub-modules (e.g. gate_proj, up_proj, down_proj).
    """
    out: list[TensorSpec] = []
    run: list[TensorSpec] = []
    run_prefix = None

    def flush() -> None:
        def key(t: TensorSpec) -> tuple[int, int]:
            m = _EXPERT.match(t.name)
            assert m
            leaf = m.group("leaf")
            rank = next((i for i, p in enumerate(leaf_order) if leaf.startswith(p)), len(leaf_order))
            return int(m.group("j")), rank

        out.extend(sorted(run, key=key))
        run.clear()

    for t in tensors:
        m = _EXPERT.match(t.name)
        prefix = m.group("pre") if m else None
        if prefix != run_prefix and run:
            flush()
        run_prefix = prefix
        if m:
            run.append(t)
        else:
            out.append(t)
    if run:
        flush()
    return out


def move_before(tensors: list[TensorSpec], pattern: str, anchor: str) -> list[TensorSpec]:
    """Move each tensor matching ``pattern`` (regex with a layer group) just before the first tensor of the
    same layer matching ``anchor`` (where transformers 5 registers a module in another order than 4.x)."""
    pat, anc = re.compile(pattern), re.compile(anchor)
    moving = [t for t in tensors if pat.search(t.name)]
    rest = [t for t in tensors if not pat.search(t.name)]
    by_layer: dict[str, list[TensorSpec]] = {}
    for t in moving:
        m = pat.search(t.name)
        assert m
        by_layer.setdefault(m.group(1), []).append(t)
    out: list[TensorSpec] = []
    placed: set[str] = set()
    for t in rest:
        m = anc.search(t.name)
        if m and m.group(1) in by_layer and m.group(1) not in placed:
            out.extend(by_layer[m.group(1)])
            placed.add(m.group(1))
        out.append(t)
    if placed != set(by_layer):
        raise SystemExit(
            f"FATAL: move_before({pattern!r}) found no anchor for layers {set(by_layer) - placed}"
        )
    return out


def rename(tensors: list[TensorSpec], fn: Callable[[str], str | None]) -> list[TensorSpec]:
    """Rename tensors; ``fn`` returning None drops the tensor."""
    out = []
    for t in tensors:
        new = fn(t.name)
        if new is not None:
            out.append(TensorSpec(new, t.dtype, t.shape))
    return out
