"""A cell written for a future major version of the plugin API."""

from rnnlab.engine.cells import RNNTanhKernel


class FutureCell(RNNTanhKernel):
    name = "future_api"
    api_version = (2, 0)
