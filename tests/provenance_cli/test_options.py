"""Every option has its own environment variable, named in --help; `--force` alone has none."""

from __future__ import annotations

import click

from provenance_cli.main import cli

CLICKS_OWN = {"help", "version"}


def every_option() -> list[tuple[str, click.Option]]:
    """(command as typed, option) for every option of `provenance` and every command under it."""
    found: list[tuple[str, click.Option]] = []

    def walk(command: click.Command, ctx: click.Context) -> None:
        found.extend((ctx.command_path, p) for p in command.params if isinstance(p, click.Option))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                walk(sub, click.Context(sub, info_name=name, parent=ctx))

    walk(cli, click.Context(cli, info_name="provenance"))
    return found


def test_every_option_has_a_variable_named_in_its_help() -> None:
    options = [(path, o) for path, o in every_option() if o.name not in CLICKS_OWN | {"force"}]
    assert {path for path, _ in options} >= {"provenance", "provenance sign", "provenance verify", "provenance check",
                                             "provenance inspect", "provenance keys init", "provenance trust show",
                                             "provenance serve-repository"}
    for path, option in options:
        assert isinstance(option.envvar, str) and option.envvar.startswith("PROVENANCE_"), (path, option.name)
        assert f"[env: {option.envvar}" in (option.help or ""), (path, option.name)


def test_force_is_never_read_from_the_environment() -> None:
    forces = [(path, o) for path, o in every_option() if o.name == "force"]
    assert sorted(path for path, _ in forces) == ["provenance keys init", "provenance sign",
                                                  "provenance sign-batch", "provenance watermark embed"]
    for path, option in forces:
        assert option.envvar is None, path
        assert "Not settable from the environment" in (option.help or ""), path


def test_each_variable_has_one_meaning() -> None:
    """Options sharing a variable are the same option (same flags, same help), as --store is on every command."""
    meanings: dict[str, tuple[tuple[str, ...], str | None]] = {}
    for path, option in every_option():
        if isinstance(option.envvar, str):
            declared = (tuple(option.opts + option.secondary_opts), option.help)
            assert meanings.setdefault(option.envvar, declared) == declared, f"{option.envvar} on {path}"
    assert {"PROVENANCE_VERIFY_FORMAT", "PROVENANCE_TRUST_FORMAT", "PROVENANCE_CHECK_FORMAT", "PROVENANCE_ALG",
            "PROVENANCE_KEYS_ALG"} <= set(meanings)
    assert not {"PROVENANCE_FORMAT", "PROVENANCE_FORCE"} & set(meanings)
