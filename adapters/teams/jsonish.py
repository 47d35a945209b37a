"""SDK models back to the JSON Teams sent."""

from __future__ import annotations

from typing import Any


def as_json(value: Any) -> Any:
    """An SDK model as the JSON Teams sent, extra keys included.

    ``Model.serialize()`` drops what the schema does not name (a mention entity's ``mentioned``,
    ``conversation.tenantId``, which 4.17.1 maps as ``tenantID``), so walk the model instead.
    """
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    attribute_map = getattr(type(value), "_attribute_map", None)
    if attribute_map is None:
        return value
    out: dict[str, Any] = {}
    for name, spec in attribute_map.items():
        item = getattr(value, name, None)
        if item is not None and name != "additional_properties":
            out[spec["key"]] = as_json(item)
    for key, item in (getattr(value, "additional_properties", None) or {}).items():
        out.setdefault(str(key), as_json(item))
    return out
