"""Reading and writing: safe model files (and the tabular formats the CLI and the
stream share)."""

from ._model_files import ModelFileError, load_model, save_model

__all__ = ["ModelFileError", "load_model", "save_model"]
