"""The quick linear probe of frozen features shared by the scene benchmark tools."""
from typing import Optional

import torch


def logistic_top1(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor, epochs: int = 300,
                  seed: int = 0, num_classes: Optional[int] = None) -> float:
    """Top-1 % on (xte, yte) of a multinomial logistic regression fitted on standardised (xtr, ytr).

    Full batch, Adam (lr 0.01, weight decay 1e-4), ``epochs`` steps; the features are standardised with the training
    set's mean and standard deviation.

    Args:
        num_classes (int, optional): Output classes. Defaults to None (``max(ytr) + 1``).
    """
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    torch.manual_seed(seed)
    lin = torch.nn.Linear(xtr.shape[1], int(ytr.max()) + 1 if num_classes is None else num_classes)
    opt = torch.optim.Adam(lin.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(xtr), ytr).backward()
        opt.step()
    with torch.no_grad():
        return float((lin(xte).argmax(1) == yte).float().mean() * 100)
