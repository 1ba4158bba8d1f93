"""Sound: a differentiable synthesizer, mel spectrograms, WAV files and a notebook player.

DITTO measures some controls on the *audio* (its intensity control is the loudness of the
waveform, 20·log10 of its RMS), so the path from the piano roll to the sound has to carry
gradients. This module turns a roll into a waveform with a small additive synthesizer written
in plain torch: every step is differentiable, so ``loss(synthesize(x0)).backward()`` reaches the roll, and
from there the diffusion model's initial noise.

How the synthesizer works
-------------------------
1. **Gates.** The onset and frame channels (values in [-1, 1]) become gates in [0, 1] by
   ``(x + 1) / 2``, clamped. The clamp uses a *straight-through* gradient (Bengio et al.
   2013, arXiv 1308.3432): the forward pass clamps, the backward pass acts as if it did not,
   so a value pushed slightly beyond +1 or -1 still receives a gradient.
2. **Envelope.** Each pitch gets an amplitude envelope at a control rate of
   :data:`CONTROL_FRAMES_PER_STEP` frames per step:

   * the frame gate, held over its step;
   * a short **release gap** just before an onset that re-strikes a pitch which was
     already sounding, so two repeated 8th notes are heard as two notes, not one quarter;
   * an **accent**: every onset adds a bump that decays exponentially (~80 ms, a causal
     convolution), so attacks are audible;
   * a short raised-cosine **smoothing** (~15 ms), so notes fade in and out without clicks.

   The envelope is then linearly interpolated up to audio rate (``F.interpolate``).
3. **Oscillators.** One per pitch, equal temperament with A4 = 440 Hz, a few harmonics with
   decaying weights (a soft organ/flute colour). They do not depend on the roll, so they are
   computed once and cached.
4. **Mix.** ``wave = gain * sum_p envelope[p] * oscillator[p]``, one ``einsum`` over pitches.
   There is no per-clip normalization: more notes are louder, which is what an intensity
   control needs to see. With the default gain a note peaks at 0.1 (0.16 on its attack), so six
   notes struck together stay below 1.0 (a six-note chord peaks around 0.7 in practice).

>>> roll = -torch.ones(2, 48, 8)             # two beats of silence ...
>>> roll[:, 60 - 36, 0] = 1                   # ... with a middle C struck at step 0
>>> roll[1, 60 - 36, :4] = 1                  # and held for a quarter note
>>> wave = synthesize(roll)
>>> wave.shape                                # 8 steps * 1/6 s * 16 kHz
torch.Size([21333])
>>> round(wave.abs().max().item(), 2)       # one note: 0.1, plus the attack's accent
0.15

The rest of the module is the plumbing around it: :func:`mel_spectrogram` and
:func:`amplitude_to_db` (torchaudio), :func:`write_wav` (soundfile; ``torchaudio.save``
would need FFmpeg) and :func:`player` for notebooks.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .roll import FRAME, LOW_PITCH, ONSET, STEPS_PER_QUARTER

SR = 16000  # audio sample rate (Hz)
TEMPO = 90  # quarter notes per minute
GAIN = 0.1  # peak of one sustained note; with the attack accent, six notes struck together stay below 1.0

CONTROL_FRAMES_PER_STEP = 32  # envelope resolution: about 5 ms per frame at tempo 90
HARMONIC_WEIGHTS = (1.0, 0.5, 0.25, 0.125)  # relative level of harmonics 1, 2, 3, 4
ACCENT = 0.6  # extra level at an attack, relative to the sustain level
ACCENT_DECAY_S = 0.08  # time constant of the accent's exponential decay
GAP_S = 0.03  # silence before a re-struck note (upper bound; at most a third of a step)
SMOOTH_S = 0.015  # length of the anti-click smoothing ramps


def step_seconds(tempo: float = TEMPO) -> float:
    """Duration in seconds of one step (a 16th note) at ``tempo`` quarter notes per minute.

    >>> step_seconds(90)
    0.16666666666666666
    >>> step_seconds(120) * 16   # one 4/4 bar at 120 bpm
    2.0
    """
    if tempo <= 0:
        raise ValueError(f"tempo must be a positive number of quarter notes per minute, got {tempo}")
    return 60.0 / tempo / STEPS_PER_QUARTER


def pitch_to_hz(pitch):
    """Frequency in Hz of a MIDI pitch (a number or a tensor), equal temperament, A4 = 440 Hz.

    ``f = 440 * 2 ** ((pitch - 69) / 12)``

    >>> pitch_to_hz(69), pitch_to_hz(81)
    (440.0, 880.0)
    >>> round(pitch_to_hz(60), 2)
    261.63
    """
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def _n_samples(n_steps: int, *, sr: int, tempo: float) -> int:
    return round(n_steps * step_seconds(tempo) * sr)


# ---------------------------------------------------------------------------------------------
# the synthesizer


def _gate(x: torch.Tensor) -> torch.Tensor:
    """``clamp((x + 1) / 2, 0, 1)`` in the forward pass, ``(x + 1) / 2`` in the backward pass."""
    y = (x + 1) / 2
    return y + (y.clamp(0, 1) - y).detach()  # straight-through estimator


@functools.lru_cache(maxsize=4)
def _oscillators(n_pitches: int, n_samples: int, sr: int, device: torch.device, dtype: torch.dtype):
    """Oscillator bank ``[P, N]``: row ``p`` is pitch ``LOW_PITCH + p`` with its harmonics, peak 1.

    The phase, counted in cycles, is taken modulo 1 in float64 (``frac(f * t)``) before the sine,
    so long clips keep their tuning in float32. Harmonics at or above Nyquist are left out.
    """
    t = torch.arange(n_samples, dtype=torch.float64) / sr  # [N]
    freqs = pitch_to_hz(torch.arange(LOW_PITCH, LOW_PITCH + n_pitches, dtype=torch.float64))  # [P]
    cycles = torch.frac(freqs[:, None] * t).to(torch.float32)  # [P, N], in [0, 1)
    weights = torch.tensor(harmonic_weights(), dtype=torch.float64)  # scaled so the peak is 1
    theta = (2 * math.pi) * cycles
    two_cos = 2 * torch.cos(theta)
    previous, current = torch.zeros_like(theta), torch.sin(theta)  # sin(0 * theta), sin(1 * theta)
    bank = torch.zeros_like(theta)
    for h, w in enumerate(weights.tolist(), start=1):  # a handful of harmonics, not a loop over pitches
        audible = (h * freqs < sr / 2).to(torch.float32)[:, None]
        bank += (w * audible) * current
        # sin((h + 1) theta) = 2 cos(theta) sin(h theta) - sin((h - 1) theta): no more sines to compute
        previous, current = current, two_cos * current - previous
    return bank.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=1)
def harmonic_weights() -> tuple[float, ...]:
    """The harmonic weights after scaling the oscillator's peak to 1 (see :func:`_oscillators`)."""
    weights = torch.tensor(HARMONIC_WEIGHTS, dtype=torch.float64)
    one_cycle = torch.linspace(0, 1, 4097, dtype=torch.float64)[:, None]
    harmonics = torch.arange(1, len(weights) + 1, dtype=torch.float64)
    return tuple((weights / (torch.sin(2 * math.pi * harmonics * one_cycle) @ weights).abs().max()).tolist())


def step_power(roll: torch.Tensor, *, tempo: float = TEMPO, sr: int = SR, gain: float = GAIN) -> torch.Tensor:
    """Mean square of :func:`synthesize`'s output in each step, computed without rendering the audio.

    Partials of different frequencies add their powers (``a^2 / 2`` each), but partials at the
    *same* frequency add their amplitudes first: every oscillator starts in phase, so the 2nd
    and 4th harmonics of a note coincide exactly, in phase, with the notes one and two octaves
    up. The 3rd harmonic is two cents off a twelfth and drifts in phase: its power adds.
    About 20x faster than rendering, and differentiable.

    Parameters
    ----------
    roll : Tensor [B, 2, P, T]

    Returns
    -------
    Tensor [B, T]
    """
    B, _, P, T = roll.shape
    env = envelopes(roll, tempo=tempo)  # [B, P, T*K]
    w = harmonic_weights()
    top = torch.tensor(LOW_PITCH + P - 1 + 24, dtype=torch.float64)
    audible = lambda h: (h * pitch_to_hz(top) < sr / 2)  # noqa: E731  (all partials of the top row)
    grid = env.new_zeros(B, P + 24, env.shape[-1])  # partial amplitudes on a semitone grid
    incoherent = env.new_zeros(B, env.shape[-1])
    for h, weight in enumerate(w, start=1):
        shift = round(12 * math.log2(h))
        if h & (h - 1) == 0:  # 1, 2, 4, 8: octaves, exactly in tune and in phase
            grid[:, shift : shift + P] += weight * env
        elif audible(h):
            incoherent += (weight * env).square().sum(1)
    power = (grid.square().sum(1) + incoherent) / 2 * gain**2  # [B, T*K]
    return power.reshape(B, T, -1).mean(-1)


def _smoothing_kernel(n: int, *, dtype, device) -> torch.Tensor:
    """Raised-cosine kernel of ``n`` taps that sums to 1 (a step becomes an ``n``-frame S-ramp)."""
    kernel = torch.hann_window(n + 2, periodic=False, dtype=dtype, device=device)[1:-1]
    return kernel / kernel.sum()


def envelopes(roll: torch.Tensor, *, tempo: float = TEMPO) -> torch.Tensor:
    """Amplitude envelope of every pitch at the control rate.

    Parameters
    ----------
    roll : Tensor [B, 2, P, T]
        Piano roll with values in [-1, 1] (+1 = on).
    tempo : float
        Quarter notes per minute; sets how long the gaps, accents and ramps are in frames.

    Returns
    -------
    Tensor [B, P, T * CONTROL_FRAMES_PER_STEP]
        Non-negative envelope, differentiable with respect to ``roll``; a sustained note is at 1.
    """
    B, _, P, T = roll.shape
    K = CONTROL_FRAMES_PER_STEP
    dt = step_seconds(tempo) / K  # seconds per control frame
    onset, frame = _gate(roll[:, ONSET]), _gate(roll[:, FRAME])  # [B, P, T] each

    # (a) Release gap: an onset at step t on a pitch that sounded at step t-1 silences the
    # last frames of step t-1 (a product of gates, so it stays differentiable).
    restrike = torch.zeros_like(frame)
    restrike[..., :-1] = onset[..., 1:] * frame[..., :-1]  # placed on step t-1
    n_gap = max(1, min(round(GAP_S / dt), K // 3))
    gap_shape = torch.zeros(K, dtype=roll.dtype, device=roll.device)
    gap_shape[K - n_gap :] = 1.0
    held = frame[..., None] * (1 - restrike[..., None] * gap_shape)  # [B, P, T, K]
    env = held.reshape(B, P, T * K)

    # (b) Accent: an impulse at the first frame of each struck step, through a causal
    # exponential decay exp(-t / tau) cut after 5 tau. Only sounding notes are accented (onset * frame).
    # Impulses come only at step starts, so frame k of step t hears the strikes of steps t - j
    # through the decay at j*K + k frames: a sum over a few past steps, not a convolution over frames.
    n_taps = max(1, round(5 * ACCENT_DECAY_S / dt))
    J = -(-n_taps // K)  # steps a strike is heard for
    lag = torch.arange(J * K, dtype=roll.dtype, device=roll.device)
    decay = torch.where(lag < n_taps, torch.exp(-lag * dt / ACCENT_DECAY_S), 0.0).reshape(J, K)
    strikes = F.pad(onset * frame, (J - 1, 0))  # [B, P, J - 1 + T]
    past = torch.stack([strikes[..., J - 1 - j : J - 1 - j + T] for j in range(J)], -1)  # [B, P, T, J]
    accent = past @ decay  # [B, P, T, K]
    env = env * (1 + ACCENT * accent.reshape(B, P, T * K))

    # (c) Smoothing: a centred raised-cosine kernel turns every jump into a ~15 ms ramp. A sum of
    # shifted copies, one per tap: torch's conv1d over these one-channel signals took 15x longer
    # (7.7 ms against 0.5 ms with its backward pass, every iteration of an intensity optimization).
    n_smooth = max(1, round(SMOOTH_S / dt)) | 1  # odd, so it stays centred
    kernel = _smoothing_kernel(n_smooth, dtype=roll.dtype, device=roll.device)
    padded = F.pad(env, (n_smooth // 2, n_smooth // 2))
    env = sum(w * padded[..., j : j + T * K] for j, w in enumerate(kernel))

    # Fade the clip's own edges too, so a note sounding at the first or last step does not click.
    fade = torch.ones(T * K, dtype=roll.dtype, device=roll.device)
    ramp = torch.linspace(0, 1, n_smooth + 1, dtype=roll.dtype, device=roll.device)[:-1]
    n_fade = min(n_smooth, (T * K) // 2)
    fade[:n_fade] = ramp[:n_fade]
    fade[T * K - n_fade :] = torch.minimum(fade[T * K - n_fade :], ramp[:n_fade].flip(0))
    return env * fade


def synthesize(roll: torch.Tensor, *, sr: int = SR, tempo: float = TEMPO, gain: float = GAIN) -> torch.Tensor:
    """Render a piano roll as audio with a differentiable additive synthesizer.

    See the module docstring for how it works. Runs on the roll's device and dtype.

    Parameters
    ----------
    roll : Tensor [2, P, T] or [B, 2, P, T]
        Piano roll with values in [-1, 1] (+1 = on); row ``p`` is MIDI pitch ``LOW_PITCH + p``.
    sr : int
        Sample rate in Hz.
    tempo : float
        Quarter notes per minute (one step is a 16th note).
    gain : float
        Peak level of one sustained note. The output is *not* normalized, so that loudness
        grows with the number of notes.

    Returns
    -------
    Tensor [N] or [B, N]
        The waveform, ``N = round(T * step_seconds(tempo) * sr)``.
    """
    if roll.dim() not in (3, 4) or roll.shape[-3] != 2:
        raise ValueError(f"expected a roll of shape [2, P, T] or [B, 2, P, T], got {tuple(roll.shape)}")
    if not roll.is_floating_point():
        roll = roll.float()
    batched = roll.dim() == 4
    if not batched:
        roll = roll[None]
    _, _, P, T = roll.shape
    n = _n_samples(T, sr=sr, tempo=tempo)
    if T == 0:  # an empty roll is an empty sound
        wave = roll.new_zeros(roll.shape[0], 0)
        return wave if batched else wave[0]

    env = envelopes(roll, tempo=tempo)  # [B, P, C]
    env = F.interpolate(env, size=n, mode="linear", align_corners=False)  # [B, P, N]
    osc = _oscillators(P, n, sr, roll.device, roll.dtype)  # [P, N]
    wave = gain * torch.einsum("bpn,pn->bn", env, osc)  # sum over pitches
    return wave if batched else wave[0]


# ---------------------------------------------------------------------------------------------
# spectrograms


@functools.lru_cache(maxsize=8)
def _mel_transform(sr: int, n_fft: int, hop_length: int, n_mels: int, device, dtype):
    import torchaudio

    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0
    )
    return transform.to(device=device, dtype=dtype)


def mel_spectrogram(
    wave: torch.Tensor, *, sr: int = SR, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 80
) -> torch.Tensor:
    """Mel power spectrogram of a waveform (``torchaudio.transforms.MelSpectrogram``, HTK mel scale).

    Parameters
    ----------
    wave : Tensor [..., N]
    sr, n_fft, hop_length, n_mels : int
        Sample rate, FFT size, hop between frames (samples) and number of mel bands.

    Returns
    -------
    Tensor [..., n_mels, frames]
        Power (magnitude squared), ``frames = N // hop_length + 1``. Differentiable.
    """
    if not wave.is_floating_point():
        wave = wave.float()
    return _mel_transform(sr, n_fft, hop_length, n_mels, wave.device, wave.dtype)(wave)


def amplitude_to_db(spec: torch.Tensor, *, top_db: float | None = 80.0) -> torch.Tensor:
    """Power spectrogram to decibels, ``10 * log10(max(spec, 1e-10))`` (torchaudio's ``amplitude_to_DB``).

    Parameters
    ----------
    spec : Tensor [..., n_mels, frames]
        A power spectrogram, e.g. from :func:`mel_spectrogram`.
    top_db : float or None
        Floor each spectrogram at its own maximum minus ``top_db`` dB; ``None`` for no floor.

    Returns
    -------
    Tensor [..., n_mels, frames]
    """
    import torchaudio

    # torchaudio takes the maximum over [channel, freq, time]; a singleton channel axis makes
    # the top_db floor per spectrogram, also for a batch [B, n_mels, frames].
    db = torchaudio.functional.amplitude_to_DB(
        spec.unsqueeze(-3), multiplier=10.0, amin=1e-10, db_multiplier=0.0, top_db=top_db
    )
    return db.squeeze(-3)


# ---------------------------------------------------------------------------------------------
# files and players


def _to_numpy_1d(wave, what: str) -> np.ndarray:
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu().numpy()
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(
            f"{what} expects a 1-D waveform [N], got shape {wave.shape}; for a batch, pass one item (wave[0])"
        )
    return np.clip(wave, -1.0, 1.0)


def write_wav(path, wave, *, sr: int = SR) -> Path:
    """Write a mono waveform as a 16-bit PCM WAV file with soundfile; return its path.

    Parameters
    ----------
    path : str or Path
        Where to write; missing parent folders are created.
    wave : Tensor or ndarray [N]
        Samples; values beyond [-1, 1] are clipped.
    sr : int
        Sample rate in Hz.
    """
    import soundfile

    data = _to_numpy_1d(wave, "write_wav")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data, sr, subtype="PCM_16")
    return path


def player(wave, *, sr: int = SR):
    """An audio player for a notebook: ``IPython.display.Audio`` without loudness normalization.

    Parameters
    ----------
    wave : Tensor or ndarray [N]
        Samples; values beyond [-1, 1] are clipped, so quiet music stays quiet.
    sr : int
        Sample rate in Hz.
    """
    try:
        from IPython.display import Audio
    except ImportError as exc:
        raise ImportError(
            "playing audio needs IPython, which comes with Jupyter: pip install jupyterlab"
        ) from exc
    return Audio(_to_numpy_1d(wave, "player"), rate=sr, normalize=False)
