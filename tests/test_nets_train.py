"""The network's shape, training resumes exactly, checkpoints refuse what they cannot hold."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from dittoedu import train as T
from dittoedu.diffusion import Denoiser
from dittoedu.nets import TracedNet, UNet1d, UNetConfig, count_parameters
from net_helpers import untrained_unet

MICRO = dataclasses.replace(
    T.PRESETS["tiny"], steps=6, batch_size=4, window=32, log_every=1, eval_every=3, checkpoint_every=3,
    net=UNetConfig(channels=(16, 16, 16), blocks_per_level=1, emb_dim=32, attention_heads=2))


def test_default_network_size():
    n = count_parameters(UNet1d(T.PRESETS["default"].net))
    assert 1_000_000 <= n <= 4_000_000
    assert n * 4 < 10 * 2**20  # fp32 weights fit the 10 MB budget


@pytest.mark.parametrize("bars", [2, 4, 16])
def test_fully_convolutional(bars):
    net = UNet1d(MICRO.net)
    assert net(torch.zeros(1, 2, 48, 16 * bars), torch.zeros(1)).shape == (1, 2, 48, 16 * bars)


def test_length_must_divide_by_four():
    with pytest.raises(ValueError, match="multiple of 4"):
        UNet1d(MICRO.net)(torch.zeros(1, 2, 48, 30), torch.zeros(1))


@pytest.mark.parametrize("target_level", [False, True])
def test_traced_net_gives_the_same_music_and_gradients(target_level):
    net = untrained_unet(attention_heads=2, target_level=target_level).eval()
    traced = TracedNet(net)
    levels = (torch.ones(1),) + ((torch.zeros(1),) if target_level else ())
    with torch.no_grad():  # traced first without gradients: the graph must still carry them (attention's fast path)
        first = traced(torch.zeros(1, 2, 48, 32), *levels)
    assert first.shape == (1, 2, 48, 32)
    x = torch.randn(3, 2, 48, 64, requires_grad=True)  # another batch and length than it was traced with
    (g_eager,) = torch.autograd.grad(net(x, *levels).square().sum(), x)
    (g_traced,) = torch.autograd.grad(traced(x, *levels).square().sum(), x)
    assert torch.allclose(net(x, *levels), traced(x, *levels), atol=1e-5)
    assert torch.allclose(g_eager, g_traced, atol=1e-4)
    with torch.no_grad():
        net.out.bias.add_(1.0)  # it shares the net's weights
    assert torch.allclose(net(x, *levels), traced(x, *levels), atol=1e-5)


def test_resume_gives_the_same_weights_as_one_run(tmp_path):
    straight = T.train(MICRO, tmp_path / "a", progress=False)
    T.train(MICRO, tmp_path / "b", progress=False, max_steps=3)
    assert T.read_metadata(tmp_path / "b" / "checkpoint.safetensors")["step"] == "3"
    resumed = T.train(MICRO, tmp_path / "b", progress=False)
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    log = (tmp_path / "b" / "train.log").read_text()
    assert "start at step 0" in log and "start at step 3" in log
    rows = (tmp_path / "b" / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,loss,val_loss,cpu_seconds" and len(rows) == 7


def test_resume_refuses_another_network(tmp_path):
    T.train(MICRO, tmp_path, progress=False, max_steps=1)
    other = dataclasses.replace(MICRO, net=dataclasses.replace(MICRO.net, channels=(16, 32, 32)))
    with pytest.raises(T.CheckpointError, match="another network"):
        T.train(other, tmp_path, progress=False)


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return T.save_weights(UNet1d(MICRO.net), MICRO, tmp_path / "w.safetensors")


def test_load_model_round_trip(weights):
    model, config = T.load_model(weights)
    assert isinstance(model, Denoiser) and config == MICRO
    assert not any(p.requires_grad for p in model.parameters())


def test_load_refuses_wrong_shape(weights, tmp_path):
    tensors = load_file(str(weights))
    meta = T.read_metadata(weights)
    key = next(k for k in tensors if k.endswith("inp.weight"))
    tensors[key] = torch.zeros(3, 3, 3)
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(T.CheckpointError, match="does not fit.*shape of inp.weight"):
        T.load_model(tmp_path / "bad.safetensors")


def test_load_refuses_wrong_version_and_foreign_files(weights, tmp_path):
    tensors = load_file(str(weights))
    meta = T.read_metadata(weights)
    save_file(tensors, str(tmp_path / "v9.safetensors"), metadata={**meta, "version": "9"})
    with pytest.raises(T.CheckpointError, match="version-9 checkpoint"):
        T.load_model(tmp_path / "v9.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(T.CheckpointError, match="not a dittoedu checkpoint"):
        T.load_model(tmp_path / "other.safetensors")
    pickle = tmp_path / "model.pt"
    torch.save({"x": torch.zeros(1)}, pickle)  # a pickle: must be refused, never unpickled
    with pytest.raises(T.CheckpointError, match="not a safetensors checkpoint"):
        T.load_model(pickle)
    with pytest.raises(T.CheckpointError, match="no checkpoint"):
        T.load_model(tmp_path / "missing.safetensors")


def test_config_json_round_trip():
    config = T.PRESETS["default"]
    assert T.TrainConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["net"]["channels"] == [64, 128, 128]


@pytest.mark.parametrize("kind", ["cm", "ctm"])
def test_distillation_runs_resumes_and_loads(tmp_path, kind, weights):
    from dittoedu.diffusion import TrajectoryModel

    run = tmp_path / kind
    original = dict(T.DISTILL_PRESETS["tiny"])
    T.DISTILL_PRESETS["tiny"].update(steps=4, batch_size=2, log_every=1, eval_every=2, checkpoint_every=2)
    try:
        T.distill(weights, kind, run, preset="tiny", progress=False, max_steps=2)
        assert T.read_metadata(run / "checkpoint.safetensors")["step"] == "2"
        ckpt = T.distill(weights, kind, run, preset="tiny", progress=False)
    finally:
        T.DISTILL_PRESETS["tiny"].clear()
        T.DISTILL_PRESETS["tiny"].update(original)
    model, config = T.load_model(ckpt)
    assert isinstance(model, TrajectoryModel) and config.kind == kind and config.net.target_level
    assert T.read_metadata(ckpt)["kind"] == kind and T.read_metadata(ckpt)["step"] == "4"
    rows = (run / "losses.csv").read_text().splitlines()[1:]
    assert len(rows) == 4 and all(float(r.split(",")[1]) == float(r.split(",")[1]) for r in rows)  # no NaN



def test_a_smaller_student_starts_from_the_teachers_first_blocks_and_keeps_its_size(tmp_path):
    deep = dataclasses.replace(MICRO, net=dataclasses.replace(MICRO.net, blocks_per_level=2))
    torch.manual_seed(0)
    teacher = T.save_weights(UNet1d(deep.net), deep, tmp_path / "deep.safetensors")
    originals = {k: dict(T.DISTILL_PRESETS[k]) for k in ("tiny", "jump")}
    for k in originals:
        T.DISTILL_PRESETS[k].update(steps=1, batch_size=2, endpoint_batch=2, lr=0.0, log_every=1, eval_every=1,
                                    checkpoint_every=1)
    try:
        small = T.distill(teacher, "ctm", tmp_path / "small", preset="tiny", progress=False, blocks=1)
        jumped = T.distill(teacher, "ctm", tmp_path / "jump", preset="jump", progress=False, init=small)
        again = T.distill(teacher, "ctm", tmp_path / "again", preset="jump", progress=False, init=jumped)
    finally:
        for k, v in originals.items():
            T.DISTILL_PRESETS[k].clear()
            T.DISTILL_PRESETS[k].update(v)
    with pytest.raises(ValueError, match="at least one residual block"):
        T.distill(teacher, "ctm", tmp_path / "none", preset="tiny", progress=False, blocks=0)
    (student, config), (big, _) = T.load_model(small), T.load_model(teacher)
    assert config.net.blocks_per_level == 1 and len(student.net.down0) == 1 and len(big.net.down0) == 2
    theirs = big.net.state_dict()
    mine = student.net.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in mine.items() if not k.startswith("emb_target"))
    assert any(k.startswith("down0.1.") for k in theirs) and not any(k.startswith("down0.1.") for k in mine)
    _, jump_config = T.load_model(jumped)  # a later phase goes on with the student's size
    assert jump_config.net.blocks_per_level == 1 and "itself starting from" not in jump_config.init
    assert f"itself starting from {jump_config.init}" in T.load_model(again)[1].init
    card = open(T.write_distill_card(small, tmp_path / "small.safetensors", teacher=teacher, n_samples=2)["card"]).read()
    n_student, n_teacher = count_parameters(student.net), count_parameters(big.net)
    assert "--preset tiny --blocks 1`" in card and n_student < n_teacher
    assert f"1 residual block per level, {n_student:,} parameters (the teacher: 2, {n_teacher:,})" in card


def test_the_jump_phase_starts_from_its_init_and_trains_only_the_jump_from_noise(tmp_path, weights):
    first = tmp_path / "ctm"
    originals = {k: dict(T.DISTILL_PRESETS[k]) for k in ("tiny", "jump")}
    T.DISTILL_PRESETS["tiny"].update(steps=2, batch_size=2, log_every=1, eval_every=2, checkpoint_every=2)
    T.DISTILL_PRESETS["jump"].update(steps=2, batch_size=2, endpoint_batch=3, log_every=1, eval_every=2,
                                     checkpoint_every=2)
    try:
        start = T.distill(weights, "ctm", first, preset="tiny", progress=False)
        with pytest.raises(T.CheckpointError, match="not a distillation of"):
            T.distill(weights, "ctm", tmp_path / "bad", preset="jump", progress=False, init=weights)
        T.DISTILL_PRESETS["jump"]["lr"] = 0.0  # no learning: the student stays what it started as
        jumped = T.distill(weights, "ctm", tmp_path / "jump", preset="jump", progress=False, init=start)
    finally:
        for k, v in originals.items():
            T.DISTILL_PRESETS[k].clear()
            T.DISTILL_PRESETS[k].update(v)
    (a, _), (b, jump_config) = T.load_model(start), T.load_model(jumped)
    assert all(torch.equal(v, b.net.state_dict()[k]) for k, v in a.net.state_dict().items())
    assert jump_config.init.startswith(f"{start}: ctm 'tiny', 2 steps, ")
    card = T.write_distill_card(jumped, tmp_path / "card.safetensors", teacher=weights, n_samples=2)["card"]
    assert f"--preset jump --init CHECKPOINT`:\n2 steps" in open(card).read()
    assert f"starting from CHECKPOINT ({start}: ctm 'tiny', 2 steps" in open(card).read()
    shipped = tmp_path / "card.safetensors"  # measured again where it was exported: the weights stay
    before = shipped.read_bytes()
    T.write_distill_card(shipped, shipped, teacher=weights, n_samples=2)
    assert shipped.read_bytes() == before and f"--init CHECKPOINT`:\n2 steps" in open(card).read()
    student, config = T.load_model(start)
    teacher, _ = T.load_model(weights)
    jump = T.DistillConfig(**{**T.DISTILL_PRESETS["jump"], "kind": "ctm"})
    calls = []
    hook = teacher.net.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    x0 = torch.zeros(2, 2, 48, 16)
    T.distillation_loss(student, x0, teacher=teacher, config=jump, generator=torch.Generator().manual_seed(0))
    assert calls == [32] * jump.endpoint_steps  # the teacher's Euler solve only, on 32 draws of noise
    calls.clear()
    T.distillation_loss(student, x0, teacher=teacher, config=config, generator=torch.Generator().manual_seed(0))
    assert calls == [2, 2] + [1] * config.endpoint_steps  # plus the consistency loss's Heun step
    hook.remove()


def test_a_binary_student_learns_even_where_it_is_sure_and_wrong():
    """Distillation compares a binary student's jumps to music by cross-entropy on its log-odds: a cell it is
    sure is off (log-odds -20) but should be on still gets a full-sized push; squared error through its
    tanh would give almost none (the flat tanh), and the student would stay wrong."""
    from dittoedu.diffusion import SIGMA_MAX, TrajectoryModel

    student = TrajectoryModel(untrained_unet(target_level=True))
    torch.nn.init.zeros_(student.net.out.weight)
    torch.nn.init.constant_(student.net.out.bias, -20.0)  # every cell: surely off
    x = SIGMA_MAX * torch.randn(2, 2, 48, 16, generator=torch.Generator().manual_seed(0))
    music = torch.ones_like(x)  # ... but every cell should be on
    T._music_loss(student, x, SIGMA_MAX, music).backward()
    assert student.net.out.bias.grad.sum() < -0.99  # mean over cells of d(BCE)/d(log-odds) = sigmoid(-20) - 1
    student.zero_grad()
    (student.denoise(x, SIGMA_MAX) - music).square().mean().backward()
    assert student.net.out.bias.grad.abs().max() < 1e-6
