"""The connection form: the connection's own fields, then one section per installed provider and
channel with the controls of its settings and secrets (:mod:`hub.web.console.schema_form`). The
page shows the sections of the chosen provider and channel (a little JavaScript hides the others;
without it every section shows and only the chosen ones are read).

:meth:`ConnectionForm.read` turns the posted form into the body the API takes (the same
``ConnectionService.create`` / ``update`` data), and :meth:`ConnectionForm.refused` puts the
service's ``ConfigInvalid.fields`` next to the controls they name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.services.connection_secrets import SECRET_PLACEHOLDER
from hub.services.connections import APPROVAL_MODES, NAME_RULE
from hub.storage.models import Connection
from hub.web.console.schema_form import FormField, dom_id, field_for, fields_of, messages, read_fields

NO_PLUGIN = ""
TOP_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "description": f"{NAME_RULE}."},
    "default_channel": {"type": "string", "maxLength": 200,
                        "description": "Where messages go when an event names no channel (a channel name, e.g. ops)."},
    "approval": {"enum": list(APPROVAL_MODES),
                 "description": "none: deliveries go out at once; manual: each waits for an admin's decision; "
                                "policy: a plugin decides."},
    "allowed_ips": {"type": "array", "items": {"type": "string"},
                    "description": "Inbound: the client addresses or networks (e.g. 203.0.113.0/24) allowed to call "
                                   "the inbound URL; others get 403. Empty: any client with the key."},
}


@dataclass
class PluginSection:
    """The settings and secrets of one provider or channel."""

    kind: str                 # provider | channel
    name: str
    title: str
    description: str
    settings: list[FormField]
    secrets: list[FormField]

    @property
    def id(self) -> str:
        return dom_id(self.kind, self.name)

    @property
    def controls(self) -> list[FormField]:
        return [*self.settings, *self.secrets]


def section_for(kind: str, plugin: Mapping[str, Any]) -> PluginSection:
    """A section from a plugin as the API's ``/plugins`` describes it."""
    name = plugin["name"]
    settings = fields_of(plugin["config_schema"], prefix=f"{kind}.{name}.config", id_prefix=(kind, name))
    secrets = fields_of(plugin["secrets_schema"], prefix=f"{kind}.{name}.secret", id_prefix=(kind, name, "secret"),
                        required=plugin.get("required_secrets") or ())
    return PluginSection(kind, name, plugin.get("title") or name, plugin.get("description") or "", settings, secrets)


@dataclass
class ConnectionForm:
    """The form for a new connection (``connection`` None) or for editing one."""

    providers: list[PluginSection]
    channels: list[PluginSection]
    connection: Connection | None = None
    fields: dict[str, FormField] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)     # (label, message, control id)

    @classmethod
    def build(cls, providers: Iterable[Mapping[str, Any]], channels: Iterable[Mapping[str, Any]],
              connection: Connection | None = None, saved_secrets: Iterable[str] = ()) -> ConnectionForm:
        form = cls([section_for("provider", p) for p in providers], [section_for("channel", c) for c in channels],
                   connection)
        form.fields = {name: field_for(name, prop, input_name=name, id=dom_id(name), required=name == "name")
                       for name, prop in TOP_FIELDS.items()}
        form.fields["provider"] = _plugin_choice("provider", form.providers, "None: outbound only")
        form.fields["channel"] = _plugin_choice("channel", form.channels, "None: inbound only")
        form.fields["approval"].choices = tuple((mode, mode) for mode in APPROVAL_MODES)
        form.fields["approval"].value, form.fields["approval"].blank = "none", None
        if connection is not None:
            form._show(connection, set(saved_secrets))
        return form

    @property
    def creating(self) -> bool:
        return self.connection is None

    def chosen(self, kind: str) -> PluginSection | None:
        wanted = self.fields[kind].value
        return next((s for s in (self.providers if kind == "provider" else self.channels) if s.name == wanted), None)

    def read(self, form: Mapping[str, str]) -> dict[str, Any] | None:
        """The body for the service, or None when the form itself has problems (shown on the form)."""
        self._keep(form)
        values, problems = read_fields(self.fields.values(), form)
        data: dict[str, Any] = {"name": form.get("name", "").strip(),
                                "default_channel": values["default_channel"],
                                "approval": values["approval"] or "none",
                                "allowed_ips": values["allowed_ips"] or []}
        if self.creating:
            data["provider"] = values["provider"]
        data["channel"] = values["channel"]
        secrets: dict[str, Any] = {}
        config_problems: dict[str, dict[str, str]] = {}
        for kind in ("provider", "channel"):
            section = self.chosen(kind)
            if section is None:
                if kind == "channel":
                    data["channel_config"] = None
                continue
            settings, config_problems[f"{kind}_config"] = read_fields(section.settings, form)
            # empty means the default: left out of a new connection, removed from a saved one (merge_config)
            data[f"{kind}_config"] = {k: v for k, v in settings.items() if v is not None or not self.creating}
            typed, secret_problems = read_fields(section.secrets, form)
            for name, value in typed.items():   # a secret both plugins have is one secret: a new value wins
                if value is not None and secrets.get(name) in (None, "", SECRET_PLACEHOLDER):
                    secrets[name] = value
            config_problems.setdefault("secrets", {}).update(secret_problems)
        if self.creating:
            data = {key: value for key, value in data.items() if value is not None}
        data["secrets"] = secrets
        problems_by_field: dict[str, Any] = {name: [problem] for name, problem in problems.items()}
        problems_by_field.update({key: value for key, value in config_problems.items() if value})
        if problems_by_field:
            self.refused(problems_by_field)
            return None
        return data

    def refused(self, fields: Mapping[str, Any]) -> None:
        """Show the service's validation messages next to the controls they name."""
        for key, problem in fields.items():
            if key in ("provider_config", "channel_config", "secrets") and isinstance(problem, Mapping):
                for name, detail in problem.items():
                    controls = self._plugin_controls(key, name)
                    for control in controls:
                        self._mark(control, messages(detail))
                    if not controls:   # a setting without a control of its own: next to the plugin's choice
                        self._mark(self.fields["channel" if key == "channel_config" else "provider"],
                                   [f"{name}: {line}" for line in messages(detail)])
            elif key in self.fields:
                self._mark(self.fields[key], messages(problem))
            else:
                target = "channel" if key == "channel_config" else "provider"
                label = "" if key == "_schema" else f"{key}: "
                self._mark(self.fields[target], [label + line for line in messages(problem)])

    def _plugin_controls(self, key: str, name: str) -> list[FormField]:
        """The controls of the chosen plugins that ``key`` (``secrets`` or ``…_config``) names ``name``."""
        kinds = ("provider", "channel") if key == "secrets" else (key.removesuffix("_config"),)
        sections = [section for kind in kinds if (section := self.chosen(kind)) is not None]
        return [control for section in sections
                for control in (section.secrets if key == "secrets" else section.settings) if control.name == name]

    def _mark(self, control: FormField, lines: list[str]) -> None:
        control.errors.extend(lines)
        self.problems.extend((control.label, line, control.id) for line in lines)

    def _keep(self, form: Mapping[str, str]) -> None:
        for control in self.fields.values():
            if control.name != "provider" or self.creating:
                control.keep(form)
        for section in (*self.providers, *self.channels):
            for control in section.controls:
                control.keep(form)

    def _show(self, conn: Connection, saved: set[str]) -> None:
        for name in TOP_FIELDS:
            self.fields[name].show(getattr(conn, name))
        self.fields["provider"].value = conn.provider or NO_PLUGIN
        self.fields["provider"].help = "The provider of a saved connection cannot change: create a new connection."
        self.fields["channel"].value = conn.channel or NO_PLUGIN
        for kind, stored in (("provider", conn.provider_config), ("channel", conn.channel_config)):
            section = self.chosen(kind)
            if section is not None:
                for control in section.settings:
                    control.show((stored or {}).get(control.name))
        for section in (self.chosen("provider"), self.chosen("channel")):
            for control in section.secrets if section is not None else ():
                control.saved = control.name in saved


def _plugin_choice(kind: str, sections: list[PluginSection], none_label: str) -> FormField:
    help_text = ("Inbound: how senders sign or authenticate their requests." if kind == "provider"
                 else "Outbound: where this connection sends messages.")
    return FormField(name=kind, input_name=kind, id=dom_id(kind), label=kind.capitalize(), kind="enum",
                     widget="select", help=help_text, value=NO_PLUGIN,
                     choices=((NO_PLUGIN, none_label), *((s.name, f"{s.title} ({s.name})") for s in sections)))
