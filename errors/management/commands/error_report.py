"""Report stored errors by group, for people (table) and for machines (json, csv)."""
from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from errors.choices import Category, GroupStatus, Severity
from errors.management.database import database_errors_as_command_error
from errors.periods import PeriodError, since_parse
from errors.selectors import GroupInWindow, error_events_exist, error_group_list, error_statistics

# The fields of each group, in JSON and (as columns, in this order) in CSV.
COLUMNS = ("id", "code", "category", "severity", "status", "regressed", "count", "first_seen", "last_seen",
           "total_count", "where", "title")


def group_row(item: GroupInWindow) -> dict[str, Any]:
    group = item.group
    return {
        "id": group.pk,
        "code": group.code,
        "category": group.category,
        "severity": group.severity,
        "status": group.status,
        "regressed": group.regressed,
        "count": item.count,
        "first_seen": item.first_seen.isoformat(),
        "last_seen": item.last_seen.isoformat(),
        "total_count": group.count,
        "where": group.where,
        "title": group.title,
    }


class Command(BaseCommand):
    help = (
        "Errors by group in a time window. --fail-on SEVERITY exits 1 when any error at or above it "
        "falls in the window (for cron and monitoring)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--since", default="24h", help="A span back from now (24h, 7d) or an ISO date. Default: 24h.")
        parser.add_argument("--category", choices=Category.values)
        parser.add_argument("--min-severity", choices=Severity.values)
        parser.add_argument("--status", choices=GroupStatus.values)
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
        parser.add_argument("--fail-on", choices=Severity.values, metavar="SEVERITY",
                            help="Exit with status 1 when an error at or above SEVERITY falls in the window.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            since = since_parse(options["since"])
        except PeriodError as exc:
            raise CommandError(str(exc)) from None
        until = timezone.now()
        filters = {"category": options["category"], "status": options["status"]}
        fail_on = options["fail_on"]
        with database_errors_as_command_error():
            groups = [group_row(item) for item in error_group_list(
                since=since, until=until, min_severity=options["min_severity"], **filters
            )]
            failed = bool(fail_on) and error_events_exist(since=since, until=until, min_severity=fail_on, **filters)
        render = {"table": self.render_table, "json": self.render_json, "csv": self.render_csv}[options["format"]]
        render(groups, since=since, until=until)
        if failed:
            raise CommandError(f"errors at or above {fail_on} severity since {since.isoformat()}", returncode=1)

    def render_table(self, groups: list[dict[str, Any]], **window: Any) -> None:
        self.stdout.write(f"Errors from {window['since']:%Y-%m-%d %H:%M} to {window['until']:%Y-%m-%d %H:%M} UTC")
        if not groups:
            self.stdout.write("No errors.")
            return
        header = ("count", "severity", "category", "status", "code", "last seen", "title")
        rows = [
            (str(g["count"]), g["severity"], g["category"], g["status"] + (" (regressed)" if g["regressed"] else ""),
             g["code"], g["last_seen"][:19].replace("T", " "), g["title"])
            for g in groups
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        self.stdout.write(f"{sum(g['count'] for g in groups)} errors in {len(groups)} groups.")

    def render_json(self, groups: list[dict[str, Any]], **window: Any) -> None:
        statistics = error_statistics(since=window["since"], until=window["until"])
        self.stdout.write(json.dumps({
            "since": window["since"].isoformat(),
            "until": window["until"].isoformat(),
            "total": sum(g["count"] for g in groups),
            "groups": groups,
            "by_category": statistics["by_category"],
            "by_severity": statistics["by_severity"],
        }, indent=2))

    def render_csv(self, groups: list[dict[str, Any]], **window: Any) -> None:
        writer = csv.DictWriter(self.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(groups)
