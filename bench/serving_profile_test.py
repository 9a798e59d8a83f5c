"""Stages of a py-spy profile: samples classified by what they call, charged per request."""

from bench.serving_profile import EVENT_LOOP, OTHER, Profile, classify, profile_table, stage_shares

ROOT = "<module> (serving/server.py:1);run_worker (serving/server.py:2);Runner.run (asyncio/runners.py:118)"
SERVE = "HttpProtocol._serve_pending (serving/http_protocol.py:218)"
HANDLE = f"{ROOT};{SERVE};InferenceServer.handle (serving/server.py:3)"


def test_a_sample_goes_to_the_first_stage_it_calls():
    run = HANDLE + ";VersionRunTimer.__call__ (serving/metrics.py:279);Session.run (onnxruntime/capi/x.py:406)"
    assert classify(run) == "ONNX Runtime run (through its Python wrapper)"
    assert classify(HANDLE + ";decode_infer_request (serving/oip_codec.py:169)") == "request decoding and validation"
    assert classify(HANDLE + ";ServingMetrics.request (serving/metrics.py:200)") == "metrics (prometheus_client)"
    assert classify(ROOT + ";HttpProtocol.data_received (serving/http_protocol.py:142)").startswith("HTTP parsing")
    assert classify(ROOT) == EVENT_LOOP
    assert classify(ROOT + ";something (elsewhere.py:1)") == OTHER


def test_shares_count_only_the_event_loop_thread():
    folded = "\n".join(
        [
            f"{HANDLE};decode_infer_request (serving/oip_codec.py:169) 30",
            f"{ROOT} 70",
            "Thread.run (threading.py:975);_worker (concurrent/futures/thread.py:81) 500",
        ]
    )
    shares, samples = stage_shares(folded)
    assert samples == 100
    assert shares == {EVENT_LOOP: 0.7, "request decoding and validation": 0.3}


def test_the_table_charges_each_stage_its_share_of_the_loop_threads_cpu():
    profile = Profile("ours", 1, 1000, 200.0, 20.0, {EVENT_LOOP: 0.75, "request decoding and validation": 0.25}, 400)
    lines = profile_table([profile]).splitlines()
    assert lines[0] == "| where the server's CPU goes, per request | ours, c=1 |"
    assert "| event-loop thread: request decoding and validation | 50 us (25%) |" in lines
    assert f"| event-loop thread: {EVENT_LOOP} | 150 us (75%) |" in lines
    assert "| other threads (batcher thread, gRPC poller, Kafka client) | 20 us |" in lines
    assert "| **total** | **220 us** |" in lines
