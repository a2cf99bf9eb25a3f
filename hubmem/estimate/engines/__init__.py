"""Inference-engine views: what an engine itself would print and hold at start-up, under its own options and
words (projected): vLLM (``vllm``) and llama.cpp (``llamacpp``)."""
