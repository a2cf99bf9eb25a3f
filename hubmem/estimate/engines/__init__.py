"""What an inference engine itself allocates at start-up, under its own options and words (projected): the
llama.cpp view (``llamacpp``)."""
