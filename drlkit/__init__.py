"""drlkit: diffusion-based representation learning (Mittal, Abstreiter et al., arXiv 2105.14257).

    import drlkit
    model = drlkit.load("mnist")
    z = model.encode(images, t=0.5)   # (N, D) float32
"""

from drlkit.checkpoint import CheckpointError, load_model, save_model
from drlkit.classifier import DRLClassifier
from drlkit.config import ModelConfig, preset
from drlkit.evaluation import evaluate_model, t_sweep
from drlkit.metrics import cluster, few_label, knn_probe, linear_probe, semi_supervised
from drlkit.model import DRLModel
from drlkit.preprocess import ImageReadError
from drlkit.registry import UnknownModelError, list_models, load
from drlkit.train import TrainConfig, train
from drlkit.transformer import DRLTransformer

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DRLClassifier",
    "DRLModel",
    "DRLTransformer",
    "ImageReadError",
    "ModelConfig",
    "TrainConfig",
    "UnknownModelError",
    "list_models",
    "load",
    "load_model",
    "linear_probe",
    "knn_probe",
    "cluster",
    "few_label",
    "semi_supervised",
    "t_sweep",
    "evaluate_model",
    "preset",
    "save_model",
    "train",
    "__version__",
]
