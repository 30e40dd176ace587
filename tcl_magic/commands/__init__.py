"""The torch:: commands, grouped by topic; `TABLE` is every command, as sessions install it."""
from . import autograd, distributed, math, nn, optim, reference, tensors
from .table import CommandTable

TABLE = CommandTable(distributed, tensors, math, autograd, nn, optim, reference)
