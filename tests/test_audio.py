"""Tests for dittoedu.audio: the differentiable synthesizer, mel and dB against formulas, WAV files."""

import io
import sys

import numpy as np
import pytest
import soundfile
import torch
from scipy import signal

from dittoedu.audio import (
    SR,
    amplitude_to_db,
    mel_spectrogram,
    pitch_to_hz,
    player,
    step_seconds,
    synthesize,
    write_wav,
)
from dittoedu.roll import FRAME, LOW_PITCH, ONSET, Note, notes_to_roll


def at(n_steps: int) -> int:
    """The sample where step ``n_steps`` begins (and the length of ``n_steps`` steps)."""
    return round(n_steps * step_seconds() * SR)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64)))))


def highpass(x, cutoff=5000.0):
    sos = signal.butter(8, cutoff, "highpass", fs=SR, output="sos")
    return signal.sosfiltfilt(sos, np.asarray(x, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# synthesize


def test_length_follows_tempo_and_sample_rate():
    roll = notes_to_roll([Note(60, 0, 4)], n_steps=12)
    assert synthesize(roll).shape == (round(12 * step_seconds(90) * SR),)
    assert synthesize(roll, tempo=120, sr=8000).shape == (round(12 * 0.125 * 8000),)


def test_gradient_reaches_frame_and_onset_channels():
    roll = notes_to_roll([Note(60, 2, 6)], n_steps=12).requires_grad_(True)
    wave = synthesize(roll)
    wave.pow(2).mean().sqrt().backward()  # RMS of the audio
    p = 60 - LOW_PITCH
    assert roll.grad[FRAME, p, 2:8].abs().min() > 0  # every sounding step
    assert roll.grad[ONSET, p, 2].abs() > 0  # the attack's accent
    assert roll.grad[FRAME, p, 2:8].sum() > 0  # louder when the note is more "on"


def test_straight_through_gradient_beyond_plus_minus_one():
    roll = notes_to_roll([Note(64, 0, 4)], n_steps=8)
    pushed = (roll * 1.3).requires_grad_(True)  # +1.3 where on, -1.3 where off
    wave = synthesize(pushed)
    assert torch.allclose(wave, synthesize(roll), atol=1e-6)  # forward clamps
    wave.pow(2).mean().backward()
    p = 64 - LOW_PITCH
    assert pushed.grad[FRAME, p, :4].abs().min() > 0  # backward does not: no dead gradient above +1
    assert pushed.grad[FRAME, p + 1, :].abs().max() > 0  # nor below -1 (a silent pitch can be turned on)


@pytest.mark.parametrize("pitch", [45, 60, 76])
def test_held_note_spectrum_peaks_at_its_fundamental(pitch):
    wave = synthesize(notes_to_roll([Note(pitch, 0, 24)], n_steps=24)).numpy()
    steady = wave[at(4) : at(20)]  # away from the attack and release
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady)), n=4 * len(steady)))
    freqs = np.fft.rfftfreq(4 * len(steady), d=1 / SR)
    assert abs(freqs[spectrum.argmax()] - pitch_to_hz(pitch)) < 2.0


def test_loudness_grows_with_the_number_of_notes():
    chord = [48, 52, 55, 60, 64, 67, 72, 76]
    levels = [rms(synthesize(notes_to_roll([Note(p, 0, 16) for p in chord[:k]], n_steps=16)))
              for k in (1, 2, 4, 8)]
    assert all(a < b for a, b in zip(levels, levels[1:])), levels
    assert levels[-1] > 2 * levels[0]  # no normalization hiding it


def test_six_note_chord_stays_below_full_scale():
    wave = synthesize(notes_to_roll([Note(p, 0, 16) for p in (48, 52, 55, 60, 64, 67)], n_steps=16))
    assert 0.1 < wave.abs().max() < 1.0


def test_repeated_notes_dip_between_attacks():
    two_eighths = synthesize(notes_to_roll([Note(60, 0, 2), Note(60, 2, 2)], n_steps=6)).numpy()
    one_quarter = synthesize(notes_to_roll([Note(60, 0, 4)], n_steps=6)).numpy()
    win = int(0.01 * SR)  # 10 ms windows over the 60 ms before the second attack
    starts = range(at(2) - 6 * win, at(2), win // 2)
    dip = min(rms(two_eighths[s : s + win]) for s in starts)
    held = min(rms(one_quarter[s : s + win]) for s in starts)
    assert dip < 0.25 * held
    # and the second note is struck again: louder just after the boundary than the held note
    assert rms(two_eighths[at(2) + win : at(2) + 4 * win]) > rms(one_quarter[at(2) + win : at(2) + 4 * win])


def test_no_clicks_at_note_boundaries():
    # A note that starts and stops mid-clip, a repeated note and a held bass, all of whose
    # harmonics stay below 2.1 kHz: a click would show up as energy above 5 kHz.
    roll = notes_to_roll([Note(72, 4, 8), Note(72, 12, 2), Note(72, 14, 2), Note(48, 0, 16)], n_steps=20)
    wave = synthesize(roll).numpy()
    ours = np.abs(highpass(wave)).max() / np.abs(wave).max()
    # The same measure catches a hard-gated sine of the same pitch and level (the test can fail).
    t = np.arange(len(wave)) / SR
    gated = np.sin(2 * np.pi * pitch_to_hz(72) * t) * ((t >= at(4) / SR) & (t < at(12) / SR))
    hard = np.abs(highpass(gated)).max() / np.abs(gated).max()
    assert hard > 0.05
    assert ours < 5e-4  # about 2e-4; without the smoothing kernel it is about 9e-4


def test_no_clicks_at_the_edges_of_the_clip():
    # A note sounding from the first to the last step still fades in and out, so clips can
    # be played one after another (here: with silence around it).
    wave = synthesize(notes_to_roll([Note(72, 0, 8)], n_steps=8)).numpy()
    assert wave[0] == 0 and abs(wave[-1]) < 1e-3
    assert np.abs(highpass(np.pad(wave, 1000))).max() / np.abs(wave).max() < 5e-4


def test_silence_is_silent():
    wave = synthesize(-torch.ones(2, 48, 16))
    assert wave.shape == (at(16),)
    assert wave.abs().max() == 0


def test_batch_equals_items():
    rolls = torch.rand(3, 2, 48, 8) * 2 - 1  # soft values too, not only +-1
    rolls[1] = notes_to_roll([Note(60, 0, 4), Note(67, 2, 6)], n_steps=8)
    batch = synthesize(rolls)
    assert batch.shape == (3, at(8))
    for i in range(3):
        assert torch.allclose(batch[i], synthesize(rolls[i]), atol=1e-6)


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match=r"\[2, P, T\]"):
        synthesize(torch.zeros(48, 16))


# ---------------------------------------------------------------------------------------------
# mel spectrogram and dB, against formulas written out with numpy


def _htk_mel_filterbank(n_freqs, n_mels, sr):
    """Triangular filters on the HTK mel scale, mel = 2595 log10(1 + f / 700), no area normalization."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    freqs = np.linspace(0, sr / 2, n_freqs)
    edges = hz(np.linspace(mel(0.0), mel(sr / 2), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down))  # [n_mels, n_freqs]


def test_mel_spectrogram_matches_the_formula():
    n_fft, hop, n_mels = 512, 128, 40
    rng = np.random.default_rng(0)
    t = np.arange(SR // 2) / SR
    wave = 0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * rng.standard_normal(len(t))
    mel = mel_spectrogram(torch.tensor(wave, dtype=torch.float32), n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    assert mel.shape == (n_mels, len(t) // hop + 1)

    i = 20  # a frame away from the edges: it covers samples [i*hop - n_fft/2, i*hop + n_fft/2)
    frame = wave[i * hop - n_fft // 2 : i * hop + n_fft // 2]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    power = np.abs(np.fft.rfft(frame * window)) ** 2
    expected = _htk_mel_filterbank(n_fft // 2 + 1, n_mels, SR) @ power
    np.testing.assert_allclose(mel[:, i].numpy(), expected, rtol=2e-3, atol=1e-3 * expected.max())
    # and the sine's energy lands in the band whose centre is nearest 440 Hz
    top_mel = 2595 * np.log10(1 + SR / 2 / 700)
    centres = 700.0 * (10.0 ** (np.linspace(0, top_mel, n_mels + 2)[1:-1] / 2595) - 1)
    assert mel[:, i].argmax().item() == np.abs(centres - 440.0).argmin()


def test_mel_spectrogram_of_synth_output_is_batched():
    wave = synthesize(notes_to_roll([Note(60, 0, 8)], n_steps=8)[None].repeat(2, 1, 1, 1))
    assert mel_spectrogram(wave).shape == (2, 80, wave.shape[-1] // 256 + 1)


def test_amplitude_to_db_matches_10_log10_with_a_floor_per_spectrogram():
    spec = torch.rand(2, 8, 10, dtype=torch.float64) ** 8
    spec[1] *= 1e-3  # the second spectrogram is 30 dB quieter: its floor must be its own
    spec[0, 0, 0] = 0.0
    db = amplitude_to_db(spec, top_db=40.0).numpy()
    x = 10.0 * np.log10(np.maximum(spec.numpy(), 1e-10))
    expected = np.maximum(x, x.max(axis=(-2, -1), keepdims=True) - 40.0)
    np.testing.assert_allclose(db, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(amplitude_to_db(spec, top_db=None).numpy(), x, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# files and players


def test_write_wav_round_trip(tmp_path):
    wave = synthesize(notes_to_roll([Note(60, 0, 4), Note(64, 2, 4)], n_steps=8))
    path = write_wav(tmp_path / "sub" / "clip.wav", wave)
    assert path == tmp_path / "sub" / "clip.wav"
    data, sr = soundfile.read(path, dtype="float32")
    info = soundfile.info(path)
    assert sr == SR and info.subtype == "PCM_16"
    assert data.shape == wave.shape
    np.testing.assert_allclose(data, wave.numpy(), atol=1.0 / 32767)


def test_write_wav_clips_and_takes_numpy(tmp_path):
    wave = np.array([0.0, 1.7, -2.0, 0.25], dtype=np.float64)
    data, sr = soundfile.read(write_wav(tmp_path / "x.wav", wave, sr=8000))
    assert sr == 8000
    np.testing.assert_allclose(data, [0.0, 1.0, -1.0, 0.25], atol=1.0 / 32767)
    with pytest.raises(ValueError, match="1-D"):
        write_wav(tmp_path / "y.wav", np.zeros((2, 10)))


def test_player_without_ipython_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    with pytest.raises(ImportError, match="jupyterlab"):
        player(np.zeros(10))


def test_player_keeps_the_level_and_the_rate():
    pytest.importorskip("IPython")
    audio = player(torch.full((SR // 10,), 0.01))
    assert "<audio" in audio._repr_html_()
    data, sr = soundfile.read(io.BytesIO(audio.data))  # the WAV bytes the browser will play
    assert sr == SR and len(data) == SR // 10
    assert abs(data.max() - 0.01) < 1e-3  # not normalized up to full scale
    player(np.array([0.0, 1.5, -2.0]))  # out-of-range samples are clipped, not an error


def test_an_attack_decays_as_one_exponential_across_steps():
    from dittoedu import audio

    x = -torch.ones(1, 2, 4, 8)
    x[0, :, 1, 1] = 1.0  # one note struck at step 1 ...
    x[0, 1, 1, 2:7] = 1.0  # ... and held to step 6
    env = audio.envelopes(x)[0, 1]
    K = audio.CONTROL_FRAMES_PER_STEP
    dt = step_seconds(audio.TEMPO) / K
    n = torch.arange(5, round(5 * audio.ACCENT_DECAY_S / dt) - 5)  # frames after the strike, off the edges
    expected = 1 + audio.ACCENT * torch.exp(-n * dt / audio.ACCENT_DECAY_S)
    assert torch.allclose(env[K + n], expected, atol=2e-3)  # crosses two step boundaries untouched
    cut = K + round(5 * audio.ACCENT_DECAY_S / dt)  # the decay stops after 5 tau
    assert torch.allclose(env[cut + 5 : 6 * K], torch.tensor(1.0))
