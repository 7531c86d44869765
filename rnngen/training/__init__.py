"""Training: the loop and what it needs.

    trainer.py      Trainer: builds a run from a corpus (or a checkpoint to resume) and runs the loop
    schedule.py     the budget, the learning rate at each step, when to evaluate, the time left
    setup.py        checkpoint paths, device, precision, the encoded corpus
    events.py       what the loop reports to its callback
    distributed.py  DistributedTrainer (DDP) and the process group of each rank (``train --nproc``, torchrun)

The options are ``rnngen.config.TrainConfig``; the resume tensors are ``rnngen.resume_state``.
"""

from rnngen.config import SHAPE_OPTIONS, TrainConfig
from rnngen.training.events import (
    AlarmEvent,
    Callback,
    DoneEvent,
    EvalEvent,
    ReplanEvent,
    SavedEvent,
    StartEvent,
    StepEvent,
    TrainEvent,
)
from rnngen.training.setup import (
    autocast_dtype,
    best_path_for,
    check_out_path,
    default_out,
    encode_corpus,
    pick_device,
)
from rnngen.training.trainer import Trainer

__all__ = [
    "SHAPE_OPTIONS",
    "AlarmEvent",
    "Callback",
    "DoneEvent",
    "EvalEvent",
    "ReplanEvent",
    "SavedEvent",
    "StartEvent",
    "StepEvent",
    "TrainConfig",
    "TrainEvent",
    "Trainer",
    "autocast_dtype",
    "best_path_for",
    "check_out_path",
    "default_out",
    "encode_corpus",
    "pick_device",
]
