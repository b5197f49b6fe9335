"""chainrule's small neural-network library, built on the public API of `autograd`.

>>> from nn import MLP
>>> model = MLP(2, [16, 16, 1], seed=0)
>>> len(model.parameters())
337
"""

from .data import (
    Dataset,
    make_blobs,
    make_circles,
    make_moons,
    make_spiral,
    make_xor,
    signs,
    train_test_split,
)
from .layers import ACTIVATIONS, INITS, MLP, Layer, Neuron
from .losses import (
    binary_cross_entropy,
    hinge_loss,
    l2_penalty,
    log_softmax,
    logsumexp,
    mse_loss,
    softmax,
    softmax_cross_entropy,
)
from .module import ModelFileError, Module, StateDictError, load_model
from .optim import SGD, Adam, AdamW, CosineDecay, LinearDecay, Optimizer, Schedule, StepDecay
from .train import History, binary_accuracy, evaluate, fit, multiclass_accuracy, sign_accuracy

__all__ = [
    # models
    "Module",
    "Neuron",
    "Layer",
    "MLP",
    "ACTIVATIONS",
    "INITS",
    "load_model",
    "ModelFileError",
    "StateDictError",
    # losses
    "mse_loss",
    "hinge_loss",
    "binary_cross_entropy",
    "softmax_cross_entropy",
    "softmax",
    "log_softmax",
    "logsumexp",
    "l2_penalty",
    # optimizers
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "Schedule",
    "LinearDecay",
    "StepDecay",
    "CosineDecay",
    # data
    "Dataset",
    "make_moons",
    "make_circles",
    "make_xor",
    "make_spiral",
    "make_blobs",
    "signs",
    "train_test_split",
    # training
    "fit",
    "evaluate",
    "History",
    "sign_accuracy",
    "binary_accuracy",
    "multiclass_accuracy",
]
