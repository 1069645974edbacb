"""mlspec: a declarative GitOps pipeline compiler for ML pipelines."""

__version__ = "0.1.0"
