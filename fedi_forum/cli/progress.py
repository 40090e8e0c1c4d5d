"""Progress of a long command: a bar on a terminal (tqdm), a plain line now and then
otherwise (a log file, CI), so neither gets thousands of lines or nothing at all."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Never, TextIO

from tqdm import tqdm

from fedi_forum.forum.ning_archive import Topic

PLAIN_EVERY = 10.0  # seconds between plain progress lines


class ImportProgress:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.topics = self.messages = 0
        self._bar: tqdm[Never] | None = None
        self._last = time.monotonic()

    def __enter__(self) -> ImportProgress:
        if self.tty:
            self._bar = tqdm(file=self.stream, unit=" discussions", dynamic_ncols=True)
        return self

    def topic(self, topic: Topic) -> None:
        self.topics += 1
        self.messages += 1 + len(topic.comments)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(messages=self.messages, refresh=False)
            return
        now = time.monotonic()
        if now - self._last >= PLAIN_EVERY:
            self._last = now
            print(f"… {self.topics} discussions, {self.messages} messages read", file=self.stream)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
