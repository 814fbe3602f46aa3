"""The desktop app: PyQt6 + pyqtgraph views of a training run driven by a worker thread.

Start it with ``rnnlab gui`` or :func:`rnnlab.gui.app.main`.
"""
