"""Users and permissions of the tracking server's basic-auth app (a script, not a module).

Run by entrypoint.sh before `mlflow server --app-name basic-auth`:

    python provision_auth.py check           # the settings alone: no database, no MLflow import
    python provision_auth.py apply CONFIG    # write CONFIG, migrate the auth tables, provision

Three identities, each a username (default shown) and a password, read from the
environment or from a file named by the same variable with ``_FILE`` appended
(a mounted secret); setting both is refused:

    MLFLOW_ADMIN_USERNAME (admin)        MLFLOW_ADMIN_PASSWORD      administrator
    MLFLOW_DELIVERY_USERNAME (delivery)  MLFLOW_DELIVERY_PASSWORD   writes experiments and models
    MLFLOW_READER_USERNAME (reader)      MLFLOW_READER_PASSWORD     reads them

A password that is missing, empty, shorter than MLflow's minimum of 12
characters or MLflow's historical default (password1234) stops the server
before it starts. The auth tables live in PostgreSQL, never in MLflow's SQLite
default: MLFLOW_AUTH_DATABASE_URI (or _FILE), by default the backend store.

``apply`` is idempotent: existing users get the configured password and role,
missing ones are created, and the wildcard grants below are set again on every
start, so a restart with new passwords rotates them. Nothing is deleted: grants
MLflow gave a creator on what it created stay, and a user dropped from the
settings keeps its account (delete it with the admin API).

No anonymous access: every route except /health, /static and the server-info
route needs a login (401), and a logged-in user without a grant gets 403
(``default_permission = NO_PERMISSIONS``). The server runs with workspaces on
(``--enable-workspaces``; everything lives in the workspace ``default``), because
without them MLflow lets every logged-in user create experiments and models. The
grants are wildcards, so they cover experiments and models created later:

    delivery  workspace USE (may create experiments and models; MLflow makes the
              creator MANAGE of what it creates), experiments EDIT (runs, logs,
              tags), registered models MANAGE (versions, tags, aliases: deleting
              an alias needs MANAGE)
    reader    experiments READ, registered models READ (versions, aliases,
              artifacts); creates and changes nothing
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

PROGRAM = "mlflow-auth"
MINIMUM_PASSWORD_LENGTH = 12  # mlflow.utils.validation._validate_password
MLFLOW_DEFAULT_PASSWORD = "password1234"  # noqa: S105  # pragma: allowlist secret (refused, never used)
POSTGRES_SCHEME = "postgresql+psycopg2://"
DEFAULT_CACHE_TTL_SECONDS = "60"
# (variable prefix, default username, is_admin, {resource type: permission} on "*");
# resource type "workspace" is the grant on the workspace itself (USE: may create).
IDENTITIES: tuple[tuple[str, str, bool, dict[str, str]], ...] = (
    ("MLFLOW_ADMIN", "admin", True, {}),
    (
        "MLFLOW_DELIVERY",
        "delivery",
        False,
        {"workspace": "USE", "experiment": "EDIT", "registered_model": "MANAGE"},
    ),
    ("MLFLOW_READER", "reader", False, {"experiment": "READ", "registered_model": "READ"}),
)


class SettingsError(Exception):
    """A setting that keeps the server from starting; the message is one line."""


@dataclass(frozen=True)
class Identity:
    role: str
    username: str
    password: str
    is_admin: bool
    grants: dict[str, str]


@dataclass(frozen=True)
class Settings:
    identities: tuple[Identity, ...]
    database_uri: str
    cache_ttl_seconds: int

    @property
    def admin(self) -> Identity:
        return self.identities[0]


def value_of(name: str, environ: dict[str, str]) -> str | None:
    """``name`` from the environment, or the content of the file ``name``_FILE names."""
    file_name = environ.get(f"{name}_FILE")
    if name in environ and file_name is not None:
        raise SettingsError(f"{name} and {name}_FILE are both set: set one of them")
    if file_name is None:
        return environ.get(name)
    try:
        text = Path(file_name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise SettingsError(f"{name}_FILE: cannot read {file_name}: {reason}") from None
    # A secret file usually ends with a newline that is not part of the secret.
    return text.rstrip("\r\n")


def password_of(prefix: str, role: str, environ: dict[str, str]) -> str:
    name = f"{prefix}_PASSWORD"
    password = value_of(name, environ)
    hint = "or MLFLOW_AUTH=off for a throwaway server"
    if password is None:
        raise SettingsError(
            f"{name} (or {name}_FILE) is not set: the {role} needs a password ({hint})"
        )
    if password == "":
        raise SettingsError(f"{name} is empty: the {role} needs a password ({hint})")
    if password == MLFLOW_DEFAULT_PASSWORD:
        raise SettingsError(f"{name} is MLflow's well-known default password: choose another")
    if len(password) < MINIMUM_PASSWORD_LENGTH:
        raise SettingsError(
            f"{name} is shorter than {MINIMUM_PASSWORD_LENGTH} characters (MLflow's minimum)"
        )
    return password


def read_settings(environ: dict[str, str]) -> Settings:
    identities = []
    for prefix, default_username, is_admin, grants in IDENTITIES:
        role = f"{prefix.removeprefix('MLFLOW_').lower()} identity"
        username = value_of(f"{prefix}_USERNAME", environ)
        username = default_username if username is None else username.strip()
        if not username:
            raise SettingsError(f"{prefix}_USERNAME is empty: the {role} needs a username")
        password = password_of(prefix, role, environ)
        identities.append(Identity(role, username, password, is_admin, grants))
    usernames = [identity.username for identity in identities]
    if len(set(usernames)) != len(usernames):
        raise SettingsError(
            f"the admin, delivery and reader usernames must differ, got {', '.join(usernames)}"
        )
    database_uri = value_of("MLFLOW_AUTH_DATABASE_URI", environ)
    if database_uri is None:
        database_uri = environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not database_uri.startswith(POSTGRES_SCHEME) or "\n" in database_uri:
        scheme = database_uri.split(":", 1)[0] or "nothing"
        raise SettingsError(
            "the auth database (MLFLOW_AUTH_DATABASE_URI, by default MLFLOW_BACKEND_STORE_URI) "
            f"must be PostgreSQL, {POSTGRES_SCHEME}USER:PASSWORD@HOST/DB, got {scheme}"
        )
    ttl = environ.get("MLFLOW_AUTH_CACHE_TTL_SECONDS", DEFAULT_CACHE_TTL_SECONDS)
    if not ttl.isdigit():
        raise SettingsError(f"MLFLOW_AUTH_CACHE_TTL_SECONDS must be a whole number, got {ttl!r}")
    return Settings(tuple(identities), database_uri, int(ttl))


def write_config(path: Path, settings: Settings) -> None:
    """MLflow's auth configuration, readable by this user only.

    No user's password goes in (the users exist before the server starts), but
    the database URI holds the database's. MLflow reads the file with
    configparser's interpolation, so a percent sign is doubled.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = [
        "[mlflow]",
        "default_permission = NO_PERMISSIONS",
        f"database_uri = {settings.database_uri.replace('%', '%%')}",
        f"admin_username = {settings.admin.username.replace('%', '%%')}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access = false",
        # Skips the scrypt check (about 0.1 s of CPU) on repeated requests of one login.
        # Passwords change by restarting the server, which empties the cache.
        f"auth_cache_ttl_seconds = {settings.cache_ttl_seconds}",
    ]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(descriptor, "w", encoding="utf-8") as config:
        config.write("\n".join(lines) + "\n")
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def provision(settings: Settings, config: Path) -> None:
    write_config(config, settings)
    # mlflow.server.auth reads its configuration when imported: write it first.
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore  # noqa: PLC0415
    from mlflow.utils.workspace_context import WorkspaceContext  # noqa: PLC0415
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME  # noqa: PLC0415

    store = SqlAlchemyStore()
    store.init_db(settings.database_uri)  # type: ignore[no-untyped-call]  # migrates the tables
    for identity in settings.identities:
        if not store.has_user(identity.username, use_primary=True):
            store.create_user(identity.username, identity.password, is_admin=identity.is_admin)
            action = "created"
        else:
            current = store.get_user(identity.username)
            same_password = store.authenticate_user(
                identity.username, identity.password, use_primary=True
            )
            if same_password and current.is_admin == identity.is_admin:
                action = "unchanged"
            else:
                store.update_user(
                    identity.username,
                    password=None if same_password else identity.password,
                    is_admin=identity.is_admin,
                )
                action = "updated"
        for resource_type, permission in identity.grants.items():
            if resource_type == "workspace":
                store.set_workspace_permission(
                    DEFAULT_WORKSPACE_NAME, identity.username, permission
                )
            else:
                with WorkspaceContext(DEFAULT_WORKSPACE_NAME):
                    store.grant_user_permission(identity.username, resource_type, "*", permission)
        grants = ", ".join(f"{kind} {level}" for kind, level in identity.grants.items())
        print(
            f"{PROGRAM}: {identity.role} {identity.username!r} {action}"
            f" ({'administrator' if identity.is_admin else grants})",
            file=sys.stderr,
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check the settings, touch nothing")
    apply = commands.add_parser("apply", help="write CONFIG and provision the users")
    apply.add_argument("config", type=Path, help="where to write MLflow's auth configuration")
    arguments = parser.parse_args(argv)
    try:
        settings = read_settings(dict(os.environ))
    except SettingsError as error:
        print(f"{PROGRAM}: refusing to start: {error}", file=sys.stderr)
        return 2
    if arguments.command == "apply":
        try:
            provision(settings, arguments.config)
        except Exception as error:  # one line for the log, whatever the driver raised
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            print(
                f"{PROGRAM}: cannot provision the users: {type(error).__name__}: {first_line}",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
