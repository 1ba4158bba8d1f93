"""The denoiser network: a small 1-D U-Net over time.

A piano roll ``[B, 2, P, T]`` is read as a 1-D signal over time ``T`` with
``2 * P`` channels (onset and frame for every pitch), so every layer sees all
pitches at once, which is what harmony needs. The U-Net halves the time axis twice,
mixes the whole piece with one self-attention layer at the bottom, and comes back
up with skip connections. Every residual block is told the noise level through a
FiLM layer (a learned scale and shift per channel).

The network is fully convolutional: the same weights generate 2 bars (32 steps)
or 16 bars (256 steps); the length must be a multiple of 4.

>>> net = UNet1d(UNetConfig(channels=(32, 32, 32)))
>>> net(torch.zeros(3, 2, 48, 32), torch.ones(3)).shape
torch.Size([3, 2, 48, 32])
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .roll import N_PITCHES


@dataclass
class UNetConfig:
    n_pitches: int = N_PITCHES  # rows of the piano roll
    channels: tuple[int, int, int] = (64, 128, 128)  # width at full, 1/2 and 1/4 time resolution
    blocks_per_level: int = 2  # residual blocks per resolution on the way down
    emb_dim: int = 128  # width of the noise-level embedding
    attention_heads: int = 4  # heads of the self-attention at the lowest resolution (0: none)
    dropout: float = 0.0  # dropout inside residual blocks
    target_level: bool = False  # also told a second noise level, where to jump to (CTM, Kim et al. 2023)
    parameterization: str = "binary"  # what the output means: "binary" (log-odds of each cell being on) or "edm"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        d.setdefault("parameterization", "edm")  # checkpoints from before the field existed
        return cls(**d)


def noise_embedding(c_noise: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``[B, dim]`` of the (preconditioned) noise level ``[B]`` (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=c_noise.device) / half)
    args = c_noise.float()[:, None] * freqs[None] * 100  # c_noise = ln(sigma)/4 is O(1): spread it out
    return torch.cat([args.cos(), args.sin()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → Conv, twice, with FiLM from the noise embedding in between."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(32, c_in // 4), c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(min(32, c_out // 4), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over time, so the far ends of the piece can agree (key, form)."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(32, channels // 4), channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x).transpose(1, 2)  # [B, T, C]
        h, _ = self.attn(h, h, h, need_weights=False)
        return x + h.transpose(1, 2)


class UNet1d(nn.Module):
    """``net(x, c_noise) -> y``: x ``[B, 2, P, T]`` and c_noise ``[B]`` in, ``[B, 2, P, T]`` out.

    With ``target_level`` the network also takes ``c_noise_target [B]``, the level to jump to.

    The raw network F of Karras et al. (2022); the preconditioning that turns it into
    a denoiser D lives in :mod:`dittoedu.diffusion`.
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or UNetConfig()
        c0, c1, c2 = cfg.channels
        io = 2 * cfg.n_pitches
        self.emb = nn.Sequential(nn.Linear(cfg.emb_dim, cfg.emb_dim), nn.SiLU(), nn.Linear(cfg.emb_dim, cfg.emb_dim))
        if cfg.target_level:  # added to the first embedding; starts at zero, so a copied denoiser is unchanged
            self.emb_target = nn.Sequential(nn.Linear(cfg.emb_dim, cfg.emb_dim), nn.SiLU(),
                                            nn.Linear(cfg.emb_dim, cfg.emb_dim))
            nn.init.zeros_(self.emb_target[-1].weight)
            nn.init.zeros_(self.emb_target[-1].bias)
        self.inp = nn.Conv1d(io, c0, 3, padding=1)
        block = lambda a, b: ResBlock(a, b, cfg.emb_dim, cfg.dropout)  # noqa: E731
        n = cfg.blocks_per_level
        self.down0 = nn.ModuleList([block(c0, c0) for _ in range(n)])
        self.pool0 = nn.Conv1d(c0, c0, 4, stride=2, padding=1)
        self.down1 = nn.ModuleList([block(c0 if i == 0 else c1, c1) for i in range(n)])
        self.pool1 = nn.Conv1d(c1, c1, 4, stride=2, padding=1)
        self.mid1 = block(c1, c2)
        self.attn = Attention(c2, cfg.attention_heads) if cfg.attention_heads else nn.Identity()
        self.mid2 = block(c2, c2)
        self.unpool1 = nn.ConvTranspose1d(c2, c2, 4, stride=2, padding=1)  # 1/4 -> 1/2
        self.up1 = nn.ModuleList([block(c2 + c1 if i == 0 else c1, c1) for i in range(n)])
        self.unpool0 = nn.ConvTranspose1d(c1, c1, 4, stride=2, padding=1)  # 1/2 -> full
        self.up0 = nn.ModuleList([block(c1 + c0 if i == 0 else c0, c0) for i in range(n)])
        self.out_norm = nn.GroupNorm(min(32, c0 // 4), c0)
        self.out = nn.Conv1d(c0, io, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, c_noise_target: torch.Tensor | None = None) -> torch.Tensor:
        B, C, P, T = x.shape
        if T % 4:
            raise ValueError(f"the number of steps must be a multiple of 4, got {T}")
        emb = self.emb(noise_embedding(c_noise.expand(B), self.config.emb_dim))
        if self.config.target_level:
            emb = emb + self.emb_target(noise_embedding(c_noise_target.expand(B), self.config.emb_dim))
        h = self.inp(x.reshape(B, C * P, T))
        for blk in self.down0:
            h = blk(h, emb)
        skip0 = h
        h = self.pool0(h)
        for blk in self.down1:
            h = blk(h, emb)
        skip1 = h
        h = self.pool1(h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        h = torch.cat([self.unpool1(h), skip1], dim=1)
        for blk in self.up1:
            h = blk(h, emb)
        h = torch.cat([self.unpool0(h), skip0], dim=1)
        for blk in self.up0:
            h = blk(h, emb)
        return self.out(F.silu(self.out_norm(h))).reshape(B, C, P, T)


class TracedNet(nn.Module):
    """``net`` run as a TorchScript graph (``torch.jit.trace``), traced on its first call on each device.

    The same numbers and gradients as ``net`` (it shares its weights), without Python's cost for
    every layer of every call: DITTO calls the network eight times forwards and eight times
    backwards per iteration, each call only a few milliseconds of arithmetic at batch 1, so
    that cost was a sixth of an iteration on a 2-core CPU (``benchmarks/sampling.txt``).
    For sampling and optimizing the noise, not for training: it is traced in the mode the net is in.

    >>> net = UNet1d(UNetConfig(channels=(32, 32, 32))).eval()
    >>> x, c = torch.randn(2, 2, 48, 32), torch.ones(2)
    >>> bool((TracedNet(net)(x, c) - net(x, c)).abs().max() < 1e-5)
    True
    """

    def __init__(self, net: UNet1d):
        super().__init__()
        self.net = net
        self._graphs = {}  # (device, dtype) -> the traced graph

    @property
    def config(self) -> UNetConfig:
        """The traced net's configuration (what :class:`~dittoedu.diffusion.Denoiser` reads)."""
        return self.net.config

    def forward(self, x: torch.Tensor, *levels: torch.Tensor) -> torch.Tensor:
        key = (x.device, x.dtype)
        if key not in self._graphs:
            example = (x.detach()[:1].clone().requires_grad_(True), *(c.detach()[:1] for c in levels))
            with torch.enable_grad(), warnings.catch_warnings():  # with gradients, so that the graph has them
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the length check becomes a constant
                self._graphs[key] = torch.jit.trace(self.net, example, check_trace=False)
        with torch.jit.optimized_execution(False):  # as traced: TorchScript's optimizer changed the
            # numbers after its first runs, and the first music of a session differed from the same request's next
            return self._graphs[key](x, *levels)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
