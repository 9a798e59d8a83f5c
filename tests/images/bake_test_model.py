"""Writes the tiny model repository baked into //infra/images:serving_test (contract signature, logistic ONNX)."""

import argparse
from pathlib import Path

from serving.model_config import contract_config
from serving.synthetic_data import reference_spec
from serving.tiny_onnx_models import logistic_model, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="where config.pbtxt goes")
    parser.add_argument("--model", type=Path, required=True, help="where <version>/model.onnx goes")
    parser.add_argument("--name", default="tiny")
    args = parser.parse_args()
    config = contract_config(args.name, reference_spec(n_numeric=4, n_categorical=2))
    args.config.write_text(config.to_pbtxt())
    save(logistic_model(config, seed=7), args.model)


if __name__ == "__main__":
    main()
