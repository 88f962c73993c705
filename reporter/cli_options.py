"""The command line's shared options: the global ones, accepted after the command too, and page formats."""

from __future__ import annotations

from pathlib import Path

import click

from reporter.logs import configure_logging

DEFAULT_CONFIG = "reporter.yaml"
PAGE_FORMATS = ("text", "markdown", "mrkdwn", "html")  # the digest formats that are a page to print or keep
PAGE_EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown"}
PAGE_EXTENSIONS |= {".html": "html", ".htm": "html"}


def _after_command(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """A global option given after the command: it counts as if given before it (once)."""
    if value is None or value == 0 or param.name is None:
        return
    root = ctx.find_root()
    given: dict[str, object] = root.ensure_object(dict)
    name = param.name.removesuffix("_after")
    verbose = given.get("verbose")
    level = verbose if isinstance(verbose, int) else 0
    if name == "verbose" and isinstance(value, int):
        level = given["verbose"] = level + value
    else:
        before = root.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        if before and given.get(name) != value:
            raise click.UsageError(
                f"--{name.replace('_', '-')} given twice, {given.get(name)} before the command and "
                f"{value} after it; give it once"
            )
        given[name] = value
    configure_logging(level, str(given.get("log_format") or "text"))


def global_options(command: click.Command) -> click.Command:
    """The global --config, -v and --log-format, accepted after the command too."""
    options = (
        click.Option(
            ["--config", "config_after"],
            type=click.Path(path_type=Path),
            help="YAML configuration file (also before the command; default: $REPORTER_CONFIG, "
            f"else {DEFAULT_CONFIG}).",
            expose_value=False,
            callback=_after_command,
        ),
        click.Option(
            ["-v", "--verbose", "verbose_after"],
            count=True,
            help="More log output (-vv for debug).",
            expose_value=False,
            callback=_after_command,
        ),
        click.Option(
            ["--log-format", "log_format_after"],
            type=click.Choice(["text", "json"]),
            help="Log line format: text (default) or json.",
            expose_value=False,
            callback=_after_command,
        ),
    )
    command.params.extend(options)
    return command


def page_format(fmt: str | None, output: Path | None) -> str:
    """The format of a printed or written digest: --format, else the extension; a mismatch is refused."""
    by_extension = PAGE_EXTENSIONS.get(output.suffix.lower()) if output else None
    if fmt and by_extension and fmt != by_extension:
        raise click.UsageError(
            f"--format {fmt} but --output {output} has the extension of {by_extension}; "
            "make them agree, or leave one out"
        )
    return fmt or by_extension or "text"
