"""Form fields made from JSON Schema — the schemas the API publishes for each plugin's marshmallow
settings and secrets (``hub.web.api.plugins``) — and the form's text read back into JSON values.

A property becomes a labelled control: an ``enum`` a select, a boolean a checkbox, a number a
number input, a list a comma-separated line, a dict of strings ``Name: value`` lines, PEM text a
text area; its description is the help text and the schema's ``required`` the required mark. A
secret (``x-secret``) is a password input that never holds its value: once saved it shows the
placeholder, which the service reads as "keep the stored value"."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.services.connection_secrets import SECRET_PLACEHOLDER

ACRONYMS = {"url": "URL", "ip": "IP", "ips": "IPs", "id": "ID", "tls": "TLS", "http": "HTTP", "json": "JSON",
            "pem": "PEM", "hmac": "HMAC", "api": "API"}
REFERENCE = re.compile(r"^\$\{(param|env)\.[^}]+\}$")   # ${param.NAME} / ${env.NAME} stand for a whole value


def label_for(name: str) -> str:
    """``signature_header`` → ``Signature header``, ``avatar_url`` → ``Avatar URL``: the API's name, readable."""
    words = [ACRONYMS.get(word, word) for word in name.split("_") if word]
    if not words:
        return name
    first = words[0] if words[0] in ACRONYMS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def dom_id(*parts: str) -> str:
    return "f-" + "-".join(re.sub(r"[^A-Za-z0-9]+", "-", part).strip("-") for part in parts if part)


@dataclass
class FormField:
    """One labelled control. ``kind`` says how its text is read back; ``widget`` how it is drawn."""

    name: str                       # the API's name of the value
    input_name: str                 # the form's name of the control
    id: str
    label: str
    kind: str                       # string | integer | number | boolean | enum | list | lines | json | secret
    widget: str                     # text | number | select | checkbox | textarea | password | secret_area
    help: str = ""
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    value: Any = ""
    saved: bool = False             # a secret with a stored value
    blank: str | None = None        # a select's empty option ("use the default"), if it has one
    item_kind: str = "string"       # the items of a list
    attrs: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def help_id(self) -> str:
        return f"{self.id}-help"

    @property
    def error_id(self) -> str:
        return f"{self.id}-error"

    def show(self, value: Any) -> None:
        """Fill the control with a stored JSON value."""
        if self.kind == "secret":
            return
        if self.kind == "boolean":
            self.value = bool(value)
        elif value is None:
            self.value = ""
        elif isinstance(value, str) and REFERENCE.match(value):
            self.value, self.widget = value, ("text" if self.widget in ("number", "select") else self.widget)
        elif self.kind == "list":
            self.value = ", ".join(_number_text(item) for item in value)
        elif self.kind == "lines":
            self.value = "\n".join(f"{key}: {item}" for key, item in dict(value).items())
        elif self.kind == "json":
            self.value = json.dumps(value, indent=2, ensure_ascii=False)
        else:
            self.value = _number_text(value)

    def keep(self, form: Mapping[str, str]) -> None:
        """Show what was typed again (after a refusal) — except a secret, which never goes back."""
        if self.kind == "boolean":
            self.value = form.get(self.input_name) is not None
        elif self.kind != "secret":
            self.value = form.get(self.input_name, "")
            if REFERENCE.match(self.value.strip()) and self.widget in ("number", "select"):
                self.widget = "text"

    def read(self, form: Mapping[str, str]) -> Any:
        """The JSON value of the control's text; ``None`` when empty. ValueError says what is wrong."""
        raw = form.get(self.input_name)
        if self.kind == "boolean":
            return raw is not None
        if self.kind == "secret":
            return raw.strip() if raw is not None and self.widget == "password" else raw
        text = (raw or "").strip()
        if not text:
            return None
        if REFERENCE.match(text):
            return text
        return _parse(self.kind, text, self.item_kind, [value for value, _ in self.choices])


def _parse(kind: str, text: str, item_kind: str, choices: list[str]) -> Any:
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        return int(number) if number.is_integer() else number
    if kind == "enum":
        if text not in choices:
            raise ValueError("choose one of the options")
        return text
    if kind == "list":
        items = [item for item in re.split(r"[,\s]+", text) if item]
        return [_parse(item_kind, item, "string", []) if item_kind in ("integer", "number") else item
                for item in items]
    if kind == "lines":
        pairs = {}
        for line in text.splitlines():
            if line.strip():
                name, colon, value = line.partition(":")
                if not colon or not name.strip():
                    raise ValueError(f"write each line as Name: value ({line.strip()!r} is not)")
                pairs[name.strip()] = value.strip()
        return pairs
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"must be JSON: {exc}") from None
    return text


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def field_for(name: str, prop: Mapping[str, Any], *, input_name: str, id: str, required: bool,
              label: str | None = None) -> FormField:
    """The control for one JSON Schema property."""
    description = str(prop.get("description") or "")
    attrs: dict[str, Any] = {}
    kind, widget, item_kind = "string", "text", "string"
    choices: tuple[tuple[str, str], ...] = ()
    schema_type = prop.get("type")
    if prop.get("x-secret"):
        kind, widget = "secret", ("secret_area" if "PEM" in description else "password")
    elif "enum" in prop:
        kind, widget = "enum", "select"
        choices = tuple((str(option), str(option)) for option in prop["enum"] if option is not None)
    elif schema_type == "boolean":
        kind, widget = "boolean", "checkbox"
    elif schema_type in ("integer", "number"):
        kind, widget = schema_type, "number"
        attrs = {key: prop[key] for key in ("minimum", "maximum") if key in prop}
        attrs = {"min": attrs.get("minimum"), "max": attrs.get("maximum"),
                 "step": 1 if schema_type == "integer" else "any"}
    elif schema_type == "array":
        kind, item_kind = "list", str((prop.get("items") or {}).get("type") or "string")
        description = (description + " Separate the values with commas.").strip()
    elif schema_type == "object":
        if (prop.get("additionalProperties") or {}).get("type") == "string":
            kind, widget = "lines", "textarea"
            description = (description + " One per line, as Name: value.").strip()
        else:
            kind, widget = "json", "textarea"
            description = (description + " Written as JSON.").strip()
    elif "PEM" in description:
        widget = "textarea"
    else:
        attrs = {"maxlength": prop.get("maxLength")}
    return FormField(name=name, input_name=input_name, id=id, label=label or label_for(name), kind=kind,
                     widget=widget, help=description, required=required, choices=choices, item_kind=item_kind,
                     blank=None if kind != "enum" or required else "Default",
                     attrs={key: value for key, value in attrs.items() if value is not None})


def fields_of(schema: Mapping[str, Any], *, prefix: str, id_prefix: tuple[str, ...],
              required: Iterable[str] = ()) -> list[FormField]:
    """A control per property of ``schema``, in the schema's order."""
    needed = set(schema.get("required") or ()) | set(required)
    return [field_for(name, prop, input_name=f"{prefix}.{name}", id=dom_id(*id_prefix, name), required=name in needed)
            for name, prop in (schema.get("properties") or {}).items()]


def read_fields(fields: Iterable[FormField], form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The values of ``fields`` by API name, and what is wrong with any of them."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for control in fields:
        try:
            values[control.name] = control.read(form)
        except ValueError as exc:
            problems[control.name] = str(exc)
    return values, problems


def messages(problem: Any) -> list[str]:
    """A validation message as the services give it (a string, a list, or nested by key) as lines."""
    if isinstance(problem, str):
        return [problem]
    if isinstance(problem, Mapping):
        return [f"{key}: {line}" for key, value in problem.items() for line in messages(value)]
    if isinstance(problem, Iterable):
        return [line for item in problem for line in messages(item)]
    return [str(problem)]


def secret_placeholder(control: FormField) -> str:
    """What a secret's control holds: the placeholder once a value is saved, else nothing."""
    return SECRET_PLACEHOLDER if control.saved else ""
