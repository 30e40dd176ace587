"""The original's Fourier and audio vocabulary: torch.fft and torch.stft, one row each
derived from torch (see derive.py); the audio helpers torch has no function for (mel
filter banks, MFCC, time stretching, pitch shifting, the analytic signal) are short
formulas over torch.fft here, as torch has no audio package of its own.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .derive import exports, fn

_X = "input|tensor:T"
_STFT = "n_fft|nfft|nFft:PI hop_length|hopLength:PI=None win_length|winLength:PI=None window:T=None"


def _window(window, n_fft, win_length, dtype):
    """torch.stft's window, or the Hann window the original used when none is given."""
    if window is not None:
        return window.to(dtype)
    return torch.hann_window(win_length or n_fft, dtype=dtype)


def _stft(input, n_fft, hop_length, win_length, window):
    input = input if input.dtype.is_floating_point else input.double()
    return torch.stft(input, n_fft, hop_length, win_length, _window(window, n_fft, win_length, input.dtype),
                      return_complex=True)


def _istft(input, n_fft, hop_length, win_length, window, center, normalized, onesided, length):
    real = input.real.dtype if input.is_complex() else input.dtype
    if not input.is_complex():
        input = torch.complex(input, torch.zeros_like(input)) if input.dim() < 3 or input.shape[-1] != 2 \
            else torch.view_as_complex(input.contiguous())
    return torch.istft(input, n_fft, hop_length, win_length, _window(window, n_fft, win_length, real),
                       center=center, normalized=normalized, onesided=onesided, length=length)


def _shift(target):
    return lambda input, dim: target(input, None if dim is None else dim)


def _spectrogram(input, n_fft, hop_length, win_length, window):
    """|STFT|^2; a signal shorter than the window is padded with zeros, not reflected."""
    input = input if input.dtype.is_floating_point else input.float()
    win_length = win_length or n_fft
    return torch.stft(input, n_fft, hop_length or n_fft // 2, win_length, _window(window, n_fft, win_length,
                      input.dtype), pad_mode="constant", return_complex=True).abs() ** 2


def _mel(hz):
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _melscale_fbanks(n_freqs, n_mels, sample_rate, f_min, f_max):
    """Triangular filters (n_mels x n_freqs) evenly spaced on the HTK mel scale."""
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_freqs)
    mels = torch.linspace(_mel(f_min), _mel(f_max), n_mels + 2)
    points = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    slopes = points.unsqueeze(0) - freqs.unsqueeze(1)
    widths = points[1:] - points[:-1]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0).T


def _mfcc(spectrogram, n_mfcc, dct_type):
    """The orthonormal DCT-II over the mels of a log mel spectrogram (mels x frames)."""
    if dct_type != 2:
        raise ValueError(f"only the DCT of type 2 is supported, not {dct_type}")
    dtype = spectrogram.dtype if spectrogram.dtype.is_floating_point else torch.float32
    log_spec = torch.log(spectrogram.to(dtype).clamp(min=1e-10))
    n_mels = log_spec.shape[-2] if log_spec.dim() > 1 else log_spec.shape[-1]
    k, n = torch.arange(n_mfcc, dtype=dtype).unsqueeze(1), torch.arange(n_mels, dtype=dtype)
    dct = torch.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    dct[0] /= math.sqrt(2.0)
    return dct @ log_spec


def _resample_last(input, length):
    """The last dimension linearly resampled to `length` points (complex parts alike)."""
    if input.is_complex():
        return torch.complex(_resample_last(input.real, length), _resample_last(input.imag, length))
    shape = input.shape
    flat = input.reshape(1, -1, shape[-1]).to(torch.float32 if not input.dtype.is_floating_point else input.dtype)
    out = F.interpolate(flat, size=length, mode="linear", align_corners=True)
    return out.reshape(*shape[:-1], length)


def _time_stretch(input, rate):
    return _resample_last(input, int(input.shape[-1] / rate))


def _pitch_shift(waveform, sample_rate, n_steps):
    """The waveform resampled by 2^(n_steps/12) and brought back to its length: the pitch
    moves by n_steps semitones (the duration is kept)."""
    factor = 2.0 ** (n_steps / 12.0)
    shifted = _resample_last(waveform, int(round(waveform.shape[-1] / factor)))
    return _resample_last(shifted, waveform.shape[-1]) if shifted.shape[-1] != waveform.shape[-1] else shifted


def _hilbert(input):
    """The analytic signal x + iH(x): negative frequencies removed, positive ones doubled."""
    n = input.shape[-1]
    spectrum = torch.fft.fft(input if input.dtype.is_floating_point else input.double())
    h = torch.zeros(n, dtype=spectrum.real.dtype)
    h[0] = 1
    if n % 2 == 0:
        h[n // 2] = 1
        h[1:n // 2] = 2
    else:
        h[1:(n + 1) // 2] = 2
    return torch.fft.ifft(spectrum * h)


FFT = [
    fn("tensor_fft", lambda input, dim: torch.fft.fft(input, dim=dim), f"{_X} dim:I=-1",
       doc="The discrete Fourier transform along one dimension."),
    fn("tensor_ifft", lambda input, dim: torch.fft.ifft(input, dim=dim), f"{_X} dim:I=-1",
       doc="The inverse discrete Fourier transform along one dimension."),
    fn("tensor_fft2d", lambda input, dims: torch.fft.fft2(input, dim=dims), f"{_X} dims|dim:L=[-2,-1]",
       doc="The 2-D discrete Fourier transform over two dimensions."),
    fn("tensor_ifft2d", lambda input, dims: torch.fft.ifft2(input, dim=dims), f"{_X} dims|dim:L=[-2,-1]",
       doc="The inverse 2-D discrete Fourier transform over two dimensions."),
    fn("tensor_rfft", torch.fft.rfft, f"{_X} n:I=None dim:I=-1"),
    fn("tensor_irfft", torch.fft.irfft, f"{_X} n:I=None dim:I=-1"),
    fn("fftshift", _shift(torch.fft.fftshift), f"{_X} dim|dimension:I=None", also=("fftShift",),
       doc="The zero-frequency term moved to the centre (all dimensions, or dim)."),
    fn("ifftshift", _shift(torch.fft.ifftshift), f"{_X} dim|dimension:I=None", also=("ifftShift",),
       doc="The inverse of fftshift (all dimensions, or dim)."),
    fn("tensor_stft", _stft, f"{_X} {_STFT}",
       doc="The short-time Fourier transform (complex; a Hann window unless one is given)."),
    fn("tensor_istft", _istft, f"{_X} {_STFT} center:B=True normalized:B=False onesided:B=True length:I=None",
       doc="The signal back from its short-time Fourier transform."),
    fn("hilbert", _hilbert, _X, doc="The analytic signal of a real signal (complex), by the FFT."),
]

AUDIO = [
    fn("spectrogram", _spectrogram, f"{_X} n_fft|nfft|nFft:PI=400 hop_length|hopLength:PI=None "
       "win_length|winLength:PI=None window:T=None", doc="The power spectrogram |STFT|^2."),
    fn("melscale_fbanks", _melscale_fbanks, "n_freqs|nFreqs:PI n_mels|nMels:PI sample_rate|sampleRate:PN "
       "f_min|fMin:N=0.0 f_max|fMax:N=None", doc="Triangular mel filter banks (n_mels x n_freqs)."),
    fn("mfcc", _mfcc, "spectrogram|input|tensor:T n_mfcc|nMfcc:PI=13 dct_type|dctType:I=2",
       doc="Mel-frequency cepstral coefficients of a mel spectrogram."),
    fn("time_stretch", _time_stretch, "input|stft_matrix|tensor:T rate:PN",
       doc="The frames resampled by 1/rate: faster above 1, slower below."),
    fn("pitch_shift", _pitch_shift, "waveform|input|tensor:T sample_rate|sampleRate:N n_steps|nSteps:N",
       doc="The waveform's pitch moved by n_steps semitones, its length kept."),
]

globals().update(exports(*FFT, *AUDIO))
