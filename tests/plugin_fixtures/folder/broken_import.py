"""A plugin whose import fails."""

import rnnlab_no_such_module  # noqa: F401
