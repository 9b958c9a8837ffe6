#!/usr/bin/env python3
"""Approximation-aware fine-tuning: retrain a pruned model with A-LUT-NA's truncation in the
forward pass of chosen layers, so that `lutna analyze` can move more layers to A-LUT-NA within
its accuracy budget (issue 23, item 5; the LUT-NA paper applies A-LUT-NA without retraining).

What A-LUT-NA does to a layer (docs/arithmetic.md): the lanes read the weight's table at the
high 4-bit chunk of the u8 activation q and, for the low chunk, entry 0 (`truncating`: the
product is w * (q & 0xF0)) or entry 8 (`centred`: w * ((q & 0xF0) + 8)). Here each chosen
layer's input x is quantized as `lutna import` quantizes it (per tensor, the scale s = the
99.99th percentile of |x| over calibration images / 255, `onnx/src/quant.rs`), its low chunk
replaced so, and scaled back; the gradient passes straight through (x + (x_a - x).detach()).
Layer 0's input is the raw pixels (0..255, the importer folds `PixelScale` into the first conv),
so there the chunk is dropped from the pixels themselves, exactly.

The weights keep their pruning mask and the exported ONNX is an ordinary float model: every
scheme runs it (`lutna import`, then `lutna analyze` to search the plan). The scales are
measured once from the loaded model (not retrained); the importer measures its own afterwards,
so the emulation is close to the board's arithmetic, not bit-exact.

    python3 tools/train/finetune_approx.py --arch icebreaker-r20 --width 1 \\
        --from /work/runs/icebreaker-r20-w1/round2.pt --name icebreaker-r20-w1-aa \\
        --layers all --epochs 4 --lr 0.01 --threads 1 --out /work/runs/export
"""

import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import models
import train

# `lutna import`'s percentile (onnx/src/quant.rs, CALIB_PERCENTILE).
CALIB_PERCENTILE = 0.9999
CHUNK_MASK = 0xF0
CENTRE = {"truncating": 0.0, "centred": 8.0}


def approximate(q, mode):
    """A u8 activation as A-LUT-NA multiplies it: the low 4-bit chunk replaced."""
    return torch.floor(q / 16.0) * 16.0 + CENTRE[mode]


class Approximation:
    """Forward pre-hooks that put A-LUT-NA's truncation on the inputs of chosen layers."""

    def __init__(self, model, layers, mode):
        self.model, self.mode = model, mode
        self.named = models.prunable(model)
        self.layers = layers
        self.scales = {}
        self.handles = []
        self.enabled = True

    def calibrate(self, x, batch=250):
        """Each chosen layer's input scale, as the importer sets it, from images `x` (uint8):
        measured on the float model without the truncation, as the importer measures it."""
        was = self.enabled
        self.enabled = False
        samples = {i: [] for i in self.layers if i > 0}
        lowest = {i: 0.0 for i in samples}
        handles = []
        for i in samples:
            def grab(mod, inp, i=i):
                a = inp[0].detach().flatten()
                lowest[i] = min(lowest[i], float(a.min()))
                step = max(1, a.numel() // 4096)
                samples[i].append(a.abs()[::step])
            handles.append(self.named[i][1].register_forward_pre_hook(grab))
        self.model.eval()
        with torch.no_grad():
            for k in range(0, len(x), batch):
                self.model(torch.from_numpy(x[k:k + batch]).float())
        for h in handles:
            h.remove()
        signed = [self.named[i][0] for i in samples if lowest[i] < 0]
        if signed:
            raise SystemExit(f"layers {signed} take signed inputs (i8 maps): the truncation is "
                             "emulated for u8 inputs only; leave them out of --layers")
        for i, s in samples.items():
            v = torch.cat(s)
            self.scales[i] = max(float(torch.quantile(v, CALIB_PERCENTILE)), 1e-8) / 255.0
        self.enabled = was

    def install(self):
        for i in self.layers:
            if i == 0:
                # The raw pixels reach PixelScale first: truncate them there, exactly.
                target = next(m for m in self.model.modules() if isinstance(m, models.PixelScale))
                self.handles.append(target.register_forward_pre_hook(self.pixels))
            else:
                self.handles.append(self.named[i][1].register_forward_pre_hook(
                    lambda mod, inp, i=i: self.activations(inp, self.scales[i])))

    def pixels(self, mod, inp):
        if not self.enabled:
            return None
        return (approximate(inp[0], self.mode),)

    def activations(self, inp, s):
        if not self.enabled:
            return None
        x = inp[0]
        q = torch.clamp(torch.round(x / s), 0, 255)
        xa = approximate(q, self.mode) * s
        return (x + (xa - x).detach(),)


def load_onnx(model, path):
    """Loads a model exported by train.py (batch-norm folded into each conv, zeros where pruned)
    into `model` of the same architecture: each conv takes the folded weight and its batch-norm
    becomes the identity plus the folded bias. The convs are matched in the order they run, in
    the ONNX graph and in the PyTorch forward pass (torch.onnx exports nodes in that order)."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
    ran = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: ran.append(mod))
             for _, m in models.prunable(model)]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    if len(ran) != len(nodes):
        raise SystemExit(f"{path} has {len(nodes)} conv/linear nodes, --arch builds {len(ran)}: "
                         "give the --arch and --width it was trained with")
    bn_after = {}
    mods = list(model.modules())
    for a, b in zip(mods, mods[1:]):
        if isinstance(a, torch.nn.Conv2d) and isinstance(b, torch.nn.BatchNorm2d):
            bn_after[a] = b
    for node, mod in zip(nodes, ran):
        w = torch.from_numpy(init[node.input[1]].copy())
        if w.shape != mod.weight.shape:
            raise SystemExit(f"{path}: node {node.name} has weights {tuple(w.shape)}, the model's "
                             f"layer {tuple(mod.weight.shape)}: wrong --arch or --width")
        bias = torch.from_numpy(init[node.input[2]].copy()) if len(node.input) > 2 else None
        mod.weight.data.copy_(w)
        if isinstance(mod, torch.nn.Linear):
            mod.bias.data.copy_(bias)
            continue
        bn = bn_after[mod]
        bn.weight.data.fill_(1.0)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        bn.bias.data.copy_(bias if bias is not None else torch.zeros_like(bn.bias))
    masks = {n: (m.weight.detach() != 0).float() for n, m in models.prunable(model)}
    return masks


def parse_layers(spec, n):
    if spec == "all":
        return list(range(n))
    if spec == "all-but-first":
        return list(range(1, n))
    out = sorted({int(v) for v in spec.split(",")})
    bad = [v for v in out if not 0 <= v < n]
    if bad:
        raise SystemExit(f"--layers {spec}: the model has layers 0..{n - 1}, not {bad}")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--arch", required=True)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--from", dest="source", required=True,
                   help="a round's checkpoint of train.py (runs/<name>/roundN.pt: model and "
                        "masks) or a model it exported (models/<name>.onnx: the zeros are the "
                        "mask)")
    p.add_argument("--name", required=True, help="file stem of the fine-tuned model")
    p.add_argument("--layers", default="all",
                   help="prunable layers (conv and linear, in order) whose inputs are truncated: "
                        "all, all-but-first, or indices like 1,2,5")
    p.add_argument("--mode", choices=sorted(CENTRE), default="truncating",
                   help="A-LUT-NA's low-chunk read: entry 0 (truncating) or entry 8 (centred)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--approx-prob", type=float, default=1.0,
                   help="share of the training steps that apply the truncation (the rest run "
                        "exact, so the model keeps working under both schemes)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--clip", type=float, default=5.0,
                   help="largest gradient norm a step takes (0: no clipping); a model loaded "
                        "from ONNX trains its batch-norm-folded weights, whose scales differ "
                        "from layer to layer more than the unfolded ones do")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--distill", type=float, default=0.5,
                   help="weight of distillation from the teacher, run without the truncation")
    p.add_argument("--distill-t", type=float, default=4.0)
    p.add_argument("--teacher", help="the model to distil from (.pt or .onnx; default: the "
                                      "loaded model, e.g. the dense round0.pt to recover accuracy)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--calib-images", type=int, default=1000)
    p.add_argument("--train-bn", action="store_true",
                   help="let batch-norm update its running statistics (by default they stay as "
                        "loaded: the truncated steps would otherwise shift the statistics that "
                        "lutna import folds into every scheme's weights)")
    p.add_argument("--data", default="../shared/cifar10")
    p.add_argument("--out", default="runs/export")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-train", type=int, default=0, help="use only N training images (smoke)")
    args = p.parse_args()
    if args.train_bn and args.source.endswith(".onnx"):
        raise SystemExit("--train-bn needs a checkpoint (.pt): an ONNX model's batch-norm is "
                         "folded into its convs")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    x_all, y_all = train.load_batches(args.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    x_tr, y_tr = x_all[:train.VAL_START], y_all[:train.VAL_START]
    x_val, y_val = x_all[train.VAL_START:], y_all[train.VAL_START:]
    if args.limit_train:
        x_tr, y_tr = x_tr[:args.limit_train], y_tr[:args.limit_train]
    x_te, y_te = train.load_batches(args.data, ["test_batch.bin"])

    def load(path):
        """The model at `path` (.onnx or a round's .pt) and its pruning masks."""
        m = models.build(args.arch, args.width)
        if path.endswith(".onnx"):
            return m, load_onnx(m, path)
        c = torch.load(path, weights_only=False)
        m.load_state_dict(c["model"])
        return m, c["masks"]

    model, masks = load(args.source)
    teacher = load(args.teacher)[0] if args.teacher else copy.deepcopy(model)
    teacher.eval()
    layers = parse_layers(args.layers, len(models.prunable(model)))
    approx = Approximation(model, layers, args.mode)
    # Spread over the training images, as `lutna import --calib` picks them.
    calib = x_tr[np.linspace(0, len(x_tr) - 1, min(args.calib_images, len(x_tr))).astype(int)]
    approx.calibrate(calib)
    approx.install()

    def accuracies():
        approx.enabled = False
        exact = train.evaluate(model, x_val, y_val)
        approx.enabled = True
        return exact, train.evaluate(model, x_val, y_val)

    record = {"arch": args.arch, "width": args.width, "name": args.name, "args": vars(args),
              "layers": [approx.named[i][0] for i in layers], "epochs": []}
    before = accuracies()
    print(f"{args.name} before: val {before[0]:.4f} exact, {before[1]:.4f} with {args.mode} "
          f"A-LUT-NA on {len(layers)} layers", flush=True)
    record["before"] = {"val_top1": before[0], "val_top1_approx": before[1]}
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4,
                          nesterov=True)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    steps = (len(xt) + args.batch - 1) // args.batch
    for e in range(args.epochs):
        # The ranges move as the weights do: measured again, as the importer will measure them.
        if e > 0:
            approx.calibrate(calib)
        model.train()
        if not args.train_bn:
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        t0, loss_sum = time.time(), 0.0
        perm = torch.randperm(len(xt))
        for step, i in enumerate(range(0, len(perm), args.batch)):
            t = (e + step / steps) / args.epochs
            for g in opt.param_groups:
                g["lr"] = 0.5 * args.lr * (1 + np.cos(np.pi * t))
            idx = perm[i:i + args.batch]
            xb = train.augment(xt[idx]).float()
            approx.enabled = bool(torch.rand(()) < args.approx_prob)
            out = model(xb)
            loss = F.cross_entropy(out, yt[idx], label_smoothing=args.label_smoothing)
            if args.distill > 0:
                with torch.no_grad():
                    t_out = teacher(xb)
                loss = ((1 - args.distill) * loss
                        + args.distill * train.distill_loss(out, t_out, args.distill_t))
            if not torch.isfinite(loss):
                raise SystemExit(f"epoch {e + 1} step {step}: the loss is not finite; lower --lr "
                                 f"(now {args.lr}) or --clip (now {args.clip})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            train.apply_masks(model, masks)
            loss_sum += loss.item() * len(idx)
        exact, approximated = accuracies()
        print(f"{args.name} epoch {e + 1}/{args.epochs} loss {loss_sum / len(xt):.3f} val "
              f"{exact:.4f} exact, {approximated:.4f} approximated ({time.time() - t0:.0f} s)",
              flush=True)
        record["epochs"].append({"epoch": e + 1, "val_top1": exact,
                                 "val_top1_approx": approximated})
    approx.enabled = False
    record["test_top1"] = train.evaluate(model, x_te, y_te)
    for h in approx.handles:
        h.remove()
    train.export(model, masks, args.out, args.name, record)
    print(json.dumps({k: record[k] for k in ("before", "test_top1")}), flush=True)


if __name__ == "__main__":
    main()
