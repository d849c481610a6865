"""``qpv utilisateurs …`` and ``qpv servir``: accounts of the web map and a local server."""

from __future__ import annotations

import logging
import sys

import click

from layers.errors import NotFoundError
from webmap import users

logger = logging.getLogger(__name__)


def _users_db(instance: str | None) -> str:
    """The users file of the app configuration (instance folder, ``QPV_USERS_DB``)."""
    from webmap.app import create_app

    app = create_app({"PHOTOS_RECOVERY": False, **({"instance_path": instance} if instance else {})})
    return str(app.config["USERS_DB"])


@click.group("utilisateurs")
@click.option("--instance", default=None, envvar="QPV_INSTANCE_PATH",
              help="Dossier d'instance de l'application (par défaut instance/).")
@click.pass_context
def users_group(ctx: click.Context, instance: str | None) -> None:
    """Comptes de la carte : ajout, liste, rôles, désactivation, mots de passe, clés d'API."""
    ctx.ensure_object(dict)
    ctx.obj["users_db"] = _users_db(instance)


@users_group.command("ajouter")
@click.argument("login")
@click.option("--role", type=click.Choice(users.ROLES), required=True, help="Rôle du compte.")
@click.option("--organisation", required=True,
              help=f"Organisation partenaire ({', '.join(users.ORGANISATIONS)}).")
@click.option("--mot-de-passe-stdin", "password_stdin", is_flag=True,
              help="Lit le mot de passe sur l'entrée standard.")
@click.pass_context
def users_add(ctx: click.Context, login: str, role: str, organisation: str, password_stdin: bool) -> None:
    """Crée le compte LOGIN et affiche sa clé d'API Open311 (une seule fois)."""
    password = _read_password(password_stdin, "Mot de passe")
    user, api_key = users.add_user(ctx.obj["users_db"], login, password, role=role,
                                   organisation=organisation)
    click.echo(f"Compte « {user.login} » créé ({user.role}, {user.organisation}).")
    click.echo(f"Clé d'API (à conserver, elle ne sera plus affichée) : {api_key}")


@users_group.command("liste")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Liste les comptes (actifs et désactivés)."""
    rows = users.list_accounts(ctx.obj["users_db"])
    if not rows:
        click.echo("Aucun compte.")
    for a in rows:
        state = "" if a.active else "  (désactivé)"
        click.echo(f"{a.user.login:<24} {a.user.role:<16} {a.user.organisation}{state}")


@users_group.command("role")
@click.argument("login")
@click.argument("role", type=click.Choice(users.ROLES))
@click.pass_context
def users_set_role(ctx: click.Context, login: str, role: str) -> None:
    """Change le rôle du compte LOGIN."""
    user = users.set_role(ctx.obj["users_db"], login, role)
    click.echo(f"Compte « {user.login} » : rôle {user.role}.")


def _read_password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


@users_group.command("desactiver")
@click.argument("login")
@click.pass_context
def users_deactivate(ctx: click.Context, login: str) -> None:
    """Désactive le compte LOGIN : connexion, sessions ouvertes et clé d'API refusées.

    Rien n'est effacé : le compte garde son nom dans les historiques et peut être réactivé.
    """
    users.set_active(ctx.obj["users_db"], login, False)
    click.echo(f"Compte « {login} » désactivé : ses sessions et sa clé d'API sont refusées.")


@users_group.command("reactiver")
@click.argument("login")
@click.pass_context
def users_reactivate(ctx: click.Context, login: str) -> None:
    """Réactive le compte LOGIN (même mot de passe, même clé d'API)."""
    users.set_active(ctx.obj["users_db"], login, True)
    click.echo(f"Compte « {login} » réactivé.")


@users_group.command("mot-de-passe")
@click.argument("login")
@click.option("--mot-de-passe-stdin", "password_stdin", is_flag=True,
              help="Lit le nouveau mot de passe sur l'entrée standard.")
@click.pass_context
def users_reset_password(ctx: click.Context, login: str, password_stdin: bool) -> None:
    """Donne un nouveau mot de passe au compte LOGIN et ferme toutes ses sessions.

    12 caractères au moins, ni courant ni dérivé de l'identifiant.
    """
    if users.get_account(ctx.obj["users_db"], login) is None:
        raise NotFoundError(f"Aucun compte « {login} ».")
    password = _read_password(password_stdin, "Nouveau mot de passe")
    users.reset_password(ctx.obj["users_db"], login, password)
    click.echo(f"Nouveau mot de passe enregistré pour « {login} » ; ses sessions sont fermées.")


@users_group.command("cle-api")
@click.argument("login")
@click.pass_context
def users_rotate_key(ctx: click.Context, login: str) -> None:
    """Donne une nouvelle clé d'API Open311 au compte LOGIN (l'ancienne est refusée)."""
    key = users.rotate_api_key(ctx.obj["users_db"], login)
    click.echo(f"Nouvelle clé d'API de « {login} » (à conserver, elle ne sera plus affichée) : {key}")


@click.command("servir")
@click.option("--hote", "host", default=None, help="Adresse d'écoute (par défaut QPV_HOST ou 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Port (par défaut QPV_PORT ou 5000).")
@click.option("--debogage", "debug", is_flag=True, help="Mode débogage (jamais en production).")
@click.option("--sans-travailleur", "no_worker", is_flag=True,
              help="Sans travailleur intégré (les travaux attendent un « qpv travailleur »).")
@click.option("--travailleurs", "workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Nombre de travaux exécutés en parallèle par le travailleur intégré.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, debug: bool, no_worker: bool,
          workers: int) -> None:
    """Lance la carte et les API (serveur de développement werkzeug) et un travailleur intégré.

    La commande reste active tant que le serveur tourne : ouvrez l'adresse affichée dans un
    navigateur, arrêtez avec Ctrl+C. Les travaux en arrière-plan (rapports, analyses) sont
    exécutés dans ce processus, sauf avec --sans-travailleur.
    """
    from webmap.app import create_app
    from webmap.serving import QuietRequestHandler, trust_served_host

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    app = create_app(_app_config(ctx))
    settings = ctx.obj["settings"]
    host = host or settings.host
    port = port or settings.port
    click.echo(f"Carte : http://{host}:{port}/  ·  OGC API : http://{host}:{port}/ogc  "
               "(Ctrl+C pour arrêter)")
    if not trust_served_host(app, host):
        click.echo("Noms d'hôte acceptés : " + ", ".join(app.config["TRUSTED_HOSTS"])
                   + ". Pour un autre nom ou adresse de la machine, définissez QPV_PUBLIC_URL "
                   "ou QPV_TRUSTED_HOSTS.")
    running = None
    if not no_worker:
        from webmap.jobs.views import job_queue

        running = job_queue(app).start_workers(workers)
        click.echo(f"Travailleur intégré : {workers} travail(aux) à la fois ({app.config['JOBS_URL']}).")
    try:
        app.run(host=host, port=port, debug=debug, threaded=True, use_reloader=False,
                request_handler=QuietRequestHandler)
    finally:
        if running is not None:
            running.stop(timeout=5)


def _app_config(ctx: click.Context) -> dict[str, str]:
    """App settings given on the command line: an explicit --entrepot / QPV_STORE wins."""
    config = {}
    parent = ctx.parent
    if parent is not None and parent.get_parameter_source("store_url") in (
            click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
        config["STORE"] = ctx.obj["store_url"]
    return config


@click.command("travailleur")
@click.option("--instance", default=None, envvar="QPV_INSTANCE_PATH",
              help="Dossier d'instance de l'application (file de travaux instance/jobs.sqlite).")
@click.option("--travailleurs", "workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Nombre de travaux exécutés en parallèle.")
@click.pass_context
def worker(ctx: click.Context, instance: str | None, workers: int) -> None:
    """Exécute les travaux en arrière-plan (rapports, analyses) de la file QPV_JOBS_URL.

    Pour un serveur lancé avec « qpv servir --sans-travailleur », ou sur d'autres machines
    avec une file Redis. Arrêtez avec Ctrl+C (le travail en cours se termine d'abord).
    """
    import signal

    from webmap.app import create_app
    from webmap.jobs.views import job_queue

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    config: dict[str, str] = {"PHOTOS_RECOVERY": False, **_app_config(ctx)}  # type: ignore[dict-item]
    if instance:
        config["instance_path"] = instance
    app = create_app(config)
    queue = job_queue(app)
    interrupted = queue.recover_interrupted()
    if interrupted:
        click.echo(f"{len(interrupted)} travail(aux) interrompu(s) par un arrêt marqué(s) « échec ».")
    running = queue.start_workers(workers)
    click.echo(f"Travailleur prêt : {workers} travail(aux) à la fois, file {app.config['JOBS_URL']} "
               f"({queue.pending()} en attente). Ctrl+C pour arrêter.")
    signal.signal(signal.SIGTERM, lambda *_: running.stop(timeout=0))
    try:
        running.wait()
    except KeyboardInterrupt:
        click.echo("Arrêt demandé : fin du travail en cours…")
    finally:
        running.stop()


def register(group: click.Group) -> None:
    """Add ``users`` and ``serve`` to the ``qpv`` command group."""
    group.add_command(users_group)
    group.add_command(serve)
    group.add_command(worker)
