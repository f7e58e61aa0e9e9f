"""Print a day's published files and per-stage counts (used by `make run`)."""

import argparse
import sys

from tiktok_top10.config import Settings
from tiktok_top10.report import format_day

parser = argparse.ArgumentParser()
parser.add_argument("--day", required=True)
args = parser.parse_args()
text, ok = format_day(Settings.from_env(), args.day)
print(text)
sys.exit(0 if ok else 1)
