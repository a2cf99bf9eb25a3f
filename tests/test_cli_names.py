"""Option names users already know (issue #14, the CLI): vLLM's, transformers'/TRL's/PEFT's names as aliases
of hubmem's options, torch's dtype names everywhere, a help text on every option, and the service's query
parameters under the same names as the CLI's options."""

from __future__ import annotations

from typing import Any

import click
import pytest

from hubmem.cli.options import build_options
from hubmem.cli.report import report_cmd
from hubmem.schema.options import Options
from hubmem.service.params import ALIASES, INVERTED, QUERY_PARAMS, parse_options

# CLI options that shape the printout or the fetch, not the report: no query parameter by design
CLI_ONLY = {
    "token",  # the service reads the Authorization header
    "json", "bytes", "brief", "verbose", "no_train", "units",  # the service answers JSON
    "offline", "check", "cache_dir", "no_cache", "endpoint",  # the service's own fetch and its /check route
    "no_qlora_double_quant", "no_flash_attention",  # the "no" halves of --x/--no-x flags (x is a parameter)
}  # fmt: skip
# query parameters the CLI sets otherwise
API_ONLY = {
    "curve": "the web page's plot and GPU table; the terminal report prints the context table instead",
    "fit": "the CLI's verdict is for training when --train is given, else inference",
    "tensor_parallel": "the CLI's -tp/--tensor-parallel-size sets vLLM's TP and the training TP at once",
}


def cli_names() -> list[tuple[str, ...]]:
    """Every option of ``hubmem report`` as its long names with ``_`` for ``-``."""
    out = []
    for param in report_cmd.params:
        if isinstance(param, click.Option):
            names = [*param.opts, *param.secondary_opts]
            out.append(tuple(n[2:].replace("-", "_") for n in names if n.startswith("--")))
    return out


def parse(*args: str) -> Options:
    ctx = report_cmd.make_context("report", ["some/repo", *args])
    params: dict[str, Any] = dict(ctx.params)
    return build_options(params)


def test_every_cli_option_is_a_query_parameter_and_back() -> None:
    accepted = set(QUERY_PARAMS) | set(ALIASES) | set(INVERTED)
    for names in cli_names():  # every name of every option (its aliases too) is one the service takes
        assert set(names) - CLI_ONLY <= accepted, names
    reachable = {ALIASES.get(n, INVERTED.get(n, n)) for names in cli_names() for n in names}
    assert sorted(set(QUERY_PARAMS) - reachable) == sorted(API_ONLY)


def test_every_option_has_a_help_text() -> None:
    for param in report_cmd.params:
        if isinstance(param, click.Option):
            assert param.help and len(param.help) > 10, param.opts


@pytest.mark.parametrize(
    ("cli", "query"),
    [
        (["--max-model-len", "32768"], {"context": "32768"}),
        (["--max-num-seqs", "64"], {"max_num_seqs": "64"}),
        (["-tp", "2"], {"tensor_parallel_size": "2", "tensor_parallel": "2", "gpus": "2"}),
        (["--tensor-parallel-size", "2"], {"tp": "2", "tensor_parallel": "2", "gpus": "2"}),
        (["--gpu-memory-utilization", "0.8"], {"gpu_memory_utilization": "0.8"}),
        (["--kv-cache-dtype", "float16"], {"kv_cache_dtype": "float16"}),
        (["--gradient-checkpointing"], {"gradient_checkpointing": "true"}),
        (["--per-device-train-batch-size", "4"], {"per_device_train_batch_size": "4"}),
        (["--max-seq-length", "2048"], {"max_seq_length": "2048"}),
        (
            ["--lora-r", "8", "--target-modules", "q_proj,v_proj"],
            {"lora_r": "8", "target_modules": "q_proj,v_proj"},
        ),
        (["--optim", "paged_adamw_8bit"], {"optim": "paged_adamw_8bit"}),
        (["--precision", "bfloat16"], {"precision": "bf16"}),
        (["-ctk", "half", "-ctv", "bfloat16"], {"cache_type_k": "f16", "cache_type_v": "bfloat16"}),
        (["--no-mmap"], {"no_mmap": "1"}),
        (["--kv-cache-memory", "19.28GiB"], {"kv_cache_memory": "19.28GiB"}),
    ],
)
def test_aliases_mean_the_same_on_the_cli_and_in_the_api(cli: list[str], query: dict[str, str]) -> None:
    assert parse(*cli) == parse_options({k: [v] for k, v in query.items()})


def test_names_map_to_hubmems_values() -> None:
    training = parse("--optim", "adamw_bnb_8bit", "--gradient-checkpointing", "--lora-r", "8").training
    assert (training.optimizer, training.gradient_checkpointing, training.rank) == ("adamw-8bit", "full", 8)
    assert parse("--optim", "adamw_torch").training.optimizer == "adamw"
    assert parse("--gradient-checkpointing", "selective").training.gradient_checkpointing == "selective"
    for name, kv in (("bfloat16", "bfloat16"), ("half", "half"), ("float32", "float32")):
        assert parse("--kv-cache-dtype", name).kv.kv_dtype == kv
    assert parse("-ctk", "float32").llama_cpp.cache_type_k == "f32"
    assert parse("--ssm-dtype", "half").kv.ssm_dtype == "float16"
    assert parse("--adapter-dtype", "bfloat16").training.adapter_dtype == "bf16"
    assert parse_options({"optim": ["sgd"], "precision": ["float32"]}).training.precision == "fp32"


def test_alias_and_name_together_are_a_repeated_parameter() -> None:
    from hubmem.errors import InvalidOptionsError

    with pytest.raises(InvalidOptionsError, match="repeated"):
        parse_options({"context": ["1"], "max_model_len": ["2"]})
