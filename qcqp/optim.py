"""Adam (Kingma & Ba), the one optimiser of the project: SDP-FO's dual steps, the optimised
(α/β) bounds of the verification layer, and the model training scripts."""

from __future__ import annotations

import numpy as np


class Adam:
    """Adam with bias correction; :meth:`step` returns the update to *subtract* from the parameters."""

    def __init__(self, shape, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    def step(self, grad: np.ndarray, lr_scale: float | np.ndarray = 1.0) -> np.ndarray:
        """The update for ``grad``; ``lr_scale`` may be an array broadcast against it (a step
        size per row). The moments are updated in place."""
        self.t += 1
        self.m *= self.beta1
        self.m += (1 - self.beta1) * grad
        self.v *= self.beta2
        self.v += (1 - self.beta2) * grad**2
        m_hat, v_hat = self.m / (1 - self.beta1**self.t), self.v / (1 - self.beta2**self.t)
        return self.lr * lr_scale * m_hat / (np.sqrt(v_hat) + self.eps)
