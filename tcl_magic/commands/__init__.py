"""The torch:: commands, grouped by topic; `TABLE` is every command, as sessions install it."""
from . import (autograd, creation, distributed, image, indexing, layers, layerwise, losses, math, model_state, nn, optim, pointwise, quantize,
               reference, reshaping, runtime, scaler, schedulers, sparse, spectral, tensors, transforms, weights)
from .table import CommandTable

TABLE = CommandTable(distributed, tensors, math, autograd, transforms, nn, optim, reference, pointwise, reshaping, creation, layers,
                     losses, schedulers, layerwise, spectral, runtime, scaler, quantize, model_state, image, sparse, indexing, weights)
DERIVED = ("pointwise", "reshaping", "creation", "layers", "losses", "schedulers", "layerwise", "spectral", "runtime", "scaler", "quantize", "model_state", "image", "sparse", "indexing", "weights")
"""The topics whose commands are derived from torch (the original's vocabulary): docs/families.md."""
