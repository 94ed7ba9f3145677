"""`vla-bench bench decode` on a tiny random backbone: every registered decoder appears, numbers are sane."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("torch")

from policies.bench_decode import DecodeBench, RandomLayout, format_decode_bench, run_decode_bench  # noqa: E402
from vla_bench.registries import decoders  # noqa: E402

TINY = RandomLayout(d_model=32, n_layers=1, n_heads=2, text_len=4, state_dim=2, image_size=16, image_grid=2,
                    future_tokens=4, chunk=2, action_dim=2, text_vocab=8, state_vocab=8, image_vocab=8,
                    action_vocab=16)


@pytest.fixture(scope="module")
def result():
    b = DecodeBench(random_backbone=True, repeats=1, warmup=0, threads=1, batches=(1, 3), layout=TINY)
    return run_decode_bench(b)


def test_every_registered_decoder_is_in_the_table(result):
    importable = {r["decoder"] for r in result["rows"]}
    for name in decoders.names():
        assert name in importable or name in result["missing"], name
    assert "autoregressive" in importable and "jacobi" in importable
    for name in importable:
        cells = {(r["batch"], r["cache"]) for r in result["rows"] if r["decoder"] == name}
        assert cells == {(1, True), (1, False), (3, True), (3, False)}
    text = format_decode_bench(result)
    assert "random backbone" in text
    for name in importable:
        assert name in text
    assert "PASS" in text or "MISS" in text


def test_numbers_are_sane(result):
    n_tokens = TINY.chunk * TINY.action_dim
    measured = [r for r in result["rows"] if "p50_ms" in r]
    assert measured
    for r in measured:
        assert r["nfe"] >= 1 and r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"]
        assert math.isclose(r["action_tokens_per_s"], r["batch"] * n_tokens / (r["p50_ms"] / 1000), rel_tol=1e-9)
        assert math.isclose(r["executed_actions_per_s"], r["batch"] * TINY.chunk / (r["p50_ms"] / 1000), rel_tol=1e-9)
        assert r["generated_tokens_per_s"] >= r["action_tokens_per_s"]
    by = {(r["decoder"], r["batch"], r["cache"]): r for r in measured}
    assert by[("autoregressive", 1, True)]["nfe"] == n_tokens
    assert by[("autoregressive", 1, False)]["nfe"] == n_tokens
    assert 2 <= by[("jacobi", 1, True)]["nfe"] <= n_tokens + 1
    if ("one_step", 1, False) in by:
        assert by[("one_step", 1, False)]["nfe"] == 1
    for r in result["rows"]:  # a cell that did not run says why, and only for a reason we know
        if "p50_ms" not in r:
            assert r["note"].startswith("n/a") or r["note"].startswith("error"), r
    assert not [r for r in result["rows"] if r.get("note", "").startswith("error")]


def test_ratios_are_reported(result):
    names = [t["name"] for t in result["ratios"]]
    assert any(n.startswith("one_step vs autoregressive") for n in names)
    assert any(n.startswith("masked_diffusion vs autoregressive") for n in names)
    assert any(n.startswith("jd3p KV cache") for n in names)
    assert any(n.startswith("autoregressive: batch 3 vs batch 1") for n in names)
    for t in result["ratios"]:
        assert t["status"] in ("PASS", "MISS", "n/a")
        assert (t["value"] is None) == (t["status"] == "n/a")


def test_without_checkpoint_falls_back_to_the_random_backbone(tmp_path, monkeypatch):
    import policies.bench_decode as bd

    monkeypatch.setattr(bd, "SHIPPED_CHECKPOINT", tmp_path / "absent")
    assert bd.make_setup(DecodeBench(layout=TINY)).source.startswith("random backbone")


def test_checkpoint_layout_is_used(tiny_checkpoint):
    from policies.bench_decode import make_setup

    setup = make_setup(DecodeBench(checkpoint=str(tiny_checkpoint)))
    assert setup.source == f"checkpoint {tiny_checkpoint}"
    assert setup.spec.chunk == 2 and setup.spec.action_dim == 4
    r = run_decode_bench(DecodeBench(checkpoint=str(tiny_checkpoint), repeats=1, warmup=0, batches=(2,),
                                     decoders=("autoregressive", "jacobi")))
    assert {row["nfe"] for row in r["rows"] if row["decoder"] == "autoregressive"} == {8}


def test_cli_writes_json(tmp_path, capsys):
    from vla_bench.cli import main

    out = tmp_path / "bench.json"
    rc = main(["bench", "decode", "--decoders", "autoregressive", "jacobi", "--batches", "1", "--repeats", "1",
               "--warmup", "0", "--threads", "1", "--execute-steps", "2", "--random-backbone", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "autoregressive" in text and "jacobi" in text
    data = json.loads(out.read_text())
    assert data["execute_steps"] == 2 and data["setup"].startswith("random backbone")
    assert {r["decoder"] for r in data["rows"]} == {"autoregressive", "jacobi"}


def test_cli_rejects_bad_execute_steps(capsys):
    from vla_bench.cli import main

    assert main(["bench", "decode", "--decoders", "autoregressive", "--execute-steps", "99", "--repeats", "1",
                 "--batches", "1", "--random-backbone"]) == 2
    assert "execute_steps" in capsys.readouterr().err


def test_policy_configs_set_the_decoder_knobs(tmp_path, capsys):
    from vla_bench.cli import main

    cfg = tmp_path / "md.yaml"
    cfg.write_text("type: vla\nname: vla-md\nkwargs: {checkpoint: x, decoder: masked_diffusion, "
                   "decoder_kwargs: {steps: 3}}\n")
    out = tmp_path / "bench.json"
    assert main(["bench", "decode", "--decoders", "masked_diffusion", "--batches", "1", "--repeats", "1",
                 "--warmup", "0", "--threads", "1", "--random-backbone", "--policy-configs", str(cfg),
                 "--json", str(out)]) == 0
    assert "'steps': 3" in capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert {(r["cache"], r["nfe"]) for r in rows} == {(True, 4), (False, 3)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("type: random\n")
    assert main(["bench", "decode", "--random-backbone", "--policy-configs", str(bad)]) == 2
    assert "not a vla policy config" in capsys.readouterr().err
