"""Where `make run` finds PostgreSQL, in this order:

1. DATABASE_URL, when set (environment or .env);
2. a server on 127.0.0.1:5432;
3. where PostgreSQL's server programs are installed (initdb, pg_ctl), a cluster of the
   project's own under var/postgres, on 127.0.0.1:54329, created and started here without
   root (`make stop` stops it, `make clean` removes it);
4. otherwise one message saying what to install or run.

`python -m config.devdb url` prints the DATABASE_URL to use (starting the local cluster if
that is the one); `python -m config.devdb stop` stops the local cluster if it runs;
`write-env URL` writes a development .env once (so that manage.py works in any shell in
this checkout), `forget-env` removes it again if it is still the one `make run` wrote.
No Django here: it runs before the database exists.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/catalog"
LOCAL_PORT = 54329


class NoPostgres(Exception):
    pass


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _dotenv_url(base_dir: Path) -> str | None:
    env_file = base_dir / ".env"
    if not env_file.exists():
        return None
    for line in env_file.read_text().splitlines():
        key, _, value = line.strip().partition("=")
        if key == "DATABASE_URL" and value:
            return value.strip().strip("'\"")
    return None


def server_programs() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(shutil.which("pg_ctl")).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    return None


def local_cluster_url(var_dir: Path, port: int = LOCAL_PORT) -> str:
    """Create (once) and start (if stopped) the project's own cluster; its URL."""
    programs = server_programs()
    if programs is None:
        raise NoPostgres(
            "No PostgreSQL found: nothing on 127.0.0.1:5432, DATABASE_URL unset, and no "
            "PostgreSQL server programs installed. Install PostgreSQL (Debian/Ubuntu: sudo "
            "apt-get install postgresql), or run `docker compose up -d db`, or set "
            "DATABASE_URL."
        )
    data = var_dir / "postgres"
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        _run([programs / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    if not _reachable("127.0.0.1", port):
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {var_dir}"
        _run(
            [
                programs / "pg_ctl",
                "-D",
                data,
                "-l",
                var_dir / "postgres.log",
                "-o",
                options,
                "-w",
                "start",
            ]
        )
    return local_url(port)


def local_url(port: int = LOCAL_PORT) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/catalog"


def stop_local_cluster(var_dir: Path) -> bool:
    data = var_dir / "postgres"
    programs = server_programs()
    if programs is None or not (data / "postmaster.pid").exists():
        return False
    _run([programs / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
    return True


def _run(command: list) -> None:
    result = subprocess.run(  # noqa: S603 - PostgreSQL's own programs, fixed arguments
        [str(part) for part in command], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise NoPostgres(
            f"{Path(str(command[0])).name} failed: {detail[-1] if detail else result.returncode}"
        )


def database_url(base_dir: Path = BASE_DIR) -> str:
    explicit = os.environ.get("DATABASE_URL") or _dotenv_url(base_dir)
    if explicit == local_url():
        # The project's own cluster, named by the .env make run wrote: started if stopped.
        return local_cluster_url(base_dir / "var")
    if explicit:
        return explicit
    if _reachable("127.0.0.1", 5432):
        return DEFAULT_URL
    return local_cluster_url(base_dir / "var")


DEV_ENV_HEADER = "# Written by `make run` for local development"
DEV_ENV = f"""{DEV_ENV_HEADER} (once: edit it freely; `make clean`
# removes it while this line is first). It lets manage.py run in any shell in this checkout
# without extra variables; variables set in the environment win over it. Not for production:
# it turns DJANGO_DEBUG on.
DJANGO_DEBUG=1
DATABASE_URL={{database_url}}
"""


def write_dev_env(path: Path, database_url: str) -> bool:
    """Write the development .env unless there is one already (never overwritten)."""
    try:
        with open(path, "x") as handle:
            handle.write(DEV_ENV.format(database_url=database_url))
    except FileExistsError:
        return False
    return True


def forget_dev_env(path: Path) -> bool:
    """Remove the .env that write_dev_env wrote; one that says otherwise is the user's."""
    try:
        if not path.read_text().startswith(DEV_ENV_HEADER):
            return False
    except FileNotFoundError:
        return False
    path.unlink()
    return True


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "url"
    try:
        if command == "url":
            print(database_url())
        elif command == "stop":
            stopped = stop_local_cluster(BASE_DIR / "var")
            print("Stopped the local PostgreSQL cluster." if stopped else "Nothing to stop.")
        elif command == "write-env" and len(argv) == 3:
            if write_dev_env(BASE_DIR / ".env", argv[2]):
                print("Wrote .env (DJANGO_DEBUG=1 and DATABASE_URL) for manage.py in any shell.")
        elif command == "forget-env":
            if forget_dev_env(BASE_DIR / ".env"):
                print("Removed the .env that make run wrote.")
        else:
            print(
                "usage: python -m config.devdb [url|stop|write-env URL|forget-env], "
                f"not {' '.join(argv[1:])!r}",
                file=sys.stderr,
            )
            return 2
    except NoPostgres as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
