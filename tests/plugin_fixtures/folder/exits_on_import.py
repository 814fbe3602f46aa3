"""A plugin that tries to end the process while it is imported."""

import sys

sys.exit("plugin called sys.exit")
