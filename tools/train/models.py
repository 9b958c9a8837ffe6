"""CIFAR-10 architectures used by lutna, each with a width multiplier.

The networks are the usual CIFAR-10 variants (32x32 input): VGG with batch-norm, ResNet with
BasicBlocks and 1x1 projection shortcuts, and GoogLeNet with the CIFAR stem. Every model starts
with `PixelScale`, so the exported ONNX takes raw 0..255 pixels and lutna's importer folds the
scaling into the first convolution exactly (a pure per-channel scale, no mean shift, so zero
padding stays zero padding).
"""

import torch
import torch.nn as nn

# Per-channel std of CIFAR-10 on the 0..1 scale; only the scale is applied (see module doc).
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def ch(c, width):
    return max(4, int(round(c * width)))


class PixelScale(nn.Module):
    def __init__(self):
        super().__init__()
        s = torch.tensor([1.0 / (255.0 * v) for v in CIFAR_STD]).view(1, 3, 1, 1)
        self.register_buffer("scale", s)

    def forward(self, x):
        return x * self.scale


def conv_bn(cin, cout, k=3, stride=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


VGG_CFG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
    # The iCEBreaker model: small enough that its pruned weights and two largest activation maps
    # fit the UP5K's on-chip memory (see models/README.md).
    "icebreaker": [32, 32, "M", 64, 64, "M", 128, 128, "M"],
}


class VGG(nn.Module):
    def __init__(self, name, width=1.0):
        super().__init__()
        layers, cin = [PixelScale()], 3
        for v in VGG_CFG[name]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(conv_bn(cin, ch(v, width)))
                cin = ch(v, width)
        self.features = nn.Sequential(*layers)
        # VGG11/19 end at 1x1 after five pools; the iCEBreaker net ends at 4x4 and averages.
        self.pool = nn.AdaptiveAvgPool2d(1) if name == "icebreaker" else nn.Identity()
        self.classifier = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, stride)
        self.c2 = conv_bn(cout, cout, 3, 1, relu=False)
        self.short = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = conv_bn(cin, cout, 1, stride, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.c2(self.c1(x)) + self.short(x))


class ResNet(nn.Module):
    def __init__(self, blocks, width=1.0, stages=(64, 128, 256, 512)):
        super().__init__()
        c = [ch(v, width) for v in stages]
        layers, cin = [PixelScale(), conv_bn(3, c[0])], c[0]
        for i, n in enumerate(blocks):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, c[i], stride))
                cin = c[i]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class Inception(nn.Module):
    def __init__(self, cin, n1, n3r, n3, n5r, n5, pp):
        super().__init__()
        self.b1 = conv_bn(cin, n1, 1)
        self.b2 = nn.Sequential(conv_bn(cin, n3r, 1), conv_bn(n3r, n3, 3))
        # The CIFAR GoogLeNet's 5x5 branch is two stacked 3x3 convolutions.
        self.b3 = nn.Sequential(conv_bn(cin, n5r, 1), conv_bn(n5r, n5, 3), conv_bn(n5, n5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn(cin, pp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


GOOGLENET_CFG = [
    ("a3", (192, 64, 96, 128, 16, 32, 32)), ("b3", (256, 128, 128, 192, 32, 96, 64)), "M",
    ("a4", (480, 192, 96, 208, 16, 48, 64)), ("b4", (512, 160, 112, 224, 24, 64, 64)),
    ("c4", (512, 128, 128, 256, 24, 64, 64)), ("d4", (512, 112, 144, 288, 32, 64, 64)),
    ("e4", (528, 256, 160, 320, 32, 128, 128)), "M",
    ("a5", (832, 256, 160, 320, 32, 128, 128)), ("b5", (832, 384, 192, 384, 48, 128, 128)),
]


class GoogLeNet(nn.Module):
    def __init__(self, width=1.0):
        super().__init__()
        layers, cin = [PixelScale(), conv_bn(3, ch(192, width))], ch(192, width)
        for item in GOOGLENET_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(3, 2, 1))
                continue
            _, (_, n1, n3r, n3, n5r, n5, pp) = item
            w = [ch(v, width) for v in (n1, n3r, n3, n5r, n5, pp)]
            layers.append(Inception(cin, *w))
            cin = w[0] + w[2] + w[4] + w[5]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def build(arch, width):
    if arch in VGG_CFG:
        return VGG(arch, width)
    if arch == "resnet18":
        return ResNet((2, 2, 2, 2), width)
    if arch == "resnet34":
        return ResNet((3, 4, 6, 3), width)
    if arch == "googlenet":
        return GoogLeNet(width)
    if arch == "icebreaker-r20":
        # The ResNet-20 of He et al. 2016 (three stages of three BasicBlocks, 16/32/64 channels at
        # width 1): at 16 channels a 32x32 map is 16 KiB, so a block's input, its inner map and its
        # output (the add reads the input) take 48 KiB of the board's 64 KiB.
        return ResNet((3, 3, 3), width, stages=(16, 32, 64))
    raise SystemExit(f"unknown architecture {arch!r}; choose from {' '.join(ARCHS)}")


ARCHS = ("vgg11", "vgg19", "resnet18", "resnet34", "googlenet", "icebreaker", "icebreaker-r20")


def prunable(model):
    """The conv and linear weights that lottery-ticket pruning acts on, with their layer names."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def macs_per_layer(model):
    """Dense MACs of each prunable layer for one 32x32 image, measured with forward hooks."""
    out, hooks = {}, []
    for name, m in prunable(model):
        def hook(mod, inp, outp, name=name):
            spatial = outp.shape[2] * outp.shape[3] if outp.dim() == 4 else 1
            out[name] = mod.weight[0].numel() * mod.weight.shape[0] * spatial
        hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return out
