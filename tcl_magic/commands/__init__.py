"""The torch:: commands, grouped by topic; `TABLE` is every command, as sessions install it."""
from . import (autograd, creation, distributed, layers, losses, math, nn, optim, pointwise, reference, reshaping,
               schedulers, spectral, tensors)
from .table import CommandTable

TABLE = CommandTable(distributed, tensors, math, autograd, nn, optim, reference, pointwise, reshaping, creation, layers,
                     losses, schedulers, spectral)
DERIVED = ("pointwise", "reshaping", "creation", "layers", "losses", "schedulers", "spectral")
"""The topics whose commands are derived from torch (the original's vocabulary): docs/families.md."""
