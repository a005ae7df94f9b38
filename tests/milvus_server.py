"""Start and stop a real standalone Milvus 2.3.x server for tests.

The server binary comes from the ``milvus`` PyPI package (``pip install milvus``,
which on Linux/x86_64 resolves to 2.3.5 -- the newest version with a manylinux
wheel). That package also installs a ``milvus-server`` command, but this module
does NOT use it, because the wrapper

* cannot move the embedded etcd's ports: etcd always listens on 2379 (client)
  and 2380 (peer), whatever ``--etcd-port`` says, so a second server dies with
  ``listen tcp 127.0.0.1:2380: bind: address already in use``;
* treats ``--proxy-port N`` as "first port to try" and silently moves up to
  N+1, N+2... when N is busy (and picks the metrics port 9091+ the same way,
  without telling which one it chose);
* never notices that the server binary died (its ``wait()`` only checks that a
  ``Popen`` object exists), and it only handles SIGINT: a SIGTERM to the
  wrapper leaves the ``milvus`` binary running as an orphan;
* lets every component register the machine's first non-loopback address, so
  internal gRPC traffic leaves the loopback interface.

Instead this module does what the wrapper does, with every port chosen and
pinned by us:

1. decompresses the binaries shipped in ``milvus/data/bin/*.lzma`` once into a
   shared cache directory (246 MB, 5-12 s the first time, guarded by a file lock);
2. renders ``milvus/data/config.yaml.template`` into ``DATA_DIR/configs/``
   with free ports for proxy, proxy-internal, rootcoord, querycoord,
   querynode, indexcoord, indexnode, datacoord and datanode, ``ip: 127.0.0.1``
   for every component, and an embedded-etcd config file (``etcd.config.path``)
   that puts etcd's client and peer listeners on free ports as well; it also
   shortens ``queryNode.gracefulStopTimeout`` (30 s -> 1 s: SIGTERM otherwise
   takes 30 s once a collection is loaded) and ``common.session.ttl``
   (30 s -> 10 s: a restarted server waits for the old sessions to expire
   before loaded collections answer again), and the waits of flush, load and
   release (ASSIGNMENT_EXPIRATION_MS, QUERYCOORD_INTERVALS_MS);
   each chosen port is reserved machine-wide (an ``flock`` on
   ``PORT_LOCK_DIR/<port>.lock`` that the server inherits), so servers that
   other processes start at the same moment never pick the same port;
3. runs ``bin/milvus run standalone -alias <unique>`` in its own session and
   process group (``start_new_session=True``), with ``METRICS_PORT`` (the
   ``/healthz`` and metrics HTTP port, default 9091) set to a free port, and
   with an ``flock`` on ``DATA_DIR/.milvus_server.lock`` inherited by the
   server, so a second server on the same data dir is refused;
4. waits for ``GET /healthz`` to answer ``OK``, for
   ``MilvusClient(uri).list_collections()`` to succeed (``/healthz`` alone can
   be OK seconds earlier) and, after a restart, for collections that were
   loaded to be loaded again and answer a ``count(*)`` query.

The chosen ports are saved in ``DATA_DIR/milvus_server.json`` (with the pid);
starting again on the same data dir reuses them (so the URI stays the same
across a restart) when they are still free.

Example::

    srv = start_milvus_server(Path("/tmp/mv"))
    client = MilvusClient(srv.uri)
    ...
    srv.restart()        # same data dir, same URI
    srv.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import lzma
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MilvusServer",
    "MilvusServerError",
    "start_milvus_server",
    "milvus_server",
    "DEFAULT_BIN_CACHE",
]

#: Where the decompressed server binaries are kept (shared by all servers).
DEFAULT_BIN_CACHE = Path(
    os.environ.get("MILVUS_SERVER_BIN_CACHE", Path.home() / ".cache" / "milvus-server-bin")
)

STATE_FILE = "milvus_server.json"
LOCK_FILE = ".milvus_server.lock"
LOG_FILE = "milvus-stdout.log"

# Template keys (``{{ key(int): default }}`` in config.yaml.template) that are ports.
_TEMPLATE_PORT_KEYS = (
    "proxy_port",
    "proxy_internal_port",
    "root_coord_port",
    "query_coord_port",
    "query_node_port",
    "index_coord_port",
    "index_node_port",
    "data_coord_port",
    "data_node_port",
    "etcd_port",
)
# Ports that are not template keys.
_EXTRA_PORT_KEYS = ("etcd_peer_port", "metrics_port")
_ALL_PORT_KEYS = _TEMPLATE_PORT_KEYS + _EXTRA_PORT_KEYS

#: queryNode.gracefulStopTimeout (s) written into the config (Milvus default: 30).
QUERYNODE_GRACEFUL_STOP_S = 1
#: common.gracefulStopTimeout (s): Milvus force-quits after this (template: 1800).
GRACEFUL_STOP_S = 20

#: common.session.ttl (s) (template: 30); see _render_config.
SESSION_TTL_S = 10

#: One flock'd file a port, held by the server that listens on it (see _reserve).
PORT_LOCK_DIR = Path(
    os.environ.get("MILVUS_SERVER_PORT_LOCKS", Path(tempfile.gettempdir()) / "milvus-server-ports")
)

#: Waits of a server that only tests use, made short (all measured on 2.3.5, 600 rows):
#: dataCoord.segment.assignmentExpiration (ms, template 2000): a sealed segment is
#: flushed once its row allocations have expired, so each flush() waited 2-3 s (now
#: ~1 s). Still longer than a proxy time tick (200 ms), and every start renders the
#: same value (the template warns against lowering it across a restart of old data).
ASSIGNMENT_EXPIRATION_MS = 200
#: queryCoord's scheduler, checkers and distribution pull (ms; 1000/1000/1000/500 in
#: 2.3.5): a load waited for four ticks (3.4 s, now 2.4 s), a release for one (1.0 -> 0.2 s).
QUERYCOORD_INTERVALS_MS = {
    "checkInterval": 200,
    "checkSegmentInterval": 100,
    "checkChannelInterval": 100,
    "distPullInterval": 100,
}

_LIVE_SERVERS: weakref.WeakSet[MilvusServer] = weakref.WeakSet()
_PORT_LOCK = threading.Lock()


class MilvusServerError(RuntimeError):
    """The server could not be started (the message ends with the log tail)."""


# --------------------------------------------------------------------------- #
# binaries
# --------------------------------------------------------------------------- #
def _package_dir() -> Path:
    import milvus  # the ``milvus`` PyPI package (server wheel)

    return Path(milvus.__file__).resolve().parent


def _package_version() -> str:
    import milvus

    return str(getattr(milvus, "__version__", "unknown"))


def ensure_binaries(cache_dir: Path = DEFAULT_BIN_CACHE) -> Path:
    """Decompress the ``milvus`` package's server binaries once; return the bin dir.

    Safe to call from several processes at once (``flock`` on a lock file).
    """
    src = _package_dir() / "data" / "bin"
    bin_dir = cache_dir / f"milvus-{_package_version()}" / "bin"
    stamp = bin_dir / ".complete"
    if (bin_dir / "milvus").is_file() and stamp.is_file():
        return bin_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as lock_fp:
        fcntl.flock(lock_fp, fcntl.LOCK_EX)
        try:
            if (bin_dir / "milvus").is_file() and stamp.is_file():
                return bin_dir
            tmp = bin_dir.with_name(f"bin.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for packed in sorted(src.glob("*.lzma")):
                target = tmp / packed.name[: -len(".lzma")]
                with lzma.open(packed, "rb") as fin, open(target, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                target.chmod(0o755)
            (tmp / ".complete").write_text(_package_version())
            shutil.rmtree(bin_dir, ignore_errors=True)
            tmp.rename(bin_dir)
        finally:
            fcntl.flock(lock_fp, fcntl.LOCK_UN)
    return bin_dir


# --------------------------------------------------------------------------- #
# ports
# --------------------------------------------------------------------------- #
def _port_range() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range, so outgoing connections never take them."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return 20000, max(20001, low - 1)


def _try_bind(port: int) -> socket.socket | None:
    """Bind+listen ``port`` on all interfaces the way Go's ``net.Listen(":port")`` does.

    SO_REUSEADDR mirrors Go (a port with only TIME_WAIT leftovers is usable);
    a dual-stack IPv6 socket also catches a listener on ``[::]``.
    """
    for family, addr in ((socket.AF_INET6, "::"), (socket.AF_INET, "")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((addr, port))
            sock.listen(1)
            return sock
        except OSError:
            sock.close()
            if family == socket.AF_INET6:
                # IPv6 exists but the port is taken -> taken.  (If IPv6 is
                # unusable, socket() above already failed and we try IPv4.)
                return None
    return None


def _reserve(port: int) -> int | None:
    """An flock'd file descriptor that reserves ``port`` machine-wide, or None when
    another server (in any process) holds it.

    A port that is free now may be taken by a server another process starts before
    ours listens (pytest-xdist workers start servers at the same moment); the server
    inherits the descriptor, so the reservation lasts exactly as long as it runs.
    """
    PORT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(PORT_LOCK_DIR / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _claim(port: int, held: list[socket.socket], reserved: list[int]) -> bool:
    """Reserve ``port`` and check that nothing listens on it; True if it is ours."""
    fd = _reserve(port)
    if fd is None:
        return False
    sock = _try_bind(port)
    if sock is None:
        os.close(fd)
        return False
    held.append(sock)
    reserved.append(fd)
    return True


def _pick_ports(wanted: dict[str, int | None]) -> tuple[dict[str, int], list[int]]:
    """Choose a free port for every key in ``_ALL_PORT_KEYS``; also return the
    descriptors that reserve them (pass them to the server, then close them).

    ``wanted[key]`` = a port to use if free (``None`` = any free port). The
    proxy port, if given in ``wanted['proxy_port!']`` (note the ``!``), is
    mandatory: a busy one raises instead of being replaced.
    """
    low, high = _port_range()
    held: list[socket.socket] = []
    reserved: list[int] = []
    chosen: dict[str, int] = {}
    with _PORT_LOCK:
        try:
            must = wanted.get("proxy_port!")
            if must is not None:
                # A restart: the stopped server's listeners may take a moment to go.
                deadline = time.monotonic() + 15
                while not _claim(must, held, reserved):
                    if time.monotonic() > deadline:
                        raise MilvusServerError(f"proxy port {must} is already in use")
                    time.sleep(0.5)
                chosen["proxy_port"] = must
            for key in _ALL_PORT_KEYS:
                if key in chosen:
                    continue
                pref = wanted.get(key)
                if (
                    pref is not None
                    and pref not in chosen.values()
                    and _claim(pref, held, reserved)
                ):
                    chosen[key] = pref
                    continue
                for _ in range(2000):
                    port = random.randint(low, high)
                    if port in chosen.values():
                        continue
                    if _claim(port, held, reserved):
                        chosen[key] = port
                        break
                else:
                    raise MilvusServerError(f"no free port found for {key}")
        except BaseException:
            for fd in reserved:
                os.close(fd)
            raise
        finally:
            for sock in held:
                sock.close()
    return chosen, reserved


# --------------------------------------------------------------------------- #
# config
# --------------------------------------------------------------------------- #
_TEMPLATE_VAR = re.compile(r"\{\{\s*(\w+)\s*(?:\(\s*\w+\s*\))?\s*(?::\s*([^}]*?))?\s*\}\}")


#: The token of Milvus's built-in superuser, for servers started with auth=True.
ROOT_TOKEN = "root:Milvus"


def _render_config(data_dir: Path, ports: dict[str, int], auth: bool = False) -> Path:
    """Write ``configs/milvus.yaml``, ``configs/glog.conf`` and ``configs/etcd.yaml``."""
    pkg_data = _package_dir() / "data"
    conf_dir = data_dir / "configs"
    logs_dir = data_dir / "logs"
    store_dir = data_dir / "data"
    for d in (conf_dir, logs_dir, store_dir):
        d.mkdir(parents=True, exist_ok=True)

    values: dict[str, str] = {k: str(ports[k]) for k in _TEMPLATE_PORT_KEYS}
    values["authorization_enabled"] = "true" if auth else "false"
    values.update(
        etcd_log_path=str(logs_dir / "etcd.log"),
        etcd_data_dir=str(store_dir / "etcd.data"),
        local_storage_dir=str(store_dir),
        rocksmq_data_dir=str(store_dir / "rocksmq"),
        system_log_path=str(logs_dir),
    )

    def subst(m: re.Match[str]) -> str:
        key, default = m.group(1), m.group(2)
        if key in values:
            return values[key]
        if default is None:
            raise MilvusServerError(f"config template variable {key!r} has no value")
        return default.strip()

    text = _TEMPLATE_VAR.sub(subst, (pkg_data / "config.yaml.template").read_text())
    # Register every component as 127.0.0.1 (default: first non-loopback address).
    text, n_ip = re.subn(r"(?m)^(\s+)ip:[ \t]*(#.*)?$", r"\1ip: 127.0.0.1", text)
    # Point the embedded etcd at its own config file (peer + client listeners).
    etcd_yaml = conf_dir / "etcd.yaml"
    text, n_etcd = re.subn(
        r"(?m)^etcd:\n", f"etcd:\n  config:\n    path: {etcd_yaml}\n", text, count=1
    )
    # Graceful stop: by default the query node waits up to 30 s for its
    # segments to move away (nowhere to go in standalone), so SIGTERM took
    # 30+ s once a collection was loaded. Make that wait short.
    text, n_gs = re.subn(
        r"(?m)^(  gracefulStopTimeout:)[ \t]*\d+", rf"\g<1> {GRACEFUL_STOP_S}", text, count=1
    )
    # Sessions of a stopped server live on in etcd until their lease TTL ends
    # (the TTL restarts when etcd comes back), and a restarted server waits for
    # them ("node not match[expectedNodeID=1][actualNodeID=2]"): default 30 s.
    text, n_ttl = re.subn(
        r"(?m)^(  session:\n    ttl:)[ \t]*\d+", rf"\g<1> {SESSION_TTL_S}", text, count=1
    )
    text, n_qn = re.subn(
        r"(?m)^queryNode:\n",
        f"queryNode:\n  gracefulStopTimeout: {QUERYNODE_GRACEFUL_STOP_S}\n",
        text,
        count=1,
    )
    text, n_fast = _shorten_waits(text)
    if n_etcd != 1 or n_ip < 7 or n_qn != 1 or n_gs != 1 or n_ttl != 1 or not n_fast:
        raise MilvusServerError("unexpected milvus config template layout")
    client = f"http://127.0.0.1:{ports['etcd_port']}"
    peer = f"http://127.0.0.1:{ports['etcd_peer_port']}"
    etcd_yaml.write_text(
        "name: default\n"
        f"listen-client-urls: {client}\n"
        f"advertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\n"
        f"initial-advertise-peer-urls: {peer}\n"
        f"initial-cluster: default={peer}\n"
        "initial-cluster-state: new\n"
    )
    (conf_dir / "milvus.yaml").write_text(text)
    shutil.copy(pkg_data / "glog.conf", conf_dir / "glog.conf")
    return conf_dir


def _shorten_waits(text: str) -> tuple[str, bool]:
    """The config with ASSIGNMENT_EXPIRATION_MS and QUERYCOORD_INTERVALS_MS; and whether
    every key was found where 2.3.5's template has it (or, if absent, added)."""
    text, n_exp = re.subn(
        r"(?m)^(    assignmentExpiration:)[ \t]*\d+",
        rf"\g<1> {ASSIGNMENT_EXPIRATION_MS}",
        text,
        count=1,
    )
    found = n_exp == 1
    for key, value in QUERYCOORD_INTERVALS_MS.items():
        section = re.search(r"(?m)^queryCoord:\n((?:[ #].*\n|\n)*)", text)
        if section is None:
            return text, False
        line = re.compile(rf"(?m)^  {key}:[ \t]*\d+")
        inside = line.search(text, section.start(1), section.end(1))
        if inside:
            text = text[: inside.start()] + f"  {key}: {value}" + text[inside.end() :]
        else:
            text = text[: section.start(1)] + f"  {key}: {value}\n" + text[section.start(1) :]
    return text, found


# --------------------------------------------------------------------------- #
# server
# --------------------------------------------------------------------------- #
def _health_ok(metrics_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=2) as resp:
            return b"OK" in resp.read()
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def _quiet_pymilvus() -> Iterator[None]:
    """Drop pymilvus' "RPC error" log records (with tracebacks) while probing readiness."""
    loggers = [
        logging.getLogger(n) for n in ("pymilvus.decorators", "pymilvus.client.connection_manager")
    ]
    drop_all = logging.Filter("\0none")  # matches no logger name -> rejects every record
    for lg in loggers:
        lg.addFilter(drop_all)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(drop_all)


def _client_ok(uri: str) -> bool:
    from pymilvus import MilvusClient

    client = None
    try:
        client = MilvusClient(uri=uri, timeout=5, token=ROOT_TOKEN)
        client.list_collections()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _loaded_collections_ready(uri: str) -> bool:
    """True when no collection (default db) is still ``Loading`` and every
    ``Loaded`` one answers a ``count(*)`` query. After a restart, collections
    that were loaded come back as ``Loading`` for ~5 s and queries fail with
    ``collection not loaded`` (code 101) or time out meanwhile."""
    from pymilvus import MilvusClient

    client = None
    try:
        client = MilvusClient(uri=uri, timeout=5, token=ROOT_TOKEN)
        for name in client.list_collections():
            state = str(client.get_load_state(name).get("state"))
            if "Loading" in state:
                return False
            if "NotLoad" in state:
                continue
            client.query(name, filter="", output_fields=["count(*)"], timeout=5)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _tail(path: Path, lines: int = 25, max_errors: int = 8) -> str:
    """The first ERROR/panic lines of the last start plus the last ``lines`` lines."""
    try:
        text = path.read_bytes()[-4 * 1024 * 1024 :].decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    marker = text.rfind("==== milvus_server.py: starting")
    section = (text[marker:] if marker >= 0 else text).splitlines()
    errors = [
        ln[:600]
        for ln in section
        if "[ERROR]" in ln or "[FATAL]" in ln or ln.startswith(("panic:", "fatal error:"))
    ][:max_errors]
    tail = [ln[:600] for ln in section[-lines:]]
    return (
        "first errors:\n"
        + "\n".join(errors or ["<none>"])
        + "\n--- last lines:\n"
        + "\n".join(tail)
    )


def _wait_exit_noreap(pid: int, timeout: float) -> bool:
    """Wait until child ``pid`` has exited, leaving it a zombie (not reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # already reaped elsewhere
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@dataclass(eq=False)
class MilvusServer:
    """A running (or stopped) standalone Milvus started by this process.

    Attributes:
        data_dir: where configs/, data/ and logs/ live.
        uri: ``http://127.0.0.1:<proxy port>`` for ``pymilvus.MilvusClient``.
        pid: pid of the ``milvus`` binary; it is also its process-group id.
        log_path: the server's stdout+stderr (appended to on every start).
        ports: every port the server listens on, by role.
        startup_seconds: how long the last start took until ready.
    """

    data_dir: Path
    uri: str
    pid: int
    log_path: Path
    ports: dict[str, int]
    startup_seconds: float = 0.0
    bin_dir: Path = field(default_factory=lambda: DEFAULT_BIN_CACHE, repr=False)
    alias: str = field(default="", repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        """The gRPC/REST port (proxy) that clients use."""
        return self.ports["proxy_port"]

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['metrics_port']}/healthz"

    def is_running(self) -> bool:
        """True while the server process exists (it may not be ready yet)."""
        if self._proc is None or self._proc.returncode is not None:
            return False
        try:
            info = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return info is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``timeout`` s.

        Returns the exit code (``None`` if it was not running). Idempotent.
        Only the process group this object started is signalled.
        """
        proc = self._proc
        if proc is None:
            return None
        pgid = proc.pid  # start_new_session=True -> pid == pgid == sid
        if proc.returncode is None:
            # Wait WITHOUT reaping (WNOWAIT): while the leader is a zombie its pid,
            # and so the group id, cannot be reused, so the final killpg below
            # can only reach processes of the group we started.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            if not _wait_exit_noreap(proc.pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                _wait_exit_noreap(proc.pid, 30)
            # milvus runs as one process, but sweep the group in case it forked.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        proc.wait()
        self._proc = None
        _LIVE_SERVERS.discard(self)
        # milvus leaves /tmp/milvus/server_id_<pid> and (when its shutdown ends in
        # the usual "panic: context canceled") /run/milvus/standalone-<alias>.pid
        # behind; both are this process's own files.
        leftovers = [Path(f"/tmp/milvus/server_id_{proc.pid}")]
        if self.alias:
            leftovers += [
                Path(d) / f"standalone-{self.alias}.pid" for d in ("/run/milvus", "/tmp/milvus")
            ]
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                leftover.unlink()
        with open(self.log_path, "a") as log:
            log.write(
                f"\n==== milvus_server.py: stopped pid {proc.pid}, exit code {proc.returncode}\n"
            )
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL the process group (simulates a crash: no graceful shutdown).

        Then reaps it and cleans up like :meth:`stop`; returns the exit code.
        """
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            _wait_exit_noreap(self._proc.pid, 30)
        return self.stop()

    def restart(self, timeout: float = 180.0) -> MilvusServer:
        """``stop()`` then start again on the same data dir and the same proxy port."""
        self.stop()
        new = start_milvus_server(
            self.data_dir, timeout=timeout, port=self.port, bin_cache=self.bin_dir.parent.parent
        )
        # take over the new process in place so references to ``self`` stay valid
        _LIVE_SERVERS.discard(new)
        self.uri, self.pid, self.ports = new.uri, new.pid, new.ports
        self.startup_seconds, self._proc, self.alias = new.startup_seconds, new._proc, new.alias
        new._proc = None
        _LIVE_SERVERS.add(self)
        return self

    def __enter__(self) -> MilvusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(
    data_dir: Path, bin_dir: Path, conf_dir: Path, ports: dict[str, int], lock_fds: tuple[int, ...]
) -> tuple[subprocess.Popen[bytes], Path, str]:
    """Run ``milvus run standalone`` in its own session/process group."""
    log_path = data_dir / "logs" / LOG_FILE
    env = dict(os.environ)
    env.update(
        DEPLOY_MODE="STANDALONE",
        METRICS_PORT=str(ports["metrics_port"]),
        MILVUSCONF=str(conf_dir),
        LD_LIBRARY_PATH=":".join(p for p in (str(bin_dir), env.get("LD_LIBRARY_PATH", "")) if p),
    )
    alias = (
        f"{ports['proxy_port']}-{uuid.uuid4().hex[:8]}"  # own /run/milvus/standalone-<alias>.pid
    )
    with open(log_path, "ab") as log:
        log.write(f"\n==== milvus_server.py: starting, ports {ports}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [str(bin_dir / "milvus"), "run", "standalone", "-alias", alias],
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=lock_fds,
        )
    return proc, log_path, alias


def start_milvus_server(
    data_dir: Path,
    timeout: float = 180.0,
    *,
    port: int | None = None,
    bin_cache: Path = DEFAULT_BIN_CACHE,
    check_client: bool = True,
    wait_loaded: bool = True,
    auth: bool = False,
) -> MilvusServer:
    """Start a standalone Milvus on ``data_dir`` and wait until it serves requests.

    Args:
        data_dir: created if missing; an existing one (from an earlier start)
            keeps its collections.
        timeout: seconds to wait for readiness before giving up (the process
            group is then stopped and :class:`MilvusServerError` raised with the
            log tail).
        port: proxy (client) port to use; must be free. Default: the port this
            data dir used last time if still free, else a random free port.
        bin_cache: where the decompressed binaries are kept (shared).
        check_client: also require ``MilvusClient(uri).list_collections()`` to
            succeed, not only ``/healthz`` (needs pymilvus). ``/healthz``
            alone answers OK ~2 s before the proxy serves requests.
        wait_loaded: (with check_client) also wait until collections that were
            loaded before a restart are loaded again and answer queries.
        auth: turn on authentication (clients then need a token; the superuser's
            is ROOT_TOKEN). A restart keeps the setting of the first start.

    Every port (proxy, proxy-internal, rootcoord, querycoord, querynode,
    indexcoord, indexnode, datacoord, datanode, etcd client, etcd peer,
    metrics/healthz) is a free one, chosen below the ephemeral port range.
    """
    t0 = time.monotonic()
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = ensure_binaries(Path(bin_cache))

    state_path = data_dir / STATE_FILE
    state: dict[str, object] = {}
    if state_path.is_file():
        with contextlib.suppress(ValueError, OSError):
            loaded = json.loads(state_path.read_text())
            state = loaded if isinstance(loaded, dict) else {}
    # One server per data dir: an flock that the milvus process inherits, so it
    # is held exactly as long as that process (even an orphaned one) lives.
    lock_fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MilvusServerError(
                f"data dir {data_dir} is in use by another milvus server "
                f"(pid {state.get('pid')} according to {state_path}); stop it first"
            ) from None
        saved = state.get("ports")
        wanted: dict[str, int | None] = dict(saved) if isinstance(saved, dict) else {}
        if port is not None:
            wanted["proxy_port!"] = port
        ports, port_fds = _pick_ports(wanted)
        try:
            auth = auth or bool(state.get("auth"))  # a restart keeps the first start's setting
            conf_dir = _render_config(data_dir, ports, auth)
            proc, log_path, alias = _spawn(data_dir, bin_dir, conf_dir, ports, (lock_fd, *port_fds))
        finally:
            for fd in port_fds:  # the child keeps its inherited copies (and the locks)
                os.close(fd)
    finally:
        os.close(lock_fd)  # the child keeps its inherited copy (and the lock)
    state_path.write_text(json.dumps({"ports": ports, "pid": proc.pid, "auth": auth}, indent=1))
    server = MilvusServer(
        data_dir=data_dir,
        uri=f"http://127.0.0.1:{ports['proxy_port']}",
        pid=proc.pid,
        log_path=log_path,
        ports=ports,
        bin_dir=bin_dir,
        alias=alias,
        _proc=proc,
    )
    _LIVE_SERVERS.add(server)

    deadline = t0 + timeout
    try:
        healthy = False
        while True:
            if not server.is_running():
                code = server.stop()
                raise MilvusServerError(
                    f"milvus exited with code {code} during startup "
                    f"(data dir {data_dir}); log tail of {log_path}:\n{_tail(log_path)}"
                )
            if not healthy:
                healthy = _health_ok(ports["metrics_port"])
            if healthy:
                if not check_client:
                    break
                with _quiet_pymilvus():
                    if _client_ok(server.uri) and (
                        not wait_loaded or _loaded_collections_ready(server.uri)
                    ):
                        break
            if time.monotonic() > deadline:
                raise MilvusServerError(
                    f"milvus not ready after {timeout:.0f} s (healthz "
                    f"{'OK' if healthy else 'not OK'}, data dir {data_dir}); "
                    f"log tail of {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.25)
    except BaseException:
        server.stop(timeout=10)
        raise
    server.startup_seconds = time.monotonic() - t0
    return server


@contextlib.contextmanager
def milvus_server(
    data_dir: Path, timeout: float = 180.0, **kwargs: object
) -> Iterator[MilvusServer]:
    """Context manager: ``with milvus_server(tmp) as srv: ...`` stops it at exit."""
    server = start_milvus_server(data_dir, timeout, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE_SERVERS):
        with contextlib.suppress(Exception):
            server.stop(timeout=10)
