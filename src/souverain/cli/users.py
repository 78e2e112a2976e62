"""``souverain users|groups|keys``: accounts, groups (nested) and API keys, for administrators.

Passwords are read from a hidden prompt (typed twice) or, for scripts, from the first line of stdin
with ``--password-stdin``; never from an argument, where they would land in shell history and
``ps``. An API key is printed once, alone on stdout, and cannot be shown again.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from ..governance.identity import IdentityError, IdentityService, User
from .common import State, fail, print_json

users_app = typer.Typer(no_args_is_help=True, help="User accounts: create, list, disable, roles.")
groups_app = typer.Typer(no_args_is_help=True, help="Groups of users and of other groups.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for programmatic access.")

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]
JsonOut = Annotated[bool, typer.Option("--json")]


def _identity(ctx: typer.Context) -> IdentityService:
    state: State = ctx.obj
    svc = state.app()
    return IdentityService.from_settings(svc.settings, svc.store)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _user_json(u: User) -> dict[str, object]:
    return {"id": u.id, "principal": u.principal, "username": u.username, "display_name": u.display_name,
            "email": u.email, "role": u.role, "disabled": u.disabled, "local_password": u.has_password,
            "created_at": u.created_at.isoformat()}


@users_app.command("create-admin")
def create_admin(ctx: typer.Context, username: str, password_stdin: PasswordStdin = False,
                 display_name: Annotated[str, typer.Option()] = "", email: Annotated[str, typer.Option()] = "") -> None:
    """Create the first administrator (refused once one exists)."""
    ident = _identity(ctx)
    if any(u.role == "admin" for u in ident.list_users()):
        fail("an administrator exists already; add more with `users add --role admin`")
    try:
        user = ident.create_first_admin(username, _password(password_stdin), display_name=display_name, email=email)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"created administrator {user.username} ({user.principal})")


@users_app.command("add")
def add_user(ctx: typer.Context, username: str,
             role: Annotated[str, typer.Option(help="admin | member | auditor")] = "member",
             password_stdin: PasswordStdin = False,
             no_password: Annotated[bool, typer.Option("--no-password", help="No local password (OIDC sign-in only).")] = False,
             display_name: Annotated[str, typer.Option()] = "", email: Annotated[str, typer.Option()] = "") -> None:
    """Add a user, with a local password unless --no-password."""
    ident = _identity(ctx)
    try:
        password = None if no_password else _password(password_stdin)
        user = ident.create_user(username, role=role, password=password, display_name=display_name, email=email)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"created {user.role} {user.username} ({user.principal})")


@users_app.command("list")
def list_users(ctx: typer.Context, json_out: JsonOut = False) -> None:
    """Every user with role and status."""
    users = _identity(ctx).list_users()
    if json_out:
        print_json([_user_json(u) for u in users])
        return
    console = Console()
    for u in users:
        status = " [red]disabled[/]" if u.disabled else ""
        console.print(f"{u.principal:10} {u.username:24} {u.role:8}{status}  {u.display_name} {u.email}", highlight=False)


def _user_change(ctx: typer.Context, username: str, what: str) -> User:
    ident = _identity(ctx)
    try:
        user = ident.user_by_name(username)
        if what == "disable":
            return ident.disable_user(user.id)
        if what == "enable":
            return ident.enable_user(user.id)
        return ident.set_role(user.id, what)
    except ValueError as exc:
        fail(str(exc))
        raise


@users_app.command("disable")
def disable(ctx: typer.Context, username: str) -> None:
    """Disable a user: no sign-in, no API key use; every session ends now."""
    user = _user_change(ctx, username, "disable")
    typer.echo(f"disabled {user.username}; its sessions have ended")


@users_app.command("enable")
def enable(ctx: typer.Context, username: str) -> None:
    user = _user_change(ctx, username, "enable")
    typer.echo(f"enabled {user.username}")


@users_app.command("set-role")
def set_role(ctx: typer.Context, username: str, role: Annotated[str, typer.Argument(help="admin | member | auditor")]) -> None:
    user = _user_change(ctx, username, role)
    typer.echo(f"{user.username} is now {user.role}")


@users_app.command("link")
def link(ctx: typer.Context, username: str,
         namespace: Annotated[str, typer.Argument(help="The connector namespace: m365, gdrive, nextcloud, s3, local...")],
         external_id: Annotated[str, typer.Argument(help="How the source names the user (object id, e-mail).")]) -> None:
    """Give a user a source's identity (ext:<namespace>:<id>), so the source's permissions reach it."""
    ident = _identity(ctx)
    try:
        principal = ident.add_external_principal(ident.user_by_name(username).id, namespace, external_id)
    except ValueError as exc:
        fail(str(exc))
        raise
    typer.echo(f"{username} now holds {principal}")


@users_app.command("unlink")
def unlink(ctx: typer.Context, username: str, principal: Annotated[str, typer.Argument(help="e.g. ext:m365:<id>")]) -> None:
    """Take a source identity away from a user."""
    ident = _identity(ctx)
    try:
        removed = ident.remove_external_principal(ident.user_by_name(username).id, principal)
    except ValueError as exc:
        fail(str(exc))
        raise
    if not removed:
        fail(f"{username} does not hold {principal}")
    typer.echo(f"{username} no longer holds {principal}")


@users_app.command("set-password")
def set_password(ctx: typer.Context, username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's local password; its sessions end."""
    ident = _identity(ctx)
    try:
        ident.set_password(ident.user_by_name(username).id, _password(password_stdin))
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"password of {username} changed; its sessions have ended")


# groups ------------------------------------------------------------------------------------------

@groups_app.command("add")
def add_group(ctx: typer.Context, name: str, description: Annotated[str, typer.Option()] = "") -> None:
    """Create a group."""
    try:
        group = _identity(ctx).create_group(name, description)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"created group {group.name} ({group.principal})")


@groups_app.command("list")
def list_groups(ctx: typer.Context, json_out: JsonOut = False) -> None:
    """Every group with its direct members."""
    ident = _identity(ctx)
    rows: list[dict[str, Any]] = []
    for g in ident.list_groups():
        users, groups = ident.group_members(g.id)
        rows.append({"id": g.id, "principal": g.principal, "name": g.name, "description": g.description,
                     "users": [u.username for u in users], "groups": [c.name for c in groups]})
    if json_out:
        print_json(rows)
        return
    for r in rows:
        members = [*r["users"], *(f"group:{n}" for n in r["groups"])]
        typer.echo(f"{r['principal']:10} {r['name']:24} {', '.join(members) or '(no members)'}")


def _membership(ctx: typer.Context, group: str, member: str, add: bool) -> str:
    """MEMBER is ``user:NAME``, ``group:NAME`` or a bare user name."""
    ident = _identity(ctx)
    kind, _, name = member.partition(":") if ":" in member else ("user", "", member)
    try:
        g = ident.group_by_name(group)
        if kind == "group":
            child = ident.group_by_name(name)
            changed = ident.add_group_to_group(g.id, child.id) if add else ident.remove_group_from_group(g.id, child.id)
        elif kind == "user":
            u = ident.user_by_name(name)
            changed = ident.add_user_to_group(g.id, u.id) if add else ident.remove_user_from_group(g.id, u.id)
        else:
            raise IdentityError(f"member {member!r}: expected user:NAME, group:NAME or a user name")
    except ValueError as exc:
        fail(str(exc))
        raise
    verb = ("added to" if add else "removed from") if changed else ("already in" if add else "was not in")
    return f"{member} {verb} {g.name}"


@groups_app.command("add-member")
def add_member(ctx: typer.Context, group: str,
               member: Annotated[str, typer.Argument(help="user:NAME, group:NAME, or a user name")]) -> None:
    """Add a user or a group (nesting; cycles are refused) to a group. Effective on the next query."""
    typer.echo(_membership(ctx, group, member, add=True))


@groups_app.command("remove-member")
def remove_member(ctx: typer.Context, group: str,
                  member: Annotated[str, typer.Argument(help="user:NAME, group:NAME, or a user name")]) -> None:
    """Remove a user or a nested group from a group. Effective on the next query."""
    typer.echo(_membership(ctx, group, member, add=False))


# API keys ----------------------------------------------------------------------------------------

@keys_app.command("create")
def create_key(ctx: typer.Context, username: str,
               scope: Annotated[list[str], typer.Option("--scope", help="read | ask | ingest | admin | models (repeatable)")],
               expires_days: Annotated[int, typer.Option("--expires-days", min=1, max=730)] = 90,
               name: Annotated[str, typer.Option(help="What the key is for.")] = "",
               json_out: JsonOut = False) -> None:
    """Create an API key; it is printed once and cannot be shown again."""
    ident = _identity(ctx)
    try:
        new = ident.create_api_key(ident.user_by_name(username).id, scope, expires_days, name)
    except (ValueError, PermissionError) as exc:
        fail(str(exc))
        return
    r = new.record
    if json_out:
        print_json({"key": new.key, "public_id": r.public_id, "user": r.username, "scopes": sorted(r.scopes),
                    "expires_at": r.expires_at.isoformat()})
        return
    typer.echo(new.key)
    typer.echo(f"key {r.public_id} for {r.username}, scopes {','.join(sorted(r.scopes))}, expires "
               f"{r.expires_at:%Y-%m-%d}. Store it now: it cannot be shown again.", err=True)


@keys_app.command("list")
def list_keys(ctx: typer.Context, username: Annotated[str | None, typer.Argument()] = None, json_out: JsonOut = False) -> None:
    """API keys (public id, owner, scopes, expiry, last use, revocation); never the keys themselves."""
    ident = _identity(ctx)
    try:
        user_id = ident.user_by_name(username).id if username else None
    except ValueError as exc:
        fail(str(exc))
        return
    rows: list[dict[str, Any]] = [{"public_id": k.public_id, "user": k.username, "name": k.name, "scopes": sorted(k.scopes),
             "created_at": k.created_at.isoformat(), "expires_at": k.expires_at.isoformat(),
             "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
             "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None} for k in ident.api_keys.list(user_id)]
    if json_out:
        print_json(rows)
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else f"expires {str(r['expires_at'])[:10]}"
        typer.echo(f"{r['public_id']}  {r['user']:20} {','.join(r['scopes']):24} {state}  "
                   f"last used {str(r['last_used_at'])[:19] if r['last_used_at'] else 'never'}  {r['name']}")


@keys_app.command("revoke")
def revoke_key(ctx: typer.Context, key: Annotated[str, typer.Argument(help="The key's public id (or the whole key).")]) -> None:
    """Revoke an API key at once."""
    if not _identity(ctx).revoke_api_key(key):
        fail("no such active key")
    typer.echo("revoked")


@keys_app.command("limits")
def key_limits(ctx: typer.Context, public_id: Annotated[str, typer.Argument(help="The key's public id.")],
               rpm: Annotated[int | None, typer.Option("--rpm", min=0, help="Requests per minute (0: no limit).")] = None,
               tpm: Annotated[int | None, typer.Option("--tpm", min=0, help="Tokens per minute (0: no limit).")] = None,
               tokens_month: Annotated[int | None, typer.Option("--tokens-month", min=0,
                                                                help="Tokens per calendar month, UTC (0: no limit).")] = None,
               models: Annotated[str | None, typer.Option("--models", help="Comma-separated model names the key may use "
                                                          "('*': every model, '': none).")] = None,
               team: Annotated[str | None, typer.Option("--team", help="Group the usage is attributed to ('': none).")] = None,
               clear: Annotated[bool, typer.Option("--clear", help="Remove every limit of the key.")] = False,
               json_out: JsonOut = False) -> None:
    """Show or change a key's model gateway limits; only the options given change (docs/metering.md)."""
    from ..gateway.accounting import Limits, clean_limits

    state: State = ctx.obj
    svc = state.app()
    acc = svc.gateway_accounting
    found = acc.key_by_public_id(public_id.strip())
    if found is None:
        fail(f"no key with public id {public_id!r}")
        return
    key_id = found[0]
    current = Limits() if clear else (acc.key_limits(key_id) or Limits())
    changes: dict[str, Any] = {}
    for name, value in (("rpm", rpm), ("tpm", tpm), ("tokens_per_month", tokens_month)):
        if value is not None:
            changes[name] = value or None
    if models is not None:
        names = [m.strip() for m in models.split(",") if m.strip()]
        changes["models"] = None if names == ["*"] else names
    if team is not None:
        if team.strip():
            group = _identity(ctx).find_group(team)
            if group is None:
                fail(f"no group named {team!r}")
                return
            changes["team_id"] = group.id
        else:
            changes["team_id"] = None
    if changes or clear:
        merged = {**current.as_json(), **changes}
        try:
            acc.set_key_limits(key_id, clean_limits(**merged))
        except (ValueError, LookupError) as exc:
            fail(str(exc))
            return
    limits = acc.key_limits(key_id)
    out = {"public_id": public_id, **(limits or Limits()).as_json(), "usage": acc.current_usage("key", key_id)}
    if json_out:
        print_json(out)
        return
    if limits is None:
        typer.echo(f"key {public_id}: no limits")
    else:
        models_text = "all" if limits.models is None else (",".join(limits.models) or "none")
        typer.echo(f"key {public_id}: rpm {limits.rpm or '-'}, tpm {limits.tpm or '-'}, tokens/month "
                   f"{limits.tokens_per_month or '-'}, models {models_text}, team {limits.team_id or '-'}")
    u = out["usage"]
    typer.echo(f"now: {u['requests_last_minute']} requests and {u['tokens_last_minute']} tokens in the last minute, "
               f"{u['tokens_this_month']} tokens this month")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(groups_app, name="groups")
    app.add_typer(keys_app, name="keys")
