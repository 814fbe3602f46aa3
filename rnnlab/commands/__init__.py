"""Command groups of the ``rnnlab`` command, one module each (see :mod:`rnnlab.cli`)."""
