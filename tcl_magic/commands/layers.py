"""The original's layers: torch.nn modules behind handles (`maxpool2d1`, `lstm1`), and
the functional forms it calls on tensors (convolutions, pooling, padding, normalization),
one row each derived from torch.nn's signatures (see derive.py).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import TclCommandError
from ..spec import CommandSpec, snake_case
from .derive import exports, fn, handle_maker

_X = "input|tensor:T"
_RNN = ("input_size|inputSize:I hidden_size|hiddenSize:I num_layers|numLayers:I=1 bias:B=True "
        "batch_first|batchFirst:B=False dropout:N=0.0 bidirectional:B=False")


def _through(module: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """inputs through a new transformer block; a 1-D input is one token (a sequence of
    one), given back 1-D. torch checks shapes by assertions: their words become an error."""
    single = inputs[0].dim() == 1
    module = module.to(inputs[0].dtype) if inputs[0].dtype.is_floating_point else module
    inputs = tuple(x.unsqueeze(0) if x.dim() == 1 else x for x in inputs)
    try:
        out = module(*inputs)
    except AssertionError as err:
        raise ValueError(str(err)) from None
    return out.squeeze(0) if single else out


def _sizes_valid(message: str, dropout: float, *sizes: int) -> None:
    """The original's one check of a transformer's options, in its words."""
    if min(sizes) < 1 or not 0.0 <= dropout <= 1.0:
        raise TclCommandError(message, "VALUE")


_ENCODER = "Invalid parameters: src tensor must be defined, dModel, nhead, {}dimFeedforward, and dropout must be valid"
_DECODER = ("Invalid parameters: all tensors must be defined, dModel, nhead, {}dimFeedforward must be positive{}")


def _encoder_layer(src, d_model, nhead, dim_feedforward, dropout):
    _sizes_valid(_ENCODER.format(""), dropout, d_model, nhead, dim_feedforward)
    return _through(nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout), src)


def _encoder(src, d_model, nhead, num_layers, dim_feedforward, dropout):
    _sizes_valid(_ENCODER.format("numLayers, "), dropout, d_model, nhead, num_layers, dim_feedforward)
    return _through(nn.TransformerEncoder(nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout),
                                          num_layers, enable_nested_tensor=False), src)


def _decoder_layer(tgt, memory, d_model, nhead, dim_feedforward, dropout):
    _sizes_valid(_DECODER.format("", ", dropout must be in range [0,1]"), dropout, d_model, nhead, dim_feedforward)
    return _through(nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout), *_fit(d_model, tgt, memory))


def _decoder(tgt, memory, d_model, nhead, num_layers, dim_feedforward, dropout):
    _sizes_valid(_DECODER.format("numLayers, and ", ""), dropout, d_model, nhead, num_layers, dim_feedforward)
    return _through(nn.TransformerDecoder(nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout),
                                          num_layers), *_fit(d_model, tgt, memory))


def _fit(d_model: int, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors' last dimension made d_model, as the original's decoders do: padded with
    zeros, or cut."""
    return tuple(F.pad(t, (0, d_model - t.shape[-1])) if t.shape[-1] < d_model else t[..., :d_model] for t in tensors)


def _by_position(row: Any, *counts: int, usage: str | None = None) -> Any:
    """The row with only these counts of positional words (the original's transformers: by
    position, dim_feedforward and dropout are not optional; by name they have torch's
    defaults)."""
    names = tuple(p.name for p in row.spec.params)
    usage = usage or " ".join(name if i < min(counts) else f"?{name}?" for i, name in enumerate(names[:max(counts)]))
    row.spec = dataclasses.replace(row.spec, forms={count: names[:count] for count in counts}, usage_text=usage)
    return row


def _group_options(**options: Any) -> dict[str, Any]:
    for name, flag in (("num_groups", "numGroups"), ("num_channels", "numChannels")):
        if options[name] < 1:
            raise ValueError(f"Invalid {flag} {options[name]}: must be at least 1")
    return options


def _dropout_options(p: float, training: bool, inplace: bool) -> dict[str, Any]:
    """nn.Dropout's keywords (a new module trains until model_eval)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"Invalid p {p}: a probability, between 0.0 and 1.0")
    return dict(p=p, inplace=inplace)


def _instance_options(input, eps, momentum, affine, track_running_stats) -> dict[str, Any]:
    """F.instance_norm's keywords (it has no affine parameters or running statistics of its own)."""
    if momentum < 0:
        raise ValueError(f"Invalid momentum {momentum}: must not be negative")
    return dict(input=input, eps=eps, momentum=momentum)


def _lp_options(input, norm_type, kernel_size, stride, ceil_mode) -> dict[str, Any]:
    """torch divides by norm_type and pools by kernel_size: both must be positive."""
    if not norm_type > 0:
        raise ValueError(f"Invalid normType parameter {norm_type}: must be positive")
    if min((kernel_size,) if isinstance(kernel_size, int) else kernel_size) < 1:
        raise ValueError(f"Invalid kernelSize parameter {kernel_size}: must be positive")
    return dict(input=input, norm_type=norm_type, kernel_size=kernel_size, stride=stride, ceil_mode=ceil_mode)


def _rms_norm(input: torch.Tensor, normalized_shape: list[int], eps: float | None) -> torch.Tensor:
    """F.rms_norm, with the original's checks first."""
    if input.numel() == 0:
        raise TclCommandError("Input tensor is empty", "VALUE")
    if list(input.shape[input.dim() - len(normalized_shape):]) != list(normalized_shape) \
            or len(normalized_shape) > input.dim():
        raise TclCommandError("Invalid normalized_shape: dimensions don't match input tensor", "SHAPE")
    if eps is not None and not eps > 0:
        raise TclCommandError("Invalid eps value: must be positive", "VALUE")
    return F.rms_norm(input, normalized_shape, eps=eps)


def _batch_norm(input: torch.Tensor, eps: float, momentum: float) -> torch.Tensor:
    """torch's batch norm without running statistics or affine parameters (training mode)."""
    return F.batch_norm(input, None, None, training=True, momentum=momentum, eps=eps)


def _module(name: str, cls: type, params: str, handle: str, *also: str, prepare=None):
    return handle_maker(name, cls, params, handle, also=also, params_of=cls.__init__, prepare=prepare)


def _rnn_options(**options: Any) -> dict[str, Any]:
    """A recurrent layer's options, checked (torch's own words for these lack the option's value)."""
    for name in ("input_size", "hidden_size", "num_layers"):
        if options[name] < 1:
            raise ValueError(f"Invalid {name} {options[name]}: must be at least 1")
    if not 0.0 <= options["dropout"] <= 1.0:
        raise ValueError(f"Invalid dropout {options['dropout']}: must be between 0 and 1")
    return options


_NUMBERS = re.compile(r"[\s{}0-9eE+\-.]*")


@dataclasses.dataclass
class _TwoForms(CommandSpec):
    """One name, the two forms the original gives it: the function applied to a tensor
    (`maxpool2d $x 2`, `-input $x -kernelSize 2`) and the layer built from the same options
    (`maxpool2d 2`: a module handle for layer_forward). The function is chosen by an
    -input or -tensor flag, or a first word that is not a number (a tensor handle); the
    words are then that form's own, with its own errors."""

    layer: CommandSpec | None = None
    function: CommandSpec | None = None

    def parse(self, args: Sequence[str], ctx: Any) -> list[Any]:
        form = self.function if self.functional(args) else self.layer
        return [form, form.parse(args, ctx)]

    @staticmethod
    def functional(args: Sequence[str]) -> bool:
        if not args:
            return False
        flags = [word for word in args if re.fullmatch(r"-[A-Za-z_]\w*", word)]
        if any(snake_case(flag[1:]) in ("input", "tensor") for flag in flags):
            return True
        return not args[0].startswith("-") and not _NUMBERS.fullmatch(args[0])

    @property
    def synopsis(self) -> list[str]:
        return self.function.synopsis + self.layer.synopsis


def _two_forms(layer, function) -> Any:
    """The layer row and the function row as one command (see _TwoForms)."""
    def call(ctx: Any, form: CommandSpec, values: list[Any]) -> Any:
        return form.func(ctx, *values)
    call.spec = _TwoForms(layer.spec.name, function.spec.params, call, doc=function.spec.doc,
                          also=layer.spec.also, forms={0: ()}, layer=layer.spec, function=function.spec)
    return call


MODULES = [
    _module("conv2d", nn.Conv2d, "in_channels|inChannels out_channels|outChannels kernel_size|kernelSize:IL "
            "stride:IL=1 padding:IL=0 bias=True", "conv2d", "conv2dLayer"),
    *(_two_forms(
        _module(f"maxpool{d}d", getattr(nn, f"MaxPool{d}d"), "kernel_size|kernelSize:IL stride:IL=None padding:IL=0 "
                "ceil_mode|ceilMode=False", f"maxpool{d}d", f"maxPool{d}d"),
        fn(f"maxpool{d}d", getattr(F, f"max_pool{d}d"), f"{_X} kernel_size|kernelSize:IL stride:IL=None padding:IL=0 "
           "dilation:IL=1 ceil_mode|ceilMode:B=False",
           doc=f"{d}-D max pooling of the input; without an input (`maxpool{d}d kernel_size ?stride? ?padding? "
               f"?ceil_mode?`), a MaxPool{d}d layer (its handle)."))
      for d in (1, 2, 3)),
    *(_two_forms(
        _module(name, getattr(nn, f"BatchNorm{d}d"), "num_features|numFeatures eps=1e-05 momentum:N=0.1 affine=True "
                "track_running_stats|trackRunningStats=True", "batchnorm", *also),
        fn(name, _batch_norm, f"{_X} eps:N=1e-05 momentum:N=0.1",
           doc=f"The input normalized by its batch's statistics per channel; without an input (`{name} "
               f"num_features ?eps? ?momentum? ?affine? ?track_running_stats?`), a BatchNorm{d}d layer (its handle)."))
      for d, name, also in ((1, "batch_norm1d", ("batchNorm1d",)), (2, "batchnorm2d", ("batchNorm2d", "batch_norm2d")),
                            (3, "batch_norm3d", ("batchNorm3d",)))),
    _module("layer_norm", nn.LayerNorm, "normalized_shape|normalizedShape:IL eps=1e-05", "layernorm"),
    _module("group_norm", nn.GroupNorm, "num_groups|numGroups num_channels|numChannels eps=1e-05", "groupnorm",
            prepare=_group_options),
    _module("dropout", nn.Dropout, "p:N=0.5 training:B=True>- inplace=False", "dropout", prepare=_dropout_options),
    _module("rnn_relu", nn.RNN, _RNN + " nonlinearity:S=relu", "rnn", "rnnRelu", prepare=_rnn_options),
    _module("rnn_tanh", nn.RNN, _RNN + " nonlinearity:S=tanh", "rnn", "rnnTanh", prepare=_rnn_options),
    _module("lstm", nn.LSTM, _RNN, "lstm", prepare=_rnn_options),
    _module("gru", nn.GRU, _RNN, "gru", "Gru", prepare=_rnn_options),
]

_CONV = "weight:T bias:T=None stride:IL=1 padding:IL=0 dilation:IL=1 groups:I=1"
_CONV_T = "weight:T bias:T=None stride:IL=1 padding:IL=0 output_padding|outputPadding:IL=0 groups:I=1 dilation:IL=1"
FUNCTIONAL = [
    fn("conv1d", F.conv1d, f"{_X} {_CONV}"),
    fn("conv3d", F.conv3d, f"{_X} {_CONV}"),
    fn("tensor_conv1d", F.conv1d, f"{_X} {_CONV}"),
    fn("conv_transpose1d", F.conv_transpose1d, f"{_X} {_CONV_T}", also=("convTranspose1d",)),
    fn("conv_transpose_2d", F.conv_transpose2d, f"{_X} {_CONV_T}", also=("convTranspose2d",)),
    fn("conv_transpose3d", F.conv_transpose3d, f"{_X} {_CONV_T}", also=("convTranspose3d",)),
    fn("tensor_conv_transpose1d", F.conv_transpose1d, f"{_X} {_CONV_T}"),
    fn("tensor_conv_transpose2d", F.conv_transpose2d, f"{_X} {_CONV_T}"),
    fn("instance_norm1d", F.instance_norm, f"{_X} eps|epsilon:PN=1e-05 momentum:N=0.1 affine:B=False>- "
       "track_running_stats|trackRunningStats:B=False>-", prepare=_instance_options, also=("instanceNorm1d",)),
    fn("instance_norm2d", F.instance_norm, f"{_X} eps|epsilon:PN=1e-05 momentum:N=0.1 affine:B=False>- "
       "track_running_stats|trackRunningStats:B=False>-", prepare=_instance_options, also=("instanceNorm2d",)),
    fn("instance_norm3d", F.instance_norm, f"{_X} eps|epsilon:PN=1e-05 momentum:N=0.1 affine:B=False>- "
       "track_running_stats|trackRunningStats:B=False>-", prepare=_instance_options, also=("instanceNorm3d",)),
    fn("local_response_norm", F.local_response_norm, f"{_X} size alpha=0.0001 beta=0.75 k=1.0"),
    _by_position(fn("cross_map_lrn2d", F.local_response_norm, f"{_X} size:PI=5 alpha=0.0001 beta=0.75 k=1.0",
                    also=("crossMapLrn2d",)), 1, 5, usage="input ?size alpha beta k?"),
    fn("rms_norm", _rms_norm, f"{_X} normalized_shape|normalizedShape:L eps:N=None",
       doc="The input divided by the root mean square over its last dimensions (normalized_shape)."),
    fn("pixel_shuffle", F.pixel_shuffle, f"{_X} upscale_factor|upscaleFactor"),
    fn("pixel_unshuffle", F.pixel_unshuffle, f"{_X} downscale_factor|downscaleFactor"),
    fn("channel_shuffle", F.channel_shuffle, f"{_X} groups"),
    fn("embedding", lambda input, num_embeddings, embedding_dim, padding_idx: nn.Embedding(
        num_embeddings, embedding_dim, padding_idx=padding_idx)(input.long()),
       f"{_X} num_embeddings|numEmbeddings:I embedding_dim|embeddingDim:I padding_idx|paddingIdx:I=None",
       also=("Embedding",), doc="The rows of a new embedding table (num_embeddings x embedding_dim) for the indices."),
    fn("multihead_attention", lambda query, key, value, embed_dim, num_heads: nn.MultiheadAttention(
        embed_dim, num_heads)(query, key, value)[0], "query:T key:T value:T embed_dim|embedDim:I num_heads|numHeads:I",
       doc="Multi-head attention of a new nn.MultiheadAttention over query, key and value."),
    _by_position(fn("transformer_encoder_layer", _encoder_layer, "src|input:T d_model|dModel:I nhead|nHead:I "
                    "dim_feedforward|dimFeedforward:I=2048 dropout:N=0.1",
                    doc="src through a new nn.TransformerEncoderLayer (self-attention and a feed-forward block)."), 5),
    _by_position(fn("transformer_decoder_layer", _decoder_layer, "tgt:T memory:T d_model|dModel:I nhead|nHead:I "
                    "dim_feedforward|dimFeedforward:I=2048 dropout:N=0.1",
                    doc="tgt through a new nn.TransformerDecoderLayer attending to memory (both padded with zeros "
                        "or cut to d_model features)."), 6),
    _by_position(fn("transformer_encoder", _encoder, "src|input:T d_model|dModel:I nhead|nHead:I "
                    "num_layers|numLayers:I dim_feedforward|dimFeedforward:I=2048 dropout:N=0.1",
                    doc="src through a new nn.TransformerEncoder of num_layers layers."), 5, 6),
    _by_position(fn("transformer_decoder", _decoder, "tgt:T memory:T d_model|dModel:I nhead|nHead:I "
                    "num_layers|numLayers:I dim_feedforward|dimFeedforward:I=2048 dropout:N=0.1",
                    doc="tgt through a new nn.TransformerDecoder of num_layers layers attending to memory (both "
                        "padded with zeros or cut to d_model features)."), 6, 7),
    fn("scaled_dot_product_attention", F.scaled_dot_product_attention, "query key value"),
    fn("fold", F.fold, f"{_X} output_size|outputSize:IL kernel_size|kernelSize:IL dilation:IL=1 padding:IL=0 "
       "stride:IL=1", also=("Fold",)),
    fn("interpolate", F.interpolate, f"{_X} size:IL=None mode:S=nearest align_corners|alignCorners:B=None "
       "scale_factor|scaleFactor:NL=None"),
    fn("grid_sample", F.grid_sample, f"{_X} grid mode:S=bilinear padding_mode|paddingMode:S=zeros "
       "align_corners|alignCorners:B=False"),
    fn("affine_grid", F.affine_grid, "theta size:L align_corners|alignCorners:B=False"),
]

_LAYOUTS = {1: " (batch_size, channels, width)", 2: " (batch_size, channels, height, width)", 3: ""}


def _pad(dims: int, mode: str):
    """torch.nn's {Reflection,Replication,Circular,Zero,Constant}Pad{dims}d as a function:
    two paddings per dimension ({left right top bottom front back}). As those modules, the
    reflecting and replicating ones take no negative padding and want an input of dims + 1
    or dims + 2 dimensions (one sample or a batch)."""
    def pad(input: torch.Tensor, pad: list[int], value: float = 0.0) -> torch.Tensor:
        if len(pad) != 2 * dims:
            raise TclCommandError(f"Padding must be a list of {2 * dims} values for {dims}D", "VALUE")
        if mode in ("reflect", "replicate", "circular"):
            if min(pad) < 0:
                raise TclCommandError("Invalid padding value: padding cannot be negative", "VALUE")
            if input.dim() not in (dims + 1, dims + 2):
                raise TclCommandError(f"Expected {dims + 2}D tensor{_LAYOUTS[dims]} for {dims}D padding, but got "
                                      f"{input.dim()}D tensor", "SHAPE")
        return F.pad(input, pad, mode, value) if mode == "constant" else F.pad(input, pad, mode)
    return pad


for _d in (1, 2, 3):
    FUNCTIONAL += [
        fn(f"avgpool{_d}d", getattr(F, f"avg_pool{_d}d"), f"{_X} kernel_size|kernelSize:IL stride:IL=None "
           "padding:IL=0 count_include_pad|countIncludePad:B=True", also=(f"avgPool{_d}d",)),
        fn(f"lppool{_d}d", getattr(F, f"lp_pool{_d}d"), f"{_X} norm_type|normType:N kernel_size|kernelSize:IL "
           "stride:IL=None ceil_mode|ceilMode:B=False", also=(f"lpPool{_d}d",), prepare=_lp_options),
        fn(f"reflection_pad{_d}d", _pad(_d, "reflect"), f"{_X} padding|pad:L>pad"),
        fn(f"replication_pad{_d}d", _pad(_d, "replicate"), f"{_X} padding|pad:L>pad"),
        fn(f"circular_pad{_d}d", _pad(_d, "circular"), f"{_X} padding|pad:L>pad"),
        fn(f"zero_pad{_d}d", _pad(_d, "constant"), f"{_X} padding|pad:L>pad"),
        fn(f"constant_pad{_d}d", _pad(_d, "constant"), f"{_X} padding|pad:L>pad value|val:N=0.0"),
    ]
for _d in (1, 3):
    FUNCTIONAL += [
        fn(f"adaptive_avgpool{_d}d", getattr(F, f"adaptive_avg_pool{_d}d"), f"{_X} output_size|outputSize:IL"),
        fn(f"adaptive_maxpool{_d}d", getattr(F, f"adaptive_max_pool{_d}d"), f"{_X} output_size|outputSize:IL"),
    ]


def _fractional(dims: int):
    """The kernel and ratios for fractional max pooling: one for every dimension, or one each."""
    def prepare(input, kernel_size, output_ratio):
        kernel = (kernel_size,) * dims if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(kernel) != dims:
            raise ValueError(f"kernel_size must be an integer or {dims} integers, got {len(kernel)}")
        if min(kernel) < 1:
            raise ValueError(f"invalid kernel_size {list(kernel)}: each must be positive")
        ratio = tuple(output_ratio) * dims if len(output_ratio) == 1 else tuple(output_ratio)
        if len(ratio) != dims:
            raise ValueError(f"output_ratio must be a number or {dims} doubles, got {len(ratio)}")
        if not all(0 < r < 1 for r in ratio):
            raise ValueError(f"invalid output_ratio {list(ratio)}: each must be between 0 and 1 (exclusive)")
        return dict(input=input, kernel_size=kernel, output_ratio=ratio)
    return prepare


for _d in (2, 3):
    FUNCTIONAL.append(fn(f"fractional_maxpool{_d}d", getattr(F, f"fractional_max_pool{_d}d"),
                         f"{_X} kernel_size|kernelSize:IL output_ratio|outputRatio:NL=[0.5]", prepare=_fractional(_d)))
del _d

globals().update(exports(*MODULES, *FUNCTIONAL))
