"""Fixtures: a real Milvus (embedded Milvus Lite, a Milvus 2.3.5 server that the tests
start, or a server given by --milvus-uri), clients, processes, servers of a test's own.
No mocks of Milvus anywhere. The helpers that tests import are in helpers.py.

The markers are set here from what a test uses, never by hand (except `backends`):
- `lite`, `server`, `remote`: the Milvus an integration test runs on (its `backend`);
- `core`: no Milvus at all: the inner loop, `pytest -m core`;
- `slow`: starts processes, Chromium or a server of its own. Such a test gets them from
  a fixture (SLOW_FIXTURES), so the marker follows from the fixture: a list of test
  names would go stale, and the fixture also stops what the test started.

One Milvus 2.3.5 server serves the whole run, every pytest-xdist worker included. The
controller process starts it in the background once the collected tests show that one
of them needs it (none do under `-m core` or `--backends lite`), hands its directory to
the workers, and stops it at the end by its pid; a worker waits for it when its first
server test begins. Tests on it keep to collections whose names hold their pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import Processes, create_table, our_collections, release_lite, server_available
from milvus_server import MilvusServer, MilvusServerError, start_milvus_server
from pymilvus import MilvusClient

from milvus_cluster.jobs.catalog import Catalog, catalog_name
from milvus_cluster.milvus.capabilities import Capabilities
from milvus_cluster.milvus.client import Milvus

# Probed capabilities are kept between processes (milvus/capabilities.py): the tests'
# jobs share one cache of their own, never the user's.
os.environ.setdefault(
    "MILVUS_CLUSTER_CACHE_DIR", os.path.join(tempfile.gettempdir(), "milvus-cluster-tests")
)

#: Fixtures that start processes, Chromium or a server: a test that uses one is `slow`
#: (`chromium` is in test_plot.py, its only user).
SLOW_FIXTURES = frozenset({"spawn", "chromium", "own_server"})
#: Module-scoped fixtures of collections that several tests read: those tests run on
#: one pytest-xdist worker, which makes the collection once.
SHARED_FIXTURES = frozenset({"shared_uri", "shared_client"})


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.has_plugin("xdist"):  # `-p no:xdist`: pyproject's options stay valid
        parser.addoption("--numprocesses", help="pytest-xdist is off: ignored")
        parser.addoption("--dist", help="pytest-xdist is off: ignored")
    parser.addoption(
        "--milvus-uri",
        default=os.environ.get("MILVUS_TEST_URI", ""),
        help="Also run the integration tests against this Milvus server (auth off).",
    )
    parser.addoption(
        "--backends",
        default=os.environ.get("MILVUS_TEST_BACKENDS", "lite,server"),
        help="Comma-separated: lite (Milvus Lite), server (a Milvus 2.3.5 the tests start).",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        wanted = metafunc.config.getoption("--backends").split(",")
        backends = [b for b in wanted if b == "lite" or (b == "server" and server_available())]
        if metafunc.config.getoption("--milvus-uri"):
            backends.append("remote")
        # Module scope: a module's tests run backend by backend, so that a collection
        # shared by the readers of a module is made once per backend.
        metafunc.parametrize("backend", backends, scope="module")


# -- markers --------------------------------------------------------------------


def backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec else None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    mark(config, items)  # before pytest's own hooks select by these markers (-m)
    result = yield
    items.sort(key=longest_first)
    return result


def longest_first(item: pytest.Item) -> tuple[bool, ...]:
    """Server before Lite, slow before the rest, core last: pytest-xdist hands tests out
    in this order, so the last ones to start are short and the workers end together."""
    return tuple(not item.get_closest_marker(name) for name in ("server", "slow", "lite"))


def mark(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The markers of each test, from its backend and the fixtures it uses; tests
    whose `backends` marker excludes their backend are deselected."""
    kept, elsewhere = [], []
    xdist = config.pluginmanager.has_plugin("xdist")
    for item in items:
        backend = backend_of(item)
        only = item.get_closest_marker("backends")
        if backend and only and backend not in only.args:
            elsewhere.append(item)
            continue
        uses = set(item.fixturenames)
        if backend:
            item.add_marker(backend)
        if "own_server" in uses:
            item.add_marker("server")
        if uses & SLOW_FIXTURES:
            item.add_marker("slow")
        if not backend and "own_server" not in uses:
            item.add_marker("core")
        if xdist and backend and uses & SHARED_FIXTURES:  # on one worker (--dist loadgroup)
            item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}-{backend}"))
        kept.append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = kept


# -- the run's one Milvus 2.3.5 server --------------------------------------------

_SHARED = pytest.StashKey["SharedServer"]()
_READY, _FAILED, _STARTED = "ready", "failed", "started"


class SharedServer:
    """The Milvus 2.3.5 server of the whole run, owned by the controller process.

    Its state is files in `directory`, which every worker reads: `started` once it is
    asked for, then `ready` (holding the URI) or `failed` (holding the error)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server: MilvusServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the server in the background, once; the tests go on meanwhile."""
        if self._thread is not None:
            return
        (self.directory / _STARTED).touch()
        self._thread = threading.Thread(target=self._run, name="milvus-server", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.server = start_milvus_server(self.directory / "server")
            _write(self.directory / _READY, self.server.uri)
        except Exception as error:  # a worker reports it, in every server test
            _write(self.directory / _FAILED, f"{type(error).__name__}: {error}")

    def stop(self) -> None:
        """Stop the server by its pid; remove its directory, unless it died during the
        run: then its log stays, and the path is printed."""
        if self._thread is not None:
            self._thread.join()
        died = self.server is not None and not self.server.is_running()
        if self.server is not None:
            self.server.stop()
        if died:
            print(f"\nThe run's Milvus server died; its log: {self.server.log_path}")
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a file."""
    part = path.with_suffix(".part")
    part.write_text(text)
    part.rename(path)


def shared_server_uri(directory: Path, timeout: float = 300) -> str:
    """The shared server's URI, once it answers (from any process of the run)."""
    if not (directory / _STARTED).exists():
        raise MilvusServerError(
            "The run's Milvus server was not started: conftest.py starts it when a "
            "collected test has the `server` backend (see needs_shared_server)."
        )
    deadline = time.monotonic() + timeout
    while not (directory / _READY).exists():
        if (directory / _FAILED).exists():
            raise MilvusServerError((directory / _FAILED).read_text())
        if time.monotonic() > deadline:
            raise MilvusServerError(f"The run's Milvus server was not ready in {timeout:.0f} s.")
        time.sleep(0.2)
    return (directory / _READY).read_text()


def needs_shared_server(nodeid: str) -> bool:
    """Whether a collected test runs on the shared server: `backend` is `server` (the
    controller sees only the ids that the xdist workers collected, which end in
    `@group` under --dist loadgroup)."""
    params = nodeid.partition("[")[2].rpartition("]")[0]
    return "server" in params.split("-")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if not is_worker(config):
        warm_evoc()
        directory = Path(tempfile.mkdtemp(prefix="milvus-cluster-tests-"))
        config.stash[_SHARED] = SharedServer(directory)


def warm_evoc() -> None:
    """EVoC compiles its numba functions as it is imported: about 100 s of one core on
    a fresh installation, then kept (`cache=True`). Paid here, once, before the xdist
    workers start; else every worker that imports it first compiles it again, at the
    same moment as the others."""
    with contextlib.suppress(ImportError):
        import evoc  # noqa: F401


def pytest_unconfigure(config: pytest.Config) -> None:
    shared = config.stash.get(_SHARED, None)
    if shared is not None:
        shared.stop()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput["milvus_server_dir"] = str(node.config.stash[_SHARED].directory)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    if not node.config.option.collectonly and any(map(needs_shared_server, ids)):
        node.config.stash[_SHARED].start()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist, this process collected the tests itself (after `-m`, `-k`)."""
    config = session.config
    if is_worker(config) or config.option.collectonly:
        return
    if any(needs_shared_server(item.nodeid) for item in session.items):
        config.stash[_SHARED].start()


@pytest.fixture(scope="session")
def server_uri(pytestconfig: pytest.Config) -> str:
    """The URI of the run's shared Milvus 2.3.5 server."""
    if is_worker(pytestconfig):
        directory = Path(pytestconfig.workerinput["milvus_server_dir"])
    else:
        directory = pytestconfig.stash[_SHARED].directory
    return shared_server_uri(directory)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[..., MilvusServer]]:
    """Starts Milvus 2.3.5 servers of the test's own (to stop, restart, or with
    authentication on): `own_server(auth=True)`. Stopped at the end, by their pids."""
    if not server_available():
        pytest.skip("needs the milvus package's server")
    servers: list[MilvusServer] = []

    def start(**options: Any) -> MilvusServer:
        servers.append(start_milvus_server(tmp_path / f"server-{len(servers)}", **options))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# -- processes ----------------------------------------------------------------------


@pytest.fixture
def spawn() -> Iterator[Processes]:
    processes = Processes()
    yield processes
    processes.stop()


# -- Milvus -------------------------------------------------------------------------


@pytest.fixture
def uri(backend: str, tmp_path, request) -> str:
    """Where the integration tests find Milvus: a fresh Lite file, or a server."""
    if backend == "lite":
        return str(tmp_path / "milvus.db")
    if backend == "server":
        return request.getfixturevalue("server_uri")
    return request.config.getoption("--milvus-uri")


def tidy(client: MilvusClient, names: set[str]) -> None:
    for name in names:
        for alias in client.list_aliases(collection_name=name).get("aliases", []):
            client.drop_alias(alias)
        client.drop_collection(name)


@contextmanager
def tidy_client(uri: str, backend: str) -> Iterator[MilvusClient]:
    """A client that drops, at the end, the collections made meanwhile by this process."""
    client = MilvusClient(uri)
    existing = set(client.list_collections())
    yield client
    if backend == "lite":
        client.close()
        release_lite(uri)
        return
    tidy(client, our_collections(client) - existing)
    client.close()


@pytest.fixture
def client(uri: str, backend: str) -> Iterator[MilvusClient]:
    with tidy_client(uri, backend) as client:
        yield client


@pytest.fixture(scope="module")
def shared_uri(backend: str, tmp_path_factory: pytest.TempPathFactory, request) -> str:
    """Where a module keeps the collections that its tests only read (made once a
    module and backend, by a module-scoped fixture): on the server, a collection
    costs 6-10 s to create, flush and load."""
    if backend == "lite":
        return str(tmp_path_factory.mktemp("shared") / "milvus.db")
    if backend == "server":
        return request.getfixturevalue("server_uri")
    return request.config.getoption("--milvus-uri")


@pytest.fixture(scope="module")
def shared_client(shared_uri: str, backend: str) -> Iterator[MilvusClient]:
    with tidy_client(shared_uri, backend) as client:
        yield client


@pytest.fixture
def capabilities(uri: str, client: MilvusClient) -> Capabilities:
    milvus = Milvus.connect(uri)
    try:
        return milvus.capabilities()
    finally:
        milvus.close()


@pytest.fixture
def milvus(uri, client):
    """The library's own door to the test's Milvus."""
    milvus = Milvus.connect(uri)
    yield milvus
    milvus.close()


@pytest.fixture
def catalog(milvus, client):
    """The catalog of a fresh 50-row collection (for the catalog's and the lock's tests)."""
    table = create_table(client, n=50)
    catalog = Catalog.open(milvus, table.name, dim=24)
    assert catalog is not None and catalog.name == catalog_name(table.name)
    return catalog
