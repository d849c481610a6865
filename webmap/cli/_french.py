"""French for click's own words (usage lines, help option, parameter errors).

click translates its messages through :func:`gettext.gettext`, which looks catalogues up by
locale in ``.mo`` files; the ``qpv`` CLI speaks French whatever the machine's locale, so
:func:`french_messages` points the translation functions of click's modules at the
catalogue below while a ``qpv`` command runs, and gives the originals back afterwards
(other click programs in the same process are untouched). Messages missing from the
catalogue stay in English rather than failing.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["MESSAGES", "METAVARS", "PLURALS", "french_messages", "french_metavars"]

#: click message → French.
MESSAGES: dict[str, str] = {
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "(dynamic)": "(dynamique)",
    "Aborted!": "Abandon.",
    "Argument {name!r} takes {nargs} values.": "L'argument {name!r} prend {nargs} valeurs.",
    "Choose from:\n\t{choices}": "Choisir parmi :\n\t{choices}",
    "Commands": "Commandes",
    "Confirm the action without prompting.": "Confirme l'action sans la demander.",
    "Could not open file {filename!r}: {message}": "Impossible d'ouvrir le fichier {filename!r} : {message}",
    "Do you want to continue?": "Continuer ?",
    "Error: {message}": "Erreur : {message}",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Missing argument": "Argument manquant",
    "Missing command.": "Commande manquante.",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "Missing {param_type}": "{param_type} manquant(e)",
    "No such command {name!r}.": "Commande inconnue : {name}.",
    "No such option {name!r}.": "Option inconnue : {name}.",
    "Option {name!r} does not take a value.": "L'option {name!r} ne prend pas de valeur.",
    "Options": "Options",
    "Positional arguments": "Arguments",
    "Show the version and exit.": "Affiche la version et quitte.",
    "Show this message and exit.": "Affiche cette aide et quitte.",
    "Try '{command} {option}' for help.": "Essayer « {command} {option} » pour l'aide.",
    "Usage:": "Usage :",
    "Value must be an iterable.": "La valeur doit être une liste.",
    "default: {default}": "par défaut : {default}",
    "deprecated": "obsolète",
    "directory": "dossier",
    "env var: {var}": "variable d'environnement : {var}",
    "file": "fichier",
    "path": "chemin",
    "unknown error": "erreur inconnue",
    "{name} {filename!r} does not exist.": "{name} {filename!r} introuvable.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} est un dossier.",
    "{name} {filename!r} is a file.": "{name} {filename!r} est un fichier.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} n'est pas exécutable.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} n'est pas lisible.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} n'est pas modifiable.",
    "{value!r} is not a valid UUID.": "{value!r} n'est pas un UUID valide.",
    "{value!r} is not a valid {number_type}.": "{value!r} n'est pas un {number_type} valide.",
    "{value} is not in the range {range}.": "{value} n'est pas dans l'intervalle {range}.",
    "integer": "entier",
    "float": "nombre",
    "required": "obligatoire",
}

#: click parameter type name → French metavar shown in the help.
METAVARS: dict[str, str] = {
    "text": "TEXTE",
    "integer": "ENTIER",
    "integer range": "ENTIER",
    "float": "NOMBRE",
    "float range": "NOMBRE",
    "directory": "DOSSIER",
    "file": "FICHIER",
    "filename": "FICHIER",
    "path": "CHEMIN",
    "boolean": "OUI/NON",
    "datetime": "DATE",
}

#: click (singular, plural) → French (singular, plural).
PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        ("Argument en trop : ({args})", "Arguments en trop : ({args})"),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."):
        ("Prend {nargs} valeurs mais 1 a été donnée.", "Prend {nargs} valeurs mais {len} ont été données."),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        ("Vouliez-vous dire {possibility} ?", "(Vouliez-vous dire l'une de : {possibilities} ?)"),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        ("{value!r} n'est pas {choice}.", "{value!r} n'est pas l'une des valeurs {choices}."),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."):
        ("{value!r} ne suit pas le format {format}.", "{value!r} ne suit aucun des formats {formats}."),
    ("{len_type} values are required, but {len_value} was given.",
     "{len_type} values are required, but {len_value} were given."):
        ("{len_type} valeurs sont demandées, {len_value} a été donnée.",
         "{len_type} valeurs sont demandées, {len_value} ont été données."),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        ("L'option {name!r} demande une valeur.", "L'option {name!r} demande {nargs} valeurs."),
}

_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types", "utils")


def gettext(message: str) -> str:
    """French for one of click's messages (the message itself when it has none)."""
    return MESSAGES.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """French for one of click's plural messages."""
    french = PLURALS.get((singular, plural))
    if french is None:
        return singular if n == 1 else plural
    return french[0] if n == 1 else french[1]


_LOCK = threading.RLock()


@contextmanager
def french_messages() -> Iterator[None]:
    """Within the block, click's own messages come out in French."""
    with _LOCK:
        saved: list[tuple[Any, str, Any]] = []
        for name in _MODULES:
            module = importlib.import_module(f"click.{name}")
            for attr, french in (("_", gettext), ("ngettext", ngettext)):
                if hasattr(module, attr):
                    saved.append((module, attr, getattr(module, attr)))
                    setattr(module, attr, french)
        try:
            yield
        finally:
            for module, attr, original in saved:
                setattr(module, attr, original)


def french_metavars(command: Any) -> None:
    """Name the values of every option of ``command`` (and its sub-commands) in French.

    Options that set their own ``metavar`` keep it; flags and choices show no type name.
    """
    for param in getattr(command, "params", []):
        if getattr(param, "metavar", None) is None and getattr(param, "param_type_name", "") == "option":
            french = METAVARS.get(str(getattr(param.type, "name", "")))
            if french is not None and not getattr(param, "is_flag", False):
                param.metavar = french
    for sub in getattr(command, "commands", {}).values():
        french_metavars(sub)
