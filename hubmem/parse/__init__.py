"""config.json -> :class:`~hubmem.schema.architecture.Architecture`. Start at
:func:`hubmem.parse.config.parse_config`: its module docstring lists the phases and the module of each."""
