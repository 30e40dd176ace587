"""The original's layers: torch.nn modules behind handles (`maxpool2d1`, `lstm1`), and
the functional forms it calls on tensors (convolutions, pooling, padding, normalization),
one row each derived from torch.nn's signatures (see derive.py).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

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


def _module(name: str, cls: type, params: str, handle: str, *also: str):
    return handle_maker(name, cls, params, handle, also=also, params_of=cls.__init__)


MODULES = [
    _module("conv2d", nn.Conv2d, "in_channels|inChannels out_channels|outChannels kernel_size|kernelSize:IL "
            "stride:IL=1 padding:IL=0 bias=True", "conv2d", "conv2dLayer"),
    _module("maxpool1d", nn.MaxPool1d, "kernel_size|kernelSize:IL stride:IL=None padding:IL=0 ceil_mode|ceilMode=False",
            "maxpool1d", "maxPool1d"),
    _module("maxpool2d", nn.MaxPool2d, "kernel_size|kernelSize:IL stride:IL=None padding:IL=0 ceil_mode|ceilMode=False",
            "maxpool2d", "maxPool2d"),
    _module("maxpool3d", nn.MaxPool3d, "kernel_size|kernelSize:IL stride:IL=None padding:IL=0 ceil_mode|ceilMode=False",
            "maxpool3d", "maxPool3d"),
    _module("batch_norm1d", nn.BatchNorm1d, "num_features|numFeatures eps=1e-05 momentum:N=0.1 affine=True "
            "track_running_stats|trackRunningStats=True", "batchnorm", "batchNorm1d"),
    _module("batchnorm2d", nn.BatchNorm2d, "num_features|numFeatures eps=1e-05 momentum:N=0.1 affine=True "
            "track_running_stats|trackRunningStats=True", "batchnorm", "batchNorm2d", "batch_norm2d"),
    _module("batch_norm3d", nn.BatchNorm3d, "num_features|numFeatures eps=1e-05 momentum:N=0.1 affine=True "
            "track_running_stats|trackRunningStats=True", "batchnorm", "batchNorm3d"),
    _module("layer_norm", nn.LayerNorm, "normalized_shape|normalizedShape:IL eps=1e-05", "layernorm"),
    _module("group_norm", nn.GroupNorm, "num_groups|numGroups num_channels|numChannels eps=1e-05", "groupnorm"),
    _module("dropout", nn.Dropout, "p:N=0.5 training:B=True>- inplace=False", "dropout"),
    _module("rnn_relu", nn.RNN, _RNN + " nonlinearity:S=relu", "rnn", "rnnRelu"),
    _module("rnn_tanh", nn.RNN, _RNN + " nonlinearity:S=tanh", "rnn", "rnnTanh"),
    _module("lstm", nn.LSTM, _RNN, "lstm"),
    _module("gru", nn.GRU, _RNN, "gru"),
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
    fn("instance_norm1d", F.instance_norm, f"{_X} eps|epsilon=1e-05 momentum:N=0.1 affine:B=False>- "
       "track_running_stats|trackRunningStats:B=False>-", also=("instanceNorm1d",)),
    fn("instance_norm2d", F.instance_norm, f"{_X} eps|epsilon=1e-05 momentum:N=0.1 affine:B=False>- "
       "track_running_stats|trackRunningStats:B=False>-", also=("instanceNorm2d",)),
    fn("instance_norm3d", F.instance_norm, f"{_X} eps|epsilon=1e-05 momentum:N=0.1 affine:B=False>- "
       "track_running_stats|trackRunningStats:B=False>-", also=("instanceNorm3d",)),
    fn("local_response_norm", F.local_response_norm, f"{_X} size alpha=0.0001 beta=0.75 k=1.0"),
    fn("cross_map_lrn2d", F.local_response_norm, f"{_X} size alpha=0.0001 beta=0.75 k=1.0"),
    fn("rms_norm", F.rms_norm, f"{_X} normalized_shape|normalizedShape:L eps:N=None"),
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
    fn("transformer_encoder_layer", lambda src, d_model, nhead, dim_feedforward, dropout: _through(nn.TransformerEncoderLayer(
        d_model, nhead, dim_feedforward, dropout), src), "src|input:T d_model|dModel:PI nhead|nHead:PI "
       "dim_feedforward|dimFeedforward:PI=2048 dropout:N=0.1",
       doc="src through a new nn.TransformerEncoderLayer (self-attention and a feed-forward block)."),
    fn("transformer_decoder_layer", lambda tgt, memory, d_model, nhead, dim_feedforward, dropout:
       _through(nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout), tgt, memory),
       "tgt:T memory:T d_model|dModel:PI nhead|nHead:PI dim_feedforward|dimFeedforward:PI=2048 dropout:N=0.1",
       doc="tgt through a new nn.TransformerDecoderLayer attending to memory."),
    fn("transformer_encoder", lambda src, d_model, nhead, num_layers, dim_feedforward, dropout: _through(
        nn.TransformerEncoder(nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout), num_layers,
                              enable_nested_tensor=False), src), "src|input:T d_model|dModel:PI nhead|nHead:PI num_layers|numLayers:PI "
       "dim_feedforward|dimFeedforward:PI=2048 dropout:N=0.1",
       doc="src through a new nn.TransformerEncoder of num_layers layers."),
    fn("transformer_decoder", lambda tgt, memory, d_model, nhead, num_layers, dim_feedforward, dropout:
       _through(nn.TransformerDecoder(nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout),
                                      num_layers), tgt, memory), "tgt:T memory:T d_model|dModel:PI nhead|nHead:PI num_layers|numLayers:PI "
       "dim_feedforward|dimFeedforward:PI=2048 dropout:N=0.1",
       doc="tgt through a new nn.TransformerDecoder of num_layers layers attending to memory."),
    fn("scaled_dot_product_attention", F.scaled_dot_product_attention, "query key value"),
    fn("fold", F.fold, f"{_X} output_size|outputSize:IL kernel_size|kernelSize:IL dilation:IL=1 padding:IL=0 "
       "stride:IL=1", also=("Fold",)),
    fn("interpolate", F.interpolate, f"{_X} size:IL=None mode:S=nearest align_corners|alignCorners:B=None "
       "scale_factor|scaleFactor:NL=None"),
    fn("grid_sample", F.grid_sample, f"{_X} grid mode:S=bilinear padding_mode|paddingMode:S=zeros "
       "align_corners|alignCorners:B=False"),
    fn("affine_grid", F.affine_grid, "theta size:L align_corners|alignCorners:B=False"),
]

for _d in (1, 2, 3):
    FUNCTIONAL += [
        fn(f"avgpool{_d}d", getattr(F, f"avg_pool{_d}d"), f"{_X} kernel_size|kernelSize:IL stride:IL=None "
           "padding:IL=0 count_include_pad|countIncludePad:B=True", also=(f"avgPool{_d}d",)),
        fn(f"lppool{_d}d", getattr(F, f"lp_pool{_d}d"), f"{_X} norm_type|normType:N kernel_size|kernelSize:IL "
           "stride:IL=None ceil_mode|ceilMode:B=False", also=(f"lpPool{_d}d",)),
        fn(f"reflection_pad{_d}d", lambda input, pad: F.pad(input, pad, "reflect"), f"{_X} padding|pad:L>pad"),
        fn(f"replication_pad{_d}d", lambda input, pad: F.pad(input, pad, "replicate"), f"{_X} padding|pad:L>pad"),
        fn(f"circular_pad{_d}d", lambda input, pad: F.pad(input, pad, "circular"), f"{_X} padding|pad:L>pad"),
        fn(f"zero_pad{_d}d", lambda input, pad: F.pad(input, pad), f"{_X} padding|pad:L>pad"),
        fn(f"constant_pad{_d}d", lambda input, pad, value: F.pad(input, pad, value=value),
           f"{_X} padding|pad:L>pad value|val:N=0.0"),
    ]
for _d in (1, 3):
    FUNCTIONAL += [
        fn(f"adaptive_avgpool{_d}d", getattr(F, f"adaptive_avg_pool{_d}d"), f"{_X} output_size|outputSize:IL"),
        fn(f"adaptive_maxpool{_d}d", getattr(F, f"adaptive_max_pool{_d}d"), f"{_X} output_size|outputSize:IL"),
    ]
for _d in (2, 3):
    FUNCTIONAL.append(fn(f"fractional_maxpool{_d}d", getattr(F, f"fractional_max_pool{_d}d"),
                         f"{_X} kernel_size|kernelSize:IL output_ratio|outputRatio:NL=[0.5]",
                         prepare=lambda input, kernel_size, output_ratio: dict(
                             input=input, kernel_size=kernel_size, output_ratio=tuple(output_ratio) * (
                                 3 - len(output_ratio) if len(output_ratio) == 1 else 1))))
del _d

globals().update(exports(*MODULES, *FUNCTIONAL))
