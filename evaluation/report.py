"""The evaluation's outputs: tables and plots per experiment, written as JSON, Markdown, PNG.

Every figure goes into the JSON together with the configuration that
produced it; the Markdown shows the same figures as tables shaped like the
sources' (one row per model / iteration / method).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

RANK_LIKE = {"Med r", "Mean r", "Returned"}


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)


@dataclass
class Series:
    label: str
    x: list[float]
    y: list[float]
    style: str = "line"  # line | points


@dataclass
class Plot:
    filename: str  # PNG name inside the output folder
    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    log_x: bool = False


@dataclass
class Section:
    name: str  # the experiment (retrieval, feedback, ...)
    title: str
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # figures and configuration, for the JSON
    notes: list[str] = field(default_factory=list)


def write_outputs(
    out_dir: Path, stem: str, header: dict[str, Any], sections: list[Section]
) -> dict[str, Path]:
    """Write <stem>.json, <stem>.md and the plots; return the paths written."""
    from evaluation.plots import render

    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for section in sections:
        for plot in section.plots:
            written[plot.filename] = render(plot, out_dir / plot.filename)
    payload = {
        **header,
        "sections": [
            {
                "name": s.name,
                "title": s.title,
                "notes": s.notes,
                "tables": [asdict(t) for t in s.tables],
                "plots": [p.filename for p in s.plots],
                "data": s.data,
            }
            for s in sections
        ],
    }
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(_plain(payload), indent=2, sort_keys=False) + "\n")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(markdown(header, sections))
    written.update({"json": json_path, "markdown": md_path})
    return written


def markdown(header: dict[str, Any], sections: list[Section]) -> str:
    dataset, encoders = header.get("dataset", {}), header.get("encoders", [])
    lines = [f"# Evaluation: {dataset.get('name', '?')}", ""]
    lines.append(
        f"- Dataset: `{dataset.get('source', '')}`; {dataset.get('items', 0)} images in "
        f"{len(dataset.get('galleries', []))} galleries, {dataset.get('queries_used', 0)} queries."
    )
    for encoder in encoders:
        lines.append(f"- Encoder `{encoder.get('label')}`: model `{encoder.get('model_name')}`.")
    lines.append(
        f"- Commit `{header.get('git', {}).get('commit', '?')}`"
        f"{' (uncommitted changes)' if header.get('git', {}).get('dirty') else ''}, "
        f"{header.get('finished_at', '')}; index backend "
        f"`{header.get('settings', {}).get('CBIR_INDEX_BACKEND')}`."
    )
    lines += [f"- {note}" for note in header.get("notes", [])]
    lines.append("")
    for section in sections:
        lines += [f"## {section.title}", ""]
        lines += [f"{note}" for note in section.notes]
        if section.notes:
            lines.append("")
        for table in section.tables:
            lines += _table(table)
        for plot in section.plots:
            lines += [f"![{plot.title}]({plot.filename})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _table(table: Table) -> list[str]:
    lines = [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append(
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(table.columns))) + "|"
    )
    for row in table.rows:
        cells = [format_cell(v, c in RANK_LIKE) for v, c in zip(row, table.columns, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"{note}  " for note in table.notes]
    if table.notes:
        lines.append("")
    return lines


def format_cell(value: Any, rank_like: bool = False) -> str:
    """Fractions (recall, precision, AP) with 3 decimals; ranks and counts with 2, as the source."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.2f}" if rank_like or abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def _portable(text: str) -> str:
    """A path inside the checkout written relative to it: reports are read on other machines."""
    root = str(Path(settings.BASE_DIR).resolve())
    return text.replace(root + "/", "").replace(root, ".") if root in text else text


def _portable_path(path: Path) -> str:
    """Relative to the checkout when inside it; elsewhere only the folder's own name (a path of
    the machine that ran it means nothing to a reader, and can name its user)."""
    root = Path(settings.BASE_DIR).resolve()
    resolved = path.resolve() if path.is_absolute() else path
    if resolved.is_absolute() and not resolved.is_relative_to(root):
        return path.name
    return _portable(str(path))


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses to dicts, int keys to strings, NaN to null, NumPy to Python."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return _portable_path(value)
    if isinstance(value, str):
        return _portable(value)
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
