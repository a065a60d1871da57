"""Datasets: built-in generated ones (no download) and loaders for real datasets on disk."""
from .registry import DatasetInfo, dataset_info, get_dataset, list_datasets, register_dataset
from .transforms import create_transform, resolve_data_config

__all__ = ["register_dataset", "get_dataset", "list_datasets", "dataset_info", "DatasetInfo",
           "resolve_data_config", "create_transform"]
