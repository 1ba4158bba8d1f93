"""Small untrained networks for tests of the mechanics (not the music)."""

import dataclasses

import torch

from dittoedu.nets import UNet1d, UNetConfig

SMALL = UNetConfig(channels=(16, 16, 16), blocks_per_level=1, emb_dim=32, attention_heads=0)


def untrained_unet(config: UNetConfig = SMALL, **changes) -> UNet1d:
    """A seeded untrained U-Net whose output layer is not zero (a fresh one's is), so its output depends on its input."""
    torch.manual_seed(0)
    net = UNet1d(dataclasses.replace(config, **changes))
    torch.nn.init.normal_(net.out.weight, std=0.3)
    return net
