"""Serve a ceiling app (hello-JSON, verify-only) the way `fedi-forum serve` serves:
``python bench/_ceiling.py MODULE:APP PORT WORKERS``, run in the directory that holds
MODULE. With several workers on Linux, a listening socket per process
(fedi_forum/cli/processes.py), so that a ratio to the ceiling compares the apps, not
how connections were spread."""

from __future__ import annotations

import sys

import uvicorn

from fedi_forum.cli import processes

OPTIONS = {
    "host": "127.0.0.1",
    "access_log": False,
    "log_level": "warning",
    "backlog": 2048,
    "server_header": False,
}


def main() -> int:
    app, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, ".")  # the app's module is in the working directory
    options = {**OPTIONS, "port": port}
    if workers > 1 and processes.spreads_connections():
        processes.port_is_free("127.0.0.1", port)
        return processes.run(app, workers, options, factory=False)
    uvicorn.run(app, workers=workers, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
