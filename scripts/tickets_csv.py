#!/usr/bin/env python3
"""Make a ticket-system-like CSV export (id, subject, body, queue) from a shared JSONL dataset,
to try the quick start without data of your own: the subject is a ticket's first words, the body
the rest, the queue its label.

    python scripts/tickets_csv.py ../shared/data/it_service_tickets/train.jsonl tickets.csv --rows 600
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a JSONL file with text and label fields")
    parser.add_argument("out", type=Path, help="the CSV to write")
    parser.add_argument("--rows", type=int, default=600, help="how many rows to take from the top (default 600)")
    parser.add_argument("--subject-words", type=int, default=6, help="words that make the subject (default 6)")
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out} already exists; remove it or choose another name", file=sys.stderr)
        return 2
    lines = [line for line in args.source.read_text(encoding="utf-8").splitlines() if line.strip()]
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "subject", "body", "queue"])
        for i, line in enumerate(lines[: args.rows]):
            item = json.loads(line)
            words = str(item["text"]).split()
            cut = args.subject_words
            writer.writerow([i, " ".join(words[:cut]), " ".join(words[cut:]), item["label"]])
    print(f"wrote {args.out}: {min(len(lines), args.rows)} tickets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
