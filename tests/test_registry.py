import pytest

from vla_bench.registry import Registry, RegistryError


def test_lazy_entry_is_imported_on_get_only():
    reg: Registry[object] = Registry("thing", "vla_bench.test_nonexistent_group")
    reg.add("odict", "collections:OrderedDict")
    assert reg.target("odict") == "collections:OrderedDict"
    import collections

    assert reg.get("odict") is collections.OrderedDict


def test_duplicate_names_raise():
    reg: Registry[object] = Registry("thing", "vla_bench.test_nonexistent_group")
    reg.add("a", "collections:OrderedDict")
    with pytest.raises(RegistryError, match="duplicate thing name 'a'"):
        reg.add("a", "collections:Counter")


def test_unknown_name_suggests_nearest():
    reg: Registry[object] = Registry("decoder", "vla_bench.test_nonexistent_group")
    reg.add("masked_diffusion", "collections:OrderedDict")
    reg.add("one_step", "collections:Counter")
    with pytest.raises(RegistryError, match="did you mean 'masked_diffusion'"):
        reg.get("masked_difusion")


def test_decorator_registration():
    reg: Registry[type] = Registry("policy", "vla_bench.test_nonexistent_group")

    @reg.register("mine")
    class Mine:
        pass

    assert reg.get("mine") is Mine
    assert "mine" in reg and reg.names() == ["mine"]


def test_entry_point_discovery(tmp_path, monkeypatch):
    """A third-party distribution's entry point shows up in the registry without importing it."""
    dist = tmp_path / "thirdparty-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[vla_bench.widgets]\nfancy = thirdparty_mod:Fancy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "thirdparty_mod.py").write_text("class Fancy:\n    pass\n")
    reg: Registry[type] = Registry("widget")
    assert reg.names() == ["fancy"]
    assert "entry point fancy (thirdparty)" in reg.origin("fancy")
    assert reg.get("fancy").__name__ == "Fancy"


def test_project_registries_have_in_tree_entries():
    from vla_bench import registries

    assert {"metaworld", "scripted"} <= set(registries.envs.names())
    assert {"mt10", "mt50"} <= set(registries.suites.names())
    assert {"oracle", "random", "zero", "remote"} <= set(registries.policies.names())
