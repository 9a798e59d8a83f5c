"""ghz's report read like wrk's, the benchmark body as a ModelInferRequest, and the service's protoset."""

import base64
import json

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, json_format
from tritonclient.grpc import service_pb2

from bench.ghz_load import grpc_request_json, parse_ghz, write_protoset


def report(codes: dict, errors: dict | None = None, total_s: float = 2.0) -> str:
    return json.dumps(
        {
            "total": int(total_s * 1e9),
            "statusCodeDistribution": codes,
            "errorDistribution": errors or {},
            "latencyDistribution": [{"percentage": p, "latency": int(ms * 1e6)} for p, ms in ((50, 0.5), (99, 2.5))],
        }
    )


def test_ok_answers_their_rate_and_percentiles():
    parsed = parse_ghz(report({"OK": 1000}))
    assert (parsed.requests, parsed.requests_per_s, parsed.p50_ms, parsed.p99_ms) == (1000, 500.0, 0.5, 2.5)
    assert parsed.non_2xx == 0 and parsed.socket_errors == 0


def test_calls_cut_off_by_the_end_of_the_run_are_left_out_other_failures_fail_the_run():
    cut = "rpc error: code = Unavailable desc = transport is closing"
    parsed = parse_ghz(report({"OK": 900, "Unavailable": 32}, {cut: 32}))
    assert (parsed.requests, parsed.non_2xx, parsed.socket_errors) == (900, 0, 0)
    refused = "rpc error: code = InvalidArgument desc = input 'x': datatype is 'FP64'"
    parsed = parse_ghz(report({"OK": 10, "InvalidArgument": 5, "Unavailable": 2}, {refused: 5, cut: 2}))
    assert parsed.non_2xx == 5 and parsed.socket_errors == 0


def test_a_report_without_percentiles_is_an_error_naming_them():
    with pytest.raises(ValueError, match="99% latency"):
        parse_ghz(json.dumps({"total": 1, "latencyDistribution": [{"percentage": 50, "latency": 1}]}))


def test_the_json_body_becomes_a_model_infer_request_with_little_endian_raw_contents():
    body = json.dumps(
        {
            "inputs": [
                {"name": "numeric", "shape": [1, 2], "datatype": "FP32", "data": [0.5, -1.25]},
                {"name": "categorical", "shape": [1, 1], "datatype": "INT64", "data": [3]},
            ]
        }
    )
    request = json_format.Parse(grpc_request_json(body), service_pb2.ModelInferRequest())
    assert request.model_name == "fraud"
    assert [(t.name, t.datatype, list(t.shape)) for t in request.inputs] == [
        ("numeric", "FP32", [1, 2]),
        ("categorical", "INT64", [1, 1]),
    ]
    assert np.frombuffer(request.raw_input_contents[0], "<f4").tolist() == [0.5, -1.25]
    assert np.frombuffer(request.raw_input_contents[1], "<i8").tolist() == [3]
    assert base64.b64encode(request.raw_input_contents[1]).decode() in grpc_request_json(body)
    with pytest.raises(ValueError, match="BYTES has no raw encoding"):
        grpc_request_json(json.dumps({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}))


def test_the_protoset_holds_the_service_and_its_dependencies_first(tmp_path):
    files = descriptor_pb2.FileDescriptorSet.FromString(write_protoset(tmp_path / "oip.protoset").read_bytes())
    names = [f.name for f in files.file]
    assert names == ["model_config.proto", "grpc_service.proto"]
    service = files.file[1].service[0]
    assert files.file[1].package == "inference" and service.name == "GRPCInferenceService"
    assert "ModelInfer" in [m.name for m in service.method]
