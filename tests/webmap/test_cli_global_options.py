"""Global options of ``qpv`` anywhere on the line, ``--store`` alias, French unknown options,
``qpv --version``, the port of ``qpv servir`` / ``make demo``."""

from __future__ import annotations

import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import webmap.cli
from layers.settings import REPO_ROOT, get_settings
from layers.store import open_store
from webmap.cli import main
from webmap.cli._common import QPVGroup, hoist_global_options


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose default store (QPV_STORE) does not exist."""
    monkeypatch.setenv("QPV_STORE", str(tmp_path / "absent" / "defaut.gpkg"))
    monkeypatch.setenv("QPV_REPORTS_DIR", str(tmp_path / "rapports"))
    return CliRunner()


@pytest.fixture
def verbosity(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The -v counts the root group received, one per run."""
    seen: list[int] = []
    monkeypatch.setattr(webmap.cli, "configure_logging", seen.append)
    return seen


def _real_store(tmp_path: Path, shared_data: Path) -> Path:
    path = tmp_path / "paris.gpkg"
    source = shared_data / "paris" / "qpv-paris-idf-2015.geojson"
    res = CliRunner().invoke(main, ["importer", "perimetres", str(source), "-m", "qpv-paris",
                                    "--entrepot", str(path), "--rapport", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    return path


def test_store_option_after_the_command_at_any_depth(runner: CliRunner, shared_data: Path,
                                                    tmp_path: Path) -> None:
    store = _real_store(tmp_path, shared_data)
    s = open_store(store, create=False)
    try:
        assert len(s.read("perimetres")) == 3
    finally:
        s.close()
    assert not (tmp_path / "absent").exists()  # the import went to --entrepot, not to QPV_STORE
    res = runner.invoke(main, ["couches", "--json", "--entrepot", str(store)])
    assert res.exit_code == 0, res.output
    assert '"total": 3' in res.output
    res = runner.invoke(main, ["diagnostic", "liste", "--entrepot", str(store)])
    assert res.exit_code == 0, res.output
    assert "Aucun diagnostic enregistré." in res.output
    res = runner.invoke(main, ["diagnostic", "liste"])  # QPV_STORE names a missing store
    assert res.exit_code == 1
    # after the command wins over before it, as a later option does in click
    res = runner.invoke(main, ["--entrepot", str(tmp_path / "absent.gpkg"), "couches", f"--entrepot={store}"])
    assert res.exit_code == 0 and "perimetres" in res.output


def test_store_alias_and_verbosity_after_the_command(runner: CliRunner, verbosity: list[int],
                                                    tmp_path: Path) -> None:
    target = tmp_path / "x.gpkg"
    res = runner.invoke(main, ["initialiser", "--store", str(target)])
    assert res.exit_code == 0, res.output
    assert target.exists() and f"Entrepôt prêt : {target}" in res.output
    other = tmp_path / "y.gpkg"
    res = runner.invoke(main, ["--store=" + str(other), "initialiser", "-vv"])
    assert res.exit_code == 0 and other.exists()
    res = runner.invoke(main, ["-v", "diagnostic", "liste", "--entrepot", str(target), "--verbeux"])
    assert res.exit_code == 0, res.output
    assert verbosity == [0, 2, 2]
    assert "--store" not in runner.invoke(main, ["--aide"]).output  # hidden alias


def test_unknown_option_is_french_with_a_suggestion(runner: CliRunner) -> None:
    res = runner.invoke(main, ["initialiser", "--xyz"])
    assert res.exit_code == 2
    assert "Erreur : Option inconnue : --xyz." in res.output
    assert "No such option" not in res.output
    res = runner.invoke(main, ["initialiser", "--entrepo", "x.gpkg"])
    assert res.exit_code == 2
    assert "Option inconnue : --entrepo. Vouliez-vous dire '--entrepot' ?" in res.output
    res = runner.invoke(main, ["rapport", "--perode", "2024-01:2024-02"])
    assert "Option inconnue : --perode." in res.output and "'--periode'" in res.output
    res = runner.invoke(main, ["initialise"])  # (``init``, the English name of earlier versions, is an alias)
    assert "Commande inconnue : initialise." in res.output


def _toy_root() -> click.Group:
    """A root group like ``qpv``'s, with a command owning ``-v`` and one with a value option."""

    @click.group(cls=QPVGroup)
    @click.option("--entrepot", "store_url", default="defaut")
    @click.option("-v", "--verbeux", "verbose", count=True)
    @click.pass_context
    def root(ctx: click.Context, store_url: str, verbose: int) -> None:
        ctx.obj = {"store_url": store_url, "verbose": verbose}

    @root.command("propre")
    @click.option("-v", "--valeur", "value", default="")
    @click.pass_context
    def own(ctx: click.Context, value: str) -> None:
        click.echo(f"{ctx.obj['store_url']}|{ctx.obj['verbose']}|{value}")

    @root.group("groupe")
    def group() -> None:
        """Sub-group."""

    @group.command("cmd")
    @click.option("--theme", default="")
    @click.argument("fichier", required=False)
    @click.pass_context
    def cmd(ctx: click.Context, theme: str, fichier: str | None) -> None:
        click.echo(f"{ctx.obj['store_url']}|{ctx.obj['verbose']}|{theme}|{fichier}")

    return root


def test_own_option_wins_and_values_stay_values() -> None:
    root = _toy_root()
    runner = CliRunner()
    out = runner.invoke(root, ["propre", "-v", "7", "--entrepot", "a.gpkg"]).output
    assert out == "a.gpkg|0|7\n"  # the command's own -v
    out = runner.invoke(root, ["groupe", "cmd", "--theme", "-v", "f.csv", "-vv", "--store", "b"]).output
    assert out == "b|2|-v|f.csv\n"  # -v as the value of --theme is left alone
    out = runner.invoke(root, ["groupe", "cmd", "--", "-v"]).output
    assert out == "defaut|0||-v\n"  # nothing moves after --
    with click.Context(root) as ctx:
        assert hoist_global_options(root, ctx, ["--entrepot", "a", "groupe", "-v", "cmd", "x"]) == \
            ["--entrepot", "a", "-v", "groupe", "cmd", "x"]
        assert hoist_global_options(root, ctx, ["groupe", "cmd", "--store=a", "-x"]) == \
            ["--entrepot=a", "groupe", "cmd", "-x"]


def test_version_from_the_installed_metadata() -> None:
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0
    assert res.output == f"qpv-observatoire {version('qpv-observatoire')}\n"
    assert "Affiche la version et quitte." in CliRunner().invoke(main, ["--aide"]).output


def test_port_and_host_settings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("QPV_PORT", raising=False)
    monkeypatch.delenv("QPV_HOST", raising=False)
    assert (get_settings().host, get_settings().port) == ("127.0.0.1", 5000)
    monkeypatch.setenv("QPV_PORT", "5077")
    monkeypatch.setenv("QPV_HOST", "0.0.0.0")
    assert (get_settings().host, get_settings().port) == ("0.0.0.0", 5077)
    for bad in ("http", "0", "70000", "-1"):
        monkeypatch.setenv("QPV_PORT", bad)
        assert get_settings().port == 5000
    assert "is not a TCP port" in caplog.text


def test_serve_listens_on_the_configured_port(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from flask import Flask

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: calls.append(kw))
    monkeypatch.setenv("QPV_PORT", "5077")
    monkeypatch.setenv("QPV_INSTANCE_PATH", str(tmp_path / "instance"))
    res = CliRunner().invoke(main, ["--entrepot", str(tmp_path / "s.gpkg"), "servir"])
    assert res.exit_code == 0, res.output
    assert "http://127.0.0.1:5077/" in res.output and "Ctrl+C" in res.output
    assert calls[-1]["port"] == 5077 and calls[-1]["host"] == "127.0.0.1"
    res = CliRunner().invoke(main, ["servir", "--port", "8123", "--hote", "0.0.0.0",
                                    "--entrepot", str(tmp_path / "s.gpkg")])
    assert res.exit_code == 0, res.output
    assert calls[-1]["port"] == 8123 and calls[-1]["host"] == "0.0.0.0"
    res = CliRunner().invoke(main, ["servir", "--port", "99999"])
    assert res.exit_code == 2 and "n'est pas dans l'intervalle" in res.output


def test_make_demo_port(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "demo", "PORT=5077", f"VENV={tmp_path / 'venv'}"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    serve = [line for line in out.splitlines() if line.rstrip().endswith("qpv servir")]
    assert len(serve) == 1 and "QPV_PORT=5077" in serve[0]
    assert "http://127.0.0.1:5077/" in out
    default = subprocess.run(["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert "QPV_PORT=5000" in default and "5077" not in default
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo PORT=8080" in readme and "http://127.0.0.1:5000/" in readme and "Ctrl+C" in readme


def test_english_command_names_of_earlier_versions_still_work(runner: CliRunner, tmp_path: Path,
                                                               shared_data: Path) -> None:
    """Scripts written for the English CLI keep working; help lists the French names only."""
    from webmap.cli._common import COMMAND_ALIASES

    store = tmp_path / "alias.gpkg"
    result = runner.invoke(main, ["init", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert store.exists()
    rules = tmp_path / "regles.yaml"
    lillers = shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt"
    result = runner.invoke(main, ["rues", "parse", str(lillers), "-o", str(rules)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["lookup", "12 rue de Verdun 62190 Lillers", "--regles", str(rules),
                                  "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "Statut : dans un QPV" in result.output and "QP062057" in result.output
    # every alias names an existing command of its group, and none shows in the help
    groups = {None: main, **{name: main.commands[name] for name in COMMAND_ALIASES if name}}
    for group_name, aliases in COMMAND_ALIASES.items():
        group = groups[group_name]
        assert isinstance(group, click.Group)
        for alias, french in aliases.items():
            assert french in group.commands, (group_name, alias, french)
            assert alias not in group.commands
        args = [group_name, "--aide"] if group_name else ["--aide"]
        listed = runner.invoke(main, args).output
        assert not any(f"\n  {alias} " in listed for alias in aliases), (group_name, listed)
    result = runner.invoke(main, ["frobnicate"])
    assert result.exit_code == 2 and "Commande inconnue : frobnicate" in result.output
