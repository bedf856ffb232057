"""FerretDB (MongoDB wire protocol) with its SQLite backend, built from source with Go."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from shared.stack.errors import StackError
from shared.stack.processes import ManagedProcess, install_lock, tail
from shared.stack.settings import REPO_ROOT, StackSettings

# A tiny Go module whose go.sum pins FerretDB's hash, so the module proxy's download is
# verified without reaching the checksum database (not reachable from these machines).
BUILD_MODULE = REPO_ROOT / "deploy" / "local" / "ferretdb"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"

# FerretDB 1.24's SQLite backend looks documents up by `_ferretdb_sjson->'$._id'` while the
# unique index it creates is on `_ferretdb_sjson->"_id"`; SQLite matches index expressions by
# their text, so every lookup and every update by _id scanned the whole table (writes grew
# linearly with collection size: 17 ms per update at 2,000 documents). The patch below makes
# the lookup expression the indexed one; the two expressions select the same JSON value.
# BUILD_REVISION names our build so a cached unpatched binary is never reused.
_ID_LOOKUP_FILE = Path("internal/backends/sqlite/metadata/metadata.go")
_ID_LOOKUP_BEFORE = """IDColumn = DefaultColumn + "->'$._id'\""""
_ID_LOOKUP_AFTER = """IDColumn = DefaultColumn + `->"_id"`"""
BUILD_REVISION = "cs1"


class FerretDB:
    """One local FerretDB: build (cached), start, check readiness."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.binary = (
            settings.cache_dir / "bin" / f"ferretdb-{settings.ferretdb_version}-{BUILD_REVISION}"
        )
        self.data_dir = settings.state_dir / "ferretdb" / "data"
        self.process = ManagedProcess(
            "ferretdb", settings.state_dir / "run", marker=self.binary.name
        )

    def installed(self) -> bool:
        return self.binary.exists()

    def install(self) -> None:
        """Build the FerretDB binary once and cache it."""
        if self.installed():
            return
        with install_lock(self.settings.cache_dir, "ferretdb"):
            if not self.installed():  # another process may have built it meanwhile
                self._build()

    def _build(self) -> None:
        go = shutil.which("go")
        if go is None:
            raise StackError(
                "Go toolchain not found, needed once to build FerretDB",
                "install Go 1.22+ (https://go.dev/doc/install) or put `go` on PATH",
            )
        env = {
            **os.environ,
            "GOFLAGS": "-buildvcs=false",
            "GOTOOLCHAIN": "local",
            # Every hash is pinned by the go.sum files (ours and FerretDB's own).
            "GOSUMDB": "off",
        }
        work = self.settings.cache_dir / "ferretdb-build"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        for name in ("go.mod", "go.sum", "tools.go"):
            shutil.copy(BUILD_MODULE / name, work / name)
        version = self.settings.ferretdb_version
        self._go(go, ["mod", "edit", f"-require={FERRETDB_MODULE}@{version}"], work, env)
        self._go(go, ["mod", "download", FERRETDB_MODULE], work, env)
        module_dir = self._go(
            go, ["list", "-m", "-f", "{{.Dir}}", FERRETDB_MODULE], work, env
        ).strip()
        # The module zip lacks the generated build/version/version.txt that `main` insists on
        # (it panics without it), so build from a writable copy with that file added.
        source = work / "src"
        shutil.copytree(module_dir, source)
        for path in source.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        source.chmod(source.stat().st_mode | 0o200)
        (source / "build" / "version" / "version.txt").write_text(version + "\n")
        lookup = source / _ID_LOOKUP_FILE
        text = lookup.read_text()
        if _ID_LOOKUP_BEFORE not in text:
            raise StackError(
                f"FerretDB {version} does not have the _id lookup this build patches",
                "use v1.24.x (CRM_STACK_FERRETDB_VERSION) or update shared/stack/ferretdb.py",
            )
        lookup.write_text(text.replace(_ID_LOOKUP_BEFORE, _ID_LOOKUP_AFTER))
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        partial = self.binary.with_suffix(".partial")
        self._go(go, ["build", "-trimpath", "-o", str(partial), "./cmd/ferretdb"], source, env)
        partial.rename(self.binary)
        shutil.rmtree(work, ignore_errors=True)

    def _go(self, go: str, args: list[str], cwd: Path, env: dict[str, str]) -> str:
        result = subprocess.run(
            [go, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StackError(
                f"building FerretDB {self.settings.ferretdb_version} failed at `go {args[0]}`",
                "check that the Go module proxy is reachable and CRM_STACK_FERRETDB_VERSION "
                "names a published v1.24.x version",
                (result.stdout + result.stderr)[-3000:],
            )
        return result.stdout

    def running(self) -> bool:
        return self.process.pid() is not None

    def start(self) -> None:
        self.install()
        s = self.settings
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            "--handler=sqlite",
            # WAL with synchronous=NORMAL: commits survive a crash of FerretDB (the tests kill
            # it), only an OS crash may lose the last ones; FULL would fsync every write.
            f"--sqlite-url=file:{self.data_dir}/?_pragma=synchronous(normal)",
            f"--state-dir={self.data_dir.parent}",
            f"--listen-addr={s.host}:{s.mongo_port}",
            f"--debug-addr={s.host}:{s.ferretdb_debug_port}",
            "--telemetry=disable",
            "--log-level=WARN",
        ]
        self.process.start(argv)

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.process.log_file, lines)

    def ready(self) -> bool:
        """True when the server answers `ping`."""
        client: MongoClient[dict[str, object]] = MongoClient(
            self.settings.mongo_url, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()
