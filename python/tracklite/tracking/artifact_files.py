"""Turning Python objects (text, dicts, figures, images) into artifact bytes."""

from __future__ import annotations

import io
import json
import posixpath
from typing import Any

from tracklite.errors import InvalidParameterValue, TrackliteError


def text_bytes(text: str) -> bytes:
    """UTF-8 bytes of ``text``."""
    if not isinstance(text, str):
        raise InvalidParameterValue(f"log_text expects a str, got {type(text).__name__}")
    return text.encode("utf-8")


def dict_bytes(dictionary: Any, artifact_file: str) -> bytes:
    """A dict serialised by the file's extension: YAML for ``.yaml``/``.yml``, else JSON (as MLflow)."""
    ext = posixpath.splitext(artifact_file)[1].lower()
    if ext in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False, allow_unicode=True)
        return str(text).encode("utf-8")
    return json.dumps(dictionary, indent=2).encode("utf-8")


def figure_bytes(figure: Any, artifact_file: str, save_kwargs: dict[str, Any] | None = None) -> bytes:
    """A matplotlib figure saved in the format of the file's extension; a plotly figure as HTML."""
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".")
    buf = io.BytesIO()
    if hasattr(figure, "savefig"):
        figure.savefig(buf, format=ext or "png", **(save_kwargs or {}))
        return buf.getvalue()
    if hasattr(figure, "write_html") and ext in ("html", "htm"):
        text = io.StringIO()
        figure.write_html(text, **(save_kwargs or {}))
        return text.getvalue().encode("utf-8")
    if hasattr(figure, "write_image"):
        figure.write_image(buf, format=ext or "png", **(save_kwargs or {}))
        return buf.getvalue()
    raise InvalidParameterValue(f"log_figure expects a matplotlib or plotly figure, got {type(figure).__name__}")


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """A NumPy array (HW, HWC with 1/3/4 channels; ints 0-255 or floats 0-1) or PIL image as PNG/JPEG."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TrackliteError("log_image needs Pillow: `pip install pillow`") from exc
    import numpy as np

    if isinstance(image, Image.Image):
        pil = image
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise InvalidParameterValue(
                f"log_image expects an array shaped (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {arr.shape}"
            )
        if arr.dtype.kind == "f":
            if np.nanmin(arr) < 0 or np.nanmax(arr) > 1:
                raise InvalidParameterValue("Float images must have values in [0, 1]; scale the array first.")
            arr = (arr * 255).round().astype(np.uint8)
        elif arr.dtype.kind in "iu":
            if arr.min() < 0 or arr.max() > 255:
                raise InvalidParameterValue("Integer images must have values in [0, 255].")
            arr = arr.astype(np.uint8)
        elif arr.dtype.kind == "b":
            arr = arr.astype(np.uint8) * 255
        else:
            raise InvalidParameterValue(f"log_image cannot take an array of dtype {arr.dtype}")
        pil = Image.fromarray(arr)
    else:
        raise InvalidParameterValue(f"log_image expects a numpy.ndarray or PIL.Image, got {type(image).__name__}")
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".") or "png"
    buf = io.BytesIO()
    pil.save(buf, format={"jpg": "JPEG"}.get(ext, ext.upper()))
    return buf.getvalue()
