"""What the trainer says about gradients: per-parameter norms (for the dashboard) and, when a
step goes NaN or infinite, which parameter to blame."""

from __future__ import annotations

import math

import torch

from rnngen.training.events import AlarmEvent


def param_norms(
    model: torch.nn.Module, params: list[torch.nn.Parameter], norms: list[torch.Tensor]
) -> dict[str, float]:
    """Parameter name -> the norm of its gradient (``norms`` are in the order of ``params``)."""
    ids = {id(p): n for n, p in model.named_parameters()}
    values = torch.stack(norms).tolist()
    return {ids[id(p)]: v for p, v in zip(params, values)}


def nan_alarm(model: torch.nn.Module, step: int, loss_value: float, params, norms) -> AlarmEvent:
    """The alarm for step ``step``: the first parameter whose gradient is not finite, or, when
    the loss itself overflowed, the parameter with the largest weights (the likely culprit:
    no bad update is ever applied, so the weights are finite)."""
    if math.isfinite(loss_value):
        ids = {id(p): n for n, p in model.named_parameters()}
        bad = next((ids[id(p)] for p, n in zip(params, norms) if not torch.isfinite(n)), "loss")
        what = "loss" if bad == "loss" else f"gradient of {bad}"
        message = f"step {step}: the {what} is NaN or infinite; the update was not applied"
    else:
        with torch.no_grad():
            sizes = {name: float(p.detach().abs().max()) for name, p in model.named_parameters()}
        bad = max(sizes, key=lambda name: sizes[name])
        message = (
            f"step {step}: the loss is NaN or infinite; the update was not applied "
            f"(largest weights: {bad}, |w| up to {sizes[bad]:.3g})"
        )
    return AlarmEvent(step=step, message=message, parameter=bad)
