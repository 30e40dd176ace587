"""The original's image helpers: resampling through torch.nn.functional.interpolate, the
per-channel normalization, and the detection operators (non-maximum suppression, RoI
align and RoI pooling). torch itself has no detection operators (they live in torchvision,
which this project does not depend on), so those three are short torch formulas here,
following torchvision's definitions: greedy suppression by IoU, bilinear samples averaged
per bin, and the maximum over each quantized bin.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .. import convert
from ..spec import ParamType
from .derive import KINDS, exports, fn


def _size_or_scale(text: str, ctx) -> tuple[str, list]:
    """The original's one positional word for a target: integers are a size, a number with
    a fraction is a scale factor (`{8 8}` against `{2.0 2.0}`)."""
    words = ctx.split_list(text)
    if not words:
        raise convert.ConversionError("Must be a list of sizes or scale factors.")
    try:
        return ("size", [int(word) for word in words])
    except ValueError:
        pass
    try:
        return ("scale", [float(word) for word in words])
    except ValueError:
        raise convert.ConversionError("Must be a list of sizes or scale factors.") from None


KINDS["SZ"] = ParamType("sizes or scale factors", _size_or_scale)
KINDS["TH"] = ParamType("tensor", lambda text, ctx: (text, ctx.handles.get(text)))  # in place: the same handle back


def _upsample(mode: str):
    def upsample(input, output_size, scale_factor, align_corners=None, antialias=False):
        size = output_size
        if size is not None and size[0] == "scale" and scale_factor is None:
            size, scale_factor = None, size[1]
        elif size is not None:
            size = size[1]
        if (size is None) == (scale_factor is None):
            raise ValueError("give either a size or a scale factor")
        input = input if input.dtype.is_floating_point else input.float()
        extra = {} if mode == "nearest" else {"align_corners": bool(align_corners), "antialias": antialias}
        return F.interpolate(input, size=size, scale_factor=scale_factor, mode=mode, **extra)
    return upsample


def _resize(image, size, mode, align_corners):
    input = image
    if len(size) != 2:
        raise ValueError("the size is two integers: height and width")
    if mode not in ("nearest", "bilinear", "bicubic"):
        raise ValueError(f"mode must be nearest, bilinear or bicubic, not {mode!r}")
    if mode == "nearest" and align_corners:
        raise ValueError("align_corners applies to bilinear and bicubic modes only")
    input = input if input.dtype.is_floating_point else input.float()
    return F.interpolate(input, size=tuple(size), mode=mode,
                         **({} if mode == "nearest" else {"align_corners": align_corners}))


def _per_channel(stat: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """A statistic of C values shaped to broadcast over the channel dimension of an image
    (C, H, W) or a batch (N, C, H, W)."""
    if stat.dim() == 1 and stat.numel() > 1 and image.dim() >= 3:
        return stat.reshape(-1, *([1] * 2)).to(image.dtype)
    return stat.to(image.dtype)


def _normalize(image, mean, std, inplace):
    (handle, image) = image
    mean, std = _per_channel(mean, image), _per_channel(std, image)
    if inplace:
        image.sub_(mean).div_(std)
        return handle
    return (image - mean) / std


def _denormalize(image, mean, std, inplace):
    (handle, image) = image
    mean, std = _per_channel(mean, image), _per_channel(std, image)
    if inplace:
        image.mul_(std).add_(mean)
        return handle
    return image * std + mean


def _box_iou(one: torch.Tensor, many: torch.Tensor) -> torch.Tensor:
    """Intersection over union of boxes given as x1, y1, x2, y2."""
    area = lambda b: (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    low = torch.maximum(one[:2], many[:, :2])
    high = torch.minimum(one[2:], many[:, 2:])
    inter = (high - low).clamp(min=0).prod(dim=1)
    return inter / (area(one) + area(many) - inter)


def _nms(boxes, scores, iou_threshold, score_threshold):
    """The indices of the boxes kept, best score first: each box in turn, from the highest
    score, removes the later ones overlapping it by more than iou_threshold."""
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError("iou_threshold must be between 0 and 1")
    if boxes.dim() != 2 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError("boxes are N x 4 (x1, y1, x2, y2) with one score each")
    order = [i for i in torch.argsort(scores, descending=True).tolist() if scores[i] >= score_threshold]
    kept: list[int] = []
    while order:
        best, order = order[0], order[1:]
        kept.append(best)
        if order:
            overlap = _box_iou(boxes[best].double(), boxes[order].double())
            order = [i for i, o in zip(order, overlap.tolist()) if o <= iou_threshold]
    return torch.tensor(kept, dtype=torch.int64)


def _rois(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes as K x 5 (batch index, x1, y1, x2, y2); K x 4 boxes (or one box) are of image 0."""
    boxes = boxes.unsqueeze(0) if boxes.dim() == 1 else boxes
    if boxes.dim() != 2 or boxes.shape[-1] not in (4, 5):
        raise ValueError("boxes are K x 4 (x1, y1, x2, y2) or K x 5 (batch index first)")
    if boxes.shape[-1] == 4:
        boxes = torch.cat([torch.zeros(len(boxes), 1, dtype=boxes.dtype), boxes], dim=1)
    return boxes.double()


def _bilinear(feature: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """feature (C, H, W) at the points (y, x); points beyond one pixel outside are 0."""
    height, width = feature.shape[-2:]
    outside = (y < -1) | (y > height) | (x < -1) | (x > width)
    y, x = y.clamp(min=0, max=height - 1), x.clamp(min=0, max=width - 1)
    y0, x0 = y.floor().long(), x.floor().long()
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    ly, lx = (y - y0).to(feature.dtype), (x - x0).to(feature.dtype)
    value = (feature[:, y0, x0] * (1 - ly) * (1 - lx) + feature[:, y0, x1] * (1 - ly) * lx
             + feature[:, y1, x0] * ly * (1 - lx) + feature[:, y1, x1] * ly * lx)
    return value.masked_fill(outside, 0)


def _roi_align(input, boxes, output_size, spatial_scale, sampling_ratio, aligned):
    """Each box's bins averaged over sampling_ratio^2 bilinear samples (adaptive: as many
    as the bin is pixels wide, rounded up)."""
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    input = input if input.dtype.is_floating_point else input.float()
    results = []
    offset = 0.5 if aligned else 0.0
    for batch, *corners in _rois(boxes).tolist():
        x1, y1, x2, y2 = (c * spatial_scale - offset for c in corners)
        roi_w, roi_h = x2 - x1, y2 - y1
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        n_h = sampling_ratio if sampling_ratio > 0 else max(math.ceil(roi_h / out_h), 1)
        n_w = sampling_ratio if sampling_ratio > 0 else max(math.ceil(roi_w / out_w), 1)
        ys = y1 + (torch.arange(out_h, dtype=torch.float64).unsqueeze(1) * bin_h
                   + (torch.arange(n_h, dtype=torch.float64) + 0.5) * bin_h / n_h).reshape(-1)
        xs = x1 + (torch.arange(out_w, dtype=torch.float64).unsqueeze(1) * bin_w
                   + (torch.arange(n_w, dtype=torch.float64) + 0.5) * bin_w / n_w).reshape(-1)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        samples = _bilinear(input[int(batch)], grid_y, grid_x)
        results.append(samples.reshape(-1, out_h, n_h, out_w, n_w).mean(dim=(2, 4)))
    return torch.stack(results) if results else input.new_zeros(0, input.shape[1], out_h, out_w)


def _roi_pool(input, boxes, output_size, spatial_scale):
    """Each box rounded to whole pixels and max-pooled into output_size bins."""
    out = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    input = input if input.dtype.is_floating_point else input.float()
    height, width = input.shape[-2:]
    results = []
    for batch, *corners in _rois(boxes).tolist():
        x1, y1, x2, y2 = (int(round(c * spatial_scale)) for c in corners)
        x1, y1 = min(max(x1, 0), width - 1), min(max(y1, 0), height - 1)
        x2, y2 = min(max(x2, x1), width - 1), min(max(y2, y1), height - 1)
        crop = input[int(batch), :, y1:y2 + 1, x1:x2 + 1]
        results.append(F.adaptive_max_pool2d(crop, out))
    return torch.stack(results) if results else input.new_zeros(0, input.shape[1], *out)


_IMAGE = "image|input|tensor:T"
IMAGE = [
    fn("upsample_bilinear", _upsample("bilinear"), "input|tensor:T output_size|size|outputSize:SZ=None "
       "align_corners|alignCorners:B=False antialias:B=False scale_factor|scaleFactor:NL=None",
       doc="An image batch resized by bilinear interpolation, to a size or by scale factors."),
    fn("upsample_nearest", _upsample("nearest"), "input|tensor:T output_size|size|outputSize:SZ=None "
       "scale_factor|scaleFactor:NL=None", doc="A batch resized by repeating the nearest samples."),
    fn("resize_image", _resize, f"{_IMAGE} size:L mode:S=bilinear align_corners|alignCorners:B=False",
       doc="An image batch (N, C, H, W) resized to height x width."),
    fn("normalize_image", _normalize, "image|input|tensor:TH mean:T std:T inplace:B=False",
       doc="(image - mean) / std, per channel."),
    fn("denormalize_image", _denormalize, "image|input|tensor:TH mean:T std:T inplace:B=False",
       doc="image * std + mean, per channel: normalize_image undone."),
    fn("nms", _nms, "boxes:T scores:T iou_threshold|iouThreshold:N score_threshold|scoreThreshold:N=0.0",
       also=("Nms",), doc="Non-maximum suppression: the indices of the boxes kept, best score first."),
    fn("roi_align", _roi_align, "input|tensor:T boxes:T output_size|outputSize:IL "
       "spatial_scale|spatialScale:N=1.0 sampling_ratio|samplingRatio:I=-1 aligned:B=True",
       doc="Each box's region of a feature map as output_size bins of bilinear samples."),
    fn("roi_pool", _roi_pool, "input|tensor:T boxes:T output_size|outputSize:IL spatial_scale|spatialScale:N=1.0",
       doc="Each box's region of a feature map max-pooled into output_size bins."),
]

globals().update(exports(*IMAGE))
