"""Built-in task plugins: the lessons' problems and the classic long-memory benchmarks.

Each module holds one :class:`~rnnlab.engine.task.Task` subclass. Data is generated with
``numpy.random.default_rng(seed)`` from the task's parameters (``charclass`` reads a corpus
shipped in :mod:`rnnlab.plugins.data`); nothing is downloaded.
"""

from .adding import AddingTask
from .charclass import CharClassTask
from .copy import CopyTask
from .gradflow import GradFlowTask
from .mod3 import Mod3Task
from .sentiment import SentimentTask
from .sine import SineTask

BUILTIN_TASKS = (SineTask, Mod3Task, CharClassTask, SentimentTask, GradFlowTask, AddingTask,
                 CopyTask)

__all__ = ["BUILTIN_TASKS", "AddingTask", "CharClassTask", "CopyTask", "GradFlowTask",
           "Mod3Task", "SentimentTask", "SineTask"]
