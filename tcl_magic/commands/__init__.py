"""The torch:: commands, grouped by topic; `ALL` is what a session installs."""
from ..spec import specs_in
from . import autograd, distributed, math, nn, optim, reference, tensors

ALL = specs_in(tensors, distributed, math, autograd, nn, optim, reference)
