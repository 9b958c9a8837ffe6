#!/usr/bin/env python3
"""Train a CIFAR-10 model and prune it by the lottery ticket method, resumably.

Round 0 trains the dense network and keeps a copy of the weights at the rewind epoch. Each later
round removes a fraction of the surviving conv/linear weights by global magnitude, rewinds the
survivors to the rewind-epoch copy, and retrains them (Frankle & Carbin 2019; rewinding to an early
epoch rather than to initialization as in Frankle et al. 2020, "Linear mode connectivity and the
lottery ticket hypothesis"). Every epoch ends with a checkpoint, so a stopped run resumes where it
was with `--resume` (the default when the run folder holds a checkpoint).

Data: ../shared/cifar10 binary batches. Images 0..44999 of the training set train the model;
45000..49999 are the validation split (the same split as `lutna eval --split val`); test_batch.bin
is only used for the reported accuracies.

Output: <out>/<name>.onnx (float, raw 0..255 pixels in, pruned zeros in place) and
<out>/<name>.train.json (per round: sparsity and MACs per layer, accuracies).
"""

import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import models

VAL_START = 45000


def load_batches(data_dir, names):
    xs, ys = [], []
    for n in names:
        path = os.path.join(data_dir, n)
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 3073 != 0:
            raise SystemExit(f"{path}: size {raw.size} is not a multiple of 3073-byte records")
        raw = raw.reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(xs), np.concatenate(ys)


def augment(x):
    """Random crop with 4-pixel zero padding and random horizontal flip, on a uint8 batch, as one
    gather. About 2-3 s per epoch of 45,000 images on one thread (the per-image loop it replaced
    measured the same), under 2 % of an epoch: augmentation is not where the time goes."""
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    offs = torch.arange(32)
    rows = torch.randint(0, 9, (n, 1)) + offs
    cols = torch.randint(0, 9, (n, 1)) + offs
    flip = torch.rand(n) < 0.5
    cols[flip] = cols[flip].flip(1)
    return padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i:i + batch]).float()
            correct += (model(xb).argmax(1).numpy() == y[i:i + batch]).sum()
    return float(correct) / len(x)


def apply_masks(model, masks):
    with torch.no_grad():
        for name, m in models.prunable(model):
            if name in masks:
                m.weight.mul_(masks[name])


def prune_global(model, masks, fraction, score="magnitude", keep_first=False):
    """Remove `fraction` of the surviving weights with the smallest score, over all layers.

    `magnitude`: |w|, one threshold for the whole net (the lottery-ticket papers' global pruning);
    it takes most from the late layers, whose many weights are each used on few pixels, so the
    MAC reduction lags the weight sparsity. `layer-rms`: |w| over the RMS of the layer's surviving
    weights, so every layer loses about the same fraction and the MAC reduction follows the
    weight sparsity. `keep_first` leaves the first conv (3 input channels, ~1 % of the MACs) dense."""
    layers = list(models.prunable(model))
    if keep_first:
        layers = layers[1:]

    def scores(n, m):
        w = m.weight.detach().abs()
        if score == "layer-rms":
            alive = w[masks[n].bool()]
            w = w / alive.pow(2).mean().sqrt().clamp_min(1e-12)
        return w

    alive = torch.cat([scores(n, m)[masks[n].bool()].flatten() for n, m in layers])
    k = int(fraction * alive.numel())
    if k == 0:
        return masks
    threshold = torch.kthvalue(alive, k).values
    new = dict(masks)
    for n, m in layers:
        new[n] = masks[n] * (scores(n, m) > threshold).float()
    return new


def layer_stats(model, masks, dense_macs):
    rows = []
    for n, m in models.prunable(model):
        total = masks[n].numel()
        nz = int(masks[n].sum().item())
        rows.append({"layer": n, "weights": total, "nonzero": nz, "sparsity": 1 - nz / total,
                     "macs_dense": dense_macs[n], "macs_pruned": dense_macs[n] * nz // total})
    return rows


def round_epochs(args, r):
    return args.epochs if r == 0 or not args.retrain_epochs else args.retrain_epochs


def lr_at(args, t):
    """Step size at fraction `t` (0..1) of a round's epochs, set every iteration.

    `cosine`: half a cosine from --lr to zero. `onecycle`: a linear warm-up from --lr/10 over the
    first --warmup of the round, then the same half cosine over the rest. Every round (pruning
    rounds too) ends at a small step size."""
    if args.schedule == "onecycle" and t < args.warmup:
        return args.lr * (0.1 + 0.9 * t / args.warmup)
    if args.schedule == "onecycle":
        t = (t - args.warmup) / (1 - args.warmup)
    return 0.5 * args.lr * (1 + np.cos(np.pi * t))


def distill_loss(logits, teacher_logits, temperature):
    """Hinton et al. 2015: KL divergence between softened distributions, scaled by T^2 so its
    gradient keeps the cross-entropy's magnitude."""
    return F.kl_div(F.log_softmax(logits / temperature, 1), F.softmax(teacher_logits / temperature, 1),
                    reduction="batchmean") * temperature ** 2


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--arch", required=True)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--name", help="file stem, default <arch>-w<width>")
    p.add_argument("--data", default="../shared/cifar10")
    p.add_argument("--out", default="models")
    p.add_argument("--runs", default="runs", help="checkpoint folder (not committed)")
    p.add_argument("--epochs", type=int, default=15, help="epochs per round")
    p.add_argument("--retrain-epochs", type=int, default=0,
                   help="epochs of each pruning round, counted like --epochs (default: --epochs)")
    p.add_argument("--rounds", type=int, default=4, help="pruning rounds after the dense round")
    p.add_argument("--prune", type=float, default=0.5, help="fraction of survivors removed/round")
    p.add_argument("--rewind", type=int, default=1, help="epoch whose weights survivors rewind to")
    p.add_argument("--rewind-lr", action="store_true",
                   help="keep the trained weights at each pruning and rerun the whole step-size "
                        "schedule instead (learning-rate rewinding, Renda et al. 2020)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit-train", type=int, default=0, help="use only N training images (smoke)")
    p.add_argument("--schedule", choices=("cosine", "onecycle"), default="cosine")
    p.add_argument("--warmup", type=float, default=0.15, help="onecycle: warm-up fraction")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--distill", type=float, default=0.0,
                   help="pruning rounds: weight of distillation from the dense round-0 net (0..1)")
    p.add_argument("--distill-t", type=float, default=4.0, help="distillation temperature")
    p.add_argument("--prune-score", choices=("magnitude", "layer-rms"), default="magnitude",
                   help="how weights are ranked for pruning (see prune_global)")
    p.add_argument("--keep-first", action="store_true", help="never prune the first conv")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory layout")
    args = p.parse_args()

    name = args.name or f"{args.arch}-w{args.width:g}"
    torch.set_num_threads(args.threads)
    run_dir = os.path.join(args.runs, name)
    os.makedirs(run_dir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)

    x_all, y_all = load_batches(args.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    x_tr, y_tr = x_all[:VAL_START], y_all[:VAL_START]
    x_val, y_val = x_all[VAL_START:], y_all[VAL_START:]
    if args.limit_train:
        x_tr, y_tr = x_tr[:args.limit_train], y_tr[:args.limit_train]
    x_te, y_te = load_batches(args.data, ["test_batch.bin"])

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    model = models.build(args.arch, args.width)
    dense_macs = models.macs_per_layer(model)
    masks = {n: torch.ones_like(m.weight) for n, m in models.prunable(model)}
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4,
                          nesterov=True)
    state = {"round": 0, "epoch": 0, "record": {"arch": args.arch, "width": args.width,
                                                 "name": name, "args": vars(args), "rounds": []}}
    ckpt = os.path.join(run_dir, "ckpt.pt")
    rewind_path = os.path.join(run_dir, "rewind.pt")
    if os.path.exists(ckpt):
        c = torch.load(ckpt, weights_only=False)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        masks, state = c["masks"], c["state"]
        # The record states the arguments of the run that finishes the job (a resumed run may
        # change the pruning rounds that have not started yet).
        state["record"]["args"] = vars(args)
        torch.set_rng_state(c["rng"])
        print(f"resumed {name} at round {state['round']} epoch {state['epoch']}", flush=True)

    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    teacher = None

    def load_teacher():
        # The dense net as it finished round 0 teaches every pruning round.
        t = models.build(args.arch, args.width)
        t.load_state_dict(torch.load(os.path.join(run_dir, "round0.pt"), weights_only=False)["model"])
        if args.channels_last:
            t = t.to(memory_format=torch.channels_last)
        return t.eval()

    xt = torch.from_numpy(x_tr)
    yt = torch.from_numpy(y_tr)
    while state["round"] <= args.rounds:
        r = state["round"]
        if r > 0 and args.distill > 0 and teacher is None:
            teacher = load_teacher()
        while state["epoch"] < round_epochs(args, r):
            e = state["epoch"]
            if r == 0 and e == args.rewind:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, rewind_path)
            model.train()
            t0 = time.time()
            perm = torch.randperm(len(xt))
            loss_sum = 0.0
            steps = (len(perm) + args.batch - 1) // args.batch
            for step, i in enumerate(range(0, len(perm), args.batch)):
                for g in opt.param_groups:
                    g["lr"] = lr_at(args, (e + step / steps) / round_epochs(args, r))
                idx = perm[i:i + args.batch]
                xb = augment(xt[idx]).float()
                if args.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                out = model(xb)
                loss = F.cross_entropy(out, yt[idx], label_smoothing=args.label_smoothing)
                if teacher is not None:
                    with torch.no_grad():
                        t_out = teacher(xb)
                    loss = ((1 - args.distill) * loss
                            + args.distill * distill_loss(out, t_out, args.distill_t))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                apply_masks(model, masks)
                loss_sum += loss.item() * len(idx)
            state["epoch"] = e + 1
            val = evaluate(model, x_val, y_val)
            print(f"{name} round {r} epoch {e + 1}/{round_epochs(args, r)} loss {loss_sum / len(xt):.3f} "
                  f"val {val:.4f} ({time.time() - t0:.0f} s)", flush=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "masks": masks,
                        "state": state, "rng": torch.get_rng_state()}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)

        # A run resumed with a larger --rounds may find this round already recorded.
        if not any(rec["round"] == r for rec in state["record"]["rounds"]):
            record_round(model, masks, dense_macs, state, r, (x_val, y_val), (x_te, y_te), name,
                         run_dir, args.out)

        if r == args.rounds:
            break
        masks = prune_global(model, masks, args.prune, args.prune_score, args.keep_first)
        if not args.rewind_lr:
            rw = torch.load(rewind_path, weights_only=False)
            model.load_state_dict(rw["model"])
            opt.load_state_dict(rw["opt"])
        apply_masks(model, masks)
        state["round"] = r + 1
        # Weight rewinding resumes the schedule at the rewind epoch with the weights it had there;
        # learning-rate rewinding keeps the trained survivors and runs the schedule from its start.
        state["epoch"] = 0 if args.rewind_lr else args.rewind
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "masks": masks,
                    "state": state, "rng": torch.get_rng_state()}, ckpt)


def record_round(model, masks, dense_macs, state, r, val_data, test_data, name, run_dir, out_dir):
    """Measure the finished round, append it to the record and export the model."""
    layers = layer_stats(model, masks, dense_macs)
    val = evaluate(model, *val_data)
    test = evaluate(model, *test_data)
    md = sum(l["macs_dense"] for l in layers)
    mp = sum(l["macs_pruned"] for l in layers)
    state["record"]["rounds"].append({
        "round": r, "val_top1": val, "test_top1": test, "macs_dense": md, "macs_pruned": mp,
        "mac_reduction": 1 - mp / md,
        "weights": sum(l["weights"] for l in layers),
        "nonzero": sum(l["nonzero"] for l in layers), "layers": layers})
    print(f"{name} round {r} done: val {val:.4f} test {test:.4f} "
          f"MAC reduction {100 * (1 - mp / md):.1f}%", flush=True)
    torch.save({"model": model.state_dict(), "masks": masks}, os.path.join(run_dir, f"round{r}.pt"))
    export(model, masks, out_dir, name, state["record"])


def export(model, masks, out_dir, name, record):
    """Write the current round's float ONNX (zeros in place) and the training record."""
    model.eval()
    apply_masks(model, masks)
    onnx_path = os.path.join(out_dir, f"{name}.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 32, 32), onnx_path + ".tmp", input_names=["pixels"],
                      output_names=["logits"], opset_version=13,
                      dynamic_axes={"pixels": {0: "n"}, "logits": {0: "n"}})
    os.replace(onnx_path + ".tmp", onnx_path)
    with open(os.path.join(out_dir, f"{name}.train.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(f"wrote {onnx_path}", flush=True)


if __name__ == "__main__":
    main()
