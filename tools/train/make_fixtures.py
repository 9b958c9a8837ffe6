#!/usr/bin/env python3
"""Small ONNX graphs that exercise every op lutna imports, for the importer's tests.

The weights are random (seeded) with about half of them pruned to zero, and batch-norm statistics
are random too, so folding mistakes show up as numeric differences against tract's float output.
Writes onnx/tests/fixtures/{ops-residual,ops-inception,bad-op}.onnx (a few KB each).
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "onnx", "tests", "fixtures")


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = torch.randn(m.weight.shape, generator=g) * 0.3
                w[torch.rand(w.shape, generator=g) < 0.5] = 0.0
                m.weight.copy_(w)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


class Residual(nn.Module):
    """Stem, one projection-shortcut block, one identity block, pools, linear + BN1d + linear."""

    def __init__(self):
        super().__init__()
        self.scale = models.PixelScale()
        self.stem = models.conv_bn(3, 8)
        self.block1 = models.BasicBlock(8, 12, 2)
        self.block2 = models.BasicBlock(12, 12, 1)
        self.pool = nn.MaxPool2d(2, 2)
        self.avg = nn.AvgPool2d(2, 2)
        self.fc1 = nn.Linear(12 * 4 * 4, 16)
        self.bn1 = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(self.scale(x))))
        x = self.avg(self.pool(x))
        x = torch.relu(self.bn1(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class InceptionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = models.PixelScale()
        self.stem = models.conv_bn(3, 8)
        self.inc = models.Inception(8, 4, 4, 6, 2, 3, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.inc(self.stem(self.scale(x))))
        return self.fc(torch.flatten(self.gap(x), 1))


class BadOp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.gap(torch.tanh(self.conv(x))), 1))


def export(model, name, seed):
    randomize(model, seed)
    model.eval()
    path = os.path.join(OUT, f"{name}.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 32, 32), path, input_names=["pixels"],
                      output_names=["logits"], opset_version=13,
                      dynamic_axes={"pixels": {0: "n"}, "logits": {0: "n"}})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    export(Residual(), "ops-residual", 1)
    export(InceptionNet(), "ops-inception", 2)
    export(BadOp(), "bad-op", 3)
