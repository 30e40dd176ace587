"""The torch:: commands, grouped by topic; `ALL` is what a session installs."""
from ..spec import specs_in
from . import distributed, tensors

ALL = specs_in(tensors, distributed)
