"""The benchmark scripts build their held-out targets and print their tables (tiny settings)."""


import pytest
from net_helpers import untrained_unet

from dittoedu import bench
from dittoedu.diffusion import Denoiser
from dittoedu.targets import parse_chords


def micro_model():
    return Denoiser(untrained_unet()).eval()


def test_there_are_twenty_held_out_targets_per_control():
    requests = bench.adherence_requests(20)
    counts = {}
    for name, bars, build in requests:
        counts[name] = counts.get(name, 0) + 1
        if counts[name] == 1 or name == "structure":
            assert build()[0].name == name.split("/")[0]  # chords/bar: the chords control, one per bar
    assert counts == {k: 20 * bench.SEEDS_PER_TARGET.get(k, 1) for k in
                      ["melody", "chords", "chords/bar", "intensity", "structure", "inpaint", "outpaint", "loop"]}
    assert bench.SEEDS_PER_TARGET["intensity"] > 1  # each curve with several seeds: its runs are chaotic
    from dittoedu.corpus import is_validation  # noqa: F401  (targets come from the validation split)
    per_bar = bench.chord_targets(20, per="bar")
    assert len(set(per_bar)) >= 15 and all(len(c.split()) == 4 for c in per_bar)
    per_beat = bench.chord_targets(20)
    assert len(set(per_beat)) >= 15
    for text in per_beat:  # four bars of four beats, each chord one music21 reads
        bars = text.strip("| ").split(" | ")
        assert len(bars) == 4 and all(len(b.split()) == 4 for b in bars)
        assert len(parse_chords(text, bars=4)) == 16


def test_the_chord_of_a_beat_is_read_off_its_notes():
    from dittoedu.roll import Note, notes_to_roll

    def chord_of(pitches):
        return bench._chord_at(notes_to_roll([Note(p, 0, 4) for p in pitches], 4), 0)

    assert chord_of([48, 64, 67, 72]) == "C" and chord_of([47, 62, 67, 74]) == "G/B"
    assert chord_of([60, 62, 64]) is None  # C D E: passing notes, not a chord
    assert chord_of([48, 60]) is None  # an octave names no chord
    with pytest.raises(ValueError, match="'beat' or 'bar'"):
        bench.chord_targets(1, per="week")


def test_adherence_and_tables_run():
    model = micro_model()
    rows = bench.run_adherence(model, n=1, controls_filter=["melody", "loop"], progress=False, n_iters=2,
                               sampler_steps=2)
    assert set(rows) == {"melody", "loop"}
    table = bench.adherence_table(rows, title="t")
    assert "| melody | 1 | accuracy |" in table and "| loop | 1 | kept_f1 |" in table
    quality = bench.quality_table(rows, bench.unconditional_quality(model, n=2, sampler_steps=2))
    assert "vs 2 unconditional samples" in quality and "| melody |" in quality
    chorales = next(line for line in quality.splitlines() if line.startswith("| *held-out chorales* |"))
    assert chorales.count(" %)") == 6  # each measure, relative to the samples
    timing = bench.sampling_table(model, repeats=1, bars=(1,), steps=(2,), batches=(1,))
    assert "| 1 | 2 | 1 |" in timing
    iteration = bench.iteration_table(model, repeats=1, sampler_steps=2, bars=1)
    assert "| eager |" in iteration and "| traced (TracedNet) |" in iteration
    equal = bench.baselines_at_equal_time(model, rows, n=1, controls_filter=["melody"], sampler_steps=2,
                                          progress=False)
    melody_row = equal.splitlines()[-1]
    assert melody_row.startswith("| melody | accuracy |") and melody_row.count("[pc_accuracy ") == 3  # each method



def test_interleaved_runs_give_what_separate_runs_give():
    model = micro_model()
    kwargs = {"a": dict(method="ditto", n_iters=2, sampler_steps=2), "b": dict(method="ditto", n_iters=3, lr=0.1,
                                                                             sampler_steps=2, early_stop=False)}
    both = bench.run_interleaved(model, kwargs, n=1, controls_filter=["melody", "structure"], progress=False)
    for name, kw in kwargs.items():
        alone = bench.run_adherence(model, n=1, controls_filter=["melody", "structure"], progress=False, **kw)
        for control in ("melody", "structure"):
            assert both[name][control]["metrics"] == alone[control]["metrics"]
            assert both[name][control]["iterations"] == alone[control]["iterations"]
    assert both["b"]["melody"]["iterations"] == [3]


def test_a_run_of_one_control_repeats_its_row_of_the_full_run(monkeypatch):
    from dittoedu import ito

    seeds = []
    optimize = ito.optimize
    monkeypatch.setattr(ito, "optimize", lambda *a, seed, **kw: seeds.append(seed) or optimize(*a, seed=seed, **kw))
    kw = dict(method="ditto", n_iters=1, sampler_steps=2)
    rows = {only: bench.run_adherence(micro_model(), n=2, controls_filter=list(only), progress=False, **kw)
            for only in (("melody", "structure"), ("structure",))}
    assert seeds == [0, 1, 80, 81, 80, 81]  # the full benchmark's seeds for these requests
    assert rows["melody", "structure"]["structure"]["metrics"] == rows["structure",]["structure"]["metrics"]


def test_ditto2_table_compares_speed_and_the_outputs_quality_with_ditto():
    from dittoedu.diffusion import TrajectoryModel

    model = micro_model()
    surrogate = TrajectoryModel(untrained_unet(target_level=True)).eval()
    table = bench.ditto2_table(model, surrogate, n=1, controls_filter=["melody", "loop"], n_iters=2, sampler_steps=2,
                               decodes=(("ctm", 1),), progress=False)
    assert "| melody | accuracy |" in table and "speed-up over DITTO | 1.0x |" in table
    times = table.split("median seconds (iterations) per request")[1].split("quality of the outputs")[0]
    assert [line.split(" | ")[0] for line in times.splitlines() if line.startswith("| ") and "---" not in line] == [
        "| control", "| melody", "| loop"]
    assert all(line.count("(2)") == 2 for line in times.splitlines() if line.startswith("| loop"))  # 2 its each
    quality = table.split("quality of the outputs")[1]
    assert "(2 4-bar requests" in quality  # melody and loop: one 4-bar request each
    rows = {line.split(" | ")[0].strip("| "): line for line in quality.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"key_fit", "short_note_rate", "mean_note_length"}
    assert all(row.split(" | ")[1].endswith("(0 %)") for row in rows.values() if row.split(" | ")[0] != "| measure")


def test_text_benchmark_counts_the_attributes_the_analyzers_found():
    model = micro_model()
    prompts = ["a gloomy hymn", "high and bright, rising"]
    rows = bench.run_text(model, prompts=prompts, method="none", progress=False, sampler_steps=2)
    assert [len(r["met"]) for r in rows] == [1, 3]
    assert all(set(r["attributes"][a]) == {"asked", "found", "met"} for r in rows for a in r["attributes"])
    table = bench.text_table({"none": rows}, [r["quality"] for r in rows])
    met = sum(ok for r in rows for ok in r["met"])
    assert f"**{100 * met / 4:.1f} %**" in table and "| a gloomy hymn |" in table


def test_combined_table_runs_every_pair_balanced_and_summed():
    table = bench.combined_table(micro_model(), seeds=range(1), n_iters=1, progress=False)
    rows = [line for line in table.splitlines()[3:]]
    assert len(rows) == 2 * len(bench.COMBINATIONS) + 2  # DITTO balanced and summed (no surrogate, no DITTO-2), totals
    assert rows[0].startswith("| intensity+form | ditto balanced | 0/1 |") and "structure ssm_mse" in rows[0]
    assert "| melody+chords | ditto summed |" in table and rows[-1].startswith("| all | ditto summed | 0/5 |")
