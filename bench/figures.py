"""A matplotlib figure as PNG bytes, for report attachments (Agg backend: no display needed)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def png_bytes(fig: Any, dpi: float | None = None) -> bytes:
    """Lay ``fig`` out, render it as PNG and close it (also when rendering fails)."""
    try:
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", **({"dpi": dpi} if dpi is not None else {}))
        return buf.getvalue()
    finally:
        plt.close(fig)
