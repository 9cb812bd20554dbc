"""nginx error logs: parse lines into events (``parse``), name their cause (``causes``), group
them in bounded memory (``summary``); ``read`` streams files, ``.gz`` and stdin.
"""

from mtls_doctor.logs.causes import CAUSES, Cause, Match, all_causes, classify
from mtls_doctor.logs.parse import LogEvent, parse_line
from mtls_doctor.logs.summary import FileStats, Group, LogSummary, Summarizer, summarize

__all__ = [
    "CAUSES", "Cause", "Match", "all_causes", "classify", "LogEvent", "parse_line",
    "FileStats", "Group", "LogSummary", "Summarizer", "summarize",
]
