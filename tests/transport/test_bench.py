from vla_bench.transport.bench import measure


def test_transport_bench_measures_real_exchanges():
    r = measure(clients=3, requests=20, size=16, cameras=2, processes=False)
    assert r["clients"] == 3 and r["req_per_s"] > 0 and 0 < r["p50_ms"] <= r["p90_ms"]
    assert 1.0 <= r["mean_batch"] <= 3.0
