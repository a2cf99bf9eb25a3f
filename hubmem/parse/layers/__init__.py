"""Layers (docs/theory.md 1.2-1.3): how many there are (``counts``), and each one's kind: the facts and plan
types (``plan``), the rules that read explicit per-layer descriptions (``descriptions``) or apply a
family's defaults (``families``), and the resolver that asks them in priority order and applies the
model-wide adjustments (``resolve``)."""
