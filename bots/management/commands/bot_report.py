"""Report the assistants' measured turns: percentiles per profile and provider (table, json, csv)."""
from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from bots.analytics import STAGES, TurnSummary, turn_summaries
from errors.management.database import database_errors_as_command_error
from errors.periods import PeriodError, since_parse

CSV_COLUMNS = ("profile", "provider", "turns", "answered", "interrupted", "failed", "fallbacks",
               *(f"{stage}_{q}" for stage in STAGES for q in ("p50", "p95", "p99")))


def csv_row(summary: TurnSummary) -> dict[str, Any]:
    row: dict[str, Any] = {key: value for key, value in summary.as_dict().items() if key != "stages"}
    for stage, values in summary.stages.items():
        for q, value in values.items():
            row[f"{stage}_{q}"] = "" if value is None else value
    return row


class Command(BaseCommand):
    help = ("Assistant turns in a time window: counts and timing percentiles per profile and language-model "
            "provider. --fail-on SECONDS exits 1 when the voice-to-voice p95 (or --stage's) is above it.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--since", default="24h", help="A span back from now (24h, 7d) or an ISO date. Default: 24h.")
        parser.add_argument("--profile", help="Only the turns of this profile id.")
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
        parser.add_argument("--stage", choices=STAGES, default="voice_to_voice",
                            help="The timing --fail-on looks at (default: voice_to_voice).")
        parser.add_argument("--fail-on", type=float, metavar="SECONDS",
                            help="Exit with status 1 when the p95 of --stage over all turns is above SECONDS.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            since = since_parse(options["since"])
        except PeriodError as exc:
            raise CommandError(str(exc)) from None
        fail_on = options["fail_on"]
        if fail_on is not None and not fail_on > 0:
            raise CommandError("--fail-on must be a number of seconds above 0.")
        until = timezone.now()
        with database_errors_as_command_error():
            total, summaries = turn_summaries(since=since, until=until, profile=options["profile"])
        render = {"table": self.render_table, "json": self.render_json, "csv": self.render_csv}[options["format"]]
        render(total, summaries, since=since, until=until)
        p95 = total.stages[options["stage"]]["p95"]
        if fail_on is not None and p95 is not None and p95 > fail_on:
            raise CommandError(f"{options['stage']} p95 is {p95:.3f} s, above {fail_on:g} s, "
                               f"since {since.isoformat()}", returncode=1)

    def render_table(self, total: TurnSummary, summaries: list[TurnSummary], **window: Any) -> None:
        self.stdout.write(f"Assistant turns from {window['since']:%Y-%m-%d %H:%M} to {window['until']:%Y-%m-%d %H:%M} "
                          "UTC (seconds, p50/p95)")
        if not total.turns:
            self.stdout.write("No turns.")
            return
        header = ("profile", "provider", "turns", "interrupted", "failed", "fallbacks", "voice to voice", "stt",
                  "llm first token", "tts first audio", "overhead")

        def cell(summary: TurnSummary, stage: str) -> str:
            values = summary.stages[stage]
            return "/".join("-" if values[q] is None else f"{values[q]:.2f}" for q in ("p50", "p95"))

        rows = [(s.profile, s.provider, str(s.turns), str(s.interrupted), str(s.failed), str(s.fallbacks),
                 cell(s, "voice_to_voice"), cell(s, "transcription"), cell(s, "llm_first_token"),
                 cell(s, "tts_first_audio"), cell(s, "overhead")) for s in [*summaries, total]]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())

    def render_json(self, total: TurnSummary, summaries: list[TurnSummary], **window: Any) -> None:
        self.stdout.write(json.dumps({"since": window["since"].isoformat(), "until": window["until"].isoformat(),
                                      "total": total.as_dict(), "groups": [s.as_dict() for s in summaries]},
                                     indent=2))

    def render_csv(self, total: TurnSummary, summaries: list[TurnSummary], **window: Any) -> None:
        writer = csv.DictWriter(self.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_row(summary) for summary in summaries)
