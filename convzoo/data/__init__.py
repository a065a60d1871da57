"""Datasets: built-in generated ones (no download) and loaders for real datasets on disk."""
from .registry import DatasetInfo, dataset_info, get_dataset, list_datasets, register_dataset

__all__ = ["register_dataset", "get_dataset", "list_datasets", "dataset_info", "DatasetInfo"]
