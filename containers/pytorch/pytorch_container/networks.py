"""The classifier networks, built from the artifact's metadata (so that serving rebuilds the same one).

- `cnn`: four 3x3 convolutions (32, 32, 64, 64 channels) with batch norm, one 2x2 max pool, global
  average pooling, dropout and a linear head: about 66 k parameters, for small images (the digits, the
  seeds' 28x28 doodles).
- `resnet18`: the ResNet-18 of He et al. (2015), as torchvision builds it (torchvision does not install
  beside torch 2.13.0 here), for larger images: 11 M parameters; at 224x224 it is the compute-bound
  model of the serving benchmark.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class SmallCnn(nn.Module):
    """The default classifier for small images."""

    def __init__(self, channels: int, classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(channels, width),
            conv_bn_relu(width, width),
            nn.MaxPool2d(2),
            conv_bn_relu(width, 2 * width),
            conv_bn_relu(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * width, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N x classes) of a normalized N x C x H x W batch."""
        result: torch.Tensor = self.head(self.features(x))
        return result


class BasicBlock(nn.Module):
    """ResNet's two-convolution residual block."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output: ReLU(F(x) + shortcut(x))."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + self.downsample(x))
        return result


class ResNet18(nn.Module):
    """ResNet-18: 7x7/2 stem, max pool, four stages of two basic blocks (64, 128, 256, 512), linear head."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        inputs = 64
        for outputs, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages += [BasicBlock(inputs, outputs, stride), BasicBlock(outputs, outputs, 1)]
            inputs = outputs
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(512, classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)  # each block starts as the identity: stabler early training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N x classes) of a normalized N x C x H x W batch."""
        result: torch.Tensor = self.fc(self.pool(self.stages(self.stem(x))))
        return result


def build(arch: str, *, channels: int, classes: int) -> nn.Module:
    """The network named `arch` (`cnn` or `resnet18`) for `channels` input channels and `classes` outputs."""
    if arch == "cnn":
        return SmallCnn(channels, classes)
    if arch == "resnet18":
        return ResNet18(channels, classes)
    raise ValueError(f"unknown architecture {arch!r}; known: cnn, resnet18")
