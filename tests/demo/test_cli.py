"""`omnicx demo` from the command line: progress, summary, files, errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from omnicx.cli.main import app

runner = CliRunner()


def test_demo_command_loads_and_summarises(database_url: str, tmp_path: Path) -> None:
    truth = tmp_path / "elsewhere" / "truth.jsonl"
    args = ["demo", "--customers", "25", "--seed", "5", "--until", "2026-01-31", "--db",
            database_url, "--output", str(tmp_path / "out"), "--truth", str(truth)]  # fmt: skip

    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "25 in" in text and "multichannel people" in text and "events/s" in text
    assert len(truth.read_text().splitlines()) == 25
    for name in ("store_pos_receipts.csv", "crm_customers.csv", "store_pos_mapping.toml",
                 "crm_mapping.toml"):  # fmt: skip
        assert (tmp_path / "out" / name).exists()

    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert "(0 new in the database)" in " ".join(again.output.split())


def test_a_bad_date_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["demo", "--until", "yesterday", "--db", f"sqlite:///{tmp_path}/x.db"]
    )
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["demo", "--customers", "3", "--db", f"sqlite:///{tmp_path}/x.db", "--output",
         str(tmp_path / "out"), "--url", "http://127.0.0.1:9"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output
