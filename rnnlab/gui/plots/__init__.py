"""Live views of a run. Each panel creates its plot items once and only calls ``setData``."""

from .base import Panel
from .gates import GatesPanel
from .gradient import GradientPanel
from .hidden import HiddenPanel
from .loss import LossPanel
from .norms import NormsPanel
from .taskview import TaskPanel

__all__ = ["GatesPanel", "GradientPanel", "HiddenPanel", "LossPanel", "NormsPanel", "Panel",
           "TaskPanel"]
