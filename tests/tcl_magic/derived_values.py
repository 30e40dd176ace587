"""The inputs both value tests of the derived families give a command, the same inputs as
tensors for torch in Python, and how a command's result is read back and compared."""
import torch

SETUP = ("set m [torch::tensor_create {{0.5 0.25} {0.75 1.0}}]; set v [torch::tensor_create {0.5 -0.25 0.75}]; "
         "set img [torch::tensor_reshape [torch::arange 0 16] {1 1 4 4}]; "
         "set idx [torch::tensor_create {{0 0} {1 1}} int64]")
m, v = torch.tensor([[0.5, 0.25], [0.75, 1.0]]), torch.tensor([0.5, -0.25, 0.75])
img = torch.arange(0, 16).reshape(1, 1, 4, 4).float()


def value(session, source: str) -> torch.Tensor:
    """The result of `source` (run after SETUP) as a flat float tensor; a Tcl error fails."""
    result = session.eval(f"{SETUP}; torch::tensor_to_list [{source}]")
    assert result.error is None, result.error.message
    return torch.tensor([float(x) for x in result.result.split()])


def close(session, source: str, expected: torch.Tensor, atol: float) -> None:
    assert torch.allclose(value(session, source), expected.reshape(-1).double().float(), atol=atol), source
