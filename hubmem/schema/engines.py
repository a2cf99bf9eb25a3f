"""What an inference engine itself would print and hold at start-up (projected): the vLLM and llama.cpp views.

Each engine view has its own options (with the engine's own option names) and its own report; the
report's ``engine`` section holds the view that was asked for (``--engine``).
"""

from __future__ import annotations

from pydantic import Field

from hubmem.schema.common import Model


class VllmOptions(Model):
    """``vllm serve`` settings (vLLM's own names). Filled in by the vLLM view (issue #12)."""


class VllmView(Model):
    """What ``vllm serve`` prints at start-up, per GPU rank (issue #12)."""


class LlamaCppOptions(Model):
    """llama.cpp context settings (its own names). Filled in by the llama.cpp view (issue #11)."""


class LlamaCppView(Model):
    """What llama.cpp allocates and prints at load (issue #11)."""


class EngineReport(Model):
    """The engine view asked for; None where another engine was asked for."""

    vllm: VllmView | None = None
    llama_cpp: LlamaCppView | None = None
    notes: list[str] = Field(default_factory=list)
