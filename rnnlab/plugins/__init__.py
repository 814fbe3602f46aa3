"""Built-in plugins: cells (:mod:`rnnlab.plugins.cells`) and tasks, registered through the
same entry-point group as third-party plugins."""
