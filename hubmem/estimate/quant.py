"""Quantized checkpoints: which format, and how many *logical* parameters each stored tensor holds.

The rules follow huggingface.js ``parse-safetensors-metadata.ts`` (``getQuantizationMultiplier``,
``shouldSkipTensor``; theory.md 3.2), which is what the Hub's model page shows, with three
deliberate refinements: the packing factor is the exact ratio ``container_bits / bits`` (3-bit
GPTQ in I32 is 32/3, not ``floor(32/3) = 10``); bitsandbytes 4-bit follows the storage dtype
(``bnb_4bit_quant_storage``: ``nbytes * 2`` values); and a scalar that is a real parameter counts
1 (huggingface_hub semantics) instead of being skipped.

Each tensor gets a role:

* ``plain``      an ordinary tensor, parameters = elements;
* ``quantized``  a quantized weight, parameters = elements x packing factor (1 for fp8 / int8);
* ``aux``        quantization bookkeeping (scales, zero points, g_idx, absmax ...): never parameters.

Where the config says nothing (older repos) the format is inferred from tensor names and said so.
"""

from __future__ import annotations

from hubmem.estimate.quant_config import detect_scheme
from hubmem.estimate.quant_roles import QuantCounter, Role, matches_target, module_of, not_converted, suffix
from hubmem.estimate.quant_scheme import (
    AUX_SUFFIXES,
    BNB4_AUX_SUFFIXES,
    BNB8_AUX_SUFFIXES,
    FP8_DTYPES,
    GPTQ_AUX_SUFFIXES,
    INT_CONTAINER_BITS,
    SCALE_ONLY_DTYPES,
    QuantScheme,
    bits_from_format,
    packed_parameters,
)

__all__ = [
    "AUX_SUFFIXES",
    "BNB4_AUX_SUFFIXES",
    "BNB8_AUX_SUFFIXES",
    "FP8_DTYPES",
    "GPTQ_AUX_SUFFIXES",
    "INT_CONTAINER_BITS",
    "SCALE_ONLY_DTYPES",
    "QuantCounter",
    "QuantScheme",
    "Role",
    "bits_from_format",
    "detect_scheme",
    "matches_target",
    "module_of",
    "not_converted",
    "packed_parameters",
    "suffix",
]
