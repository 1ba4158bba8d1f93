"""Each control's feature, loss and metric, on hand-made rolls (no model needed)."""

import pytest
import torch

from dittoedu import audio, controls as C, roll as R
from dittoedu.corpus import ChoraleWindows
from dittoedu.roll import FRAME, MusicInputError, Note, notes_to_roll


def roll_of(notes, n_steps=32):
    return notes_to_roll(notes, n_steps)


def grad_of(control, x):
    x = x.clone().requires_grad_(True)
    control.loss(control.feature(x[None])).sum().backward()
    return x.grad


def test_melody_on_top():
    mel = C.Melody.from_melody([Note(72, 0, 8), Note(74, 8, 8)], n_steps=16)
    good = roll_of([Note(72, 0, 8), Note(74, 8, 8), Note(60, 0, 16)], 16)
    assert mel.loss(mel.feature(good[None])).item() == 0
    assert mel.measure(good)["accuracy"] == 1.0
    bad = roll_of([Note(72, 0, 8), Note(74, 8, 8), Note(79, 4, 4)], 16)  # a note above the melody
    m = mel.measure(bad)
    assert m["accuracy"] == pytest.approx(12 / 16) and m["pc_accuracy"] == pytest.approx(12 / 16)
    assert mel.loss(mel.feature(bad[None])).item() > 0
    g = grad_of(mel, bad)
    assert g[FRAME, 79 - 36, 5] > 0  # the loss wants the intruding note lower
    octave = roll_of([Note(60, 0, 8), Note(62, 8, 8)], 16)  # right pitch classes, wrong octave
    assert mel.measure(octave)["accuracy"] == 0 and mel.measure(octave)["pc_accuracy"] == 1


def test_melody_repeated_notes_need_onsets():
    mel = C.Melody.from_melody("4/4 c'8 c'8 c'4", n_steps=16)
    held = roll_of([Note(72, 0, 8)], 16)
    assert mel.measure(held)["accuracy"] == 1.0  # the top pitch is right on every step ...
    assert mel.loss(mel.feature(held[None])).item() > 0  # ... but the second c' is not struck again


def test_chords():
    ch = C.Chords.from_text("C G", n_steps=32)
    bass = [Note(48, t, 4) for t in range(0, 16, 4)] + [Note(43, t, 4) for t in range(16, 32, 4)]  # on every beat
    upper = [Note(64, 0, 16), Note(67, 0, 16), Note(72, 0, 16), Note(71, 16, 16), Note(74, 16, 16)]
    good = roll_of(bass + upper, 32)
    assert ch.loss(ch.feature(good[None])).item() == 0
    held = roll_of([Note(48, 0, 16), Note(43, 16, 16)] + upper, 32)  # the same notes, the bass held through the bar
    assert ch.measure(held) == ch.measure(good) and ch.loss(ch.feature(held[None])).item() > 0
    assert ch.measure(good) == {"achieved": None, "chord_tone_ratio": 1.0, "bass_ratio": 1.0}
    bad = roll_of([Note(48, 0, 16), Note(65, 0, 16), Note(47, 16, 16), Note(62, 16, 16)], 32)
    m = ch.measure(bad)  # F over C is not a chord tone; B2 under G is the wrong bass
    assert m["chord_tone_ratio"] == pytest.approx(48 / 64) and m["bass_ratio"] == 0.5
    assert ch.loss(ch.feature(bad[None])).item() > 0


def test_structure():
    st = C.Structure.from_form("ABA", bars=3)
    a = [Note(60, 0, 4), Note(64, 4, 4)]
    b = [Note(62, 16, 8), Note(65, 24, 8)]
    aba = roll_of(a + b + [Note(n.pitch, n.onset + 32, n.duration) for n in a], 48)
    m = st.measure(aba)
    assert m["ssm_mse"] == pytest.approx(0, abs=1e-6)
    assert st.loss(st.feature(aba[None])).item() == pytest.approx(0, abs=1e-6)
    aaa = roll_of(a + [Note(n.pitch, n.onset + 16, n.duration) for n in a]
                  + [Note(n.pitch, n.onset + 32, n.duration) for n in a], 48)
    assert st.measure(aaa)["ssm_mse"] == pytest.approx(4 / 9, abs=1e-4)  # the 4 A-B cells are 1, not 0
    assert grad_of(st, aaa).abs().sum() > 0


def test_agreement_is_decided_by_vote_and_onsets_by_any_strike():
    on, off = 1.0, -1.0
    parts = torch.full((1, 3, 2, 1, 3), off)  # three stretches of one pitch, three steps
    parts[0, 0, FRAME, 0, 0] = on  # step 0 sounds in one part of three: the vote says off
    parts[0, :2, FRAME, 0, 1] = on  # step 1 sounds in two: on, and struck, as the first part strikes it
    parts[0, 0, C.ONSET, 0, 1] = on
    cost = C.agreement_cost(parts)[0, :, :, 0]  # [3 parts, 2 channels, 3 steps]
    assert cost[0, FRAME, 0] > 0 and cost[1:, FRAME, 0].eq(0).all()  # the odd one out is turned off
    assert cost[2, FRAME, 1] > 0 and cost[:2, FRAME, 1].eq(0).all()  # the missing one is turned on
    assert cost[1:, C.ONSET, 1].gt(0).all() and cost[0, C.ONSET, 1] == 0  # every part strikes the note
    assert cost[:, :, 2].eq(0).all()  # silent everywhere: nothing to do


def test_a_forms_alike_bars_agree_by_vote():
    st = C.Structure.from_form("AAAB", bars=4)
    a = [Note(60, 0, 4), Note(64, 4, 4)]
    bars = [Note(n.pitch, n.onset + 16 * k, n.duration) for k in range(3) for n in a] + [Note(62, 56, 8)]
    exact = roll_of(bars, 64)
    assert st.loss(st.feature(exact[None])).item() == pytest.approx(0, abs=1e-6)
    extra = roll_of(bars + [Note(67, 8, 4)], 64)  # a G in bar 1 only
    g = grad_of(st, extra)
    assert g[FRAME, 67 - R.LOW_PITCH, 8:12].gt(0).all()  # the G goes: two bars of three lack it
    ssm_only = (st.feature(extra[None])[0] - st.ssm).square().mean()
    assert st.loss(st.feature(extra[None])).item() > ssm_only.item()  # the vote's cost comes on top


def test_intensity_surrogate_matches_the_audio():
    val = ChoraleWindows("validation", n_steps=64, transpose=0, progress=False)
    x = torch.stack([val.window(k) for k in range(0, len(val), len(val) // 8)])
    fast = C.loudness_from_roll(x)
    slow = C.loudness_from_audio(audio.synthesize(x), 64)
    assert (fast - slow).abs().max() < 1.0 and (fast - slow).abs().mean() < 0.3
    thin = C.loudness_from_roll(C.top_voice_only(x))
    assert (fast - thin).mean() > 4  # four voices are louder than one


def test_intensity_control():
    lo, hi = C.intensity_range()
    assert -30 < lo < hi - 4 < hi < -10
    x = roll_of([Note(60, 0, 32), Note(64, 0, 32), Note(67, 16, 16)], 32)
    own = C.loudness_from_audio(audio.synthesize(x[None]), 32)[0]
    c = C.Intensity(target_db=own)
    m = c.measure(x)
    assert m["mse_db2"] < 1e-8 and m["pearson"] > 0.999
    c2 = C.Intensity.from_curve([0.0, 1.0], n_steps=32)
    assert c2.target_db[0] == pytest.approx(lo) and c2.target_db[-1] == pytest.approx(hi)
    assert c2.measure(x)["mse_db2"] > 1


def test_intensity_loss_weighs_shape_and_stops_on_both():
    target = torch.linspace(-24.0, -17.0, 32)
    shifted, flipped = target + 1.0, target.flip(0)
    c = C.Intensity(target_db=target)
    losses = c.loss(torch.stack([target, shifted, flipped]))
    assert losses[0].item() == pytest.approx(0.0, abs=1e-4)
    assert losses[1].item() == pytest.approx(1.0, abs=1e-4)  # a level error only: 1 dB^2, shape kept
    mse_flipped = (flipped - target).square().mean().item()
    assert losses[2].item() == pytest.approx(mse_flipped + 2 * C.SHAPE_DB2, rel=1e-4)  # r = -1
    x = roll_of([Note(60, 0, 32), Note(64, 0, 32), Note(67, 16, 16)], 32)
    heard = C.loudness_from_audio(audio.synthesize(x[None]), 32)[0]  # judged on the audio, as measure() judges
    assert C.Intensity(target_db=heard).confirmed(x[None])
    near, far = C.Intensity(target_db=heard + 0.95), C.Intensity(target_db=heard + 1.05)  # the shape, level off
    assert near.confirmed(x[None]) and not far.confirmed(x[None])
    assert near.measure(x)["mse_db2"] <= C.DONE_DB2 < far.measure(x)["mse_db2"]
    assert not C.Intensity(target_db=heard.mean() - (heard - heard.mean())).confirmed(x[None])  # upside down


def test_intensity_renders_audio_only_for_notes_close_on_their_envelopes(monkeypatch):
    x = roll_of([Note(60, 0, 32), Note(64, 0, 32), Note(67, 16, 16)], 32)[None]
    renders = []
    synthesize = audio.synthesize
    monkeypatch.setattr(audio, "synthesize", lambda *a, **k: renders.append(1) or synthesize(*a, **k))
    heard = C.loudness_from_audio(synthesize(x), 32)[0]
    assert not C.Intensity(target_db=heard + 3.0).confirmed(x) and not renders  # 9 dB^2 off on the envelopes
    assert C.Intensity(target_db=heard).confirmed(x) and len(renders) == 1


def test_inpaint_and_loop():
    ref = roll_of([Note(60, 0, 4), Note(62, 4, 4), Note(64, 24, 8)], 32)
    keep = C.parse_keep("0:8,24:32", n_steps=32)
    inp = C.Inpaint(reference=ref, keep=keep)
    same_kept = roll_of([Note(60, 0, 4), Note(62, 4, 4), Note(70, 10, 6), Note(64, 24, 8)], 32)
    assert inp.measure(same_kept)["kept_f1"] == 1.0 and inp.loss(inp.feature(same_kept[None])).item() == 0
    missing = roll_of([Note(60, 0, 4), Note(64, 24, 8)], 32)
    assert inp.measure(missing)["kept_f1"] == pytest.approx(2 * 2 / (2 + 3))
    loop = C.Loop(n=8)
    looping = roll_of([Note(60, 0, 8), Note(67, 8, 16), Note(60, 24, 8)], 32)
    assert loop.measure(looping)["kept_f1"] == 1.0 and loop.loss(loop.feature(looping[None])).item() == 0
    assert loop.measure(missing)["kept_f1"] < 1


def test_loop_loss_moves_the_unsure_end_and_sees_the_delivered_music():
    loop = C.Loop(n=4)
    x = -torch.ones(1, 2, 48, 16)
    x[0, 0, 10, 1] = x[0, 0, 10, 13] = 1.0  # struck at both ends, but
    x[0, 1, 10, 1] = 0.1  # the head's cell is barely on, the tail's (step 13) surely off
    x[0, 1, 10, 13] = -0.9
    x.requires_grad_(True)
    loop.loss(loop.feature(x)).sum().backward()
    assert x.grad[0, 1, 10, 1] > 0 and x.grad[0, 1, 10, 13] == 0  # only the unsure end is pushed (off)
    # a cell with no onset on the first step is held into the clip; on the tail's first step (12) the same
    # cell is lone, a smudge the delivered music does not hold: the two ends differ, and the loss says so
    x = -torch.ones(1, 2, 48, 16)
    x[0, 1, 10, 0] = x[0, 1, 10, 12] = 1.0
    assert loop.loss(loop.feature(x)).item() > 0
    assert loop.measure(R.tidy(x[0]))["kept_f1"] < 1


def test_loop_loss_splits_notes_rather_than_merging_them():
    """Where one end strikes a sounding note and the other holds it, both are asked to strike it,
    however sure the holding end is; not on the step right after a strike (no one-step notes)."""
    loop = C.Loop(n=8)
    head = [Note(60, 0, 4), Note(60, 4, 4)]  # struck twice
    tail = [Note(60, 24, 8)]  # held through
    x = R.notes_to_roll(head + tail, 32)[None].clone().requires_grad_(True)
    loop.loss(loop.feature(x)).sum().backward()
    assert x.grad[0, R.ONSET, 60 - R.LOW_PITCH, 28] < 0  # the tail is asked to strike again at its step 4
    assert x.grad[0, R.ONSET, 60 - R.LOW_PITCH, 4] == 0  # the head keeps its strike
    # the head strikes again at step 5, the tail at step 4: one strike, at 4, in both
    x = R.notes_to_roll([Note(60, 0, 5), Note(60, 5, 3), Note(60, 24, 4), Note(60, 28, 4)], 32)[None]
    x = x.clone().requires_grad_(True)
    loop.loss(loop.feature(x)).sum().backward()
    row = 60 - R.LOW_PITCH
    assert x.grad[0, R.ONSET, row, 4] < 0 and x.grad[0, R.ONSET, row, 5] > 0  # the head strikes at 4, not 5
    assert x.grad[0, R.ONSET, row, 28] == 0 and x.grad[0, R.ONSET, row, 29] == 0  # the tail already does


@pytest.mark.parametrize("kwargs, message", [
    (dict(inpaint="4/4 c4 d e f", keep="0:0"), "not START:END|must lie inside"),
    (dict(inpaint="4/4 c4 d e f", keep="0:64"), "nothing left to generate"),
    (dict(inpaint="4/4 c4 d e f", keep=""), "keeps nothing"),
    (dict(inpaint="4/4 c4 d e f"), "needs --keep"),
    (dict(inpaint="4/4 c4 d e f", keep="0:16,48:64"), "only 16 steps long"),
    (dict(outpaint="4/4 c1 d e f"), "raise --bars"),
    (dict(loop=3), "at least 6 bars"),
    (dict(chords="C Hmaj7 Am F"), "Bmaj7"),
    (dict(form="AAB!"), "stray character"),
    (dict(intensity="0.1,nan,0.5"), "NaN"),
    (dict(melody="4/4 c1 d e f g"), "raise --bars"),
])
def test_bad_requests_are_refused_before_any_work(kwargs, message):
    with pytest.raises(MusicInputError, match=message):
        C.build(bars=4, **kwargs)


def test_build_states_its_fixes():
    controls, notes = C.build(bars=4, melody="4/4 c'''4 d''' e''' f'''", outpaint="4/4 c4 d e")
    assert [c.name for c in controls] == ["melody", "outpaint"]
    assert any("moved down" in n for n in notes) and any("keeping the first 12 steps" in n for n in notes)


def test_intensity_range_is_read_from_its_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DITTOEDU_CACHE", str(tmp_path))
    (tmp_path / f"intensity-range-v{C.INTENSITY_RANGE_VERSION}-7.json").write_text("[-21.5, -11.0]")
    assert C.intensity_range.__wrapped__(7) == (-21.5, -11.0)  # the cached values, not a new measurement
