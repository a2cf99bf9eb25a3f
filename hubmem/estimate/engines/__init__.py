"""Inference-engine views: what an engine itself would print and hold at start-up (vLLM; llama.cpp later)."""
