"""Train one-hidden-layer ReLU classifiers: normally, adversarially (PGD) or certifiably (RSL18a).

The certified objective of Raghunathan, Steinhardt & Liang (2018a) feeds the closed-form
MAXGRAD dual bound into the loss: with ``G[y, j]`` bounding ``‖∇(f_y − f_j)‖₁`` everywhere,
``z_j = f_j(x) − f_y(x) + ε G[y, j]`` bounds every logit gap on the ε-ball, and the robust
loss is the cross-entropy of ``z``. The dual multipliers are trained jointly with the weights,
so the bound is valid at every step — but it is only a regulariser: certificates come from
``qcqp certify`` (the rigorous backends), never from this loss.

Full-batch Adam in numpy float64 from a fixed seed: the same command gives the same weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qcqp import InputError
from qcqp.frontends.loaders import save_npz
from qcqp.frontends.maxgrad import DualBounds, class_pairs
from qcqp.frontends.network import Network
from qcqp.optim import Adam


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained weights (a checkpoint resumes only the same config)."""

    penalty: str = "maxgrad"  # a key of PENALTIES
    eps: float = 0.1  # ℓ∞ radius the penalty defends (pixels in [0, 1])
    hidden: int = 32
    steps: int = 2000
    lr: float = 3e-3
    kappa: float = 0.5  # weight of the clean loss; 1 − kappa weighs the robust one
    ramp: float = 0.5  # ε grows linearly from 0 over this fraction of the steps
    pgd_steps: int = 10  # attack steps per training step (penalty "pgd")
    weight_decay: float = 1e-4
    seed: int = 0

    def check(self) -> None:
        if self.penalty not in PENALTIES:
            raise InputError(f"--penalty: unknown {self.penalty!r} (one of {', '.join(PENALTIES)})")
        for name in ("eps", "lr", "weight_decay"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise InputError(f"--{name.replace('_', '-')} must be a finite number >= 0")
        for name in ("hidden", "steps", "pgd_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1")
        if not (0 <= self.kappa <= 1 and 0 <= self.ramp <= 1):
            raise InputError("--kappa and --ramp must lie in [0, 1]")

    def eps_at(self, step: int) -> float:
        ramp_steps = self.ramp * self.steps
        return self.eps if step >= ramp_steps else self.eps * step / ramp_steps


class TwoLayerNet:
    """``W1 relu(W0 x + b0) + b1`` with the backward pass written out (no autodiff needed)."""

    def __init__(self, params: list[np.ndarray]):
        self.params = params

    @classmethod
    def initial(cls, inputs: int, hidden: int, classes: int, rng: np.random.Generator) -> TwoLayerNet:
        return cls([rng.normal(0, np.sqrt(2.0 / inputs), (hidden, inputs)), np.zeros(hidden),
                    rng.normal(0, np.sqrt(2.0 / hidden), (classes, hidden)), np.zeros(classes)])

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(pre-activations, logits)``."""
        W0, b0, W1, b1 = self.params
        pre = x @ W0.T + b0
        return pre, np.maximum(pre, 0) @ W1.T + b1

    def backward(self, x: np.ndarray, pre: np.ndarray, d_logits: np.ndarray) -> list[np.ndarray]:
        """Gradients of ``Σ d_logits · logits`` with respect to ``[W0, b0, W1, b1]``."""
        d_pre = (d_logits @ self.params[2]) * (pre > 0)
        return [d_pre.T @ x, d_pre.sum(axis=0), d_logits.T @ np.maximum(pre, 0), d_logits.sum(axis=0)]

    def input_gradient(self, pre: np.ndarray, d_logits: np.ndarray) -> np.ndarray:
        return ((d_logits @ self.params[2]) * (pre > 0)) @ self.params[0]

    def network(self, source: str = "trained network") -> Network:
        W0, b0, W1, b1 = self.params
        return Network((W0, W1), (b0, b1), ("relu",), source=source)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to ``logits``."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_prob = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    grad = np.exp(log_prob)
    grad[rows, labels] -= 1.0
    return float(-log_prob[rows, labels].mean()), grad / len(labels)


@dataclass
class Batch:
    x: np.ndarray
    y: np.ndarray
    eps: float


Penalty = Callable[["Trainer", Batch], tuple[float, list[np.ndarray]]]  # loss; gradients of W0, b0, W1, b1, C


def clean_loss(trainer: Trainer, batch: Batch) -> tuple[float, list[np.ndarray]]:
    """Plain cross-entropy (the normally trained baseline)."""
    pre, logits = trainer.net.forward(batch.x)
    loss, d_logits = cross_entropy(logits, batch.y)
    return loss, trainer.net.backward(batch.x, pre, d_logits) + [np.zeros_like(trainer.multipliers)]


def pgd_loss(trainer: Trainer, batch: Batch) -> tuple[float, list[np.ndarray]]:
    """``κ`` clean + ``(1 − κ)`` cross-entropy at PGD points of the ε-ball (Madry et al.)."""
    config, net = trainer.config, trainer.net
    lo, hi = np.maximum(batch.x - batch.eps, 0.0), np.minimum(batch.x + batch.eps, 1.0)
    x_adv = lo + trainer.rng.random(batch.x.shape) * (hi - lo)
    for _ in range(config.pgd_steps if batch.eps > 0 else 0):
        pre, logits = net.forward(x_adv)
        step = net.input_gradient(pre, cross_entropy(logits, batch.y)[1])
        x_adv = np.clip(x_adv + 2.5 * batch.eps / config.pgd_steps * np.sign(step), lo, hi)
    clean, clean_grads = clean_loss(trainer, batch)
    robust, robust_grads = clean_loss(trainer, replace(batch, x=x_adv))
    k = config.kappa
    return k * clean + (1 - k) * robust, [k * a + (1 - k) * b for a, b in zip(clean_grads, robust_grads)]


def maxgrad_loss(trainer: Trainer, batch: Batch) -> tuple[float, list[np.ndarray]]:
    """``κ`` clean + ``(1 − κ)`` cross-entropy of the logit gaps' MAXGRAD upper bounds (RSL18a)."""
    net, k = trainer.net, trainer.config.kappa
    pre, logits = net.forward(batch.x)
    dual = DualBounds.compute(net.params[0], net.params[2], trainer.multipliers)
    rows = np.arange(len(batch.y))
    worst = logits - logits[rows, batch.y][:, None] + batch.eps * dual.matrix[batch.y]
    worst[rows, batch.y] = 0.0
    clean, d_clean = cross_entropy(logits, batch.y)
    robust, d_worst = cross_entropy(worst, batch.y)
    d_worst[rows, batch.y] = 0.0
    d_logits = k * d_clean + (1 - k) * d_worst
    d_logits[rows, batch.y] -= (1 - k) * d_worst.sum(axis=1)
    grads = net.backward(batch.x, pre, d_logits)
    d_matrix = np.zeros_like(dual.matrix)
    np.add.at(d_matrix, batch.y, (1 - k) * batch.eps * d_worst)
    dW0, dW1, dC = dual.backward(d_matrix)
    grads[0] += dW0
    grads[2] += dW1
    return k * clean + (1 - k) * robust, grads + [dC]


PENALTIES: dict[str, Penalty] = {"none": clean_loss, "pgd": pgd_loss, "maxgrad": maxgrad_loss}


class Trainer:
    """The training state: weights, the MAXGRAD dual multipliers, Adam moments and the step count."""

    def __init__(self, config: TrainConfig, inputs: int, classes: int):
        config.check()
        self.config, self.step = config, 0
        self.rng = np.random.default_rng(config.seed)
        self.net = TwoLayerNet.initial(inputs, config.hidden, classes, self.rng)
        self.multipliers = np.zeros((len(class_pairs(classes)), 1 + inputs + config.hidden))
        self.optimisers = [Adam(p.shape, config.lr) for p in self.net.params + [self.multipliers]]

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        loss, grads = PENALTIES[self.config.penalty](self, Batch(x, y, self.config.eps_at(self.step)))
        for k in (0, 2):  # weight decay on the weight matrices
            grads[k] = grads[k] + self.config.weight_decay * self.net.params[k]
        for param, grad, optimiser in zip(self.net.params + [self.multipliers], grads, self.optimisers):
            param -= optimiser.step(grad)
        self.step += 1
        return loss

    def dual_bounds(self) -> DualBounds:
        return DualBounds.compute(self.net.params[0], self.net.params[2], self.multipliers)

    def save(self, path: Path) -> None:
        """Everything needed to continue exactly where this step left off."""
        arrays = {f"param{k}": p for k, p in enumerate(self.net.params + [self.multipliers])}
        for k, opt in enumerate(self.optimisers):
            arrays |= {f"adam_m{k}": opt.m, f"adam_v{k}": opt.v, f"adam_t{k}": np.array(opt.t)}
        state = json.dumps(self.rng.bit_generator.state)
        np.savez(path, config=json.dumps(asdict(self.config)), step=self.step, rng=state, **arrays)

    def restore(self, path: Path) -> None:
        try:
            data = np.load(path, allow_pickle=False)
            config = json.loads(str(data["config"]))
        except Exception as error:
            raise InputError(f"{path}: not a training checkpoint ({error})") from None
        if config != asdict(self.config):
            raise InputError(f"{path}: a checkpoint of other settings; rerun without --resume to start afresh")
        params = self.net.params + [self.multipliers]
        for k, param in enumerate(params):
            param[...] = data[f"param{k}"]
        for k, opt in enumerate(self.optimisers):
            opt.m, opt.v, opt.t = data[f"adam_m{k}"], data[f"adam_v{k}"], int(data[f"adam_t{k}"])
        self.step = int(data["step"])
        self.rng.bit_generator.state = json.loads(str(data["rng"]))


def train(x: np.ndarray, y: np.ndarray, config: TrainConfig, classes: int | None = None,
          checkpoint: Path | None = None, every: int = 200, resume: bool = False,
          progress: bool = False) -> Trainer:
    """Run ``config.steps`` full-batch steps on ``(x, y)``; returns the trainer (``.net.network()``).

    With ``checkpoint``, the state is written there every ``every`` steps and at the end;
    ``resume`` continues from it (the result is the same as an uninterrupted run).
    """
    x, y = np.asarray(x, float), np.asarray(y).astype(int)
    trainer = Trainer(config, x.shape[1], classes or int(y.max()) + 1)
    if resume and checkpoint is not None and checkpoint.exists():
        trainer.restore(checkpoint)
    bar = tqdm(total=config.steps, initial=trainer.step, disable=not progress, desc=f"training ({config.penalty})",
               unit="step")
    while trainer.step < config.steps:
        loss = trainer.train_step(x, y)
        bar.update()
        if trainer.step % 50 == 0:
            bar.set_postfix(loss=f"{loss:.3f}", eps=f"{config.eps_at(trainer.step):.3f}")
        if checkpoint is not None and (trainer.step % every == 0 or trainer.step == config.steps):
            trainer.save(checkpoint)
    bar.close()
    return trainer


def dual_certified_fraction(trainer: Trainer, x: np.ndarray, y: np.ndarray, eps: float) -> float:
    """The fraction of ``(x, y)`` the training-time MAXGRAD dual bound proves robust at ``eps``:
    a progress figure only (its eigenvalues are not bounded rigorously); certify with the backends."""
    _, logits = trainer.net.forward(np.asarray(x, float))
    rows = np.arange(len(y))
    worst = logits - logits[rows, y][:, None] + eps * trainer.dual_bounds().matrix[y]
    worst[rows, y] = -np.inf
    return float(np.mean(worst.max(axis=1) < 0))


def save_model(trainer: Trainer, path: Path) -> None:
    """The trained net in the CLI's ``.npz`` format (``W0, b0, W1, b1``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(trainer.net.network(str(path)), path)


def training_data(args) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(x, y, x_test, y_test)``: the digits split the shipped models use, or ``--inputs/--labels``."""
    if args.inputs is None:
        from qcqp.frontends.models.train_digits import digits_split

        return digits_split()
    from qcqp.app.dataset import load_array

    if args.labels is None:
        raise InputError("--labels is required with --inputs")
    x, y = load_array(args.inputs, "inputs"), load_array(args.labels, "labels").reshape(-1)
    if x.ndim != 2 or len(x) != len(y) or len(y) < 2:
        raise InputError(f"--inputs: expected a (points, features) array matching --labels; got {x.shape} and "
                         f"{len(y)} labels")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise InputError("--inputs: features must be finite and scaled to [0, 1] (the ε-balls' domain)")
    if not np.issubdtype(y.dtype, np.integer) and np.any(y != np.round(y)) or y.min() < 0:
        raise InputError("--labels must be integers >= 0")
    return x, y.astype(int), None, None


def run_train(args) -> int:
    """``qcqp train``: train, write the model (and its checkpoint), report test figures."""
    config = TrainConfig(penalty=args.penalty, eps=args.eps, hidden=args.hidden, steps=args.steps, lr=args.lr,
                         kappa=args.kappa, ramp=args.ramp, pgd_steps=args.pgd_steps, seed=args.seed)
    config.check()
    if args.checkpoint_every < 1:
        raise InputError("--checkpoint-every must be at least 1")
    x, y, x_test, y_test = training_data(args)
    out = Path(args.out)
    checkpoint = out.with_suffix(".checkpoint.npz")
    if not args.resume and checkpoint.exists():
        checkpoint.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    trainer = train(x, y, config, checkpoint=checkpoint, every=args.checkpoint_every, resume=args.resume,
                    progress=not args.quiet)
    save_model(trainer, out)
    if x_test is not None:
        _, logits = trainer.net.forward(x_test)
        print(f"test accuracy {np.mean(logits.argmax(axis=1) == y_test):.4f}")
        if config.penalty == "maxgrad":
            share = dual_certified_fraction(trainer, x_test, y_test, config.eps)
            print(f"training bound holds at eps {config.eps} on {share:.4f} of the test set "
                  "(a regulariser, not a certificate: run qcqp certify)")
    print(f"wrote {out} (checkpoint {checkpoint})")
    return 0
