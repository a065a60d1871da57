"""One home for run folders and artifacts: what a path is, how its inputs are made, how it is loaded,
evaluated and written. Every command that reads what another wrote goes through here.

    open_source(x)  -> Source (kind: model, hub, run, deploy, quantize, ir, onnx; its manifest)
    load_run(dir)   -> Run (model, config, data, report, splits)
    load_source(x)  -> Loaded (model or runner, DataSpec, engine, precision, the producer's record)
    evaluate(x)     -> accuracy on the recorded test split, checked against the producer's record
    predict(x, images) -> top-k labels (or masks) per image
    bench(x, engine=)  -> latency, throughput and memory on an engine, or on every engine ("all")
    export_source(x, {"onnx": path, ...}) -> files written with the run's record, each checked in its runtime
    new_folder / write_run -> a new folder, complete or none
    train_run(run_info, cfg, out) -> a run folder trained (what convzoo train does)
    resume_run(dir, changes) -> that run continued from its last checkpoint (convzoo train --resume)
    compress_run(run, method, out=) -> a run folder compressed and fine-tuned (what convzoo compress does)
    quantize_run(run, out) -> an int8 IR and its accuracy/speed report (what convzoo quantize does)
"""
from .benching import bench
from .compression import compress_run
from .data import DEFAULT_MODEL, DataSpec, build_data, parse_kv, preprocess_info
from .evaluation import evaluate
from .exporting import ExportCheckError, export_source
from .manifest import (DEPLOY_JSON, EXPORT_JSON, QUANTIZE_JSON, REPORT_JSON, RUN_CONFIG, inside, is_run_dir,
                       read_json, read_report, read_run_config, write_run_config)
from .prediction import image_list, predict
from .quantization import quantize_run
from .run import Run, build_run_model, default_out_dir, load_run, run_test_inputs
from .source import Source, open_source
from .resume import ResumeConflict, resume_run
from .training import train_run
from .use import Loaded, check_feeds, load_source
from .write import check_new_folder, new_folder, write_run

__all__ = ["DEFAULT_MODEL", "DataSpec", "build_data", "parse_kv", "preprocess_info", "evaluate", "DEPLOY_JSON",
           "EXPORT_JSON", "QUANTIZE_JSON", "REPORT_JSON", "RUN_CONFIG", "inside", "is_run_dir", "read_json",
           "read_report", "read_run_config", "write_run_config", "image_list", "predict", "Run", "build_run_model",
           "default_out_dir", "load_run", "run_test_inputs", "Source", "open_source", "Loaded", "check_feeds",
           "load_source", "check_new_folder", "new_folder", "write_run", "train_run", "compress_run",
           "quantize_run", "bench", "resume_run", "ResumeConflict",
           "export_source", "ExportCheckError"]
